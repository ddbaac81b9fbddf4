import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { type ImageConfig, UserError } from '@cni-demo/core';

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

/** Reads the image config of a tagged manifest straight from the layout's blobs. */
export function readImageConfig(layout: string, manifestDigest: string): ImageConfig {
  const file = blobPath(layout, manifestDigest);
  if (!existsSync(file)) {
    throw new UserError(`manifest ${manifestDigest} is missing from the image cache ${layout}`, {
      hint: 'run image-fetch again; it rebuilds or re-fetches missing blobs',
    });
  }
  const manifest = JSON.parse(readFileSync(file, 'utf8')) as { config: Descriptor };
  const config = JSON.parse(readFileSync(blobPath(layout, manifest.config.digest), 'utf8')) as { config?: ImageConfig };
  return config.config ?? {};
}
