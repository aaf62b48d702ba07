/**
 * Why a checked constructor or `parse` refused untrusted bytes. The stack turns
 * each into a named drop counter; nothing in `wire/` throws for bad input.
 */
export type WireError = 'truncated' | 'malformed' | 'unsupported' | 'badChecksum';

export function isWireError(x: unknown): x is WireError {
  return typeof x === 'string';
}

/** Hex text → bytes (whitespace ignored); for fixtures and tests. */
export function hexBytes(hex: string): Uint8Array {
  const s = hex.replace(/[^0-9a-fA-F]/g, '');
  const out = new Uint8Array(s.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(s.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** Reads a big-endian u16. */
export function getU16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}
export function setU16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}
export function getU32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}
export function setU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}
