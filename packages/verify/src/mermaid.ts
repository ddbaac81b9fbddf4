import { routeText } from './svg.js';
import type { Iface, Topology } from './topology.js';

/** The same topology as a Mermaid flowchart, for report.md (GitHub and most Markdown viewers draw it). */

// Mermaid ids must be plain words; labels are quoted and lose the characters Mermaid would parse.
const ident = (prefix: string, name: string) => `${prefix}_${name.replace(/[^A-Za-z0-9_]/g, '_')}`;
const label = (lines: string[]) =>
  `"${lines.map((l) => l.replace(/["<>]/g, (ch) => ({ '"': '#quot;', '<': '#lt;', '>': '#gt;' })[ch] ?? ch)).join('<br/>')}"`;
const ifaceLabel = (i: Iface) => label([`${i.name}${i.kind ? ` (${i.kind})` : ''}`, ...i.addrs]);

export function renderMermaid(t: Topology): string {
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
