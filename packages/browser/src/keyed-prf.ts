/**
 * The keyed PRF the browser stack gives stack-core (`StackConfig.keyedPrf`) for ISNs,
 * timestamp and port offsets and SYN cookies: SipHash-2-4 from the `siphash24` package
 * (WebAssembly, with its own pure-JS fallback; no Node built-ins), as stack-driver does
 * in Node — a library does the hashing, not code of ours.
 */
/// <reference path="./siphash24.d.ts" />
import type { KeyedPrf } from '@tapstack/stack-core';
import siphash24 from 'siphash24';

export const sipHash24: KeyedPrf = (message, key, out) => {
  siphash24(message, key, out, true);
};
