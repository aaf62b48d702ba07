/**
 * The daemon's configuration: one zod schema (the single source of every field, its
 * default and its check), loading from YAML or JSON, and error messages that name the
 * bad field as a path (`links[0].mtu: ...`). Command-line flags are applied to the raw
 * file contents before validation (see cli.ts), so a bad flag is reported the same way.
 */
import { readFileSync } from 'node:fs';
import { BlockList, isIP } from 'node:net';
import { defaultBridgePath } from '@tapstack/socket-bridge';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

/**
 * Default path of the bridge socket: `bridge.sock` in a directory only the daemon's user
 * owns (`$XDG_RUNTIME_DIR/tapstack/`, `/run/tapstack/` for root), created 0700 at start.
 */
export { defaultBridgePath };

const port = z.number().int().min(0).max(65535);

const cidr = z.string().refine(
  (s) => {
    const slash = s.indexOf('/');
    if (slash < 0) return false;
    const ip = s.slice(0, slash);
    const len = s.slice(slash + 1);
    const v = isIP(ip);
    if (v === 0 || !/^\d{1,3}$/.test(len)) return false;
    return Number(len) <= (v === 4 ? 32 : 128);
  },
  { message: 'expected an address with a prefix length, like 192.0.2.1/24 or 2001:db8::1/64' },
);

const ipAddress = z.string().refine((s) => isIP(s) !== 0, { message: 'expected an IPv4 or IPv6 address' });

const mac = z
  .string()
  .regex(/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/, { message: 'expected a MAC address like 02:00:00:00:00:01' })
  .refine((s) => (Number.parseInt(s.slice(0, 2), 16) & 1) === 0, {
    message: 'a multicast MAC (lowest bit of the first byte set) cannot be an interface address',
  })
  .refine((s) => !/^0{2}(:0{2}){5}$/.test(s), { message: 'the all-zero MAC cannot be an interface address' });

const v6Loopback = new BlockList();
v6Loopback.addAddress('::1', 'ipv6');
/** :: and ::1 (the unspecified address is :: minus loopback). */
const v6Special = new BlockList();
v6Special.addRange('::', '::1', 'ipv6');
const v6Multicast = new BlockList();
v6Multicast.addSubnet('ff00::', 8, 'ipv6');

/** IPv4 text to a 32-bit number (the text is already checked by isIP). */
function v4(text: string): number {
  return text.split('.').reduce((a, b) => a * 256 + Number(b), 0);
}

/**
 * Why `cidr` (checked syntax) cannot be one of an interface's own addresses, or
 * undefined when it can: the unspecified address, multicast, limited broadcast, the
 * network or broadcast address of its own prefix, loopback on a real link.
 */
export function notAHostAddress(cidr: string, realLink: boolean): string | undefined {
  const slash = cidr.indexOf('/');
  const ip = cidr.slice(0, slash);
  const len = Number(cidr.slice(slash + 1));
  if (isIP(ip) === 4) {
    const a = v4(ip);
    if (a === 0) return 'the unspecified address 0.0.0.0 cannot be an interface address';
    if (a >>> 28 === 0xe) return `${ip} is a multicast address (224.0.0.0/4), not a host address`;
    if (a === 0xffffffff) return '255.255.255.255 is the limited broadcast address, not a host address';
    if (a >>> 24 === 0) return `${ip} is in 0.0.0.0/8 ("this network"), not a host address`;
    if (realLink && a >>> 24 === 127) return `${ip} is a loopback address: not on a real link`;
    if (len <= 30) {
      const host = len === 0 ? a : a % 2 ** (32 - len);
      if (host === 0) return `${ip} is the network address of ${cidr}, not a host address`;
      if (host === 2 ** (32 - len) - 1)
        return `${ip} is the broadcast address of ${cidr}, not a host address`;
    }
    return undefined;
  }
  if (v6Special.check(ip, 'ipv6') && !v6Loopback.check(ip, 'ipv6'))
    return 'the unspecified address :: cannot be an interface address';
  if (v6Multicast.check(ip, 'ipv6')) return `${ip} is a multicast address (ff00::/8), not a host address`;
  if (realLink && v6Loopback.check(ip, 'ipv6')) return `${ip} is the loopback address: not on a real link`;
  return undefined;
}

