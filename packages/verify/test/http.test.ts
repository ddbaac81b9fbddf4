import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HTTP_BODY_MAX, httpGet, httpGetRetry } from '../src/http.js';

/** A loopback server with the given handler; closed (and its sockets destroyed) by the returned function. */
async function serve(handler: http.RequestListener): Promise<{ port: number; close(): Promise<void>; sent(): number }> {
  let sent = 0;
  const server = http.createServer((req, res) => {
    const write = res.write.bind(res);
    res.write = ((chunk: Buffer | string, ...rest: unknown[]) => {
      sent += Buffer.byteLength(chunk);
      return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof res.write;
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as AddressInfo).port,
    sent: () => sent,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

test('a body that never ends is cut at the cap, and the connection is dropped', async () => {
  const chunk = Buffer.alloc(16 * 1024, 'A');
  const s = await serve((_req, res) => {
    res.writeHead(200);
    const pump = () => {
      while (!res.destroyed && res.write(chunk));
      if (!res.destroyed) res.once('drain', pump);
    };
    pump();
  });
  try {
    const r = await httpGet('127.0.0.1', s.port);
    assert.is(r.status, 200);
    assert.ok(r.truncated);
    assert.is(r.bytes, HTTP_BODY_MAX);
    assert.is(r.body.length, HTTP_BODY_MAX);
  } finally {
    await s.close();
  }
});

test('a server trickling a byte at a time meets the overall deadline, not an idle timeout it keeps resetting', async () => {
  const s = await serve((_req, res) => {
    res.writeHead(200);
    const t = setInterval(() => (res.destroyed ? clearInterval(t) : res.write('x')), 20);
  });
  try {
    let error: unknown;
    try {
      await httpGet('127.0.0.1', s.port, { timeoutMs: 300 });
    } catch (e) {
      error = e;
    }
    assert.match(String(error), /no complete answer from 127\.0\.0\.1:\d+ within 300 ms/);
    error = undefined;
    try {
      await httpGetRetry('127.0.0.1', s.port, { tries: 1000, deadlineMs: 500 });
    } catch (e) {
      error = e;
    }
    assert.match(String(error), /no complete answer/, 'the retries share one deadline');
  } finally {
    await s.close();
  }
});

test('a normal page is read whole', async () => {
  const s = await serve((_req, res) => res.end('<h1>hello</h1>\n'));
  try {
    const r = await httpGet('127.0.0.1', s.port);
    assert.equal(r, { status: 200, body: '<h1>hello</h1>\n', bytes: 15, truncated: false });
  } finally {
    await s.close();
  }
});

test.run();
