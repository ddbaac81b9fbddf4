import type { Iface, Route, Topology } from './topology.js';

/**
 * The topology as a standalone SVG, drawn by hand (no graphviz on the host): the host box with the bridge
 * and its ports, one column per container below it with the netns, its interfaces and routes, and a line
 * for each veth pair. Monospace text, so widths can be computed from character counts.
 */

const CHAR_W = 7.3;
const LINE_H = 16;
const PAD = 10;
const GAP = 30;
const MARGIN = 20;

export function xmlEscape(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c] ?? c);
}

export function routeText(r: Route): string {
  return `${r.dst}${r.gateway ? ` via ${r.gateway}` : ''}${r.dev ? ` dev ${r.dev}` : ''}`;
}

function ifaceLines(i: Iface): string[] {
  const head = `${i.name}${i.kind ? ` (${i.kind})` : ''}${i.up ? '' : ' DOWN'}`;
  return [head, ...(i.mac && i.mac !== '00:00:00:00:00:00' ? [i.mac] : []), ...i.addrs];
}

interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

class Canvas {
  readonly parts: string[] = [];
  rect(b: Box, cls: string): void {
    this.parts.push(`<rect class="${cls}" x="${b.x}" y="${b.y}" width="${b.w}" height="${b.h}" rx="6"/>`);
  }
  text(x: number, y: number, lines: string[], cls = 't'): void {
    lines.forEach((l, i) => {
      this.parts.push(`<text class="${i === 0 ? `${cls} b` : cls}" x="${x}" y="${y + LINE_H * (i + 1) - 4}">${xmlEscape(l)}</text>`);
    });
  }
  /** a vertical wire; its label sits left of it (text-anchor end), at labelY or halfway */
  wire(x: number, y1: number, y2: number, cls: string, label?: string, labelY = (y1 + y2) / 2): void {
    this.parts.push(`<line class="${cls}" x1="${x}" y1="${y1}" x2="${x}" y2="${y2}"/>`);
    if (label) this.parts.push(`<text class="l" text-anchor="end" x="${x - 6}" y="${labelY + 4}">${xmlEscape(label)}</text>`);
  }
}

const boxH = (lines: number) => lines * LINE_H + PAD;
const widthOf = (lines: string[]) => Math.max(...lines.map((l) => l.length), 10) * CHAR_W + 2 * PAD;

