import { describe, expect, it } from 'vitest';
import { arpReply, arpRequest } from '../../test/fixtures/kernel-frames.js';
import { ArpOperation, ArpPacket, ArpRepr } from './arp.js';
import { macToString } from './ethernet.js';

describe('ARP (RFC 826)', () => {
  it('parses the kernel request and reply', () => {
    const req = ArpRepr.parse(ArpPacket.newChecked(arpRequest.subarray(14)) as ArpPacket) as ArpRepr;
    expect(req.operation).toBe(ArpOperation.Request);
    expect(macToString(req.senderHardwareAddr)).toBe('02:00:00:00:00:0a');
    expect(req.senderProtocolAddr.toString()).toBe('192.0.2.1');
    expect(req.targetProtocolAddr.toString()).toBe('192.0.2.2');
    const rep = ArpRepr.parse(ArpPacket.newChecked(arpReply.subarray(14)) as ArpPacket) as ArpRepr;
    expect(rep.operation).toBe(ArpOperation.Reply);
    expect(macToString(rep.senderHardwareAddr)).toBe('02:00:00:00:00:0b');
    expect(macToString(rep.targetHardwareAddr)).toBe('02:00:00:00:00:0a');
  });
  it('emit reproduces the kernel bytes exactly', () => {
    for (const frame of [arpRequest, arpReply]) {
      const r = ArpRepr.parse(ArpPacket.newChecked(frame.subarray(14)) as ArpPacket) as ArpRepr;
      const out = new Uint8Array(r.bufferLen());
      r.emit(out);
      expect(out).toEqual(frame.subarray(14));
    }
  });
  it('refuses truncated packets, other hardware/protocol types and unknown operations', () => {
    expect(ArpPacket.newChecked(arpRequest.subarray(14, 41))).toBe('truncated');
    const p = arpRequest.slice(14);
    p[1] = 6; // IEEE 802 hardware type
    expect(ArpPacket.newChecked(p)).toBe('unsupported');
    const q = arpRequest.slice(14);
    q[5] = 16; // protocol address length
    expect(ArpPacket.newChecked(q)).toBe('unsupported');
    const r = arpRequest.slice(14);
    r[7] = 3; // RARP request
    expect(ArpRepr.parse(ArpPacket.newChecked(r) as ArpPacket)).toBe('unsupported');
  });
});
