import { isIPv4 } from 'node:net';

const HEXTET = /^[0-9a-fA-F]{1,4}$/;
const ZONE = /^[0-9a-zA-Z\-.:]+$/;

/**
 * Whether `ip` is an IPv6 address (a zone such as `%eth0` allowed), as node:net's isIPv6 says. Written out
 * because isIPv6 runs one very large regular expression whose first use costs ~4 ms of every process that
 * reads a config (core/test/net.test.ts holds the two to the same answers).
 */
export function isIPv6Address(ip: string): boolean {
  const pct = ip.indexOf('%');
  if (pct >= 0 && !ZONE.test(ip.slice(pct + 1))) return false;
  const text = pct >= 0 ? ip.slice(0, pct) : ip;
  const halves = text.split('::');
  if (halves.length > 2) return false;
  const groups = halves.map((h) => (h === '' ? [] : h.split(':')));
  const all = groups.flat();
  // an embedded dotted quad ("::ffff:1.2.3.4") ends the address (nothing after it, not even "::") and counts
  // for two hextets
  const last = groups.at(-1)?.at(-1) ?? '';
  const quad = last.includes('.');
  if (quad && !isIPv4(last)) return false;
  if (!(quad ? all.slice(0, -1) : all).every((g) => HEXTET.test(g))) return false;
  const count = all.length + (quad ? 1 : 0);
  return halves.length === 2 ? count <= 7 : count === 8;
}

/** 4 or 6 for an IP address, 0 for anything else (node:net's isIP, without its IPv6 regular expression). */
export function ipFamily(ip: string): 0 | 4 | 6 {
  return isIPv4(ip) ? 4 : isIPv6Address(ip) ? 6 : 0;
}

/** An IP prefix as numbers, so containment and overlap are exact for v4 and v6 alike. */
export interface Prefix {
  family: 4 | 6;
  /** network address (host bits cleared) */
  base: bigint;
  bits: number;
  /** the address as written, host bits kept (for "192.168.199.1/24") */
  addr: bigint;
  text: string;
}

export function ipToBigInt(ip: string): { family: 4 | 6; value: bigint } | undefined {
  if (isIPv4(ip)) {
    const v = ip.split('.').reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n);
    return { family: 4, value: v };
  }
  if (isIPv6Address(ip)) {
    let text = ip.split('%')[0] ?? ip;
    // an embedded dotted quad ("::ffff:1.2.3.4") becomes two hextets
    const m = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
    if (m?.[1]) {
      const v4 = ipToBigInt(m[1]);
      if (!v4) return undefined;
      const hi = (v4.value >> 16n).toString(16);
      const lo = (v4.value & 0xffffn).toString(16);
      text = `${text.slice(0, -m[1].length)}${hi}:${lo}`;
    }
    const [head = '', tail] = text.split('::');
    const h = head ? head.split(':') : [];
    const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
    const fill = tail === undefined ? [] : new Array(8 - h.length - t.length).fill('0');
    const parts = [...h, ...fill, ...t];
    if (parts.length !== 8) return undefined;
    const v = parts.reduce((acc, p) => (acc << 16n) | BigInt(Number.parseInt(p, 16)), 0n);
    return { family: 6, value: v };
  }
  return undefined;
}

export function bigIntToIp(value: bigint, family: 4 | 6): string {
  if (family === 4) {
    return [24n, 16n, 8n, 0n].map((s) => ((value >> s) & 0xffn).toString()).join('.');
  }
  const parts: string[] = [];
  for (let s = 112n; s >= 0n; s -= 16n) parts.push(((value >> s) & 0xffffn).toString(16));
  // compress the longest run of zero hextets, as inet_ntop does
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (parts[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && parts[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return parts.join(':');
  return `${parts.slice(0, best).join(':')}::${parts.slice(best + bestLen).join(':')}`;
}

/** Parses "a.b.c.d/n" or "x::y/n"; undefined when it is not a valid prefix. */
export function parseCidr(text: string): Prefix | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const ip = ipToBigInt(text.slice(0, slash));
  const bitsText = text.slice(slash + 1);
  if (!ip || !/^\d{1,3}$/.test(bitsText)) return undefined;
  const bits = Number(bitsText);
  const width = ip.family === 4 ? 32 : 128;
  if (bits > width) return undefined;
  const mask = bits === 0 ? 0n : ((1n << BigInt(bits)) - 1n) << BigInt(width - bits);
  return { family: ip.family, base: ip.value & mask, bits, addr: ip.value, text };
}

export function prefixSize(p: Prefix): bigint {
  return 1n << BigInt((p.family === 4 ? 32 : 128) - p.bits);
}

export function prefixContains(p: Prefix, ip: string): boolean {
  const v = ipToBigInt(ip);
  if (!v || v.family !== p.family) return false;
  return v.value >= p.base && v.value < p.base + prefixSize(p);
}

export function prefixesOverlap(a: Prefix, b: Prefix): boolean {
  if (a.family !== b.family) return false;
  const aEnd = a.base + prefixSize(a);
  const bEnd = b.base + prefixSize(b);
  return a.base < bEnd && b.base < aEnd;
}

/** The network form of a prefix: "192.168.199.0/24" for "192.168.199.1/24". */
export function networkOf(p: Prefix): string {
  return `${bigIntToIp(p.base, p.family)}/${p.bits}`;
}

/** n-th address of a prefix (0 = network address): host-local's default gateway is the first. */
export function nthAddress(p: Prefix, n: bigint): string {
  return bigIntToIp(p.base + n, p.family);
}
