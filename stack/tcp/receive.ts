// The RCV.* side: segment acceptability (RFC 9293 §3.10.7.4 Table 6), the advertised window
// with receiver SWS avoidance (§3.8.6.2.2), reassembly of out-of-order data, SACK blocks
// (RFC 2018 §4, D-SACK RFC 2883) and the delayed-ACK decision (§3.8.6.3, RFC 5681 §4.2).
import type { Ms } from '../api.ts';
import { seqDiff, seqGe, seqGt, seqInRange, seqLe, seqLt } from '../wire/seq.ts';
import type { SackBlock } from '../wire/tcp.ts';
import { emitEvent, type Io } from './output.ts';
import type { Tcb } from './tcb.ts';

/** RCV.WND as last advertised: right edge minus RCV.NXT. */
export const rcvWnd = (tcb: Tcb): number => Math.max(0, seqDiff(tcb.rcvAdv, tcb.rcvNxt));

/**
 * The right edge of what we accept (RCV.NXT + RCV.WND for Table 6 and for trimming text). The
 * largest edge ever offered (RFC 7323 §2.4: a segment in window for any ACK we sent is honoured)
 * and, with the 'free-space' policy, the free receive buffer: RCV.WND is the space we are
 * prepared to accept (RFC 9293 §3.8.6), of which the window field carries what it can express
 * (65535 without scaling, RFC 7323 §2.1) and what receiver SWS avoidance lets us offer anew.
 * BSD works the same way (rcv_wnd is the socket-buffer space, tcp_input). A passive open before
 * its handshake completes (SYN-RECEIVED from LISTEN: only the SYN|ACK's window exists, RFC 7323
 * §2.2; BSD's syncache has no socket buffer yet) and TIME-WAIT (no data is taken any more) use
 * what we last offered.
 */
export function acceptEdge(tcb: Tcb): number {
  const s = tcb.state;
  if (tcb.cfg.rcvWndPolicy !== 'free-space' || (s === 'SYN-RECEIVED' && tcb.listener !== null) || s === 'TIME-WAIT') return tcb.rcvAdv;
  const bufEdge = (tcb.rcvNxt + Math.max(0, tcb.cfg.rcvBuf - tcb.rcvQLen)) >>> 0;
  return seqGt(bufEdge, tcb.rcvAdv) ? bufEdge : tcb.rcvAdv;
}

/** RCV.WND for acceptability: acceptEdge minus RCV.NXT. */
export const acceptWnd = (tcb: Tcb): number => Math.max(0, seqDiff(acceptEdge(tcb), tcb.rcvNxt));

/**
 * RFC 9293 §3.10.7.4 first, Table 6: is a segment of `len` sequence numbers at `seq` acceptable?
 */
export function acceptable(tcb: Tcb, seq: number, len: number): boolean {
  const wnd = acceptWnd(tcb);
  const end = (tcb.rcvNxt + wnd) >>> 0;
  if (len === 0) return wnd === 0 ? seq === tcb.rcvNxt : seqInRange(seq, tcb.rcvNxt, end);
  if (wnd === 0) return false;
  return seqInRange(seq, tcb.rcvNxt, end) || seqInRange((seq + len - 1) >>> 0, tcb.rcvNxt, end);
}

/** The window we could offer: free buffer, bounded by what the 16-bit field can express (RFC 7323 §2.3). */
function freeWindow(tcb: Tcb): number {
  return Math.min(Math.max(0, tcb.cfg.rcvBuf - tcb.rcvQLen), 65535 * 2 ** tcb.rcvShift);
}

