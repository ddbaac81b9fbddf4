import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createContext, createLogger, GRAPH, resolveConfig, type StepModule, type StepName, STEPS } from '@cni-demo/core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { pipelineDown, pipelineUp, STEP_MODULES } from '../src/pipeline.js';

/**
 * The one-process scheduler, on steps that only record what they are asked to do: the orders below are
 * written out, not derived from the graph, so a change of the graph shows up here as a change of behaviour.
 */
const tick = () => new Promise((r) => setImmediate(r));

/** Steps that record their start and end; each takes one turn of the event loop, the containers' removal three, DEL five. */
function fakes(fail: { up?: string; down?: string } = {}) {
  const events: string[] = [];
  const given: Record<string, unknown> = {};
  const act = (name: string) => async () => {
    events.push(`start ${name}`);
    for (let i = name === 'cni-attach down' ? 5 : name === 'runc-bundle down' ? 3 : 1; i > 0; i--) await tick();
    events.push(`end ${name}`);
    if (fail.up === name || fail.down === name) throw new Error(`${name} failed`);
    return `${name} result`;
  };
  const modules = Object.fromEntries(
    STEPS.map((s) => [
      s,
      {
        up: async (_ctx, stages) => {
          given[s] = stages;
          return act(`${s} up`)();
        },
        down: act(`${s} down`),
        stages: {
          preflight: act(`${s} preflight`),
          'stop-containers': act(`${s} stop-containers`),
          'delete-bridge': act(`${s} delete-bridge`),
          'forward-rules': act(`${s} forward-rules`),
        },
      } satisfies StepModule,
    ]),
  ) as unknown as Record<StepName, StepModule>;
  return { events, given, modules };
}

function ctx() {
  const root = mkdtempSync(path.join(os.tmpdir(), 'pipeline-'));
  const { config } = resolveConfig({ env: {}, file: { stateDir: path.join(root, 'state') } });
  return { root, ctx: createContext(config, { log: createLogger({ quiet: true }) }) };
}

test('up: preflight first, then host-setup and image-fetch at once, then one step after another', async () => {
  const { root, ctx: c } = ctx();
  try {
    const f = fakes();
    const { steps } = await pipelineUp(c, f.modules);
    assert.equal(f.events, [
      'start host-setup preflight',
      'end host-setup preflight',
      'start host-setup up',
      'start image-fetch up',
      'end host-setup up',
      // the nodes only wait for host-setup; the containers wait for the image too
      'start nodes up',
      'end image-fetch up',
      'start runc-bundle up',
      'end nodes up',
      'end runc-bundle up',
      'start cni-attach up',
      'end cni-attach up',
      'start verify up',
      'end verify up',
    ]);
    assert.equal(f.given['host-setup'], { preflight: 'host-setup preflight result' }, "host-setup's up is given its preflight's result");
    assert.equal(
      steps.map((s) => [s.step, s.result]),
      STEPS.map((s) => [s, `${s} up result`]),
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('up: a failed host-setup stops the pipeline and undoes image-fetch, which ran alongside it', async () => {
  const { root, ctx: c } = ctx();
  try {
    const f = fakes({ up: 'host-setup up' });
    await pipelineUp(c, f.modules).then(
      () => assert.unreachable('up must fail'),
      (e: Error) => assert.is(e.message, 'host-setup up failed'),
    );
    assert.equal(f.events.slice(4), ['end host-setup up', 'end image-fetch up', 'start image-fetch down', 'end image-fetch down']);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('up: a failed image-fetch leaves host-setup, as if the steps had run one after another; the nodes made alongside go', async () => {
  const { root, ctx: c } = ctx();
  try {
    const f = fakes({ up: 'image-fetch up' });
    await pipelineUp(c, f.modules).then(
      () => assert.unreachable('up must fail'),
      (e: Error) => assert.is(e.message, 'image-fetch up failed'),
    );
    assert.equal(f.events.slice(4), [
      'end host-setup up',
      'start nodes up',
      'end image-fetch up',
      'end nodes up',
      'start nodes down',
      'end nodes down',
    ]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('up: a failed cni-attach (the plugins refused the network) takes down everything the up made', async () => {
  const { root, ctx: c } = ctx();
  try {
    const f = fakes({ up: 'cni-attach up' });
    await pipelineUp(c, f.modules).then(
      () => assert.unreachable('up must fail'),
      (e: Error) => assert.is(e.message, 'cni-attach up failed', 'the ADD failure is what is reported'),
    );
    assert.not.ok(f.events.includes('start verify up'));
    for (const s of STEPS) assert.ok(f.events.includes(`end ${s} down`), `${s} down ran`);
    assert.ok(f.events.indexOf('end cni-attach up') < f.events.indexOf('start cni-attach down'));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('down: the containers stop and the FORWARD rules go while DEL runs, the bridge goes while the containers are removed, the audit last', async () => {
  const { root, ctx: c } = ctx();
  try {
    const f = fakes();
    await pipelineDown(c, f.modules);
    assert.equal(f.events, [
      'start cni-attach down',
      'start runc-bundle stop-containers',
      'start host-setup forward-rules',
      'end runc-bundle stop-containers',
      'end host-setup forward-rules',
      'end cni-attach down',
      'start runc-bundle down',
      // the nodes, and the bridge, go once every DEL is done, while the containers are removed
      'start nodes down',
      'start host-setup delete-bridge',
      'end nodes down',
      'end host-setup delete-bridge',
      'end runc-bundle down',
      'start host-setup down',
      'start image-fetch down',
      'end host-setup down',
      'end image-fetch down',
      'start verify down',
      'end verify down',
    ]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('down: after a failed DEL every down still runs, the bridge is not deleted early, and the first error is raised', async () => {
  const { root, ctx: c } = ctx();
  try {
    const f = fakes({ down: 'cni-attach down' });
    await pipelineDown(c, f.modules).then(
      () => assert.unreachable('down must fail'),
      (e: Error) => assert.is(e.message, 'cni-attach down failed'),
    );
    assert.not.ok(f.events.includes('start host-setup delete-bridge'));
    for (const s of STEPS) assert.ok(f.events.includes(`end ${s} down`), `${s} down ran`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a step with nothing to do for the config (the nodes, with one node) passes by: no start, no result, no down', async () => {
  const { root, ctx: c } = ctx();
  try {
    const f = fakes();
    const nodes = { ...f.modules.nodes, applies: () => false };
    const { steps } = await pipelineUp(c, { ...f.modules, nodes });
    assert.not.ok(
      f.events.some((e) => e.includes('nodes')),
      f.events.join(', '),
    );
    assert.equal(
      steps.map((s) => s.step),
      ['host-setup', 'image-fetch', 'runc-bundle', 'cni-attach', 'verify'],
    );
    await pipelineDown(c, { ...f.modules, nodes });
    assert.not.ok(
      f.events.some((e) => e.includes('nodes')),
      f.events.join(', '),
    );
    assert.ok(f.events.includes('end verify down'));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('every stage the graph names is offered by its step package', () => {
  for (const t of [...GRAPH.up, ...GRAPH.down]) {
    if (t.stage) assert.type(STEP_MODULES[t.step].stages?.[t.stage], 'function', `${t.step} offers ${t.stage}`);
  }
});

test.run();
