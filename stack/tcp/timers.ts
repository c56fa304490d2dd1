// Timer expiry (RFC 9293 §3.10.8 "TIMEOUTS"): retransmission (RFC 6298 §5), persist
// (§3.8.6.1), delayed ACK (§3.8.6.3), keepalive (§3.8.4), TIME-WAIT 2*MSL and the FIN-WAIT-2
// timeout. Deadlines live in tcb.timers; the stack calls tcpTick when one is due.
import type { Ms } from '../api.ts';
import { seqDiff } from '../wire/seq.ts';
import { ACK } from '../wire/tcp.ts';
import { dropConn } from './arrive.ts';
import { ccOnRto } from './cc/index.ts';
import { count, type Io } from './output.ts';
import { backoffRto, rtxTimeout } from './rtt.ts';
import { clearScoreboard, markAllLost, onPersist, output, sendSyn, sendSynAck, xmit } from './send.ts';
import { tcbDeadline, type Tcb } from './tcb.ts';

/** Fire every due timer of `tcb`, then run the transmit loop. */
export function tcpTick(tcb: Tcb, io: Io, now: Ms): void {
  const t = tcb.timers;
  if (t.close !== null && t.close <= now) {
    t.close = null;
    if (tcb.state === 'SYN-SENT' || tcb.state === 'SYN-RECEIVED') {
      // cfg.connectTimeout: the application gives up on the open (RFC 1122 §4.2.3.5), no RST.
      count(io, 'connect-timeout');
      dropConn(tcb, io, timeoutCode(tcb));
      return;
    }
    // TIME-WAIT 2*MSL over (RFC 9293 §3.10.8), or an orphaned FIN-WAIT-2 gave up.
    if (tcb.state === 'FIN-WAIT-2') count(io, 'fin-wait-2-timeout');
    dropConn(tcb, io, null);
    return;
  }
  if (t.rtx !== null && t.rtx <= now) {
    t.rtx = null;
    if (!onRtxTimeout(tcb, io, now)) return;
  }
  if (t.persist !== null && t.persist <= now) {
    if (onPersist(tcb, io, now) === 'timeout') { dropConn(tcb, io, 'ETIMEDOUT'); return; }
  }
  if (t.keepalive !== null && t.keepalive <= now) {
    if (!onKeepalive(tcb, io, now)) return;
  }
  if (t.delack !== null && t.delack <= now) {
    t.delack = null;
    if (tcb.ackPending > 0) tcb.ackNow = true;
  }
  if (tcb.state !== 'CLOSED') output(tcb, io, now);
}

/** The error a timed-out connection reports: a remembered ICMP soft error, else ETIMEDOUT (RFC 1122 §4.2.3.9). */
const timeoutCode = (tcb: Tcb) => tcb.softError ?? 'ETIMEDOUT';

/** RFC 6298 §5.4-5.6 (and SYN / SYN|ACK retransmission). Returns false if the connection ended. */
function onRtxTimeout(tcb: Tcb, io: Io, now: Ms): boolean {
  const cfg = tcb.cfg;
  if (tcb.state === 'SYN-SENT') {
    tcb.retries++;
    if (tcb.retries > cfg.synRetries) { dropConn(tcb, io, timeoutCode(tcb)); return false; }
    backoffRto(tcb);
    count(io, 'syn-rxt');
    sendSyn(tcb, io, now);
    tcb.timers.rtx = now + rtxTimeout(tcb);
    return true;
  }
  if (tcb.state === 'SYN-RECEIVED') {
    tcb.retries++;
    if (tcb.retries > cfg.synAckRetries) {
      count(io, 'synack-timeout');
      if (tcb.listener !== null) { tcb.state = 'CLOSED'; tcb.app = 'closed'; return false; }
      dropConn(tcb, io, timeoutCode(tcb));
      return false;
    }
    backoffRto(tcb);
    count(io, 'synack-rxt');
    sendSynAck(tcb, io, now);
    tcb.timers.rtx = now + rtxTimeout(tcb);
    return true;
  }
  if (tcb.sndNxt === tcb.sndUna) return true;
  tcb.retries++;
  tcb.firstRtxAt ??= now;
  // RFC 9293 §3.8.3 R2 (tcp_retries2) and RFC 5482 user timeout: give up with ETIMEDOUT (no RST is sent).
  if (tcb.retries > cfg.maxRetries || (cfg.userTimeout > 0 && now - tcb.firstRtxAt >= cfg.userTimeout)) {
    count(io, 'rto-give-up');
    dropConn(tcb, io, timeoutCode(tcb));
    return false;
  }
  count(io, 'rto');
  // RFC 5681 §3.1 eq. (4) on the first timeout of this episode; cwnd = loss window (1 SMSS).
  ccOnRto(tcb, seqDiff(tcb.sndNxt, tcb.sndUna), tcb.retries === 1);
  // RFC 2018 §8: after an RTO the sender does not trust earlier SACK information.
  clearScoreboard(tcb);
  // RFC 6298 §5.4: retransmit the earliest unacknowledged segment (everything outstanding is now deemed lost).
  markAllLost(tcb);
  // RFC 6298 §5.5: back off.
  backoffRto(tcb);
  // §5.6: the timer restarts when output sends the retransmission (armTimers).
  return true;
}

