import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Action, GRAPH, processDeps, STEPS, separateStages, stepOrder, taskId } from '../src/index.js';

test('the orders a one-process-per-step driver runs', () => {
  assert.equal(stepOrder('up'), ['host-setup', 'image-fetch', 'nodes', 'runc-bundle', 'cni-attach', 'verify']);
  assert.equal(stepOrder('down'), ['cni-attach', 'runc-bundle', 'nodes', 'host-setup', 'image-fetch', 'verify']);
});

test('what each process waits for when every step is a process of its own (what turbo.json says)', () => {
  assert.equal(separateStages('up'), ['host-setup:preflight']);
  assert.equal(processDeps('up'), {
    'host-setup:preflight': [],
    'host-setup': ['host-setup:preflight'],
    'image-fetch': ['host-setup:preflight'],
    nodes: ['host-setup'],
    'runc-bundle': ['host-setup', 'image-fetch'],
    'cni-attach': ['nodes', 'runc-bundle'],
    verify: ['cni-attach'],
  });
  // down's stages are early work of their own step only: they run in its process
  assert.equal(separateStages('down'), []);
  assert.equal(processDeps('down'), {
    'cni-attach': [],
    'runc-bundle': ['cni-attach'],
    'host-setup': ['cni-attach', 'runc-bundle', 'nodes'],
    nodes: ['cni-attach'],
    'image-fetch': ['runc-bundle'],
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
