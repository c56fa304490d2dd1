// The SND.* side: emitting segments, the transmit loop (segmentation, Nagle, sender SWS
// avoidance, congestion window, RFC 6675 retransmission of lost data), ACK processing
// (RTT, congestion control, fast retransmit / fast recovery, SACK scoreboard) and timer arming.
//
// Loss bookkeeping, one model for every kind of recovery (RFC 6675 §4 terms):
//   - `sacked` is the scoreboard; an unSACKed octet is "lost" when RFC 6675 IsLost says so
//     (DupThresh SACKed blocks or more than (DupThresh-1)*SMSS SACKed bytes above it) or when
//     it lies below `lostHigh`, which fast retransmit (RFC 5681 §3.2 / RFC 6582), partial ACKs
//     (RFC 6582 §3.2 step 4), an RTO (RFC 6298 §5.4, everything outstanding) or a PMTU drop
//     raise. Without SACK only `lostHigh` marks losses (NewReno).
//   - retransmissions proceed upwards from sndUna; [sndUna, highRxt) has been retransmitted.
//   - pipe (RFC 6675 §4 SetPipe) counts each unSACKed octet once if not lost and once more if
//     retransmitted. Without SACK, duplicate ACKs stand in for SACKed segments (`renoSacked`),
//     which is RFC 6582's cwnd inflation expressed as a smaller pipe.
// The transmit loop sends while pipe < cwnd: first lost data (NextSeg rule 1), then new data.
import type { Ms } from '../api.ts';
import { seqDiff, seqGe, seqGt, seqLe, seqLt } from '../wire/seq.ts';
import { ACK, CWR, ECE, FIN, PSH, RST, SYN, type SackBlock, type TcpOptionsInfo, type TcpSegment } from '../wire/tcp.ts';
import { ccOnAck, ccOnLoss } from './cc/index.ts';
import { ECN_ECT0, ecnOnEce, ecnSynFlags } from './ecn.ts';
import { buildSegment, count, emitEvent, segment, type Io } from './output.ts';
import { sackBlocksBesideMd5, withMd5Option } from './md5sig.ts';
import { segOptions, synOptions, tsNow } from './options.ts';
import { sackBlocks, windowField } from './receive.ts';
import { baseRto, rttSample, rtxTimeout } from './rtt.ts';
import { sndQDrop, sndQRead, synchronized, type Tcb } from './tcb.ts';

const EMPTY = new Uint8Array(0);

/**
 * Send one segment of this connection. Every segment with ACK also clears the pending-ACK state.
 * `ect`: the packet goes out ECN-capable, ECT(0) (RFC 3168 §6.1.2; the caller decides).
 */
export function xmit(tcb: Tcb, io: Io, now: Ms, flags: number, seq: number, payload: Uint8Array = EMPTY,
  blocks?: SackBlock[] | null, ect = false): void {
  let window: number;
  let options;
  const cfg = tcb.cfg;
  const md5Key = cfg.md5Key ?? null;
  if (flags & SYN) {
    options = synOptions(tcb, now, (flags & ACK) !== 0);
    // RFC 7323 §2.2: the window field of a SYN or SYN|ACK is never scaled.
    window = Math.min(65535, tcb.cfg.rcvBuf);
    if (flags & ACK) tcb.rcvAdv = (tcb.rcvNxt + window) >>> 0;
  } else {
    // Resets advertise no window (as Linux and FreeBSD send them).
    window = flags & RST ? 0 : windowField(tcb);
    const sack = (flags & ACK) && tcb.sackOk ? (blocks !== undefined ? blocks : sackBlocks(tcb)) : null;
    if (md5Key === null) options = (flags & RST) ? [] : segOptions(tcb, now, sack);
    else {
      // RFC 2385: the signature goes before the SACK blocks (BSD tcp_addoptions order: timestamps,
      // signature, SACK), and only the blocks that still fit beside it are sent.
      options = withMd5Option((flags & RST) ? [] : segOptions(tcb, now, null));
      const fit = (flags & RST) ? null : sackBlocksBesideMd5(sack, tcb.tsOk);
      if (fit !== null && fit.length > 0) options.push({ kind: 'nop' }, { kind: 'nop' }, { kind: 'sack', blocks: fit });
    }
    // RFC 3168 §6.1.3: after a CE mark every ACK carries ECE until the peer's CWR.
    if (tcb.ecn !== null && tcb.ecn.ece && (flags & (ACK | RST)) === ACK) flags |= ECE;
  }
  if (flags & ACK) {
    tcb.lastAckSent = tcb.rcvNxt;
    tcb.ackNow = false;
    tcb.ackPending = 0;
    tcb.timers.delack = null;
    tcb.dsack = null;
  }
  const ack = flags & ACK ? tcb.rcvNxt : 0;
  // Per-socket TTL / Hop Limit and DSCP (cfg.ttl, cfg.tos); the ECN field is ours (RFC 3168 §5).
  const tos = (cfg.tos & 0xfc) | (ect ? ECN_ECT0 : 0);
  // RFC 2385 §3.0: a socket with a key signs every segment it sends, RSTs included.
  if (md5Key !== null && (flags & SYN)) options = withMd5Option(options);
  // TCP over UDP: from the stack's tunnelling port to the peer's (cfg.udpEncapPort).
  const encap = cfg.udpEncapPort ?? null;
  const udp = encap === null ? null : { srcPort: io.shared.config.tcpOverUdp?.port ?? encap, dstPort: encap };
  io.out.push(buildSegment(
    { src: tcb.localAddr, dst: tcb.remoteAddr, v6: tcb.v6, psum: tcb.psum, ttl: cfg.ttl ?? io.shared.config.ttl, tos, udp, md5Key },
    segment(tcb.localPort, tcb.remotePort, seq, ack, flags, window, options, payload),
  ));
  count(io, 'tcp-out');
}