export function renderSvg(t: Topology, title = 'cni-demo topology'): string {
  if (t.nodes) return renderNodesSvg(t, title);
  const c = new Canvas();
  // one column per container; host ports that lead to no container get a column of their own
  const columns: { port: Iface | undefined; ns: Topology['containers'][number] | undefined }[] = [];
  for (const ns of t.containers) {
    const pair = t.veths.find((v) => v.containerId === ns.containerId);
    columns.push({ port: t.ports.find((p) => p.name === pair?.hostIf), ns });
  }
  for (const p of t.ports) if (!columns.some((col) => col.port === p)) columns.push({ port: p, ns: undefined });

  const order = (ns: Topology['containers'][number]) => {
    const pairIf = t.veths.find((v) => v.containerId === ns.containerId)?.containerIf;
    const rank = (i: Iface) => (i.name === pairIf ? 0 : i.name === 'lo' ? 2 : 1);
    return [...ns.interfaces].sort((a, b) => rank(a) - rank(b));
  };
  const nsLines = (ns: NonNullable<(typeof columns)[number]['ns']>) => ({
    head: [`netns of ${ns.containerId}`, ns.pin],
    ifs: order(ns).map(ifaceLines),
    routes: ['routes', ...ns.routes.map(routeText)],
  });
  const colW = Math.max(
    260,
    ...columns.map((col) => {
      const ls: string[] = col.port ? ifaceLines(col.port) : [];
      if (col.ns) {
        const n = nsLines(col.ns);
        ls.push(...n.head, ...n.ifs.flat(), ...n.routes);
      }
      return widthOf(ls) + 4 * PAD;
    }),
  );
  const bridgeLines = t.bridge ? ifaceLines(t.bridge) : ['no bridge found'];
  const hostRouteLines = [
    t.bridge ? 'host routes via the bridge' : 'host routes',
    ...(t.hostRoutes.length ? t.hostRoutes.map(routeText) : ['(none)']),
  ];
  const mapLines = [
    'port mappings (iptables DNAT)',
    ...(t.mappings.length
      ? t.mappings.map(
          (m) =>
            `${m.hostIp ?? '*'}:${m.hostPort}/${m.protocol} -> ${m.containerIp}:${m.containerPort}${m.containerId ? ` (${m.containerId})` : ''}`,
        )
      : ['(none)']),
  ];
  const colsW = columns.length * colW + Math.max(0, columns.length - 1) * GAP;
  // routes and mappings sit right of the port row, so no veth line crosses them
  const infoW = Math.max(widthOf(hostRouteLines), widthOf(mapLines));
  const innerW = Math.max(colsW + (colsW > 0 ? GAP : 0) + infoW, widthOf(bridgeLines));
  const width = innerW + 2 * MARGIN + 2 * PAD;

  // host box: title, bridge, then the ports row with routes and mappings beside it
  const hostX = MARGIN;
  let y = MARGIN + LINE_H + PAD;
  const bridge: Box = { x: hostX + PAD, y, w: innerW, h: boxH(bridgeLines.length) };
  y += bridge.h + GAP;
  const portH = Math.max(0, ...columns.map((col) => (col.port ? boxH(ifaceLines(col.port).length) : 0)));
  const portY = y;
  const infoX = hostX + PAD + colsW + (colsW > 0 ? GAP : 0);
  const infoH = boxH(hostRouteLines.length) + PAD + boxH(mapLines.length);
  y += Math.max(portH, infoH) + PAD;
  const host: Box = { x: hostX, y: MARGIN, w: innerW + 2 * PAD, h: y - MARGIN };

  c.rect(host, 'host');
  c.text(hostX + PAD, MARGIN, ['host (root network namespace)']);
  c.rect(bridge, 'br');
  c.text(bridge.x + PAD, bridge.y + 2, bridgeLines);
  c.text(infoX, portY, hostRouteLines, 's');
  c.text(infoX, portY + boxH(hostRouteLines.length) + PAD, mapLines, 's');

  // container columns below the host box
  let nsTop = host.y + host.h + GAP * 2;
  let bottom = host.y + host.h;
  columns.forEach((col, i) => {
    const x = hostX + PAD + i * (colW + GAP);
    // wires run down the right edge of the column, where no left-aligned text reaches (colW has 4*PAD spare beyond the longest line)
    const wx = x + colW - 2 * PAD;
    let portBox: Box | undefined;
    if (col.port) {
      const lines = ifaceLines(col.port);
      portBox = { x, y: portY, w: colW, h: boxH(lines.length) };
      if (t.bridge && col.port.master === t.bridge.name) c.wire(wx, bridge.y + bridge.h, portY, 'w', 'port');
      c.rect(portBox, 'veth');
      c.text(x + PAD, portY + 2, lines);
    }
    if (!col.ns) return;
    const n = nsLines(col.ns);
    let yy = nsTop + boxH(n.head.length);
    const ifBoxes: { box: Box; lines: string[]; iface: Iface }[] = [];
    order(col.ns).forEach((iface, k) => {
      const lines = n.ifs[k] ?? [];
      const box = { x: x + PAD, y: yy, w: colW - 2 * PAD, h: boxH(lines.length) };
      ifBoxes.push({ box, lines, iface });
      yy += box.h + PAD;
    });
    const routesY = yy;
    yy += boxH(n.routes.length);
    const nsBox: Box = { x, y: nsTop, w: colW, h: yy - nsTop + PAD };
    c.rect(nsBox, 'ns');
    c.text(x + PAD, nsTop + 2, n.head);
    for (const b of ifBoxes) {
      c.rect(b.box, b.iface.name === 'lo' ? 'lo' : 'eth');
      c.text(b.box.x + PAD, b.box.y + 2, b.lines);
    }
    c.text(x + PAD, routesY, n.routes, 's');
    const pair = t.veths.find((v) => v.containerId === col.ns?.containerId);
    const target = ifBoxes.find((b) => b.iface.name === pair?.containerIf);
    if (portBox && target) {
      const how = pair?.link ? `${pair.containerIf} ${pair.link} ${pair.hostIf}` : `veth pair ${pair?.hostIf} = ${pair?.containerIf}`;
      c.wire(wx, portBox.y + portBox.h, target.box.y, 'w', how, nsTop - GAP);
    }
    bottom = Math.max(bottom, nsBox.y + nsBox.h);
  });
  nsTop = bottom;
  const height = nsTop + MARGIN;

  return wrapSvg(c, width, height, title);
}

function wrapSvg(c: Canvas, width: number, height: number, title: string): string {
  const style = [
    'text{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;fill:#1b1f24}',
    '.b{font-weight:bold}.s{fill:#3d4650}.l{font-size:11px;fill:#6a4c9c}',
    'rect{stroke-width:1.5}',
    '.host{fill:#f6f8fa;stroke:#57606a}.br{fill:#ddf4ff;stroke:#0969da}.veth{fill:#fff8c5;stroke:#9a6700}',
    '.ns{fill:#fbefff;stroke:#8250df}.eth{fill:#dafbe1;stroke:#1a7f37}.lo{fill:#eaeef2;stroke:#8c959f}',
    '.w{stroke:#6a4c9c;stroke-width:2}',
  ].join('');
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" width="${Math.ceil(width)}" height="${Math.ceil(height)}" viewBox="0 0 ${Math.ceil(width)} ${Math.ceil(height)}">`,
    `<title>${xmlEscape(title)}</title>`,
    `<style>${style}</style>`,
    `<rect x="0" y="0" width="${Math.ceil(width)}" height="${Math.ceil(height)}" fill="#ffffff"/>`,
    ...c.parts,
    '</svg>',
    '',
  ].join('\n');
}

