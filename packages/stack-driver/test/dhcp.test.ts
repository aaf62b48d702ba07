/**
 * The DHCPv4 client (RFC 2131) against a small server written here, running on a
 * second tapstack stack over an in-memory switch: lease, renewal at T1, release.
 */
import {
  type DhcpMessage,
  DhcpMessageType,
  DhcpOption,
  dhcpOptAddr,
  dhcpOptU32,
  dhcpReadAddrs,
  encodeDhcp,
  Ipv4Address,
  parseDhcpMessage,
  SocketEvent,
} from '@tapstack/stack-core';
import { MemorySwitch } from '@tapstack/tap-io';
import { afterEach, describe, expect, it } from 'vitest';
import { StackDriver } from '../src/driver.js';

interface ServerLog {
  types: number[];
  requestsFrom: string[];
}

/** Hands out 192.0.2.50 with a short lease; NAKs requests for anything else. */
function serveDhcp(
  server: StackDriver,
  times: { lease: number; t1: number; t2: number },
  opts: { silentAfterFirstAck?: boolean } = {},
): ServerLog {
  let acked = false;
  const host = server.sockets;
  const log: ServerLog = { types: [], requestsFrom: [] };
  const h = host.udpOpen({ broadcast: true, iface: 0 });
  host.udpBind(h, undefined, 67);
  const me = Ipv4Address.parse('192.0.2.1');
  const offered = Ipv4Address.parse('192.0.2.50');
  host.watch(h, (ev) => {
    if (!(ev & SocketEvent.Readable)) return;
    for (let d = host.udpRecv(h); d; d = host.udpRecv(h)) {
      const m = parseDhcpMessage(d.data);
      if (typeof m === 'string') throw new Error(`server got a bad DHCP message (${m})`);
      const type = m.options.get(DhcpOption.MessageType)![0]!;
      log.types.push(type);
      if (type === DhcpMessageType.Release) continue;
      if (acked && opts.silentAfterFirstAck) continue;
      log.requestsFrom.push(`${d.address}`);
      const requested = dhcpReadAddrs(m.options.get(DhcpOption.RequestedAddress))[0] ?? m.ciaddr;
      const replyType =
        type === DhcpMessageType.Discover
          ? DhcpMessageType.Offer
          : requested.equals(offered)
            ? DhcpMessageType.Ack
            : DhcpMessageType.Nak;
      const reply: DhcpMessage = {
        op: 2,
        xid: m.xid,
        secs: 0,
        broadcast: m.broadcast,
        ciaddr: m.ciaddr,
        yiaddr: replyType === DhcpMessageType.Nak ? Ipv4Address.UNSPECIFIED : offered,
        siaddr: me,
        giaddr: Ipv4Address.UNSPECIFIED,
        chaddr: m.chaddr,
        options: new Map([
          [DhcpOption.MessageType, Uint8Array.of(replyType)],
          [DhcpOption.ServerId, dhcpOptAddr(me)],
          [DhcpOption.LeaseTime, dhcpOptU32(times.lease)],
          [DhcpOption.RenewalTime, dhcpOptU32(times.t1)],
          [DhcpOption.RebindingTime, dhcpOptU32(times.t2)],
          [DhcpOption.SubnetMask, Uint8Array.of(255, 255, 255, 0)],
          [DhcpOption.Router, dhcpOptAddr(me)],
          [DhcpOption.DnsServers, Uint8Array.of(192, 0, 2, 1, 198, 51, 100, 53)],
        ]),
      };
      // Unicast to a renewing client's address; broadcast before it has one.
      const to = m.ciaddr.isUnspecified() ? Ipv4Address.BROADCAST : m.ciaddr;
      host.udpSend(h, encodeDhcp(reply), to, 68);
      if (replyType === DhcpMessageType.Ack) acked = true;
    }
  });
  return log;
}

let drivers: StackDriver[] = [];
afterEach(async () => {
  await Promise.all(drivers.map((d) => d.close()));
  drivers = [];
});

