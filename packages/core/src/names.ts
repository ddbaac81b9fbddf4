import path from 'node:path';
import type { Config } from './config/schema.js';
import { nodeContainerIds, nodeMode } from './nodes.js';

/**
 * Every object the demo makes is named from the config, so a rerun and a teardown find the same
 * objects even when state files are gone.
 */
export interface Names {
  /** per-instance runtime folder: state files, bundle, logs */
  runDir: string;
  containerId: string;
  netnsName: string;
  netnsPath: string;
  bundleDir: string;
  unpackDir: string;
  confFile: string;
  lockFile: string;
}

export function names(config: Config): Names {
  const runDir = path.join(config.stateDir, config.id);
  return {
    runDir,
    containerId: config.id,
    netnsName: config.id,
    netnsPath: path.join(config.netnsDir, config.id),
    bundleDir: path.join(runDir, 'bundle'),
    unpackDir: path.join(runDir, 'image'),
    confFile: path.join(config.confDir, `10-${config.network}.conflist`),
    lockFile: path.join(config.stateDir, `${config.id}.lock`),
  };
}

/**
 * The container ids of an instance: the id itself for one container (the walkthrough's `demo`), else
 * `<id>-1` … `<id>-N`. Everything per container (netns pin, bundle, CNI attachment) is named from these.
 */
export function containerIds(config: Config): string[] {
  // several nodes on this machine: `<id>-n<i>-<k>`, node by node (nodes.ts)
  if (nodeMode(config) === 'netns') return Array.from({ length: config.nodes }, (_, i) => nodeContainerIds(config, i + 1)).flat();
  if (config.containers <= 1) return [config.id];
  return Array.from({ length: config.containers }, (_, i) => `${config.id}-${i + 1}`);
}

/** The per-container objects of one container id; for a single container the same paths as `names()`. */
export interface ContainerNames {
  containerId: string;
  /** 1-based position in containerIds() */
  index: number;
  netnsPath: string;
  bundleDir: string;
  /** overlay over the image rootfs (many containers): upper/work dirs and the mount point */
  upperDir: string;
  workDir: string;
  rootfsMount: string;
}

export function containerNames(config: Config, containerId: string): ContainerNames {
  const runDir = path.join(config.stateDir, config.id);
  const ids = containerIds(config);
  const single = ids.length === 1;
  const dir = single ? runDir : path.join(runDir, 'containers', containerId);
  return {
    containerId,
    index: ids.indexOf(containerId) + 1,
    netnsPath: path.join(config.netnsDir, containerId),
    bundleDir: path.join(dir, 'bundle'),
    upperDir: path.join(dir, 'upper'),
    workDir: path.join(dir, 'work'),
    rootfsMount: path.join(dir, 'rootfs'),
  };
}

/** The container that runs busybox httpd and receives the port mappings, when --port-map is set. */
export function httpdContainerId(config: Config): string | undefined {
  if (config.portMap.trim() === '') return undefined;
  return containerIds(config)[Math.max(1, config.httpdContainer) - 1];
}
