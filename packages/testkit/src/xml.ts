import { SaxesParser } from 'saxes';

/**
 * A generated SVG checked by a real XML parser (saxes, which enforces every well-formedness rule of XML 1.0)
 * and returned as an element tree, so a test can look inside. Throws at the first violation, with its place.
 */
export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  /** the decoded character data directly inside this element */
  text: string;
}

export function parseXml(doc: string): XmlElement {
  const parser = new SaxesParser();
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  parser.on('error', (e) => {
    throw e;
  });
  parser.on('opentag', (tag) => {
    const el: XmlElement = { name: tag.name, attrs: { ...(tag.attributes as Record<string, string>) }, children: [], text: '' };
    stack.at(-1)?.children.push(el);
    root ??= el;
    stack.push(el);
  });
  const text = (t: string) => {
    const top = stack.at(-1);
    if (top) top.text += t;
  };
  parser.on('text', text);
  parser.on('cdata', text);
  parser.on('closetag', () => stack.pop());
  parser.write(doc).close();
  if (!root) throw new Error('no root element');
  return root;
}

/** Every piece of text in the tree, depth first (what a reader of the picture sees). */
export function xmlTexts(el: XmlElement): string[] {
  return [el.text, ...el.children.flatMap(xmlTexts)].filter((t) => t.trim() !== '');
}
