import path from 'node:path';
import { type Config, createExec, readLinks, resolveConfig } from '@cni-demo/core';
import { forceTeardown, type ProcResult, removeRoot, runScript, testConfig, withCleanup, writeConfigFile } from '@cni-demo/testkit';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatTable } from '@cni-demo/verify';
import { walkthroughConf, writeNetconf } from './netconf-env.js';

/**
 * verify is shown to fail: after a real up (every check passing), the network is broken on purpose in one way,
 * and `verify up` must fail exactly the checks that depend on what was broken, say why in its table, and exit
 * non-zero. The failed rows are written out per break, from what the break does to the kernel (a deleted
 * primary IPv4 address takes its routes along, a bridge set down drops its IPv6 addresses), not read from verify.
 */
const exec = createExec();

interface Up {
  config: Config;
  file: string;
  pin: string;
  v4: string;
  v6: string;
}

interface Row {
  name: string;
  result: string;
  detail: string;
}

/** verify's table (formatTable): the dashes under the header give the columns. */
function parseTable(text: string): Row[] {
  const lines = text.split('\n');
  const at = lines.findIndex((l) => /^-+ {2}-{6} {2}-{6} {2}-{6}$/.test(l));
  if (at < 0) throw new Error(`no check table in:\n${text}`);
  const w = (lines[at] ?? '').indexOf(' ');
  const rows: Row[] = [];
  for (const l of lines.slice(at + 1)) {
    if (/^(all \d+ checks passed|\d+ of \d+ checks FAILED)/.test(l) || l.trim() === '') break;
    rows.push({ name: l.slice(0, w).trim(), result: l.slice(w + 2, w + 8).trim(), detail: l.slice(w + 2 + 6 + 2 + 6 + 2) });
  }
  return rows;
}

async function verify(up: Up): Promise<{ r: ProcResult; rows: Row[] }> {
  const r = await runScript('verify', 'up', ['--config', up.file]);
  return { r, rows: parseTable(r.stdout) };
}

const nsenter = (pin: string, argv: string[]) => exec('nsenter', [`--net=${pin}`, ...argv]);

interface Break {
  what: string;
  overrides?: (root: string, config: Config) => Record<string, unknown>;
  /** breaks the running demo */
  apply: (up: Up) => Promise<unknown>;
  /** the rows that must fail, and what each one's detail says */
  fails: (up: Up) => Record<string, RegExp>;
}

const NO_REPLY = /^no reply: /;

const BREAKS: Break[] = [
  {
    what: 'the IPv6 address removed from eth0',
    apply: (u) => nsenter(u.pin, ['ip', '-6', 'addr', 'del', `${u.v6}/64`, 'dev', 'eth0']),
    fails: (u) => ({
      [`eth0 has ${u.v6}/64`]: new RegExp(`^eth0 carries \\[${u.v4}/24\\]$`),
      [`host pings container ${u.v6}`]: NO_REPLY,
    }),
  },
  {
    // the kernel drops a primary address's secondaries with it unless promote_secondaries is on: with it, a
    // second address of the subnet keeps eth0's routes, so only the address itself is missing
    what: 'the IPv4 address replaced by another of the subnet on eth0',
    apply: async (u) => {
      await nsenter(u.pin, ['sysctl', '-qw', 'net.ipv4.conf.eth0.promote_secondaries=1']);
      await nsenter(u.pin, ['ip', 'addr', 'add', `${u.v4.replace(/\.\d+$/, '.250')}/24`, 'dev', 'eth0']);
      await nsenter(u.pin, ['ip', 'addr', 'del', `${u.v4}/24`, 'dev', 'eth0']);
    },
    fails: (u) => ({
      [`eth0 has ${u.v4}/24`]: new RegExp(`^eth0 carries \\[${u.v4.replace(/\.\d+$/, '\\.250')}/24, ${u.v6}/64\\]$`),
      [`host pings container ${u.v4}`]: NO_REPLY,
    }),
  },
  {
    what: 'the IPv4 default route deleted in the container',
    apply: (u) => nsenter(u.pin, ['ip', '-4', 'route', 'del', 'default']),
    fails: (u) => ({ [`route default via ${u.config.gateway4}`]: /^no route to default in the container$/ }),
  },
  {
    what: 'the IPv6 default route deleted in the container',
    apply: (u) => nsenter(u.pin, ['ip', '-6', 'route', 'del', 'default']),
    fails: (u) => ({ [`route default via ${u.config.gateway6}`]: /^no route to default in the container$/ }),
  },
  {
    what: 'ICMP echo requests dropped by iptables in the container’s netns',
    apply: (u) => nsenter(u.pin, ['iptables', '-A', 'INPUT', '-p', 'icmp', '--icmp-type', 'echo-request', '-j', 'DROP']),
    fails: (u) => ({ [`host pings container ${u.v4}`]: NO_REPLY }),
  },
  {
    what: 'ICMPv6 echo requests dropped by ip6tables in the container’s netns',
    apply: (u) => nsenter(u.pin, ['ip6tables', '-A', 'INPUT', '-p', 'ipv6-icmp', '--icmpv6-type', 'echo-request', '-j', 'DROP']),
    fails: (u) => ({ [`host pings container ${u.v6}`]: NO_REPLY }),
  },
  {
    what: 'ICMP echo replies dropped by iptables in the container’s netns',
    apply: (u) => nsenter(u.pin, ['iptables', '-A', 'INPUT', '-p', 'icmp', '--icmp-type', 'echo-reply', '-j', 'DROP']),
    fails: (u) => ({ [`container pings gateway ${u.config.gateway4}`]: NO_REPLY }),
  },
  {
    what: 'ICMPv6 echo replies dropped by ip6tables in the container’s netns',
    apply: (u) => nsenter(u.pin, ['ip6tables', '-A', 'INPUT', '-p', 'ipv6-icmp', '--icmpv6-type', 'echo-reply', '-j', 'DROP']),
    fails: (u) => ({ [`container pings gateway ${u.config.gateway6}`]: NO_REPLY }),
  },
  {
    what: 'the bridge set down',
    apply: (u) => exec('ip', ['link', 'set', u.config.bridge, 'down']),
    fails: (u) => ({
      [`container pings gateway ${u.config.gateway4}`]: NO_REPLY,
      [`container pings gateway ${u.config.gateway6}`]: NO_REPLY,
      [`host pings container ${u.v4}`]: NO_REPLY,
      [`host pings container ${u.v6}`]: NO_REPLY,
    }),
  },
  {
    what: 'the nameserver of the result overwritten in the container’s /etc/resolv.conf (the walkthrough’s own file, with its DNS)',
    overrides: (root, config) => ({
      netconf: writeNetconf(root, '10-connet.conf', walkthroughConf(config, path.join(root, 'ipam-state'))),
    }),
    apply: (u) =>
      exec('runc', ['--root', u.config.runcRoot, 'exec', u.config.id, 'sh', '-c', 'echo nameserver 192.0.2.53 > /etc/resolv.conf']),
    fails: () => ({ "resolv.conf has the result's DNS": /^\/etc\/resolv\.conf lacks nameserver 8\.8\.8\.8$/ }),
  },
  {
    what: 'the httpd behind the mapped port made unreachable (TCP to port 80 dropped in the container’s netns)',
    overrides: () => ({ portMap: `${18600 + Math.floor(Math.random() * 100)}:80/tcp` }),
    apply: (u) => nsenter(u.pin, ['iptables', '-A', 'INPUT', '-p', 'tcp', '--dport', '80', '-j', 'DROP']),
    fails: (u) => {
      const port = Number(u.config.portMap.split(':')[0]);
      return {
        [`host gets http://127.0.0.1:${port}/ from ${u.config.id} httpd`]: /./,
        [`host gets http://${u.config.gateway4}:${port}/ from ${u.config.id} httpd`]: /./,
      };
    },
  },
];