/**
 * SEQ for a segment that carries no data (ACK, RST): RFC 9293's SND.NXT. Our sndNxt is the
 * highest sequence number sent (BSD's snd_max), which a zero-window probe takes one past the
 * peer's closed window; a receiver at RCV.WND = 0 accepts only SEG.SEQ = RCV.NXT (Table 6), so
 * an ACK sent from there would be dropped unread. While the peer's window is zero we use
 * SND.UNA, as BSD pulls snd_nxt back into the closed window (tcp_output).
 */
export const bareSeq = (tcb: Tcb): number => (tcb.sndWnd === 0 && synchronized(tcb.state) ? tcb.sndUna : tcb.sndNxt);

/** <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>: the ACK RFC 9293 §3.10.7.4 sends everywhere. */
export function sendAck(tcb: Tcb, io: Io, now: Ms): void {
  xmit(tcb, io, now, ACK, bareSeq(tcb));
}

/** RFC 5961 §7: a challenge ACK, rate limited stack-wide per second. */
export function challengeAck(tcb: Tcb, io: Io, now: Ms): void {
  const c = io.shared.challenge;
  if (now - c.at >= 1000 || now < c.at) { c.at = now; c.count = 0; }
  if (c.count >= io.shared.config.challengeAckLimit) { count(io, 'challenge-ack-limited'); return; }
  c.count++;
  count(io, 'challenge-ack');
  sendAck(tcb, io, now);
}

/** Our SYN (RFC 9293 §3.10.1): <SEQ=ISS><CTL=SYN>, with ECE|CWR when it asks for ECN (RFC 3168 §6.1.1). */
export function sendSyn(tcb: Tcb, io: Io, now: Ms): void {
  xmit(tcb, io, now, SYN | ecnSynFlags(tcb), tcb.iss);
  tcb.sndNxt = (tcb.iss + 1) >>> 0;
  if (tcb.retries === 0) tcb.rttAt = now;
}

/** Our SYN|ACK (RFC 9293 §3.10.7.2): <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>, with ECE when it accepts ECN (RFC 3168 §6.1.1). */
export function sendSynAck(tcb: Tcb, io: Io, now: Ms): void {
  xmit(tcb, io, now, SYN | ACK | (tcb.ecn !== null ? ECE : 0), tcb.iss);
  tcb.sndNxt = (tcb.iss + 1) >>> 0;
  if (tcb.retries === 0) tcb.rttAt = now;
}

// ---------------------------------------------------------------------------- scoreboard

/** Offset of `s` from sndUna, clamped to [0, sndNxt - sndUna]. */
function off(tcb: Tcb, s: number, max: number): number {
  const d = seqDiff(s, tcb.sndUna);
  return d < 0 ? 0 : d > max ? max : d;
}

interface Scan { pipe: number; lostSeq: number; lostEnd: number; hasLost: boolean }

