import { describe, expect, it } from 'vitest';
import { arpRequest, icmpv4EchoRequest } from '../../test/fixtures/kernel-frames.js';
import { EtherType, EthernetFrame, EthernetRepr, macToString, parseMac } from './ethernet.js';

describe('Ethernet II', () => {
  it('reads a kernel ARP broadcast frame', () => {
    const f = EthernetFrame.newChecked(arpRequest) as EthernetFrame;
    expect(macToString(f.dst)).toBe('ff:ff:ff:ff:ff:ff');
    expect(macToString(f.src)).toBe('02:00:00:00:00:0a');
    expect(f.ethertype).toBe(EtherType.Arp);
    expect(f.isBroadcast()).toBe(true);
    expect(f.isMulticast()).toBe(true);
    expect(f.payload.length).toBe(28);
  });
  it('parse + emit reproduces the header bytes', () => {
    const f = EthernetFrame.newChecked(icmpv4EchoRequest) as EthernetFrame;
    const r = EthernetRepr.parse(f);
    expect(r.ethertype).toBe(EtherType.Ipv4);
    const out = new Uint8Array(r.bufferLen());
    r.emit(out);
    expect(out).toEqual(icmpv4EchoRequest.subarray(0, 14));
  });
  it('refuses a truncated header', () => {
    expect(EthernetFrame.newChecked(arpRequest.subarray(0, 13))).toBe('truncated');
    expect(EthernetFrame.newChecked(new Uint8Array(0))).toBe('truncated');
  });
  it('recognises 802.1Q and 802.1ad tags', () => {
    const f = arpRequest.slice();
    f[12] = 0x81;
    f[13] = 0x00;
    expect((EthernetFrame.newChecked(f) as EthernetFrame).isVlanTagged()).toBe(true);
    f[12] = 0x88;
    f[13] = 0xa8;
    expect((EthernetFrame.newChecked(f) as EthernetFrame).isVlanTagged()).toBe(true);
    expect((EthernetFrame.newChecked(arpRequest) as EthernetFrame).isVlanTagged()).toBe(false);
  });
  it('parses MAC text and rejects bad text', () => {
    expect(parseMac('02:00:00:AB:cd:0f')).toEqual(new Uint8Array([2, 0, 0, 0xab, 0xcd, 0x0f]));
    expect(() => parseMac('02:00:00:00:00')).toThrow(TypeError);
    expect(() => parseMac('02:00:00:00:00:zz')).toThrow(TypeError);
  });
});
