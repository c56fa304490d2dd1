// The data sender and packet assembly (RFC 9260 §6.1 rules A-D, §6.3.2 T3-rtx rules R1/R4,
// §6.4 path selection, §6.9 fragmentation, §6.10 bundling): control chunks first, then a
// SACK, a FORWARD TSN (RFC 3758), retransmissions, and new DATA, packed up to the path MTU.
import {
  DATA_B, DATA_E, DATA_U, emitSctp, forwardTsnChunk, sctpBufferLen, sctpChunkLen, pad4,
  type SctpChunk, type SctpDataChunk, type SctpForwardTsnStream,
} from '../wire/sctp.ts';
import { seqGt, seqLe } from '../wire/seq.ts';
import { pathRoom, type Assoc, type OutChunk, type SctpPath } from './assoc.ts';
import { ccOnIdle } from './cc.ts';
import { makeSack } from './data.ts';
import type { Ms, SctpSendOptions } from './events.ts';
import { altPath, dataPath } from './path.ts';
import { emitEvent, type SctpIo } from './state.ts';

/** Emit one packet of `chunks` on path `p` of `a` with verification tag `vtag`. */
export function emitPacket(io: SctpIo, a: Assoc, p: SctpPath, chunks: SctpChunk[], vtag = a.peerVtag): void {
  const pkt = { srcPort: a.localPort, dstPort: a.remotePort, verificationTag: vtag >>> 0, chunks };
  const buf = new Uint8Array(sctpBufferLen(pkt));
  emitSctp(pkt, buf);
  io.out.push({ src: p.local, dst: p.addr, sctp: buf, encap: p.udpPort !== null ? { srcPort: io.st.config.udpEncapPort, dstPort: p.udpPort } : null });
  a.stats.packetsSent++;
}

/** Packs chunks into packets per path (§6.10 bundling); flushes when the path changes or the packet is full. */
class Packer {
  private path = -1;
  private chunks: SctpChunk[] = [];
  private used = 0;
  /** Packets emitted carrying new data (for Max.Burst). */
  packets = 0;
  /** A SACK is due; addSack() puts it into the packet for `sackPath`, once. */
  sackDue = false;
  sackPath = 0;
  constructor(private readonly io: SctpIo, private readonly a: Assoc) {}

  // A method rather than a closure in output(): a closure is a new function object on every
  // call (and under tsx, whose esbuild keepNames wraps each in __name, a costly one).
  addSack(): void {
    if (!this.sackDue) return;
    this.add(this.sackPath, makeSack(this.a));
    this.sackDue = false;
  }

  /** Room left in the current packet if it is for `path` (else a full packet's room). */
  room(path: number): number {
    const r = pathRoom(this.a.paths[path]!);
    return this.path === path ? r - this.used : r;
  }

  add(path: number, c: SctpChunk): void {
    const len = pad4(sctpChunkLen(c));
    if (this.path !== path || (this.used + len > pathRoom(this.a.paths[path]!) && this.chunks.length > 0)) this.flush();
    this.path = path;
    this.chunks.push(c);
    this.used += len;
  }

  /** Whether the current packet is for `path` and has chunks. */
  open(path: number): boolean { return this.path === path && this.chunks.length > 0; }

  flush(): void {
    if (this.chunks.length === 0) return;
    emitPacket(this.io, this.a, this.a.paths[this.path]!, this.chunks);
    this.packets++;
    this.chunks = [];
    this.used = 0;
  }
}

const canSendData = (a: Assoc): boolean =>
  a.state === 'ESTABLISHED' || a.state === 'SHUTDOWN-PENDING' || a.state === 'SHUTDOWN-RECEIVED';

/**
 * Send what can be sent now: queued control chunks, a due SACK, a FORWARD TSN, then
 * retransmissions and new data within cwnd and the peer's window. `fastRtx`: chunks were just
 * marked for fast retransmission, so one packet of them goes out regardless of cwnd (§7.2.4).
 */
