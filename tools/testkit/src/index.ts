/** @tapstack/testkit: shared test helpers (see README.md). `./random` alone has no Node imports. */
export { pattern, seededBytes, seededFloats } from './random.js';
export { freeUdpPort } from './net.js';
