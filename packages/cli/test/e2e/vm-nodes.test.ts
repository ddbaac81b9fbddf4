import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type Config,
  createExec,
  isMountPoint,
  nodeRoutes,
  podAddresses,
  readLinks,
  readRoutes,
  routesPresent,
  underlayAddress,
  underlayLinkLocal,
  type VerifyState,
} from '@cni-demo/core';
import { removeRoot, testConfig, withCleanup } from '@cni-demo/testkit';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

/**
 * `NODES=3 vagrant up`, with network namespaces in the VMs' place: each "VM" is a namespace of its own with an eth1
 * on a shared bridge (the private network) carrying host number 10+i, and runs exactly what its provisioner runs,
 * `cni-demo up` with CNI_DEMO_NODES, CNI_DEMO_NODE_INDEX and CNI_DEMO_UNDERLAY_SUBNET set, as its own process inside
 * it. Each has its own folders, as a VM has its own disk. The VMs come up out of order (no VM needs another to be
 * up first); the last one runs the cross-node checks.
 */
const exec = createExec();
const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../scripts/cni-demo.mjs');
const TEARDOWN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), 'force-teardown.js');
const N = 3;

interface Vm {
  index: number;
  pin: string;
  file: string;
  config: Config;
}

/** What the Vagrantfile gives VM i's provisioner (the rest of the config is the test's own names and folders). */
const vagrantEnv = (i: number, underlay: string) => ({
  CNI_DEMO_NODES: String(N),
  CNI_DEMO_NODE_INDEX: String(i),
  CNI_DEMO_UNDERLAY_SUBNET: underlay,
});

function inVm(vm: Vm, argv: string[], env: Record<string, string> = {}) {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CNI_DEMO_')));
  return exec('nsenter', [`--net=${vm.pin}`, ...argv], { allowFail: true, env: { ...clean, NO_COLOR: '1', ...env } });
}

