// SEGMENT ARRIVES (RFC 9293 §3.10.7) for a connection that has a TCB: SYN-SENT (§3.10.7.3)
// and the other states (§3.10.7.4), one function per numbered step. LISTEN and CLOSED (no
// TCB) are in listen.ts and stack.ts.
//
// Steps of §3.10.7.4, in order: checkSequence (first, with RFC 7323 PAWS), checkRst (second,
// RFC 5961 §3), security/precedence (third: not implemented, no IPsec/MLS labels), checkSyn
// (fourth, RFC 5961 §4), checkAck (fifth, RFC 5961 §5), URG (sixth: urgent data is not
// supported; RFC 6093 §5 recommends new applications not use it, the pointer is ignored and
// the bytes are delivered inline), processText (seventh), checkFin (eighth).
import type { ErrorCode, Ms } from '../api.ts';
import { seqDiff, seqGe, seqGt, seqLe, seqLt } from '../wire/seq.ts';
import { ACK, FIN, RST, SYN, type TcpOptionsInfo, type TcpSegment } from '../wire/tcp.ts';
import { ecnOnArrival, ecnOnPeerSyn, ecnOnSynAck } from './ecn.ts';
import { count, emitEvent, type Io } from './output.ts';
import { negotiate } from './options.ts';
import { acceptable, acceptEdge, acceptWnd, holdUntilEstablished, receiveData, releaseHeld } from './receive.ts';
import { rttSample } from './rtt.ts';
import { bareSeq, challengeAck, finAcked, onAck, output, sendAck, sendSynAck, xmit } from './send.ts';
import type { Tcb } from './tcb.ts';

/** RFC 7323 §5.5: a timestamp older than 24 days is too old for PAWS. */
const PAWS_IDLE = 24 * 24 * 3600 * 1000;

/**
 * The connection ends. RST/timeout/abort: queues are flushed (RFC 9293 §3.10.7.4 second);
 * the application hears 'error' (when `code`) and 'closed'.
 */
export function dropConn(tcb: Tcb, io: Io, code: ErrorCode | null): void {
  tcb.state = 'CLOSED';
  const t = tcb.timers;
  t.rtx = t.persist = t.delack = t.keepalive = t.close = null;
  tcb.sndQ = []; tcb.sndQLen = 0; tcb.sndQOff = 0;
  tcb.ooo = []; tcb.oooLen = 0; tcb.sacked = []; tcb.sackedBytes = 0;
  if (code !== null) {
    tcb.error = code;
    tcb.rcvQ = []; tcb.rcvQLen = 0; tcb.rcvQOff = 0;
  }
  // The application keeps its handle: the TCB stays (CLOSED) until it calls close or abort.
  if (tcb.app === 'open' && !tcb.closedSent) {
    if (code !== null) emitEvent(io, { type: 'error', id: tcb.id, code });
    tcb.closedSent = true;
    emitEvent(io, { type: 'closed', id: tcb.id });
  }
}

/** Normal end of the connection for the application (both FINs done): TIME-WAIT or CLOSED after LAST-ACK. */
function appClosed(tcb: Tcb, io: Io): void {
  if (tcb.app === 'open' && !tcb.eofSent && tcb.rcvQLen === 0) {
    tcb.eofSent = true;
    emitEvent(io, { type: 'eof', id: tcb.id });
  }
  if (tcb.app === 'open' && !tcb.closedSent) { tcb.closedSent = true; emitEvent(io, { type: 'closed', id: tcb.id }); }
}

/** RFC 9293 §3.3.2 / §3.10.7.4: enter TIME-WAIT and (re)start the 2*MSL timer. */
function enterTimeWait(tcb: Tcb, io: Io, now: Ms): void {
  tcb.state = 'TIME-WAIT';
  const t = tcb.timers;
  t.rtx = t.persist = t.keepalive = null;
  t.close = now + 2 * tcb.cfg.msl;
  appClosed(tcb, io);
}

