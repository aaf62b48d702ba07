/**
 * The keyed PRF tests and benchmarks give a stack (`StackConfig.keyedPrf`): SipHash-2-4
 * from the `siphash24` library, as stack-driver and the browser package pass it.
 */
/// <reference path="./siphash24.d.ts" />
import siphash24 from 'siphash24';

export const sipHash24 = (message: Uint8Array, key: Uint8Array, out: Uint8Array): void => {
  siphash24(message, key, out, true);
};