/** "host:port" / "[v6]:port" / "port" (host defaults), checked but kept as text. */
function hostPort(defaultHost: string | undefined, what: string) {
  return z.string().transform((s, ctx) => {
    const parsed = splitHostPort(s, defaultHost);
    if (!parsed) {
      ctx.addIssue({
        code: 'custom',
        message: `expected ${what} as host:port${defaultHost ? ' or a port' : ''} (IPv6 in brackets), got "${s}"`,
      });
      return z.NEVER;
    }
    return parsed;
  });
}

export interface HostPort {
  host: string;
  port: number;
}

/** Splits "host:port", "[v6]:port", or (with a default host) "port". */
export function splitHostPort(text: string, defaultHost?: string): HostPort | undefined {
  let host: string;
  let portText: string;
  if (/^\d+$/.test(text)) {
    if (defaultHost === undefined) return undefined;
    host = defaultHost;
    portText = text;
  } else if (text.startsWith('[')) {
    const end = text.indexOf(']');
    if (end < 0 || text[end + 1] !== ':') return undefined;
    host = text.slice(1, end);
    portText = text.slice(end + 2);
    if (isIP(host) !== 6) return undefined;
  } else {
    const colon = text.lastIndexOf(':');
    if (colon <= 0) return undefined;
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(':')) return undefined;
  }
  if (!/^\d{1,5}$/.test(portText)) return undefined;
  const p = Number(portText);
  if (p > 65535) return undefined;
  return { host, port: p };
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}

/** IP MTU. */
const mtu = z.number().int().min(576).max(65521);

/** Addressing, common to every link type. */
const addressing = {
  /** Static addresses with prefix length. */
  addresses: z.array(cidr).default([]),
  /** Form IPv6 addresses from router advertisements (RFC 4862). */
  slaac: z.boolean().default(false),
  /** Get an IPv4 address by DHCP. */
  dhcp: z.boolean().default(false),
  /** Default gateway (IPv4 or IPv6), on this link. */
  gateway: z.array(ipAddress).default([]),
  /** IP MTU. */
  mtu: mtu.default(1500),
  /** Interface MAC; derived from the link name and the process when absent. */
  mac: mac.optional(),
  /** Write every frame on this link to a pcap file. */
  pcap: z.string().min(1).optional(),
};

/** Frame I/O on a worker thread, joined to the stack by two frame rings (not with pcap). */
const ioThread = z.boolean().default(false);
const linkName = z
  .string()
  .min(1)
  .regex(/^[A-Za-z0-9_.-]+$/, { message: 'expected a name of letters, digits, _ . -' });

const tapLink = z
  .object({
    type: z.literal('tap'),
    /** Kernel device name (created when absent; needs CAP_NET_ADMIN). */
    name: z
      .string()
      .min(1)
      .max(15)
      .regex(/^[A-Za-z0-9_.-]+$/, { message: 'expected a device name of letters, digits, _ . -' })
      .default('tapstack0'),
    ...addressing,
    ioThread,
    /**
     * Kernel offloads through a virtio-net header (tap-io `offload`): 64 KiB TCP
     * super-frames both ways and checksums left to the kernel. On by default: falls back
     * to fewer offloads or a plain device when the kernel refuses; a pcap turns it off (it
     * records frames as on a wire). The stack is a host, never a router, so super-frames
     * end in it and are never sent on to a link with a smaller MTU.
     */
    offload: z.boolean().default(true),
    /**
     * Where frames are read (tap-io `rxMode`): `loop`, the event loop polls the device itself
     * (no thread hop: one wake and two syscalls fewer per request/response; the round trip
     * through a forward at about half the latency and CPU of `thread`); `thread`, a native
     * reader thread that wakes the event loop (eventfd) per batch.
     */
    rxMode: z.enum(['thread', 'loop']).default('loop'),
    /**
     * Frames the kernel queues toward our reader (the device's txqueuelen, tap-io
     * `txQueueLen`): it drops blindly when the queue is full. Default: tap-io's 16384,
     * only raising a shorter queue; 0 leaves the device as it is.
     */
    txQueueLen: z
      .number()
      .int()
      .min(0)
      .max(1 << 20)
      .optional(),
  })
  .strict();

