/// <reference types="node" />
/** Node-only test helpers. */
import { createSocket } from 'node:dgram';

/**
 * A UDP port on 127.0.0.1 that was free a moment ago (bound, read, released): for
 * daemons and links a test starts. Another process may take it in between; tests that
 * cannot tolerate that should bind port 0 themselves.
 */
export function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}
