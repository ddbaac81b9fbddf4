/**
 * One HTTP GET with a deadline; resolves with the status and body, rejects with a readable reason. node:http
 * is loaded here, on first use (only a run with --port-map fetches anything): importing it costs every start
 * of the CLI ~40 ms of CPU, most of it Node loading its fetch implementation behind the module's exports.
 */
export async function httpGet(host: string, port: number, timeoutMs = 3000): Promise<{ status: number; body: string }> {
  const { default: http } = await import('node:http');
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path: '/', timeout: timeoutMs, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${host}:${port} within ${timeoutMs} ms`)));
    req.on('error', (e) => reject(new Error(`${host}:${port}: ${e.message}`)));
  });
}

/** Retries a GET a few times: httpd may not have bound its port yet right after runc start. */
export async function httpGetRetry(host: string, port: number, tries = 10): Promise<{ status: number; body: string }> {
  let last: unknown;
  for (let i = 0; i < tries; i++) {
    try {
      return await httpGet(host, port);
    } catch (e) {
      last = e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw last;
}
