import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** A real registry (Debian's docker-registry) on 127.0.0.1, with its own port, storage and config. */
export interface TestRegistry {
  /** host:port, as used in image references */
  host: string;
  port: number;
  /** the filesystem storage root (docker/registry/v2/... below it) */
  storage: string;
  stop: () => Promise<void>;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

async function answers(port: number): Promise<boolean> {
  try {
    const r = await fetch(`http://127.0.0.1:${port}/v2/`, { signal: AbortSignal.timeout(1000) });
    return r.status === 200;
  } catch {
    return false;
  }
}

/**
 * Starts docker-registry on the first free port of `ports` (each developer has a range) and waits until it
 * answers /v2/. Fails, not skips, when the binary is missing.
 */
export async function startRegistry(ports: number[]): Promise<TestRegistry> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 't4-registry-'));
  const storage = path.join(dir, 'storage');
  for (const port of ports) {
    if (!(await portFree(port))) continue;
    const config = path.join(dir, 'config.yml');
    writeFileSync(
      config,
      [
        'version: 0.1',
        'log:',
        '  level: error',
        'storage:',
        '  filesystem:',
        `    rootdirectory: ${storage}`,
        '  delete:',
        '    enabled: true',
        'http:',
        `  addr: 127.0.0.1:${port}`,
        '',
      ].join('\n'),
    );
    const child: ChildProcess = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (d) => {
      stderr += String(d);
    });
    let exited = false;
    const exitedP = new Promise<void>((resolve) =>
      child.once('exit', () => {
        exited = true;
        resolve();
      }),
    );
    child.once('error', () => {
      exited = true;
    });
    const stop = async () => {
      if (!exited) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exitedP;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    };
    for (let i = 0; i < 100 && !exited; i++) {
      if (await answers(port)) return { host: `127.0.0.1:${port}`, port, storage, stop };
      await new Promise((r) => setTimeout(r, 100));
    }
    await stop();
    if (/address already in use/.test(stderr)) continue;
    throw new Error(
      `docker-registry did not start on 127.0.0.1:${port}: ${stderr.trim().split('\n').slice(-3).join(' ') || 'is the docker-registry package installed?'}`,
    );
  }
  rmSync(dir, { recursive: true, force: true });
  throw new Error(`no free port for a test registry among ${ports.join(', ')}`);
}
