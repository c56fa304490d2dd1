// The sender's side of a SACK (RFC 9260 §6.2.1 processing, §6.3.2 R2/R3, §7.2.1-7.2.2
// congestion window growth, §7.2.4 fast retransmit with HTNA miss indications, §8.1-8.2
// error counters) and T3-rtx expiry (§6.3.3, §7.2.3). PR-SCTP (RFC 3758 §3.5): lifetimes of
// outstanding messages and the Advanced.Peer.Ack.Point.
import type { SctpSackChunk } from '../wire/sctp.ts';
import { seqGe, seqGt, seqLe, seqLt } from '../wire/seq.ts';
import type { Assoc, OutChunk } from './assoc.ts';
import { ccOnAck, ccOnDrained, ccOnFastRetransmit, ccOnT3 } from './cc.ts';
import type { Ms } from './events.ts';
import { backoff, countError, dataPath, pathAcked, rttSample } from './path.ts';
import { abandonMessage, advanceAckPoint, writableCheck } from './send.ts';
import { count, type SctpIo } from './state.ts';

/** Bytes marked for retransmission (not in flight but still outstanding). */
function rtxBytes(a: Assoc): number {
  if (a.rtxCount === 0) return 0;
  let n = 0;
  for (const c of a.sent) if (c.st === 'rtx') n += c.len;
  return n;
}

/** Bytes outstanding: in flight on any path or marked for retransmission (§6.2.1: what rwnd is reduced by). */
export function outstandingBytes(a: Assoc): number {
  let n = rtxBytes(a);
  for (const p of a.paths) n += p.flight;
  return n;
}

/** Everything we sent has been acknowledged (or abandoned and skipped) and nothing waits: shutdown may proceed (§9.2). */
export const allAcked = (a: Assoc): boolean => a.sent.length === 0 && a.pending.length === 0;

/**
 * Process a SACK (§6.2.1). Returns true when chunks were newly marked for fast retransmission
 * (the caller sends them at once, §7.2.4).
 */
