import { linkAlias } from './links.js';

/**
 * The marks the demo and its plugins leave on host objects that have no per-instance name of their own, so
 * down and the leak audit recognise them without any state file (derived, like everything in names.ts).
 */

/**
 * The alias of a link this instance made (or, for a bridge a plugin made, that its ADD made): host-setup's
 * bridge, a bridge the network's plugin made where none was before, a --master-veth pair. A bridge made by
 * hand and adopted has none.
 */
export function linkMark(id: string): string {
  return `cni-demo:${id}`;
}
export const bridgeMark = linkMark;

/** True when the link carries this instance's mark. */
export const isMarkedLink = (name: string, id: string) => linkAlias(name) === linkMark(id);
export const isMarkedBridge = isMarkedLink;

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

/**
 * The comment the bridge plugin (ipMasq) and portmap put on their rules for one attachment; the exact text,
 * so id "a" never matches id "a-1".
 */
export function masqComment(network: string, id: string): string {
  return `name: "${network}" id: "${id}"`;
}

/** The attachment a plugin's rule comment names (portmap's starts "dnat "), or undefined for any other comment. */
export function parseAttachmentComment(comment: string | undefined): { network: string; id: string } | undefined {
  const m = /(?:^|\s)name: "([^"]*)" id: "([^"]*)"$/.exec(comment ?? '');
  return m ? { network: m[1] ?? '', id: m[2] ?? '' } : undefined;
}

/** The comment on the nodes' masquerade rules (in each node's netns, or on a VM's host). */
export function nodeMasqComment(id: string): string {
  return `cni-demo id=${id} nodes`;
}

/**
 * A node's masquerade, as iptables rule specs after `-A POSTROUTING`: traffic from its pods to any pod of the
 * cluster keeps its source (RETURN), everything else leaving the pod subnet is masqueraded (not multicast, as
 * the bridge plugin's ipMasq). The bridge plugin's own ipMasq is off for nodes: it would hide pods from each other.
 */
export function nodeMasqRules(id: string, family: 4 | 6, podSubnet: string, cluster: readonly string[]): string[][] {
  const comment = ['-m', 'comment', '--comment', nodeMasqComment(id)];
  const multicast = family === 4 ? '224.0.0.0/4' : 'ff00::/8';
  return [
    ...cluster.map((dst) => ['-s', podSubnet, '-d', dst, ...comment, '-j', 'RETURN']),
    ['-s', podSubnet, '!', '-d', multicast, ...comment, '-j', 'MASQUERADE'],
  ];
}
