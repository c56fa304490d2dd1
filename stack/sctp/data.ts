// The data receiver (RFC 9260 §6.2, §6.5, §6.6, §6.9; RFC 3758 §3.6): TSN bookkeeping with
// gap ack blocks and duplicate TSNs, reassembly of fragments, per-stream ordering, unordered
// delivery, the receive window, delayed SACK, and FORWARD TSN. Messages wait in readQ until
// the application takes them (pull model), so a_rwnd shrinks while it does not read.
import { DATA_B, DATA_E, DATA_I, DATA_U, errorChunk, invalidStreamCause, sackChunk, type SctpDataChunk, type SctpForwardTsnChunk, type SctpSackChunk } from '../wire/sctp.ts';
import { seqGt, seqLe, seqLt } from '../wire/seq.ts';
import type { Assoc, InChunk, InMsg } from './assoc.ts';
import type { Ms } from './events.ts';
import { emitEvent, type SctpIo } from './state.ts';

/** Most duplicate TSNs reported in one SACK, and most gap ack blocks (keeps the SACK well under any MTU). */
const MAX_DUPS = 32, MAX_GAPS = 128;

/** §6.2: the receive window we advertise (a_rwnd): buffer space not held by unread or waiting data. */
export const ourRwnd = (a: Assoc): number => Math.max(0, a.cfg.rcvBuf - a.rcvBufUsed);

/** Whether `tsn` has been received (at or below the cumulative TSN, or inside a received range). */
export function tsnSeen(a: Assoc, tsn: number): boolean {
  if (seqLe(tsn, a.cumTsn)) return true;
  const r = a.rcvRanges;
  for (let i = 0; i < r.length; i += 2) {
    if (seqLt(tsn, r[i]!)) return false;
    if (seqLe(tsn, r[i + 1]!)) return true;
  }
  return false;
}

/** Record `tsn` (> cumTsn, not seen) as received; advances the cumulative TSN over any range it joins. */
export function tsnAdd(a: Assoc, tsn: number): void {
  const r = a.rcvRanges;
  if (tsn === ((a.cumTsn + 1) >>> 0)) {
    a.cumTsn = tsn;
    if (r.length > 0 && r[0] === ((tsn + 1) >>> 0)) {
      a.cumTsn = r[1]!;
      r.splice(0, 2);
    }
    return;
  }
  const lo = (tsn - 1) >>> 0, hi = (tsn + 1) >>> 0;
  let i = 0;
  while (i < r.length && seqLt(r[i + 1]!, lo)) i += 2;
  if (i < r.length && seqLe(r[i]!, hi)) {
    // Adjacent to (or inside) range i: extend it, and join the next range if they now touch.
    if (seqLt(tsn, r[i]!)) r[i] = tsn;
    if (seqGt(tsn, r[i + 1]!)) r[i + 1] = tsn;
    if (i + 2 < r.length && ((r[i + 1]! + 1) >>> 0) === r[i + 2]) {
      r[i + 1] = r[i + 3]!;
      r.splice(i + 2, 2);
    }
  } else {
    r.splice(i, 0, tsn, tsn);
  }
}

/** Move the cumulative TSN to `tsn` (FORWARD TSN, RFC 3758 §3.6), absorbing ranges at or below it. */
function tsnSkipTo(a: Assoc, tsn: number): void {
  a.cumTsn = tsn;
  const r = a.rcvRanges;
  let k = 0;
  while (k < r.length && seqLe(r[k + 1]!, tsn)) k += 2;
  if (k > 0) r.splice(0, k);
  if (r.length > 0 && seqLe(r[0]!, (tsn + 1) >>> 0)) {
    a.cumTsn = r[1]!;
    r.splice(0, 2);
  }
  if (seqGt(a.cumTsn, a.highestTsn)) a.highestTsn = a.cumTsn;
}

