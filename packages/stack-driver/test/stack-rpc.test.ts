/**
 * The socket API is declared once (stack-core's SocketCalls / SOCKET_CALLS); the stack
 * thread's call channel numbers its operations from that list and every host offers it.
 */
import { SOCKET_CALLS, Stack } from '@tapstack/stack-core';
import { describe, expect, it } from 'vitest';
import { sipHash24 } from '../src/keyed-prf.js';
import { DriverLoop } from '../src/loop.js';
import { Op } from '../src/stack-rpc.js';

describe('socket calls declared once', () => {
  it('numbers the channel operations by SOCKET_CALLS, as before (tcpOpen 1 … socketError 21), each once', () => {
    SOCKET_CALLS.forEach((name, i) => {
      expect(Op[name]).toBe(i + 1);
    });
    expect(Op.tcpOpen).toBe(1);
    expect(Op.tcpRecv).toBe(8);
    expect(Op.socketError).toBe(21);
    expect(Op.watch).toBe(22);
    expect(Op.linkStatus).toBe(26);
    const codes = Object.values(Op);
    expect(new Set(codes).size).toBe(codes.length);
  });

  it('the stack and the driver loop offer every socket call', () => {
    const stack = new Stack({ random: (b) => b.fill(1), keyedPrf: sipHash24 });
    const loop = new DriverLoop(stack);
    for (const name of SOCKET_CALLS) {
      expect(typeof stack[name]).toBe('function');
      expect(typeof loop[name]).toBe('function');
    }
  });
});
