import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

export function blobPath(layout: string, digest: string): string {
  const [alg, hex] = digest.split(':');
  return path.join(layout, 'blobs', alg ?? 'sha256', hex ?? '');
}

/** The manifest descriptor that index.json tags with `tag`, or undefined. */
export function findTag(layout: string, tag: string): Descriptor | undefined {
  const indexFile = path.join(layout, 'index.json');
  if (!existsSync(indexFile)) return undefined;
  const index = JSON.parse(readFileSync(indexFile, 'utf8')) as { manifests?: Descriptor[] };
  return (index.manifests ?? []).find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
}
