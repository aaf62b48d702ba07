/** One peer: its static key, handshake, keypairs, timers, endpoint, staged packets and counters. */
import { CookieGenerator } from './cookie.js';
import { Keypairs } from './keypair.js';
import { Handshake } from './noise.js';
import type { PeerTimers } from './timers.js';

export interface Endpoint {
  address: string;
  port: number;
}

export class Peer {
  readonly handshake: Handshake;
  readonly keypairs = new Keypairs();
  readonly cookieGenerator: CookieGenerator;
  endpoint: Endpoint | undefined;
  /** IP packets waiting for a session (bounded; the oldest is dropped). */
  staged: Uint8Array[] = [];
  /** Wall-clock ms of the last completed handshake; 0 = never. */
  lastHandshake = 0;
  rxBytes = 0;
  txBytes = 0;
  /** Base64 public key. */
  readonly id: string;

  constructor(
    readonly publicKey: Uint8Array,
    presharedKey: Uint8Array,
    readonly timers: PeerTimers,
  ) {
    this.id = Buffer.from(publicKey).toString('base64');
    this.handshake = new Handshake(publicKey, presharedKey);
    this.cookieGenerator = new CookieGenerator(publicKey);
  }
}
