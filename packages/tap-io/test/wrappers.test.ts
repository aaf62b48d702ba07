import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { describeFrame, IpPipe, MemorySwitch, withFaults, withPcap, withTracer } from '../src/index.js';
import { BROADCAST, frame, hasCommand, ip4, mac, Responder, until } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'tapio-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** An ICMP echo request 192.0.2.1 -> 192.0.2.2 from mac(1) to mac(2). */
function echoRequest(seq: number): Uint8Array {
  const f = new Uint8Array(14 + 20 + 8 + 16);
  f.set(mac(2), 0);
  f.set(mac(1), 6);
  f.set([0x08, 0x00], 12);
  f.set([0x45, 0, 0, 44, 0, 1, 0, 0, 64, 1, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2], 14);
  f.set([8, 0, 0, 0, 0, 1, 0, seq], 34);
  return f;
}

describe('describeFrame', () => {
  it('decodes ARP, IPv4/ICMP, IPv6/UDP, VLAN and unknown ethertypes', () => {
    const arp = new Uint8Array(42);
    arp.set(BROADCAST, 0);
    arp.set(mac(1), 6);
    arp.set([0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1], 12);
    arp.set(mac(1), 22);
    arp.set(ip4('192.0.2.1'), 28);
    arp.set(ip4('192.0.2.2'), 38);
    expect(describeFrame(arp)).toBe(
      '02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff ARP who-has 192.0.2.2 tell 192.0.2.1',
    );
    expect(describeFrame(echoRequest(1))).toBe(
      '02:00:00:00:00:01 > 02:00:00:00:00:02 IPv4 192.0.2.1 > 192.0.2.2 ICMP type 8',
    );
    const v6 = new Uint8Array(14 + 40 + 8);
    v6.set([0x86, 0xdd], 12);
    v6[14] = 0x60;
    v6[20] = 17;
    v6.set([0x20, 0x01, 0x0d, 0xb8], 22);
    v6[37] = 1;
    v6.set([0x20, 0x01, 0x0d, 0xb8], 38);
    v6[53] = 2;
    v6.set([0x30, 0x39, 0x00, 0x35], 54);
    expect(describeFrame(v6)).toContain('IPv6 2001:db8::1 > 2001:db8::2 UDP 12345 > 53');
    const tagged = new Uint8Array(64);
    tagged.set([0x81, 0x00, 0x00, 0x2a, 0x88, 0xb5], 12);
    expect(describeFrame(tagged)).toContain('vlan 42 ethertype 0x88b5');
    expect(describeFrame(new Uint8Array(5))).toBe('truncated (5 B)');
    expect(describeFrame(arp.subarray(0, 20))).toContain('ARP truncated');
  });
});

describe('withTracer', () => {
  it('writes one line per frame in each direction', async () => {
    const sw = new MemorySwitch();
    const lines: string[] = [];
    const a = withTracer(sw.createPort({ name: 'a', mac: mac(1) }), (l) => lines.push(l));
    const b = sw.createPort({ name: 'b', mac: mac(2) });
    const r = new Responder(ip4('192.0.2.2'), mac(2));
    b.onFrames((fs) => {
      for (const f of fs) {
        const ans = r.answer(f);
        if (ans) b.send(ans);
      }
    });
    let rx = 0;
    a.onFrames((fs) => {
      rx += fs.length;
    });
    a.send(echoRequest(1));
    await until(() => rx === 1);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(
      /^\d+\.\d{6} a tx 58 02:00:00:00:00:01 > 02:00:00:00:00:02 IPv4 192.0.2.1 > 192.0.2.2 ICMP type 8$/,
    );
    expect(lines[1]).toMatch(/ a rx 58 .* IPv4 192\.0\.2\.2 > 192\.0\.2\.1 ICMP type 0$/);
  });
});

