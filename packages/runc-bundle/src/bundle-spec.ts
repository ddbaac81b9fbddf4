import { rmSync } from 'node:fs';
import path from 'node:path';
import { type Ctx, type EtcFiles, type ImageFetchState, type RootlessUser, writeFileAtomic } from '@cni-demo/core';
import { mountEtcFiles, prepareEtcFiles } from './etc-files.js';
import { applyRootless } from './rootless.js';
import { applyImage, type RuntimeSpec } from './spec.js';
import { parseCmd, resolveImageUser } from './user.js';

/**
 * Writes the bundle's config.json: the `runc spec` base (with --rootless in rootless mode) filled from the image
 * config, the cmd override, the image's User, and the /etc files cni-attach fills in later.
 */
export async function writeBundleSpec(
  ctx: Ctx,
  opts: {
    bundle: string;
    image: ImageFetchState;
    id: string;
    user: RootlessUser | undefined;
    /** the container's root: the image rootfs, or an overlay over it */
    rootfs: string;
    /** what `runc spec` (--rootless in rootless mode) wrote, made once per run and shared by every container */
    base: RuntimeSpec;
    /** replaces Entrypoint + Cmd entirely (the httpd container) */
    args?: string[];
  },
): Promise<{ etcFiles: EtcFiles }> {
  const { bundle, image, id, user } = opts;
  const file = path.join(bundle, 'config.json');
  rmSync(file, { force: true });
  let spec = structuredClone(opts.base);
  const cmd = parseCmd(ctx.config.cmd);
  let procUser = resolveImageUser(image.rootfsDir, image.imageConfig.User);
  if (user) {
    spec = applyRootless(spec, user);
    if (procUser.uid !== 0 || procUser.gid !== 0) {
      // one id is mapped (the user's, as root): another uid has nothing to map to on the host
      ctx.log.warn(
        `rootless: the image's User ${image.imageConfig.User} cannot be mapped with a single id; running as root in the container (${user.name} on the host)`,
      );
      procUser = { uid: 0, gid: 0 };
    }
  }
  spec = applyImage(spec, image.imageConfig, {
    rootfs: opts.rootfs,
    hostname: id,
    ...(cmd ? { cmd } : {}),
    ...(opts.args ? { args: opts.args } : {}),
    user: procUser,
  });
  const etcFiles = prepareEtcFiles(bundle, id, user?.gid);
  spec = mountEtcFiles(spec, bundle, etcFiles);
  // rootless: root's, readable by the user's group (runc as the user reads it); nobody else may change it
  if (user) writeFileAtomic(file, `${JSON.stringify(spec, null, 2)}\n`, 0o640, { uid: 0, gid: user.gid });
  else writeFileAtomic(file, `${JSON.stringify(spec, null, 2)}\n`, 0o600);
  return { etcFiles };
}