/** RFC 6675 SetPipe and NextSeg rule 1 in one pass over the holes of the scoreboard. */
function scan(tcb: Tcb): Scan {
  const out: Scan = { pipe: 0, lostSeq: 0, lostEnd: 0, hasLost: false };
  const outstanding = seqDiff(tcb.sndNxt, tcb.sndUna);
  out.hasLost = false;
  const lostHi = off(tcb, tcb.lostHigh, outstanding);
  const rxtHi = off(tcb, tcb.highRxt, outstanding);
  const s = tcb.sacked;
  if (s.length === 0 && lostHi === 0) {
    // Fast path: nothing SACKed, nothing marked lost.
    out.pipe = Math.max(0, outstanding + rxtHi - tcb.renoSacked);
    return out;
  }
  const dupThresh = tcb.cfg.dupThresh;
  const n = s.length >> 1;
  let sackedAbove = tcb.sackedBytes, blocksAbove = n;
  let pipe = 0, a = 0;
  for (let i = 0; i <= n; i++) {
    const b = i < n ? off(tcb, s[2 * i]!, outstanding) : outstanding;
    // RFC 6675 §4 IsLost: DupThresh discontiguous SACKed blocks, or more than (DupThresh-1)*SMSS bytes SACKed, above.
    const ruleLost = i < n && (blocksAbove >= dupThresh || sackedAbove > (dupThresh - 1) * tcb.mss);
    if (b > a) {
      const lostEnd = ruleLost ? b : Math.min(b, Math.max(a, lostHi));
      const notLost = b - Math.max(a, lostEnd);
      const rxt = Math.max(0, Math.min(b, rxtHi) - a);
      pipe += notLost + rxt;
      if (!out.hasLost) {
        const lo = Math.max(a, rxtHi);
        if (lo < lostEnd) { out.hasLost = true; out.lostSeq = lo; out.lostEnd = lostEnd; }
      }
    }
    if (i < n) {
      const l = s[2 * i]!, r = s[2 * i + 1]!;
      sackedAbove -= seqDiff(r, l);
      blocksAbove--;
      a = off(tcb, r, outstanding);
    }
  }
  out.pipe = Math.max(0, pipe - tcb.renoSacked);
  if (out.hasLost) {
    out.lostSeq = (tcb.sndUna + out.lostSeq) >>> 0;
    out.lostEnd = (tcb.sndUna + out.lostEnd) >>> 0;
  }
  return out;
}

/** RFC 6675 IsLost(sndUna): is the first unacknowledged octet deemed lost by SACK information? */
function headLost(tcb: Tcb): boolean {
  const s = tcb.sacked;
  if (s.length === 0) return false;
  const n = s.length >> 1;
  return n >= tcb.cfg.dupThresh || tcb.sackedBytes > (tcb.cfg.dupThresh - 1) * tcb.mss;
}

/**
 * Merge the peer's SACK blocks into the scoreboard (RFC 2018 §5, RFC 6675 §5 "update the
 * scoreboard"). Blocks at or below the cumulative ACK are D-SACKs (RFC 2883 §4) or stale and
 * only counted; blocks beyond sndNxt or inverted are ignored. Returns newly SACKed bytes.
 */
export function updateScoreboard(tcb: Tcb, blocks: readonly SackBlock[], ack: number, io: Io): number {
  let added = 0;
  for (let k = 0; k < blocks.length; k++) {
    let l = blocks[k]!.left, r = blocks[k]!.right;
    if (!seqLt(l, r)) continue;
    if (seqLe(r, ack)) { if (k === 0) count(io, 'dsack-rcvd'); continue; }
    if (seqGt(r, tcb.sndNxt)) { count(io, 'sack-invalid'); continue; }
    // An old, reordered ACK may carry blocks that a newer ACK has since covered: nothing below
    // SND.UNA belongs in the scoreboard (RFC 6675 §5: the scoreboard holds outstanding data).
    const floor = seqGt(tcb.sndUna, ack) ? tcb.sndUna : ack;
    if (seqLe(r, floor)) continue;
    if (seqLt(l, floor)) l = floor;
    added += sbInsert(tcb, l, r);
  }
  return added;
}

/** Insert [l, r) into the sorted flat scoreboard, merging overlaps; returns bytes newly covered. */
function sbInsert(tcb: Tcb, l: number, r: number): number {
  const s = tcb.sacked;
  const n = s.length >> 1;
  // Find the first block whose right edge >= l.
  let i = 0;
  while (i < n && seqLt(s[2 * i + 1]!, l)) i++;
  if (i === n || seqLt(r, s[2 * i]!)) {
    s.splice(2 * i, 0, l, r);
    const len = seqDiff(r, l);
    tcb.sackedBytes += len;
    return len;
  }
  // Merge with blocks i..j that overlap or touch [l, r).
  let j = i;
  let covered = 0;
  let nl = l, nr = r;
  while (j < n && seqLe(s[2 * j]!, r)) {
    const bl = s[2 * j]!, br = s[2 * j + 1]!;
    covered += seqDiff(br, bl);
    if (seqLt(bl, nl)) nl = bl;
    if (seqGt(br, nr)) nr = br;
    j++;
  }
  s.splice(2 * i, 2 * (j - i), nl, nr);
  const total = seqDiff(nr, nl);
  const added = total - covered;
  tcb.sackedBytes += added;
  return added;
}

