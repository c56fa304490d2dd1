// Congestion-control dispatch on CcState.algo: the send side calls these three hooks only.
import type { Ms } from '../../api.ts';
import type { Tcb } from '../tcb.ts';
import { cubicOnAck, cubicOnCongestion } from './cubic.ts';
import { renoOnAck, renoSsthresh } from './reno.ts';

/** New data acknowledged outside loss recovery. Growth only when cwnd was the limit (RFC 7661 §4.1 spirit, RFC 5681 §3.1 note). */
export function ccOnAck(tcb: Tcb, acked: number, now: Ms): void {
  const cc = tcb.cc;
  if (!tcb.cwndLimited && cc.cwnd >= cc.ssthresh) return;
  if (cc.algo === 'cubic') cubicOnAck(cc, acked, tcb.mss, now, tcb.srtt ?? tcb.rto);
  else renoOnAck(cc, acked, tcb.mss);
  // Keep cwnd within what the send buffer could ever fill, so an idle app-limited flow cannot grow it without bound.
  const cap = Math.max(tcb.cfg.sndBuf * 2, 4 * tcb.mss);
  if (cc.cwnd > cap) cc.cwnd = cap;
}

/** Fast retransmit / SACK loss detection: returns the new ssthresh (RFC 5681 §3.2 step 2, RFC 9438 §4.6). */
export function ccOnLoss(tcb: Tcb, flight: number): number {
  const cc = tcb.cc;
  cc.bytesAcked = 0;
  if (cc.algo === 'cubic') return cubicOnCongestion(cc, tcb.mss);
  return renoSsthresh(flight, tcb.mss);
}

/** Retransmission timeout: ssthresh per RFC 5681 §3.1 eq. (4) / RFC 9438 §4.8, cwnd to the loss window (1 SMSS). */
export function ccOnRto(tcb: Tcb, flight: number, firstTimeout: boolean): void {
  const cc = tcb.cc;
  if (firstTimeout) cc.ssthresh = ccOnLoss(tcb, flight);
  cc.cwnd = tcb.mss;
  cc.bytesAcked = 0;
  cc.epochStart = null;
}