/** Send a reset for a segment (RFC 9293 §3.10.7.1 form): <SEQ=SEG.ACK><CTL=RST> or <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>. */
export function resetFor(tcb: Tcb, io: Io, now: Ms, seg: TcpSegment): void {
  if (seg.flags & ACK) { xmit(tcb, io, now, RST, seg.ack); return; }
  const len = seg.payload.length + (seg.flags & SYN ? 1 : 0) + (seg.flags & FIN ? 1 : 0);
  const saved = tcb.rcvNxt;
  tcb.rcvNxt = (seg.seq + len) >>> 0;
  xmit(tcb, io, now, RST | ACK, 0);
  tcb.rcvNxt = saved;
}

/** Our side reached ESTABLISHED (from SYN-SENT or SYN-RECEIVED). */
function established(tcb: Tcb, io: Io): void {
  tcb.state = 'ESTABLISHED';
  tcb.retries = 0;
  tcb.timers.rtx = null;
  // The connection-establishment timeout (cfg.connectTimeout) is over.
  tcb.timers.close = null;
  if (tcb.listener === null && tcb.app === 'open') emitEvent(io, { type: 'connected', id: tcb.id });
  // A close() issued before the handshake completed takes effect now (RFC 9293 §3.10.4 SYN-RECEIVED: queue the FIN).
  if (tcb.wrShut) tcb.state = 'FIN-WAIT-1';
}

/** RTT of the handshake, unless the SYN was retransmitted (Karn; RFC 6298 §5.7 then wants RTO >= 3 s once data flows). */
function handshakeRtt(tcb: Tcb, info: TcpOptionsInfo, now: Ms): void {
  if (tcb.tsOk && info.ts !== null && info.ts.tsecr !== 0) {
    const r = (now + tcb.tsOffset - info.ts.tsecr) | 0;
    if (r >= 0 && r < 600000) { rttSample(tcb, r); return; }
  }
  if (tcb.retries === 0) rttSample(tcb, now - tcb.rttAt);
  else tcb.rto = Math.max(tcb.rto, 3000);
}

/** Entry: a segment for this TCB (`ipEcn`: the ECN field of its IP header). Runs the transmit loop afterwards. */
export function segmentArrives(tcb: Tcb, seg: TcpSegment, info: TcpOptionsInfo, io: Io, now: Ms, ipEcn = 0): void {
  if (tcb.state === 'SYN-SENT') synSent(tcb, seg, info, io, now);
  else if (tcb.state !== 'CLOSED' && tcb.state !== 'LISTEN') otherStates(tcb, seg, info, io, now, ipEcn);
  if (tcb.state !== 'CLOSED') output(tcb, io, now);
}

