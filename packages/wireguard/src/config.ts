/**
 * The standard WireGuard configuration file (wg(8) / wg-quick(8)): `[Interface]` with
 * PrivateKey, ListenPort, Address, MTU, DNS; `[Peer]` with PublicKey, PresharedKey,
 * AllowedIPs, Endpoint, PersistentKeepalive. Errors name the line and the field.
 */
import { type Prefix, formatPrefix, parseIp, parsePrefix } from './ip.js';
import { decodeKey, encodeKey } from './keys.js';

export interface PeerConfig {
  publicKey: Uint8Array;
  presharedKey?: Uint8Array;
  allowedIps: Prefix[];
  /** host (name or address) and port, unresolved. */
  endpoint?: { host: string; port: number };
  /** Seconds; 0 or absent is off. */
  persistentKeepalive?: number;
}

export interface InterfaceConfig {
  privateKey: Uint8Array;
  listenPort?: number;
  addresses: Prefix[];
  mtu?: number;
  dns: string[];
  peers: PeerConfig[];
}

export class ConfigError extends Error {
  constructor(
    readonly field: string,
    message: string,
    readonly line?: number,
  ) {
    super(line === undefined ? `${field}: ${message}` : `line ${line}: ${field}: ${message}`);
    this.name = 'ConfigError';
  }
}

function list(v: string): string[] {
  return v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

function port(field: string, v: string, line: number): number {
  if (!/^[0-9]{1,5}$/.test(v) || Number(v) > 65535) throw new ConfigError(field, `bad port '${v}'`, line);
  return Number(v);
}

export function parseEndpoint(v: string, line?: number): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:([0-9]+)$/.exec(v) ?? /^([^:[\]]+):([0-9]+)$/.exec(v);
  if (!m) throw new ConfigError('Endpoint', `expected host:port or [v6]:port, got '${v}'`, line);
  const host = m[1] as string;
  if (host.includes(':') && parseIp(host) === undefined)
    throw new ConfigError('Endpoint', `bad IPv6 address '${host}'`, line);
  return { host, port: port('Endpoint', m[2] as string, line ?? 0) };
}

