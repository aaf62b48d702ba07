/** Hex text → bytes (whitespace ignored); for fixtures and tests. */
export function hexBytes(hex: string): Uint8Array {
  const s = hex.replace(/[^0-9a-fA-F]/g, '');
  const out = new Uint8Array(s.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(s.slice(i * 2, i * 2 + 2), 16);
  return out;
}
