import type { NetworkView } from './network.js';
import type { NodeRoute } from './nodes.js';

/**
 * The state files are the contract between steps: each step writes its own after it succeeded and reads
 * those of the steps before it. Their shapes live here so step packages never import each other.
 */

/** host-setup.json: what host-setup made or found, read by cni-attach, verify and down. */
export interface HostSetupState {
  /** the bridge host-setup made or adopted ("" when the network is not a bridge host-setup prepares) */
  bridge: string;
  /** false when the bridge was already there (made by hand) and was adopted: down then leaves it */
  createdBridge: boolean;
  addrs: string[];
  subnet4: string;
  subnet6: string;
  gateway4: string;
  gateway6: string;
  /** plugin directories that exist, in search order */
  pluginDirs: string[];
  confFile: string;
  /** false when an identical file was already there: down then leaves it */
  wroteConf: boolean;
  /** sysctl values before the demo (the bridge plugin turns forwarding on) */
  sysctls: Record<string, string>;
  tools: Record<string, string>;
  /** folders that did not exist before the demo (config, CNI cache, lease store, netns dir): down removes them when empty */
  createdDirs: string[];
  /**
   * With --port-map: the portmap/firewall plugins' shared iptables chains that existed before the demo,
   * as "<tool> <table> <chain>" ("iptables nat CNI-HOSTPORT-DNAT"); down removes the others once empty.
   */
  sharedChainsBefore?: string[];
  /** the plugins chained after bridge in the network config (portmap, firewall) */
  chainedPlugins?: string[];
  /** the network the instance runs (generated or the user's --netconf file). Absent in older states: generated */
  network?: NetworkView;
  /**
   * Bridges the network's plugins may make that did not exist before up: cni-attach marks each one the ADD
   * made, and down removes those carrying the mark (and nothing else)
   */
  pluginBridges?: string[];
  /** --master-veth: the veth pair host-setup made as the master, and the addresses on its other end */
  masterVeth?: { master: string; peer: string; addrs: string[] };
  /**
   * Several nodes on this machine (netns mode): each node's own network config (its subnets, its lease store),
   * written by host-setup and used by cni-attach with the node's namespace as the plugins' host side. No bridge is
   * made on the host then: each node has its own, inside it.
   */
  nodes?: { index: number; name: string; confFile: string; ipamDataDir: string }[];
}

/** One node as the nodes step made it: a network namespace (netns mode), or this machine itself (vm mode). */
export interface NodeRecord {
  index: number;
  name: string;
  /** netns mode: the node's pinned namespace; absent for a VM (the node is its host) */
  pin?: string;
  /** netns mode: the host end of its underlay veth, a port of the underlay bridge */
  hostVeth?: string;
  /** the interface that carries the underlay addresses (ul0 inside a node, the private-network interface of a VM) */
  underlayIf: string;
  underlay4: string;
  /** the link-local address IPv6 routes to this node go via */
  underlay6: string;
  subnet4: string;
  gateway4: string;
  subnet6: string;
  gateway6: string;
  /** the pod bridge inside the node (netns mode) */
  bridge: string;
  /** the routes this node has to the other nodes' pod subnets */
  routes: NodeRoute[];
}

/** nodes.json: what the nodes step made (written before it makes anything, so a kill midway leaves down a map). */
export interface NodesState {
  mode: 'netns' | 'vm';
  underlaySubnet: string;
  /** netns mode: the bridge on the host that joins the nodes */
  underlayBridge?: string;
  /** netns mode: every node; vm mode: this machine */
  nodes: NodeRecord[];
  /** vm mode: up put the link-local next hop on the underlay interface (down takes away only what up added) */
  addedLinkLocal?: boolean;
}

/** runc-bundle's state with the single-container fields mapped into the list form. */
export function bundleContainers(s: RuncBundleState): ContainerBundle[] {
  return (
    s.containers ?? [{ containerId: s.containerId, bundleDir: s.bundleDir, pid: s.pid, netnsPath: s.netnsPath, rootfsDir: s.rootfsDir }]
  );
}

/** cni-attach's state with the single-container fields mapped into the list form. */
export function attachmentsOf(s: CniAttachState): CniAttachment[] {
  return s.attachments ?? [{ containerId: s.containerId, netns: s.netns, result: s.result, ipv4: s.ipv4, ipv6: s.ipv6 }];
}

/** The parts of an OCI image config that a runtime spec is built from. */
export interface ImageConfig {
  Entrypoint?: string[];
  Cmd?: string[];
  Env?: string[];
  WorkingDir?: string;
  User?: string;
}