/** RFC 9293 §3.10.7.3 SYN-SENT. */
function synSent(tcb: Tcb, seg: TcpSegment, info: TcpOptionsInfo, io: Io, now: Ms): void {
  const f = seg.flags;
  // first: check the ACK bit.
  if (f & ACK) {
    if (seqLe(seg.ack, tcb.iss) || seqGt(seg.ack, tcb.sndNxt)) {
      if (!(f & RST)) resetFor(tcb, io, now, seg);
      count(io, 'synsent-bad-ack');
      return;
    }
  }
  // second: RST. Only with an acceptable ACK (RFC 5961 §3.2 keeps this rule for SYN-SENT).
  if (f & RST) {
    count(io, f & ACK ? 'synsent-rst' : 'synsent-rst-no-ack');
    if (f & ACK) dropConn(tcb, io, 'ECONNREFUSED');
    return;
  }
  // fourth: SYN. "If neither of the SYN or RST bits is set, then drop the segment and return."
  if (!(f & SYN)) { count(io, 'synsent-no-syn'); return; }
  count(io, 'synsent-syn');
  tcb.irs = seg.seq;
  tcb.rcvNxt = (seg.seq + 1) >>> 0;
  negotiate(tcb, info, now);
  if (f & ACK) tcb.sndUna = seg.ack;
  if (seqGt(tcb.sndUna, tcb.iss)) {
    ecnOnSynAck(tcb, f);
    // Our SYN is acknowledged: ESTABLISHED. RFC 7323 §2.2: the SYN|ACK's window is not scaled.
    tcb.sndWnd = seg.window;
    tcb.maxSndWnd = seg.window;
    tcb.sndWl1 = seg.seq;
    tcb.sndWl2 = seg.ack;
    tcb.rcvAdv = (tcb.rcvNxt + Math.min(65535, tcb.cfg.rcvBuf)) >>> 0;
    tcb.cc.cwnd = tcb.cfg.initialCwnd * tcb.mss;
    handshakeRtt(tcb, info, now);
    tcb.recover = tcb.iss;
    established(tcb, io);
    tcb.ackNow = true;
    tcb.lastRcvAt = now;
    if (tcb.cfg.keepAlive.enabled) tcb.timers.keepalive = now + tcb.cfg.keepAlive.idle;
    // Data or FIN on the SYN|ACK (RFC 9293 §3.10.7.3: "continue processing at the sixth step").
    const finAt = f & FIN ? (tcb.rcvNxt + seg.payload.length) >>> 0 : null;
    if (seg.payload.length > 0 || finAt !== null) {
      const wndEnd = acceptEdge(tcb);
      let data = seg.payload;
      if (seqGt((tcb.rcvNxt + data.length) >>> 0, wndEnd)) data = data.subarray(0, seqDiff(wndEnd, tcb.rcvNxt));
      const finOk = finAt !== null && data.length === seg.payload.length;
      if (receiveData(tcb, io, now, tcb.rcvNxt, data, finOk ? finAt : null)) processFin(tcb, io, now);
    }
    return;
  }
  // Simultaneous open (RFC 9293 §3.10.7.3, Figure 8): SYN-RECEIVED, send <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>.
  tcb.state = 'SYN-RECEIVED';
  tcb.sndWnd = seg.window;
  tcb.maxSndWnd = seg.window;
  tcb.sndWl1 = seg.seq;
  tcb.sndWl2 = seg.ack;
  // RFC 3168 §6.1.1: the peer's SYN may ask for ECN as at a listener.
  ecnOnPeerSyn(tcb, f);
  sendSynAck(tcb, io, now);
  tcb.timers.rtx = now + tcb.rto;
  // "If there are other controls or text in the segment, queue them for processing after the
  // ESTABLISHED state has been reached" (checkAck releases them). Only what fits the window
  // our SYN|ACK offered is kept; a FIN beyond dropped text is dropped too.
  const finAt = f & FIN ? (tcb.rcvNxt + seg.payload.length) >>> 0 : null;
  if (seg.payload.length > 0 || finAt !== null) {
    let data = seg.payload;
    if (seqGt((tcb.rcvNxt + data.length) >>> 0, tcb.rcvAdv)) data = data.subarray(0, Math.max(0, seqDiff(tcb.rcvAdv, tcb.rcvNxt)));
    holdUntilEstablished(tcb, tcb.rcvNxt, data, data.length === seg.payload.length ? finAt : null);
  }
}

/** RFC 9293 §3.10.7.4: SYN-RECEIVED and every synchronized state. */
function otherStates(tcb: Tcb, seg: TcpSegment, info: TcpOptionsInfo, io: Io, now: Ms, ipEcn: number): void {
  const f = seg.flags;
  // A retransmitted SYN in SYN-RECEIVED: answer with the SYN|ACK again (Linux and BSD do; RFC 9293's
  // sequence check would send a bare ACK, which the peer in SYN-SENT must reset).
  if (tcb.state === 'SYN-RECEIVED' && (f & (SYN | ACK | RST)) === SYN && seg.seq === tcb.irs) {
    count(io, 'syn-rxt-rcvd');
    sendSynAck(tcb, io, now);
    return;
  }
  if (!checkSequence(tcb, seg, info, io, now)) return;
  // RFC 3168 §6.1.3: CE marks and CWR of acceptable segments drive the ECE echo.
  if (tcb.ecn !== null) ecnOnArrival(tcb, io, f, ipEcn);
  if (f & RST) { checkRst(tcb, seg, io, now); return; }
  if (f & SYN) { checkSyn(tcb, seg, io, now); return; }
  if (!checkAck(tcb, seg, info, io, now)) return;
  count(io, 'seg-accepted');
  updateTsRecent(tcb, seg, info, now);
  processTextAndFin(tcb, seg, io, now);
}