export function parseConfig(text: string): InterfaceConfig {
  let section: 'none' | 'interface' | 'peer' = 'none';
  let iface: Partial<InterfaceConfig> & { addresses: Prefix[]; dns: string[] } = {
    addresses: [],
    dns: [],
  };
  let sawInterface = false;
  const peers: (Partial<PeerConfig> & { allowedIps: Prefix[]; line: number })[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const raw = (lines[i] as string).replace(/#.*$/, '').trim();
    if (raw === '') continue;
    const sec = /^\[(\w+)\]$/.exec(raw);
    if (sec) {
      const name = (sec[1] as string).toLowerCase();
      if (name === 'interface') {
        if (sawInterface) throw new ConfigError('[Interface]', 'appears twice', lineNo);
        sawInterface = true;
        section = 'interface';
      } else if (name === 'peer') {
        section = 'peer';
        peers.push({ allowedIps: [], line: lineNo });
      } else throw new ConfigError(`[${sec[1]}]`, 'unknown section', lineNo);
      continue;
    }
    const eq = raw.indexOf('=');
    if (eq < 0) throw new ConfigError(raw, "expected 'Key = Value'", lineNo);
    const key = raw.slice(0, eq).trim();
    const value = raw.slice(eq + 1).trim();
    const k = key.toLowerCase();
    if (section === 'interface') {
      switch (k) {
        case 'privatekey':
          iface.privateKey = wrapKey('PrivateKey', value, lineNo);
          break;
        case 'listenport':
          iface.listenPort = port('ListenPort', value, lineNo);
          break;
        case 'address':
          for (const a of list(value)) {
            const p = parsePrefix(a);
            if (!p) throw new ConfigError('Address', `bad address '${a}'`, lineNo);
            iface.addresses.push(p);
          }
          break;
        case 'mtu': {
          const n = Number(value);
          if (!/^[0-9]+$/.test(value) || n < 576 || n > 65535)
            throw new ConfigError('MTU', `must be 576..65535, got '${value}'`, lineNo);
          iface.mtu = n;
          break;
        }
        case 'dns':
          iface.dns.push(...list(value));
          break;
        // wg-quick keys that do not apply to a userspace stack are accepted and ignored.
        case 'table':
        case 'preup':
        case 'postup':
        case 'predown':
        case 'postdown':
        case 'saveconfig':
        case 'fwmark':
          break;
        default:
          throw new ConfigError(key, 'unknown key in [Interface]', lineNo);
      }
    } else if (section === 'peer') {
      const peer = peers[peers.length - 1] as (typeof peers)[number];
      switch (k) {
        case 'publickey':
          peer.publicKey = wrapKey('PublicKey', value, lineNo);
          break;
        case 'presharedkey':
          peer.presharedKey = wrapKey('PresharedKey', value, lineNo);
          break;
        case 'allowedips':
          for (const a of list(value)) {
            const p = parsePrefix(a);
            if (!p) throw new ConfigError('AllowedIPs', `bad prefix '${a}'`, lineNo);
            peer.allowedIps.push(p);
          }
          break;
        case 'endpoint':
          peer.endpoint = parseEndpoint(value, lineNo);
          break;
        case 'persistentkeepalive': {
          if (value === 'off') break;
          const n = Number(value);
          if (!/^[0-9]+$/.test(value) || n > 65535)
            throw new ConfigError('PersistentKeepalive', `must be 0..65535 or off, got '${value}'`, lineNo);
          peer.persistentKeepalive = n;
          break;
        }
        default:
          throw new ConfigError(key, 'unknown key in [Peer]', lineNo);
      }
    } else {
      throw new ConfigError(key, 'outside of a section', lineNo);
    }
  }
  if (!sawInterface) throw new ConfigError('[Interface]', 'missing');
  if (iface.privateKey === undefined) throw new ConfigError('PrivateKey', 'missing in [Interface]');
  const seenKeys = new Map<string, number>();
  const seenPrefixes = new Map<string, number>();
  const out: PeerConfig[] = [];
  for (const p of peers) {
    if (p.publicKey === undefined) throw new ConfigError('PublicKey', 'missing in [Peer]', p.line);
    const pk = encodeKey(p.publicKey);
    const prev = seenKeys.get(pk);
    if (prev !== undefined)
      throw new ConfigError('PublicKey', `same peer as the [Peer] at line ${prev}`, p.line);
    seenKeys.set(pk, p.line);
    for (const a of p.allowedIps) {
      const masked = formatPrefix(maskPrefix(a));
      const other = seenPrefixes.get(masked);
      if (other !== undefined)
        throw new ConfigError('AllowedIPs', `${masked} is also given to the [Peer] at line ${other}`, p.line);
      seenPrefixes.set(masked, p.line);
    }
    const { line: _line, ...rest } = p;
    out.push(rest as PeerConfig);
  }
  iface = { ...iface, peers: out };
  return iface as InterfaceConfig;
}

function wrapKey(field: string, value: string, line: number): Uint8Array {
  try {
    return decodeKey(value, field);
  } catch {
    throw new ConfigError(field, 'not a base64 WireGuard key (44 characters ending in =)', line);
  }
}

export function maskPrefix(p: Prefix): Prefix {
  const a = Uint8Array.from(p.address);
  for (let i = 0; i < a.length * 8; i++) {
    if (i >= p.bits) a[i >> 3] = (a[i >> 3] as number) & ~(0x80 >> (i & 7));
  }
  return { address: a, bits: p.bits };
}

/** Render a config back to the file format (keys in base64). */
export function formatConfig(c: InterfaceConfig): string {
  const lines = ['[Interface]', `PrivateKey = ${encodeKey(c.privateKey)}`];
  if (c.listenPort !== undefined) lines.push(`ListenPort = ${c.listenPort}`);
  if (c.addresses.length) lines.push(`Address = ${c.addresses.map(formatPrefix).join(', ')}`);
  if (c.mtu !== undefined) lines.push(`MTU = ${c.mtu}`);
  if (c.dns.length) lines.push(`DNS = ${c.dns.join(', ')}`);
  for (const p of c.peers) {
    lines.push('', '[Peer]', `PublicKey = ${encodeKey(p.publicKey)}`);
    if (p.presharedKey) lines.push(`PresharedKey = ${encodeKey(p.presharedKey)}`);
    if (p.allowedIps.length) lines.push(`AllowedIPs = ${p.allowedIps.map(formatPrefix).join(', ')}`);
    if (p.endpoint) {
      const h = p.endpoint.host.includes(':') ? `[${p.endpoint.host}]` : p.endpoint.host;
      lines.push(`Endpoint = ${h}:${p.endpoint.port}`);
    }
    if (p.persistentKeepalive) lines.push(`PersistentKeepalive = ${p.persistentKeepalive}`);
  }
  return `${lines.join('\n')}\n`;
}
