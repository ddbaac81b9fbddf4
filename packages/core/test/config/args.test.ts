import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseCommandLine } from '../../src/index.js';
import { problem } from '../problem.js';

const fields = (argv: string[]) => Object.fromEntries(parseCommandLine(argv).fields);

test('flag forms: --k v, --k=v, --switch, --no-switch, --switch=false, -v, -h', () => {
  assert.equal(fields(['--id=x1', '--ifname', 'eth1', '--no-ip-masq', '--verbose', '--plugin-dirs', '/a:/b', '--is-gateway=false']), {
    id: 'x1',
    ifname: 'eth1',
    ipMasq: 'false',
    verbose: 'true',
    pluginDirs: '/a:/b',
    isGateway: 'false',
  });
  assert.equal(fields(['-v']), { verbose: 'true' });
  assert.ok(parseCommandLine(['-h']).help);
  assert.ok(parseCommandLine(['--help']).help);
  assert.is(parseCommandLine(['--config', '/x.json']).configFile, '/x.json');
});

test('a value may start with a single dash; the field check judges it', () => {
  assert.equal(fields(['--id', '-bad id']), { id: '-bad id' });
});

test('a switch does not take the next argument: "true"/"false" stay plain arguments', () => {
  const p = parseCommandLine(['--ip-masq', 'false', '--verbose', 'true']);
  assert.equal(Object.fromEntries(p.fields), { ipMasq: 'true', verbose: 'true' });
  assert.equal(p.positionals, ['false', 'true']);
});

test('-- ends the options: what follows is plain arguments, even when it looks like a flag', () => {
  const p = parseCommandLine(['--bridge', 'b1', '--', '--bridge', 'b2', '-v']);
  assert.equal(Object.fromEntries(p.fields), { bridge: 'b1' });
  assert.equal(p.positionals, ['--bridge', 'b2', '-v']);
  assert.equal(parseCommandLine(['exec', 'x', '--', 'ip', '-j', 'addr']).positionals, ['exec', 'x', 'ip', '-j', 'addr']);
});

test('unknown options are refused, with the closest known one', () => {
  const e = problem(() => parseCommandLine(['--subnet', '10.0.0.0/24']));
  assert.match(e.message, /unknown option --subnet/);
  assert.match(e.hint ?? '', /did you mean --subnet[46]\?/);
  assert.match(problem(() => parseCommandLine(['-x'])).message, /unknown option -x/);
  assert.match(problem(() => parseCommandLine(['--no-bridge'])).message, /unknown option --no-bridge/);
});

test('a valued option without its value, and --no-switch with one, are refused naming the option', () => {
  const e = problem(() => parseCommandLine(['--bridge']));
  assert.match(e.message, /--bridge needs a value/);
  assert.is(e.field, 'bridge');
  assert.match(problem(() => parseCommandLine(['--bridge', '--verbose'])).message, /--bridge needs a value/);
  assert.match(problem(() => parseCommandLine(['--no-ip-masq=1'])).message, /--no-ip-masq takes no value/);
  assert.match(problem(() => parseCommandLine(['--config'])).message, /--config needs a file path/);
  assert.match(problem(() => parseCommandLine(['--config='])).message, /--config needs a file path/);
});

test.run();
