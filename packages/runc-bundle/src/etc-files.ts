import { chownSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type EtcFiles, renderHosts, renderResolvConf, type RootlessUser } from '@cni-demo/core';
import type { RuntimeSpec } from './spec.js';

/**
 * The container's /etc/hostname, /etc/hosts and /etc/resolv.conf, as container runtimes provide them: files
 * in the bundle, bind-mounted over the image's. runc-bundle runs before cni-attach, so they start with
 * what is known now (loopback, the hostname); cni-attach rewrites them in place from the CNI result
 * (core fillEtcFiles), and the container sees the change through the mount. The image's rootfs is
 * never written.
 */
export function prepareEtcFiles(bundle: string, hostname: string, owner?: RootlessUser): EtcFiles {
  const dir = path.join(bundle, 'etc');
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const files: EtcFiles = {
    hostname,
    resolvConf: path.join(dir, 'resolv.conf'),
    hosts: path.join(dir, 'hosts'),
  };
  writeFileSync(path.join(dir, 'hostname'), `${hostname}\n`, { mode: 0o644 });
  writeFileSync(files.hosts, renderHosts(hostname, {}), { mode: 0o644 });
  writeFileSync(files.resolvConf, renderResolvConf({}), { mode: 0o644 });
  if (owner) for (const f of [dir, path.join(dir, 'hostname'), files.hosts, files.resolvConf]) chownSync(f, owner.uid, owner.gid);
  return files;
}

/** Adds the bind mounts (read-write for root in the container, as Docker does). */
export function mountEtcFiles(spec: RuntimeSpec, bundle: string, files: EtcFiles): RuntimeSpec {
  const out = structuredClone(spec);
  const mounts = ((out.mounts as { destination: string }[] | undefined) ?? []).filter(
    (m) => !['/etc/hostname', '/etc/hosts', '/etc/resolv.conf'].includes(m.destination),
  );
  for (const [dest, source] of [
    ['/etc/hostname', path.join(bundle, 'etc', 'hostname')],
    ['/etc/hosts', files.hosts],
    ['/etc/resolv.conf', files.resolvConf],
  ] as const) {
    mounts.push({ destination: dest, type: 'bind', source, options: ['rbind', 'rprivate'] } as { destination: string });
  }
  out.mounts = mounts;
  return out;
}
