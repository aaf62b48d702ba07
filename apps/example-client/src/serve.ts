/**
 * `serve`: a server on the virtual network that lives in this process and is attached
 * through the bridge: LISTEN on a virtual port, then one ACCEPT per connection. It
 * serves a small HTTP page (node:http over the accepted sockets) and/or echo.
 */
import { createServer } from 'node:http';
import { type BridgeListener, type BridgeSocket, bridgeListen } from '@tapstack/socket-bridge';

export interface ServeOptions {
  bridge: string;
  http?: number;
  echo?: number;
  name?: string;
  log?: (line: string) => void;
}

export interface RunningServer {
  /** Virtual addresses bound, e.g. ["0.0.0.0:80"]. */
  listening: string[];
  served: { http: number; echo: number };
  close(): void;
}

export function page(name: string, s: BridgeSocket, path: string): string {
  return [
    '<!doctype html>',
    `<title>tapstack demo: ${name}</title>`,
    `<h1>Hello from ${name}, served over tapstack</h1>`,
    `<p>This server reached the virtual network through the daemon's bridge (LISTEN/ACCEPT).`,
    `It answered ${s.tapstack.remote} on ${s.tapstack.local}, path ${path}.</p>`,
    '',
  ].join('\n');
}

/** Accepts forever (each accept is one more bridge connection) until the listener closes. */
function acceptLoop(l: BridgeListener, onSocket: (s: BridgeSocket) => void, log: (l: string) => void): void {
  let closed = false;
  l.on('close', () => {
    closed = true;
  });
  const next = () => {
    if (closed) return;
    l.accept().then(
      (s) => {
        onSocket(s);
        next();
      },
      (e: Error & { code?: string }) => {
        if (!closed) log(`accept failed: ${e.code ?? ''} ${e.message}`);
        // The daemon went away or the listener closed: stop.
        closed = true;
        l.close();
      },
    );
  };
  next();
}

export async function serve(opts: ServeOptions): Promise<RunningServer> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const name = opts.name ?? 'the example server';
  const served = { http: 0, echo: 0 };
  const listeners: BridgeListener[] = [];
  const sockets = new Set<BridgeSocket>();
  const track = (s: BridgeSocket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
  };
  try {
    if (opts.http) {
      const http = createServer((req, res) => {
        const body = page(name, req.socket as BridgeSocket, req.url ?? '/');
        res.writeHead(200, {
          'content-type': 'text/html; charset=utf-8',
          'content-length': Buffer.byteLength(body),
        });
        res.end(body);
        served.http++;
      });
      const l = await bridgeListen({ path: opts.bridge, port: opts.http });
      listeners.push(l);
      acceptLoop(
        l,
        (s) => {
          track(s);
          http.emit('connection', s);
        },
        log,
      );
    }
    if (opts.echo) {
      const l = await bridgeListen({ path: opts.bridge, port: opts.echo });
      listeners.push(l);
      acceptLoop(
        l,
        (s) => {
          track(s);
          served.echo++;
          s.pipe(s);
        },
        log,
      );
    }
  } catch (e) {
    for (const l of listeners) l.close();
    throw e;
  }
  return {
    listening: listeners.map((l) => l.address),
    served,
    close() {
      for (const l of listeners) l.close();
      for (const s of sockets) s.destroy();
    },
  };
}
