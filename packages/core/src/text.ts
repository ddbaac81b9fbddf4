/**
 * What an image or a plugin says is data, not markup or control. Strings that come from them (an HTTP body,
 * an image's env or User, a plugin's DNS names or error text) pass through one of these before they reach
 * a terminal, report.md or a file another program parses.
 */

/**
 * Code points a terminal or a viewer acts on instead of showing: C0 controls (tab aside), DEL, C1 controls
 * (8-bit CSI and friends), line and paragraph separators, and the formatting characters that reorder or
 * hide text (bidi embeddings, overrides and isolates, zero-width characters, BOM).
 */
export function isUnsafeCodePoint(cp: number, keepNewlines = false): boolean {
  if (cp === 0x09) return false;
  if (cp === 0x0a) return !keepNewlines;
  return (
    cp < 0x20 ||
    (cp >= 0x7f && cp <= 0x9f) ||
    (cp >= 0x200b && cp <= 0x200f) ||
    cp === 0x2028 ||
    cp === 0x2029 ||
    (cp >= 0x202a && cp <= 0x202e) ||
    (cp >= 0x2060 && cp <= 0x2064) ||
    (cp >= 0x2066 && cp <= 0x2069) ||
    cp === 0xfeff
  );
}

/**
 * The text with every unsafe code point shown as `\uXXXX` (the form JSON uses, so JSON text stays valid JSON
 * with the same value). `keepNewlines` keeps line breaks for multi-line output we compose ourselves.
 */
export function printable(s: string, opts: { keepNewlines?: boolean } = {}): string {
  let out = '';
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0;
    out += isUnsafeCodePoint(cp, opts.keepNewlines) ? `\\u${cp.toString(16).padStart(4, '0')}` : ch;
  }
  return out;
}

/** A string from an image or plugin for one line of terminal text: quoted, every control character escaped. */
export function shown(s: string): string {
  return `"${printable(s).replaceAll('"', '\\"')}"`;
}

/**
 * Text for Markdown (a table cell or a line of prose), shown literally: control characters escaped, line
 * breaks as spaces, HTML's `& < >` as entities, and the characters Markdown would turn into emphasis, code,
 * links, strike-through or a table column preceded by a backslash.
 */
export function mdText(s: string): string {
  return printable(s.replace(/\r?\n/g, ' '))
    .replace(/[&<>]/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' })[ch] ?? ch)
    .replace(/[\\`*_[\]|~!]/g, (ch) => `\\${ch}`);
}

/** A Markdown code span holding `s` literally: a backtick fence longer than any run of backticks inside it. */
export function mdCode(s: string): string {
  const text = printable(s.replace(/\r?\n/g, ' '));
  const longest = Math.max(0, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = '`'.repeat(longest + 1);
  const pad = text.startsWith('`') || text.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${text}${pad}${fence}`;
}
