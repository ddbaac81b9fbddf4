export { findShellStrings, formatViolation, scanRepo } from './shell-strings.js';
export type { ShellRule, Violation } from './shell-strings.js';
export { checkVagrantfile, provisioners } from './vagrantfile.js';
export type { Provisioner } from './vagrantfile.js';
export { findFocusedTests, formatFocusedTest, scanTests } from './focused-tests.js';
export type { FocusedTest } from './focused-tests.js';