/** Drop scoreboard blocks at or below sndUna. */
function sbTrim(tcb: Tcb): void {
  const s = tcb.sacked;
  if (s.length === 0) return;
  let i = 0;
  while (i < s.length && seqLe(s[i + 1]!, tcb.sndUna)) { tcb.sackedBytes -= seqDiff(s[i + 1]!, s[i]!); i += 2; }
  if (i > 0) s.splice(0, i);
  if (s.length > 0 && seqLt(s[0]!, tcb.sndUna)) {
    tcb.sackedBytes -= seqDiff(tcb.sndUna, s[0]!);
    s[0] = tcb.sndUna;
  }
}

// ------------------------------------------------------------------------------ transmit

/** Sequence number just past the queued data (where our FIN goes). */
export const dataEnd = (tcb: Tcb): number => (tcb.sndQSeq + tcb.sndQLen) >>> 0;

/** Can this state send data / FIN at all? */
function canSend(tcb: Tcb): boolean {
  const s = tcb.state;
  return s === 'ESTABLISHED' || s === 'CLOSE-WAIT' || s === 'FIN-WAIT-1' || s === 'CLOSING' || s === 'LAST-ACK';
}

/**
 * Send the sequence range starting at `seq`: up to `maxData` payload bytes, plus our FIN when
 * the range reaches it and `withFin`. Returns the sequence space consumed (data + FIN).
 * `probe`: a zero-window probe.
 */
function sendRange(tcb: Tcb, io: Io, now: Ms, seq: number, maxData: number, withFin: boolean, rxt: boolean, probe = false): number {
  const end = dataEnd(tcb);
  const avail = Math.max(0, seqDiff(end, seq));
  // SACK blocks ride on data segments too; they take room from the payload so the packet fits
  // the path MTU (RFC 6691 §3: the MSS does not account for variable options).
  const blocks = tcb.sackOk ? sackBlocks(tcb) : null;
  const nb = blocks === null ? 0 : Math.min(blocks.length, tcb.tsOk ? 3 : 4);
  const extra = nb > 0 ? 4 + 8 * nb : 0;
  // New data may be a super-segment (StackConfig.tsoSegments, newDataLen); anything else is one MSS at most.
  const cap = !rxt && !probe && maxData > tcb.mss ? maxData : tcb.mss;
  const len = Math.min(maxData, avail, cap - extra);
  const fin = withFin && tcb.finSeq !== null && ((seq + len) >>> 0) === tcb.finSeq;
  const payload = len > 0 ? sndQRead(tcb, seqDiff(seq, tcb.sndQSeq), len) : EMPTY;
  let flags = ACK;
  // PSH on the segment that empties what was queued (as BSD and Linux do; RFC 9293 §3.9.1 leaves it to us).
  if (len > 0 && ((seq + len) >>> 0) === end) flags |= PSH;
  if (fin) flags |= FIN;
  // RFC 3168: new data is ECT(0) (§6.1.2), retransmissions (§6.1.5) and window probes (§6.1.6) are
  // not; the first new data segment after a cwnd reduction for ECE carries CWR (§6.1.2).
  const ect = tcb.ecn !== null && len > 0 && !rxt && !probe;
  if (ect && tcb.ecn!.cwr) { flags |= CWR; tcb.ecn!.cwr = false; }
  xmit(tcb, io, now, flags, seq, payload, blocks, ect);
  const used = len + (fin ? 1 : 0);
  const next = (seq + used) >>> 0;
  if (rxt) {
    tcb.retransmits++;
    count(io, 'tcp-rxt');
    // Karn (RFC 6298 §3): a retransmitted segment is never timed.
    tcb.rttSeq = null;
  } else if (!tcb.tsOk && tcb.rttSeq === null && used > 0) {
    tcb.rttSeq = seq;
    tcb.rttAt = now;
  }
  if (seqGt(next, tcb.sndNxt)) tcb.sndNxt = next;
  return used;
}

/**
 * Bytes of new data to send now (or -1 for none), applying the usable window, cwnd, Nagle
 * (RFC 9293 §3.7.4) and sender SWS avoidance (RFC 9293 §3.8.6.2.1). Returns 0 for a bare FIN.
 */
