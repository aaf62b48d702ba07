/**
 * @deprecated The DHCP codec lives in `@tapstack/stack-core` (`wire/dhcp.ts`), whose
 * `parseDhcpMessage` returns a `WireError` instead of throwing. These names stay for
 * compatibility and will be removed.
 */
import {
  type DhcpMessage,
  dhcpOptAddr,
  dhcpOptU32,
  dhcpReadAddrs,
  dhcpReadU32,
  parseDhcpMessage,
} from '@tapstack/stack-core';

export {
  type DhcpMessage,
  DhcpMessageType,
  DhcpOption,
  encodeDhcp,
  maskToPrefix,
} from '@tapstack/stack-core';

/** @deprecated `parseDhcpMessage` from stack-core returns the error instead. */
export class DhcpFormatError extends Error {}

/** @deprecated Use `parseDhcpMessage` from `@tapstack/stack-core` (returns a WireError instead of throwing). */
export function parseDhcp(b: Uint8Array): DhcpMessage {
  const m = parseDhcpMessage(b);
  if (typeof m === 'string') throw new DhcpFormatError(`bad DHCP message (${m})`);
  return m;
}

/** @deprecated `dhcpOptU32` from stack-core. */
export const optU32 = dhcpOptU32;
/** @deprecated `dhcpOptAddr` from stack-core. */
export const optAddr = dhcpOptAddr;
/** @deprecated `dhcpReadU32` from stack-core. */
export const readU32 = dhcpReadU32;
/** @deprecated `dhcpReadAddrs` from stack-core. */
export const readAddrs = dhcpReadAddrs;
