import { createHash } from 'node:crypto';
import path from 'node:path';
import { CommandError, type Ctx, formatSource, type ImageSource, isLoopbackRegistry, skopeoRef, UserError } from '@cni-demo/core';
import { formatFree, type Room, roomAt } from './disk.js';

type Fetchable = Exclude<ImageSource, { kind: 'builtin' }>;

const INDEX_TYPES = new Set(['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json']);
/** A manifest lookup is small: it gets at most this long, so an unreachable registry fails fast. */
const LOOKUP_MS = 30_000;

export interface Resolved {
  /** sha256 of the manifest (or index) bytes the source returned: what `@sha256:` and --image-digest name */
  digest: string;
  /** the manifests a multi-arch index lists (empty for a single manifest) */
  children: string[];
}

/** Refuses --no-registry-tls-verify for anything but a registry on this machine. */
export function tlsFlags(ctx: Ctx, src: Fetchable, flag: string): string[] {
  if (src.kind !== 'registry') return [];
  if (!ctx.config.registryTlsVerify && !isLoopbackRegistry(src.domain)) {
    throw new UserError(`registryTlsVerify is off but ${src.domain} is not a loopback registry`, {
      field: 'registryTlsVerify',
      hint: 'TLS verification may be turned off only for 127.0.0.1, ::1 or localhost; drop --no-registry-tls-verify',
    });
  }
  return [`${flag}=${ctx.config.registryTlsVerify}`];
}

function seconds(ms: number): string {
  return `${Math.max(1, Math.ceil(ms / 1000))}s`;
}

/**
 * Turns skopeo's failures into messages a user can act on. The original CommandError stays the cause so
 * the argv can still be pasted.
 */
export function explainSkopeoError(e: unknown, src: Fetchable, room?: Room): unknown {
  if (!(e instanceof CommandError)) return e;
  const text = `${e.stderr}\n${e.stdout}`;
  const name = formatSource(src);
  const line = (re: RegExp) =>
    text
      .split('\n')
      .find((l) => re.test(l))
      ?.trim()
      .replace(/^time="[^"]*" level=\w+ msg="?/, '')
      .replace(/\\"/g, '"')
      .replace(/"$/, '') ?? '';
  const wrap = (message: string, hint: string) => Object.assign(new UserError(message, { field: 'image', hint }), { cause: e });
  const full = () =>
    wrap(
      `image ${name}: the disk is full (${line(/no space/i) || (room ? formatFree(room) : '')}); nothing was cached`,
      `free space under the image cache (or point --image-cache-dir elsewhere), then fetch again`,
    );
  // the kernel's own word first: the lines around it name temporary files whose random numbers can hold "404"
  // or "timeout"-like text (a pull once read as "no such digest" because a blob's temp name held 404)
  if (/no space left on device/i.test(text)) return full();
  if (/digest did not match|digest mismatch|manifest digest .* does not match|does not match digest|computed digest/i.test(text)) {
    return wrap(
      `image ${name}: content does not match its digest (${line(/digest/i)}); nothing was cached`,
      'the registry or the path to it served corrupt or altered data: check the registry storage, then fetch again',
    );
  }
  if (e.signal === 'SIGKILL' || /timed out|timeout|deadline exceeded/i.test(text)) {
    return wrap(
      `image ${name}: the registry did not answer in time (${line(/time|deadline/i) || 'timed out'})`,
      'check that the registry is running and reachable, or raise --pull-timeout-ms',
    );
  }
  if (/connection refused|no such host|network is unreachable|no route to host|dial tcp|server gave HTTP response to HTTPS/i.test(text)) {
    return wrap(
      `image ${name}: the registry ${src.kind === 'registry' ? src.domain : ''} cannot be reached (${line(/refused|no such host|unreachable|no route|dial tcp|HTTP response/i)})`,
      /HTTP response to HTTPS/.test(text)
        ? 'the registry speaks plain HTTP: for a loopback registry pass --no-registry-tls-verify'
        : 'check the host and port, and that the registry is running',
    );
  }
  if (/manifest unknown|name unknown|not found|\b404\b/i.test(text) && src.kind === 'registry') {
    return wrap(
      `image ${name}: the registry has no such ${src.digest ? 'digest' : 'tag'} (${line(/unknown|not found|\b404\b/i)})`,
      'check the name and tag (skopeo list-tags docker://<registry>/<repo> lists the tags)',
    );
  }
  if (/unauthorized|authentication required|denied/i.test(text)) {
    return wrap(
      `image ${name}: the registry refused access (${line(/unauthorized|authentication|denied/i)})`,
      'log in with skopeo login <registry> first, or check the repository name',
    );
  }
  if (room?.full) return full();
  if (src.kind !== 'registry') {
    return wrap(
      `image ${name}: ${src.path} is not a readable ${src.kind} image (${line(/error|invalid|not|unexpected/i) || 'skopeo failed'})`,
      src.kind === 'oci'
        ? 'point oci: at an OCI layout directory (it holds oci-layout and index.json)'
        : `give a tarball written by ${src.kind === 'docker-archive' ? '`docker save`' : 'skopeo copy ... oci-archive:'}`,
    );
  }
  return e;
}

/** The source's top-level digest, from its raw manifest (no blobs are read). */
export async function resolveDigest(ctx: Ctx, src: Fetchable): Promise<Resolved> {
  const argv = [
    '--command-timeout',
    seconds(Math.min(LOOKUP_MS, ctx.config.pullTimeoutMs)),
    'inspect',
    '--raw',
    '--retry-times',
    '0',
    ...tlsFlags(ctx, src, '--tls-verify'),
    skopeoRef(src),
  ];
  let raw: string;
  try {
    raw = (await ctx.exec('skopeo', argv, { timeoutMs: LOOKUP_MS + 5000, keepFinalNewline: true })).stdout;
  } catch (e) {
    throw explainSkopeoError(e, src);
  }
  const digest = `sha256:${createHash('sha256').update(raw, 'utf8').digest('hex')}`;
  let parsed: { mediaType?: string; manifests?: { digest: string }[] };
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new UserError(`image ${formatSource(src)}: the source returned a manifest that is not JSON`, {
      field: 'image',
      hint: 'check that the reference names an image',
    });
  }
  const isIndex = INDEX_TYPES.has(parsed.mediaType ?? '') || (Array.isArray(parsed.manifests) && !('layers' in parsed));
  return { digest, children: isIndex ? (parsed.manifests ?? []).map((m) => m.digest) : [] };
}

/**
 * Copies the image into a fresh OCI layout tagged `image`. A registry image is pulled by digest, so what
 * arrives is what was resolved; skopeo checks every blob against its digest as it reads, and picks the
 * host's platform from a multi-arch index.
 */
export async function copyToLayout(ctx: Ctx, src: Fetchable, digest: string, layout: string): Promise<void> {
  const argv = [
    '--command-timeout',
    seconds(ctx.config.pullTimeoutMs),
    'copy',
    '--quiet',
    '--retry-times',
    '0',
    ...tlsFlags(ctx, src, '--src-tls-verify'),
    skopeoRef(src, src.kind === 'registry' ? digest : undefined),
    `oci:${layout}:image`,
  ];
  try {
    await ctx.exec('skopeo', argv, { timeoutMs: ctx.config.pullTimeoutMs + 5000 });
  } catch (e) {
    // a copy that died for lack of room may not say so: the filesystem is asked too, before the caller
    // removes the half-written layout
    const room = e instanceof CommandError ? roomAt(path.dirname(layout)) : undefined;
    throw explainSkopeoError(e, src, room);
  }
}
