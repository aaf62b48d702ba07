/**
 * Every timer rule of the paper (section 6) in one place, as wireguard-go's timers.go. A timer is
 * a deadline (monotonic ms) or undefined; the device's poll() fires those that are due. Events
 * (`dataSent`, `handshakeInitiated`, ...) arm and disarm them.
 */
import { type Limits, REKEY_TIMEOUT_JITTER_MAX } from './constants.js';

export type TimerName =
  | 'retransmitHandshake'
  | 'sendKeepalive'
  | 'newHandshake'
  | 'zeroKeyMaterial'
  | 'persistentKeepalive';

export const TIMER_NAMES: readonly TimerName[] = [
  'retransmitHandshake',
  'sendKeepalive',
  'newHandshake',
  'zeroKeyMaterial',
  'persistentKeepalive',
];

export class PeerTimers {
  readonly deadline: Record<TimerName, number | undefined> = {
    retransmitHandshake: undefined,
    sendKeepalive: undefined,
    newHandshake: undefined,
    zeroKeyMaterial: undefined,
    persistentKeepalive: undefined,
  };
  handshakeAttempts = 0;
  needAnotherKeepalive = false;
  sentLastMinuteHandshake = false;

  constructor(
    private readonly limits: Limits,
    /** 0..1, from the injected random source. */
    private readonly jitter: () => number,
    /** Persistent keepalive interval in ms; 0 is off. */
    public persistentKeepaliveInterval: number,
  ) {}

  /** Data (not a keepalive) was sent: expect an answer within keepalive + rekey timeout. */
  dataSent(now: number): void {
    if (this.deadline.newHandshake === undefined)
      this.deadline.newHandshake = now + this.limits.keepaliveTimeout + this.limits.rekeyTimeout;
  }

  /** Data was received: answer with a keepalive if we send nothing else in time. */
  dataReceived(now: number): void {
    if (this.deadline.sendKeepalive === undefined)
      this.deadline.sendKeepalive = now + this.limits.keepaliveTimeout;
    else this.needAnotherKeepalive = true;
  }

  anyAuthenticatedPacketSent(): void {
    this.deadline.sendKeepalive = undefined;
  }

  anyAuthenticatedPacketReceived(): void {
    this.deadline.newHandshake = undefined;
  }

  anyAuthenticatedPacketTraversal(now: number): void {
    if (this.persistentKeepaliveInterval > 0)
      this.deadline.persistentKeepalive = now + this.persistentKeepaliveInterval;
  }

  handshakeInitiated(now: number): void {
    this.deadline.retransmitHandshake =
      now + this.limits.rekeyTimeout + Math.floor(this.jitter() * REKEY_TIMEOUT_JITTER_MAX);
  }

  handshakeComplete(): void {
    this.deadline.retransmitHandshake = undefined;
    this.handshakeAttempts = 0;
    this.sentLastMinuteHandshake = false;
  }

  sessionDerived(now: number): void {
    this.deadline.zeroKeyMaterial = now + this.limits.rejectAfterTime * 3;
  }

  stopAll(): void {
    for (const n of TIMER_NAMES) this.deadline[n] = undefined;
  }

  next(): number | undefined {
    let at: number | undefined;
    for (const n of TIMER_NAMES) {
      const d = this.deadline[n];
      if (d !== undefined && (at === undefined || d < at)) at = d;
    }
    return at;
  }
}
