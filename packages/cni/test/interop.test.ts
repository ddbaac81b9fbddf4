// Interoperability through libcni's on-disk cache, with REAL plugins: an attachment made by this library is
// torn down by an independent reader of the documented cniCacheV1 format (as cnitool/containerd would),
// and an attachment made and cached the way libcni 1.1.2 does is torn down by this library. Root only.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { withCleanup } from '@cni-demo/testkit';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CniRuntime, confFromBytes, type Result, type RuntimeConf } from '../src/index.js';
import { exec, PLUGIN_DIR, type RealEnv, realEnv, requirePrereqs, rulesMentioning } from './real-env.js';

function conflistText(env: RealEnv): string {
  const c = env.config;
  // pretty-printed on purpose: the cache must keep the file's exact bytes, not a re-serialisation
  return `${JSON.stringify(
    {
      name: c.network,
      cniVersion: '1.0.0',
      plugins: [
        {
          type: 'bridge',
          bridge: c.bridge,
          isGateway: true,
          ipMasq: true,
          ipam: { type: 'host-local', dataDir: c.ipamDataDir, ranges: [[{ subnet: c.subnet4 }]] },
        },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    },
    null,
    2,
  )}\n`;
}

/** A plugin run the way libcni's raw exec does it, written independently of the library under test. */
function runPlugin(
  type: string,
  verb: string,
  e: { containerId: string; netns: string; ifName: string; cniArgs: [string, string][] },
  request: unknown,
): string {
  const r = spawnSync(path.join(PLUGIN_DIR, type), [], {
    input: JSON.stringify(request),
    encoding: 'utf8',
    env: {
      ...process.env,
      CNI_COMMAND: verb,
      CNI_CONTAINERID: e.containerId,
      CNI_NETNS: e.netns,
      CNI_IFNAME: e.ifName,
      CNI_ARGS: e.cniArgs.map(([k, v]) => `${k}=${v}`).join(';'),
      CNI_PATH: PLUGIN_DIR,
    },
  });
  assert.is(r.status, 0, `${type} ${verb}: ${r.stdout} ${r.stderr}`);
  return r.stdout;
}

function foreignRequest(conf: Record<string, unknown>, plugin: Record<string, unknown>, caps: Record<string, unknown>, prev?: unknown) {
  const rc: Record<string, unknown> = {};
  for (const [k, on] of Object.entries((plugin.capabilities as Record<string, boolean>) ?? {})) if (on && k in caps) rc[k] = caps[k];
  return {
    ...plugin,
    name: conf.name,
    cniVersion: conf.cniVersion,
    ...(prev ? { prevResult: prev } : {}),
    ...(Object.keys(rc).length ? { runtimeConfig: rc } : {}),
  };
}

const leases = (env: RealEnv) => {
  const dir = path.join(env.config.ipamDataDir, env.config.network);
  return existsSync(dir) ? readdirSync(dir).filter((f) => !f.startsWith('last_reserved_ip') && f !== 'lock') : [];
};

