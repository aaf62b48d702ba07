/**
 * The AF_UNIX bridge protocol, version 1 (docs/bridge-protocol.md): one text request
 * line, one text reply line, then the socket is the connection's byte stream (or, for
 * UDP, a stream of length-prefixed datagrams with address headers). Pure codec: no I/O.
 */
import { type IpAddress, Ipv4Address, Ipv6Address } from '@tapstack/stack-core';
import { parseHostPort, parsePort } from './address.js';

export const BRIDGE_VERSION = 'TAPSTACK/1';
/** Longest request line accepted, newline included. */
export const MAX_REQUEST_LINE = 1024;

export type BridgeRequest =
  | { verb: 'CONNECT'; host: string; port: number }
  | { verb: 'LISTEN'; address: string | undefined; port: number; backlog: number }
  | { verb: 'ACCEPT'; id: number }
  | { verb: 'UDP'; address: string | undefined; port: number };

export type ParseResult = { ok: true; request: BridgeRequest } | { ok: false; code: string; message: string };

const bad = (message: string): ParseResult => ({ ok: false, code: 'EPROTO', message });

/** `[addr:]port` → address (undefined when only a port was given) and port. */
function parseBind(text: string): { address: string | undefined; port: number } | undefined {
  const p = parsePort(text);
  if (p !== undefined) return { address: undefined, port: p };
  const hp = parseHostPort(text);
  return hp ? { address: hp.host, port: hp.port } : undefined;
}

/** Parses one request line (without its newline; a trailing CR is ignored). */
export function parseRequest(line: string): ParseResult {
  const words = line.replace(/\r$/, '').trim().split(/\s+/);
  const version = words[0];
  if (!version?.startsWith('TAPSTACK/')) return bad('expected TAPSTACK/1 <VERB> ...');
  if (version !== BRIDGE_VERSION)
    return {
      ok: false,
      code: 'EPROTONOSUPPORT',
      message: `unsupported version ${version}, this is ${BRIDGE_VERSION}`,
    };
  const verb = (words[1] ?? '').toUpperCase();
  const args = words.slice(2);
  switch (verb) {
    case 'CONNECT': {
      if (args.length !== 1) return bad('usage: CONNECT host:port');
      const hp = parseHostPort(args[0]!);
      if (!hp || hp.port === 0) return bad('usage: CONNECT host:port');
      return { ok: true, request: { verb, host: hp.host, port: hp.port } };
    }
    case 'LISTEN': {
      if (args.length < 1 || args.length > 2) return bad('usage: LISTEN [address:]port [backlog]');
      const b = parseBind(args[0]!);
      const backlog = args[1] === undefined ? 128 : Number(args[1]);
      if (!b || !Number.isInteger(backlog) || backlog < 1 || backlog > 65535)
        return bad('usage: LISTEN [address:]port [backlog]');
      return { ok: true, request: { verb, address: b.address, port: b.port, backlog } };
    }
    case 'ACCEPT': {
      if (args.length !== 1 || !/^\d{1,9}$/.test(args[0]!)) return bad('usage: ACCEPT id');
      return { ok: true, request: { verb, id: Number(args[0]) } };
    }
    case 'UDP': {
      if (args.length > 1) return bad('usage: UDP [[address:]port]');
      const b = args[0] === undefined ? { address: undefined, port: 0 } : parseBind(args[0]);
      if (!b) return bad('usage: UDP [[address:]port]');
      return { ok: true, request: { verb, address: b.address, port: b.port } };
    }
    default:
      return bad(`unknown verb ${JSON.stringify(words[1] ?? '')}`);
  }
}

export function formatRequest(r: BridgeRequest): string {
  const hp = (a: string, p: number) => (a.includes(':') ? `[${a}]:${p}` : `${a}:${p}`);
  switch (r.verb) {
    case 'CONNECT':
      return `${BRIDGE_VERSION} CONNECT ${hp(r.host, r.port)}\n`;
    case 'LISTEN':
      return `${BRIDGE_VERSION} LISTEN ${r.address ? hp(r.address, r.port) : r.port} ${r.backlog}\n`;
    case 'ACCEPT':
      return `${BRIDGE_VERSION} ACCEPT ${r.id}\n`;
    case 'UDP':
      return `${BRIDGE_VERSION} UDP ${r.address ? hp(r.address, r.port) : r.port}\n`;
  }
}

export function formatOk(...fields: (string | number)[]): string {
  return fields.length ? `OK ${fields.join(' ')}\n` : 'OK\n';
}

export function formatErr(code: string, message: string): string {
  return `ERR ${code} ${message.replace(/[\r\n]/g, ' ')}\n`;
}

export type BridgeReply = { ok: true; fields: string[] } | { ok: false; code: string; message: string };

export function parseReply(line: string): BridgeReply | undefined {
  const l = line.replace(/\r$/, '');
  if (l === 'OK' || l.startsWith('OK ')) return { ok: true, fields: l.slice(3).split(' ').filter(Boolean) };
  const m = /^ERR (\S+) ?(.*)$/.exec(l);
  if (m) return { ok: false, code: m[1]!, message: m[2]! };
  return undefined;
}

// ---- UDP framing --------------------------------------------------------------
// u16 length of the rest | u8 family (4|6) | address (4|16 bytes) | u16 port | payload

export const MAX_DATAGRAM = 65507;

export function encodeDatagram(address: IpAddress, port: number, payload: Uint8Array): Buffer {
  const alen = address.version === 4 ? 4 : 16;
  const rest = 1 + alen + 2 + payload.length;
  if (rest > 0xffff) throw new RangeError(`datagram too large: ${payload.length} bytes`);
  const b = Buffer.allocUnsafe(2 + rest);
  b.writeUInt16BE(rest, 0);
  b[2] = address.version;
  address.writeTo(b, 3);
  b.writeUInt16BE(port, 3 + alen);
  b.set(payload, 5 + alen);
  return b;
}

export interface Datagram {
  address: IpAddress;
  port: number;
  payload: Buffer;
}

/** Splits a byte stream into datagrams; throws RangeError on a malformed frame. */
export class DatagramDecoder {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Datagram[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: Datagram[] = [];
    while (this.buf.length >= 2) {
      const rest = this.buf.readUInt16BE(0);
      if (this.buf.length < 2 + rest) break;
      const f = this.buf.subarray(2, 2 + rest);
      this.buf = this.buf.subarray(2 + rest);
      const fam = f[0];
      const alen = fam === 4 ? 4 : fam === 6 ? 16 : -1;
      if (alen < 0 || f.length < 3 + alen) throw new RangeError('malformed datagram frame');
      const address = fam === 4 ? Ipv4Address.fromBytes(f, 1) : Ipv6Address.fromBytes(f, 1);
      out.push({ address, port: f.readUInt16BE(1 + alen), payload: Buffer.from(f.subarray(3 + alen)) });
    }
    return out;
  }

  get buffered(): number {
    return this.buf.length;
  }
}