/**
 * RFC 7323 §4.3 (2): SEG.TSval is recorded if it is not older and the segment covers
 * Last.ACK.sent; only for a segment that passed the ACK check too. A segment that RFC 5961 §5.2
 * discards for its ACK (outside [SND.UNA - MAX.SND.WND, SND.NXT]) must change nothing: if its
 * TSval became TS.Recent, a blind attacker who guesses the window but not SND.NXT could send one
 * far-future TSval and have PAWS (§5.3) reject every later segment of the real peer, stalling
 * the connection (found by the packet fuzzer). Linux updates ts_recent only after tcp_ack()
 * accepted the ACK (FLAG_UPDATE_TS_RECENT; packetdrill tcp_ts_recent_invalid_ack).
 */
function updateTsRecent(tcb: Tcb, seg: TcpSegment, info: TcpOptionsInfo, now: Ms): void {
  if (tcb.tsOk && info.ts !== null && seqLe(seg.seq, tcb.lastAckSent)
    && (tcb.tsRecentAt === null || seqGe(info.ts.tsval, tcb.tsRecent))) {
    tcb.tsRecent = info.ts.tsval;
    tcb.tsRecentAt = now;
  }
}

/**
 * First: PAWS (RFC 7323 §5.3) and the acceptability test (RFC 9293 Table 6). An unacceptable
 * segment gets an ACK (unless it is a RST) and is dropped. Returns false to drop.
 */
function checkSequence(tcb: Tcb, seg: TcpSegment, info: TcpOptionsInfo, io: Io, now: Ms): boolean {
  const f = seg.flags;
  const rst = (f & RST) !== 0;
  if (tcb.tsOk && !rst) {
    if (info.ts === null) {
      // RFC 7323 §3.2: with timestamps negotiated, a non-RST segment without TSopt SHOULD be dropped silently.
      count(io, 'missing-timestamp');
      return false;
    }
    if (tcb.tsRecentAt !== null && seqLt(info.ts.tsval, tcb.tsRecent)) {
      if (now - tcb.tsRecentAt > PAWS_IDLE) {
        // RFC 7323 §5.5: TS.Recent is too old to compare against; invalidate it and accept.
        tcb.tsRecentAt = null;
      } else {
        // RFC 7323 §5.3 R1: PAWS rejects the segment; send an ACK and drop.
        count(io, 'paws-reject');
        tcb.ackNow = true;
        return false;
      }
    }
  }
  const len = seg.payload.length + (f & SYN ? 1 : 0) + (f & FIN ? 1 : 0);
  // RFC 9293 §3.10.7.4 first: "If the RCV.WND is zero, no segments will be acceptable, but
  // special allowance should be made to accept valid ACKs, URGs, and RSTs." A segment at exactly
  // RCV.NXT (a zero-window probe, or data sent into a window that has since closed) goes on to
  // the RST, SYN and ACK checks; its text and FIN lie beyond the window and are dropped by
  // processTextAndFin, and the ACK we owe for them tells the peer the window is still closed.
  // Linux does the same (tcp_sequence accepts SEG.SEQ = RCV.NXT at a zero window). Dropping the
  // whole segment deadlocks two peers whose windows are both closed: neither ever hears that its
  // data was acknowledged.
  if (len > 0 && seg.seq === tcb.rcvNxt && acceptWnd(tcb) === 0) {
    count(io, 'zero-window-allowance');
    tcb.ackNow = true;
  } else if (!acceptable(tcb, seg.seq, len)) {
    count(io, 'out-of-window');
    if (!rst) {
      // RFC 2883 §4: report a fully duplicate data segment as a D-SACK.
      if (tcb.sackOk && seg.payload.length > 0 && seqLe((seg.seq + seg.payload.length) >>> 0, tcb.rcvNxt)) {
        tcb.dsack = [seg.seq, (seg.seq + seg.payload.length) >>> 0];
      }
      // RFC 9293 §3.10.7.4 TIME-WAIT: a retransmitted FIN restarts the 2 MSL timeout.
      if (tcb.state === 'TIME-WAIT' && (f & FIN)) tcb.timers.close = now + 2 * tcb.cfg.msl;
      // RFC 5961 §4.2 (RFC 9293 fourth step): a SYN draws a challenge ACK "irrespective of the
      // sequence number", also outside the window (a bare, rate-limited ACK, never one that
      // repeats our FIN under cfg.ackRepeatsFin).
      if ((f & SYN) && tcb.state !== 'TIME-WAIT') { challengeAck(tcb, io, now); return false; }
      tcb.ackNow = true;
    }
    return false;
  }
  tcb.lastRcvAt = now;
  tcb.keepProbes = 0;
  if (tcb.cfg.keepAlive.enabled && tcb.timers.keepalive !== null) tcb.timers.keepalive = now + tcb.cfg.keepAlive.idle;
  return true;
}