/** 16-bit serial comparison of SSNs (RFC 1982 with SERIAL_BITS = 16). */
const ssnGt = (a: number, b: number): boolean => a !== b && ((a - b) & 0xffff) < 0x8000;

/**
 * A DATA chunk arrived (§6.2) from path `fromPath`. Returns 'abort' when the association must
 * be aborted (zero-length DATA, §6.2), else 'ok'. Sets the SACK flags; the caller sends.
 */
export function onData(a: Assoc, c: SctpDataChunk, fromPath: number, io: SctpIo, now: Ms): 'ok' | 'abort' | 'dup' {
  const tsn = c.tsn;
  // A TSN further ahead than any window we could have offered is not from a correct peer: drop it
  // (bounds the received-TSN ranges; a Gap Ack Block cannot describe it anyway beyond 65535).
  if (((tsn - a.cumTsn) >>> 0) > Math.max(0xffff, a.cfg.rcvBuf) && ((tsn - a.cumTsn) | 0) > 0) {
    io.st.counters['sctp-tsn-beyond-window'] = (io.st.counters['sctp-tsn-beyond-window'] ?? 0) + 1;
    return 'ok';
  }
  if (tsnSeen(a, tsn)) {
    // §6.2: duplicates are reported in the next SACK, which goes out at once (§6.2: a packet
    // with only duplicates is acknowledged without delay).
    if (a.dupTsns.length < MAX_DUPS) a.dupTsns.push(tsn);
    a.stats.dupTsnsReceived++;
    a.sackNow = true;
    return 'dup';
  }
  // §6.2: a DATA chunk with no user data is a protocol error: ABORT with "No User Data". Only for
  // a chunk that would be accepted: a duplicate or a TSN beyond any window is discarded first, as
  // Linux does (sctp_eat_data checks the TSN map before the length), so an old or stray empty
  // chunk with the right tag does not end a live association (found by the packet fuzzer).
  if (c.userData.length === 0) return 'abort';
  // §6.2: with no buffer space, a chunk beyond the highest TSN received is dropped and a SACK
  // showing what was accepted goes out at once. (When nothing is left for the application to
  // read, space can only come from completing a message, so the chunk is taken anyway: this
  // is what lets a message larger than the buffer through.)
  if (a.rcvBufUsed >= a.cfg.rcvBuf && seqGt(tsn, a.highestTsn) && a.readQ.length > 0) {
    a.sackNow = true;
    io.st.counters['sctp-rwnd-drop'] = (io.st.counters['sctp-rwnd-drop'] ?? 0) + 1;
    return 'ok';
  }
  tsnAdd(a, tsn);
  if (seqGt(tsn, a.highestTsn)) a.highestTsn = tsn;
  // §3.3.1 I bit (RFC 7053): the sender asks for an immediate SACK.
  if (c.flags & DATA_I) a.sackNow = true;
  // §6.5: a stream we do not have: acknowledge the TSN, report Invalid Stream Identifier, drop the data.
  if (c.streamId >= a.inStreams) {
    a.ctrl.push({ path: fromPath, chunk: errorChunk([invalidStreamCause(c.streamId)]) });
    return 'ok';
  }
  const data = c.userData.slice();
  a.rcvBufUsed += data.length;
  a.stats.bytesReceived += data.length;
  const unordered = (c.flags & DATA_U) !== 0;
  if ((c.flags & (DATA_B | DATA_E)) === (DATA_B | DATA_E)) {
    deliver(a, { stream: c.streamId, ssn: c.ssn, ppid: c.ppid, unordered, data }, io);
    return 'ok';
  }
  const ch: InChunk = { tsn, stream: c.streamId, ssn: c.ssn, ppid: c.ppid, flags: c.flags, data };
  const idx = insertFragment(a, ch);
  assemble(a, idx, io);
  void now;
  return 'ok';
}

