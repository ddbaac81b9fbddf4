/** What the HTTP check reads of a body at most: far more than the page it expects, far less than memory. */
export const HTTP_BODY_MAX = 64 * 1024;

export interface HttpAnswer {
  status: number;
  /** the body as text, cut at maxBytes */
  body: string;
  /** bytes read (at most maxBytes) */
  bytes: number;
  /** the server sent more than maxBytes; the rest was not read */
  truncated: boolean;
}

/**
 * One HTTP GET to a server inside the demo's containers, bounded both ways: an overall deadline (not only
 * an idle timeout, which a server trickling a byte at a time would keep resetting) and a body cap (a
 * server streaming without end is cut off, not buffered). Rejects with a readable reason. node:http is
 * loaded here, on first use (only a run with --port-map fetches anything): importing it costs every start
 * of the CLI ~40 ms of CPU, most of it Node loading its fetch implementation behind the module's exports.
 */
export async function httpGet(host: string, port: number, opts: { timeoutMs?: number; maxBytes?: number } = {}): Promise<HttpAnswer> {
  const { default: http } = await import('node:http');
  const timeoutMs = opts.timeoutMs ?? 3000;
  const maxBytes = opts.maxBytes ?? HTTP_BODY_MAX;
  return new Promise((resolve, reject) => {
    let settled = false;
    const done = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      fn();
    };
    const req = http.get({ host, port, path: '/', timeout: timeoutMs, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      const answer = (truncated: boolean): HttpAnswer => {
        const buf = Buffer.concat(chunks).subarray(0, maxBytes);
        return { status: res.statusCode ?? 0, body: buf.toString('utf8'), bytes: buf.length, truncated };
      };
      res.on('data', (d: Buffer) => {
        if (settled) return;
        chunks.push(d);
        bytes += d.length;
        if (bytes > maxBytes) {
          done(() => resolve(answer(true)));
          req.destroy();
        }
      });
      res.on('end', () => done(() => resolve(answer(false))));
      res.on('error', (e) => done(() => reject(new Error(`${host}:${port}: ${e.message}`))));
    });
    const deadline = setTimeout(() => {
      done(() => reject(new Error(`no complete answer from ${host}:${port} within ${timeoutMs} ms`)));
      req.destroy();
    }, timeoutMs);
    req.on('timeout', () => req.destroy(new Error(`no answer from ${host}:${port} within ${timeoutMs} ms`)));
    req.on('error', (e) => done(() => reject(new Error(`${host}:${port}: ${e.message}`))));
  });
}

/**
 * Retries a GET a few times: httpd may not have bound its port yet right after runc start. The retries
 * share one deadline, so a server that never answers properly costs at most `deadlineMs` in all.
 */
export async function httpGetRetry(host: string, port: number, opts: { tries?: number; deadlineMs?: number } = {}): Promise<HttpAnswer> {
  const tries = opts.tries ?? 10;
  const end = performance.now() + (opts.deadlineMs ?? 15_000);
  let last: unknown;
  for (let i = 0; i < tries; i++) {
    const left = end - performance.now();
    if (left <= 0) break;
    try {
      return await httpGet(host, port, { timeoutMs: Math.min(3000, left) });
    } catch (e) {
      last = e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw last ?? new Error(`no answer from ${host}:${port}`);
}