test(`NODES=${N}: each VM brings up its node with the shared code, routes to the others, the last one checks across`, async () => {
  const { root, config } = await testConfig({ nodes: N });
  const lan = config.underlayBridge;
  const u = config.underlaySubnet;
  const vms: Vm[] = [];
  await withCleanup(async (c) => {
    c.add('remove temp root', () => removeRoot(root));
    c.add('the private network', async () => {
      await exec('ip', ['link', 'del', lan], { allowFail: true });
    });
    mkdirSync(path.join(root, 'vms'));
    await exec('ip', ['-batch', '-'], { input: `link add name ${lan} type bridge\nlink set dev ${lan} up\n` });
    for (let i = 1; i <= N; i++) {
      const pin = path.join(root, 'vms', `vm${i}`);
      // a VM's own disk: every folder of the demo under it; only the image cache is shared, as a box would be
      const own = (d: string) => path.join(root, 'vms', `disk${i}`, d);
      const vmConfig = {
        ...config,
        nodes: 1,
        confDir: own('net.d'),
        stateDir: own('state'),
        cniCacheDir: own('cni-cache'),
        ipamDataDir: own('leases'),
        runcRoot: own('runc'),
        netnsDir: own('netns'),
      } as Config;
      const file = path.join(root, 'vms', `config${i}.json`);
      const { nodes: _n, nodeIndex: _i, underlaySubnet: _u, ...rest } = vmConfig;
      writeFileSync(file, JSON.stringify(rest));
      const vm = { index: i, pin, file, config: vmConfig };
      vms.push(vm);
      c.add(`VM ${i}`, async () => {
        await inVm(vm, [process.execPath, TEARDOWN, file]);
        while (isMountPoint(pin)) await exec('umount', [pin], { allowFail: true });
      });
      writeFileSync(pin, '');
      const prefix = u.split('/')[1];
      await exec('unshare', [`--net=${pin}`, '--', 'ip', '-batch', '-'], {
        input: [
          'link set dev lo up',
          `link add eth1 type veth peer name ${lan}-${i} netns /proc/${process.pid}/ns/net`,
          `addr add ${underlayAddress({ underlaySubnet: u }, i)}/${prefix} dev eth1`,
          'link set dev eth1 up',
          '',
        ].join('\n'),
      });
      await exec('ip', ['link', 'set', `${lan}-${i}`, 'master', lan, 'up']);
    }

    // out of order: 2, then 1, then the last, which checks across
    for (const i of [2, 1, N]) {
      const vm = vms[i - 1] as Vm;
      const r = await inVm(vm, [process.execPath, CLI, 'up', '--config', vm.file], vagrantEnv(i, u));
      assert.is(r.exitCode, 0, `VM ${i} up: ${r.stderr}`);
    }
    for (const vm of vms) {
      const i = vm.index;
      const full = { ...config, nodes: N, nodeIndex: i, underlaySubnet: u };
      const verify = JSON.parse(readFileSync(path.join(vm.config.stateDir, config.id, 'verify.json'), 'utf8')) as VerifyState;
      assert.ok(verify.ok, `VM ${i}'s checks passed`);
      // node i's subnets by the rule, its container at the address the rule gives it
      assert.equal(
        verify.addresses?.map((a) => [a.ipv4, a.ipv6]),
        [[podAddresses(full, i, 1).ipv4, podAddresses(full, i, 1).ipv6]],
      );
      const routes = await readRoutes(async (cmd, args, o) => inVm(vm, [cmd, ...(args ?? [])], o?.env), { filter: [] });
      assert.is(routesPresent(routes, nodeRoutes(full, i)).length, 2 * (N - 1), `VM ${i} routes to every other VM's pod subnets`);
      const eth1 = (await readLinks(async (cmd, args) => inVm(vm, [cmd, ...(args ?? [])]), { args: ['addr', 'show', 'dev', 'eth1'] }))[0];
      assert.ok(
        eth1?.addrs.some((a) => a.local === underlayLinkLocal(underlayAddress(full, i))),
        'its underlay interface carries the link-local next hop',
      );
      assert.equal(verify.crossNode?.length ?? 0, i === N ? 2 * (N - 1) : 0, 'only the last VM checks across');
      if (i === N) assert.ok(verify.crossNode?.every((p) => p.ok && p.from.node === N));
    }

    // a pod on VM 1 reaches a pod on VM 2 with its own source address (no masquerade between pods)
    const a1 = podAddresses({ ...config, nodes: N }, 1, 1);
    const a2 = podAddresses({ ...config, nodes: N }, 2, 1);
    const vm1 = vms[0] as Vm;
    const vm2 = vms[1] as Vm;
    await inVm(vm2, ['iptables', '-w', '-I', 'FORWARD', '1', '-s', a1.ipv4, '-d', a2.ipv4]);
    const ping = await inVm(vm1, ['nsenter', `--net=${path.join(vm1.config.netnsDir, config.id)}`, 'ping', '-c1', '-W2', a2.ipv4]);
    assert.is(ping.exitCode, 0, ping.stdout + ping.stderr);
    const count = (await inVm(vm2, ['iptables', '-w', '-L', 'FORWARD', '1', '-v', '-x', '-n'])).stdout.trim().split(/\s+/)[0];
    assert.ok(Number(count) > 0, "VM 2 forwarded VM 1's pod traffic with the pod's own source");

    // down on every VM: each ends with its leak audit; the VM keeps only its own network
    for (const vm of vms) {
      const r = await inVm(vm, [process.execPath, CLI, 'down', '--config', vm.file], vagrantEnv(vm.index, u));
      assert.is(r.exitCode, 0, `VM ${vm.index} down: ${r.stderr}`);
      assert.equal(
        (await inVm(vm, ['ip', '-o', 'link', 'show'])).stdout
          .trim()
          .split('\n')
          .map((l) => l.split(':')[1]?.trim().split('@')[0]),
        ['lo', 'eth1'],
        `VM ${vm.index} has its own links only`,
      );
      const left = (await inVm(vm, ['ip', '-o', 'addr', 'show', 'dev', 'eth1'])).stdout;
      assert.not.ok(left.includes(underlayLinkLocal(underlayAddress(config, vm.index))), 'the link-local next hop is gone');
      assert.is((await inVm(vm, ['ip', 'route', 'show'])).stdout.trim().split('\n').length, 1, 'only the private network route is left');
      assert.not.match((await inVm(vm, ['iptables-save', '-t', 'nat'])).stdout, /cni-demo/);
    }
  });
});

test.run();
