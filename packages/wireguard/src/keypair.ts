/** A transport session: the two keys one handshake derived, the send counter and the replay filter. */
import { ReplayFilter } from './replay.js';
import { type TransportAead, type TransportKey, transportAead } from './transport-aead.js';

export class Keypair {
  sendCounter = 0;
  readonly replay = new ReplayFilter();
  /** The two keys as the AEAD backend holds them (an OpenSSL context each, or KeyObjects). */
  readonly sendKey: TransportKey;
  readonly receiveKey: TransportKey;
  readonly aead: TransportAead;

  constructor(
    readonly send: Uint8Array,
    readonly receive: Uint8Array,
    readonly isInitiator: boolean,
    readonly created: number,
    readonly localIndex: number,
    readonly remoteIndex: number,
    aead: TransportAead = transportAead(),
  ) {
    this.aead = aead;
    this.sendKey = aead.key(send, true);
    this.receiveKey = aead.key(receive, false);
  }

  /** Keys wiped: nothing may be sealed or opened with it. */
  destroyed = false;

  destroy(): void {
    this.destroyed = true;
    this.send.fill(0);
    this.receive.fill(0);
    this.aead.free(this.sendKey);
    this.aead.free(this.receiveKey);
  }
}

/** previous / current / next, as wireguard-go's Keypairs. */
export class Keypairs {
  previous: Keypair | undefined;
  current: Keypair | undefined;
  /** A responder's new keypair, used for sending only once the initiator has sent on it. */
  next: Keypair | undefined;

  all(): Keypair[] {
    return [this.previous, this.current, this.next].filter((k): k is Keypair => k !== undefined);
  }
}
