/**
 * Links for the tests and benchmarks of packages above stack-driver (socket-bridge, the
 * apps), so that they need no link package of their own (ARCHITECTURE.md's arrows: they
 * may import stack-driver, not tap-io): an in-memory switch, and VXLAN over loopback with
 * one end for a stack on a worker thread. `@tapstack/stack-driver/testing`.
 */
import { MemorySwitch, type MemorySwitchOptions, openVxlan, type VxlanLink } from '@tapstack/tap-io';
import type { WorkerLinkSpec } from './io-worker.js';

export { MemorySwitch, type MemorySwitchOptions };

export interface LoopbackEnd {
  name: string;
  mac: string;
}

/**
 * Two VXLAN ends over 127.0.0.1, on UDP ports `port` and `port + 1`, each the other's only
 * peer: the first opened here, the second as the spec a worker opens (`StackThread`'s
 * links, the I/O worker).
 */
export async function loopbackVxlanPair(
  port: number,
  here: LoopbackEnd,
  there: LoopbackEnd,
): Promise<{ link: VxlanLink; spec: WorkerLinkSpec }> {
  const link = await openVxlan({
    ...here,
    address: '127.0.0.1',
    port,
    peers: [{ address: '127.0.0.1', port: port + 1 }],
  });
  const spec: WorkerLinkSpec = {
    module: '@tapstack/tap-io',
    export: 'openVxlan',
    args: [{ ...there, address: '127.0.0.1', port: port + 1, peers: [{ address: '127.0.0.1', port }] }],
  };
  return { link, spec };
}