const vxlanLink = z
  .object({
    type: z.literal('vxlan'),
    name: linkName.default('vx0'),
    /** Local UDP address to bind. */
    localAddress: ipAddress.default('127.0.0.1'),
    /** Local UDP port (0 = any free port; 4789 is the IANA VXLAN port). */
    localPort: port.default(4789),
    /** Static peers: every frame is sent to each (unicast learning not needed for two nodes). */
    peers: z.array(hostPort(undefined, 'a peer')).default([]),
    /** VXLAN network identifier (24 bits). */
    vni: z.number().int().min(0).max(0xffffff).default(42),
    /**
     * Accept frames from any sender and learn where MACs are. Default false: only the
     * configured peers' addresses may send frames (VXLAN has no authentication).
     */
    learn: z.boolean().default(false),
    /** Learning: MACs remembered at most; a frame from one more is delivered, not learned (learnRefused). */
    maxLearnedMacs: z.number().int().min(1).max(1_000_000).default(4096),
    /** Learning: a MAC not heard from for this long is forgotten (a switch's 300 s). */
    macAgeMs: z.number().int().min(1000).max(86_400_000).default(300_000),
    /** Learning: senders that are not configured peers, at most (they join the broadcast set). */
    maxLearnedEndpoints: z.number().int().min(0).max(65_536).default(64),
    ...addressing,
    /**
     * Absent: the link's default (tap-io `defaultVxlanMtu`): 65485 when bound to loopback,
     * where each datagram costs the same whatever its size, else 1450.
     */
    mtu: mtu.optional(),
    ioThread,
  })
  .strict();

const wireguardLink = z
  .object({
    type: z.literal('wireguard'),
    name: linkName.default('wg0'),
    /**
     * A standard WireGuard config file (wg(8) / wg-quick(8) [Interface] and [Peer] sections).
     * Its Address and MTU are used when `addresses` / `mtu` are not given here.
     */
    config: z.string().min(1).optional(),
    /**
     * The same as the file, inline (instead of `config`): keys in wg's base64, as in the file.
     * Checked with the file's parser, so errors name the same fields.
     */
    wireguard: z
      .object({
        privateKey: z.string(),
        listenPort: port.optional(),
        peers: z
          .array(
            z
              .object({
                publicKey: z.string(),
                presharedKey: z.string().optional(),
                allowedIps: z.array(z.string()).default([]),
                endpoint: z.string().optional(),
                persistentKeepalive: z.number().int().min(0).max(65535).optional(),
              })
              .strict(),
          )
          .default([]),
      })
      .strict()
      .optional(),
    /**
     * Local UDP address to bind (the port is the file's ListenPort, or any free port). `::`
     * (default) is dual-stack: peers' Endpoints may be IPv4 or IPv6 (0.0.0.0 where IPv6 is off).
     */
    localAddress: ipAddress.default('::'),
    ...addressing,
    mtu: mtu.optional(),
  })
  .strict();

const memoryLink = z
  .object({
    type: z.literal('memory'),
    name: linkName.default('mem0'),
    /** In-process switch name: daemons in one process with the same name share a segment (tests). */
    switch: z.string().min(1).default('default'),
    ...addressing,
  })
  .strict();

