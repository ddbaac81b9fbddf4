import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { type EtcFiles, renderHosts, renderResolvConf, rootOwnedDir, writeFileNoFollow } from '@cni-demo/core';
import type { RuntimeSpec } from './spec.js';

/**
 * The container's /etc/hostname, /etc/hosts and /etc/resolv.conf, as container runtimes provide them: files
 * in the bundle, bind-mounted over the image's. runc-bundle runs before cni-attach, so they start with
 * what is known now (loopback, the hostname); cni-attach rewrites them in place from the CNI result
 * (core fillEtcFiles), and the container sees the change through the mount. The image's rootfs is
 * never written. They stay root's in both modes (rootless: the folder is open to the user's `group`, whose
 * runc must reach them to bind-mount them), so nobody but root can swap them for a link root would follow.
 */
export function prepareEtcFiles(bundle: string, hostname: string, group?: number): EtcFiles {
  const dir = path.join(bundle, 'etc');
  if (group === undefined) mkdirSync(dir, { recursive: true, mode: 0o755 });
  else rootOwnedDir(dir, 0o750, group);
  const files: EtcFiles = {
    hostname,
    resolvConf: path.join(dir, 'resolv.conf'),
    hosts: path.join(dir, 'hosts'),
  };
  writeFileNoFollow(path.join(dir, 'hostname'), `${hostname}\n`, 0o644);
  writeFileNoFollow(files.hosts, renderHosts(hostname, {}), 0o644);
  writeFileNoFollow(files.resolvConf, renderResolvConf({}), 0o644);
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
