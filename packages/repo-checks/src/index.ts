export { findShellStrings, formatViolation, scanRepo } from './shell-strings.js';
export type { ShellRule, Violation } from './shell-strings.js';
export { checkVagrantfile, provisioners } from './vagrantfile.js';
export type { Provisioner } from './vagrantfile.js';
