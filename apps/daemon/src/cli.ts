/**
 * Command-line flags. Every flag overrides one config field: the raw config file is
 * loaded, the flags that were actually given are written into it, and the result is
 * validated once (config.ts), so a bad flag value is reported by its config path.
 * `--help` lists every option with its default (the defaults shown are the schema's).
 */
import { Command, Option } from 'commander';
import { type DaemonConfig, defaultBridgePath, readConfigFile, validateConfig } from './config.js';

type Raw = Record<string, unknown>;

export interface CliResult {
  config: DaemonConfig;
  /** --check: validate, print the effective config, exit. */
  check: boolean;
  configFile: string | undefined;
}

const collect = (v: string, prev: unknown) => [...(Array.isArray(prev) ? prev : []), v];

/** A number when the text is one, so zod reports a clear type error for "abc". */
function num(v: string): number | string {
  return /^-?\d+$/.test(v) ? Number(v) : v;
}

export function buildProgram(): Command {
  const p = new Command('tapstackd');
  p.description(
    'Runs a tapstack node: a userspace TCP/IP stack on a TAP, VXLAN-over-UDP or in-memory link, ' +
      'reachable through an AF_UNIX bridge, a SOCKS5 front and port forwards. ' +
      '`tapstackd status --help`: show a running daemon.',
  )
    .helpOption('-h, --help', 'show this help')
    .version('0.1.0', '-V, --version', 'print the version')
    .showSuggestionAfterError()
    .exitOverride()
    .configureOutput({ outputError: (s, write) => write(s) });
  const opt = (flags: string, description: string, def?: string) => {
    const o = new Option(flags, description);
    // Defaults are shown in --help only: values whose source is 'default' are never
    // applied (the schema's defaults are the real ones), so the file is not overridden.
    if (def === 'false') o.default(false);
    else if (def !== undefined) o.default(def, def);
    p.addOption(o);
    return o;
  };
  opt('-c, --config <file>', 'YAML or JSON config file; flags override its fields', 'none');
  opt('--name <name>', 'node name in logs and metrics (name)', 'tapstackd');
  p.addOption(
    new Option('--link <type>', 'type of the first link (links[0].type)')
      .choices(['memory', 'vxlan', 'tap', 'wireguard'])
      .default('memory'),
  );
  opt('--link-name <name>', 'name of the first link (links[0].name)', 'mem0 | vx0 | tapstack0');
  opt('--tap <device>', 'shorthand for --link tap --link-name <device>', 'none');
  opt(
    '--wireguard <file>',
    'shorthand for --link wireguard with this WireGuard config file (links[0].config)',
    'none',
  );
  opt(
    '--wireguard-bind <address>',
    'local UDP address of the WireGuard link (links[0].localAddress); :: takes IPv4 and IPv6 peers',
    '::',
  );
  opt('--vxlan-bind <address>', 'local UDP address of the VXLAN link (links[0].localAddress)', '127.0.0.1');
  opt('--vxlan-port <port>', 'local UDP port of the VXLAN link, 0 = any (links[0].localPort)', '4789');
  opt('--peer <host:port>', 'VXLAN peer, repeatable (links[0].peers)', 'none');
  opt('--vni <n>', 'VXLAN network identifier (links[0].vni)', '42');
  opt('--vxlan-learn', 'VXLAN: accept frames from any sender and learn MACs (links[0].learn)', 'false');
  opt('--switch <name>', 'in-memory switch name (links[0].switch)', 'default');
  opt('--io-thread', 'tap/vxlan: frame I/O on a worker thread (links[0].ioThread)', 'false');
  opt(
    '--offload',
    'tap: kernel offloads, 64 KiB TCP super-frames both ways (links[0].offload) (default: on)',
  );
  opt('--no-offload', 'tap: no kernel offloads, wire-sized frames (links[0].offload) (default: offloads on)');
  opt(
    '--tap-rx-mode <mode>',
    'tap: read frames on the event loop or on a native thread (links[0].rxMode)',
    'loop',
  );
  opt(
    '--mtu <bytes>',
    'IP MTU of the first link (links[0].mtu)',
    '1500; vxlan: 65485 on loopback, else 1450',
  );
  opt('--mac <mac>', 'MAC of the first link (links[0].mac)', 'derived from name and pid');
  opt('--address <cidr>', 'static address, repeatable (links[0].addresses)', 'none');
  opt('--gateway <ip>', 'default gateway, repeatable (links[0].gateway)', 'none');
  opt('--slaac', 'form IPv6 addresses from router advertisements (links[0].slaac)', 'false');
  opt('--dhcp', 'get an IPv4 address by DHCP (links[0].dhcp)', 'false');
  opt(
    '--stack-thread',
    'run the stack on a worker thread; tap/vxlan/wireguard links only (stackThread)',
    'false',
  );
  opt('--dns <ip>', 'DNS server on the virtual network, repeatable (dns)', 'none');
  opt('--tcp-msl <ms>', 'TCP maximum segment lifetime; TIME-WAIT lasts twice this (tcp.mslMs)', '30000');
  opt('--bridge <path>', 'AF_UNIX bridge socket path (bridge.path)', defaultBridgePath());
  opt('--no-bridge', 'do not open the bridge socket (bridge.enabled) (default: bridge on)');
  opt('--socks <[host:]port>', 'start the SOCKS5 front on loopback (socks.listen)', 'off');
  opt(
    '--forward <[host:]port=vhost:vport>',
    'host loopback port to a virtual address, repeatable (forwards.hostToVirtual)',
    'none',
  );
  opt(
    '--reverse <[vaddr:]vport=host:port>',
    'virtual port to a host address, repeatable (forwards.virtualToHost)',
    'none',
  );
  opt(
    '--forward-udp <[host:]port=vhost:vport>',
    'UDP: host loopback port to a virtual address, repeatable (forwards.udpHostToVirtual)',
    'none',
  );
  opt(
    '--reverse-udp <[vaddr:]vport=host:port>',
    'UDP: virtual port to a host address, repeatable (forwards.udpVirtualToHost)',
    'none',
  );
  opt('--serve-echo <port>', 'built-in echo service on a virtual port (services.echo)', 'off');
  opt(
    '--serve-discard <port>',
    'built-in discard (sink) service on a virtual port (services.discard)',
    'off',
  );
  opt('--serve-udp-echo <port>', 'built-in UDP echo service on a virtual port (services.udpEcho)', 'off');
  opt('--serve-http <port>', 'built-in HTTP page on a virtual port (services.http)', 'off');
  opt(
    '--websocket <[host:]port>',
    'WebSocket link for browsers, each client a port on the ws0 segment; loopback by default (websocket.listen)',
    'off',
  );
  opt('--websocket-token <token>', 'WebSocket clients must give ?token=<token> (websocket.token)', 'none');
  opt(
    '--websocket-address <cidr>',
    "the stack's address on the WebSocket segment, repeatable (websocket.addresses)",
    '198.51.100.1/24, 2001:db8:77::1/64',
  );
  p.addOption(
    new Option('--websocket-medium <medium>', 'what WebSocket messages carry (websocket.medium)')
      .choices(['ethernet', 'ip'])
      .default('ethernet'),
  );
  opt('--websocket-mtu <bytes>', 'IP MTU of the WebSocket segment (websocket.mtu)', '9000');
  opt(
    '--metrics <unix:path|[host:]port>',
    'Prometheus metrics endpoint, loopback only (metrics.listen)',
    'off',
  );
  opt('--pcap <file>', 'capture every link to a pcap file; %l = link name (pcap)', 'off');
  p.addOption(
    new Option('--log-level <level>', 'log level (log.level)')
      .choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
      .default('info'),
  );
  opt('--log-json', 'log one JSON object per line (log.json)', 'false');
  opt(
    '--log-file <path>',
    'append logs to this file instead of stderr; SIGHUP reopens it (log.file)',
    'stderr',
  );
  opt(
    '--drain-timeout <ms>',
    'on SIGINT/SIGTERM, wait this long for connections (shutdown.drainTimeoutMs)',
    '5000',
  );
  opt(
    '--ready-file <path>',
    'write this file (the ready JSON) once every link and listener is up; removed on stop (readyFile)',
    'none',
  );
  opt('--check', 'validate the configuration, print it as JSON and exit', 'false');
  // Repeatable options collect into arrays.
  for (const name of [
    '--peer',
    '--address',
    '--gateway',
    '--dns',
    '--forward',
    '--reverse',
    '--forward-udp',
    '--reverse-udp',
    '--websocket-address',
  ]) {
    const o = p.options.find((x) => x.long === name)!;
    o.argParser(collect);
  }
  return p;
}

