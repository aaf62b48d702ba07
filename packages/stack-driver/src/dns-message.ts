/**
 * DNS messages (RFC 1035 §4): building queries and parsing answers, with name
 * compression (§4.1.4). Parsing is for untrusted input: every read is bounds-checked
 * and a bad message throws `DnsFormatError`, which the resolver treats as no answer.
 */

export const DnsType = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28 } as const;
export const DnsRcode = { NoError: 0, FormErr: 1, ServFail: 2, NxDomain: 3, NotImp: 4, Refused: 5 } as const;

export class DnsFormatError extends Error {}

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
export function normalizeName(name: string): string {
  const n = name.toLowerCase();
  return n.endsWith('.') ? n.slice(0, -1) : n;
}

function encodeName(name: string, out: number[]): void {
  const start = out.length;
  const n = normalizeName(name);
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

/** Builds a standard query (RD set) for one question. */
export function encodeQuery(id: number, name: string, type: number): Uint8Array {
  const out: number[] = [id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
  encodeName(name, out);
  out.push(type >> 8, type & 0xff, 0, 1);
  return Uint8Array.from(out);
}

/** Builds a whole message (used by tests and the test servers). */
export function encodeMessage(m: Partial<DnsMessage> & { id: number }): Uint8Array {
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

class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}
  need(n: number): void {
    if (this.pos + n > this.buf.length) throw new DnsFormatError('DNS message truncated');
  }
  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }
  u16(): number {
    this.need(2);
    const v = (this.buf[this.pos]! << 8) | this.buf[this.pos + 1]!;
    this.pos += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const b = this.buf;
    const p = this.pos;
    this.pos += 4;
    return ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
  }
}

/** Reads a possibly compressed name at `pos`; returns it and the position after it. */
function readName(buf: Uint8Array, pos: number): { name: string; end: number } {
  const labels: string[] = [];
  let end = -1;
  let jumps = 0;
  let total = 0;
  for (;;) {
    if (pos >= buf.length) throw new DnsFormatError('DNS name runs past the message');
    const len = buf[pos]!;
    if (len === 0) {
      if (end < 0) end = pos + 1;
      break;
    }
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= buf.length) throw new DnsFormatError('DNS pointer truncated');
      if (end < 0) end = pos + 2;
      // Bounded jumps: a pointer loop must not hang the parser.
      if (++jumps > 64) throw new DnsFormatError('DNS compression loop');
      pos = ((len & 0x3f) << 8) | buf[pos + 1]!;
      continue;
    }
    if ((len & 0xc0) !== 0) throw new DnsFormatError('DNS label type not supported');
    if (pos + 1 + len > buf.length) throw new DnsFormatError('DNS label runs past the message');
    total += len + 1;
    if (total > 255) throw new DnsFormatError('DNS name too long');
    labels.push(new TextDecoder().decode(buf.subarray(pos + 1, pos + 1 + len)));
    pos += 1 + len;
  }
  return { name: labels.join('.').toLowerCase(), end };
}

function readRecord(r: Reader): DnsRecord {
  const { name, end } = readName(r.buf, r.pos);
  r.pos = end;
  const type = r.u16();
  const klass = r.u16();
  const ttl = r.u32();
  const len = r.u16();
  r.need(len);
  const start = r.pos;
  const data = r.buf.subarray(start, start + len);
  r.pos += len;
  const rec: DnsRecord = { name, type, class: klass, ttl: ttl > 0x7fffffff ? 0 : ttl, data };
  if (type === DnsType.CNAME || type === DnsType.NS || type === DnsType.PTR) {
    rec.target = readName(r.buf, start).name;
  } else if (type === DnsType.SOA) {
    const mname = readName(r.buf, start);
    const rname = readName(r.buf, mname.end);
    const p = rname.end + 16; // serial, refresh, retry, expire, then MINIMUM
    if (p + 4 > start + len) throw new DnsFormatError('SOA record truncated');
    const b = r.buf;
    rec.soaMinimum = ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
  }
  return rec;
}

/** Parses a DNS message; throws DnsFormatError on malformed input. */
export function parseMessage(buf: Uint8Array): DnsMessage {
  const r = new Reader(buf);
  const id = r.u16();
  const flags = r.u16();
  const qd = r.u16();
  const an = r.u16();
  const ns = r.u16();
  const ar = r.u16();
  const questions: DnsQuestion[] = [];
  for (let i = 0; i < qd; i++) {
    const { name, end } = readName(buf, r.pos);
    r.pos = end;
    questions.push({ name, type: r.u16(), class: r.u16() });
  }
  const read = (n: number) => {
    const out: DnsRecord[] = [];
    for (let i = 0; i < n; i++) out.push(readRecord(r));
    return out;
  };
  const answers = read(an);
  // A truncated response may stop anywhere after the answers; keep what parsed.
  let authorities: DnsRecord[] = [];
  let additionals: DnsRecord[] = [];
  try {
    authorities = read(ns);
    additionals = read(ar);
  } catch (e) {
    if (!(flags & 0x200)) throw e;
  }
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