function newDataLen(tcb: Tcb, pipe: number, tso: number): number {
  const offset = seqDiff(tcb.sndNxt, tcb.sndQSeq);
  const avail = tcb.sndQLen - offset;
  const finPending = tcb.finSeq !== null && seqLe(tcb.sndNxt, tcb.finSeq);
  if (avail <= 0) return finPending && avail === 0 ? 0 : -1;
  const mss = tcb.mss;
  const wnd = seqDiff((tcb.sndUna + tcb.sndWnd) >>> 0, tcb.sndNxt);
  let room = tcb.cc.cwnd - pipe;
  // RFC 3042 limited transmit: the first two duplicate ACKs may each release one new segment.
  // (With SACK the SACKed segments already leave pipe, which has the same effect.)
  if (!tcb.sackOk && !tcb.inRecovery && tcb.dupAcks > 0 && tcb.dupAcks < tcb.cfg.dupThresh) room += tcb.dupAcks * mss;
  // StackConfig.tsoSegments: a run of whole segments leaves as one super-segment for the link to cut
  // (GSO). The wire still carries MSS-sized segments: a tail shorter than the MSS goes along
  // only when it empties the queue and Nagle would not hold it (noDelay, or the FIN follows).
  if (tso > 1 && avail >= 2 * mss) {
    // An IP packet holds at most 65535 bytes: room for the largest IP and TCP headers stays.
    const big = Math.min(avail, Math.floor(Math.min(mss * tso, 65535 - 60 - 60) / mss) * mss);
    let u = Math.min(big, wnd, room);
    if (!(u === avail && (tcb.cfg.noDelay || finPending))) u -= u % mss;
    if (u >= 2 * mss) {
      if (room < big) tcb.cwndLimited = true;
      return u;
    }
  }
  const len = Math.min(avail, mss);
  const usable = Math.min(len, wnd, room);
  if (room < len) tcb.cwndLimited = true;
  if (usable <= 0) return -1;
  if (usable === mss) return usable;
  const idle = tcb.sndNxt === tcb.sndUna;
  if (usable === avail) {
    // Nagle: a short segment only when nothing is outstanding, unless disabled or closing.
    return tcb.cfg.noDelay || idle || finPending ? usable : -1;
  }
  // Limited below a full segment by the window or cwnd: never send a runt for cwnd's sake.
  if (room < len) return -1;
  // RFC 9293 §3.8.6.2.1 (3): at least Fs = 1/2 of the largest window seen, with Nagle's condition.
  if (usable >= tcb.maxSndWnd / 2 && (tcb.cfg.noDelay || idle)) return usable;
  return -1;
}

/**
 * The transmit loop: retransmit lost data while pipe < cwnd, then new data, then a pure ACK if
 * one is still owed; arm the retransmission and persist timers. Called after every event.
 */
export function output(tcb: Tcb, io: Io, now: Ms): void {
  const t = tcb.timers;
  // The peer reopened its window: persisting ends and normal transmission resumes.
  if (t.persist !== null && tcb.sndWnd > 0 && seqDiff((tcb.sndUna + tcb.sndWnd) >>> 0, tcb.sndNxt) > 0) {
    t.persist = null;
    tcb.persistShift = 0;
  }
  if (canSend(tcb) && t.persist === null) {
    tcb.cwndLimited = false;
    let pipe = scan(tcb).pipe;
    for (let guard = 0; guard < 100000; guard++) {
      // Fast path: nothing SACKed and nothing marked lost means nothing to retransmit.
      const sc = tcb.sacked.length === 0 && !seqGt(tcb.lostHigh, tcb.sndUna) ? null : scan(tcb);
      if (sc !== null && sc.hasLost) {
        if (pipe >= tcb.cc.cwnd && !tcb.forceRxt) { tcb.cwndLimited = true; break; }
        const used = sendRange(tcb, io, now, sc.lostSeq, Math.min(tcb.mss, seqDiff(sc.lostEnd, sc.lostSeq)), true, true);
        if (used === 0) break;
        tcb.highRxt = (sc.lostSeq + used) >>> 0;
        tcb.forceRxt = false;
        pipe += used;
        continue;
      }
      tcb.forceRxt = false;
      const n = newDataLen(tcb, pipe, io.shared.config.tsoSegments);
      if (n < 0) break;
      const used = sendRange(tcb, io, now, tcb.sndNxt, n, true, false);
      if (used === 0) break;
      pipe += used;
    }
  }
  if (tcb.ackNow) {
    if (tcb.cfg.ackRepeatsFin && finOnlyOutstanding(tcb)) {
      // cfg.ackRepeatsFin (BSD): the ACK we owe goes out as a retransmission of our FIN, a copy
      // of unacknowledged sequence space the peer handles like any duplicate (RFC 9293
      // §3.10.7.4). Karn (RFC 6298 §3): a FIN sent twice is no longer timed.
      xmit(tcb, io, now, ACK | FIN, tcb.finSeq!);
      tcb.rttSeq = null;
      count(io, 'fin-repeated-on-ack');
    } else {
      sendAck(tcb, io, now);
    }
  }
  armTimers(tcb, now);
}

