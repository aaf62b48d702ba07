/** Errors of the page API, with Node-style codes (ECONNREFUSED, ECONNRESET, ...). */
const BRAND = Symbol.for('@tapstack/browser/NetError');

export class NetError extends Error {
  readonly code: string;
  readonly syscall: string | undefined;
  readonly [BRAND] = true;
  constructor(message: string, code: string, syscall?: string) {
    super(message);
    this.name = 'NetError';
    this.code = code;
    this.syscall = syscall;
  }
  static isInstance(e: unknown): e is NetError {
    return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[BRAND] === true;
  }
}