export const linkSchema = z
  .discriminatedUnion('type', [tapLink, vxlanLink, wireguardLink, memoryLink], {
    error: (iss) =>
      iss.code === 'invalid_union'
        ? 'expected type to be one of "tap", "vxlan", "wireguard", "memory"'
        : undefined,
  })
  .superRefine((l, ctx) => {
    l.addresses.forEach((a, i) => {
      const why = notAHostAddress(a, l.type !== 'memory');
      if (why) ctx.addIssue({ code: 'custom', path: ['addresses', i], message: why });
    });
    if (l.type === 'wireguard' && (l.config === undefined) === (l.wireguard === undefined))
      ctx.addIssue({
        code: 'custom',
        path: ['config'],
        message: 'give a WireGuard config file (config) or the same inline (wireguard), one of the two',
      });
    if ((l.type === 'tap' || l.type === 'vxlan') && l.ioThread && l.pcap) {
      ctx.addIssue({ code: 'custom', path: ['ioThread'], message: 'ioThread cannot be combined with pcap' });
    }
  });

const hostToVirtual = z
  .object({
    /** Host side: a loopback address and port ("8080" means 127.0.0.1:8080). */
    listen: hostPort('127.0.0.1', 'the host listen address').refine((hp) => isLoopback(hp.host), {
      message: 'host forwards listen on loopback only (127.0.0.0/8, ::1, localhost)',
    }),
    /** Virtual side: address (or name) and port to connect to through the stack. */
    connect: hostPort(undefined, 'the virtual target'),
  })
  .strict();

const virtualToHost = z
  .object({
    /** Virtual side: port (all addresses) or address:port to listen on in the stack. */
    listen: hostPort('0.0.0.0', 'the virtual listen address'),
    /** Host side: address and port to connect to with the host's own network. */
    connect: hostPort(undefined, 'the host target'),
  })
  .strict();

const metricsListen = z.string().transform((s, ctx) => {
  if (s.startsWith('unix:')) {
    const path = s.slice(5);
    if (path === '') {
      ctx.addIssue({ code: 'custom', message: 'expected a socket path after "unix:"' });
      return z.NEVER;
    }
    return { kind: 'unix' as const, path };
  }
  const hp = splitHostPort(s, '127.0.0.1');
  if (!hp || !isLoopback(hp.host)) {
    ctx.addIssue({
      code: 'custom',
      message: `expected "unix:<path>" or a loopback host:port (or a port), got "${s}"`,
    });
    return z.NEVER;
  }
  return { kind: 'tcp' as const, host: hp.host, port: hp.port };
});