/** Our FIN has been sent and is all that is unacknowledged. */
const finOnlyOutstanding = (tcb: Tcb): boolean =>
  tcb.finSeq !== null && tcb.sndUna === tcb.finSeq && tcb.sndNxt === ((tcb.finSeq + 1) >>> 0);

/** RFC 6298 §5.1/§5.2 retransmission timer and RFC 9293 §3.8.6.1 persist timer after a transmit pass. */
export function armTimers(tcb: Tcb, now: Ms): void {
  const t = tcb.timers;
  if (!canSend(tcb)) {
    if (tcb.state !== 'SYN-SENT' && tcb.state !== 'SYN-RECEIVED') t.rtx = null;
    t.persist = null;
    return;
  }
  const outstanding = tcb.sndNxt !== tcb.sndUna;
  const offset = seqDiff(tcb.sndNxt, tcb.sndQSeq);
  const unsent = tcb.sndQLen - offset > 0 || (tcb.finSeq !== null && seqLe(tcb.sndNxt, tcb.finSeq));
  const wnd = seqDiff((tcb.sndUna + tcb.sndWnd) >>> 0, tcb.sndNxt);
  if (t.persist !== null) {
    // Persisting: the window was closed. It ends when the peer opens the window again.
    if (tcb.sndWnd > 0 && (wnd > 0 || outstanding)) { t.persist = null; tcb.persistShift = 0; }
  } else if (unsent && !outstanding && tcb.state !== 'SYN-SENT') {
    // Data waits, nothing is in flight, and the window keeps it back (zero window, or too small
    // for the SWS rules): arm the persist timer (RFC 9293 §3.8.6.1 probes; §3.8.6.2.1 (4) override).
    t.persist = now + persistInterval(tcb);
  }
  if (t.persist !== null) { t.rtx = null; return; }
  if (!outstanding) t.rtx = null;
  else if (t.rtx === null) t.rtx = now + rtxTimeout(tcb);
}

/** Persist interval: RTO-based, backed off exponentially, within [persistMin, persistMax] (RFC 9293 §3.8.6.1 SHLD-29/30). */
export function persistInterval(tcb: Tcb): Ms {
  const v = baseRto(tcb) * 2 ** tcb.persistShift;
  return Math.min(tcb.cfg.persistMax, Math.max(tcb.cfg.persistMin, v));
}

/** The persist timer fired: a zero-window probe of one byte, or the SWS override send. */
export function onPersist(tcb: Tcb, io: Io, now: Ms): 'ok' | 'timeout' {
  tcb.timers.persist = null;
  if (!canSend(tcb)) return 'ok';
  const wnd = seqDiff((tcb.sndUna + tcb.sndWnd) >>> 0, tcb.sndNxt);
  if (tcb.sndWnd === 0 || wnd <= 0) {
    // RFC 9293 §3.8.6.1: probe with one octet (the oldest unacknowledged, or the next new one).
    tcb.persistProbes++;
    if (tcb.persistProbes > tcb.cfg.maxRetries) return 'timeout';
    const seq = tcb.sndNxt !== tcb.sndUna ? tcb.sndUna : tcb.sndNxt;
    sendRange(tcb, io, now, seq, 1, true, seq !== tcb.sndNxt, true);
    count(io, 'zero-window-probe');
    tcb.persistShift++;
    tcb.timers.persist = now + persistInterval(tcb);
    return 'ok';
  }
  // §3.8.6.2.1 (4): the override timeout: send what the (small) window allows.
  const offset = seqDiff(tcb.sndNxt, tcb.sndQSeq);
  const avail = tcb.sndQLen - offset;
  const n = Math.min(avail, wnd, tcb.mss);
  if (n > 0 || (tcb.finSeq !== null && seqLe(tcb.sndNxt, tcb.finSeq))) sendRange(tcb, io, now, tcb.sndNxt, Math.max(0, n), true, false);
  tcb.persistShift = 0;
  return 'ok';
}

// ---------------------------------------------------------------------------- ACK arrival

/** Has our FIN been acknowledged? */
export const finAcked = (tcb: Tcb): boolean => tcb.finSeq !== null && seqGt(tcb.sndUna, tcb.finSeq);

/**
 * Process an acceptable ACK field in a synchronized state (RFC 9293 §3.10.7.4 fifth,
 * ESTABLISHED rules): advance SND.UNA, RTT, congestion control, recovery, window update.
 * The caller has done the RFC 5961 §5.2 / "ACK for unsent data" checks.
 */