/**
 * Several nodes on this machine: the host box holds the underlay bridge and its ports (one veth per node); below
 * it one column per node, its namespace with its end of the underlay, its own bridge, its routes (to the other
 * nodes' pod subnets via their underlay addresses) and its containers with their addresses. A wire runs from the
 * underlay bridge through each node's veth to the node's end of it.
 */
export function renderNodesSvg(t: Topology, title = 'cni-demo topology'): string {
  const c = new Canvas();
  const nodes = t.nodes ?? [];
  const ub = t.underlay?.bridge;
  const ubLines = ub ? [...ifaceLines(ub), 'underlay bridge (no address: the host is not on the underlay)'] : ['no underlay bridge found'];
  const containerLines = (id: string) => {
    const ns = t.containers.find((x) => x.containerId === id);
    const pair = t.veths.find((v) => v.containerId === id);
    const eth = ns?.interfaces.find((i) => i.name === pair?.containerIf) ?? ns?.interfaces.find((i) => i.name !== 'lo');
    return [
      `netns of ${id}`,
      ...(eth ? [`${eth.name} ${eth.addrs.filter((a) => !a.startsWith('fe80')).join(' ')}`] : []),
      ...(pair ? [`host end ${pair.hostIf}`] : []),
    ];
  };
  const col = nodes.map((n) => {
    const ids = t.containers
      .filter((x) => t.veths.some((v) => v.containerId === x.containerId && n.ports.some((p) => p.name === v.hostIf)))
      .map((x) => x.containerId);
    return {
      n,
      head: [`node ${n.index} ${n.name}`, n.pin],
      underlay: n.underlay ? ifaceLines(n.underlay).filter((l) => !/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(l)) : ['no underlay link'],
      bridge: n.bridge ? ifaceLines(n.bridge).filter((l) => !/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(l)) : ['no bridge'],
      routes: ['routes', ...n.routes.filter((r) => !r.dst.startsWith('fe80')).map(routeText)],
      containers: ids.map(containerLines),
      port: n.hostVeth ? ifaceLines(n.hostVeth).slice(0, 1) : ['(no veth on the host)'],
    };
  });
  const colW = Math.max(
    260,
    ...col.map((x) => widthOf([...x.head, ...x.underlay, ...x.bridge, ...x.routes, ...x.containers.flat(), ...x.port]) + 4 * PAD),
  );
  const colsW = col.length * colW + Math.max(0, col.length - 1) * GAP;
  const innerW = Math.max(colsW, widthOf(ubLines));
  const width = innerW + 2 * MARGIN + 2 * PAD;
  const hostX = MARGIN;
  let y = MARGIN + LINE_H + PAD;
  const bridge: Box = { x: hostX + PAD, y, w: innerW, h: boxH(ubLines.length) };
  y += bridge.h + GAP;
  const portY = y;
  y += boxH(1) + PAD;
  const host: Box = { x: hostX, y: MARGIN, w: innerW + 2 * PAD, h: y - MARGIN };
  c.rect(host, 'host');
  c.text(hostX + PAD, MARGIN, ['host (root network namespace)']);
  c.rect(bridge, 'br');
  c.text(bridge.x + PAD, bridge.y + 2, ubLines);
  const top = host.y + host.h + GAP * 2;
  let bottom = top;
  col.forEach((x, k) => {
    const cx = hostX + PAD + k * (colW + GAP);
    const wx = cx + colW - 2 * PAD;
    const port: Box = { x: cx, y: portY, w: colW, h: boxH(1) };
    c.wire(wx, bridge.y + bridge.h, portY, 'w', 'port');
    c.rect(port, 'veth');
    c.text(cx + PAD, portY + 2, x.port);
    let yy = top + boxH(x.head.length);
    const ul: Box = { x: cx + PAD, y: yy, w: colW - 2 * PAD, h: boxH(x.underlay.length) };
    yy += ul.h + PAD;
    const br: Box = { x: cx + PAD, y: yy, w: colW - 2 * PAD, h: boxH(x.bridge.length) };
    yy += br.h + PAD;
    const routesY = yy;
    yy += boxH(x.routes.length) + PAD;
    const boxes = x.containers.map((lines) => {
      const b: Box = { x: cx + PAD, y: yy, w: colW - 2 * PAD, h: boxH(lines.length) };
      yy += b.h + PAD;
      return { b, lines };
    });
    const nodeBox: Box = { x: cx, y: top, w: colW, h: yy - top + PAD };
    c.rect(nodeBox, 'ns');
    c.text(cx + PAD, top + 2, x.head);
    c.rect(ul, 'eth');
    c.text(ul.x + PAD, ul.y + 2, x.underlay);
    c.rect(br, 'br');
    c.text(br.x + PAD, br.y + 2, x.bridge);
    c.text(cx + PAD, routesY, x.routes, 's');
    for (const { b, lines } of boxes) {
      c.rect(b, 'eth');
      c.text(b.x + PAD, b.y + 2, lines);
    }
    c.wire(wx, port.y + port.h, ul.y, 'w', 'veth pair', top - GAP);
    bottom = Math.max(bottom, nodeBox.y + nodeBox.h);
  });
  const height = bottom + MARGIN;
  return wrapSvg(c, width, height, title);
}
