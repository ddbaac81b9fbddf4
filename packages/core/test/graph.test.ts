import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Action, GRAPH, STEPS, stepDeps, stepOrder, taskId } from '../src/index.js';

test('the orders a one-process-per-step driver runs', () => {
  assert.equal(stepOrder('up'), ['host-setup', 'image-fetch', 'nodes', 'runc-bundle', 'cni-attach', 'verify']);
  assert.equal(stepOrder('down'), ['cni-attach', 'runc-bundle', 'nodes', 'host-setup', 'image-fetch', 'verify']);
});

test('what each step waits for, step by step (what turbo.json says)', () => {
  assert.equal(stepDeps('up'), {
    'host-setup': [],
    'image-fetch': ['host-setup'],
    nodes: ['host-setup'],
    'runc-bundle': ['host-setup', 'image-fetch'],
    'cni-attach': ['nodes', 'runc-bundle'],
    verify: ['cni-attach'],
  });
  assert.equal(stepDeps('down'), {
    'host-setup': ['cni-attach', 'runc-bundle', 'nodes'],
    'image-fetch': ['runc-bundle'],
    nodes: ['cni-attach'],
    'runc-bundle': ['cni-attach'],
    'cni-attach': [],
    verify: ['host-setup', 'image-fetch'],
  });
});

for (const action of ['up', 'down'] as Action[]) {
  test(`${action}: every step once, every wait names a task declared before it, stages before their step`, () => {
    const tasks = GRAPH[action];
    assert.equal([...stepOrder(action)].sort(), [...STEPS].sort());
    const ids = tasks.map(taskId);
    assert.is(new Set(ids).size, ids.length, 'no task twice');
    tasks.forEach((t, i) => {
      for (const a of t.after) assert.ok(ids.slice(0, i).includes(a), `${taskId(t)} waits for ${a}, declared before it`);
      if (t.stage) assert.ok(ids.indexOf(t.step) > i, `${taskId(t)} comes before ${t.step}'s own ${action}`);
    });
  });
}

test.run();