function obj(raw: Raw, key: string): Raw {
  const v = raw[key];
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Raw;
  const o: Raw = {};
  raw[key] = o;
  return o;
}

const typeSpecific: Record<string, string[]> = {
  tap: ['offload', 'rxMode'],
  vxlan: [
    'localAddress',
    'localPort',
    'peers',
    'vni',
    'ioThread',
    'learn',
    'maxLearnedMacs',
    'macAgeMs',
    'maxLearnedEndpoints',
  ],
  memory: ['switch'],
  wireguard: ['config', 'wireguard', 'localAddress'],
};

/** links[0], created (or re-typed, keeping the addressing fields) as needed. */
function firstLink(raw: Raw, type?: string): Raw {
  if (!Array.isArray(raw.links)) raw.links = [];
  const links = raw.links as unknown[];
  let l = links[0] as Raw | undefined;
  if (typeof l !== 'object' || l === null) {
    l = { type: type ?? 'memory' };
    links[0] = l;
  }
  if (type !== undefined && l.type !== type) {
    for (const k of typeSpecific[String(l.type)] ?? []) delete l[k];
    if (l.type !== type) delete l.name;
    l.type = type;
  }
  return l;
}

function splitPair(s: string): [string, string] | string {
  const i = s.indexOf('=');
  return i < 0 ? s : [s.slice(0, i), s.slice(i + 1)];
}