/** Second: RST (RFC 9293 §3.10.7.4, RFC 5961 §3.2 exact match, RFC 1337 in TIME-WAIT). */
function checkRst(tcb: Tcb, seg: TcpSegment, io: Io, now: Ms): void {
  if (io.shared.config.rfc5961 && io.shared.config.rfc5961Rst && seg.seq !== tcb.rcvNxt) {
    // RFC 5961 §3.2: in window but not exactly RCV.NXT: challenge ACK, drop.
    challengeAck(tcb, io, now);
    return;
  }
  count(io, 'rst-rcvd');
  switch (tcb.state) {
    case 'SYN-RECEIVED':
      // Passive open: back to LISTEN (the half-open TCB goes away quietly). Active: refused.
      if (tcb.listener !== null) { tcb.state = 'CLOSED'; tcb.app = 'closed'; return; }
      dropConn(tcb, io, 'ECONNREFUSED');
      return;
    case 'TIME-WAIT':
      // RFC 1337 §3 (TIME-WAIT assassination, fix TW1): ignore RST in TIME-WAIT.
      count(io, 'rst-ignored-time-wait');
      return;
    case 'CLOSING': case 'LAST-ACK':
      // RFC 9293: enter CLOSED, delete the TCB. Our FIN was never acknowledged, so the close was
      // not graceful: an application still holding the socket (after shutdown) hears ECONNRESET,
      // as from Linux (tcp_reset) and FreeBSD.
      dropConn(tcb, io, 'ECONNRESET');
      return;
    default:
      // ESTABLISHED, FIN-WAIT-1/2, CLOSE-WAIT: "connection reset".
      dropConn(tcb, io, 'ECONNRESET');
  }
}

/** Fourth: SYN in SYN-RECEIVED (passive) or a synchronized state. */
function checkSyn(tcb: Tcb, seg: TcpSegment, io: Io, now: Ms): void {
  if (tcb.state === 'SYN-RECEIVED' && tcb.listener !== null) {
    // RFC 9293 §3.10.7.4 fourth: a passive open returns to LISTEN.
    tcb.state = 'CLOSED';
    tcb.app = 'closed';
    count(io, 'syn-in-syn-received');
    return;
  }
  if (io.shared.config.rfc5961 && io.shared.config.rfc5961Syn) {
    // RFC 5961 §4.2 / RFC 9293: challenge ACK whatever the sequence number.
    challengeAck(tcb, io, now);
    return;
  }
  if (seqLt(seg.seq, tcb.rcvNxt)) {
    // RFC 793 p. 71 resets only for a SYN "in the window". This segment was acceptable for what
    // follows its SYN (e.g. a SYN+FIN at RCV.NXT-1), but the SYN itself lies in old sequence
    // space, which step one trims ("only the new parts"): answer as for a segment outside the
    // window, with an ACK. FreeBSD tests SEG.SEQ against the window the same way.
    count(io, 'syn-below-window');
    sendAck(tcb, io, now);
    return;
  }
  // RFC 793 behaviour (p. 71, fourth): an in-window SYN is an error, "send a reset". RFC 793
  // gives no form for it; we send <SEQ=SND.NXT><ACK=RCV.NXT><CTL=RST,ACK> (as BSD's tcp_drop),
  // the form the FreeBSD suite's STANDARD branch expects: with its ACK it is acceptable to the
  // peer in any state, SYN-SENT included (RFC 9293 §3.10.7.3 takes a RST only with an ACK).
  count(io, 'syn-in-window-reset');
  xmit(tcb, io, now, RST | ACK, bareSeq(tcb));
  dropConn(tcb, io, 'ECONNRESET');
}

