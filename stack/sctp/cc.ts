// Congestion control per destination (RFC 9260 §7.2): slow start and congestion avoidance
// with partial_bytes_acked, the reductions on fast retransmit (§7.2.4) and on T3-rtx expiry
// (§7.2.3), and the idle decay (§7.2.1). All sizes in bytes; MTU is the path's IP MTU.
import type { SctpPath } from './assoc.ts';

/**
 * A SACK acknowledged `acked` new bytes last sent on `p` (§7.2.1, §7.2.2). `flightBefore`
 * is p's flight size before the SACK was processed; `cumAdvanced` whether the SACK moved the
 * Cumulative TSN Ack Point.
 */
export function ccOnAck(p: SctpPath, acked: number, flightBefore: number, cumAdvanced: boolean, inFastRecovery: boolean): void {
  if (acked <= 0) return;
  if (p.cwnd <= p.ssthresh) {
    // §7.2.1 slow start: increase only when the cwnd is fully utilized, the SACK advances the
    // Cumulative TSN Ack Point and we are not in Fast Recovery; by at most min(acked, MTU).
    if (cumAdvanced && !inFastRecovery && flightBefore >= p.cwnd) p.cwnd += Math.min(acked, p.pmtu);
    return;
  }
  // §7.2.2 congestion avoidance: partial_bytes_acked counts every newly acknowledged byte
  // (cumulative and gap-acked); one MTU per cwnd of acknowledged data, when the window was full.
  p.pba += acked;
  if (p.pba >= p.cwnd) {
    if (flightBefore >= p.cwnd) {
      // The window was full: one MTU more (RFC 9260 §7.2.2 also requires the SACK to advance
      // the Cumulative TSN Ack Point before cwnd grows).
      if (cumAdvanced) {
        p.pba -= p.cwnd;
        p.cwnd += p.pmtu;
      }
    } else {
      // §7.2.2: partial_bytes_acked above cwnd while the window was not full: reset it to cwnd.
      p.pba = p.cwnd;
    }
  }
}

/** §7.2.2: when everything sent to the path has been acknowledged, partial_bytes_acked is 0. */
export function ccOnDrained(p: SctpPath): void {
  p.pba = 0;
}

/** §7.2.4 step 2 (entering Fast Recovery): ssthresh = max(cwnd/2, 4*MTU), cwnd = ssthresh. */
export function ccOnFastRetransmit(p: SctpPath): void {
  p.ssthresh = Math.max(Math.floor(p.cwnd / 2), 4 * p.pmtu);
  p.cwnd = p.ssthresh;
  p.pba = 0;
}

/** §7.2.3 T3-rtx expiry: ssthresh = max(cwnd/2, 4*MTU), cwnd = 1*MTU. */
export function ccOnT3(p: SctpPath): void {
  p.ssthresh = Math.max(Math.floor(p.cwnd / 2), 4 * p.pmtu);
  p.cwnd = p.pmtu;
  p.pba = 0;
}

/**
 * §7.2.1: a destination that has not been sent to has its cwnd adjusted to max(cwnd/2, 4*MTU)
 * per RTO of idleness; applied lazily when sending resumes.
 */
export function ccOnIdle(p: SctpPath, now: number): void {
  if (p.flight > 0) return;
  const idle = now - p.lastSend;
  if (idle <= p.rto) return;
  const halvings = Math.min(16, Math.floor(idle / p.rto));
  // max(cwnd/2, 4*MTU) per RTO, never raising a window that is already below 4*MTU.
  p.cwnd = Math.min(p.cwnd, Math.max(Math.floor(p.cwnd / 2 ** halvings), 4 * p.pmtu));
}

/** §7.3: a new (smaller or larger) path MTU; cwnd keeps at least one packet. */
export function ccOnPmtu(p: SctpPath, mtu: number): void {
  p.pmtu = mtu;
  if (p.cwnd < mtu) p.cwnd = mtu;
}
