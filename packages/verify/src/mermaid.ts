import { printable } from '@cni-demo/core';
import { routeText } from './svg.js';
import type { Iface, Topology } from './topology.js';

/** The same topology as a Mermaid flowchart, for report.md (GitHub and most Markdown viewers draw it). */

// Mermaid ids must be plain words; labels are quoted and lose the characters Mermaid would parse (a
// backtick would switch the label to Markdown; a line break or control character is shown escaped).
const ident = (prefix: string, name: string) => `${prefix}_${name.replace(/[^A-Za-z0-9_]/g, '_')}`;
const ENTITY: Record<string, string> = { '"': '#quot;', '<': '#lt;', '>': '#gt;', '`': '#96;', '#': '#35;' };
const label = (lines: string[]) => `"${lines.map((l) => printable(l).replace(/["<>`#]/g, (ch) => ENTITY[ch] ?? ch)).join('<br/>')}"`;
const ifaceLabel = (i: Iface) => label([`${i.name}${i.kind ? ` (${i.kind})` : ''}`, ...i.addrs]);

export function renderMermaid(t: Topology): string {
  if (t.nodes) return renderNodesMermaid(t);
  const out = ['flowchart TB'];
  out.push('  subgraph host["host (root netns)"]');
  const br = t.bridge ? ident('br', t.bridge.name) : undefined;
  if (t.bridge && br) out.push(`    ${br}[${ifaceLabel(t.bridge)}]`);
  for (const p of t.ports) {
    out.push(`    ${ident('hv', p.name)}[${ifaceLabel(p)}]`);
    if (br && p.master === t.bridge?.name) out.push(`    ${br} --- ${ident('hv', p.name)}`);
  }
  if (t.hostRoutes.length) out.push(`    hroutes[${label(['routes', ...t.hostRoutes.map(routeText)])}]`);
  if (t.mappings.length) {
    const lines = t.mappings.map((m) => `${m.hostIp ?? '*'}:${m.hostPort}/${m.protocol} to ${m.containerIp}:${m.containerPort}`);
    out.push(`    maps[${label(['port mappings', ...lines])}]`);
  }
  out.push('  end');
  for (const ns of t.containers) {
    const sg = ident('ns', ns.containerId);
    out.push(`  subgraph ${sg}[${label([`netns of ${ns.containerId}`])}]`);
    for (const i of ns.interfaces) out.push(`    ${ident(`${sg}_if`, i.name)}[${ifaceLabel(i)}]`);
    if (ns.routes.length) out.push(`    ${sg}_routes[${label(['routes', ...ns.routes.map(routeText)])}]`);
    out.push('  end');
  }
  for (const v of t.veths) {
    out.push(`  ${ident('hv', v.hostIf)} ---|${v.link ?? 'veth pair'}| ${ident(`${ident('ns', v.containerId)}_if`, v.containerIf)}`);
  }
  return out.join('\n');
}

/** Several nodes: the host with the underlay bridge; each node a subgraph with its link ends, bridge and containers. */
function renderNodesMermaid(t: Topology): string {
  const out = ['flowchart TB', '  subgraph host["host (root netns)"]'];
  const ub = t.underlay?.bridge;
  if (ub) out.push(`    ub[${label([`${ub.name} (underlay bridge)`])}]`);
  for (const p of t.underlay?.ports ?? []) {
    out.push(`    ${ident('hv', p.name)}[${ifaceLabel(p)}]`);
    if (ub) out.push(`    ub --- ${ident('hv', p.name)}`);
  }
  out.push('  end');
  for (const n of t.nodes ?? []) {
    const sg = ident('node', n.name);
    out.push(`  subgraph ${sg}[${label([`node ${n.index} ${n.name}`])}]`);
    if (n.underlay) out.push(`    ${sg}_ul[${ifaceLabel(n.underlay)}]`);
    if (n.bridge) out.push(`    ${sg}_br[${ifaceLabel(n.bridge)}]`);
    const routes = n.routes.filter((r) => r.gateway);
    if (routes.length) out.push(`    ${sg}_routes[${label(['routes to the other nodes', ...routes.map(routeText)])}]`);
    for (const v of t.veths) {
      if (!n.ports.some((p) => p.name === v.hostIf)) continue;
      const ns = t.containers.find((c) => c.containerId === v.containerId);
      const eth = ns?.interfaces.find((i) => i.name === v.containerIf);
      out.push(`    ${ident('ns', v.containerId)}[${label([`netns of ${v.containerId}`, ...(eth?.addrs ?? [])])}]`);
      if (n.bridge) out.push(`    ${sg}_br ---|veth pair ${v.hostIf}| ${ident('ns', v.containerId)}`);
    }
    out.push('  end');
    if (n.hostVeth && n.underlay) out.push(`  ${ident('hv', n.hostVeth.name)} ---|veth pair| ${sg}_ul`);
  }
  return out.join('\n');
}
