import { readFileInRoot, UserError } from '@cni-demo/core';

export interface ProcessUser {
  uid: number;
  gid: number;
  additionalGids?: number[];
}

/**
 * Reads a file of the image with every path component confined to its rootfs: links resolve inside the
 * image as they would in the container (`etc -> /etc` is the image's own /etc, never the host's), even when
 * the rootfs's owner (the rootless user) swaps entries while we read.
 */
function imageFile(rootfs: string, rel: string): string | undefined {
  return readFileInRoot(rootfs, rel);
}

function table(text: string | undefined): string[][] {
  return (text ?? '')
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.split(':'));
}

/**
 * The image config's User (`name`, `uid`, `name:group`, `uid:gid`) as numeric ids, looked up in the image's
 * own /etc/passwd and /etc/group as Docker does. Empty means root.
 */
export function resolveImageUser(rootfs: string, spec: string | undefined): ProcessUser {
  if (!spec) return { uid: 0, gid: 0 };
  const [u = '', g] = spec.split(':');
  const passwd = table(imageFile(rootfs, 'etc/passwd'));
  const group = table(imageFile(rootfs, 'etc/group'));
  let uid: number;
  let gid: number | undefined;
  let name: string | undefined;
  if (/^\d+$/.test(u)) {
    uid = Number(u);
    const row = passwd.find((r) => r[2] === u);
    name = row?.[0];
    if (row?.[3] !== undefined && /^\d+$/.test(row[3])) gid = Number(row[3]);
  } else {
    const row = passwd.find((r) => r[0] === u);
    if (!row || !/^\d+$/.test(row[2] ?? '') || !/^\d+$/.test(row[3] ?? '')) {
      throw new UserError(`the image's User "${spec}" names user "${u}", which its /etc/passwd does not have`, {
        hint: 'the image is inconsistent: use another image, or one whose User is numeric',
      });
    }
    uid = Number(row[2]);
    gid = Number(row[3]);
    name = u;
  }
  if (g !== undefined && g !== '') {
    if (/^\d+$/.test(g)) gid = Number(g);
    else {
      const row = group.find((r) => r[0] === g);
      if (!row || !/^\d+$/.test(row[2] ?? '')) {
        throw new UserError(`the image's User "${spec}" names group "${g}", which its /etc/group does not have`, {
          hint: 'use another image, or one whose User is numeric',
        });
      }
      gid = Number(row[2]);
    }
  }
  const extra = name
    ? group.filter((r) => (r[3] ?? '').split(',').includes(name as string) && /^\d+$/.test(r[2] ?? '')).map((r) => Number(r[2]))
    : [];
  const out: ProcessUser = { uid, gid: gid ?? 0 };
  const additional = extra.filter((x) => x !== out.gid);
  if (additional.length > 0) out.additionalGids = additional;
  return out;
}

/** The cmd override: a JSON array, or words split on white space. Empty means "use the image's Cmd". */
export function parseCmd(text: string): string[] | undefined {
  const t = text.trim();
  if (t === '') return undefined;
  if (t.startsWith('[')) {
    let v: unknown;
    try {
      v = JSON.parse(t);
    } catch {
      throw new UserError(`cmd ${t} is not a valid JSON array`, {
        field: 'cmd',
        hint: 'write it as ["sleep","infinity"] or as plain words: sleep infinity',
      });
    }
    if (!Array.isArray(v) || v.length === 0 || v.some((x) => typeof x !== 'string')) {
      throw new UserError('cmd must be a non-empty array of strings', { field: 'cmd', hint: 'write it as ["sleep","infinity"]' });
    }
    return v as string[];
  }
  return t.split(/\s+/);
}