/** Insert a fragment into reasm (sorted by TSN); returns its index. */
function insertFragment(a: Assoc, ch: InChunk): number {
  const q = a.reasm;
  let i = q.length;
  // Usually the newest TSN: search from the end.
  while (i > 0 && seqGt(q[i - 1]!.tsn, ch.tsn)) i--;
  q.splice(i, 0, ch);
  return i;
}

/** §6.9: if the fragment at `idx` completes a message (consecutive TSNs from a B to an E chunk), deliver it. */
function assemble(a: Assoc, idx: number, io: SctpIo): void {
  const q = a.reasm;
  const c = q[idx]!;
  const same = (x: InChunk): boolean => x.stream === c.stream && (x.flags & DATA_U) === (c.flags & DATA_U) && ((c.flags & DATA_U) !== 0 || x.ssn === c.ssn);
  let j = idx;
  while (!(q[j]!.flags & DATA_B)) {
    const prev = q[j - 1];
    if (prev === undefined || ((prev.tsn + 1) >>> 0) !== q[j]!.tsn || !same(prev)) return;
    j--;
  }
  let k = idx;
  while (!(q[k]!.flags & DATA_E)) {
    const next = q[k + 1];
    if (next === undefined || ((q[k]!.tsn + 1) >>> 0) !== next.tsn || !same(next) || (next.flags & DATA_B)) return;
    k++;
  }
  let n = 0;
  for (let i = j; i <= k; i++) n += q[i]!.data.length;
  const data = new Uint8Array(n);
  let o = 0;
  for (let i = j; i <= k; i++) { data.set(q[i]!.data, o); o += q[i]!.data.length; }
  const first = q[j]!;
  q.splice(j, k - j + 1);
  deliver(a, { stream: first.stream, ssn: first.ssn, ppid: first.ppid, unordered: (first.flags & DATA_U) !== 0, data }, io);
}

/** §6.6: unordered messages go to the application at once, ordered ones in SSN order per stream. */
function deliver(a: Assoc, m: InMsg, io: SctpIo): void {
  if (m.unordered) {
    pushRead(a, m, io);
    return;
  }
  const key = String(m.stream);
  const exp = a.inSsn[key] ?? 0;
  if (m.ssn === exp) {
    pushRead(a, m, io);
    a.inSsn[key] = (exp + 1) & 0xffff;
    flushHeld(a, m.stream, io);
  } else if (ssnGt(m.ssn, exp)) {
    let i = a.held.length;
    while (i > 0 && (a.held[i - 1]!.stream > m.stream || (a.held[i - 1]!.stream === m.stream && ssnGt(a.held[i - 1]!.ssn, m.ssn)))) i--;
    a.held.splice(i, 0, m);
  } else {
    // An SSN already delivered: cannot happen for a new TSN from a correct peer; drop it.
    a.rcvBufUsed -= m.data.length;
  }
}

/** Deliver held messages of `stream` that are now in sequence. */
function flushHeld(a: Assoc, stream: number, io: SctpIo): void {
  const key = String(stream);
  for (;;) {
    const exp = a.inSsn[key] ?? 0;
    const i = a.held.findIndex((h) => h.stream === stream && h.ssn === exp);
    if (i < 0) return;
    const m = a.held[i]!;
    a.held.splice(i, 1);
    pushRead(a, m, io);
    a.inSsn[key] = (exp + 1) & 0xffff;
  }
}

function pushRead(a: Assoc, m: InMsg, io: SctpIo): void {
  a.readQ.push(m);
  a.stats.msgsReceived++;
  emitEvent(io, { type: 'readable', id: a.id });
}

/**
 * RFC 3758 §3.6: FORWARD TSN. Move the cumulative TSN, drop fragments it covers, and skip the
 * listed stream sequence numbers (delivering held messages that are now in order).
 */
