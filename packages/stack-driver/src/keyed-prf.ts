/**
 * The keyed PRF the driver gives its stack (`StackConfig.keyedPrf`) for ISNs, timestamp and
 * port offsets and SYN cookies: SipHash-2-4, as Linux uses for the same jobs, from the
 * `siphash24` package (WebAssembly, with the package's own pure-JS fallback). stack-core
 * imports no crypto; a library does the hashing, not code of ours. No allocation per
 * call: the message, key and output are the stack's buffers.
 */
/// <reference path="./siphash24.d.ts" />
import type { KeyedPrf } from '@tapstack/stack-core';
import siphash24 from 'siphash24';

export const sipHash24: KeyedPrf = (message, key, out) => {
  siphash24(message, key, out, true);
};
