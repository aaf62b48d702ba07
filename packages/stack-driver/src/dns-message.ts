/**
 * @deprecated The DNS codec lives in `@tapstack/stack-core` (`wire/dns.ts`), whose
 * `parseDnsMessage` returns a `WireError` instead of throwing. These names stay for
 * compatibility and will be removed.
 */
import {
  type DnsMessage,
  encodeDnsMessage,
  encodeDnsQuery,
  normalizeDnsName,
  parseDnsMessage,
} from '@tapstack/stack-core';

export {
  type DnsMessage,
  type DnsQuestion,
  DnsRcode,
  type DnsRecord,
  DnsType,
} from '@tapstack/stack-core';

/** @deprecated `parseDnsMessage` from stack-core returns the error instead. */
export class DnsFormatError extends Error {}

/** @deprecated Use `parseDnsMessage` from `@tapstack/stack-core` (returns a WireError instead of throwing). */
export function parseMessage(buf: Uint8Array): DnsMessage {
  const m = parseDnsMessage(buf);
  if (typeof m === 'string') throw new DnsFormatError(`bad DNS message (${m})`);
  return m;
}

/** @deprecated `encodeDnsQuery` from stack-core. */
export const encodeQuery = encodeDnsQuery;
/** @deprecated `encodeDnsMessage` from stack-core. */
export const encodeMessage = encodeDnsMessage;
/** @deprecated `normalizeDnsName` from stack-core. */
export const normalizeName = normalizeDnsName;
