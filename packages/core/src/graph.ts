import type { Ctx } from './context.js';

/**
 * The step graph, declared once (as kind's create.go keeps its actions in one list): which steps there are,
 * in what order they go up and down, and what each waits for. The single-process pipeline schedules from it,
 * turbo.json's demo and down chains must agree with it (a repo check), and the test drivers take their
 * orders from it.
 */
export const STEPS = ['host-setup', 'image-fetch', 'nodes', 'runc-bundle', 'cni-attach', 'verify'] as const;
export type StepName = (typeof STEPS)[number];
export type Action = 'up' | 'down';

/** Parts of a step that others may overlap with; a step offers them through its StepModule. */
export type StageName = 'preflight' | 'stop-containers' | 'delete-bridge' | 'forward-rules';

export interface Task {
  step: StepName;
  /** a stage of the step; absent for the step's whole up or down */
  stage?: StageName;
  /** what must have ended before this starts: a step's whole up/down ("cni-attach") or a stage ("host-setup:preflight") */
  after: string[];
}

/**
 * Up: every task must succeed; a task starts when those it waits for have succeeded, and a step's up is
 * given the results of its stages that ran. Down: a step's down starts once those it waits for have ended,
 * however they ended (one stuck object must not keep the rest on the host); a stage is early work, started
 * only when those it waits for succeeded, and whatever it leaves is done by the step's own down.
 */
export const GRAPH: Record<Action, Task[]> = {
  up: [
    // everything missing is installed (or reported) before anything else runs, so the image is fetched
    // alongside the host setup whatever the host had to install
    { step: 'host-setup', stage: 'preflight', after: [] },
    { step: 'host-setup', after: ['host-setup:preflight'] },
    { step: 'image-fetch', after: ['host-setup:preflight'] },
    // several nodes: host-setup has checked the host and written each node's network config; the nodes (netns,
    // underlay, their bridges, routes) are made alongside the containers (a no-op with one node)
    { step: 'nodes', after: ['host-setup'] },
    // the container's netns pin and rootfs overlay go under folders host-setup records as made by the demo
    { step: 'runc-bundle', after: ['host-setup', 'image-fetch'] },
    // a node's plugins run inside its namespace: ADD waits for the nodes (and through them for host-setup)
    { step: 'cni-attach', after: ['nodes', 'runc-bundle'] },
    { step: 'verify', after: ['cni-attach'] },
  ],
  down: [
    // DEL needs the containers' network namespaces, which the pins keep, not their processes: those stop meanwhile
    { step: 'cni-attach', after: [] },
    { step: 'runc-bundle', stage: 'stop-containers', after: [] },
    // the --fix-forward rules need nothing gone first and nothing waits for them: they go while DEL runs
    { step: 'host-setup', stage: 'forward-rules', after: [] },
    { step: 'runc-bundle', after: ['cni-attach', 'runc-bundle:stop-containers'] },
    // every DEL done, the bridge has no port left: it goes while the containers' folders are removed
    { step: 'host-setup', stage: 'delete-bridge', after: ['cni-attach'] },
    // a node's namespace holds its bridge and the host ends of its containers' veths: it goes once every DEL
    // that runs inside it is done
    { step: 'nodes', after: ['cni-attach'] },
    // the containers' rootfs is the unpacked image (or an overlay over it): the image waits for them; the
    // nodes' network configs (host-setup's) go after the nodes
    { step: 'host-setup', after: ['runc-bundle', 'host-setup:delete-bridge', 'host-setup:forward-rules', 'nodes'] },
    { step: 'image-fetch', after: ['runc-bundle'] },
    // the leak audit, last
    { step: 'verify', after: ['host-setup', 'image-fetch'] },
  ],
};

export const taskId = (t: Pick<Task, 'step' | 'stage'>) => (t.stage ? `${t.step}:${t.stage}` : t.step);

/** The steps in the order their whole up (or down) is declared: the order a one-process-per-step driver runs them. */
export function stepOrder(action: Action): StepName[] {
  return GRAPH[action].filter((t) => !t.stage).map((t) => t.step);
}

/**
 * The stages another step waits for. Where every step is a process of its own (turbo), such a stage is a process
 * of its own too, so the steps waiting for it run alongside each other as they do in one process (host-setup's
 * preflight: host-setup and image-fetch); every other stage runs inside its step's process.
 */
export function separateStages(action: Action): string[] {
  const tasks = GRAPH[action];
  return tasks.filter((t) => t.stage && tasks.some((o) => o.step !== t.step && o.after.includes(taskId(t)))).map(taskId);
}

/**
 * What each process waits for where every step is a process of its own: keyed by step, and by separate stage
 * ("host-setup:preflight"), each step's own stages' waits folded into it. What turbo.json's chains must say.
 */
export function processDeps(action: Action): Record<string, string[]> {
  const separate = new Set(separateStages(action));
  const processOf = (id: string) => (separate.has(id) ? id : (id.split(':')[0] as string));
  const out = new Map<string, Set<string>>();
  for (const t of GRAPH[action]) {
    const me = processOf(taskId(t));
    const deps = out.get(me) ?? new Set<string>();
    out.set(me, deps);
    for (const a of t.after) if (processOf(a) !== me) deps.add(processOf(a));
  }
  return Object.fromEntries([...out].map(([k, v]) => [k, [...v]]));
}

/** What a step package offers the orchestrators: its whole up and down, and the stages the graph names for it. */
export interface StepModule {
  /** `stages`: what this step's stages returned when the orchestrator ran them before (so up skips that part) */
  up(ctx: Ctx, stages?: Partial<Record<StageName, unknown>>): Promise<unknown>;
  down(ctx: Ctx): Promise<unknown>;
  stages?: Partial<Record<StageName, (ctx: Ctx) => Promise<unknown>>>;
  /**
   * false when the step has nothing to do for this config (nodes with one node): the orchestrators then pass it by
   * as done, with no status line and no timing, so a run looks as it did before the step existed
   */
  applies?(ctx: Ctx, action: Action): boolean;
}