/** image-fetch.json: the image as fetched and unpacked, read by runc-bundle. */
export interface ImageFetchState {
  reference: string;
  /** the OCI layout (cache) and the tag the image has there */
  layout: string;
  tag: string;
  manifestDigest: string;
  /** umoci's unpacked bundle: rootfs/ plus umoci's metadata */
  unpackDir: string;
  rootfsDir: string;
  imageConfig: ImageConfig;
  /** the digest the reference resolved to at its source (registry index or manifest, archive manifest): what a pin names */
  sourceDigest?: string;
  /** the cache entry (an OCI layout of its own) the rootfs was unpacked from */
  cacheEntry?: string;
  /** os/arch[/variant] of the image, picked for this host from a multi-arch index */
  platform?: string;
  /** set when unpacked for rootless mode: the files belong to this user */
  ownerUid?: number;
  /**
   * the rootfs is the cache entry's own unpacked tree (`<entry>/unpacked/rootfs`), shared by every instance
   * of the image: containers get a writable overlay over it, and down leaves it to the cache (prune removes it)
   */
  sharedRootfs?: boolean;
}

/** runc-bundle.json: the container as created, read by cni-attach, verify and down. */
export interface RuncBundleState {
  containerId: string;
  bundleDir: string;
  runcRoot: string;
  pid: number;
  /** the container's netns, pinned by a bind mount so it outlives the pid */
  netnsPath: string;
  rootfsDir: string;
  /** rootless mode: the user runc runs as */
  rootless?: RootlessUser;
  /** files bind-mounted over the container's /etc/resolv.conf and /etc/hosts; cni-attach fills them (core fillEtcFiles) */
  etcFiles?: EtcFiles;
  /**
   * Every container of the instance (containerIds order); the single-container fields above describe
   * the first one. Absent in states written before many containers existed: readers then use those.
   */
  containers?: ContainerBundle[];
}

/** An unprivileged user, resolved from rootlessUser. */
export interface RootlessUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/** The container's name-resolution files, kept in the bundle and bind-mounted into it. */
export interface EtcFiles {
  hostname: string;
  resolvConf: string;
  hosts: string;
}

/** One runc container of an instance. */
export interface ContainerBundle {
  containerId: string;
  bundleDir: string;
  pid: number;
  /** the pid's start time (/proc/<pid>/stat), checked when it was pinned: with the pid it names one process */
  pidStart?: number;
  netnsPath: string;
  /** the container's root: the image rootfs (one container) or its overlay mount point */
  rootfsDir: string;
  /** overlay over the image rootfs (many containers), unmounted by down */
  overlay?: { lower: string; upper: string; work: string; mount: string };
  /** the process args when not the image's (the httpd container) */
  args?: string[];
  /** this container's /etc files (see EtcFiles) */
  etcFiles?: EtcFiles;
}

/** One CNI attachment of an instance's container. */
export interface CniAttachment {
  containerId: string;
  netns: string;
  result: Record<string, unknown>;
  ipv4: string | undefined;
  ipv6: string | undefined;
  /** portMappings passed as capability args (the httpd container with --port-map) */
  portMappings?: { hostPort: number; containerPort: number; protocol: string }[];
  /** several nodes: the node the container runs on (its plugins ran with that node as their host side) */
  node?: number;
}

/** cni-attach.json: the attachment and the CNI result, read by verify and down. */
export interface CniAttachState {
  network: string;
  confFile: string;
  containerId: string;
  ifName: string;
  netns: string;
  pluginDirs: string[];
  cniCacheDir: string;
  /** the final ADD result as the plugins returned it (in the list's cniVersion) */
  result: Record<string, unknown>;
  /** addresses from the result, without prefix length, by family */
  ipv4: string | undefined;
  ipv6: string | undefined;
  /** every attachment (containerIds order); the fields above describe the first. Absent in older states. */
  attachments?: CniAttachment[];
}

export interface CheckResult {
  name: string;
  /** true for a pass, and for a check that does not apply (`na`): neither fails verify */
  ok: boolean;
  /** what was seen, why it failed, or (na) why the check does not apply to this network */
  detail: string;
  durationMs: number;
  /** the check does not apply to this network (a host ping where the network gives the host no path, …) */
  na?: true;
}

/** verify.json: every check with its outcome. */
export interface VerifyState {
  ok: boolean;
  checks: CheckResult[];
  /** container id -> addresses, as printed in the address table (with its node when there are several) */
  addresses?: { containerId: string; ipv4: string | undefined; ipv6: string | undefined; node?: number }[];
  /** several nodes: each cross-node ping, from a container of one node to a container of another */
  crossNode?: CrossNodePing[];
}

export interface CrossNodePing {
  from: { node: number; containerId: string };
  to: { node: number; containerId: string | undefined; address: string };
  family: 4 | 6;
  ok: boolean;
  /** the reply's round-trip time, when one came */
  rttMs: number | undefined;
  detail: string;
}
