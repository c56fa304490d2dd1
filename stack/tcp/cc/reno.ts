// NewReno congestion control (RFC 5681 §3.1, with RFC 6582's recovery handled in send.ts).
// Functions mutate the plain CcState they are handed; sizes are bytes, `mss` is SMSS.
import type { CcState } from '../tcb.ts';

/** Growth on an ACK of `acked` new bytes outside recovery. */
export function renoOnAck(cc: CcState, acked: number, mss: number): void {
  if (cc.cwnd < cc.ssthresh) {
    // RFC 5681 §3.1 slow start, with RFC 3465 appropriate byte counting (L = 2*SMSS).
    cc.cwnd += Math.min(acked, 2 * mss);
    return;
  }
  // RFC 5681 §3.1 congestion avoidance, byte counting: +1 SMSS per cwnd of acknowledged bytes.
  cc.bytesAcked += acked;
  if (cc.bytesAcked >= cc.cwnd) {
    cc.bytesAcked -= cc.cwnd;
    cc.cwnd += mss;
  }
}

/** ssthresh after a loss signal: RFC 5681 §3.1 equation (4), max(FlightSize/2, 2*SMSS). */
export function renoSsthresh(flight: number, mss: number): number {
  return Math.max(Math.floor(flight / 2), 2 * mss);
}
