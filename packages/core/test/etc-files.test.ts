import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fillEtcFiles, renderHosts, renderResolvConf, rewriteInPlace, UserError } from '../src/index.js';

const ok = { ips: [{ address: '10.1.0.2/24' }], dns: { nameservers: ['10.1.0.1'], domain: 'lab', search: ['lab'], options: ['ndots:2'] } };

test('a DNS value with a line break, a blank or a control character is refused, naming the field', () => {
  const bad: [Record<string, unknown>, string][] = [
    [{ search: ['lab\nnameserver 6.6.6.6'] }, 'dns.search[0]'],
    [{ domain: 'lab\r\noptions rotate' }, 'dns.domain'],
    [{ options: ['ndots:1 attempts:9'] }, 'dns.options[0]'],
    [{ nameservers: ['10.1.0.1\nsearch evil'] }, 'dns.nameservers[0]'],
    [{ nameservers: ['ns.example'] }, 'dns.nameservers[0]'],
    [{ search: [`x${String.fromCharCode(0x1b)}[2J`] }, 'dns.search[0]'],
  ];
  for (const [dns, field] of bad) {
    assert.throws(
      () => renderResolvConf({ dns }),
      (e: unknown) => e instanceof UserError && e.message.includes(field) && !e.message.includes('\n'),
      field,
    );
  }
  assert.match(renderResolvConf(ok), /^search lab$/m);
});

test('hosts refuses an address that is not an IP', () => {
  assert.throws(
    () => renderHosts('box', { ips: [{ address: '10.1.0.2\n6.6.6.6\tevil/24' }] }),
    (e: unknown) => e instanceof UserError,
  );
  assert.match(renderHosts('box', ok), /^10\.1\.0\.2\tbox$/m);
});

test('fillEtcFiles writes neither file when one value is refused, and rewriteInPlace follows no link', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'core-etc-'));
  try {
    const files = { hostname: 'box', resolvConf: path.join(dir, 'resolv.conf'), hosts: path.join(dir, 'hosts') };
    writeFileSync(files.resolvConf, 'before\n');
    writeFileSync(files.hosts, 'before\n');
    assert.throws(
      () => fillEtcFiles(files, { ...ok, dns: { search: ['a\nb'] } }),
      (e: unknown) => e instanceof UserError,
    );
    assert.is(readFileSync(files.resolvConf, 'utf8'), 'before\n');
    assert.is(readFileSync(files.hosts, 'utf8'), 'before\n');
    fillEtcFiles(files, ok);
    assert.match(readFileSync(files.resolvConf, 'utf8'), /^nameserver 10\.1\.0\.1$/m);

    const victim = path.join(dir, 'victim');
    writeFileSync(victim, 'keep');
    symlinkSync(victim, path.join(dir, 'link'));
    assert.throws(() => rewriteInPlace(path.join(dir, 'link'), 'x'));
    assert.is(readFileSync(victim, 'utf8'), 'keep');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
