// CUBIC (RFC 9438). Window arithmetic is done in segments (floating point) and stored in
// bytes; time in seconds from the epoch start. Slow start is RFC 5681's (RFC 9438 §4.10).
import type { Ms } from '../../api.ts';
import type { CcState } from '../tcb.ts';

/** RFC 9438 §5: C = 0.4, beta_cubic = 0.7. */
export const CUBIC_C = 0.4, CUBIC_BETA = 0.7;
/** RFC 9438 §4.3: alpha_cubic = 3 * (1 - beta) / (1 + beta). */
const ALPHA = (3 * (1 - CUBIC_BETA)) / (1 + CUBIC_BETA);

/** Growth on an ACK of `acked` new bytes outside recovery; `rtt` is the smoothed RTT in ms. */
export function cubicOnAck(cc: CcState, acked: number, mss: number, now: Ms, rtt: number): void {
  if (cc.cwnd < cc.ssthresh) {
    // RFC 9438 §4.10: slow start as in RFC 5681 (byte counting, L = 2*SMSS as RFC 3465).
    cc.cwnd += Math.min(acked, 2 * mss);
    return;
  }
  const cwndSeg = cc.cwnd / mss;
  if (cc.epochStart === null) {
    // RFC 9438 §4.2: a new congestion-avoidance epoch.
    cc.epochStart = now;
    cc.cwndEpoch = cc.cwnd;
    if (cc.wMax < cc.cwnd) cc.wMax = cc.cwnd;
    // K = cbrt((W_max - cwnd_epoch) / C), in seconds (Figure 2).
    cc.k = Math.cbrt(Math.max(0, (cc.wMax - cc.cwnd) / mss) / CUBIC_C);
    cc.wEst = cc.cwnd;
  }
  const t = (now - cc.epochStart) / 1000;
  const rttS = Math.max(rtt, 1) / 1000;
  const wMaxSeg = cc.wMax / mss;
  // RFC 9438 §4.2 Figure 1: W_cubic(t) = C*(t-K)^3 + W_max; the target looks one RTT ahead,
  // clamped to [cwnd, 1.5*cwnd] (§4.2).
  const wCubicT = CUBIC_C * (t - cc.k) ** 3 + wMaxSeg;
  let target = CUBIC_C * (t + rttS - cc.k) ** 3 + wMaxSeg;
  target = Math.min(Math.max(target, cwndSeg), 1.5 * cwndSeg);
  // RFC 9438 §4.3 Reno-friendly region: W_est grows by alpha per cwnd acked (alpha = 1 once W_est >= W_max).
  const alpha = cc.wEst >= cc.wMax ? 1 : ALPHA;
  cc.wEst += alpha * (acked / cc.cwnd) * mss;
  if (wCubicT < cc.wEst / mss) {
    // Reno-friendly: follow the estimated Reno window.
    if (cc.wEst > cc.cwnd) cc.cwnd = Math.min(cc.wEst, cc.cwnd + acked);
    return;
  }
  // RFC 9438 §4.4/§4.5: concave/convex region, cwnd += (target - cwnd)/cwnd per SMSS acked.
  cc.cwnd += ((target - cwndSeg) / cwndSeg) * acked;
}

/** A congestion event (fast retransmit or RTO): RFC 9438 §4.6 ssthresh and §4.7 fast convergence. */
export function cubicOnCongestion(cc: CcState, mss: number): number {
  // §4.7 fast convergence: a W_max reached lower than last time is released further.
  if (cc.cwnd < cc.wMax) cc.wMax = (cc.cwnd * (1 + CUBIC_BETA)) / 2;
  else cc.wMax = cc.cwnd;
  cc.epochStart = null;
  // §4.6: ssthresh = cwnd * beta_cubic, at least 2 SMSS (RFC 5681).
  return Math.max(Math.floor(cc.cwnd * CUBIC_BETA), 2 * mss);
}
