/**
 * Marks the demo leaves on host objects that have no per-instance name of their own, so down and the leak
 * audit recognise them without any state file (derived, like everything in names.ts).
 */

/** The alias of a bridge host-setup made; a bridge made by hand and adopted has none. */
export function bridgeMark(id: string): string {
  return `cni-demo:${id}`;
}

/** The comment on the opt-in FORWARD ACCEPT rules (--fix-forward). */
export function forwardComment(id: string, bridge: string): string {
  return `cni-demo id=${id} bridge=${bridge}`;
}

/** The rule specs (after the chain name) of the opt-in FORWARD fix, in and out of the bridge. */
export function forwardRules(id: string, bridge: string): string[][] {
  const comment = ['-m', 'comment', '--comment', forwardComment(id, bridge)];
  return [
    ['-i', bridge, ...comment, '-j', 'ACCEPT'],
    ['-o', bridge, ...comment, '-j', 'ACCEPT'],
  ];
}
