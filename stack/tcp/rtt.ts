// RFC 6298 retransmission-timeout estimator. Samples come from timestamps (RFC 7323 §4 RTTM)
// or from timing one segment at a time with Karn's rule (RFC 6298 §3) when timestamps are off.
import type { Ms } from '../api.ts';
import type { Tcb } from './tcb.ts';

/** Clock granularity G of RFC 6298 §2: our clock ticks in ms. */
const G = 1;

/** Feed one RTT measurement (ms). Clears the backoff (RFC 6298 §5.7 applies the new RTO). */
export function rttSample(tcb: Tcb, r: number): void {
  if (r < 0) return;
  if (tcb.srtt === null) {
    // RFC 6298 §2.2: first measurement.
    tcb.srtt = r;
    tcb.rttvar = r / 2;
  } else {
    // RFC 6298 §2.3 with alpha = 1/8, beta = 1/4 (rttvar first, using the old srtt).
    tcb.rttvar = 0.75 * tcb.rttvar + 0.25 * Math.abs(tcb.srtt - r);
    tcb.srtt = 0.875 * tcb.srtt + 0.125 * r;
  }
  tcb.rto = clampRto(tcb, tcb.srtt + Math.max(G, 4 * tcb.rttvar));
}

/** RFC 6298 §2.4 (minimum, configurable: RFC 1 s, Linux 200 ms) and §2.5 (maximum, at least 60 s). */
export function clampRto(tcb: Tcb, rto: Ms): Ms {
  return Math.min(tcb.cfg.maxRto, Math.max(tcb.cfg.minRto, Math.ceil(rto)));
}

/** The retransmission timer's duration: the RTO, plus cfg.rtoSlop once it has been measured or backed off (FreeBSD's TCPT_RANGESET). */
export function rtxTimeout(tcb: Tcb): Ms {
  return tcb.rto + (tcb.srtt !== null || tcb.retries > 0 ? tcb.cfg.rtoSlop : 0);
}

/** RFC 6298 §5.5: back the timer off (double the RTO, capped). */
export function backoffRto(tcb: Tcb): void {
  tcb.rto = Math.min(tcb.cfg.maxRto, tcb.rto * 2);
}

/** The RTO the estimator would give without backoff (for the persist timer, which backs off on its own). */
export function baseRto(tcb: Tcb): Ms {
  if (tcb.srtt === null) return tcb.cfg.initialRto;
  return clampRto(tcb, tcb.srtt + Math.max(G, 4 * tcb.rttvar));
}
