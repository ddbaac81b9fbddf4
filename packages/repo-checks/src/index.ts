export { findShellStrings, formatViolation, scanRepo } from './shell-strings.js';
export type { ShellRule, Violation } from './shell-strings.js';
export { findFocusedTests, formatFocusedTest, scanTests } from './focused-tests.js';
export type { FocusedTest } from './focused-tests.js';
export { checkVagrantfile, provisioners, vagrantNodes } from './vagrantfile.js';
export type { Provisioner, VagrantNodes } from './vagrantfile.js';
