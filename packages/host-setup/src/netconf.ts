// The network config is built in core (network.ts), where the user's own files are described too; host-setup
// writes it. Re-exported here, where CONTRIBUTING's "adding a CNI plugin" points.
export { buildNetConf, chainedPlugins, generatedConfText } from '@cni-demo/core';
