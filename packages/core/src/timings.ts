import { appendFileSync, existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';

/**
 * Per-step durations. Under turbo each step is its own process, so each one appends its own line here and
 * verify's report reads them back. One line per step run, JSON Lines, in the instance's run folder.
 */
export interface StepTiming {
  step: string;
  action: 'up' | 'down';
  /** ISO 8601 */
  startedAt: string;
  durationMs: number;
  ok: boolean;
}

export const TIMINGS_FILE = 'timings.jsonl';

/**
 * Appends one line. The file is opened O_APPEND and the line goes out in one write(2) far below a page, so
 * steps finishing at the same moment never interleave or tear a line. Nothing is written when the run folder
 * does not exist (a step that failed before making it, or a down that removed it): timings never create it.
 */
export function recordTiming(runDir: string, t: StepTiming): void {
  if (!existsSync(runDir)) return;
  appendFileSync(path.join(runDir, TIMINGS_FILE), `${JSON.stringify(t)}\n`, { mode: 0o600 });
}

/** Every recorded line, oldest first; a torn or foreign line is skipped rather than failing the report. */
export function readTimings(runDir: string): StepTiming[] {
  let text: string;
  try {
    text = readFileSync(path.join(runDir, TIMINGS_FILE), 'utf8');
  } catch {
    return [];
  }
  const out: StepTiming[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const t = JSON.parse(line) as StepTiming;
      if (typeof t.step === 'string' && typeof t.durationMs === 'number') out.push(t);
    } catch {
      /* skip */
    }
  }
  return out;
}

export function removeTimings(runDir: string): void {
  rmSync(path.join(runDir, TIMINGS_FILE), { force: true });
}
