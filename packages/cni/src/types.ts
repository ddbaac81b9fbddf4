/** A plugin object inside a configuration list: `type` plus whatever the plugin reads. */
export interface PluginConf {
  type: string;
  capabilities?: Record<string, boolean>;
  [key: string]: unknown;
}

export interface NetworkConfigList {
  name: string;
  /** the version the runtime will speak to the plugins (after cniVersions selection) */
  cniVersion: string;
  cniVersions?: string[];
  disableCheck: boolean;
  disableGC: boolean;
  plugins: PluginConf[];
  /** the file's exact bytes: the result cache stores them (base64) as libcni does */
  bytes: Uint8Array;
  /** where it came from, for error messages */
  source: string;
}

export interface RuntimeConf {
  containerId: string;
  /** a path (/var/run/netns/x or /proc/<pid>/ns/net), not a namespace name */
  netns: string;
  ifName: string;
  /** CNI_ARGS pairs */
  args?: [string, string][];
  /** capability args (portMappings, ips, mac, bandwidth …) */
  capabilityArgs?: Record<string, unknown>;
}

export interface Interface {
  name: string;
  mac?: string;
  sandbox?: string;
  mtu?: number;
  socketPath?: string;
  pciID?: string;
}
export interface IPConfig {
  /** only in 0.3.x/0.4.0 results */
  version?: '4' | '6';
  address: string;
  gateway?: string;
  interface?: number;
}
export interface Route {
  dst: string;
  gw?: string;
  mtu?: number;
  advmss?: number;
  priority?: number;
  table?: number;
  scope?: number;
}
export interface DNS {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

/** A 0.3.0 … 1.1.0 result. */
export interface Result {
  cniVersion: string;
  interfaces?: Interface[];
  ips?: IPConfig[];
  routes?: Route[];
  dns?: DNS;
}

/** A 0.1.0/0.2.0 result. */
export interface LegacyResult {
  cniVersion: string;
  ip4?: { ip: string; gateway?: string; routes?: Route[] };
  ip6?: { ip: string; gateway?: string; routes?: Route[] };
  dns?: DNS;
}

export type Verb = 'ADD' | 'DEL' | 'CHECK' | 'VERSION' | 'GC' | 'STATUS';

export interface VersionInfo {
  cniVersion: string;
  supportedVersions: string[];
}
