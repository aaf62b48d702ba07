/**
 * An HTTP/1.1 client over the page's TCP (RFC 9112): one request per connection
 * (`connection: close`), a body from bytes or a string, responses framed by
 * content-length, chunked transfer coding or the connection's end. Headers are capped
 * (64 KiB) and a malformed response is an error, never a hang. `http://` only, and the
 * host must be an address literal (the page's stack has no DNS resolver).
 */
import type { BrowserStack } from './browser-stack.js';
import { NetError } from './errors.js';
import type { TcpConnection } from './tcp.js';

export interface FetchInit {
  method?: string;
  headers?: Record<string, string>;
  body?: Uint8Array | string;
  /** Called as body bytes arrive (response) with (received, total or undefined). */
  onDownloadProgress?: (received: number, total: number | undefined) => void;
  /** Called as request body bytes are taken by the stack. */
  onUploadProgress?: (sent: number, total: number) => void;
  /** Upload in pieces of this size (progress granularity). Default 256 KiB. */
  uploadChunk?: number;
}

export interface FetchResponse {
  status: number;
  statusText: string;
  /** Lower-case header names; repeated headers joined with ", ". */
  headers: Map<string, string>;
  body: Uint8Array;
  text(): string;
  json(): unknown;
}

const MAX_HEAD = 64 * 1024;

class Reader {
  private buf = new Uint8Array(0);
  private off = 0;
  constructor(private readonly c: TcpConnection) {}
  /** Buffered bytes not consumed yet. */
  get available(): number {
    return this.buf.length - this.off;
  }
  /** Reads more; false at EOF. */
  async fill(): Promise<boolean> {
    const chunk = await this.c.read();
    if (chunk === null) return false;
    const rest = this.buf.subarray(this.off);
    const next = new Uint8Array(rest.length + chunk.length);
    next.set(rest);
    next.set(chunk, rest.length);
    this.buf = next;
    this.off = 0;
    return true;
  }
  /** Up to CRLF (excluded); throws past `max`. */
  async line(max: number): Promise<string> {
    for (;;) {
      for (let i = this.off; i + 1 < this.buf.length; i++) {
        if (this.buf[i] === 13 && this.buf[i + 1] === 10) {
          const s = new TextDecoder('latin1').decode(this.buf.subarray(this.off, i));
          this.off = i + 2;
          return s;
        }
      }
      if (this.available > max) throw new NetError('HTTP header line too long', 'EPROTO', 'fetch');
      if (!(await this.fill()))
        throw new NetError('connection closed inside the HTTP head', 'EPROTO', 'fetch');
    }
  }
  /** Up to n bytes of what is buffered (reads once if nothing is). */
  async take(n: number): Promise<Uint8Array | null> {
    if (this.available === 0 && !(await this.fill())) return null;
    const k = Math.min(n, this.available);
    const out = this.buf.subarray(this.off, this.off + k);
    this.off += k;
    return out;
  }
}