/**
 * The window field for an outgoing segment (scaled, RFC 7323 §2.3), updating rcvAdv.
 * - The window offered is the free receive buffer: rcvBuf minus unread in-order data (out-of-order
 *   data already sits inside the offered window).
 * - Receiver SWS avoidance (RFC 9293 §3.8.6.2.2 / RFC 1122 §4.2.3.3 MUST-39: an algorithm is
 *   required, the one given is "suggested"), by cfg.rcvWndPolicy:
 *   'free-space' (Linux __tcp_select_window, BSD tcp_output): offer the free space, but offer no
 *   new window while it is below min(rcvBuf/4, MSS), so the peer is never invited to send a
 *   runt; 'right-edge' (RFC 9293's suggestion, Fr = 1/2): the right edge only moves when it can
 *   move by at least min(rcvBuf/2, MSS).
 * - The right edge is not moved left (§3.8.6.2.2: "shrinking the window" is strongly discouraged)
 *   except by the rounding of window scaling: the scaled field is rounded DOWN, so the offered
 *   edge never lies beyond the free buffer. RFC 7323 §2.4 names this retraction (Appendix F:
 *   rounding up instead is "beyond buffer") and requires the receiver to honor any segment that
 *   would have been in window for any ACK it sent: rcvAdv keeps the largest edge ever offered
 *   and acceptability is judged against it. Rounding up let every small segment push the edge a
 *   few bytes past the buffer, and the overrun accumulated.
 */
export function windowField(tcb: Tcb): number {
  const buf = tcb.cfg.rcvBuf;
  const free = freeWindow(tcb);
  const cur = rcvWnd(tcb);
  let wnd = free;
  if (tcb.cfg.rcvWndPolicy === 'right-edge') {
    if (wnd > cur && wnd - cur < Math.min(buf / 2, tcb.advMss)) wnd = cur;
  } else if (wnd < Math.min(buf / 4, tcb.advMss)) {
    wnd = 0;
  }
  if (wnd < cur) wnd = cur;
  const unit = 2 ** tcb.rcvShift;
  const field = Math.min(65535, Math.floor(wnd / unit));
  const adv = (tcb.rcvNxt + field * unit) >>> 0;
  if (seqGt(adv, tcb.rcvAdv)) tcb.rcvAdv = adv;
  return field;
}

/**
 * Should reading data send a window update now? The right edge must be able to move by what
 * receiver SWS avoidance requires (RFC 9293 §3.8.6.2.2: min(rcvBuf/2, MSS)), and by enough that
 * a pure ACK is worth it; otherwise the next ACK carries the larger window.
 * - 'free-space' (BSD tcp_output): the edge moves by at least 2 MSS and a quarter of the buffer
 *   (or the buffer is small, or the window was nearly closed), or by half the buffer.
 * - 'right-edge' (Linux __tcp_cleanup_rbuf): the window at least doubles.
 */
export function windowUpdateDue(tcb: Tcb): boolean {
  const free = freeWindow(tcb);
  const cur = rcvWnd(tcb);
  const adv = free - cur, buf = tcb.cfg.rcvBuf, mss = tcb.advMss;
  if (adv < Math.min(buf / 2, mss)) return false;
  if (tcb.cfg.rcvWndPolicy === 'right-edge') return free >= 2 * cur;
  return (adv >= 2 * mss && (adv >= buf / 4 || free <= buf / 8 || buf <= 8 * mss)) || 2 * adv >= buf;
}

/**
 * SACK blocks for the next ACK (RFC 2018 §4): a pending D-SACK first (RFC 2883 §4), then the
 * block holding the most recently received out-of-order segment, then other recent blocks,
 * then the highest remaining ones. buildTcpOptions keeps as many as fit (3 beside timestamps).
 */
export function sackBlocks(tcb: Tcb): SackBlock[] | null {
  const ooo = tcb.ooo;
  if (ooo.length === 0 && tcb.dsack === null) return null;
  const blocks: SackBlock[] = [];
  if (tcb.dsack !== null) blocks.push({ left: tcb.dsack[0]!, right: tcb.dsack[1]! });
  if (ooo.length === 0) return blocks;
  // Contiguous ranges of the reassembly queue.
  const ranges: number[] = [];
  let l = ooo[0]!.seq, r = (l + ooo[0]!.data.length) >>> 0;
  for (let i = 1; i < ooo.length; i++) {
    const e = ooo[i]!;
    if (e.seq === r) { r = (r + e.data.length) >>> 0; continue; }
    ranges.push(l, r);
    l = e.seq; r = (l + e.data.length) >>> 0;
  }
  ranges.push(l, r);
  const used: boolean[] = new Array<boolean>(ranges.length >> 1).fill(false);
  const want = 4;
  for (const s of tcb.sackRecent) {
    if (blocks.length >= want) break;
    for (let k = 0; k < ranges.length; k += 2) {
      if (!used[k >> 1] && seqInRange(s, ranges[k]!, ranges[k + 1]!)) {
        used[k >> 1] = true;
        blocks.push({ left: ranges[k]!, right: ranges[k + 1]! });
        break;
      }
    }
  }
  for (let k = ranges.length - 2; k >= 0 && blocks.length < want; k -= 2) {
    if (!used[k >> 1]) blocks.push({ left: ranges[k]!, right: ranges[k + 1]! });
  }
  return blocks;
}