test('interop: our attachment, checked field by field, torn down by a foreign reader of the cache', async () => {
  requirePrereqs(['bridge', 'host-local', 'portmap']);
  await withCleanup(async (c) => {
    const env = await realEnv(c);
    const cni = new CniRuntime({ pluginDirs: [PLUGIN_DIR], cacheDir: env.config.cniCacheDir });
    const text = conflistText(env);
    const list = confFromBytes(Buffer.from(text), 'interop.conflist');
    const netns = await env.newNetns();
    const caps = {
      portMappings: [{ hostPort: 20000 + Math.floor(Math.random() * 9000), containerPort: 80, protocol: 'tcp' }],
      unusedCap: true,
    };
    const rt: RuntimeConf = {
      containerId: `${env.config.id}-ours`,
      netns,
      ifName: 'eth0',
      args: [['IgnoreUnknown', '1']],
      capabilityArgs: caps,
    };
    env.ids.push(rt.containerId);
    c.add('DEL', () => cni.delNetworkList(list, rt).catch(() => undefined));
    const result = (await cni.addNetworkList(list, rt)) as Result;
    const v4 = result.ips?.[0]?.address.split('/')[0] ?? '';

    // the documented format (facts §7): path, modes, keys, base64 of the file's exact bytes
    const file = path.join(env.config.cniCacheDir, 'results', `${env.config.network}-${rt.containerId}-eth0`);
    assert.is(statSync(file).mode & 0o777, 0o600);
    assert.is(statSync(path.dirname(file)).mode & 0o777, 0o700);
    const entry = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    assert.equal(Object.keys(entry).sort(), [
      'capabilityArgs',
      'cniArgs',
      'config',
      'containerId',
      'ifName',
      'kind',
      'netns',
      'networkName',
      'result',
    ]);
    assert.is(entry.kind, 'cniCacheV1');
    assert.is(entry.containerId, rt.containerId);
    assert.is(entry.ifName, 'eth0');
    assert.is(entry.networkName, env.config.network);
    assert.is(entry.netns, netns);
    assert.equal(entry.cniArgs, [['IgnoreUnknown', '1']]);
    assert.equal(entry.capabilityArgs, caps);
    assert.is(typeof entry.config, 'string');
    assert.is(Buffer.from(entry.config as string, 'base64').toString('utf8'), text);
    assert.equal(entry.result, result);

    // the foreign side: only the cache file, no library code
    const conf = JSON.parse(Buffer.from(entry.config as string, 'base64').toString('utf8')) as {
      name: string;
      cniVersion: string;
      plugins: Record<string, unknown>[];
    };
    const e = {
      containerId: entry.containerId as string,
      netns: entry.netns as string,
      ifName: entry.ifName as string,
      cniArgs: entry.cniArgs as [string, string][],
    };
    for (const p of [...conf.plugins].reverse())
      runPlugin(p.type as string, 'DEL', e, foreignRequest(conf, p, entry.capabilityArgs as Record<string, unknown>, entry.result));
    rmSync(file);

    assert.equal(leases(env), []);
    assert.equal(await rulesMentioning([`"${rt.containerId}"`, `\\"${rt.containerId}\\"`, `${v4}:`, `${v4}/32`]), []);
    assert.is((await exec('ip', ['-n', path.basename(netns), 'link', 'show', 'eth0'], { allowFail: true })).exitCode, 1);
    assert.equal(cni.getCachedAttachments(), []);
  });
});

test('interop: an attachment made and cached as libcni 1.1.2 does, torn down by this library', async () => {
  requirePrereqs(['bridge', 'host-local', 'portmap']);
  await withCleanup(async (c) => {
    const env = await realEnv(c);
    const text = conflistText(env);
    const conf = JSON.parse(text) as { name: string; cniVersion: string; plugins: Record<string, unknown>[] };
    const netns = await env.newNetns();
    const e = { containerId: `${env.config.id}-theirs`, netns, ifName: 'net1', cniArgs: [['IgnoreUnknown', '1']] as [string, string][] };
    env.ids.push(e.containerId);
    const caps = { portMappings: [{ hostPort: 20000 + Math.floor(Math.random() * 9000), containerPort: 8080, protocol: 'tcp' }] };
    let prev: unknown;
    for (const p of conf.plugins) prev = JSON.parse(runPlugin(p.type as string, 'ADD', e, foreignRequest(conf, p, caps, prev)));
    const v4 = ((prev as Result).ips?.[0]?.address ?? '').split('/')[0] ?? '';
    // libcni 1.1.2 cacheAdd: a plain write, no netns field
    const dir = path.join(env.config.cniCacheDir, 'results');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(
      path.join(dir, `${conf.name}-${e.containerId}-${e.ifName}`),
      JSON.stringify({
        kind: 'cniCacheV1',
        containerId: e.containerId,
        config: Buffer.from(text).toString('base64'),
        ifName: e.ifName,
        networkName: conf.name,
        cniArgs: e.cniArgs,
        capabilityArgs: caps,
        result: prev,
      }),
      { mode: 0o600 },
    );

    const cni = new CniRuntime({ pluginDirs: [PLUGIN_DIR], cacheDir: env.config.cniCacheDir });
    const [found] = cni.getCachedAttachments(e.containerId);
    assert.ok(found, 'listed');
    const list = confFromBytes(Buffer.from(found?.config ?? '', 'base64'), 'from-cache');
    assert.equal(cni.getCachedResult(list, e), prev);
    const rt: RuntimeConf = {
      containerId: e.containerId,
      netns,
      ifName: e.ifName,
      args: found?.cniArgs ?? [],
      capabilityArgs: found?.capabilityArgs ?? {},
    };
    c.add('DEL', () => cni.delNetworkList(list, rt).catch(() => undefined));
    await cni.delNetworkList(list, rt);

    assert.equal(cni.getCachedAttachments(), []);
    assert.equal(leases(env), []);
    assert.equal(
      await rulesMentioning([`"${e.containerId}"`, `\\"${e.containerId}\\"`, `${v4}:`, `${v4}/32`]),
      [],
      'portmap and masq rules gone',
    );
    assert.is((await exec('ip', ['-n', path.basename(netns), 'link', 'show', 'net1'], { allowFail: true })).exitCode, 1);
  });
});

test.run();
