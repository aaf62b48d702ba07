/** `fetch`: an HTTP GET through the virtual network with node:http and the bridge. */
import { request } from 'node:http';
import { viaBridge } from './connect.js';

export interface FetchResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  ms: number;
  /** "192.0.2.1:49152 -> 192.0.2.2:80" as the daemon reported it. */
  path: string;
}

export function fetchVirtual(bridge: string, url: string, timeoutMs = 15_000): Promise<FetchResult> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    let path = '';
    const req = request(
      url,
      // No `agent` at all: node:http uses `createConnection` only without an agent
      // (agent: false would build a fresh Agent that dials with the host's own net).
      { createConnection: viaBridge(bridge), timeout: timeoutMs },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
            ms: performance.now() - t0,
            path,
          });
        });
      },
    );
    req.on('socket', (s) => {
      const t = (s as unknown as { tapstack?: { local: string; remote: string } }).tapstack;
      if (t) path = `${t.local} -> ${t.remote}`;
    });
    req.on('timeout', () =>
      req.destroy(Object.assign(new Error(`GET ${url}: timed out`), { code: 'ETIMEDOUT' })),
    );
    req.on('error', reject);
    req.end();
  });
}
