/** The `siphash24` package (CommonJS, no types of its own). */
declare module 'siphash24' {
  /** SipHash-2-4 of `data` under a 16-byte `key`, 8 bytes into `out` (allocated when absent). */
  function siphash24(data: Uint8Array, key: Uint8Array, out?: Uint8Array, noAssert?: boolean): Uint8Array;
  export default siphash24;
}
