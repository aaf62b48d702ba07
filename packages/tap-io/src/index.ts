/**
 * @tapstack/tap-io — links that carry Ethernet frames: a Linux TAP device (own N-API
 * addon, native reader thread into a frame ring), Ethernet over UDP with VXLAN framing,
 * an in-memory switch, and wrappers that stack on any link: pcap capture, seeded fault
 * injection and a one-line-per-frame tracer.
 */
export { type NativeAead, type NativeAeadKey, nativeAead } from './aead.js';
export { describeFrame, describePacket, ipv4String, ipv6String } from './decode.js';
export {
  fillTcpChecksum,
  nativeTcpSegment,
  onesSum,
  planTcpSegments,
  type TcpSegmentFn,
  type TcpSegmentPlan,
  tcpSegmentInto,
} from './gso.js';
export {
  type FaultClock,
  type FaultCounters,
  type FaultOptions,
  type FaultyLink,
  realClock,
  seededRandom,
  withFaults,
} from './faults.js';
export {
  ETHERNET_HEADER_LEN,
  emptyStats,
  formatMac,
  isGroupMac,
  type Link,
  LinkError,
  type LinkStats,
  macKey,
  parseMac,
  randomMac,
} from './link.js';
export { MemorySwitch, type MemorySwitchOptions, type SwitchPortOptions } from './memory-switch.js';
export { tapAvailable } from './native.js';
export { sdNotify } from './notify.js';
export { LINKTYPE_ETHERNET, LINKTYPE_RAW, type PcapOptions, PcapWriter, withPcap } from './pcap.js';
export { IpPipe, type IpPipeEnd } from './ip-pipe.js';
export { DOWN_AFTER, PATH_ERRNOS, SendHealth } from './send-health.js';
export {
  type BatchUdpOptions,
  BatchUdpSocket,
  type BatchUdpStats,
  batchUdpAvailable,
  openBatchUdp,
} from './udp-batch.js';
export {
  DEFAULT_TX_QUEUE_LEN,
  GSO_MAX_SIZE,
  openTap,
  openTun,
  TapLink,
  type TapOptions,
  tcpGsoSizeAt,
  TUN_F_CSUM,
  TUN_F_TSO4,
  TUN_F_TSO6,
  type TunOptions,
} from './tap.js';
export { type TraceSink, withTracer } from './tracer.js';
export {
  openVxlan,
  VXLAN_HEADER_BYTES,
  VXLAN_PORT,
  VxlanLink,
  type VxlanOptions,
  type VxlanPeer,
  type VxlanStats,
} from './vxlan.js';
export { WrappedLink } from './wrapped-link.js';
