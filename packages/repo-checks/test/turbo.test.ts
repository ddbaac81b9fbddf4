import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Action, processDeps, STEPS, separateStages } from '@cni-demo/core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

/**
 * `pnpm turbo run demo` / `down` run one process per step (and per stage another step waits for, such as
 * host-setup's preflight) in the order turbo.json chains them; the step graph (core graph.ts) is where that order
 * is declared. They must agree: the same processes before each one, counting what turbo reaches through the ones
 * in between.
 */
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const turbo = JSON.parse(readFileSync(path.join(repoRoot, 'turbo.json'), 'utf8')) as { tasks: Record<string, { dependsOn?: string[] }> };
const TASK = { up: 'demo', down: 'down' } as const;

/** Everything each step waits for, directly or through others. */
function closure(deps: Record<string, string[]>): Record<string, string[]> {
  const reach = (s: string, seen = new Set<string>()): Set<string> => {
    for (const d of deps[s] ?? []) if (!seen.has(d)) reach(d, seen.add(d));
    return seen;
  };
  return Object.fromEntries(Object.keys(deps).map((s) => [s, [...reach(s)].sort()]));
}

/** The turbo task of a process: a step's demo or down, or a separate stage's own (`@cni-demo/host-setup#preflight`). */
const turboTask = (proc: string, action: Action) => {
  const [step, stage] = proc.split(':');
  return `@cni-demo/${step}#${stage ?? TASK[action]}`;
};

function turboDeps(action: Action): Record<string, string[]> {
  const procs = Object.keys(processDeps(action));
  const byTask = new Map(procs.map((p) => [turboTask(p, action), p]));
  return Object.fromEntries(
    procs.map((p) => [
      p,
      (turbo.tasks[turboTask(p, action)]?.dependsOn ?? [])
        .filter((d) => d !== 'build')
        .map((d) => {
          const q = byTask.get(d);
          assert.ok(q, `${turboTask(p, action)} depends on ${d}, which is no process of the step graph's ${action}`);
          return q ?? d;
        }),
    ]),
  );
}

for (const action of ['up', 'down'] as Action[]) {
  test(`turbo.json's ${TASK[action]} chain agrees with the step graph's ${action}`, () => {
    assert.equal(closure(turboDeps(action)), closure(processDeps(action)));
  });
}

test('every step package runs its step on demo and down, a separate stage on a script of its name; nothing else has a chain', () => {
  const scriptsOf = (step: string) => JSON.parse(readFileSync(path.join(repoRoot, 'packages', step, 'package.json'), 'utf8')).scripts;
  for (const s of STEPS) {
    const scripts = scriptsOf(s);
    assert.ok(scripts.demo && scripts.down, `${s} has demo and down scripts`);
  }
  const stageTasks = (['up', 'down'] as Action[]).flatMap((a) => separateStages(a).map((id) => turboTask(id, a)));
  for (const id of (['up', 'down'] as Action[]).flatMap((a) => separateStages(a))) {
    const [step = '', stage = ''] = id.split(':');
    assert.ok(scriptsOf(step)[stage], `${step} has a ${stage} script (turbo runs the stage ${id} as a task of its own)`);
  }
  const chained = Object.keys(turbo.tasks).filter((t) => t.includes('#'));
  for (const t of chained)
    assert.ok(
      STEPS.some((s) => t === `@cni-demo/${s}#demo` || t === `@cni-demo/${s}#down`) || stageTasks.includes(t),
      `${t} is a step's chain or a separate stage's task`,
    );
});

test('the check sees a disagreement: a chain that lost a step', () => {
  const deps = closure(processDeps('up'));
  const broken = closure({ ...processDeps('up'), 'image-fetch': ['host-setup'] });
  assert.not.equal(broken, deps);
});

test.run();
