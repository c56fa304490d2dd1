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
 * RFC 9293 §3.10.7.4 first, Table 6: is a segment of `len` sequence numbers at `seq` acceptable?
 */
export function acceptable(tcb: Tcb, seq: number, len: number): boolean {
  const wnd = rcvWnd(tcb);
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
 * - Receiver SWS avoidance (RFC 9293 §3.8.6.2.2): the right edge only moves when it can move by
 *   at least min(rcvBuf/2, MSS).
 * - The right edge never moves left (§3.8.6.2.2 "shrinking the window" is strongly discouraged;
 *   RFC 7323 §2.4 rounding): the scaled value is rounded up to cover the previous edge.
 */
export function windowField(tcb: Tcb): number {
  const buf = tcb.cfg.rcvBuf;
  const free = freeWindow(tcb);
  const cur = rcvWnd(tcb);
  let wnd = free;
  if (wnd > cur && wnd - cur < Math.min(buf / 2, tcb.advMss)) wnd = cur;
  if (wnd < cur) wnd = cur;
  const unit = 2 ** tcb.rcvShift;
  let field = Math.min(65535, Math.floor(wnd / unit));
  if (field * unit < cur) field = Math.min(65535, Math.ceil(cur / unit));
  const adv = (tcb.rcvNxt + field * unit) >>> 0;
  if (seqGt(adv, tcb.rcvAdv)) tcb.rcvAdv = adv;
  return field;
}

/**
 * Should reading data send a window update now? Only when the window has at least doubled
 * (Linux __tcp_cleanup_rbuf) and grown by what receiver SWS avoidance requires (RFC 9293
 * §3.8.6.2.2: min(rcvBuf/2, MSS)); otherwise the next ACK carries the larger window.
 */
export function windowUpdateDue(tcb: Tcb): boolean {
  const free = freeWindow(tcb);
  const cur = rcvWnd(tcb);
  return free >= 2 * cur && free - cur >= Math.min(tcb.cfg.rcvBuf / 2, tcb.advMss);
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
    const added = oooInsert(tcb, seq, data);
    if (added === 0 && tcb.dsack === null) tcb.dsack = [seq, (seq + len) >>> 0];
    tcb.sackRecent.unshift(seq);
    if (tcb.sackRecent.length > 4) tcb.sackRecent.length = 4;
  }
  if (finAt !== null) tcb.oooFin = finAt;
  tcb.ackNow = true;
  return false;
}

/** Delayed ACK (RFC 9293 §3.8.6.3, RFC 5681 §4.2): every `ackEvery` full-sized segments, else within delayedAckMs. */
export function ackDecision(tcb: Tcb, now: Ms): void {
  if (tcb.ackNow) return;
  if (!tcb.cfg.delayedAck || tcb.ackPending >= tcb.cfg.ackEvery * tcb.rcvMss) { tcb.ackNow = true; return; }
  if (tcb.timers.delack === null) tcb.timers.delack = now + tcb.cfg.delayedAckMs;
}
