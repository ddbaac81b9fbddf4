/**
 * A strict XML 1.0 well-formedness checker (no DTD support: a DOCTYPE is refused), enough to prove a
 * generated SVG parses in any XML reader. Throws with the offset and the reason at the first violation;
 * returns the element tree so a test can look inside.
 */
export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  /** the decoded character data directly inside this element */
  text: string;
}

const NAME_START =
  'A-Za-z_:\\u00C0-\\u00D6\\u00D8-\\u00F6\\u00F8-\\u02FF\\u0370-\\u037D\\u037F-\\u1FFF\\u200C-\\u200D\\u2070-\\u218F\\u2C00-\\u2FEF\\u3001-\\uD7FF\\uF900-\\uFDCF\\uFDF0-\\uFFFD';
const NAME_RE = new RegExp(`^[${NAME_START}][${NAME_START}\\-.0-9\\u00B7\\u0300-\\u036F\\u203F-\\u2040]*`);
// characters XML 1.0 forbids anywhere (C0 controls except tab, LF, CR; lone surrogates; U+FFFE/U+FFFF)
const BAD_CHAR =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this finds
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export function decodeEntities(s: string, at: number): string {
  return s.replace(/&([^;&\s]*);?/g, (m, body: string) => {
    if (!m.endsWith(';')) throw new Error(`offset ${at}: "&" not starting an entity reference`);
    const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
    if (body in named) return named[body] ?? '';
    const num = /^#(?:x([0-9A-Fa-f]+)|([0-9]+))$/.exec(body);
    if (num) {
      const cp = num[1] ? Number.parseInt(num[1], 16) : Number(num[2]);
      const ok =
        cp === 0x9 ||
        cp === 0xa ||
        cp === 0xd ||
        (cp >= 0x20 && cp <= 0xd7ff) ||
        (cp >= 0xe000 && cp <= 0xfffd) ||
        (cp >= 0x10000 && cp <= 0x10ffff);
      if (!ok) throw new Error(`offset ${at}: character reference ${m} names a character XML does not allow`);
      return String.fromCodePoint(cp);
    }
    throw new Error(`offset ${at}: unknown entity ${m}`);
  });
}

export function parseXml(doc: string): XmlElement {
  const bad = BAD_CHAR.exec(doc);
  if (bad) throw new Error(`offset ${bad.index}: character U+${(bad[0].codePointAt(0) ?? 0).toString(16)} is not allowed in XML`);
  let i = 0;
  const fail = (why: string): never => {
    throw new Error(`offset ${i}: ${why}`);
  };
  const skipWs = () => {
    while (i < doc.length && /[ \t\r\n]/.test(doc[i] ?? '')) i++;
  };
  const readName = (): string => {
    const m = NAME_RE.exec(doc.slice(i, i + 200));
    if (!m) fail(`expected a name, found ${JSON.stringify(doc.slice(i, i + 10))}`);
    i += (m as RegExpExecArray)[0].length;
    return (m as RegExpExecArray)[0];
  };
  const expect = (s: string) => {
    if (!doc.startsWith(s, i)) fail(`expected ${JSON.stringify(s)}, found ${JSON.stringify(doc.slice(i, i + 10))}`);
    i += s.length;
  };
  const skipUntil = (end: string, what: string): string => {
    const j = doc.indexOf(end, i);
    if (j < 0) fail(`unterminated ${what}`);
    const body = doc.slice(i, j);
    i = j + end.length;
    return body;
  };
  /** comments and processing instructions, allowed in the prolog, inside elements and after the root */
  const misc = (): boolean => {
    if (doc.startsWith('<!--', i)) {
      i += 4;
      const body = skipUntil('-->', 'comment');
      if (body.includes('--') || body.endsWith('-')) fail('"--" inside a comment');
      return true;
    }
    if (doc.startsWith('<?', i)) {
      i += 2;
      const target = readName();
      if (target.toLowerCase() === 'xml') fail('an XML declaration is only allowed at the very start');
      skipUntil('?>', 'processing instruction');
      return true;
    }
    return false;
  };

  if (doc.startsWith('\uFEFF')) i = 1;
  if (doc.startsWith('<?xml', i) && /[ \t\r\n?]/.test(doc[i + 5] ?? '')) {
    i += 5;
    const decl = skipUntil('?>', 'XML declaration');
    if (
      !/^\s+version\s*=\s*(["'])1\.[0-9]+\1(\s+encoding\s*=\s*(["'])[A-Za-z][A-Za-z0-9._-]*\3)?(\s+standalone\s*=\s*(["'])(yes|no)\5)?\s*$/.test(
        decl,
      )
    ) {
      fail(`malformed XML declaration: ${JSON.stringify(decl)}`);
    }
  }
  for (;;) {
    skipWs();
    if (!misc()) break;
  }
  if (doc.startsWith('<!DOCTYPE', i)) fail('DOCTYPE is not supported by this checker');
  if (doc[i] !== '<') fail('expected the root element');

  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  while (i < doc.length) {
    if (stack.length === 0 && root) {
      skipWs();
      if (i >= doc.length) break;
      if (!misc()) fail('content after the root element');
      continue;
    }
    const top = stack[stack.length - 1];
    if (doc.startsWith('<![CDATA[', i)) {
      if (!top) fail('CDATA outside the root element');
      i += 9;
      (top as XmlElement).text += skipUntil(']]>', 'CDATA section');
    } else if (doc.startsWith('</', i)) {
      i += 2;
      const name = readName();
      skipWs();
      expect('>');
      const open = stack.pop();
      if (!open) fail(`closing tag </${name}> without an open element`);
      if (open?.name !== name) fail(`closing tag </${name}> does not match <${open?.name}>`);
    } else if (doc.startsWith('<!--', i) || doc.startsWith('<?', i)) {
      misc();
    } else if (doc[i] === '<') {
      i++;
      const el: XmlElement = { name: readName(), attrs: {}, children: [], text: '' };
      for (;;) {
        const hadWs = /[ \t\r\n]/.test(doc[i] ?? '');
        skipWs();
        if (doc.startsWith('/>', i) || doc[i] === '>') break;
        if (!hadWs) fail('attributes must be separated by white space');
        const an = readName();
        skipWs();
        expect('=');
        skipWs();
        const q = doc[i];
        if (q !== '"' && q !== "'") fail(`attribute ${an}: value must be quoted`);
        i++;
        const start = i;
        const v = skipUntil(q as string, `attribute ${an}`);
        if (v.includes('<')) fail(`attribute ${an}: "<" in a value`);
        if (an in el.attrs) fail(`attribute ${an} given twice on <${el.name}>`);
        el.attrs[an] = decodeEntities(v, start);
      }
      if (top) top.children.push(el);
      else root = el;
      if (doc.startsWith('/>', i)) i += 2;
      else {
        i++;
        stack.push(el);
      }
    } else {
      const j = doc.indexOf('<', i);
      const end = j < 0 ? doc.length : j;
      const raw = doc.slice(i, end);
      if (!top) fail('text outside the root element');
      if (raw.includes(']]>')) fail('"]]>" in character data');
      (top as XmlElement).text += decodeEntities(raw, i);
      i = end;
    }
  }
  if (stack.length > 0) fail(`<${stack[stack.length - 1]?.name}> is never closed`);
  if (!root) fail('no root element');
  return root as XmlElement;
}

/** Every piece of text in the tree, depth first (what a reader of the picture sees). */
export function xmlTexts(el: XmlElement): string[] {
  return [el.text, ...el.children.flatMap(xmlTexts)].filter((t) => t.trim() !== '');
}
