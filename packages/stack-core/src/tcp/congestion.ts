/**
 * Congestion control: NewReno (RFC 5681, RFC 6582) and CUBIC (RFC 9438). Both keep
 * cwnd and ssthresh in bytes; the socket calls onAck for newly acknowledged bytes
 * outside recovery, onLoss when it enters fast recovery, onRto after a timeout.
 */

export interface CongestionControl {
  cwnd: number;
  ssthresh: number;
  /** `acked` new bytes were acknowledged; grow only when the flight was limited by cwnd (RFC 7661). */
  onAck(acked: number, mss: number, now: number, srttMs: number, cwndLimited: boolean): void;
  /** Entering fast recovery: ssthresh and cwnd drop (RFC 5681 §3.2 step 2, RFC 9438 §4.6). */
  onLoss(flight: number, mss: number, now: number): void;
  /** Retransmission timeout: ssthresh drops, cwnd becomes the loss window (RFC 5681 §3.1). */
  onRto(flight: number, mss: number, now: number): void;
  /** The whole state, to undo a response to a loss that proves spurious (RFC 4015). */
  save(): unknown;
  restore(saved: unknown): void;
}

/** RFC 6928 initial window: 10 segments. */
export function initialWindow(mss: number): number {
  return 10 * mss;
}

/** RFC 3465 appropriate byte counting in slow start, L = 2 segments. */
function slowStart(cc: CongestionControl, acked: number, mss: number): void {
  cc.cwnd += Math.min(acked, 2 * mss);
}

export class NewReno implements CongestionControl {
  cwnd: number;
  ssthresh = 0x7fffffff;
  private acc = 0;

  constructor(mss: number) {
    this.cwnd = initialWindow(mss);
  }

  onAck(acked: number, mss: number, _now: number, _srtt: number, cwndLimited: boolean): void {
    if (!cwndLimited) return;
    if (this.cwnd < this.ssthresh) {
      slowStart(this, acked, mss);
      return;
    }
    // Congestion avoidance: one MSS per cwnd of acknowledged bytes (RFC 5681 §3.1).
    this.acc += acked;
    if (this.acc >= this.cwnd) {
      this.acc -= this.cwnd;
      this.cwnd += mss;
    }
  }

  save(): unknown {
    return [this.cwnd, this.ssthresh, this.acc];
  }

  restore(saved: unknown): void {
    [this.cwnd, this.ssthresh, this.acc] = saved as [number, number, number];
  }

  onLoss(flight: number, mss: number): void {
    this.ssthresh = Math.max(flight / 2, 2 * mss);
    this.cwnd = this.ssthresh;
    this.acc = 0;
  }

  onRto(flight: number, mss: number): void {
    this.ssthresh = Math.max(flight / 2, 2 * mss);
    this.cwnd = mss;
    this.acc = 0;
  }
}

const CUBIC_C = 0.4;
const CUBIC_BETA = 0.7;
/** RFC 9438 §4.3: the Reno-friendly additive factor. */
const CUBIC_ALPHA = (3 * (1 - CUBIC_BETA)) / (1 + CUBIC_BETA);

export class Cubic implements CongestionControl {
  cwnd: number;
  ssthresh = 0x7fffffff;
  /** Window (segments) just before the last reduction, and the one before that (fast convergence). */
  private wMax = 0;
  private wLastMax = 0;
  private epochStart = -1;
  private k = 0;
  /** Reno-friendly estimate, segments (§4.3). */
  private wEst = 0;
  /** cwnd (segments) just before the last reduction (§4.3: cwnd_prior). */
  private cwndPrior = 0;

  constructor(mss: number) {
    this.cwnd = initialWindow(mss);
  }

  onAck(acked: number, mss: number, now: number, srttMs: number, cwndLimited: boolean): void {
    if (!cwndLimited) return;
    if (this.cwnd < this.ssthresh) {
      slowStart(this, acked, mss);
      return;
    }
    const cwndSeg = this.cwnd / mss;
    if (this.epochStart < 0) {
      // §4.2: a new congestion-avoidance epoch.
      this.epochStart = now;
      if (cwndSeg < this.wMax) {
        this.k = Math.cbrt((this.wMax - cwndSeg) / CUBIC_C);
      } else {
        this.k = 0;
        this.wMax = cwndSeg;
      }
      this.wEst = cwndSeg;
    }
    const t = (now - this.epochStart + srttMs) / 1000;
    const d = t - this.k;
    let target = CUBIC_C * d * d * d + this.wMax;
    // §4.2: the target stays within [cwnd, 1.5 cwnd].
    if (target < cwndSeg) target = cwndSeg;
    else if (target > 1.5 * cwndSeg) target = 1.5 * cwndSeg;
    const segs = acked / mss;
    // §4.3: once the estimate is back at the window before the reduction, it grows as
    // Reno does (α = 1); before that, with α_cubic so that β = 0.7 stays Reno-fair.
    const alpha = this.wEst >= this.cwndPrior ? 1 : CUBIC_ALPHA;
    this.wEst += (alpha * segs) / cwndSeg;
    let next = cwndSeg + ((target - cwndSeg) / cwndSeg) * segs;
    if (this.wEst > next) next = this.wEst;
    this.cwnd = next * mss;
  }

  save(): unknown {
    return [
      this.cwnd,
      this.ssthresh,
      this.wMax,
      this.wLastMax,
      this.epochStart,
      this.k,
      this.wEst,
      this.cwndPrior,
    ];
  }

  restore(saved: unknown): void {
    [this.cwnd, this.ssthresh, this.wMax, this.wLastMax, this.epochStart, this.k, this.wEst, this.cwndPrior] =
      saved as number[] as [number, number, number, number, number, number, number, number];
  }

  private reduce(mss: number): void {
    const cwndSeg = this.cwnd / mss;
    this.cwndPrior = cwndSeg;
    // §4.7 fast convergence.
    this.wMax = cwndSeg < this.wLastMax ? (cwndSeg * (1 + CUBIC_BETA)) / 2 : cwndSeg;
    this.wLastMax = cwndSeg;
    this.ssthresh = Math.max(this.cwnd * CUBIC_BETA, 2 * mss);
    this.epochStart = -1;
  }

  onLoss(_flight: number, mss: number): void {
    this.reduce(mss);
    this.cwnd = this.ssthresh;
  }

  onRto(_flight: number, mss: number): void {
    this.reduce(mss);
    this.cwnd = mss;
  }
}