export function output(a: Assoc, io: SctpIo, now: Ms, fastRtx = false): void {
  if (a.state === 'CLOSED') { a.ctrl = []; return; }
  const pk = new Packer(io, a);
  pk.sackDue = a.sackNow || (a.sackAt !== null && a.sackAt <= now);
  const sackPath = pk.sackPath = replyPathFor(a);
  // §6.10: control chunks first. A due SACK goes with the first packet to its path, after a
  // COOKIE ACK (§5.1 E: DATA and SACK may follow the COOKIE ACK, which comes first).
  for (const c of a.ctrl) {
    const cookieAck = c.chunk.type === 'COOKIE-ACK';
    if (c.path === sackPath && !cookieAck) pk.addSack();
    pk.add(c.path, c.chunk);
    if (c.path === sackPath && cookieAck) pk.addSack();
  }
  a.ctrl = [];
  if (!canSendData(a)) {
    pk.addSack();
    pk.flush();
    return;
  }
  // RFC 3758 §3.5 A2/A3: give up what may no longer be (re)sent before building packets, so
  // the FORWARD TSN it calls for leads the packet.
  if (a.peerPrSctp) prune(a, io, now);
  const dp = dataPath(a);
  // A pending delayed SACK rides along with data to its path (§6.2 bundling).
  if (pk.sackDue || (a.sackAt !== null && a.rtxCount + a.pending.length > 0 && sackPath === dp)) { pk.sackDue = true; pk.addSack(); }
  // RFC 3758 §3.5 F2: a FORWARD TSN is bundled ahead of the DATA.
  if (a.fwdTsn) {
    pk.add(dp, makeForwardTsn(a));
    a.fwdTsn = false;
    a.stats.fwdTsnSent++;
    const p = a.paths[dp]!;
    if (p.t3 === null) p.t3 = now + p.rto; // the FORWARD TSN is covered by T3-rtx (RFC 3758 §3.5 C3)
  }
  if (a.rtxCount > 0) retransmit(a, pk, io, now, fastRtx);
  if (a.rtxCount === 0) sendNew(a, pk, dp, io, now);
  pk.flush();
}

/** The path replies (SACKs) go to: where the last DATA came from, if still active (§6.4). */
function replyPathFor(a: Assoc): number {
  const p = a.paths[a.replyPath];
  if (p !== undefined && p.active) return a.replyPath;
  return dataPath(a);
}

/** Abandon chunks marked for retransmission that ran out of lifetime or retransmissions, and expired unsent messages. */
function prune(a: Assoc, io: SctpIo, now: Ms): void {
  if (a.rtxCount > 0) {
    for (let i = 0; i < a.sent.length; i++) {
      const c = a.sent[i]!;
      if (c.st === 'rtx' && ((c.expires !== null && c.expires <= now) || (c.maxRtx !== null && c.tx - 1 >= c.maxRtx))) abandonMessage(a, c.msg, io);
    }
  }
  for (let i = 0; i < a.pending.length; i++) {
    const c = a.pending[i]!;
    if (c.expires !== null && c.expires <= now) { abandonMessage(a, c.msg, io, i); i--; }
  }
}

/** §6.1 rule C: retransmissions first, in TSN order, each to its path (or an alternate after T3, §6.4). */
function retransmit(a: Assoc, pk: Packer, io: SctpIo, now: Ms, fastRtx: boolean): void {
  // §7.2.4 step 3: the first packet of fast retransmissions ignores cwnd.
  let freePath = -1, freeRoom = 0;
  for (let i = 0; i < a.sent.length && a.rtxCount > 0; i++) {
    const c = a.sent[i]!;
    if (c.st !== 'rtx') continue;
    // RFC 3758 §3.5 A2/A3: a chunk whose lifetime ran out, or that used up its retransmissions, is abandoned instead.
    if ((c.expires !== null && c.expires <= now) || (c.maxRtx !== null && c.tx - 1 >= c.maxRtx)) {
      abandonMessage(a, c.msg, io);
      continue;
    }
    const pi = c.alt ? altPath(a, c.path) : (a.paths[c.path]!.active ? c.path : dataPath(a));
    const p = a.paths[pi]!;
    const size = pad4(16 + c.len);
    if (fastRtx && c.fastRtx && c.tx === 1 && (freePath === -1 || freePath === pi) && freeRoom + size <= pathRoom(p)) {
      freePath = pi;
      freeRoom += size;
    } else if (p.flight > 0 && p.flight + c.len > p.cwnd) {
      // Rule B, and §6.3.3 E3 (after a T3 expiry, cwnd = 1 MTU: one packet's worth, the
      // rest "as soon as cwnd allows"): later chunks wait too (TSN order).
      return;
    }
    if (pk.room(pi) < size && pk.open(pi)) pk.flush();
    pk.add(pi, dataChunkOf(c));
    c.st = 'flight';
    c.path = pi;
    c.alt = false;
    c.tx++;
    a.rtxCount--;
    p.flight += c.len;
    p.lastSend = now;
    if (p.rttTsn === c.tsn) p.rttTsn = null; // Karn (§6.3.1 C5)
    if (p.t3 === null) p.t3 = now + p.rto;   // R4 (§6.3.2)
    a.stats.dataRetransmitted++;
  }
}

