import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as cniAttach from '@cni-demo/cni-attach';
import {
  createContext,
  createExec,
  createLogger,
  defaults,
  generatedConfText,
  type RuncBundleState,
  UserError,
  type VerifyState,
} from '@cni-demo/core';
import * as hostSetup from '@cni-demo/host-setup';
import * as imageFetch from '@cni-demo/image-fetch';
import * as runcBundle from '@cni-demo/runc-bundle';
import { forceTeardown, removeRoot, tempRoot, testConfig, withCleanup, writeFakePlugin } from '@cni-demo/testkit';
import * as verify from '@cni-demo/verify';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { pipelineDown, pipelineUp } from '../../src/pipeline.js';

/**
 * What an image or a plugin says is data (issue 14, item 5). A plugin chained after the real bridge plugin
 * (a fake: Debian's plugins never return such results) rewrites the result as a hostile or broken plugin
 * could; the container's web page carries terminal escapes and Markdown. Each reaches the files, the
 * terminal and report.md as data, or is refused, and down leaves nothing.
 */
const exec = createExec();
const ESC = String.fromCharCode(0x1b);

async function expectUserError(p: Promise<unknown>): Promise<UserError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof UserError) return e;
    throw e;
  }
  throw new Error('expected a UserError');
}

/**
 * The network as the user's own file (--netconf): the generated network (the real bridge plugin and
 * host-local on the test's subnets) with the fake chained after it; then host-setup, image-fetch and
 * runc-bundle as usual.
 */
async function withRewritingPlugin(
  override: Record<string, unknown>,
  body: (env: Awaited<ReturnType<typeof testConfig>>) => Promise<void>,
) {
  const fakeDir = tempRoot('fake-plugins');
  writeFakePlugin(fakeDir, { type: 'fake-rewrite', recordDir: path.join(fakeDir, 'calls'), resultOverride: override });
  const base = await testConfig({ pluginDirs: [...defaults().pluginDirs, fakeDir] });
  const file = path.join(base.root, 'rewriting.conflist');
  const conf = JSON.parse(generatedConfText(base.config)) as { plugins: { type: string }[] };
  conf.plugins.push({ type: 'fake-rewrite' });
  writeFileSync(file, JSON.stringify(conf, null, 2));
  const config = { ...base.config, netconf: file };
  const env = { root: base.root, config, ctx: createContext(config, { log: createLogger({ quiet: !process.env.CNI_DEMO_TEST_VERBOSE }) }) };
  await withCleanup(async (c) => {
    c.add('remove temp roots', () => {
      removeRoot(env.root);
      removeRoot(fakeDir);
    });
    c.add('force teardown', () => forceTeardown(env.config, exec));
    await hostSetup.up(env.ctx);
    await imageFetch.up(env.ctx);
    await runcBundle.up(env.ctx);
    await body(env);
    await pipelineDown(env.ctx);
    assert.equal(await verify.auditLeaks(env.ctx), [], 'nothing left');
  });
}

test('a DNS search domain with a line break is refused: resolv.conf is not written, the attachment is released', async () => {
  await withRewritingPlugin({ dns: { nameservers: ['10.0.0.53'], search: ['lab\nnameserver 6.6.6.6'] } }, async ({ ctx, config }) => {
    const bundle = ctx.state.read<RuncBundleState>('runc-bundle') as RuncBundleState;
    const before = readFileSync(bundle.etcFiles?.resolvConf ?? '', 'utf8');
    const e = await expectUserError(cniAttach.up(ctx));
    assert.match(e.message, /dns\.search\[0\] "lab\\u000anameserver 6\.6\.6\.6" holds a line break/);
    assert.not.ok(e.message.includes('\n'), 'the message shows the line break escaped');
    assert.is(readFileSync(bundle.etcFiles?.resolvConf ?? '', 'utf8'), before, 'resolv.conf as it was');
    const link = await exec('nsenter', [`--net=${bundle.netnsPath}`, 'ip', 'link', 'show', 'dev', config.ifname], { allowFail: true });
    assert.is(link.exitCode, 1, `no ${config.ifname} left in the container: the ADD was undone`);
  });
});

test('a result with an address outside the ranges and an interface index pointing nowhere fails verify; that address is never pinged', async () => {
  const bad = { version: '4', address: '198.51.100.7/24', gateway: '198.51.100.1', interface: 7 };
  await withRewritingPlugin({ ips: [bad] }, async ({ ctx }) => {
    await cniAttach.up(ctx);
    const e = await expectUserError(verify.up(ctx));
    assert.match(e.message, /checks failed/);
    const v = ctx.state.read<VerifyState>('verify') as VerifyState;
    const range = v.checks.find((c) => c.name.startsWith("CNI result in the network's ranges"));
    assert.ok(range && !range.ok, JSON.stringify(range));
    assert.match(range?.detail ?? '', /ips\[0\]\.address 198\.51\.100\.7\/24 is outside/);
    assert.match(range?.detail ?? '', /ips\[0\]\.interface 7 points at no entry/);
    const ping = v.checks.find((c) => c.name === 'host pings container 198.51.100.7');
    assert.ok(ping?.na && /^not pinged/.test(ping.detail), JSON.stringify(ping));
    const gw = v.checks.find((c) => c.name === 'container pings gateway 198.51.100.1');
    assert.ok(gw?.na && /^not pinged/.test(gw.detail), `the gateway outside is not pinged either: ${JSON.stringify(gw)}`);
    const md = readFileSync(path.join(ctx.names.runDir, 'report.md'), 'utf8');
    assert.match(md, /\| CNI result in the network's ranges \| \*\*FAIL\*\* \|/);
  });
});

test('an HTTP body with terminal escapes and Markdown is shown, not obeyed, in the check table and report.md', async () => {
  const hostPort = 18700 + Math.floor(Math.random() * 100);
  const { root, config, ctx } = await testConfig({ portMap: `${hostPort}:80/tcp` });
  await withCleanup(async (c) => {
    c.add('remove temp root', () => removeRoot(root));
    c.add('force teardown', () => forceTeardown(config, exec));
    await pipelineUp(ctx);
    // the page as a hostile image would serve it: clear the screen, colour, HTML, emphasis, a table cell break
    await exec('runc', [
      '--root',
      config.runcRoot,
      'exec',
      config.id,
      'sh',
      '-c',
      "printf '\\033[2J\\033[31m<b>**pwn**</b>|cell\\n' > /var/www/index.html",
    ]);
    await verify.up(ctx);
    const v = ctx.state.read<VerifyState>('verify') as VerifyState;
    const http = v.checks.find((x) => x.name.startsWith('host gets http://127.0.0.1'));
    assert.ok(http?.ok && http.detail.includes(`${ESC}[2J`), 'the state keeps the data as it came');
    const table = verify.formatTable(v.checks, true);
    assert.ok(table.includes('\\u001b[2J\\u001b[31m<b>**pwn**</b>|cell'), 'the terminal table shows the escapes');
    assert.not.ok(table.includes(`${ESC}[2J`), 'no raw escape reaches the terminal');
    const md = readFileSync(path.join(ctx.names.runDir, 'report.md'), 'utf8');
    assert.ok(md.includes('\\\\u001b\\[2J\\\\u001b\\[31m&lt;b&gt;\\*\\*pwn\\*\\*&lt;/b&gt;\\|cell'), 'report.md shows it literally');
    assert.not.ok(md.includes(ESC) || md.includes('<b>'), 'no escape and no HTML in report.md');
    await pipelineDown(ctx);
  });
});

test.run();
