/**
 * BatchUdpSocket (the addon's recvmmsg/sendmmsg socket without VXLAN framing, what the
 * WireGuard device runs on): datagrams both ways with their senders, a turn's sends in one
 * sendmmsg, a dual-stack socket seeing IPv4 senders as ::ffff:a.b.c.d, and the capped
 * destination table. Loopback only.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type BatchUdpSocket, batchUdpAvailable, openBatchUdp } from '../src/index.js';
import { until } from './helpers.js';

const open: BatchUdpSocket[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});

function sock(address: string, o: { maxEndpoints?: number } = {}) {
  const got: Array<{ text: string; address: string; port: number }> = [];
  // Bursts as onBurstEnd saw them: the datagrams since the previous one, views still readable.
  const bursts: string[][] = [];
  let views: Uint8Array[] = [];
  const s = openBatchUdp({
    address,
    ...o,
    onDatagram: (d, a, p) => {
      got.push({ text: Buffer.from(d).toString(), address: a, port: p });
      views.push(d);
    },
    onBurstEnd: () => {
      bursts.push(views.map((v) => Buffer.from(v).toString()));
      views = [];
    },
  });
  if (!s) throw new Error('addon not available');
  open.push(s);
  return { s, got, bursts };
}

describe.skipIf(!batchUdpAvailable())('BatchUdpSocket', () => {
  it('carries datagrams both ways with their senders; one turn of sends is one sendmmsg', async () => {
    const a = sock('127.0.0.1');
    const b = sock('127.0.0.1');
    for (let i = 0; i < 10; i++)
      expect(a.s.send(Buffer.from(`m${i}`), '127.0.0.1', b.s.address().port)).toBe(true);
    await until(() => b.got.length === 10);
    expect(b.got.map((g) => g.text)).toEqual(Array.from({ length: 10 }, (_, i) => `m${i}`));
    await until(() => b.bursts.flat().length === 10);
    expect(b.bursts.flat()).toEqual(b.got.map((g) => g.text));
    expect(b.got[0]).toMatchObject({ address: '127.0.0.1', port: a.s.address().port });
    expect(a.s.stats()).toMatchObject({ txDatagrams: 10, txCalls: 1, txErrors: 0 });
    b.s.send(Buffer.from('back'), b.got[0]!.address, b.got[0]!.port);
    await until(() => a.got.length === 1);
    expect(a.got[0]?.text).toBe('back');
    expect(b.s.stats().rxDatagrams).toBe(10);
  });

  it('bound to :: it is dual-stack: an IPv4 sender is seen as ::ffff:127.0.0.1 and answered there', async () => {
    const d = sock('::');
    const v4 = sock('127.0.0.1');
    v4.s.send(Buffer.from('hi'), '127.0.0.1', d.s.address().port);
    await until(() => d.got.length === 1);
    expect(d.got[0]).toMatchObject({ text: 'hi', address: '::ffff:127.0.0.1', port: v4.s.address().port });
    d.s.send(Buffer.from('yo'), '127.0.0.1', v4.s.address().port); // plain IPv4 is mapped too
    await until(() => v4.got.length === 1);
    expect(v4.got[0]?.text).toBe('yo');
  });

  it('caps the destination table: sends to a new address past the cap are dropped and counted', async () => {
    const a = sock('127.0.0.1', { maxEndpoints: 2 });
    const b = sock('127.0.0.1');
    const port = b.s.address().port;
    expect(a.s.send(Buffer.from('1'), '127.0.0.1', port)).toBe(true);
    expect(a.s.send(Buffer.from('2'), '127.0.0.2', port)).toBe(true);
    expect(a.s.send(Buffer.from('3'), '127.0.0.3', port)).toBe(false);
    expect(a.s.send(Buffer.from('4'), '127.0.0.1', port)).toBe(true); // a known one still goes
    await until(() => b.got.length === 2);
    expect(b.got.map((g) => g.text)).toEqual(['1', '4']);
    expect(a.s.stats().txNoSlot).toBe(1);
  });
});
