/** The example configs and the README's YAML stay valid (docs that do not rot). */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { parseCli } from '../src/cli.js';
import { readConfigFile, validateConfig } from '../src/config.js';

const root = join(import.meta.dirname, '..');

describe('example configs', () => {
  const files = readdirSync(join(root, 'examples')).filter((f) => /\.(ya?ml|json)$/.test(f));
  it('there are some', () => {
    expect(files.length).toBeGreaterThanOrEqual(3);
  });
  it.each(files)('%s is valid', (f) => {
    const c = validateConfig(readConfigFile(join(root, 'examples', f)), f);
    expect(c.links.length).toBeGreaterThan(0);
  });
  it('the README YAML block is valid', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const blocks = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(blocks.length).toBeGreaterThan(0);
    for (const b of blocks) expect(validateConfig(parseYaml(b), 'README').name).toBeTruthy();
  });
});

describe('the example systemd unit', () => {
  const unit = readFileSync(join(root, 'examples', 'tapstackd.service'), 'utf8');
  const key = (k: string) => [...unit.matchAll(new RegExp(`^${k}=(.*)$`, 'gm'))].map((m) => m[1]!);
  it('waits for READY=1 from the main PID, reloads with SIGHUP, does not restart on exit 2', () => {
    expect(key('Type')).toEqual(['notify']);
    expect(key('NotifyAccess')).toEqual(['main']);
    expect(key('ExecReload')).toEqual(['/bin/kill -HUP $MAINPID']);
    expect(key('RestartPreventExitStatus')).toEqual(['2']);
    expect(key('RuntimeDirectoryMode')).toEqual(['0700']);
  });
  it('its ExecStart flags parse (with the example config in place of /etc/tapstack/node.yaml)', () => {
    const [exec] = key('ExecStart');
    const argv = exec!.split(/\s+/).slice(1);
    expect(argv[0]).toBe('-c');
    argv[1] = join(root, 'examples', 'node-a.yaml');
    const r = parseCli(argv);
    expect(r.config.bridge.path).toBe('/run/tapstack/bridge.sock');
    expect(r.config.metrics.listen).toEqual({ kind: 'unix', path: '/run/tapstack/metrics.sock' });
  });
});