export function onAck(tcb: Tcb, seg: TcpSegment, info: TcpOptionsInfo, io: Io, now: Ms): void {
  const ack = seg.ack;
  tcb.persistProbes = 0;
  const flight = seqDiff(tcb.sndNxt, tcb.sndUna);
  const advances = seqGt(ack, tcb.sndUna);
  let newlySacked = 0;
  if (tcb.sackOk && info.sack.length > 0) newlySacked = updateScoreboard(tcb, info.sack, ack, io);
  const wnd = seg.window * 2 ** tcb.sndShift;
  // RFC 5681 §2 DUPLICATE ACKNOWLEDGMENT (a)-(e); with SACK, RFC 6675 §2 also counts an ACK
  // whose SACK information is new.
  // With SACK in use, an ACK carrying SACK blocks is a duplicate only if it SACKs something new
  // (RFC 6675 §2 "alternatively"): D-SACK-only ACKs (RFC 2883 §5) never count towards DupThresh.
  const rfc5681Dup = !advances && ack === tcb.sndUna && seg.payload.length === 0 && (seg.flags & (SYN | FIN)) === 0
    && tcb.sndNxt !== tcb.sndUna;
  const dup = rfc5681Dup && (tcb.sackOk && info.sack.length > 0 ? newlySacked > 0 : wnd === tcb.sndWnd);
  if (advances) newAck(tcb, ack, info, io, now);
  else if (dup) dupAck(tcb, io, newlySacked);
  // RFC 3168 §6.1.2: the peer saw congestion on our path.
  if (tcb.ecn !== null && (seg.flags & ECE)) ecnOnEce(tcb, io, ack, flight);

  // RFC 9293 §3.10.7.4 fifth: update the send window from a segment not older than the last
  // update. "Older" is judged by SEG.ACK first, then SEG.SEQ: an ACK that advances SND.UNA
  // always updates it, whatever its SEQ (as Linux's tcp_may_update_window). The usable window
  // is SND.UNA + SND.WND - SND.NXT, so moving SND.UNA while keeping an older SND.WND slides the
  // right edge past what the peer offered: a retransmitted segment of the peer (SEG.SEQ <
  // SND.WL1) carrying a newer ACK made us send beyond the window that way (RFC 7323 §2.4 (3):
  // new data MUST be within the window announced by the most recent ACK). SND.WL2 is SND.UNA
  // here, so SEG.ACK < SND.WL2 is an old duplicate, which RFC 9293 ignores.
  if (seqGt(ack, tcb.sndWl2) || (ack === tcb.sndWl2 && seqGe(seg.seq, tcb.sndWl1))) {
    tcb.sndWnd = wnd;
    tcb.sndWl1 = seg.seq;
    tcb.sndWl2 = ack;
    if (wnd > tcb.maxSndWnd) tcb.maxSndWnd = wnd;
  }
}

function newAck(tcb: Tcb, ack: number, info: TcpOptionsInfo, io: Io, now: Ms): void {
  const acked = seqDiff(ack, tcb.sndUna);
  // RTT measurement: RFC 7323 §4.1 (TSecr of an ACK of new data), else the timed segment (RFC 6298 §3, Karn).
  if (tcb.tsOk && info.ts !== null && info.ts.tsecr !== 0) {
    const r = (tsNow(tcb, now) - info.ts.tsecr) | 0;
    if (r >= 0 && r < 600000) rttSample(tcb, r);
  } else if (tcb.rttSeq !== null && seqGt(ack, tcb.rttSeq)) {
    rttSample(tcb, now - tcb.rttAt);
    tcb.rttSeq = null;
  }
  const dataAcked = Math.max(0, Math.min(tcb.sndQLen, seqDiff(ack, tcb.sndQSeq)));
  sndQDrop(tcb, dataAcked);
  const flightBefore = seqDiff(tcb.sndNxt, tcb.sndUna);
  tcb.sndUna = ack;
  sbTrim(tcb);
  if (seqLt(tcb.highRxt, ack)) tcb.highRxt = ack;
  if (seqLt(tcb.lostHigh, ack)) tcb.lostHigh = ack;
  tcb.retries = 0;
  tcb.firstRtxAt = null;
  // RFC 6298 §5.2/§5.3: stop the timer when all is acknowledged, else restart it.
  tcb.timers.rtx = tcb.sndUna === tcb.sndNxt ? null : now + rtxTimeout(tcb);
  const cc = tcb.cc;
  if (tcb.inRecovery) {
    if (seqGe(ack, tcb.recover)) {
      // RFC 6582 §3.2 step 3 (full acknowledgment), option (1): cwnd = min(ssthresh, max(FlightSize, SMSS) + SMSS).
      const flight = seqDiff(tcb.sndNxt, tcb.sndUna);
      cc.cwnd = Math.min(cc.ssthresh, Math.max(flight, tcb.mss) + tcb.mss);
      tcb.inRecovery = false;
      tcb.renoSacked = 0;
      tcb.dupAcks = 0;
    } else {
      // RFC 6582 §3.2 step 4 (partial acknowledgment): the next unacknowledged segment is lost too.
      // With SACK, RFC 6675 leaves this to IsLost while SACK blocks remain above the ACK; with
      // none left (nothing above it arrived), we use NewReno's rule in place of RFC 6675's
      // rescue retransmission (§4 NextSeg rule 4), so a lost tail does not wait for the RTO.
      const outstanding = seqDiff(tcb.sndNxt, tcb.sndUna);
      const mark = (tcb.sndUna + Math.min(tcb.mss, outstanding)) >>> 0;
      if (seqLt(tcb.lostHigh, mark) && seqLe(tcb.highRxt, tcb.sndUna) && (!tcb.sackOk || tcb.sacked.length === 0)) tcb.lostHigh = mark;
      // The ACK covered the retransmission and (acked - SMSS) bytes that duplicate ACKs had counted.
      if (!tcb.sackOk) tcb.renoSacked = Math.max(0, tcb.renoSacked - Math.max(0, acked - tcb.mss));
      if (tcb.renoSacked > flightBefore) tcb.renoSacked = 0;
    }
  } else {
    tcb.dupAcks = 0;
    // Keep RFC 6582's `recover` just below the cumulative ACK so "ACK > recover" survives sequence wrap.
    if (seqGt(ack, tcb.recover)) tcb.recover = (ack - 1) >>> 0;
    ccOnAck(tcb, acked, now);
  }
  // 'writable' with hysteresis: once half the send buffer is free (or it is empty), not per ACK.
  if (tcb.wantWrite && tcb.sndQLen <= tcb.cfg.sndBuf / 2 && tcb.app === 'open') {
    tcb.wantWrite = false;
    emitEvent(io, { type: 'writable', id: tcb.id });
  }
}

