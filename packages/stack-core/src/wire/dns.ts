/**
 * DNS messages (RFC 1035 §4): building queries and parsing answers, with name
 * compression (§4.1.4). `parseDnsMessage` is for untrusted input: every read is
 * bounds-checked and a bad message gives a `WireError` ('truncated' when it ends
 * early, 'malformed' for a compression loop, an unknown label type or an overlong
 * name), which the resolver treats as no answer. The resolver is in stack-driver.
 */
import type { WireError } from './wire-error.js';

export const DnsType = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28 } as const;
export const DnsRcode = { NoError: 0, FormErr: 1, ServFail: 2, NxDomain: 3, NotImp: 4, Refused: 5 } as const;

/** The fixed header: id, flags and four section counts. */
export const DNS_HEADER_LEN = 12;
/** Compression pointers followed per name before the name is refused (a loop must not hang). */
const MAX_POINTER_JUMPS = 64;

export interface DnsQuestion {
  name: string;
  type: number;
  class: number;
}

export interface DnsRecord {
  name: string;
  type: number;
  class: number;
  ttl: number;
  /** The raw RDATA (a view into the message). */
  data: Uint8Array;
  /** For CNAME/NS/PTR: the decoded target name. For SOA: the MINIMUM field in `soaMinimum`. */
  target?: string;
  soaMinimum?: number;
}

export interface DnsMessage {
  id: number;
  /** QR bit: this is a response. */
  response: boolean;
  opcode: number;
  authoritative: boolean;
  truncated: boolean;
  recursionDesired: boolean;
  recursionAvailable: boolean;
  rcode: number;
  questions: DnsQuestion[];
  answers: DnsRecord[];
  authorities: DnsRecord[];
  additionals: DnsRecord[];
}

/** Lower-cased name without the trailing dot (names compare case-insensitively, §2.3.3). */
export function normalizeDnsName(name: string): string {
  const n = name.toLowerCase();
  return n.endsWith('.') ? n.slice(0, -1) : n;
}

/** Appends `name` in wire form; a name that cannot be encoded is a caller error (TypeError). */
function encodeName(name: string, out: number[]): void {
  const start = out.length;
  const n = normalizeDnsName(name);
  if (n.length > 0) {
    for (const label of n.split('.')) {
      const bytes = new TextEncoder().encode(label);
      if (bytes.length === 0 || bytes.length > 63)
        throw new TypeError(`invalid DNS name: ${JSON.stringify(name)}`);
      out.push(bytes.length, ...bytes);
    }
  }
  out.push(0);
  if (out.length - start > 255) throw new TypeError(`DNS name too long: ${JSON.stringify(name)}`);
}

/** Builds a standard query (RD set) for one question. Throws TypeError for a name that is not a DNS name. */
export function encodeDnsQuery(id: number, name: string, type: number): Uint8Array {
  const out: number[] = [id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
  encodeName(name, out);
  out.push(type >> 8, type & 0xff, 0, 1);
  return Uint8Array.from(out);
}

/** Builds a whole message (used by tests and the test servers). */
export function encodeDnsMessage(m: Partial<DnsMessage> & { id: number }): Uint8Array {
  const out: number[] = [];
  const flags =
    (m.response ? 0x8000 : 0) |
    ((m.opcode ?? 0) << 11) |
    (m.authoritative ? 0x400 : 0) |
    (m.truncated ? 0x200 : 0) |
    (m.recursionDesired ? 0x100 : 0) |
    (m.recursionAvailable ? 0x80 : 0) |
    ((m.rcode ?? 0) & 0xf);
  const q = m.questions ?? [];
  const an = m.answers ?? [];
  const ns = m.authorities ?? [];
  const ar = m.additionals ?? [];
  const u16 = (v: number) => out.push((v >> 8) & 0xff, v & 0xff);
  u16(m.id);
  u16(flags);
  u16(q.length);
  u16(an.length);
  u16(ns.length);
  u16(ar.length);
  for (const x of q) {
    encodeName(x.name, out);
    u16(x.type);
    u16(x.class);
  }
  for (const r of [...an, ...ns, ...ar]) {
    encodeName(r.name, out);
    u16(r.type);
    u16(r.class);
    out.push((r.ttl >>> 24) & 0xff, (r.ttl >>> 16) & 0xff, (r.ttl >>> 8) & 0xff, r.ttl & 0xff);
    u16(r.data.length);
    out.push(...r.data);
  }
  return Uint8Array.from(out);
}

/** A bounds-checked cursor: a read past the end sets `error` and yields 0. */
class Reader {
  pos = 0;
  error: WireError | undefined;
  constructor(readonly buf: Uint8Array) {}
  has(n: number): boolean {
    if (this.pos + n <= this.buf.length) return true;
    this.error ??= 'truncated';
    return false;
  }
  u16(): number {
    if (!this.has(2)) return 0;
    const v = (this.buf[this.pos]! << 8) | this.buf[this.pos + 1]!;
    this.pos += 2;
    return v;
  }
  u32(): number {
    if (!this.has(4)) return 0;
    const b = this.buf;
    const p = this.pos;
    this.pos += 4;
    return ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
  }
}

/** Reads a possibly compressed name at `pos`; returns it and the position after it. */
function readName(buf: Uint8Array, pos: number): { name: string; end: number } | WireError {
  const labels: string[] = [];
  let end = -1;
  let jumps = 0;
  let total = 0;
  for (;;) {
    if (pos >= buf.length) return 'truncated'; // the name runs past the message
    const len = buf[pos]!;
    if (len === 0) {
      if (end < 0) end = pos + 1;
      break;
    }
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= buf.length) return 'truncated'; // pointer cut short
      if (end < 0) end = pos + 2;
      if (++jumps > MAX_POINTER_JUMPS) return 'malformed'; // a compression loop
      pos = ((len & 0x3f) << 8) | buf[pos + 1]!;
      continue;
    }
    if ((len & 0xc0) !== 0) return 'malformed'; // label type not supported
    if (pos + 1 + len > buf.length) return 'truncated'; // label runs past the message
    total += len + 1;
    if (total > 255) return 'malformed'; // name too long
    labels.push(new TextDecoder().decode(buf.subarray(pos + 1, pos + 1 + len)));
    pos += 1 + len;
  }
  return { name: labels.join('.').toLowerCase(), end };
}