/** Fifth: the ACK field. Returns false to drop. */
function checkAck(tcb: Tcb, seg: TcpSegment, info: TcpOptionsInfo, io: Io, now: Ms): boolean {
  if (!(seg.flags & ACK)) { count(io, 'no-ack'); return false; }
  const ack = seg.ack;
  if (tcb.state === 'SYN-RECEIVED') {
    // RFC 9293: SND.UNA < SEG.ACK =< SND.NXT enters ESTABLISHED, else <SEQ=SEG.ACK><CTL=RST>.
    if (!(seqLt(tcb.sndUna, ack) && seqLe(ack, tcb.sndNxt))) {
      count(io, 'synrcvd-bad-ack');
      resetFor(tcb, io, now, seg);
      return false;
    }
    tcb.sndWnd = seg.window * 2 ** tcb.sndShift;
    tcb.maxSndWnd = tcb.sndWnd;
    tcb.sndWl1 = seg.seq;
    tcb.sndWl2 = ack;
    tcb.sndUna = ack;
    tcb.cc.cwnd = tcb.cfg.initialCwnd * tcb.mss;
    handshakeRtt(tcb, info, now);
    tcb.recover = tcb.iss;
    tcb.highRxt = tcb.lostHigh = ack;
    established(tcb, io);
    if (tcb.cfg.keepAlive.enabled) tcb.timers.keepalive = now + tcb.cfg.keepAlive.idle;
    // Text and FIN that came on the peer's SYN in SYN-SENT (RFC 9293 §3.10.7.3) are processed now.
    if ((tcb.ooo.length > 0 || tcb.oooFin !== null) && releaseHeld(tcb, io, now)) processFin(tcb, io, now);
    return true;
  }
  if (tcb.state === 'TIME-WAIT') {
    // RFC 9293 §3.10.7.4 fifth, TIME-WAIT: "The only thing that can arrive in this state is a
    // retransmission of the remote FIN. Acknowledge it". We acknowledge whatever arrives except
    // an exact duplicate of the last ACK (no text, SEG.SEQ = RCV.NXT, SEG.ACK = SND.NXT), as BSD's
    // tcp_twcheck does: two ends in TIME-WAIT must not ACK each other's ACKs forever.
    const dupAck = seg.payload.length === 0 && (seg.flags & FIN) === 0 && seg.seq === tcb.rcvNxt && ack === tcb.sndNxt;
    if (!dupAck) tcb.ackNow = true;
    return true;
  }
  // RFC 5961 §5.2: acceptable iff SND.UNA - MAX.SND.WND =< SEG.ACK =< SND.NXT; else challenge ACK and drop.
  if (io.shared.config.rfc5961) {
    const low = (tcb.sndUna - Math.max(tcb.maxSndWnd, 1)) >>> 0;
    if (seqGt(ack, tcb.sndNxt) || seqLt(ack, low)) { count(io, 'ack-out-of-range'); challengeAck(tcb, io, now); return false; }
  } else if (seqGt(ack, tcb.sndNxt)) {
    // RFC 9293: an ACK of something not yet sent: send an ACK, drop the segment.
    count(io, 'ack-unsent');
    tcb.ackNow = true;
    return false;
  }
  onAck(tcb, seg, info, io, now);
  if (finAcked(tcb)) {
    switch (tcb.state) {
      case 'FIN-WAIT-1':
        tcb.state = 'FIN-WAIT-2';
        drained(tcb, io);
        // An orphaned FIN-WAIT-2 does not wait forever (Linux tcp_fin_timeout); RFC 9293 leaves it open.
        if (tcb.rdShut && tcb.cfg.finWait2Timeout !== null) tcb.timers.close = now + tcb.cfg.finWait2Timeout;
        break;
      case 'CLOSING':
        drained(tcb, io);
        enterTimeWait(tcb, io, now);
        break;
      case 'LAST-ACK':
        count(io, 'last-ack-done');
        drained(tcb, io);
        tcb.state = 'CLOSED';
        tcb.timers.rtx = tcb.timers.persist = tcb.timers.keepalive = tcb.timers.delack = null;
        appClosed(tcb, io);
        return false;
      default: break;
    }
  }
  return true;
}