/** §6.1 rules A, B, D: new data to path `pi` within the peer's window and the path's cwnd. */
function sendNew(a: Assoc, pk: Packer, pi: number, io: SctpIo, now: Ms): void {
  const p = a.paths[pi]!;
  if (a.pending.length === 0) return;
  ccOnIdle(p, now);
  let taken = 0;
  const startPackets = pk.packets;
  let totalFlight = 0;
  for (const q of a.paths) totalFlight += q.flight;
  while (taken < a.pending.length) {
    const c = a.pending[taken]!;
    // RFC 3758 §3.5: a message whose lifetime ran out before (all of) it was sent is abandoned.
    if (c.expires !== null && c.expires <= now) {
      const before = a.pending.length;
      abandonMessage(a, c.msg, io, taken);
      if (a.pending.length === before) taken++; // cannot happen; never loop forever
      continue;
    }
    // Rule A: no new data beyond the peer's rwnd, except one chunk when nothing is in flight
    // (the zero window probe of §6.1 A).
    if (c.len > a.peerRwnd && !(totalFlight === 0 && taken === 0 && a.rtxCount === 0)) break;
    // Rule B: not with cwnd or more in flight to the path.
    if (p.flight >= p.cwnd) break;
    // Max.Burst (§6.1): a bounded number of new packets per event.
    const size = pad4(16 + c.len);
    if (pk.room(pi) < size && pk.open(pi)) {
      pk.flush();
      if (pk.packets - startPackets >= a.cfg.maxBurst) break;
    }
    assignTsn(a, c);
    pk.add(pi, dataChunkOf(c));
    c.st = 'flight';
    c.path = pi;
    c.tx = 1;
    p.flight += c.len;
    totalFlight += c.len;
    a.peerRwnd = Math.max(0, a.peerRwnd - c.len);
    p.lastSend = now;
    if (p.rttTsn === null) { p.rttTsn = c.tsn; p.rttAt = now; } // §6.3.1 C5: one measurement per round trip
    if (p.t3 === null) p.t3 = now + p.rto;                       // R1 (§6.3.2)
    a.sent.push(c);
    a.stats.dataSent++;
    taken++;
  }
  if (taken > 0) a.pending.splice(0, taken);
}

/** TSN at first transmission; the SSN of an ordered message when its first fragment goes out. */
function assignTsn(a: Assoc, c: OutChunk): void {
  c.tsn = a.nextTsn;
  a.nextTsn = (a.nextTsn + 1) >>> 0;
  if (c.flags & DATA_U) { c.ssn = 0; return; }
  if (c.flags & DATA_B) {
    const s = a.outSsn[c.stream] ?? 0;
    a.fragSsn = s;
    a.outSsn[c.stream] = (s + 1) & 0xffff;
  }
  c.ssn = a.fragSsn;
}

const dataChunkOf = (c: OutChunk): SctpDataChunk =>
  ({ type: 'DATA', flags: c.flags, tsn: c.tsn, streamId: c.stream, ssn: c.ssn, ppid: c.ppid, userData: c.data });

/** RFC 3758 §3.2: FORWARD TSN to the Advanced.Peer.Ack.Point, with the highest skipped SSN per ordered stream. */
export function makeForwardTsn(a: Assoc) {
  const streams: SctpForwardTsnStream[] = [];
  for (const c of a.sent) {
    if (seqGt(c.tsn, a.advPeerAckPoint)) break;
    if (c.st !== 'abandoned' || (c.flags & DATA_U)) continue;
    const e = streams.find((s) => s.streamId === c.stream);
    if (e === undefined) streams.push({ streamId: c.stream, ssn: c.ssn });
    else if (((c.ssn - e.ssn) & 0xffff) < 0x8000) e.ssn = c.ssn;
  }
  return forwardTsnChunk(a.advPeerAckPoint, streams);
}

/**
 * RFC 3758 §3.5: abandon every chunk of message `msg` (A3: "all chunks of the message"):
 * sent ones become 'abandoned' (no longer in flight), pending ones are dropped. `pendingFrom`:
 * where to start looking in `pending` (its fragments are contiguous). Reports the message once.
 */
