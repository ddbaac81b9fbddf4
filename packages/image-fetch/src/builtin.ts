import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Ctx, UserError } from '@cni-demo/core';
import { findTag } from './oci.js';

const BUSYBOX_CANDIDATES = ['/bin/busybox', '/usr/bin/busybox'];

export const BUILTIN_CMD = ['/bin/sleep', 'infinity'];

function findBusybox(): string {
  for (const p of BUSYBOX_CANDIDATES) {
    try {
      readFileSync(p, { flag: 'r' }).subarray(0, 4);
      return p;
    } catch {
      /* next */
    }
  }
  throw new UserError('busybox is not installed, so the built-in image cannot be made', {
    hint: 'apt-get install busybox-static (or run host-setup, which installs it)',
  });
}

/** The cache key of the built-in image: the busybox binary's digest, so the same binary is built once. */
export function builtinKey(): string {
  const sum = createHash('sha256').update(readFileSync(findBusybox())).digest('hex');
  return `builtin-busybox-${sum.slice(0, 16)}`;
}

/**
 * The default image, made offline from the host's static busybox: one layer with busybox and its applet
 * links, written as `tag` into the layout (created when missing).
 */
export async function buildBuiltinBusybox(ctx: Ctx, layout: string, tag: string): Promise<string> {
  const busybox = findBusybox();
  if (findTag(layout, tag)) return tag;
  if (!existsSync(path.join(layout, 'index.json'))) await ctx.exec('umoci', ['init', '--layout', layout]);

  const work = mkdtempSync(path.join(os.tmpdir(), 'cni-demo-busybox-'));
  try {
    const root = path.join(work, 'rootfs');
    for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc', 'tmp', 'root', 'proc', 'sys', 'dev', 'var/www']) {
      mkdirSync(path.join(root, d), { recursive: true });
    }
    copyFileSync(busybox, path.join(root, 'bin/busybox'));
    const list = await ctx.exec(busybox, ['--list-full']);
    for (const applet of list.stdout
      .split('\n')
      .map((s) => s.trim())
      .filter(Boolean)) {
      if (applet === 'bin/busybox') continue;
      try {
        symlinkSync('/bin/busybox', path.join(root, applet));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
    }
    writeFileSync(path.join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
    writeFileSync(path.join(root, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
    writeFileSync(path.join(root, 'var/www/index.html'), 'hello from cni-demo\n');

    const ref = `${layout}:${tag}`;
    await ctx.exec('umoci', ['new', '--image', ref]);
    await ctx.exec('umoci', ['insert', '--image', ref, '--history.created_by', 'cni-demo builtin busybox', root, '/']);
    await ctx.exec('umoci', [
      'config',
      '--image',
      ref,
      '--no-history',
      '--config.env',
      'PATH=/usr/sbin:/usr/bin:/sbin:/bin',
      '--config.workingdir',
      '/',
      ...BUILTIN_CMD.flatMap((a) => ['--config.cmd', a]),
    ]);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return tag;
}