/** Insert [seq, seq+data) into the reassembly queue, keeping only bytes not already held (owned copies). */
function oooInsert(tcb: Tcb, seq: number, data: Uint8Array): number {
  const q = tcb.ooo;
  const end = (seq + data.length) >>> 0;
  const last = q[q.length - 1];
  if (last === undefined || seqGe(seq, (last.seq + last.data.length) >>> 0)) {
    q.push({ seq, data: data.slice() });
    tcb.oooLen += data.length;
    return data.length;
  }
  // General case: walk the sorted queue and fill the gaps that [seq, end) covers.
  let cursor = seq;
  let added = 0;
  const out: typeof q = [];
  let i = 0;
  for (; i < q.length; i++) {
    const e = q[i]!;
    const eEnd = (e.seq + e.data.length) >>> 0;
    if (seqLe(eEnd, cursor)) { out.push(e); continue; }
    if (seqGe(e.seq, end)) break;
    if (seqLt(cursor, e.seq)) {
      const pieceEnd = e.seq;
      out.push({ seq: cursor, data: data.slice(seqDiff(cursor, seq), seqDiff(pieceEnd, seq)) });
      added += seqDiff(pieceEnd, cursor);
    }
    out.push(e);
    if (seqGt(eEnd, cursor)) cursor = eEnd;
    if (seqGe(cursor, end)) { i++; break; }
  }
  if (seqLt(cursor, end)) {
    out.push({ seq: cursor, data: data.slice(seqDiff(cursor, seq)) });
    added += seqDiff(end, cursor);
  }
  for (; i < q.length; i++) out.push(q[i]!);
  tcb.ooo = out;
  tcb.oooLen += added;
  return added;
}

/**
 * RFC 2883 §4: the first duplicate contiguous sequence that [seq, end) repeats from the
 * reassembly queue (adjacent queued segments count as one sequence), or null.
 */
function firstDup(tcb: Tcb, seq: number, end: number): number[] | null {
  const q = tcb.ooo;
  for (let i = 0; i < q.length; i++) {
    const e = q[i]!;
    let r = (e.seq + e.data.length) >>> 0;
    if (seqLe(r, seq)) continue;
    if (seqGe(e.seq, end)) return null;
    const l = seqGt(e.seq, seq) ? e.seq : seq;
    // Extend over queued segments that continue it without a gap.
    for (let j = i + 1; j < q.length && q[j]!.seq === r && seqLt(r, end); j++) r = (q[j]!.seq + q[j]!.data.length) >>> 0;
    return [l, seqLt(r, end) ? r : end];
  }
  return null;
}

/** Move reassembly-queue data that has become in-order into the receive queue. */
function oooPull(tcb: Tcb): void {
  const q = tcb.ooo;
  let k = 0;
  while (k < q.length && seqLe(q[k]!.seq, tcb.rcvNxt)) {
    const e = q[k]!;
    const end = (e.seq + e.data.length) >>> 0;
    tcb.oooLen -= e.data.length;
    if (seqGt(end, tcb.rcvNxt)) {
      const skip = seqDiff(tcb.rcvNxt, e.seq);
      const part = skip === 0 ? e.data : e.data.slice(skip);
      tcb.rcvQ.push(part);
      tcb.rcvQLen += part.length;
      tcb.rcvNxt = end;
    }
    k++;
  }
  if (k > 0) q.splice(0, k);
  if (tcb.sackRecent.length > 0) tcb.sackRecent = tcb.sackRecent.filter((s) => seqGe(s, tcb.rcvNxt));
}

/**
 * RFC 9293 §3.10.7.4 seventh (text), for data already trimmed to start at or after RCV.NXT and
 * to end within the advertised window. `finAt` is the sequence number of a FIN carried by the
 * segment (or null). Returns true when the peer's FIN is now in order (the caller processes it).
 */
