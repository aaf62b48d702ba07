/** A transport session: the two keys one handshake derived, the send counter and the replay filter. */
import type { KeyObject } from 'node:crypto';
import { aeadKey } from './crypto.js';
import { ReplayFilter } from './replay.js';

export class Keypair {
  sendCounter = 0;
  readonly replay = new ReplayFilter();
  /** The two keys as node:crypto KeyObjects, what every packet's cipher is made from. */
  readonly sendKey: KeyObject;
  readonly receiveKey: KeyObject;

  constructor(
    readonly send: Uint8Array,
    readonly receive: Uint8Array,
    readonly isInitiator: boolean,
    readonly created: number,
    readonly localIndex: number,
    readonly remoteIndex: number,
  ) {
    this.sendKey = aeadKey(send);
    this.receiveKey = aeadKey(receive);
  }

  destroy(): void {
    this.send.fill(0);
    this.receive.fill(0);
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
