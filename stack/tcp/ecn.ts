// Explicit Congestion Notification for TCP (RFC 3168 §6.1), per socket by cfg.ecn: 'off',
// 'accept' (answer an ECN-setup SYN, never send one) or 'on' (also send ECN-setup SYNs).
//
//   negotiation  an ECN-setup SYN carries ECE|CWR, an ECN-setup SYN|ACK ECE alone (§6.1.1); the
//                first SYN and cfg.ecnSynRetries retransmissions ask, later ones do not
//                (§6.1.1.1). ECN is on when both SYNs agreed: tcb.ecn is then non-null.
//   sending      new data goes out ECT(0) (§6.1.2); SYNs, SYN|ACKs (§6.1.1), pure ACKs (§6.1.4),
//                retransmissions (§6.1.5) and window probes never carry ECT.
//   receiving    a CE-marked segment makes every ACK carry ECE until a segment with CWR arrives
//                (§6.1.3).
//   reacting     an ACK with ECE halves cwnd as a loss would (ccOnLoss, no retransmission), at most
//                once per window of data, and the next new data segment carries CWR (§6.1.2).
import { seqGt } from '../wire/seq.ts';
import { CWR, ECE } from '../wire/tcp.ts';
import { ccOnLoss } from './cc/index.ts';
import { count, type Io } from './output.ts';
import type { Tcb } from './tcb.ts';

/** Values of the IP ECN field (RFC 3168 §5). */
export const ECN_NOT_ECT = 0, ECN_ECT1 = 1, ECN_ECT0 = 2, ECN_CE = 3;

/** Is the SYN sent now an ECN-setup SYN? The first one and cfg.ecnSynRetries retransmissions are (§6.1.1.1). */
export const ecnSetupSyn = (tcb: Tcb): boolean => tcb.cfg.ecn === 'on' && tcb.retries <= tcb.cfg.ecnSynRetries;

/** TCP flags an ECN-setup SYN adds (§6.1.1: ECE and CWR). */
export const ecnSynFlags = (tcb: Tcb): number => (ecnSetupSyn(tcb) ? ECE | CWR : 0);

/** ECN from now on: a fresh state (no CE seen, no reduction yet). */
export function ecnStart(tcb: Tcb): void {
  tcb.ecn = { ece: false, cwr: false, recover: tcb.iss };
}

/**
 * The peer's SYN (at a listener, or in SYN-SENT for a simultaneous open). ECE and CWR both set
 * ask for ECN (§6.1.1); unless cfg.ecn is 'off' we accept, and our SYN|ACK carries ECE.
 */
export function ecnOnPeerSyn(tcb: Tcb, flags: number): void {
  if (tcb.cfg.ecn !== 'off' && (flags & (ECE | CWR)) === (ECE | CWR)) ecnStart(tcb);
  else tcb.ecn = null;
}

/**
 * The SYN|ACK in SYN-SENT. ECN is on only if the SYN it answers asked for it and it is an
 * ECN-setup SYN|ACK: ECE without CWR (§6.1.1; both set is a reflection by a broken middlebox).
 */
export function ecnOnSynAck(tcb: Tcb, flags: number): void {
  if (ecnSetupSyn(tcb) && (flags & (ECE | CWR)) === ECE) ecnStart(tcb);
}

/** An acceptable segment with IP ECN field `ipEcn` (§6.1.3): CWR ends the echo, a CE mark (re)starts it. */
export function ecnOnArrival(tcb: Tcb, io: Io, flags: number, ipEcn: number): void {
  const e = tcb.ecn;
  if (e === null) return;
  if (flags & CWR) e.ece = false;
  if (ipEcn === ECN_CE) {
    e.ece = true;
    count(io, 'ecn-ce-rcvd');
  }
}

/**
 * An acceptable ACK with ECE (§6.1.2): "treated just as a congestion loss", i.e. ssthresh and cwnd
 * as on fast retransmit (RFC 5681 §3.2 with `flight` the FlightSize before this ACK), but
 * nothing is retransmitted. Once per window of data: ECE is ignored until an ACK covers what was
 * sent at the last reduction, and during loss recovery (cwnd was already reduced for this window).
 */
export function ecnOnEce(tcb: Tcb, io: Io, ack: number, flight: number): void {
  const e = tcb.ecn;
  if (e === null || tcb.inRecovery || !seqGt(ack, e.recover)) return;
  const ssthresh = ccOnLoss(tcb, flight);
  tcb.cc.ssthresh = ssthresh;
  tcb.cc.cwnd = ssthresh;
  e.cwr = true;
  e.recover = tcb.sndNxt;
  count(io, 'ecn-cwnd-reduced');
}
