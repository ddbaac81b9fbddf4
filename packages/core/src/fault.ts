/**
 * Fault injection for the crash-safety tests, and for nothing else. A step calls `faultPoint(name)` at the
 * places where a crash would hurt most; when CNI_FAULT_AT names that point the process SIGKILLs itself
 * there, exactly as a power cut or an OOM kill would stop it (no finally blocks, no exit handlers).
 *
 * `name@ms` arms a timer at the point instead, so the kill lands while a child (a CNI plugin) is working.
 * The variable sits outside the CNI_DEMO_ prefix on purpose: it is not a setting, and the config's check
 * for unknown CNI_DEMO_* variables must not see it.
 */
export const FAULT_ENV = 'CNI_FAULT_AT';

export function faultPoint(name: string, env: NodeJS.ProcessEnv = process.env): void {
  const want = env[FAULT_ENV];
  if (!want) return;
  const [point, delay] = want.split('@');
  if (point !== name) return;
  if (delay === undefined) {
    process.kill(process.pid, 'SIGKILL');
    return;
  }
  const ms = Number(delay);
  // unref'd: a step that finishes before the timer fires exits normally, and the test sees that
  setTimeout(() => process.kill(process.pid, 'SIGKILL'), Number.isFinite(ms) ? ms : 0).unref();
}