/** Records in a pcap file (after the 24-byte header), checking each record's lengths. */
function pcapRecords(path: string): number {
  const buf = readFileSync(path);
  expect(buf.readUInt32LE(0)).toBe(0xa1b2c3d4);
  let off = 24;
  let n = 0;
  while (off < buf.length) {
    off += 16 + buf.readUInt32LE(off + 8);
    n++;
  }
  expect(off).toBe(buf.length);
  return n;
}

describe('withPcap', () => {
  it('reopen() after the file was moved away starts a new capture at the same path (SIGHUP rotation)', async () => {
    const path = join(dir, 'rot.pcap');
    const sw = new MemorySwitch();
    const a = withPcap(sw.createPort({ name: 'a', mac: mac(1) }), path) as ReturnType<typeof withPcap> & {
      reopen(): void;
    };
    sw.createPort({ name: 'b', mac: mac(2) });
    for (let i = 0; i < 3; i++) a.send(echoRequest(i));
    renameSync(path, `${path}.1`);
    a.reopen();
    for (let i = 0; i < 2; i++) a.send(echoRequest(i));
    await a.close();
    expect(pcapRecords(`${path}.1`)).toBe(3);
    expect(pcapRecords(path)).toBe(2);
  });

  it('writes a classic pcap that records both directions and survives close', async () => {
    const path = join(dir, 'cap.pcap');
    const sw = new MemorySwitch();
    const a = withPcap(sw.createPort({ name: 'a', mac: mac(1) }), path);
    const b = sw.createPort({ name: 'b', mac: mac(2) });
    const r = new Responder(ip4('192.0.2.2'), mac(2));
    b.onFrames((fs) => {
      for (const f of fs) {
        const ans = r.answer(f);
        if (ans) b.send(ans);
      }
    });
    let rx = 0;
    a.onFrames((fs) => {
      rx += fs.length;
    });
    for (let i = 0; i < 50; i++) a.send(echoRequest(i));
    await until(() => rx === 50);
    await a.close();
    const buf = readFileSync(path);
    expect(buf.readUInt32LE(0)).toBe(0xa1b2c3d4);
    expect(buf.readUInt32LE(20)).toBe(1); // LINKTYPE_ETHERNET
    // walk the records
    let off = 24;
    let n = 0;
    while (off < buf.length) {
      const incl = buf.readUInt32LE(off + 8);
      expect(buf.readUInt32LE(off + 12)).toBe(incl);
      off += 16 + incl;
      n++;
    }
    expect(off).toBe(buf.length);
    expect(n).toBe(100);
    if (!hasCommand('tshark')) {
      console.warn('tshark not installed: skipping the Wireshark read check (apt-get install tshark)');
      return;
    }
    const res = execFileSync('tshark', ['-r', path, '-T', 'fields', '-e', 'icmp.type'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const types = res.trim().split('\n');
    expect(types.filter((t) => t === '8')).toHaveLength(50);
    expect(types.filter((t) => t === '0')).toHaveLength(50);
    // no warnings: tshark exits 0 with nothing on stderr
    const full = execFileSync('sh', ['-c', `tshark -r '${path}' 2>&1 >/dev/null`], { encoding: 'utf8' });
    const warnings = full.split('\n').filter((l) => l.trim() !== '' && !l.includes('Running as user "root"'));
    expect(warnings).toEqual([]);
  });

  it('on an IP-only link (TUN, WireGuard) writes LINKTYPE_RAW that tshark decodes as IPv4 and IPv6', async () => {
    const path = join(dir, 'raw.pcap');
    const pipe = new IpPipe();
    const lines: string[] = [];
    const a = withTracer(withPcap(pipe.a, path), (l) => lines.push(l));
    // The wrapper is IP-only too: a stack on it must not add Ethernet headers.
    expect(a.medium).toBe('ip');
    let rx = 0;
    a.onFrames((fs) => {
      rx += fs.length;
    });
    pipe.b.onFrames((fs) => {
      for (const f of fs) pipe.b.send(f);
    });
    const v4 = echoRequest(7).subarray(14);
    // IPv6, next header 59 (no next header), 2001:db8::1 -> 2001:db8::2
    const v6 = new Uint8Array(40);
    v6.set([0x60, 0, 0, 0, 0, 0, 59, 64]);
    v6.set([0x20, 0x01, 0x0d, 0xb8], 8);
    v6[23] = 1;
    v6.set([0x20, 0x01, 0x0d, 0xb8], 24);
    v6[39] = 2;
    a.send(v4);
    a.send(v6);
    await until(() => rx === 2);
    await a.close();
    // The tracer on top reads bare IP packets too.
    expect(lines[0]).toMatch(/ tx 44 IPv4 192\.0\.2\.1 > 192\.0\.2\.2 ICMP type 8$/);
    expect(lines[1]).toMatch(/ tx 40 IPv6 2001:db8::1 > 2001:db8::2 /);
    const buf = readFileSync(path);
    expect(buf.readUInt32LE(20)).toBe(101); // LINKTYPE_RAW: the record starts at the IP header
    expect(buf.readUInt32LE(24 + 8)).toBe(v4.length);
    if (!hasCommand('tshark')) {
      console.warn('tshark not installed: skipping the Wireshark read check (apt-get install tshark)');
      return;
    }
    const res = execFileSync(
      'tshark',
      ['-r', path, '-T', 'fields', '-e', 'frame.protocols', '-e', 'ip.dst', '-e', 'ipv6.dst'],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    expect(res.trim().split('\n')).toEqual([
      'raw:ip:icmp:data\t192.0.2.2\t',
      'raw:ipv6\t\t2001:db8::2',
      'raw:ip:icmp:data\t192.0.2.2\t',
      'raw:ipv6\t\t2001:db8::2',
    ]);
    const full = execFileSync('sh', ['-c', `tshark -r '${path}' 2>&1 >/dev/null`], { encoding: 'utf8' });
    const warnings = full.split('\n').filter((l) => l.trim() !== '' && !l.includes('Running as user "root"'));
    expect(warnings).toEqual([]);
  });

  it('sendBatch through wrappers records every frame and keeps the batch', async () => {
    const path = join(dir, 'batch.pcap');
    const sw = new MemorySwitch();
    const lines: string[] = [];
    const a = withTracer(withPcap(sw.createPort({ name: 'a', mac: mac(1) }), path), (l) => lines.push(l));
    const b = sw.createPort({ name: 'b', mac: mac(2) });
    let got = 0;
    let batches = 0;
    b.onFrames((fs) => {
      got += fs.length;
      batches++;
    });
    expect(a.sendBatch!(Array.from({ length: 30 }, () => frame(mac(2), mac(1))))).toBe(30);
    await until(() => got === 30);
    expect(batches).toBe(1);
    expect(lines).toHaveLength(30);
    expect(a.stats().pcapRecords).toBe(30);
    await a.close();
  });

  it('stacks with faults: the capture shows what survived', async () => {
    const path = join(dir, 'lossy.pcap');
    const sw = new MemorySwitch();
    const port = sw.createPort({ name: 'a', mac: mac(1) });
    // faults below the capture: the pcap sees every frame the stack sent
    const a = withPcap(withFaults(port, { seed: 1, loss: 0.5, direction: 'tx' }), path);
    const b = sw.createPort({ name: 'b', mac: mac(2) });
    let got = 0;
    b.onFrames((fs) => {
      got += fs.length;
    });
    for (let i = 0; i < 200; i++) a.send(frame(mac(2), mac(1)));
    await new Promise((r) => setTimeout(r, 20));
    await a.close();
    expect(a.stats().pcapRecords).toBe(200);
    expect(got).toBe(200 - a.stats().txFaultLost!);
    expect(got).toBeGreaterThan(50);
    expect(got).toBeLessThan(150);
  });
});