export function onSack(a: Assoc, s: SctpSackChunk, io: SctpIo, now: Ms): boolean {
  const cum = s.cumTsnAck;
  // §6.2.1 D i): a Cumulative TSN Ack below the Cumulative TSN Ack Point is an old SACK, reordered: drop it.
  if (seqLt(cum, a.cumAck)) { count(io, 'sctp-sack-old'); return false; }
  // A Cumulative TSN Ack for TSNs we never sent acknowledges nothing real: ignore the SACK.
  if (seqGe(cum, a.nextTsn)) { count(io, 'sctp-sack-beyond'); return false; }
  a.sackSeen = true;
  const windowOpened = a.peerArwnd === 0 && s.aRwnd > 0;
  a.peerArwnd = s.aRwnd;
  const np = a.paths.length;
  const flightBefore: number[] = new Array<number>(np);
  const acked: number[] = new Array<number>(np).fill(0);
  const cumOnPath: boolean[] = new Array<boolean>(np).fill(false);
  for (let i = 0; i < np; i++) flightBefore[i] = a.paths[i]!.flight;
  const cumAdvanced = seqGt(cum, a.cumAck);
  let htna: number | null = null;
  let highestAcked = cum;

  /** A chunk newly acknowledged (cumulatively or by a gap block). */
  const newlyAcked = (c: OutChunk): void => {
    const p = a.paths[c.path]!;
    if (c.st === 'flight') p.flight -= c.len;
    else a.rtxCount--;
    acked[c.path]! += c.len;
    htna = c.tsn;
    // §6.3.1 C5 (Karn): only a chunk sent once gives an RTT measurement.
    if (p.rttTsn === c.tsn) {
      if (c.tx === 1) rttSample(a, p, now - p.rttAt);
      p.rttTsn = null;
    }
  };

  // Cumulative part: everything up to cum leaves the retransmission queue.
  let k = 0;
  const sent = a.sent;
  while (k < sent.length && seqLe(sent[k]!.tsn, cum)) {
    const c = sent[k]!;
    if (c.st !== 'abandoned') a.sndBufUsed -= c.len;
    if (c.st === 'flight' || c.st === 'rtx') { newlyAcked(c); cumOnPath[c.path] = true; }
    k++;
  }
  if (k > 0) sent.splice(0, k);
  a.cumAck = cum;

  // Gap Ack Blocks (§3.3.4): offsets from cum, ascending. A chunk gap-acked before but not
  // covered now (between reported blocks) was reneged: it must be sent again (§6.2.1 note).
  let j = 0;
  for (const g of s.gapAckBlocks) {
    if (g.start === 0 || g.end < g.start) continue;
    const lo = (cum + g.start) >>> 0, hi = (cum + g.end) >>> 0;
    while (j < sent.length && seqLt(sent[j]!.tsn, lo)) {
      const c = sent[j]!;
      if (c.st === 'acked') { c.st = 'rtx'; a.rtxCount++; }
      j++;
    }
    while (j < sent.length && seqLe(sent[j]!.tsn, hi)) {
      const c = sent[j]!;
      if (c.st === 'flight' || c.st === 'rtx') { newlyAcked(c); c.st = 'acked'; }
      j++;
    }
    if (seqGt(hi, highestAcked)) highestAcked = hi;
  }

  // §7.2.4 miss indications, HTNA: a TSN below the highest TSN newly acknowledged by this SACK
  // and not acknowledged is missing once more. In Fast Recovery, a SACK that advances the
  // cumulative point counts misses up to the highest TSN it acknowledges.
  let limit: number | null = htna;
  if (a.fastRecoveryExit !== null && cumAdvanced && (limit === null || seqGt(highestAcked, limit))) limit = highestAcked;
  let marked = false;
  const markedOn: boolean[] = new Array<boolean>(np).fill(false);
  if (limit !== null) {
    for (const c of sent) {
      if (seqGe(c.tsn, limit)) break;
      if (c.st !== 'flight') continue;
      c.miss++;
      // Each chunk is fast-retransmitted at most once (§7.2.4); T3-rtx handles the rest.
      if (c.miss >= a.cfg.fastRtxThresh && !c.fastRtx) {
        c.st = 'rtx';
        c.fastRtx = true;
        a.paths[c.path]!.flight -= c.len;
        a.rtxCount++;
        markedOn[c.path] = true;
        marked = true;
        a.stats.fastRetransmits++;
      }
    }
  }

  // §7.2.4 step 4: leave Fast Recovery once the exit point is acknowledged.
  if (a.fastRecoveryExit !== null && seqGe(cum, a.fastRecoveryExit)) a.fastRecoveryExit = null;
  if (marked && a.fastRecoveryExit === null) {
    // §7.2.4 step 2: enter Fast Recovery; one reduction per destination that lost data.
    for (let i = 0; i < np; i++) if (markedOn[i]) ccOnFastRetransmit(a.paths[i]!);
    a.fastRecoveryExit = (a.nextTsn - 1) >>> 0;
  }
  const inFr = a.fastRecoveryExit !== null;
  let any = false;
  for (let i = 0; i < np; i++) {
    const p = a.paths[i]!;
    if (acked[i]! > 0) {
      any = true;
      if (!markedOn[i]) ccOnAck(p, acked[i]!, flightBefore[i]!, cumAdvanced, inFr);
      pathAcked(a, i, io); // §8.2
    }
    // §6.3.2 R2: all data sent to the path acknowledged: stop T3. R3: the earliest outstanding
    // TSN acknowledged: restart it with the current RTO.
    if (p.flight === 0) {
      p.t3 = null;
      ccOnDrained(p);
    } else if (cumOnPath[i]) {
      p.t3 = now + p.rto;
    }
  }
  if (any) a.errors = 0; // §8.1

  // RFC 3758 §3.5: messages whose lifetime ran out are abandoned; C1-C3 then move the ack point.
  abandonExpired(a, io, now);
  advanceAckPoint(a);
  if (seqGt(a.advPeerAckPoint, a.cumAck) && a.peerPrSctp) {
    // The FORWARD TSN is protected by T3-rtx on the data path.
    const p = a.paths[dataPath(a)]!;
    if (p.t3 === null) p.t3 = now + p.rto;
  }

  // §6.1 A: the receiver drops zero-window probes it has no room for. When its window opens,
  // the probe still outstanding goes again at once rather than at the (backed-off) T3-rtx.
  if (windowOpened) {
    for (const c of sent) {
      if (c.st !== 'flight') continue;
      c.st = 'rtx';
      a.paths[c.path]!.flight -= c.len;
      a.rtxCount++;
      break;
    }
  }

  // §6.2.1 D iv: rwnd = a_rwnd minus the bytes still outstanding.
  a.peerRwnd = Math.max(0, s.aRwnd - outstandingBytes(a));
  writableCheck(a, io);
  return marked;
}

/** RFC 3758 §3.5 A3: abandon outstanding messages whose lifetime has expired. */
export function abandonExpired(a: Assoc, io: SctpIo, now: Ms): void {
  for (let i = 0; i < a.sent.length; i++) {
    const c = a.sent[i]!;
    if (c.expires !== null && c.expires <= now && (c.st === 'flight' || c.st === 'rtx')) abandonMessage(a, c.msg, io);
  }
}

/**
 * §6.3.3: T3-rtx of path `pi` expired. E1 cwnd to one MTU, E2 RTO backoff, E3 every chunk in
 * flight on the path is marked for retransmission (to an alternate path, §6.4.1); §8.1-8.2
 * error counters. Returns true when the association failed (Association.Max.Retrans).
 */
export function onT3(a: Assoc, pi: number, io: SctpIo, now: Ms): boolean {
  const p = a.paths[pi]!;
  p.t3 = null;
  a.stats.t3Expiries++;
  ccOnT3(p);
  backoff(a, p);
  p.rttTsn = null;
  // §6.1 A: while probing a zero window, unanswered probes do not count as errors if SACKs keep coming.
  const zeroWindowProbe = a.peerArwnd === 0 && a.sackSeen;
  a.sackSeen = false;
  let failed = false;
  if (!zeroWindowProbe) failed = countError(a, pi, io, true);
  for (const c of a.sent) {
    if (c.st === 'flight' && c.path === pi) {
      c.st = 'rtx';
      c.alt = true;
      p.flight -= c.len;
      a.rtxCount++;
    }
  }
  p.flight = 0;
  // Fast Recovery ends with a timeout (its exit point no longer means anything).
  a.fastRecoveryExit = null;
  abandonExpired(a, io, now);
  advanceAckPoint(a);
  if (seqGt(a.advPeerAckPoint, a.cumAck) && a.peerPrSctp) a.fwdTsn = true;
  return failed;
}