function readRecord(r: Reader): DnsRecord | WireError {
  const n = readName(r.buf, r.pos);
  if (typeof n === 'string') return n;
  r.pos = n.end;
  const type = r.u16();
  const klass = r.u16();
  const ttl = r.u32();
  const len = r.u16();
  if (r.error !== undefined || !r.has(len)) return r.error ?? 'truncated';
  const start = r.pos;
  const data = r.buf.subarray(start, start + len);
  r.pos += len;
  const rec: DnsRecord = { name: n.name, type, class: klass, ttl: ttl > 0x7fffffff ? 0 : ttl, data };
  if (type === DnsType.CNAME || type === DnsType.NS || type === DnsType.PTR) {
    const t = readName(r.buf, start);
    if (typeof t === 'string') return t;
    rec.target = t.name;
  } else if (type === DnsType.SOA) {
    const mname = readName(r.buf, start);
    if (typeof mname === 'string') return mname;
    const rname = readName(r.buf, mname.end);
    if (typeof rname === 'string') return rname;
    const p = rname.end + 16; // serial, refresh, retry, expire, then MINIMUM
    if (p + 4 > start + len) return 'truncated'; // SOA record cut short
    const b = r.buf;
    rec.soaMinimum = ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
  }
  return rec;
}

function readRecords(r: Reader, n: number): DnsRecord[] | WireError {
  const out: DnsRecord[] = [];
  for (let i = 0; i < n; i++) {
    const rec = readRecord(r);
    if (typeof rec === 'string') return rec;
    out.push(rec);
  }
  return out;
}

/** Parses an untrusted DNS message. */
export function parseDnsMessage(buf: Uint8Array): DnsMessage | WireError {
  const r = new Reader(buf);
  const id = r.u16();
  const flags = r.u16();
  const qd = r.u16();
  const an = r.u16();
  const ns = r.u16();
  const ar = r.u16();
  if (r.error !== undefined) return r.error;
  const questions: DnsQuestion[] = [];
  for (let i = 0; i < qd; i++) {
    const n = readName(buf, r.pos);
    if (typeof n === 'string') return n;
    r.pos = n.end;
    questions.push({ name: n.name, type: r.u16(), class: r.u16() });
    if (r.error !== undefined) return r.error;
  }
  const answers = readRecords(r, an);
  if (typeof answers === 'string') return answers;
  // A truncated response may stop anywhere after the answers; keep what parsed.
  const au = readRecords(r, ns);
  const ad = typeof au === 'string' ? au : readRecords(r, ar);
  if (typeof ad === 'string' && !(flags & 0x200)) return ad;
  const authorities = typeof au === 'string' ? [] : au;
  const additionals = typeof ad === 'string' ? [] : ad;
  return {
    id,
    response: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    authoritative: (flags & 0x400) !== 0,
    truncated: (flags & 0x200) !== 0,
    recursionDesired: (flags & 0x100) !== 0,
    recursionAvailable: (flags & 0x80) !== 0,
    rcode: flags & 0xf,
    questions,
    answers,
    authorities,
    additionals,
  };
}