export function receiveData(tcb: Tcb, io: Io, now: Ms, seq: number, data: Uint8Array, finAt: number | null): boolean {
  const len = data.length;
  // RFC 2883 §4: report the first part of this segment we already hold in the reassembly queue
  // as a D-SACK block (unless a part below RCV.NXT, which comes first, is already reported).
  if (len > 0 && tcb.sackOk && tcb.dsack === null && tcb.ooo.length > 0) {
    const dup = firstDup(tcb, seq, (seq + len) >>> 0);
    if (dup !== null) {
      tcb.dsack = dup;
      // RFC 2883 §4 (1): a D-SACK reports the most recent packet, so its ACK goes out now.
      tcb.ackNow = true;
    }
  }
  if (seq === tcb.rcvNxt) {
    if (len > 0) {
      tcb.rcvQ.push(data.slice());
      tcb.rcvQLen += len;
      tcb.rcvNxt = (tcb.rcvNxt + len) >>> 0;
      tcb.ackPending += len;
      if (len > tcb.rcvMss) tcb.rcvMss = Math.min(len, tcb.advMss);
      if (tcb.ooo.length > 0) {
        oooPull(tcb);
        // RFC 5681 §4.2 / RFC 9293 §3.8.6.3: ACK at once when a segment fills (part of) a gap.
        tcb.ackNow = true;
      }
      if (tcb.app === 'open') emitEvent(io, { type: 'readable', id: tcb.id });
      ackDecision(tcb, now);
    }
    if (finAt !== null && finAt === tcb.rcvNxt) return true;
    if (tcb.oooFin !== null && tcb.oooFin === tcb.rcvNxt) { tcb.oooFin = null; return true; }
    return false;
  }
  // Out of order (seq > RCV.NXT): hold it and send an immediate duplicate ACK (RFC 5681 §4.2, RFC 2018 §4).
  if (len > 0) {
    oooInsert(tcb, seq, data);
    tcb.sackRecent.unshift(seq);
    if (tcb.sackRecent.length > 4) tcb.sackRecent.length = 4;
  }
  if (finAt !== null) tcb.oooFin = finAt;
  tcb.ackNow = true;
  return false;
}

/**
 * RFC 9293 §3.10.7.3: text and FIN on the SYN that moves SYN-SENT to SYN-RECEIVED (simultaneous
 * open) are queued "for processing after the ESTABLISHED state has been reached". They wait in the
 * reassembly queue; `data` is already trimmed to the window of our SYN|ACK.
 */
export function holdUntilEstablished(tcb: Tcb, seq: number, data: Uint8Array, finAt: number | null): void {
  if (data.length > 0) oooInsert(tcb, seq, data);
  if (finAt !== null) tcb.oooFin = finAt;
}

/** ESTABLISHED reached: deliver what holdUntilEstablished kept. True when the peer's FIN is now in order. */
export function releaseHeld(tcb: Tcb, io: Io, now: Ms): boolean {
  const first = tcb.ooo[0];
  if (first !== undefined && first.seq === tcb.rcvNxt) {
    const before = tcb.rcvNxt;
    oooPull(tcb);
    tcb.ackPending += seqDiff(tcb.rcvNxt, before);
    if (tcb.app === 'open') emitEvent(io, { type: 'readable', id: tcb.id });
    ackDecision(tcb, now);
  }
  if (tcb.oooFin !== null && tcb.oooFin === tcb.rcvNxt) { tcb.oooFin = null; return true; }
  return false;
}

/** Delayed ACK (RFC 9293 §3.8.6.3, RFC 5681 §4.2): every `ackEvery` full-sized segments, else within delayedAckMs. */
export function ackDecision(tcb: Tcb, now: Ms): void {
  if (tcb.ackNow) return;
  if (!tcb.cfg.delayedAck || tcb.ackPending >= tcb.cfg.ackEvery * tcb.rcvMss) { tcb.ackNow = true; return; }
  // cfg.delAckSegments: a delayed ACK already pending means this is the second segment since the last ACK.
  if (tcb.cfg.delAckSegments && tcb.timers.delack !== null) { tcb.ackNow = true; return; }
  if (tcb.timers.delack === null) tcb.timers.delack = now + tcb.cfg.delayedAckMs;
}
