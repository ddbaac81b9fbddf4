import dgram from 'node:dgram';
import net from 'node:net';
import { type Ctx, type PortMapping, parseAttachmentComment, parsePortMap, readTable, type Rule, ruleArg, UserError } from '@cni-demo/core';

/** Is the port free to bind on every address? A DNAT in front of a listening service would hide it. */
export function portFree(port: number, protocol: 'tcp' | 'udp'): Promise<boolean> {
  return new Promise((resolve) => {
    if (protocol === 'udp') {
      const s = dgram.createSocket('udp4');
      s.once('error', () => resolve(false));
      s.bind(port, '0.0.0.0', () => s.close(() => resolve(true)));
      return;
    }
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host: '0.0.0.0', exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** Host ports below this need root (or CAP_NET_BIND_SERVICE): the kernel's ip_unprivileged_port_start. */
export function privilegedPortProblem(m: PortMapping, uid: number, unprivilegedStart: number): string | undefined {
  if (uid === 0 || m.hostPort >= unprivilegedStart) return undefined;
  return `host port ${m.hostPort} is below ${unprivilegedStart} (net.ipv4.ip_unprivileged_port_start) and needs root`;
}

/**
 * Every host-port problem at once, before anything is made: a port already bound by a process or already
 * mapped by another portmap user (its DNAT rule would shadow ours), or a privileged port without root.
 * Our own instance's rules (a rerun) do not count.
 */
export async function hostPortProblems(ctx: Ctx, uid = process.getuid?.() ?? 0, network = ctx.config.network): Promise<UserError[]> {
  const { mappings } = parsePortMap(ctx.config.portMap);
  if (mappings.length === 0) return [];
  const problems: UserError[] = [];
  const start = Number(
    (await ctx.exec('sysctl', ['-n', 'net.ipv4.ip_unprivileged_port_start'], { allowFail: true })).stdout.trim() || 1024,
  );
  const dnat = (await readTable(ctx.exec, 'iptables', 'nat'))?.rules.filter((r) => r.chain === 'CNI-HOSTPORT-DNAT') ?? [];
  // our own instance's mappings (a rerun): the portmap comment names our network and one of our containers
  const ours = (r: Rule) => {
    const a = parseAttachmentComment(ruleArg(r, '--comment'));
    return a?.network === network && a.id.startsWith(ctx.config.id);
  };
  for (const m of mappings) {
    const priv = privilegedPortProblem(m, uid, start);
    if (priv) {
      problems.push(new UserError(`portMap: ${priv}`, { field: 'portMap', hint: `run as root, or map a host port of ${start} or above` }));
      continue;
    }
    const ports = (r: Rule) => (ruleArg(r, '--dports') ?? ruleArg(r, '--dport') ?? '').split(',');
    const taken = dnat.find((r) => ruleArg(r, '-p') === m.protocol && ports(r).includes(String(m.hostPort)) && !ours(r))?.line;
    if (taken) {
      problems.push(
        new UserError(`portMap: host port ${m.hostPort}/${m.protocol} is already mapped by another portmap user (${taken.slice(0, 120)})`, {
          field: 'portMap',
          hint: 'choose a free host port with --port-map, or tear the other mapping down',
        }),
      );
    } else if (!(await portFree(m.hostPort, m.protocol))) {
      problems.push(
        new UserError(`portMap: host port ${m.hostPort}/${m.protocol} is already in use on this host`, {
          field: 'portMap',
          hint: `choose a free host port with --port-map (see: ss -lntup | grep :${m.hostPort})`,
        }),
      );
    }
  }
  return problems;
}
