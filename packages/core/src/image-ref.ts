import path from 'node:path';
import { UserError } from './errors.js';

/**
 * Where an image comes from. Registry references follow the distribution/reference grammar and Docker's
 * normalisation (debian -> docker.io/library/debian:latest); the offline sources use skopeo's transport
 * names, so what works with `skopeo copy` works here.
 */
export type ImageSource =
  | { kind: 'builtin'; name: 'busybox' }
  | { kind: 'registry'; domain: string; repo: string; tag: string | undefined; digest: string | undefined }
  | { kind: 'oci'; path: string; tag: string | undefined }
  | { kind: 'oci-archive'; path: string; tag: string | undefined }
  | { kind: 'docker-archive'; path: string; ref: string | undefined };

const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const DOMAIN_PART = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `(?:${DOMAIN_PART}(?:\\.${DOMAIN_PART})*|\\[[0-9a-fA-F:.]+\\])(?::[0-9]+)?`;
const REPO_RE = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const DOMAIN_RE = new RegExp(`^${DOMAIN}$`);
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

export const DEFAULT_DOMAIN = 'docker.io';

const REFERENCE_FORMS =
  'name[:tag][@sha256:<64 hex>] (debian:bookworm, localhost:5000/team/app:1.0), oci:<dir>[:tag], oci-archive:<file>[:tag], docker-archive:<file> or builtin:busybox';

function bad(ref: string, why: string): UserError {
  return new UserError(`image "${ref}" is not a valid reference: ${why}`, { field: 'image', hint: `use ${REFERENCE_FORMS}` });
}

/**
 * The config's check of `image`: a reference that cannot be parsed is a usage problem found before any step
 * runs (host-setup and image-fetch run alongside each other, so image-fetch finding it would come after the
 * bridge was made).
 */
export function imageRefProblem(ref: string): string | undefined {
  try {
    parseReference(ref);
    return undefined;
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    return `${e.message.replace(/^image /, '')}; use ${REFERENCE_FORMS}`;
  }
}

/** Splits `<path>[:<suffix>]` the way skopeo's oci transports do: the suffix is after the last ":" only when it is not part of the path. */
function splitPathSuffix(rest: string): [string, string | undefined] {
  const i = rest.lastIndexOf(':');
  if (i <= 0) return [rest, undefined];
  const suffix = rest.slice(i + 1);
  if (suffix.includes('/')) return [rest, undefined];
  return [rest.slice(0, i), suffix];
}

export function parseReference(input: string): ImageSource {
  const ref = input.trim();
  if (ref === '') throw bad(input, 'it is empty');
  if (ref.startsWith('builtin:')) {
    if (ref === 'builtin:busybox') return { kind: 'builtin', name: 'busybox' };
    throw bad(ref, 'the only built-in image is builtin:busybox');
  }
  for (const kind of ['oci', 'oci-archive', 'docker-archive'] as const) {
    if (!ref.startsWith(`${kind}:`)) continue;
    const rest = ref.slice(kind.length + 1);
    if (kind === 'docker-archive') {
      // docker-archive:<file>[:<name:tag>] — the file ends at the first ":" that follows a path
      const m = /^([^:]+)(?::(.+))?$/.exec(rest);
      if (!m?.[1]) throw bad(ref, 'docker-archive: needs a file path');
      return { kind, path: path.resolve(m[1]), ref: m[2] };
    }
    const [p, tag] = splitPathSuffix(rest);
    if (p === '') throw bad(ref, `${kind}: needs a path`);
    if (tag !== undefined && !TAG_RE.test(tag)) throw bad(ref, `"${tag}" is not a valid tag`);
    return { kind, path: path.resolve(p), tag };
  }
  if (ref.startsWith('/') || ref.startsWith('./') || ref.startsWith('../')) {
    throw bad(ref, 'a path needs its format in front: oci:<dir>, oci-archive:<file> or docker-archive:<file>');
  }
  const body = ref.startsWith('docker://') ? ref.slice('docker://'.length) : ref;
  if (body.length > 255 + 72 + 128) throw bad(ref, 'it is too long');

  let rest = body;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_RE.test(digest)) throw bad(ref, `"${digest}" is not a digest like sha256:<64 lowercase hex>`);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) throw bad(ref, `"${tag}" is not a valid tag (letters, digits, "_", ".", "-", at most 128)`);
  }
  let domain = DEFAULT_DOMAIN;
  let repo = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase()) {
      domain = first;
      repo = rest.slice(slash + 1);
    }
  }
  if (!DOMAIN_RE.test(domain)) throw bad(ref, `"${domain}" is not a valid registry host[:port]`);
  if (repo !== repo.toLowerCase()) throw bad(ref, `repository names must be lowercase ("${repo}")`);
  if (!REPO_RE.test(repo)) throw bad(ref, `"${repo}" is not a valid repository name`);
  if (domain === 'index.docker.io') domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !repo.includes('/')) repo = `library/${repo}`;
  if (domain.length + 1 + repo.length > 255) throw bad(ref, 'the name is longer than 255 characters');
  if (!tag && !digest) tag = 'latest';
  return { kind: 'registry', domain, repo, tag, digest };
}

/** The canonical text of a source (docker.io/library/debian:bookworm). */
export function formatSource(s: ImageSource): string {
  switch (s.kind) {
    case 'builtin':
      return `builtin:${s.name}`;
    case 'registry':
      return `${s.domain}/${s.repo}${s.tag ? `:${s.tag}` : ''}${s.digest ? `@${s.digest}` : ''}`;
    case 'docker-archive':
      return `docker-archive:${s.path}${s.ref ? `:${s.ref}` : ''}`;
    default:
      return `${s.kind}:${s.path}${s.tag ? `:${s.tag}` : ''}`;
  }
}

/** skopeo's name for the source; `digest` (a registry pull) fetches exactly that manifest. */
export function skopeoRef(s: Exclude<ImageSource, { kind: 'builtin' }>, digest?: string): string {
  switch (s.kind) {
    case 'registry':
      return digest ? `docker://${s.domain}/${s.repo}@${digest}` : `docker://${formatSource(s)}`;
    case 'docker-archive':
      return `docker-archive:${s.path}${s.ref ? `:${s.ref}` : ''}`;
    default:
      return `${s.kind}:${s.path}${s.tag ? `:${s.tag}` : ''}`;
  }
}

/** True for registries on this machine, the only ones TLS verification may be turned off for. */
export function isLoopbackRegistry(domain: string): boolean {
  const host = domain.startsWith('[') ? domain.slice(1, domain.indexOf(']')) : (domain.split(':')[0] ?? '');
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
