/**
 * The only web-standard globals stack-core uses beyond ES2023, declared here because
 * its tsconfig leaves out the DOM library: timers, `performance` and other browser APIs
 * must not compile inside the clock-free core. Browsers and Node both provide these.
 */
declare class TextEncoder {
  encode(input?: string): Uint8Array;
}
declare class TextDecoder {
  constructor(label?: string);
  decode(input?: Uint8Array): string;
}
