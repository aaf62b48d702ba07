/**
 * Loss recovery's per-connection state, kept apart from the control block (as gVisor's
 * rackControl and prrState): RACK-TLP (RFC 8985) and PRR (RFC 6937). The code that reads
 * and writes it is `recovery.ts` (and the sender's PRR count in `sender.ts`).
 */

/** RACK (RFC 8985 §6.1) and TLP (§7). */
export class RackState {
  /** RACK.xmit_ts: send time of the most recently sent segment delivered, or -1. */
  xmitTs = -1;
  /** RACK.end_seq: that segment's end. */
  endSeq = 0;
  /** RACK.rtt: its round-trip time. */
  rtt = 0;
  /** RACK.fack: highest end of a delivered segment (reordering is a delivery below it). */
  fack = 0;
  /** RACK.reord: reordering seen. */
  reord = false;
  /** RACK.reo_wnd_mult and RACK.reo_wnd_persist (§6.2 step 4). */
  reoWndMult = 1;
  reoWndPersist = 0;
  /** A D-SACK widened the reordering window this round trip (until SND.UNA passes this). */
  dsackRound = -1;
  /** TLP.end_seq: the probe outstanding (SND.MAX when it went out), or -1. */
  tlpHighSeq = -1;
  /** TLP.is_retrans: the probe was a retransmission. */
  tlpIsRetrans = false;
  tlpSeq = 0;
}

/** PRR (RFC 6937): bytes delivered and sent since recovery began, and the flight then. */
export class PrrState {
  /** prr_delivered */
  delivered = 0;
  /** prr_out */
  out = 0;
  /** RecoverFS */
  recoverFs = 0;
}
