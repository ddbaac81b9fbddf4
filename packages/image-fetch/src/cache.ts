import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { acquireLock, writeFileAtomic } from '@cni-demo/core';

/** What the cache keeps beside each entry's layout. */
export interface EntryMeta {
  /** the key: the digest the source resolved to */
  sourceDigest: string;
  /** the manifest the layout's `image` tag points at (differs from sourceDigest for an index or a converted manifest) */
  manifestDigest: string;
  reference: string;
  platform: string;
}

interface Descriptor {
  mediaType?: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

export const ENTRY_TAG = 'image';

/**
 * A content-addressed image cache: one OCI layout per source digest under images/, built in tmp/ and
 * renamed into place only after every blob was checked, so a reader never sees half an entry. Fetches of
 * the same digest serialise on locks/<digest>.lock; different images never wait for each other.
 */
export class ImageCache {
  constructor(readonly root: string) {}

  static key(digest: string): string {
    return digest.replace(':', '-');
  }

  entryDir(digest: string): string {
    return path.join(this.root, 'images', ImageCache.key(digest));
  }

  lockFile(name: string): string {
    return path.join(this.root, 'locks', `${ImageCache.key(name)}.lock`);
  }

  async lock(name: string, waitMs: number): Promise<() => void> {
    return acquireLock(this.lockFile(name), { waitMs, what: `image cache entry ${name}` });
  }

  /** A fresh folder for an entry being built; named after our pid so prune can tell an abandoned one. */
  tmpDir(): string {
    const dir = path.join(this.root, 'tmp', `${process.pid}-${randomBytes(4).toString('hex')}`);
    mkdirSync(path.dirname(dir), { recursive: true, mode: 0o700 });
    return dir;
  }

  readMeta(entry: string): EntryMeta | undefined {
    try {
      return JSON.parse(readFileSync(path.join(entry, 'cni-demo.json'), 'utf8')) as EntryMeta;
    } catch {
      return undefined;
    }
  }

  /** Writes the meta file into a built layout and moves it into place; a concurrent twin that won keeps its entry. */
  commit(tmp: string, meta: EntryMeta): string {
    writeFileAtomic(path.join(tmp, 'cni-demo.json'), `${JSON.stringify(meta, null, 2)}\n`, 0o644);
    const entry = this.entryDir(meta.sourceDigest);
    mkdirSync(path.dirname(entry), { recursive: true, mode: 0o700 });
    if (existsSync(entry)) this.discard(entry);
    renameSync(tmp, entry);
    return entry;
  }

  /** Removes an entry by first renaming it out of images/, so a crash mid-removal leaves no half entry there. */
  discard(entry: string): void {
    const trash = path.join(this.root, 'tmp', `trash-${randomBytes(6).toString('hex')}`);
    mkdirSync(path.dirname(trash), { recursive: true, mode: 0o700 });
    try {
      renameSync(entry, trash);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    rmSync(trash, { recursive: true, force: true });
  }

  readKey(name: string): string | undefined {
    try {
      const d = readFileSync(path.join(this.root, 'keys', name), 'utf8').trim();
      return /^sha256:[a-f0-9]{64}$/.test(d) ? d : undefined;
    } catch {
      return undefined;
    }
  }

  writeKey(name: string, digest: string): void {
    writeFileAtomic(path.join(this.root, 'keys', name), `${digest}\n`, 0o644);
  }
}

export function blobFile(layout: string, digest: string): string {
  const [alg, hex] = digest.split(':');
  return path.join(layout, 'blobs', alg ?? 'sha256', hex ?? '');
}

export function taggedManifest(layout: string, tag = ENTRY_TAG): Descriptor | undefined {
  const index = JSON.parse(readFileSync(path.join(layout, 'index.json'), 'utf8')) as { manifests?: Descriptor[] };
  const all = index.manifests ?? [];
  return all.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag) ?? (all.length === 1 ? all[0] : undefined);
}

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  await pipeline(createReadStream(file), h);
  return `sha256:${h.digest('hex')}`;
}

async function checkBlob(layout: string, d: Descriptor): Promise<string | undefined> {
  const file = blobFile(layout, d.digest);
  if (!existsSync(file)) return `blob ${d.digest} is missing`;
  const size = statSync(file).size;
  if (size !== d.size) return `blob ${d.digest} has ${size} bytes, its descriptor says ${d.size}`;
  const got = await sha256File(file);
  if (got !== d.digest) return `blob ${d.digest} hashes to ${got}`;
  return undefined;
}

/**
 * Checks an entry against its own digests: the tagged manifest, its config and every layer are hashed.
 * Returns what is wrong, or undefined for an intact entry.
 */
export async function verifyEntry(layout: string, tag = ENTRY_TAG): Promise<string | undefined> {
  let desc: Descriptor | undefined;
  try {
    desc = taggedManifest(layout, tag);
  } catch (e) {
    return `index.json is unreadable (${(e as Error).message})`;
  }
  if (!desc) return `no manifest tagged ${tag}`;
  const bad = await checkBlob(layout, desc);
  if (bad) return bad;
  const manifest = JSON.parse(readFileSync(blobFile(layout, desc.digest), 'utf8')) as { config: Descriptor; layers?: Descriptor[] };
  for (const d of [manifest.config, ...(manifest.layers ?? [])]) {
    const problem = await checkBlob(layout, d);
    if (problem) return problem;
  }
  return undefined;
}

/** The image config and its platform, read from an entry. */
export function readEntryConfig(layout: string, tag = ENTRY_TAG) {
  const desc = taggedManifest(layout, tag);
  if (!desc) throw new Error(`no manifest tagged ${tag} in ${layout}`);
  const manifest = JSON.parse(readFileSync(blobFile(layout, desc.digest), 'utf8')) as { config: Descriptor };
  const config = JSON.parse(readFileSync(blobFile(layout, manifest.config.digest), 'utf8')) as {
    config?: import('@cni-demo/core').ImageConfig;
    os?: string;
    architecture?: string;
    variant?: string;
  };
  return {
    manifestDigest: desc.digest,
    imageConfig: config.config ?? {},
    platform: [config.os ?? 'linux', config.architecture ?? 'unknown', config.variant].filter(Boolean).join('/'),
  };
}

/** Entries under images/ (full paths). */
export function listEntries(root: string): string[] {
  const dir = path.join(root, 'images');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).map((n) => path.join(dir, n));
}