export function onForwardTsn(a: Assoc, c: SctpForwardTsnChunk, io: SctpIo): void {
  a.stats.fwdTsnReceived++;
  const nc = c.newCumTsn;
  if (seqLe(nc, a.cumTsn)) {
    // §3.6: an old FORWARD TSN: acknowledge at once (the sender may have missed our SACK).
    a.sackNow = true;
    return;
  }
  tsnSkipTo(a, nc);
  // Fragments at or below the new cumulative TSN belong to abandoned messages; so do
  // continuation fragments right above it whose beginning was abandoned.
  const q = a.reasm;
  let k = 0;
  while (k < q.length && seqLe(q[k]!.tsn, nc)) { a.rcvBufUsed -= q[k]!.data.length; k++; }
  let t = (nc + 1) >>> 0;
  while (k < q.length && q[k]!.tsn === t && !(q[k]!.flags & DATA_B)) {
    a.rcvBufUsed -= q[k]!.data.length; k++; t = (t + 1) >>> 0;
  }
  if (k > 0) q.splice(0, k);
  for (const s of c.streams) {
    if (s.streamId >= a.inStreams) continue;
    const key = String(s.streamId);
    const exp = a.inSsn[key] ?? 0;
    if (ssnGt(exp, s.ssn)) continue; // already past it
    // Deliver complete held messages up to the skipped SSN in order, then move past it.
    const mine = a.held.filter((h) => h.stream === s.streamId && !ssnGt(h.ssn, s.ssn));
    a.held = a.held.filter((h) => !(h.stream === s.streamId && !ssnGt(h.ssn, s.ssn)));
    for (const m of mine) pushRead(a, m, io);
    a.inSsn[key] = (s.ssn + 1) & 0xffff;
    flushHeld(a, s.streamId, io);
  }
  // Treated like DATA for SACK timing (§3.6): with gaps left, SACK at once.
  a.pktsUnacked++;
  if (a.rcvRanges.length > 0) a.sackNow = true;
}

/** After a packet with DATA (or FORWARD TSN) was processed: decide the SACK timing (§6.2). */
export function sackTiming(a: Assoc, now: Ms): void {
  // §6.2: at least every second packet with DATA, within 200 ms; at once when there are gaps (§6.7).
  if (a.rcvRanges.length > 0 || a.pktsUnacked >= a.cfg.sackFreq) a.sackNow = true;
  if (!a.sackNow && a.sackAt === null) a.sackAt = now + a.cfg.sackDelay;
}

/** Build a SACK (§3.3.4, §6.2) and clear the pending-SACK state. */
export function makeSack(a: Assoc): SctpSackChunk {
  const gaps: { start: number; end: number }[] = [];
  const r = a.rcvRanges;
  for (let i = 0; i < r.length && gaps.length < MAX_GAPS; i += 2) {
    const s = (r[i]! - a.cumTsn) >>> 0, e = (r[i + 1]! - a.cumTsn) >>> 0;
    if (e > 0xffff) break;
    gaps.push({ start: s, end: e });
  }
  const rw = ourRwnd(a);
  const sack = sackChunk(a.cumTsn, rw, gaps, a.dupTsns);
  a.dupTsns = [];
  a.sackAt = null;
  a.sackNow = false;
  a.pktsUnacked = 0;
  a.lastArwnd = rw;
  a.stats.sacksSent++;
  return sack;
}

/**
 * The application took a message: if the window opened enough, announce it (a window update
 * SACK, §6.2 receiver-side silly window avoidance: only in steps of at least min(rcvBuf/2, max(2*MTU, rcvBuf/8))).
 */
export function afterRead(a: Assoc): void {
  // After the peer's SHUTDOWN no more data comes (§9.2): its window needs no update, and a
  // late SACK could reach a peer that already closed (and draw an ABORT, §8.4 rule 8).
  if (a.peerShutdown) return;
  const rw = ourRwnd(a);
  const mtu = a.paths[a.primary]?.pmtu ?? a.cfg.mtu;
  const step = Math.min(a.cfg.rcvBuf / 2, Math.max(2 * mtu, a.cfg.rcvBuf / 8));
  if (rw - a.lastArwnd >= step) a.sackNow = true;
}
