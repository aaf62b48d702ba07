/**
 * TCP for stack-core (RFC 9293 with RFC 7323, 2018, 6675, 6298, 6582, 9438, 5961,
 * 6528, 6056): `TcpLayer` is the transport the IP layer drives and the socket API
 * the stack exposes.
 */
export { Cubic, NewReno } from './congestion.js';
export { defaultTcpConfig, TcpLayer } from './layer.js';
export { ByteRing } from './ring.js';
export { SeqRangeSet } from './sack.js';