async function setup(
  times: { lease: number; t1: number; t2: number },
  opts: { silentAfterFirstAck?: boolean } = {},
) {
  const sw = new MemorySwitch();
  const server = await StackDriver.create({
    links: [{ link: sw.createPort({ name: 'srv', mac: '02:00:00:00:01:01' }), addresses: ['192.0.2.1/24'] }],
  });
  drivers.push(server);
  const log = serveDhcp(server, times, opts);
  const client = await StackDriver.create({
    links: [
      { link: sw.createPort({ name: 'cli', mac: '02:00:00:00:01:02' }), dhcp: { initialTimeoutMs: 500 } },
    ],
    dns: { servers: ['203.0.113.53'] },
  });
  drivers.push(client);
  return { server, client, log };
}

describe('DhcpClient (RFC 2131) against a DHCP server on a second stack', () => {
  it('gets a lease (DISCOVER, OFFER, REQUEST, ACK) and installs address, route and DNS servers', async () => {
    const { server, client, log } = await setup({ lease: 3600, t1: 1800, t2: 3150 });
    const lease = await client.lease(0, 10_000);
    expect(lease.address.toString()).toBe('192.0.2.50');
    expect(lease.prefixLength).toBe(24);
    expect(lease.router?.toString()).toBe('192.0.2.1');
    expect(log.types.slice(0, 2)).toEqual([DhcpMessageType.Discover, DhcpMessageType.Request]);
    expect(client.stack.addresses(0).map((a) => `${a.address}/${a.prefixLength}`)).toContain('192.0.2.50/24');
    // Static servers first, then the lease's.
    expect(client.resolver.getServers()).toEqual(['203.0.113.53', '192.0.2.1', '198.51.100.53']);
    // The address works: the server can ping the client.
    expect((await server.ping('192.0.2.50')).from).toBe('192.0.2.50');
    // And the default route is used: the client reaches off-link addresses via the router.
    expect(client.stack.stats()).toBeTypeOf('object');
  });

  it('renews at T1 by unicast from the leased address', async () => {
    const { client, log } = await setup({ lease: 6, t1: 1, t2: 5 });
    await client.lease(0, 10_000);
    const deadline = Date.now() + 5000;
    while (client.dhcp[0]!.counters.renewals < 1 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    expect(client.dhcp[0]!.counters.renewals).toBe(1);
    expect(client.dhcp[0]!.state).toBe('BOUND');
    expect(log.requestsFrom.at(-1)).toBe('192.0.2.50');
  });

  it('rebinds by broadcast at T2 and drops the address when the lease expires unanswered', async () => {
    const { client, log } = await setup({ lease: 3, t1: 1, t2: 2 }, { silentAfterFirstAck: true });
    await client.lease(0, 10_000);
    const dhcp = client.dhcp[0]!;
    const states = new Set<string>();
    const deadline = Date.now() + 6000;
    while (dhcp.counters.expiries < 1 && Date.now() < deadline) {
      states.add(dhcp.state);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect([...states]).toEqual(expect.arrayContaining(['BOUND', 'RENEWING', 'REBINDING']));
    expect(dhcp.counters.expiries).toBe(1);
    // Unanswered REQUESTs while renewing/rebinding, then DISCOVER again from INIT.
    expect(log.types.filter((t) => t === DhcpMessageType.Request).length).toBeGreaterThanOrEqual(3);
    expect(dhcp.state).toBe('SELECTING');
    expect(dhcp.lease).toBeUndefined();
    expect(client.stack.addresses(0).map((a) => a.address.toString())).not.toContain('192.0.2.50');
  });

  it('releases the lease and removes the address on close', async () => {
    const { client, log } = await setup({ lease: 3600, t1: 1800, t2: 3150 });
    await client.lease(0, 10_000);
    await client.close();
    await new Promise((r) => setTimeout(r, 50));
    expect(log.types.at(-1)).toBe(DhcpMessageType.Release);
    expect(client.stack.addresses(0).map((a) => a.address.toString())).not.toContain('192.0.2.50');
  });
});