for (const b of BREAKS) {
  test(`verify catches ${b.what}: exactly the checks that depend on it fail, the table says why, exit 1`, async () => {
    const t = await testConfig();
    const { root } = t;
    const { config } = resolveConfig({ env: {}, file: { ...t.config, ...b.overrides?.(root, t.config) } });
    const file = writeConfigFile(root, config);
    await withCleanup(async (c) => {
      c.add('remove temp root', () => removeRoot(root));
      c.add('force teardown', () => forceTeardown(config, exec));
      const ok = await runScript('cli', 'cni-demo', ['up', '--config', file]);
      assert.is(ok.code, 0, `the demo came up: ${ok.stderr}`);
      const pin = path.join(config.netnsDir, config.id);
      const eth0 = (await readLinks(exec, { pin, args: ['addr', 'show', 'dev', 'eth0'] }))[0];
      const addr = (f: 4 | 6) => eth0?.addrs.find((a) => a.family === f && a.scope === 'global')?.local ?? '';
      const up: Up = { config, file, pin, v4: addr(4), v6: addr(6) };
      const baseline = await verify(up);
      assert.is(baseline.r.code, 0, `every check passes before the break:\n${baseline.r.stdout}`);
      assert.ok(baseline.rows.length >= 8, `a full table:\n${baseline.r.stdout}`);

      await b.apply(up);
      const after = await verify(up);
      const want = b.fails(up);
      assert.is(after.r.code, 1, `verify exits 1:\n${after.r.stdout}${after.r.stderr}`);
      assert.equal(
        after.rows
          .filter((r) => r.result === 'FAIL')
          .map((r) => r.name)
          .sort(),
        Object.keys(want).sort(),
        `the failed rows:\n${after.r.stdout}`,
      );
      for (const [name, why] of Object.entries(want)) {
        const row = after.rows.find((r) => r.name === name);
        assert.match(row?.detail ?? '', why, `${name}: the table says why`);
      }
      assert.equal(
        after.rows.map((r) => r.name),
        baseline.rows.map((r) => r.name),
        'the same checks ran',
      );
      assert.match(after.r.stderr, new RegExp(`${Object.keys(want).length} of ${after.rows.length} checks failed`));
    });
  });
}

test('parseTable reads verify’s table as formatTable writes it: names, results and details, up to the summary', () => {
  const text = formatTable([
    { name: 'eth0 has 10.0.0.2/24', ok: true, detail: '10.0.0.2/24 on eth0', durationMs: 53 },
    { name: 'route default via 10.0.0.1', ok: false, detail: 'no route to default in the container', durationMs: 39 },
    { name: "resolv.conf has the result's DNS", ok: true, na: true, detail: 'the result has no DNS', durationMs: 0 },
  ]);
  assert.equal(parseTable(text), [
    { name: 'eth0 has 10.0.0.2/24', result: 'pass', detail: '10.0.0.2/24 on eth0' },
    { name: 'route default via 10.0.0.1', result: 'FAIL', detail: 'no route to default in the container' },
    { name: "resolv.conf has the result's DNS", result: 'n/a', detail: 'the result has no DNS' },
  ]);
});

test.run();