export const configSchema = z
  .object({
    /** Name shown in logs and metrics labels. */
    name: z.string().min(1).default('tapstackd'),
    links: z
      .array(linkSchema)
      .min(1, { message: 'at least one link is needed' })
      .prefault([{ type: 'memory' }]),
    /** Run the stack on a worker thread (socket calls cross a shared-memory channel). */
    stackThread: z.boolean().default(false),
    /** DNS servers (virtual addresses) used for names in forwards, the bridge and SOCKS5. */
    dns: z.array(ipAddress).default([]),
    tcp: z
      .object({
        /**
         * Maximum segment lifetime in ms; TIME-WAIT lasts twice this (RFC 9293). Lower it
         * where old duplicates cannot outlive it (a local or test network) to reclaim
         * closed connections' state sooner.
         */
        mslMs: z.number().int().min(100).max(120_000).default(30_000),
        /**
         * Connections in TIME-WAIT at most (Linux's tcp_max_tw_buckets); beyond it a closing
         * connection skips TIME-WAIT, counted in `tcp.timeWaitOverflow`.
         */
        maxTimeWait: z.number().int().min(0).max(1_000_000).default(8192),
      })
      .strict()
      .prefault({}),
    bridge: z
      .object({
        enabled: z.boolean().default(true),
        /** AF_UNIX socket path for the bridge. */
        path: z
          .string()
          .min(1)
          .default(() => defaultBridgePath()),
      })
      .strict()
      .prefault({}),
    socks: z
      .object({
        enabled: z.boolean().default(false),
        /** Loopback address:port of the SOCKS5 front. */
        listen: hostPort('127.0.0.1', 'the SOCKS5 listen address')
          .refine((hp) => isLoopback(hp.host), { message: 'SOCKS5 listens on loopback only' })
          .default({ host: '127.0.0.1', port: 1080 }),
        /**
         * Open SOCKS5 connections at most (each holds a file descriptor); more are closed
         * at once and counted. Also kept below the open-file limit with descriptors in
         * reserve, so a full SOCKS5 front never takes the bridge or metrics down.
         */
        maxSessions: z.number().int().min(1).max(1_000_000).default(1024),
        /** Open SOCKS5 connections from one client at most (on loopback: one local user). */
        maxSessionsPerClient: z.number().int().min(1).max(1_000_000).default(256),
      })
      .strict()
      .prefault({}),
    forwards: z
      .object({
        hostToVirtual: z.array(hostToVirtual).default([]),
        virtualToHost: z.array(virtualToHost).default([]),
        /** UDP: a host loopback port to a virtual address:port (a flow per client). */
        udpHostToVirtual: z.array(hostToVirtual).default([]),
        /** UDP: a virtual port to a host address:port (a flow per virtual client). */
        udpVirtualToHost: z.array(virtualToHost).default([]),
        /** A UDP flow with no datagram either way for this long is closed. */
        udpIdleTimeoutMs: z.number().int().min(100).max(3_600_000).default(60_000),
        /** At most this many UDP flows per forward; more clients' datagrams are dropped (counted). */
        udpMaxFlows: z.number().int().min(1).max(65_536).default(1024),
      })
      .strict()
      .prefault({}),
    /** Small built-in TCP services on virtual ports (0 = off): for demos and tests. */
    services: z
      .object({
        echo: port.default(0),
        discard: port.default(0),
        /** Answers any HTTP request with a small page that names the daemon. */
        http: port.default(0),
        /** UDP echo: every datagram goes back to its sender. */
        udpEcho: port.default(0),
      })
      .strict()
      .prefault({}),
    /**
     * WebSocket link (@tapstack/ws-link): browsers and Node clients join an Ethernet
     * segment of this stack over WebSocket; each connection is a port on the segment's
     * switch and gets one address per prefix of `addresses` (the stack's own there).
     */
    websocket: z
      .object({
        enabled: z.boolean().default(false),
        /** host:port (or a port on 127.0.0.1). Loopback by default; anything else is warned about. */
        listen: hostPort('127.0.0.1', 'the WebSocket listen address').default({
          host: '127.0.0.1',
          port: 8765,
        }),
        /** Clients must give this as ?token= in the URL (compared in constant time). */
        token: z.string().min(8).optional(),
        /** Allowed Origin headers of browser clients ("http://127.0.0.1:8080"); absent = any. */
        origins: z.array(z.string().min(1)).optional(),
        /** The stack's interface on the segment (its name in stats and metrics). */
        name: linkName.default('ws0'),
        /** The stack's addresses on the segment; clients get free hosts of the same prefixes. */
        addresses: z.array(cidr).min(1).default(['198.51.100.1/24', '2001:db8:77::1/64']),
        /**
         * The segment is virtual (the daemon's stack and the clients' stacks, nothing in
         * between), so it takes jumbo frames: per-message cost bounds a WebSocket link, and
         * 9000-byte frames gave 2-3x the throughput of 1500 in the bench.
         */
        mtu: mtu.default(9000),
        /**
         * What the segment carries: Ethernet frames (each client a switch port, ARP/NDP) or
         * bare IP packets (each client a peer known by its addresses; no ARP/NDP).
         */
        medium: z.enum(['ethernet', 'ip']).default('ethernet'),
        /** Connections at once. */
        maxClients: z.number().int().min(1).max(4096).default(64),
        /** Per-connection receive limits (0 = unlimited); frames over them are dropped and counted. */
        rateBytesPerSecond: z
          .number()
          .int()
          .min(0)
          .default(256 * 1024 * 1024),
        rateFramesPerSecond: z.number().int().min(0).default(200_000),
      })
      .strict()
      .prefault({}),
    metrics: z
      .object({
        /** "unix:<path>" or a loopback host:port; absent = no metrics endpoint. */
        listen: metricsListen.optional(),
      })
      .strict()
      .prefault({}),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
        /** One JSON object per line instead of readable text. */
        json: z.boolean().default(false),
        /** Append to this file (0600) instead of stderr; SIGHUP reopens it (logrotate). */
        file: z.string().min(1).optional(),
      })
      .strict()
      .prefault({}),
    /** pcap file for every link (a link's own `pcap` wins); `%l` is replaced by the link name. */
    pcap: z.string().min(1).optional(),
    /**
     * Written (atomically, mode 0600) once every link and listener is up, with the same
     * JSON as the ready line on stdout; removed on stop. For scripts that wait on a file.
     */
    readyFile: z.string().min(1).optional(),
    shutdown: z
      .object({
        /** How long SIGINT/SIGTERM waits for open connections before closing them. */
        drainTimeoutMs: z.number().int().min(0).max(600_000).default(5000),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (
      c.pcap &&
      (c.stackThread || c.links.some((l) => (l.type === 'tap' || l.type === 'vxlan') && l.ioThread))
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['pcap'],
        message: 'pcap cannot capture links opened on a worker (ioThread, stackThread)',
      });
    }
    if (c.stackThread && c.websocket.enabled)
      ctx.addIssue({
        code: 'custom',
        path: ['websocket', 'enabled'],
        message: 'the WebSocket link needs the stack on the main thread (no stackThread)',
      });
    if (c.stackThread) {
      c.links.forEach((l, i) => {
        if (l.type === 'memory')
          ctx.addIssue({
            code: 'custom',
            path: ['links', i, 'type'],
            message: 'stackThread needs tap, vxlan or wireguard links (a memory link lives in one thread)',
          });
        else if (l.pcap)
          ctx.addIssue({
            code: 'custom',
            path: ['links', i, 'pcap'],
            message: 'pcap cannot be used with stackThread',
          });
      });
    }
  });

