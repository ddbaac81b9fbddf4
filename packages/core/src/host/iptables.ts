import type { Exec } from '../exec.js';
import { forwardRules, masqComment, nodeMasqComment, parseAttachmentComment } from './marks.js';

/**
 * The iptables chains and rules the project and its plugins make, read with `iptables-save` or `-S`: one
 * parser for that format, and one reader for each kind of object (masquerade chains, the FORWARD fix, the
 * portmap/firewall shared chains, port mappings).
 */
export const IPTABLES_TOOLS = ['iptables', 'ip6tables'] as const;
export type IptablesTool = (typeof IPTABLES_TOOLS)[number];

export interface Rule {
  chain: string;
  /** the rule's arguments after `-A <chain>`, quotes undone: `['-D', chain, ...args]` deletes it */
  args: string[];
  /** the line as printed */
  line: string;
}

export interface Ruleset {
  /** chain -> policy ("-" for a user chain) */
  chains: Map<string, string>;
  rules: Rule[];
}

/** Splits a rule line into argv, honouring double quotes and their escapes. */
export function splitRule(line: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) out.push(m[1] !== undefined ? m[1].replace(/\\"/g, '"') : (m[2] ?? ''));
  return out;
}

/** Parses `iptables-save` and `iptables -S` output alike (`:CHAIN POLICY`, `-P`, `-N`, `-A`). */
export function parseRules(text: string): Ruleset {
  const rs: Ruleset = { chains: new Map(), rules: [] };
  for (const line of text.split('\n')) {
    const chain = /^:(\S+) (\S+)/.exec(line) ?? /^-[PN] (\S+)(?: (\S+))?/.exec(line);
    if (chain?.[1]) rs.chains.set(chain[1], chain[2] ?? '-');
    if (!line.startsWith('-A ')) continue;
    const [, name = '', ...args] = splitRule(line);
    rs.rules.push({ chain: name, args, line });
  }
  return rs;
}

/** The value after `flag` in a rule (`-j`, `-p`, `--comment`, …). */
export const ruleArg = (r: Rule, flag: string) => {
  const i = r.args.indexOf(flag);
  return i >= 0 ? r.args[i + 1] : undefined;
};

/**
 * One table of one tool (`<tool>-save -t <table>`); undefined when the tool cannot list it. With `pin`, the table
 * of the network namespace pinned there (a node's).
 */
export async function readTable(exec: Exec, tool: IptablesTool, table: 'nat' | 'filter', pin?: string): Promise<Ruleset | undefined> {
  const argv = [`${tool}-save`, '-t', table];
  const [cmd, ...args] = pin ? ['nsenter', `--net=${pin}`, ...argv] : argv;
  const r = await exec(cmd as string, args, { allowFail: true });
  return r.exitCode === 0 ? parseRules(r.stdout) : undefined;
}

/**
 * Every table of one tool from ONE `<tool>-save` (no -t): table name -> its rules. Where several tables are read
 * at once (the leak audit: nat and filter) this is one process instead of one per table; undefined when the tool
 * cannot list them.
 */
export async function readTables(exec: Exec, tool: IptablesTool): Promise<Map<string, Ruleset> | undefined> {
  const r = await exec(`${tool}-save`, [], { allowFail: true });
  if (r.exitCode !== 0) return undefined;
  const out = new Map<string, Ruleset>();
  // each table is a block "*<table>" … "COMMIT"
  for (const block of r.stdout.split(/^\*/m).slice(1)) {
    const nl = block.indexOf('\n');
    out.set((nl < 0 ? block : block.slice(0, nl)).trim(), parseRules(nl < 0 ? '' : block.slice(nl + 1)));
  }
  return out;
}

/** One chain of one tool (`<tool> -w -S <chain>`), cheaper than a whole table; undefined when it cannot be listed. */
export async function readChain(exec: Exec, tool: IptablesTool, chain: string): Promise<Ruleset | undefined> {
  const r = await exec(tool, ['-w', '-S', chain], { allowFail: true });
  return r.exitCode === 0 ? parseRules(r.stdout) : undefined;
}

/** Both tools' reads at once, each with its tool. */
const bothTools = <T>(read: (tool: IptablesTool) => Promise<T | undefined>) =>
  Promise.all(IPTABLES_TOOLS.map(async (tool) => ({ tool, rs: await read(tool) })));

/**
 * The bridge plugin's ipMasq makes one NAT chain per attachment (CNI-<hash>) and a POSTROUTING rule that jumps
 * to it, all commented `name: "<network>" id: "<container id>"`. Its DEL removes them only when it can still
 * read the container's address from the netns; with an empty or vanished netns they stay
 * (containernetworking/plugins issue 810). They are found by that comment.
 */
export interface MasqChain {
  tool: IptablesTool;
  chain: string;
  /** the POSTROUTING rules jumping to it */
  jumps: Rule[];
}

/** Pure: the masquerade chains of these attachments in one nat table. */
export function masqChainsIn(rs: Ruleset, network: string, ids: readonly string[]): { chain: string; jumps: Rule[] }[] {
  const wanted = new Set(ids.map((id) => masqComment(network, id)));
  const chains = new Map<string, Rule[]>();
  for (const r of rs.rules) {
    if (!wanted.has(ruleArg(r, '--comment') ?? '')) continue;
    const target = ruleArg(r, '-j') ?? '';
    const jump = r.chain === 'POSTROUTING' && /^CNI-[0-9a-f]+$/.test(target);
    const chain = jump ? target : /^CNI-[0-9a-f]+$/.test(r.chain) ? r.chain : undefined;
    if (!chain) continue;
    if (!chains.has(chain)) chains.set(chain, []);
    if (jump) chains.get(chain)?.push(r);
  }
  // a chain whose jump carried no comment (older plugins) is still found by its own rules' comments
  for (const [chain, jumps] of chains) {
    if (jumps.length === 0) jumps.push(...rs.rules.filter((r) => r.chain === 'POSTROUTING' && ruleArg(r, '-j') === chain));
  }
  return [...chains].map(([chain, jumps]) => ({ chain, jumps }));
}

export async function findMasqChains(exec: Exec, network: string, ids: readonly string[]): Promise<MasqChain[]> {
  const tables = await bothTools((tool) => readTable(exec, tool, 'nat'));
  return tables.flatMap(({ tool, rs }) => (rs ? masqChainsIn(rs, network, ids).map((c) => ({ tool, ...c })) : []));
}

/** The networks whose masquerade or portmap rules name one of these container ids. */
export async function masqNetworksOf(exec: Exec, ids: readonly string[]): Promise<string[]> {
  const tables = await bothTools((tool) => readTable(exec, tool, 'nat'));
  const out = new Set<string>();
  for (const { rs } of tables) {
    for (const r of rs?.rules ?? []) {
      const a = parseAttachmentComment(ruleArg(r, '--comment'));
      if (a && ids.includes(a.id)) out.add(a.network);
    }
  }
  return [...out];
}

/** The FORWARD policy of iptables and ip6tables, read at once (undefined where a tool cannot tell). */
export async function forwardPolicies(exec: Exec): Promise<(string | undefined)[]> {
  return (await bothTools((tool) => readChain(exec, tool, 'FORWARD'))).map(({ rs }) => rs?.chains.get('FORWARD'));
}

/**
 * The opt-in FORWARD fix's rules present now, per tool, read with one `-S FORWARD` per tool (at once): a rule
 * counts when its arguments are exactly one of forwardRules (as iptables prints back what it was given).
 */
export async function presentForwardRules(exec: Exec, id: string, bridge: string): Promise<{ tool: IptablesTool; rule: string[] }[]> {
  return (await bothTools((t) => readChain(exec, t, 'FORWARD'))).flatMap(({ tool, rs }) =>
    forwardRulesIn(rs, id, bridge).map((rule) => ({ tool, rule })),
  );
}

/** Pure: the FORWARD fix's rules of this instance in one tool's filter table (or its FORWARD chain). */
export function forwardRulesIn(rs: Ruleset | undefined, id: string, bridge: string): string[][] {
  const wanted = forwardRules(id, bridge);
  const out: string[][] = [];
  for (const r of rs?.rules ?? []) {
    const rule = r.chain === 'FORWARD' && wanted.find((w) => w.length === r.args.length && w.every((x, k) => x === r.args[k]));
    if (rule) out.push(rule);
  }
  return out;
}

/** The portmap and firewall plugins' shared chains: made on first use, never deleted by the plugins. */
export const SHARED_CHAINS: Record<'nat' | 'filter', string[]> = {
  nat: ['CNI-HOSTPORT-DNAT', 'CNI-HOSTPORT-MASQ', 'CNI-HOSTPORT-SETMARK'],
  filter: ['CNI-FORWARD', 'CNI-ADMIN'],
};

/** Which shared chains exist now, as "<tool> <table> <chain>". */
export async function sharedChainsWith(exec: Exec): Promise<string[]> {
  const out: string[] = [];
  for (const tool of IPTABLES_TOOLS) {
    for (const table of ['nat', 'filter'] as const) {
      const rs = await readTable(exec, tool, table);
      for (const chain of SHARED_CHAINS[table]) if (rs?.chains.has(chain)) out.push(`${tool} ${table} ${chain}`);
    }
  }
  return out;
}

/** One mapping of the portmap plugin, as its DNAT rules say. */
export interface DnatMapping {
  protocol: string;
  /** the host address the mapping is bound to; undefined means every address */
  hostIp: string | undefined;
  hostPort: number;
  containerIp: string;
  containerPort: number;
  /** the per-container DNAT chain (CNI-DN-…) */
  chain: string;
  containerId: string | undefined;
}

/**
 * The portmap plugin's DNAT rules in one nat table: CNI-HOSTPORT-DNAT jumps to one CNI-DN-<hash> chain per
 * container (its comment names the container id), and that chain holds one DNAT rule per mapping.
 */
export function dnatMappings(rs: Ruleset): DnatMapping[] {
  const ownerOf = new Map<string, string>();
  const out: DnatMapping[] = [];
  for (const r of rs.rules) {
    const target = ruleArg(r, '-j') ?? '';
    if (r.chain === 'CNI-HOSTPORT-DNAT' && target.startsWith('CNI-DN-')) {
      const id = parseAttachmentComment(ruleArg(r, '--comment'))?.id;
      if (id) ownerOf.set(target, id);
      continue;
    }
    const to = ruleArg(r, '--to-destination');
    if (!r.chain.startsWith('CNI-DN-') || target !== 'DNAT' || !to) continue;
    const dest = /^\[([^\]]+)\]:(\d+)$/.exec(to) ?? /^([^:]+):(\d+)$/.exec(to);
    const dport = ruleArg(r, '--dport');
    if (!dest?.[1] || !dest[2] || !dport) continue;
    out.push({
      protocol: ruleArg(r, '-p') ?? 'tcp',
      hostIp: ruleArg(r, '-d')?.replace(/\/(32|128)$/, ''),
      hostPort: Number(dport),
      containerIp: dest[1],
      containerPort: Number(dest[2]),
      chain: r.chain,
      containerId: undefined,
    });
  }
  for (const p of out) p.containerId = ownerOf.get(p.chain);
  return out;
}

/** The nodes' masquerade rules (comment nodeMasqComment) in POSTROUTING, per tool; with `pin`, inside that node. */
export async function findNodeMasqRules(exec: Exec, id: string, pin?: string): Promise<{ tool: IptablesTool; rule: Rule }[]> {
  const comment = nodeMasqComment(id);
  const tables = await bothTools((tool) => readTable(exec, tool, 'nat', pin));
  return tables.flatMap(({ tool, rs }) =>
    (rs?.rules ?? []).filter((r) => r.chain === 'POSTROUTING' && ruleArg(r, '--comment') === comment).map((rule) => ({ tool, rule })),
  );
}
