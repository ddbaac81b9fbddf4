import { spawn } from 'node:child_process';
import type { Socket } from 'node:net';

/**
 * The containers' output, bounded (as podman's log_size_max): a container writing without end must not fill
 * /run. runc create hands its stdout and stderr to the container, so something must outlive our step to
 * read them: one small keeper process per `up` that creates containers, reading each new container's output
 * from its own socket and appending it to `<bundle>/container.log`. When that file would pass half the cap,
 * it becomes `container.log.1` (replacing the older one) and a new file starts: the oldest output is dropped,
 * and the two files together never hold more than the cap. The keeper exits once every container it serves
 * has closed its output (the containers are gone).
 *
 * The keeper's code is run with `node -e` so that it needs no file of its own to find (the steps are bundled
 * into different places). It opens the logs without following links, in the bundle folder, which is root's.
 */
const KEEPER = `
'use strict';
const fs = require('node:fs');
const net = require('node:net');
const { maxBytes, logs } = JSON.parse(process.argv[1]);
const half = Math.max(1, Math.floor(maxBytes / 2));
const flags = fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW;
let open = logs.length;
logs.forEach((file, i) => {
  let fd;
  let size = 0;
  let tail = '';
  let finished = false;
  const openLog = () => {
    fd = fs.openSync(file, flags, 0o600);
    size = fs.fstatSync(fd).size;
  };
  const sock = new net.Socket({ fd: 4 + i, readable: true, writable: false });
  sock.on('data', (d) => {
    try {
      if (fd === undefined) openLog();
      if (d.length > half) d = d.subarray(d.length - half);
      if (size + d.length > half) {
        fs.closeSync(fd);
        fs.renameSync(file, file + '.1');
        openLog();
      }
      fs.writeSync(fd, d);
      size += d.length;
      tail = (tail + d.toString('utf8')).slice(-8192);
    } catch {
      // the bundle is gone (down removed it): keep reading, so the container never blocks on a full pipe
    }
  });
  const done = () => {
    if (finished) return;
    finished = true;
    if (fd !== undefined) fs.closeSync(fd);
    const last = --open === 0;
    if (process.connected) process.send({ i, tail }, () => last && process.exit(0));
    else if (last) process.exit(0);
  };
  sock.on('end', done);
  sock.on('close', done);
  sock.on('error', done);
});
process.on('disconnect', () => {});
`;

export interface LogKeeper {
  /** where container `i`'s runc create sends stdout and stderr */
  pipe(i: number): Socket;
  /** closes our end of pipe `i`: call once runc create has returned (the container holds its own) */
  close(i: number): void;
  /** what container `i` wrote last (after close(i): everything, once the keeper has seen the end) */
  tail(i: number): Promise<string>;
  /** closes every end we still hold and lets the keeper run on alone */
  release(): void;
}

/** Starts a keeper for these log files (one per container, in order); `maxBytes` caps each container's output. */
export function startLogKeeper(logs: string[], maxBytes: number): LogKeeper {
  const child = spawn(process.execPath, ['-e', KEEPER, JSON.stringify({ maxBytes, logs })], {
    stdio: ['ignore', 'ignore', 'ignore', 'ipc', ...logs.map(() => 'pipe' as const)],
    detached: true,
  });
  child.unref();
  const tails = new Map<number, string>();
  const waiting = new Map<number, (t: string) => void>();
  child.on('message', (m: { i: number; tail: string }) => {
    tails.set(m.i, m.tail);
    waiting.get(m.i)?.(m.tail);
  });
  const end = (i: number) => (child.stdio[4 + i] as Socket | null)?.destroy();
  return {
    pipe: (i) => child.stdio[4 + i] as Socket,
    close: end,
    tail(i) {
      const known = tails.get(i);
      if (known !== undefined || !child.connected) return Promise.resolve(known ?? '');
      return new Promise((resolve) => {
        waiting.set(i, resolve);
        // the keeper answers within moments of the end; a keeper that died cannot, and the error goes on without it
        setTimeout(() => resolve(tails.get(i) ?? ''), 2000).unref();
      });
    },
    release() {
      for (let i = 0; i < logs.length; i++) end(i);
      if (child.connected) child.disconnect();
    },
  };
}