export type DaemonConfig = z.output<typeof configSchema>;
export type DaemonConfigInput = z.input<typeof configSchema>;
export type LinkConfig = z.output<typeof linkSchema>;

const brand = Symbol.for('tapstack.daemon.ConfigError');

/** A configuration error; `issues` name each bad field by path. */
export class ConfigError extends Error {
  readonly issues: { path: string; message: string }[];
  constructor(source: string, issues: { path: string; message: string }[]) {
    super(
      `invalid configuration${source ? ` (${source})` : ''}:\n${issues.map((i) => `  ${i.path || '(top level)'}: ${i.message}`).join('\n')}`,
    );
    this.name = 'ConfigError';
    this.issues = issues;
    Object.defineProperty(this, brand, { value: true });
  }
  static isInstance(e: unknown): e is ConfigError {
    return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[brand] === true;
  }
}

/** `links[0].mtu` from zod's path array. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out === '' ? String(p) : `.${String(p)}`;
  }
  return out;
}

function describe(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys')
    return `unknown field(s) ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  return issue.message;
}

/** Validates a raw object (parsed file + flags) into a full config, or throws ConfigError. */
export function validateConfig(raw: unknown, source = ''): DaemonConfig {
  const result = configSchema.safeParse(raw ?? {});
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => {
    let path = formatPath(i.path);
    if (i.code === 'unrecognized_keys' && i.keys.length === 1) {
      path = path ? `${path}.${i.keys[0]}` : String(i.keys[0]);
    }
    return { path, message: describe(i) };
  });
  throw new ConfigError(source, issues);
}

/** Reads a YAML or JSON file (JSON is YAML, but .json gets JSON's own error messages). */
export function readConfigFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, [{ path: '', message: `cannot read the file: ${(e as Error).message}` }]);
  }
  try {
    const data = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
    if (data !== null && data !== undefined && (typeof data !== 'object' || Array.isArray(data))) {
      throw new Error('the top level must be a mapping of fields');
    }
    return data ?? {};
  } catch (e) {
    throw new ConfigError(file, [
      { path: '', message: `cannot parse: ${(e as Error).message.split('\n')[0]}` },
    ]);
  }
}
