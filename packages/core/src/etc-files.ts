import { openSync, closeSync, ftruncateSync, writeSync, fsyncSync } from 'node:fs';
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
  const lines = ['# written by cni-demo from the CNI result'];
  if (dns.domain) lines.push(`domain ${dns.domain}`);
  if (dns.search && dns.search.length > 0) lines.push(`search ${dns.search.join(' ')}`);
  for (const ns of dns.nameservers ?? []) lines.push(`nameserver ${ns}`);
  if (dns.options && dns.options.length > 0) lines.push(`options ${dns.options.join(' ')}`);
  if (!dns.nameservers || dns.nameservers.length === 0) lines.push('# the CNI result has no nameservers');
  return `${lines.join('\n')}\n`;
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
  for (const ip of src.ips ?? []) {
    const addr = ip.address?.split('/')[0];
    if (addr) lines.push(`${addr}\t${hostname}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Rewrites a file in place (same inode): the container sees it through a bind mount of that inode, so a
 * rename-based atomic write would leave the container looking at the old file.
 */
export function rewriteInPlace(file: string, text: string): void {
  const fd = openSync(file, 'r+');
  try {
    const buf = Buffer.from(text);
    ftruncateSync(fd, 0);
    writeSync(fd, buf, 0, buf.length, 0);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Called by cni-attach once it has the result: fills the files runc-bundle bind-mounted into the container. */
export function fillEtcFiles(files: EtcFiles, result: EtcSource): void {
  rewriteInPlace(files.resolvConf, renderResolvConf(result));
  rewriteInPlace(files.hosts, renderHosts(files.hostname, result));
}