function dupAck(tcb: Tcb, io: Io, newlySacked: number): void {
  tcb.dupAcks++;
  count(io, 'dupack-rcvd');
  if (tcb.inRecovery) {
    // Without SACK each further duplicate ACK means one more segment has left the network (RFC 6582 §3.2 step 4 inflation).
    if (!tcb.sackOk) tcb.renoSacked = Math.min(tcb.renoSacked + tcb.mss, Math.max(0, seqDiff(tcb.sndNxt, tcb.sndUna) - tcb.mss));
    return;
  }
  void newlySacked;
  // RFC 5681 §3.2 / RFC 6675 §5 (DupAcks >= DupThresh or IsLost(HighACK+1)), guarded by RFC 6582 §3.2 step 1 (ACK > recover).
  const trigger = tcb.dupAcks >= tcb.cfg.dupThresh || (tcb.sackOk && headLost(tcb));
  if (!trigger || !seqGt(tcb.sndUna, tcb.recover)) return;
  const flight = seqDiff(tcb.sndNxt, tcb.sndUna);
  tcb.inRecovery = true;
  tcb.recover = tcb.sndNxt;
  const ssthresh = ccOnLoss(tcb, flight);
  // RFC 6675 §5 step 4.2 / RFC 6582 §3.2 step 2: cwnd = ssthresh (inflation is expressed through renoSacked).
  tcb.cc.ssthresh = ssthresh;
  tcb.cc.cwnd = ssthresh;
  tcb.highRxt = tcb.sndUna;
  const mark = (tcb.sndUna + Math.min(tcb.mss, flight)) >>> 0;
  if (seqLt(tcb.lostHigh, mark)) tcb.lostHigh = mark;
  if (!tcb.sackOk) tcb.renoSacked = Math.min(tcb.dupAcks * tcb.mss, Math.max(0, flight - tcb.mss));
  // RFC 6675 §5 step 4.3: retransmit the first segment presumed lost regardless of pipe.
  tcb.forceRxt = true;
  count(io, 'fast-retransmit');
}

/** Everything outstanding is lost: RTO (RFC 6298 §5.4, RFC 5681 §3.1) or a path-MTU decrease (RFC 1191 §6.5). */
export function markAllLost(tcb: Tcb): void {
  tcb.inRecovery = false;
  tcb.recover = tcb.sndNxt;
  tcb.dupAcks = 0;
  tcb.renoSacked = 0;
  tcb.lostHigh = tcb.sndNxt;
  tcb.highRxt = tcb.sndUna;
  tcb.forceRxt = true;
  tcb.rttSeq = null;
}

/** Clear the scoreboard: RFC 2018 §8 says SACK information may not be trusted after a retransmission timeout. */
export function clearScoreboard(tcb: Tcb): void {
  tcb.sacked = [];
  tcb.sackedBytes = 0;
}
