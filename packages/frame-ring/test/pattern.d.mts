export declare function lenOf(seq: number, maxLen: number): number;
export declare function fill(dst: Uint8Array, offset: number, seq: number, len: number): void;
export declare function seqOf(bytes: Uint8Array, offset: number): number;
export declare function verify(
  bytes: Uint8Array,
  offset: number,
  len: number,
  seq: number,
  maxLen: number,
): string;
