/** @tapstack/example-client — the example program's pieces, for tests and reuse. */
export { connectVirtual, parseTarget, type Target, viaBridge } from './connect.js';
export { type EchoResult, echoSession } from './echo.js';
export { type FetchResult, fetchVirtual } from './fetch.js';
export { buildProgram, main, parseSize } from './main.js';
export { createProgress } from './progress.js';
export { type RunningServer, type ServeOptions, serve } from './serve.js';
export { type Progress, type ThroughputResult, throughput } from './throughput.js';
export { type UdpResult, udpEcho } from './udp.js';
