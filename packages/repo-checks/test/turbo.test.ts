import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Action, STEPS, type StepName, stepDeps } from '@cni-demo/core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

/**
 * `pnpm turbo run demo` / `down` run one process per step in the order turbo.json chains them; the step graph
 * (core graph.ts) is where that order is declared. They must agree: the same steps before each step, counting
 * what turbo reaches through the steps in between.
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

function turboDeps(action: Action): Record<StepName, string[]> {
  const task = TASK[action];
  return Object.fromEntries(
    STEPS.map((s) => [
      s,
      (turbo.tasks[`@cni-demo/${s}#${task}`]?.dependsOn ?? [])
        .filter((d) => d !== 'build')
        .map((d) => {
          const m = new RegExp(`^@cni-demo/(.+)#${task}$`).exec(d);
          assert.ok(m, `@cni-demo/${s}#${task} depends on ${d}, which is no step's ${task}`);
          return m?.[1] ?? d;
        }),
    ]),
  ) as Record<StepName, string[]>;
}

for (const action of ['up', 'down'] as Action[]) {
  test(`turbo.json's ${TASK[action]} chain agrees with the step graph's ${action}`, () => {
    assert.equal(closure(turboDeps(action)), closure(stepDeps(action)));
  });
}

test('every step package runs its step on demo and down, and nothing else has a chain of its own', () => {
  for (const s of STEPS) {
    const { scripts } = JSON.parse(readFileSync(path.join(repoRoot, 'packages', s, 'package.json'), 'utf8'));
    assert.ok(scripts.demo && scripts.down, `${s} has demo and down scripts`);
  }
  const chained = Object.keys(turbo.tasks).filter((t) => t.includes('#'));
  for (const t of chained)
    assert.ok(
      STEPS.some((s) => t === `@cni-demo/${s}#demo` || t === `@cni-demo/${s}#down`),
      `${t} is a step's chain`,
    );
});

test('the check sees a disagreement: a chain that lost a step', () => {
  const deps = closure(stepDeps('up'));
  const broken = closure({ ...stepDeps('up'), 'runc-bundle': ['host-setup'] });
  assert.not.equal(broken, deps);
});

test.run();