/** RFC 9293 §3.8.4 / RFC 1122 §4.2.3.6 keepalive. Returns false if the connection ended. */
function onKeepalive(tcb: Tcb, io: Io, now: Ms): boolean {
  const ka = tcb.cfg.keepAlive;
  const t = tcb.timers;
  t.keepalive = null;
  const s = tcb.state;
  if (!ka.enabled || !(s === 'ESTABLISHED' || s === 'CLOSE-WAIT' || s === 'FIN-WAIT-2')) return true;
  // Only an idle connection is probed; data in flight has the retransmission timer.
  if (tcb.sndNxt !== tcb.sndUna) { t.keepalive = now + ka.idle; return true; }
  const idleFor = now - tcb.lastRcvAt;
  if (tcb.keepProbes === 0 && idleFor < ka.idle) { t.keepalive = tcb.lastRcvAt + ka.idle; return true; }
  if (tcb.keepProbes >= ka.count) {
    count(io, 'keepalive-timeout');
    dropConn(tcb, io, timeoutCode(tcb));
    return false;
  }
  tcb.keepProbes++;
  count(io, 'keepalive-probe');
  // <SEQ=SND.NXT-1><ACK=RCV.NXT>: an old sequence number, which the peer must ACK (RFC 1122 §4.2.3.6).
  xmit(tcb, io, now, ACK, (tcb.sndNxt - 1) >>> 0);
  t.keepalive = now + ka.interval;
  return true;
}

/** Next deadline of a TCB (refreshes the cached field). */
export function refreshDeadline(tcb: Tcb): number | null {
  tcb.deadline = tcbDeadline(tcb);
  return tcb.deadline;
}

/**
 * Move a TCB onto a clock that reads `delta` ms more than the one it was built on (STYLE.md §2:
 * resume after migration). Every deadline and stored instant shifts by delta; tsOffset shifts
 * by -delta so TSval (now + tsOffset) continues exactly where it was and never goes backwards
 * for the peer's PAWS check.
 */
export function rebaseTcb(tcb: Tcb, delta: number): void {
  const t = tcb.timers;
  if (t.rtx !== null) t.rtx += delta;
  if (t.persist !== null) t.persist += delta;
  if (t.delack !== null) t.delack += delta;
  if (t.keepalive !== null) t.keepalive += delta;
  if (t.close !== null) t.close += delta;
  // Round up: TSval = floor(now + tsOffset), so truncating a fractional shift could move TSval
  // back by one and trip the peer's PAWS check (RFC 7323 §5); rounding up only moves it ahead.
  tcb.tsOffset = Math.ceil(tcb.tsOffset - delta) | 0;
  tcb.rttAt += delta;
  tcb.lastRcvAt += delta;
  if (tcb.tsRecentAt !== null) tcb.tsRecentAt += delta;
  if (tcb.firstRtxAt !== null) tcb.firstRtxAt += delta;
  if (tcb.cc.epochStart !== null) tcb.cc.epochStart += delta;
  refreshDeadline(tcb);
}