export async function httpFetch(
  stack: BrowserStack,
  url: string,
  init: FetchInit = {},
): Promise<FetchResponse> {
  const u = new URL(url);
  if (u.protocol !== 'http:') throw new NetError(`only http:// URLs, got ${u.protocol}`, 'EINVAL', 'fetch');
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const port = u.port ? Number(u.port) : 80;
  const body = typeof init.body === 'string' ? new TextEncoder().encode(init.body) : init.body;
  const method = (init.method ?? (body ? 'POST' : 'GET')).toUpperCase();
  const headers: Record<string, string> = {
    host: u.host,
    connection: 'close',
    'user-agent': 'tapstack-browser',
    ...(body ? { 'content-length': String(body.length) } : {}),
  };
  for (const [k, v] of Object.entries(init.headers ?? {})) headers[k.toLowerCase()] = v;
  const head = `${method} ${u.pathname}${u.search} HTTP/1.1\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n`;
  const c = await stack.connect({ host, port, noDelay: true });
  let response: FetchResponse;
  try {
    await c.write(head);
    if (body) {
      const step = init.uploadChunk ?? 256 * 1024;
      for (let o = 0; o < body.length; o += step) {
        await c.write(body.subarray(o, Math.min(body.length, o + step)));
        init.onUploadProgress?.(Math.min(body.length, o + step), body.length);
      }
    }
    const r = new Reader(c);
    const status = await r.line(MAX_HEAD);
    const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(status);
    if (!m) throw new NetError(`bad HTTP status line '${status.slice(0, 80)}'`, 'EPROTO', 'fetch');
    const resHeaders = new Map<string, string>();
    let headBytes = status.length;
    for (;;) {
      const line = await r.line(MAX_HEAD);
      headBytes += line.length + 2;
      if (headBytes > MAX_HEAD) throw new NetError('HTTP head over 64 KiB', 'EPROTO', 'fetch');
      if (line === '') break;
      const colon = line.indexOf(':');
      if (colon <= 0) throw new NetError(`bad HTTP header line '${line.slice(0, 80)}'`, 'EPROTO', 'fetch');
      const k = line.slice(0, colon).trim().toLowerCase();
      const v = line.slice(colon + 1).trim();
      resHeaders.set(k, resHeaders.has(k) ? `${resHeaders.get(k)}, ${v}` : v);
    }
    const parts: Uint8Array[] = [];
    let received = 0;
    const push = (p: Uint8Array, total: number | undefined) => {
      parts.push(p.slice());
      received += p.length;
      init.onDownloadProgress?.(received, total);
    };
    const te = resHeaders.get('transfer-encoding')?.toLowerCase();
    const cl = resHeaders.get('content-length');
    const noBody = method === 'HEAD' || /^(1\d\d|204|304)$/.test(m[1]!);
    if (noBody) {
      // nothing
    } else if (te?.split(',').pop()?.trim() === 'chunked') {
      for (;;) {
        const sizeLine = await r.line(1024);
        const size = Number.parseInt(sizeLine.split(';')[0]!.trim(), 16);
        if (!Number.isFinite(size) || size < 0 || !/^[0-9a-fA-F]+$/.test(sizeLine.split(';')[0]!.trim()))
          throw new NetError(`bad chunk size '${sizeLine.slice(0, 40)}'`, 'EPROTO', 'fetch');
        if (size === 0) {
          while ((await r.line(MAX_HEAD)) !== '') {
            /* trailers: ignored */
          }
          break;
        }
        let left = size;
        while (left > 0) {
          const p = await r.take(left);
          if (p === null) throw new NetError('connection closed inside a chunk', 'EPROTO', 'fetch');
          push(p, undefined);
          left -= p.length;
        }
        if ((await r.line(2)) !== '') throw new NetError('chunk not followed by CRLF', 'EPROTO', 'fetch');
      }
    } else if (cl !== undefined) {
      if (!/^\d+$/.test(cl)) throw new NetError(`bad content-length '${cl}'`, 'EPROTO', 'fetch');
      const total = Number(cl);
      let left = total;
      while (left > 0) {
        const p = await r.take(left);
        if (p === null) throw new NetError(`body ended ${left} bytes short`, 'EPROTO', 'fetch');
        push(p, total);
        left -= p.length;
      }
    } else {
      for (;;) {
        const p = await r.take(1 << 20);
        if (p === null) break;
        push(p, undefined);
      }
    }
    const out = new Uint8Array(received);
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    response = {
      status: Number(m[1]),
      statusText: m[2] ?? '',
      headers: resHeaders,
      body: out,
      text: () => new TextDecoder().decode(out),
      json: () => JSON.parse(new TextDecoder().decode(out)),
    };
  } catch (e) {
    c.destroy();
    throw e;
  }
  // The response is complete: FIN, and a server that keeps its side open is not waited for.
  c.close();
  return response;
}
