/** Spec versions this runtime speaks, oldest first. */
export const SUPPORTED_VERSIONS = ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
export const CURRENT_VERSION = '1.1.0';

export function parseVersion(v: string): [number, number, number] | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)$/.exec(v);
  if (!m) return undefined;
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

/** Compares two versions; an empty version counts as 0.1.0 (libcni's reading of a legacy config). */
export function compareVersions(a: string, b: string): number {
  const pa = parseVersion(a || '0.1.0') ?? [0, 0, 0];
  const pb = parseVersion(b || '0.1.0') ?? [0, 0, 0];
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export const versionAtLeast = (v: string, min: string) => compareVersions(v, min) >= 0;
export const isSupportedVersion = (v: string) => (SUPPORTED_VERSIONS as readonly string[]).includes(v);
