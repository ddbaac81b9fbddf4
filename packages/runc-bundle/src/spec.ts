import type { ImageConfig } from '@cni-demo/core';

/** The parts of the OCI runtime spec we change; everything else stays as `runc spec` wrote it. */
export interface RuntimeSpec {
  process: {
    terminal: boolean;
    user: { uid: number; gid: number; additionalGids?: number[] };
    args: string[];
    env: string[];
    cwd: string;
    capabilities?: Record<string, string[]>;
    [k: string]: unknown;
  };
  root: { path: string; readonly: boolean };
  hostname?: string;
  linux: {
    namespaces: { type: string; path?: string }[];
    uidMappings?: { containerID: number; hostID: number; size: number }[];
    gidMappings?: { containerID: number; hostID: number; size: number }[];
    resources?: unknown;
    [k: string]: unknown;
  };
  [k: string]: unknown;
}

const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Fills a `runc spec` default with the image config and what the demo needs: no terminal (runc needs
 * that here), a network namespace, CAP_NET_RAW so busybox ping works.
 */
export function applyImage(
  spec: RuntimeSpec,
  image: ImageConfig,
  opts: {
    rootfs: string;
    hostname: string;
    cmd?: string[];
    user?: { uid: number; gid: number; additionalGids?: number[] };
    /** replaces the image's Entrypoint + Cmd entirely (the httpd container) */
    args?: string[];
  },
): RuntimeSpec {
  const out = structuredClone(spec);
  // as `docker run image <cmd>`: the override replaces Cmd and keeps the Entrypoint
  const args = opts.args ?? [...(image.Entrypoint ?? []), ...(opts.cmd ?? image.Cmd ?? [])];
  if (args.length > 0) out.process.args = args;
  const env = image.Env && image.Env.length > 0 ? [...image.Env] : [DEFAULT_PATH];
  if (!env.some((e) => e.startsWith('PATH='))) env.unshift(DEFAULT_PATH);
  out.process.env = env;
  out.process.cwd = image.WorkingDir || '/';
  out.process.terminal = false;
  if (opts.user) out.process.user = { ...opts.user };
  const caps = out.process.capabilities ?? {};
  for (const set of ['bounding', 'effective', 'permitted', 'ambient']) {
    const list = caps[set] ?? [];
    if (!list.includes('CAP_NET_RAW')) list.push('CAP_NET_RAW');
    caps[set] = list;
  }
  out.process.capabilities = caps;
  out.root = { path: opts.rootfs, readonly: false };
  out.hostname = opts.hostname;
  if (!out.linux.namespaces.some((n) => n.type === 'network')) out.linux.namespaces.push({ type: 'network' });
  return out;
}
