import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createExec, type StepOutcome } from '@cni-demo/core';
import { forceTeardown, parseXml, removeRoot, testConfig, withCleanup, xmlTexts } from '@cni-demo/testkit';
import type { Report, Status } from '@cni-demo/verify';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const exec = createExec();
const cli = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../scripts/cni-demo.mjs');
const schema = JSON.parse(readFileSync(createRequire(import.meta.url).resolve('@cni-demo/verify/report.schema.json'), 'utf8'));
// ajv-formats is CommonJS: its default export arrives wrapped once more under ESM
const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule) as unknown as (
  a: Ajv,
) => Ajv;

/** The real cni-demo entry in its own process, as a person or CI runs it. */
function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d) => (stdout += d));
    c.stderr.on('data', (d) => (stderr += d));
    c.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('a real run writes a schema-valid report, an SVG naming every interface on the host, and status shows what exists', async () => {
  const { root, config, ctx } = await testConfig();
  const cfgFile = path.join(root, 'config.json');
  writeFileSync(cfgFile, JSON.stringify(config));
  await withCleanup(async (c) => {
    c.add('remove temp root', () => removeRoot(root));
    c.add('force teardown', () => forceTeardown(config, exec));

    // --json for the whole run: stdout carries one JSON line and nothing else
    const up = await run(['up', '--config', cfgFile, '--json']);
    assert.is(up.code, 0, up.stderr);
    const lines = up.stdout.trimEnd().split('\n');
    assert.is(lines.length, 1, `stdout is one JSON line: ${up.stdout.slice(0, 300)}`);
    const outcome = JSON.parse(lines[0] ?? '') as StepOutcome & {
      result: { steps: { step: string; result: { report?: Report['files'] } }[] };
    };
    assert.ok(outcome.ok);
    assert.is(outcome.step, 'run', 'the outcome names the whole run, not one of its steps');
    assert.is(outcome.action, 'up');
    assert.equal(
      outcome.result.steps.map((s) => s.step),
      ['host-setup', 'image-fetch', 'runc-bundle', 'cni-attach', 'verify'],
    );
    const files = outcome.result.steps[4]?.result.report;
    assert.is(files?.json, path.join(ctx.names.runDir, 'report.json'));

    // report.json against its published schema
    const report = JSON.parse(readFileSync(files?.json ?? '', 'utf8')) as Report;
    const ajv = addFormats(new Ajv({ allErrors: true, strict: true }));
    const validate = ajv.compile(schema);
    assert.ok(validate(report), JSON.stringify(validate.errors, null, 2));
    assert.ok(report.ok);
    // from the result: 2 addresses, 2 routes, 2 gateway pings, 2 host pings, and DNS, which the generated network's result has none of
    assert.is(report.checks.length, 10);
    assert.is(report.checks[0]?.name, "CNI result in the network's ranges");
    assert.equal(
      report.checks.filter((x) => x.na).map((x) => x.name),
      ["resolv.conf has the result's DNS"],
    );
    assert.equal(report.summary, { total: 10, passed: 9, failed: 0, notApplicable: 1 });
    assert.equal(
      report.timings.map((t) => t.step),
      ['host-setup', 'image-fetch', 'runc-bundle', 'cni-attach'],
    );
    assert.ok(report.versions.plugins.some((p) => p.type === 'bridge' && p.supportedVersions.includes(config.cniVersion)));
    assert.ok(report.cniResults[config.id], 'CNI result kept');

    // the interfaces that really exist: the bridge, its ports, and every link inside the container's netns
    const pin = path.join(config.netnsDir, config.id);
    const hostSide = JSON.parse((await exec('ip', ['-j', 'link', 'show', 'master', config.bridge])).stdout) as { ifname: string }[];
    const inside = JSON.parse((await exec('nsenter', [`--net=${pin}`, 'ip', '-j', 'link', 'show'])).stdout) as { ifname: string }[];
    const real = [config.bridge, ...hostSide.map((l) => l.ifname), ...inside.map((l) => l.ifname)];
    assert.ok(hostSide.length >= 1 && inside.some((l) => l.ifname === config.ifname), `found ${real}`);
    const svg = readFileSync(files?.svg ?? '', 'utf8');
    const texts = xmlTexts(parseXml(svg));
    for (const name of real)
      assert.ok(
        texts.some((t) => t.split(/\s/).includes(name)),
        `SVG names ${name}`,
      );
    // the addresses the kernel shows, not the config's, are in the picture
    const att = report.cniResults[config.id] as { ips: { address: string }[] };
    for (const ip of att.ips) assert.ok(texts.includes(ip.address), `SVG shows ${ip.address}`);
    const md = readFileSync(files?.markdown ?? '', 'utf8');
    assert.ok(md.includes('```mermaid'), 'report.md has a mermaid block');
    for (const name of real.filter((n) => n !== 'lo')) assert.ok(md.includes(name), `report.md names ${name}`);

    // status reads the host
    const st = await run(['status', '--config', cfgFile, '--json']);
    assert.is(st.code, 0, st.stderr);
    const s = JSON.parse(st.stdout) as Status;
    assert.ok(s.bridge.exists);
    assert.is(s.containers[0]?.runc, 'running');
    assert.is(s.containers[0]?.hostVeth, hostSide[0]?.ifname);
    const [v4] = report.topology.containers[0]?.interfaces.find((i) => i.name === config.ifname)?.addrs ?? [];
    assert.ok(
      s.containers[0]?.interfaces.some((i) => i.addrs.includes(v4 ?? '')),
      `status shows ${v4}`,
    );
    assert.ok(
      s.leases.some((l) => l.containerId === config.id && `${l.address}/24` === v4),
      `lease for ${v4}: ${JSON.stringify(s.leases)}`,
    );
    assert.equal(s.stateFiles, ['host-setup', 'image-fetch', 'runc-bundle', 'cni-attach', 'verify']);
    const table = await run(['status', '--config', cfgFile]);
    assert.is(table.code, 0, table.stderr);

    const down = await run(['down', '--config', cfgFile]);
    assert.is(down.code, 0, down.stderr);
    assert.not.ok(existsSync(ctx.names.runDir), 'report and timings went with the run folder');
    const after = JSON.parse((await run(['status', '--config', cfgFile, '--json'])).stdout) as Status;
    assert.not.ok(after.bridge.exists);
    assert.is(after.containers[0]?.runc, undefined);
    assert.not.ok(after.containers[0]?.pinned);
    assert.equal(after.leases, []);
    assert.equal(after.stateFiles, []);
  });
});

test.run();
