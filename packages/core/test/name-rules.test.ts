import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { containerIdProblem, interfaceNameProblem, networkNameProblem, resolveConfig } from '../src/index.js';
import { problem } from './problem.js';

test('interface names: only what every tool takes literally', () => {
  for (const ok of ['eth0', 'cbr0', 'br-lab.1', 'a_b', 'x', 'abcdefghijklmno']) assert.is(interfaceNameProblem(ok), undefined, ok);
  const bad: [string, RegExp][] = [
    ['br+', /iptables wildcard/],
    ['+', /letters, digits/],
    ['a"b', /quotes/],
    ["a'b", /letters, digits/],
    ['a#b', /letters, digits/],
    ['a b', /letters, digits/],
    ['a\tb', /letters, digits/],
    ['a\nb', /letters, digits/],
    ['a/b', /letters, digits/],
    ['a:b', /letters, digits/],
    ['-x', /starting with a letter or digit/],
    ['.', /letters, digits/],
    ['..', /letters, digits/],
    ['abcdefghijklmnop', /16 bytes; Linux interface names hold at most 15/],
    ['brü', /letters, digits/],
    ['', /must not be empty/],
  ];
  for (const [name, why] of bad) {
    const p = interfaceNameProblem(name);
    assert.ok(p && why.test(p), `${JSON.stringify(name)}: ${p}`);
    assert.not.ok(p?.includes('\n'), 'the problem is one line');
  }
});

test('network names and ids: CNI rule and a length every derived path and rule comment can hold', () => {
  assert.is(networkNameProblem('n'.repeat(64)), undefined);
  assert.match(networkNameProblem('n'.repeat(65)) ?? '', /65 characters; use at most 64/);
  assert.match(networkNameProblem('n'.repeat(266)) ?? '', /266 characters/);
  assert.match(networkNameProblem('my net') ?? '', /not a valid CNI network name/);
  assert.is(containerIdProblem('i'.repeat(48)), undefined);
  assert.match(containerIdProblem('i'.repeat(49)) ?? '', /at most 48/);
  assert.match(containerIdProblem('a"b') ?? '', /not a valid container id/);
});

test('the config holds bridge, ifname, network and id to those rules', () => {
  const msg = (argv: string[]) => problem(() => resolveConfig({ env: {}, argv })).message;
  assert.match(msg(['--bridge', 'br+']), /bridge: "br\+" .*iptables wildcard/);
  assert.match(msg(['--bridge', 'a#b']), /bridge: "a#b"/);
  assert.match(msg(['--ifname', 'e"0']), /ifname: "e\\"0"/);
  assert.match(msg(['--network', 'n'.repeat(266)]), /network: .*266 characters/);
});

test.run();
