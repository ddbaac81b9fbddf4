import { closeSync, constants, ftruncateSync, writeSync } from 'node:fs';
import { ipFamily } from './net.js';
import { UserError } from './errors.js';
import { openRegularNoFollow } from './safe-fs.js';
import { shown } from './text.js';
import type { EtcFiles } from './states.js';

/** The parts of a CNI result (any version from 0.3.0) that name resolution is built from. */
export interface EtcSource {
  ips?: { address?: string }[];
  dns?: { nameservers?: string[]; domain?: string; search?: string[]; options?: string[] };
}

/**
 * /etc/resolv.conf as container runtimes write it from the CNI result: the plugins return DNS settings but
 * never write files. With no DNS in the result the file says so rather than copying the host's resolvers,
 * which may be loopback stubs unreachable from the container's netns.
 */
export function renderResolvConf(src: EtcSource): string {
  const dns = src.dns ?? {};
  checkDns(dns);
  const lines = ['# written by cni-demo from the CNI result'];
  if (dns.domain) lines.push(`domain ${dns.domain}`);
  if (dns.search && dns.search.length > 0) lines.push(`search ${dns.search.join(' ')}`);
  for (const ns of dns.nameservers ?? []) lines.push(`nameserver ${ns}`);
  if (dns.options && dns.options.length > 0) lines.push(`options ${dns.options.join(' ')}`);
  if (!dns.nameservers || dns.nameservers.length === 0) lines.push('# the CNI result has no nameservers');
  return `${lines.join('\n')}\n`;
}

function refused(file: string, field: string, value: string, why: string): UserError {
  return new UserError(`the CNI result's ${field} ${shown(value)} ${why}: refusing to write the container's ${file}`, {
    hint: 'a plugin of the network returned it (its dns or ips section); fix the plugin or its configuration, then run cni-attach again',
  });
}

/**
 * resolv.conf is one setting per line, words split on white space: a value holding a line break (or any
 * control character or blank) would add settings the plugin's result never named. Such a value is refused
 * with the file left as it was, never written. Nameservers must be IP addresses.
 */
function checkDns(dns: NonNullable<EtcSource['dns']>): void {
  const word = (field: string, v: unknown) => {
    if (typeof v !== 'string' || v === '' || [...v].some((ch) => /\s/u.test(ch) || (ch.codePointAt(0) ?? 0) < 0x20 || ch === '\u007f')) {
      throw refused('/etc/resolv.conf', field, String(v), 'holds a line break, a blank or a control character');
    }
  };
  if (dns.domain !== undefined && dns.domain !== '') word('dns.domain', dns.domain);
  for (const [i, v] of (dns.search ?? []).entries()) word(`dns.search[${i}]`, v);
  for (const [i, v] of (dns.options ?? []).entries()) word(`dns.options[${i}]`, v);
  for (const [i, v] of (dns.nameservers ?? []).entries()) {
    word(`dns.nameservers[${i}]`, v);
    if (!ipFamily(v)) throw refused('/etc/resolv.conf', `dns.nameservers[${i}]`, v, 'is not an IP address');
  }
}

/** /etc/hosts: loopback names plus the container's hostname on every address the CNI result gave it. */
export function renderHosts(hostname: string, src: EtcSource): string {
  const lines = [
    '# written by cni-demo from the CNI result',
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'ff00::0\tip6-mcastprefix',
    'ff02::1\tip6-allnodes',
    'ff02::2\tip6-allrouters',
  ];
  for (const [i, ip] of (src.ips ?? []).entries()) {
    const addr = ip.address?.split('/')[0];
    if (addr && !ipFamily(addr)) throw refused('/etc/hosts', `ips[${i}].address`, ip.address ?? '', 'is not an IP address');
    if (addr) lines.push(`${addr}\t${hostname}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Rewrites a file in place (same inode): the container sees it through a bind mount of that inode, so a
 * rename-based atomic write would leave the container looking at the old file. Never through a link, and
 * only a regular file (the files are root's, in root's bundle; this is the second lock on that door). Not
 * fsynced: the file lives as long as the container, which a power cut ends anyway, and no later run reads it.
 */
export function rewriteInPlace(file: string, text: string): void {
  const fd = openRegularNoFollow(file, constants.O_RDWR);
  try {
    const buf = Buffer.from(text);
    ftruncateSync(fd, 0);
    writeSync(fd, buf, 0, buf.length, 0);
  } finally {
    closeSync(fd);
  }
}

/**
 * Called by cni-attach once it has the result: fills the files runc-bundle bind-mounted into the container.
 * Both are rendered (and checked) before either is written, so a refused value leaves both as they were.
 */
export function fillEtcFiles(files: EtcFiles, result: EtcSource): void {
  const resolv = renderResolvConf(result);
  const hosts = renderHosts(files.hostname, result);
  rewriteInPlace(files.resolvConf, resolv);
  rewriteInPlace(files.hosts, hosts);
}
