import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseXml, xmlTexts } from '../src/xml.js';

test('the parser refuses what is not well-formed XML', () => {
  const bad = [
    '<a><b></a></b>',
    '<a>x & y</a>',
    '<a x=1/>',
    '<a x="1" x="2"/>',
    '<a/><b/>',
    '<a>',
    'text<a/>',
    '<a>&bogus;</a>',
    '<a x="<"/>',
    '<a>\u0001</a>',
    '<a><!-- x -- y --></a>',
    '<a x="1"y="2"/>',
    '<?xml version="1.0"?><?xml version="1.0"?><a/>',
  ];
  for (const doc of bad) assert.throws(() => parseXml(doc), undefined, `refused: ${doc}`);
  const ok = parseXml('<?xml version="1.0" encoding="UTF-8"?>\n<!-- c --><a q=\'1\'><b>&lt;&#65;&#x42;</b><![CDATA[<raw>]]></a>\n');
  assert.is(ok.children[0]?.text, '<AB');
  assert.is(ok.text, '<raw>');
});

test('the tree: elements with their attributes and decoded text, depth first', () => {
  const root = parseXml('<svg xmlns="http://www.w3.org/2000/svg"><title>a &amp; b</title><g><text x="1">c</text></g></svg>');
  assert.is(root.name, 'svg');
  assert.is(root.attrs.xmlns, 'http://www.w3.org/2000/svg');
  assert.equal(xmlTexts(root), ['a & b', 'c']);
  assert.is(root.children[1]?.children[0]?.attrs.x, '1');
});

test.run();