function drained(tcb: Tcb, io: Io): void {
  if (!tcb.drainedSent && tcb.app === 'open') { tcb.drainedSent = true; emitEvent(io, { type: 'drained', id: tcb.id }); }
}

/** Seventh and eighth: segment text and FIN. */
function processTextAndFin(tcb: Tcb, seg: TcpSegment, io: Io, now: Ms): void {
  let seq = seg.seq;
  let data = seg.payload;
  let finAt: number | null = seg.flags & FIN ? (seg.seq + data.length) >>> 0 : null;
  // Trim what lies before RCV.NXT (RFC 9293 §3.10.7.4 first: "segments ... trimmed").
  if (seqLt(seq, tcb.rcvNxt)) {
    const cut = seqDiff(tcb.rcvNxt, seq);
    if (data.length > 0 && tcb.sackOk) {
      // RFC 2883 §4: the part below RCV.NXT is a duplicate; report it in an immediate ACK.
      tcb.dsack = [seq, (seq + Math.min(cut, data.length)) >>> 0];
      tcb.ackNow = true;
    }
    data = cut >= data.length ? data.subarray(data.length) : data.subarray(cut);
    seq = tcb.rcvNxt;
  }
  if (finAt !== null && seqLt(finAt, tcb.rcvNxt)) finAt = null;
  // ...and what lies beyond the window (a FIN beyond it is dropped with the data).
  const wndEnd = acceptEdge(tcb);
  if (seqGt((seq + data.length) >>> 0, wndEnd)) {
    data = data.subarray(0, Math.max(0, seqDiff(wndEnd, seq)));
    finAt = null;
  }
  const st = tcb.state;
  const takesData = st === 'ESTABLISHED' || st === 'FIN-WAIT-1' || st === 'FIN-WAIT-2';
  let finNow = false;
  if (data.length > 0 || finAt !== null) {
    if (data.length > 0 && takesData && tcb.rdShut) {
      // RFC 1122 §4.2.2.13 / RFC 9293 §3.10.4: data after close() is lost: tell the peer with a RST.
      count(io, 'data-after-close');
      xmit(tcb, io, now, RST, bareSeq(tcb));
      dropConn(tcb, io, null);
      return;
    }
    if (takesData || st === 'SYN-RECEIVED') {
      finNow = receiveData(tcb, io, now, seq, data, finAt);
    } else if (finAt !== null || data.length > 0) {
      // CLOSE-WAIT, CLOSING, LAST-ACK, TIME-WAIT: the peer's FIN was already processed; just ACK.
      tcb.ackNow = true;
    }
  }
  if (finNow) processFin(tcb, io, now);
}

/** Eighth: the peer's FIN is in order (RFC 9293 §3.10.7.4 eighth). */
function processFin(tcb: Tcb, io: Io, now: Ms): void {
  tcb.rcvNxt = (tcb.rcvNxt + 1) >>> 0;
  tcb.finRcvd = true;
  tcb.ackNow = true;
  if (tcb.app === 'open') {
    emitEvent(io, { type: 'readable', id: tcb.id });
    if (tcb.rcvQLen === 0 && !tcb.eofSent) { tcb.eofSent = true; emitEvent(io, { type: 'eof', id: tcb.id }); }
  }
  switch (tcb.state) {
    case 'SYN-RECEIVED': case 'ESTABLISHED':
      tcb.state = 'CLOSE-WAIT';
      break;
    case 'FIN-WAIT-1':
      if (finAcked(tcb)) enterTimeWait(tcb, io, now);
      else tcb.state = 'CLOSING';
      break;
    case 'FIN-WAIT-2':
      enterTimeWait(tcb, io, now);
      break;
    case 'TIME-WAIT':
      tcb.timers.close = now + 2 * tcb.cfg.msl;
      break;
    default: break;
  }
}

export { sendAck };
