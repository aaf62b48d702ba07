/**
 * Config validation and flag overrides: bad values are reported by their field path,
 * flags override the file, and --help lists every option with its default.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildProgram, parseCli } from '../src/cli.js';
import { ConfigError, readConfigFile, validateConfig } from '../src/config.js';

const dir = mkdtempSync(join(tmpdir(), 'tapstackd-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

/** The issues of a config that must fail. */
function issues(raw: unknown): { path: string; message: string }[] {
  try {
    validateConfig(raw, 'test');
  } catch (e) {
    if (ConfigError.isInstance(e)) return e.issues;
    throw e;
  }
  throw new Error('expected the config to be rejected');
}

describe('config validation names the bad field', () => {
  it('refuses interface addresses that cannot be host addresses (issue 14)', () => {
    const bad: [string, RegExp][] = [
      ['0.0.0.0/24', /unspecified/],
      ['192.0.2.0/24', /network address of 192\.0\.2\.0\/24/],
      ['192.0.2.255/24', /broadcast address of 192\.0\.2\.255\/24/],
      ['224.0.0.1/24', /multicast/],
      ['255.255.255.255/32', /limited broadcast/],
      ['127.0.0.1/8', /loopback/],
      ['::/64', /unspecified/],
      ['ff02::1/64', /multicast/],
      ['::1/128', /loopback/],
    ];
    for (const [a, why] of bad) {
      const is = issues({ links: [{ type: 'tap', addresses: ['198.51.100.1/24', a] }] });
      expect(is, a).toHaveLength(1);
      expect(is[0]!.path).toBe('links[0].addresses[1]');
      expect(is[0]!.message).toMatch(why);
    }
    expect(issues({ links: [{ type: 'tap', mac: '00:00:00:00:00:00' }] })[0]).toMatchObject({
      path: 'links[0].mac',
      message: expect.stringMatching(/all-zero/),
    });
    // Host addresses, /31 and /32 ends, and loopback on an in-process switch are fine.
    validateConfig({
      links: [
        { type: 'tap', addresses: ['192.0.2.1/24', '198.51.100.0/31', '203.0.113.255/32', '2001:db8::/64'] },
        { type: 'memory', addresses: ['127.0.0.2/8'] },
      ],
    });
  });

  it('accepts an empty config with the documented defaults', () => {
    const c = validateConfig({});
    expect(c.links).toHaveLength(1);
    expect(c.links[0]!.type).toBe('memory');
    expect(c.log.level).toBe('info');
    expect(c.shutdown.drainTimeoutMs).toBe(5000);
    expect(c.bridge.enabled).toBe(true);
    expect(c.tcp.mslMs).toBe(30_000);
  });

  it('a TCP MSL out of range, and --tcp-msl reaching tcp.mslMs', () => {
    expect(issues({ tcp: { mslMs: 5 } }).map((i) => i.path)).toEqual(['tcp.mslMs']);
    expect(issues({ tcp: { msl: 1000 } }).map((i) => i.path)).toEqual(['tcp.msl']); // misspelled
    expect(parseCli(['--tcp-msl', '2000']).config.tcp.mslMs).toBe(2000);
  });

  it('leaves a VXLAN MTU to the link unless one is set (tap-io picks 65485 on loopback)', () => {
    const c = validateConfig({ links: [{ type: 'vxlan' }, { type: 'vxlan', name: 'vx1', mtu: 1450 }] });
    expect(c.links[0]!.mtu).toBeUndefined();
    expect(c.links[1]!.mtu).toBe(1450);
    expect(validateConfig({ links: [{ type: 'memory' }] }).links[0]!.mtu).toBe(1500);
    expect(parseCli(['--link', 'vxlan', '--mtu', '9000']).config.links[0]!.mtu).toBe(9000);
  });

  it('tap txQueueLen: absent by default (tap-io decides), an integer from 0 when set; only for tap links', () => {
    const tap = (c: ReturnType<typeof validateConfig>) => c.links[0] as { txQueueLen?: number };
    expect(tap(validateConfig({ links: [{ type: 'tap' }] })).txQueueLen).toBeUndefined();
    expect(tap(validateConfig({ links: [{ type: 'tap', txQueueLen: 0 }] })).txQueueLen).toBe(0);
    expect(tap(validateConfig({ links: [{ type: 'tap', txQueueLen: 50000 }] })).txQueueLen).toBe(50000);
    expect(issues({ links: [{ type: 'tap', txQueueLen: -1 }] }).map((i) => i.path)).toEqual([
      'links[0].txQueueLen',
    ]);
    expect(issues({ links: [{ type: 'tap', txQueueLen: 1.5 }] }).map((i) => i.path)).toEqual([
      'links[0].txQueueLen',
    ]);
    expect(issues({ links: [{ type: 'vxlan', txQueueLen: 100 }] }).length).toBeGreaterThan(0);
  });

  it('tap offload: on by default, --no-offload or links[].offload false turns it off; only for tap links', () => {
    const tap = (c: ReturnType<typeof validateConfig>) => c.links[0] as { offload?: boolean };
    expect(tap(validateConfig({ links: [{ type: 'tap' }] })).offload).toBe(true);
    expect(tap(validateConfig({ links: [{ type: 'tap', offload: false }] })).offload).toBe(false);
    expect(tap(parseCli(['--tap', 'tsx0']).config).offload).toBe(true);
    expect(tap(parseCli(['--tap', 'tsx0', '--offload']).config).offload).toBe(true);
    expect(tap(parseCli(['--tap', 'tsx0', '--no-offload']).config).offload).toBe(false);
    expect(issues({ links: [{ type: 'vxlan', offload: true }] }).map((i) => i.path)).toEqual([
      'links[0].offload',
    ]);
  });

  it('tap rxMode: loop by default, --tap-rx-mode or links[].rxMode picks thread; others refused', () => {
    const tap = (c: ReturnType<typeof validateConfig>) => c.links[0] as { rxMode?: string };
    expect(tap(validateConfig({ links: [{ type: 'tap' }] })).rxMode).toBe('loop');
    expect(tap(validateConfig({ links: [{ type: 'tap', rxMode: 'thread' }] })).rxMode).toBe('thread');
    expect(tap(parseCli(['--tap', 'tsx0', '--tap-rx-mode', 'thread']).config).rxMode).toBe('thread');
    expect(issues({ links: [{ type: 'tap', rxMode: 'spin' }] }).map((i) => i.path)).toEqual([
      'links[0].rxMode',
    ]);
    expect(issues({ links: [{ type: 'vxlan', rxMode: 'loop' }] }).map((i) => i.path)).toEqual([
      'links[0].rxMode',
    ]);
  });

  it('an MTU below 576 on the second link', () => {
    const is = issues({ links: [{ type: 'memory' }, { type: 'vxlan', mtu: 100 }] });
    expect(is).toHaveLength(1);
    expect(is[0]!.path).toBe('links[1].mtu');
    expect(is[0]!.message).toMatch(/576/);
  });

  it('an unknown link type', () => {
    const is = issues({ links: [{ type: 'wifi' }] });
    expect(is[0]!.path).toBe('links[0].type');
    expect(is[0]!.message).toMatch(/tap.*vxlan.*memory/);
  });

  it('an address without a prefix length', () => {
    const is = issues({ links: [{ type: 'vxlan', addresses: ['192.0.2.1/24', '192.0.2.7'] }] });
    expect(is[0]!.path).toBe('links[0].addresses[1]');
    expect(is[0]!.message).toMatch(/prefix length/);
  });

  it('a misspelled field', () => {
    const is = issues({ links: [{ type: 'vxlan', localPrt: 1 }] });
    expect(is[0]!.path).toBe('links[0].localPrt');
    expect(is[0]!.message).toMatch(/unknown field/);
  });

  it('a malformed peer and a port out of range', () => {
    const is = issues({ links: [{ type: 'vxlan', localPort: 70000, peers: ['127.0.0.1'] }] });
    const paths = is.map((i) => i.path).sort();
    expect(paths).toEqual(['links[0].localPort', 'links[0].peers[0]']);
  });

  it('a metrics endpoint that is not loopback', () => {
    const is = issues({ metrics: { listen: '0.0.0.0:9100' } });
    expect(is[0]!.path).toBe('metrics.listen');
    expect(is[0]!.message).toMatch(/loopback/);
  });

  it('a host forward listening off loopback', () => {
    const is = issues({ forwards: { hostToVirtual: [{ listen: '0.0.0.0:8080', connect: '192.0.2.2:80' }] } });
    expect(is[0]!.path).toBe('forwards.hostToVirtual[0].listen');
  });

  it('a wrong type for a log level', () => {
    const is = issues({ log: { level: 'loud' } });
    expect(is[0]!.path).toBe('log.level');
  });

  it('a multicast MAC', () => {
    const is = issues({ links: [{ type: 'memory', mac: '01:00:5e:00:00:01' }] });
    expect(is[0]!.path).toBe('links[0].mac');
  });

  it('the error message lists every bad field', () => {
    let msg = '';
    try {
      validateConfig({ name: '', links: [{ type: 'tap', name: 'this-name-is-too-long' }] }, 'x.yaml');
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toContain('x.yaml');
    expect(msg).toContain('  name:');
    expect(msg).toContain('  links[0].name:');
  });
});

describe('config files', () => {
  it('reads YAML and JSON', () => {
    const y = file(
      'a.yaml',
      'name: a\nlinks:\n  - type: vxlan\n    localPort: 0\n    peers: ["127.0.0.1:4790"]\n',
    );
    const j = file('a.json', JSON.stringify({ name: 'b', services: { echo: 7 } }));
    expect(validateConfig(readConfigFile(y)).links[0]).toMatchObject({ type: 'vxlan', localPort: 0 });
    expect(validateConfig(readConfigFile(j)).services.echo).toBe(7);
  });

  it('reports unparseable files and missing files as errors, not crashes', () => {
    const bad = file('bad.json', '{"name": ');
    expect(() => readConfigFile(bad)).toThrow(/cannot parse/);
    expect(() => readConfigFile(join(dir, 'missing.yaml'))).toThrow(/cannot read/);
    const list = file('list.yaml', '- 1\n- 2\n');
    expect(() => readConfigFile(list)).toThrow(/mapping/);
  });
});

describe('flags override the file', () => {
  const cfg = file(
    'base.yaml',
    [
      'name: from-file',
      'links:',
      '  - type: vxlan',
      '    localPort: 5000',
      '    peers: ["127.0.0.1:5001"]',
      '    addresses: ["192.0.2.1/24"]',
      'log: { level: warn }',
    ].join('\n'),
  );

  it('keeps file values that no flag touches and replaces the ones given', () => {
    const { config } = parseCli(['-c', cfg, '--vxlan-port', '6000', '--log-level', 'debug']);
    expect(config.name).toBe('from-file');
    const l = config.links[0]!;
    expect(l.type === 'vxlan' && l.localPort).toBe(6000);
    expect(l.type === 'vxlan' && l.peers).toEqual([{ host: '127.0.0.1', port: 5001 }]);
    expect(l.addresses).toEqual(['192.0.2.1/24']);
    expect(config.log.level).toBe('debug');
  });

  it('repeatable flags replace the list; forwards parse listen=connect', () => {
    const { config } = parseCli([
      '-c',
      cfg,
      '--address',
      '192.0.2.9/24',
      '--address',
      '2001:db8::9/64',
      '--forward',
      '8080=192.0.2.2:80',
      '--reverse',
      '80=127.0.0.1:3000',
    ]);
    expect(config.links[0]!.addresses).toEqual(['192.0.2.9/24', '2001:db8::9/64']);
    expect(config.forwards.hostToVirtual).toEqual([
      { listen: { host: '127.0.0.1', port: 8080 }, connect: { host: '192.0.2.2', port: 80 } },
    ]);
    expect(config.forwards.virtualToHost[0]!.connect).toEqual({ host: '127.0.0.1', port: 3000 });
  });

  it('changing the link type drops the old type-specific fields', () => {
    const { config } = parseCli(['-c', cfg, '--link', 'memory', '--switch', 's1']);
    expect(config.links[0]).toMatchObject({ type: 'memory', switch: 's1', addresses: ['192.0.2.1/24'] });
  });

  it('a bad flag value is reported by its config path', () => {
    let err: unknown;
    try {
      parseCli(['-c', cfg, '--mtu', 'big', '--metrics', '8.8.8.8:9']);
    } catch (e) {
      err = e;
    }
    expect(ConfigError.isInstance(err)).toBe(true);
    const paths = (err as ConfigError).issues.map((i) => i.path).sort();
    expect(paths).toEqual(['links[0].mtu', 'metrics.listen']);
  });

  it('--no-bridge and --bridge', () => {
    expect(parseCli(['--no-bridge']).config.bridge.enabled).toBe(false);
    expect(parseCli(['--bridge', '/tmp/x.sock']).config.bridge).toEqual({
      enabled: true,
      path: '/tmp/x.sock',
    });
  });
});

describe('--help', () => {
  it('lists every option with its default', () => {
    const p = buildProgram();
    const help = p.helpInformation();
    for (const o of p.options) {
      expect(help).toContain(o.long!);
      if (o.long === '--help' || o.long === '--version') continue;
      const start = help.indexOf(o.flags);
      const next = help.indexOf('\n  -', start + 1);
      const text = help.slice(start, next < 0 ? undefined : next);
      expect(text, `${o.long} shows a default`).toMatch(/default:/);
    }
  });
});

describe('tapstackd with a bad config', () => {
  it('exits 2 and names the bad fields on stderr, without starting anything', () => {
    const bad = file(
      'bad.yaml',
      'links:\n  - type: vxlan\n    mtu: 9\n    peers: [nowhere]\nlog: { level: chatty }\n',
    );
    const bin = join(import.meta.dirname, '../bin/tapstackd.mjs');
    const r = spawnSync(process.execPath, [bin, '-c', bad, '--bridge', join(dir, 'never.sock')], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`invalid configuration (${bad} + flags)`);
    expect(r.stderr).toMatch(/^ {2}links\[0\]\.mtu: /m);
    expect(r.stderr).toMatch(/^ {2}links\[0\]\.peers\[0\]: expected a peer as host:port/m);
    expect(r.stderr).toMatch(/^ {2}log\.level: /m);
    expect(existsSync(join(dir, 'never.sock'))).toBe(false);
  });

  it('--check prints the effective config (file + flags) as JSON and exits 0', () => {
    const cfgFile = file(
      'check.yaml',
      'name: from-file\nlinks: [{ type: vxlan, peers: ["127.0.0.1:5001"] }]\n',
    );
    const bin = join(import.meta.dirname, '../bin/tapstackd.mjs');
    const r = spawnSync(process.execPath, [bin, '-c', cfgFile, '--vxlan-port', '0', '--check'], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const c = JSON.parse(r.stdout);
    expect(c.name).toBe('from-file');
    expect(c.links[0]).toMatchObject({
      type: 'vxlan',
      localPort: 0,
      peers: [{ host: '127.0.0.1', port: 5001 }],
    });
  });

  it('--help exits 0 and prints the options', () => {
    const bin = join(import.meta.dirname, '../bin/tapstackd.mjs');
    const r = spawnSync(process.execPath, [bin, '--help'], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Usage: tapstackd [options]');
    expect(r.stdout).toContain('--metrics <unix:path|[host:]port>');
  });
});
