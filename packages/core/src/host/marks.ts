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