/** Writes the flags that were given on the command line into the raw config. */
export function applyFlags(raw: Raw, opts: Raw, given: (key: string) => boolean): Raw {
  const has = (k: string) => given(k) && opts[k] !== undefined;
  if (has('name')) raw.name = opts.name;
  // Link type first, then its fields.
  if (has('tap')) {
    const l = firstLink(raw, 'tap');
    l.name = opts.tap;
  }
  if (has('wireguard')) firstLink(raw, 'wireguard').config = opts.wireguard;
  if (has('link')) firstLink(raw, String(opts.link));
  const linkField = (flag: string, field: string, conv: (v: string) => unknown = (v) => v) => {
    if (has(flag)) firstLink(raw)[field] = conv(String(opts[flag]));
  };
  linkField('linkName', 'name');
  linkField('vxlanBind', 'localAddress');
  linkField('wireguardBind', 'localAddress');
  linkField('vxlanPort', 'localPort', num);
  linkField('vni', 'vni', num);
  linkField('switch', 'switch');
  linkField('mtu', 'mtu', num);
  linkField('mac', 'mac');
  if (has('peer')) firstLink(raw).peers = opts.peer;
  if (has('address')) firstLink(raw).addresses = opts.address;
  if (has('gateway')) firstLink(raw).gateway = opts.gateway;
  if (has('ioThread')) firstLink(raw).ioThread = true;
  if (given('offload')) firstLink(raw).offload = opts.offload !== false;
  if (has('tapRxMode')) firstLink(raw).rxMode = opts.tapRxMode;
  if (has('vxlanLearn')) firstLink(raw).learn = true;
  if (has('slaac')) firstLink(raw).slaac = true;
  if (has('dhcp')) firstLink(raw).dhcp = true;
  if (has('stackThread')) raw.stackThread = true;
  if (has('dns')) raw.dns = opts.dns;
  if (given('bridge')) {
    const b = obj(raw, 'bridge');
    if (opts.bridge === false) b.enabled = false;
    else if (typeof opts.bridge === 'string') {
      b.enabled = true;
      b.path = opts.bridge;
    }
  }
  if (has('socks')) {
    const s = obj(raw, 'socks');
    s.enabled = true;
    s.listen = opts.socks;
  }
  const fw = (flag: string, key: string) => {
    if (!has(flag)) return;
    const list = (opts[flag] as string[]).map((s) => {
      const pair = splitPair(s);
      // An unsplittable value is passed on as is, so validation names the field.
      return typeof pair === 'string' ? pair : { listen: pair[0], connect: pair[1] };
    });
    obj(raw, 'forwards')[key] = list;
  };
  fw('forward', 'hostToVirtual');
  fw('reverse', 'virtualToHost');
  fw('forwardUdp', 'udpHostToVirtual');
  fw('reverseUdp', 'udpVirtualToHost');
  if (has('serveEcho')) obj(raw, 'services').echo = num(String(opts.serveEcho));
  if (has('serveDiscard')) obj(raw, 'services').discard = num(String(opts.serveDiscard));
  if (has('serveHttp')) obj(raw, 'services').http = num(String(opts.serveHttp));
  if (has('serveUdpEcho')) obj(raw, 'services').udpEcho = num(String(opts.serveUdpEcho));
  if (has('websocket')) {
    const w = obj(raw, 'websocket');
    w.enabled = true;
    w.listen = opts.websocket;
  }
  if (has('websocketToken')) obj(raw, 'websocket').token = opts.websocketToken;
  if (has('websocketAddress')) obj(raw, 'websocket').addresses = opts.websocketAddress;
  if (has('websocketMedium')) obj(raw, 'websocket').medium = opts.websocketMedium;
  if (has('websocketMtu')) obj(raw, 'websocket').mtu = num(String(opts.websocketMtu));
  if (has('metrics')) obj(raw, 'metrics').listen = opts.metrics;
  if (has('pcap')) raw.pcap = opts.pcap;
  if (has('readyFile')) raw.readyFile = opts.readyFile;
  if (has('logLevel')) obj(raw, 'log').level = opts.logLevel;
  if (has('logJson')) obj(raw, 'log').json = true;
  if (has('logFile')) obj(raw, 'log').file = opts.logFile;
  if (has('drainTimeout')) obj(raw, 'shutdown').drainTimeoutMs = num(String(opts.drainTimeout));
  if (has('tcpMsl')) obj(raw, 'tcp').mslMs = num(String(opts.tcpMsl));
  return raw;
}

/**
 * Parses argv (without node and the script), loads the config file, applies the flags
 * and validates. Throws CommanderError for --help/--version/bad flags and ConfigError
 * for a bad configuration.
 */
export function parseCli(argv: string[]): CliResult {
  const p = buildProgram();
  p.parse(argv, { from: 'user' });
  const opts = p.opts() as Raw;
  const file = p.getOptionValueSource('config') === 'cli' ? String(opts.config) : undefined;
  const raw = (file ? readConfigFile(file) : {}) as Raw;
  applyFlags(raw, opts, (k) => p.getOptionValueSource(k) === 'cli');
  const config = validateConfig(raw, file ? `${file} + flags` : 'flags');
  return { config, check: opts.check === true, configFile: file };
}