export function abandonMessage(a: Assoc, msg: number, io: SctpIo, pendingFrom = 0): void {
  let stream = -1, ppid = 0, sent = false;
  for (const c of a.sent) {
    if (c.msg !== msg || c.st === 'abandoned') continue;
    stream = c.stream; ppid = c.ppid; sent = true;
    if (c.st === 'flight') a.paths[c.path]!.flight -= c.len;
    if (c.st === 'rtx') a.rtxCount--;
    a.sndBufUsed -= c.len;
    c.st = 'abandoned';
    c.data = new Uint8Array(0);
  }
  let i = pendingFrom;
  while (i < a.pending.length && a.pending[i]!.msg !== msg) i++;
  let j = i;
  while (j < a.pending.length && a.pending[j]!.msg === msg) {
    const c = a.pending[j]!;
    stream = c.stream; ppid = c.ppid;
    a.sndBufUsed -= c.len;
    j++;
  }
  if (j > i) a.pending.splice(i, j - i);
  if (stream < 0) return;
  a.stats.abandoned++;
  emitEvent(io, { type: 'abandoned', id: a.id, msg, stream, ppid, sent });
  if (sent) advanceAckPoint(a);
  writableCheck(a, io);
}

/** RFC 3758 §3.5 C1-C2: move the Advanced.Peer.Ack.Point over abandoned chunks; C3: a FORWARD TSN is then due. */
export function advanceAckPoint(a: Assoc): void {
  if (seqGt(a.cumAck, a.advPeerAckPoint)) a.advPeerAckPoint = a.cumAck;
  for (const c of a.sent) {
    if (seqLe(c.tsn, a.advPeerAckPoint)) continue;
    if (c.tsn === ((a.advPeerAckPoint + 1) >>> 0) && c.st === 'abandoned') a.advPeerAckPoint = c.tsn;
    else break;
  }
  if (seqGt(a.advPeerAckPoint, a.cumAck) && a.peerPrSctp) a.fwdTsn = true;
}

/** Emit 'writable' when the send buffer has room again after an EAGAIN. */
export function writableCheck(a: Assoc, io: SctpIo): void {
  if (a.wantWritable && a.sndBufUsed < a.cfg.sndBuf) {
    a.wantWritable = false;
    emitEvent(io, { type: 'writable', id: a.id });
  }
}

/** Largest DATA payload that fits one packet on the smallest-MTU path (§6.9). */
export function maxFragment(a: Assoc): number {
  let room = Infinity;
  for (const p of a.paths) room = Math.min(room, pathRoom(p));
  if (!Number.isFinite(room)) room = a.cfg.mtu - 20 - 12;
  return Math.max(4, room - 16) & ~3;
}

/**
 * §6.9: split a message into DATA chunks (B on the first, E on the last) and queue them.
 * Returns the message number.
 */
export function queueMessage(a: Assoc, data: Uint8Array, o: SctpSendOptions, now: Ms): number {
  const msg = a.nextMsg++;
  const frag = maxFragment(a);
  const n = Math.max(1, Math.ceil(data.length / frag));
  const base = o.unordered ? DATA_U : 0;
  const expires = o.ttl !== null && a.peerPrSctp ? now + o.ttl : null;
  const maxRtx = o.maxRetransmits !== null && a.peerPrSctp ? o.maxRetransmits : null;
  for (let k = 0; k < n; k++) {
    const part = data.slice(k * frag, Math.min(data.length, (k + 1) * frag));
    const flags = base | (k === 0 ? DATA_B : 0) | (k === n - 1 ? DATA_E : 0);
    a.pending.push({
      tsn: -1, stream: o.stream, ssn: o.unordered ? 0 : -1, ppid: o.ppid >>> 0, flags, data: part, len: part.length,
      msg, expires, maxRtx, st: 'flight', path: -1, alt: false, tx: 0, miss: 0, fastRtx: false,
    });
  }
  a.sndBufUsed += data.length;
  a.stats.msgsSent++;
  a.stats.bytesSent += data.length;
  return msg;
}

/**
 * Once the streams are negotiated (§5.1.1): messages queued during the handshake for a stream
 * the association does not have cannot be sent; they are given up (reported as abandoned, unsent).
 */
export function dropInvalidStreams(a: Assoc, io: SctpIo): void {
  for (let i = 0; i < a.pending.length; i++) {
    const c = a.pending[i]!;
    if (c.stream >= a.outStreams) { abandonMessage(a, c.msg, io, i); i--; }
  }
}
