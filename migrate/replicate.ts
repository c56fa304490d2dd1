// Continuous replication of live TCP connections to the standby (issue #9), and the takeover
// that resumes them when the active node dies. Output commit, as in Remus and FT-TCP, but per
// connection and in user space:
//
//   active                                                   standby
//   stack step → packets → NodeMux.sendOut → Replicator.filter
//     the connection is dirty; its packets are HELD (sync)
//   setImmediate: one batch with a replica of every dirty connection  ──►  ReplicaStore.apply
//     (at most MAX_INFLIGHT = 2 batches unconfirmed;                    (plain data, not installed)
//      the rest waits for the next)
//     Replicator.onAck: held packets up to that batch go out          ◄──  ack(batch seq), one per burst
//
// Frames: a batch rides in a hand-over 'snapshot' frame whose u32 ref is 0 (moves use refs
// from 1), the confirmation in an 'ack' frame (migrate/handover.ts needs no change). Stream
// bytes beyond FRAME_DATA go ahead in batches of their own with seq 0 (never confirmed;
// nothing waits for them): the hand-over session's frame reassembly costs the square of a
// frame's size, and this halved the sync download's cost (measured: 33 → 55 MB/s).
//
// A replica is a consistent cut of one connection, taken synchronously (nothing runs between
// its parts): the TCB (no freeze: the live TCB as JSON, see capture()), the service's
// checkpoint (FerryService.onCheckpoint), the bytes the Socket pulled from the stack that the
// service has not consumed ("unread"), and the bytes the service wrote that the stack has not
// accepted ("unsent", Socket.peekUnsent). Every byte the peer sent is in exactly one of: the
// stack's receive queue, unread, or the service's state (consumed); every byte the service
// produced is in its state's past and in the send queue or unsent. So whichever replica the
// standby resumes, the stream continues without loss or repetition.
//
// Deltas: the send side is one stream (send queue ++ unsent) covering application offsets
// [bytesWritten - sndQLen, bytesWritten + unsent); the receive side (unread ++ receive queue)
// covers [bytesRead - unread, bytesRead + rcvQLen). A replica carries only the bytes past what
// the previous one carried (the link is one ordered TCP stream); the standby appends them and
// trims what the TCB says was acknowledged or consumed. The TCB itself (without its queues) is
// sent each time (~2.3 KB of JSON) and parsed, shifted into snapshot time (shiftTcb, as
// peekConn does) and validated (snapshot.ts validateTcb) only at a takeover.
//
// Takeover (migrate/node.ts, the standby's role turning active for 'peer-dead'): every
// replicated connection's id is reserved (stack/freeze.ts: packets for it are held, not
// answered with RST), the service address is taken while the replicas are installed
// (resumeReplica: importConn at the moment the replica arrived, so overdue timers fire at
// once; an armed retransmission timer fires immediately), each goes to its service with
// resumed: true and its checkpoint, the held packets are replayed, a probe ACK goes to each
// peer (probe()), and only connections without a replica are tickled (#8).
//
// Modes (ServiceConfig.replication, else NodeConfig.replication.mode):
//   sync   every packet of a replicated connection is held until the standby confirms the
//          batch whose replica is at least as new as the state that produced it (RFC 9293
//          has no word for this; it is the output-commit rule). The peer never sees an ACK,
//          a window or a byte that the standby's replica does not cover, so a crash at any
//          instant loses nothing: the standby's SND.NXT >= anything the peer received and its
//          RCV.NXT >= anything the peer saw acknowledged.
//   async  packets are not held, with two exceptions that keep the loss detectable:
//          (a) a packet that acknowledges received data beyond the last CONFIRMED replica's
//              RCV.NXT is held, unless it also carries data (or FIN) newer than every replica
//              sent so far — then a peer that saw that ACK also saw bytes the standby cannot
//              have, and the standby detects it (below);
//          (b) when the oldest unconfirmed batch is older than maxLagMs, everything is held
//              until the standby catches up.
//          Loss bound: at a crash, the standby's replica of a connection lacks at most the
//          output the active produced in the last maxLagMs (plus one batch); acknowledged
//          input is never lost without lost output beside it. If the peer received any of
//          that output, its first ACK after the takeover acknowledges beyond the standby's
//          SND.NXT; the standby then resets the connection with a RST carrying exactly that
//          ACK number as its sequence number (acceptable to the peer, RFC 9293 §3.10.7.4 /
//          RFC 5961 §3.2), instead of the RFC's "send an ACK and drop" that would leave both
//          ends waiting. Otherwise the connection continues. Never corrupted, never left hanging.
//   off    nothing (a crash resets the connection through the #8 tickle).
//
// SCTP associations (RFC 9260) are replicated the same way with stack/freeze.ts peekAssoc and
// the snapshot codec, but whole each time (no deltas: an echo or signalling association's
// queues are small), with the messages its Association object still queues; their packets
// (DATA, SACK, everything) are held in either mode, because no check like TCP's below can
// tell after a takeover that the peer saw more than the replica: 'async' is 'sync' for SCTP.
// The standby installs them with importAssoc (SctpHost.adopt); their timers keep their
// remaining time and SCTP's retransmission (§6.3.3) repairs what died with the active.
//
// Not replicated: connections still in their handshake (SYN-RECEIVED, or established but not
// yet accepted by the service). Their SYN|ACK and early ACKs are not held; after a crash the
// standby has no state for them and they are reset (tickle) — the client retries, as it
// would after a lost SYN. A connection enters replication when the service accepts it; its
// first replica is full and every later packet waits for it.
//
// If the hand-over link is down (or there is no standby) the active does not wait: held
// packets go out and replication resumes with full replicas when a link comes up (availability
// over protection; the node logs 'replication.degraded').
import type { ConnId } from '../stack/api.ts';
import { connKey } from '../stack/demux.ts';
import { importConn, peekAssoc, shiftTcb } from '../stack/freeze.ts';
import { remoteKey } from '../stack/sctp/state.ts';
import type { Tcb } from '../stack/tcp/tcb.ts';
import { v4ToString, v6ToString } from '../stack/wire/addr.ts';
import { buildIp } from '../stack/wire/ip.ts';
import { seqGe, seqGt } from '../stack/wire/seq.ts';
import { emitTcp, tcpBufferLen, tcpPseudoSum } from '../stack/wire/tcp.ts';
import type { Host } from '../tun/driver.ts';
import { Socket, type Server } from '../tun/net.ts';
import type { Association, SctpHost } from '../tun/sctp-socket.ts';

import { decodeSnapshot, encodeSnapshot, validateTcb } from './snapshot.ts';

/** Messages an Association accepted but has not handed to the stack yet (its send queue), encoded. */
function encodeQueued(a: Association): Uint8Array {
  const q = (a as unknown as { queue?: { data: Uint8Array; opts: { stream?: number; ppid?: number; unordered?: boolean } }[] }).queue ?? [];
  if (q.length === 0) return EMPTY;
  const w = new W(16 + q.reduce((k, m) => k + 16 + m.data.length, 0));
  w.u32(q.length);
  for (const m of q) { w.u32(m.opts.stream ?? 0); w.u32(m.opts.ppid ?? 0); w.u8(m.opts.unordered === true ? 1 : 0); w.bytes(m.data); }
  return w.done().slice();
}

/** The inverse of encodeQueued; null when malformed. */
export function decodeQueued(b: Uint8Array): { data: Uint8Array; stream: number; ppid: number; unordered: boolean }[] | null {
  if (b.length === 0) return [];
  try {
    const r = new R(b);
    const n = r.u32();
    if (n > b.length) return null;
    const out: { data: Uint8Array; stream: number; ppid: number; unordered: boolean }[] = [];
    for (let i = 0; i < n; i++) out.push({ stream: r.u32(), ppid: r.u32(), unordered: r.u8() === 1, data: r.bytes().slice() });
    return r.end ? out : null;
  } catch { return null; }
}

export type ReplicaMode = 'sync' | 'async';

const EMPTY = new Uint8Array(0);
const te = new TextEncoder();
const td = new TextDecoder();
const BATCH_MAGIC = 0x52; // 'R'
const ACK_MAGIC = 0x41; // 'A'
const E_REPLICA = 1, E_DROP = 2, E_SCTP = 3, E_DATA = 4;
/**
 * Stream bytes beyond this go ahead of their replica in frames of their own (seq 0: not
 * confirmed, nothing waits for them), so no frame is much larger than a socket read: the
 * hand-over session buffers a partial frame by concatenation (migrate/handover.ts parse), which
 * costs the square of the frame's size in reads.
 */
const FRAME_DATA = 60 * 1024;
const F_FULL = 1, F_ENDED = 2, F_APP_CLOSED = 4;
const TCP_ACK = 0x10, TCP_RST = 0x04, TCP_SYN = 0x02, TCP_FIN = 0x01;
const NO_BYTES: Uint8Array[] = [];
const NO_OOO: { seq: number; data: Uint8Array }[] = [];
const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

// ------------------------------------------------------------------------------ wire format

/** One connection's entry in a batch. */
export type ReplicaEntry =
  | {
    kind: 'replica'; id: ConnId; version: number; full: boolean; ended: boolean; appClosed: boolean; mode: ReplicaMode;
    /**
     * The live TCB without its queues (JSON, UTF-8; parsed only at a takeover), taken at
     * `takenAt` on the active's clock, and the four numbers that place its queues in the streams.
     */
    tcb: Uint8Array; takenAt: number;
    bytesWritten: number; sndQLen: number; bytesRead: number; rcvQLen: number;
    ooo: { seq: number; data: Uint8Array }[];
    /** Send stream bytes from application offset outFrom; receive stream bytes from inFrom. */
    outFrom: number; out: Uint8Array; inFrom: number; in: Uint8Array;
    unreadLen: number; unsentLen: number;
    app: Uint8Array;
  }
  | {
    /** An SCTP association: a full snapshot each time (snapshot.ts), its unsent messages, the service's state. */
    kind: 'sctp'; id: string; version: number; mode: ReplicaMode; snap: Uint8Array; queued: Uint8Array; app: Uint8Array;
  }
  | { kind: 'drop'; id: ConnId }
  /** Stream bytes sent ahead of the connection's replica (dir 0: send stream, 1: receive stream). */
  | { kind: 'data'; id: ConnId; dir: 0 | 1; from: number; bytes: Uint8Array };

export interface ReplicaBatch { seq: number; entries: ReplicaEntry[] }

class W {
  buf: Uint8Array;
  n = 0;
  private dv: DataView;
  constructor(capacity = 4096) { this.buf = new Uint8Array(capacity); this.dv = new DataView(this.buf.buffer); }
  need(k: number): void {
    if (this.n + k <= this.buf.length) return;
    let c = this.buf.length * 2;
    while (c < this.n + k) c *= 2;
    const b = new Uint8Array(c);
    b.set(this.buf.subarray(0, this.n));
    this.buf = b;
    this.dv = new DataView(b.buffer);
  }
  u8(v: number): void { this.need(1); this.buf[this.n++] = v; }
  u32(v: number): void { this.need(4); this.dv.setUint32(this.n, v >>> 0); this.n += 4; }
  f64(v: number): void { this.need(8); this.dv.setFloat64(this.n, v); this.n += 8; }
  bytes(b: Uint8Array): void { this.u32(b.length); this.need(b.length); this.buf.set(b, this.n); this.n += b.length; }
  /** The bytes written (a view: the caller copies them into a frame at once). */
  done(): Uint8Array { return this.buf.subarray(0, this.n); }
}

class R {
  o = 0;
  private readonly dv: DataView;
  constructor(private readonly b: Uint8Array) { this.dv = new DataView(b.buffer, b.byteOffset, b.byteLength); }
  private need(k: number): void { if (this.o + k > this.b.length) throw new RangeError('truncated'); }
  u8(): number { this.need(1); return this.b[this.o++]!; }
  u32(): number { this.need(4); const v = this.dv.getUint32(this.o); this.o += 4; return v; }
  f64(): number { this.need(8); const v = this.dv.getFloat64(this.o); this.o += 8; return v; }
  bytes(): Uint8Array { const n = this.u32(); this.need(n); const v = this.b.subarray(this.o, this.o + n); this.o += n; return v; }
  get end(): boolean { return this.o === this.b.length; }
}

/** A batch as the payload of a hand-over 'snapshot' frame: u32 ref 0 (not a move), 'R', u32 seq, u32 count, entries. */
export function encodeBatch(b: ReplicaBatch): Uint8Array {
  let size = 13;
  for (const e of b.entries) {
    size += 5 + e.id.length * 3;
    if (e.kind === 'sctp') size += 20 + e.snap.length + e.queued.length + e.app.length;
    if (e.kind === 'data') size += 16 + e.bytes.length;
    if (e.kind === 'replica') size += 80 + e.tcb.length + e.out.length + e.in.length + e.app.length + e.ooo.reduce((k, o) => k + 8 + o.data.length, 0);
  }
  const w = new W(size);
  w.u32(0);
  w.u8(BATCH_MAGIC);
  w.u32(b.seq);
  w.u32(b.entries.length);
  for (const e of b.entries) {
    w.u8(e.kind === 'replica' ? E_REPLICA : e.kind === 'sctp' ? E_SCTP : e.kind === 'data' ? E_DATA : E_DROP);
    w.bytes(te.encode(e.id));
    if (e.kind === 'drop') continue;
    if (e.kind === 'data') { w.u8(e.dir); w.f64(e.from); w.bytes(e.bytes); continue; }
    if (e.kind === 'sctp') { w.u32(e.version); w.u8(e.mode === 'sync' ? 1 : 2); w.bytes(e.snap); w.bytes(e.queued); w.bytes(e.app); continue; }
    w.u32(e.version);
    w.u8((e.full ? F_FULL : 0) | (e.ended ? F_ENDED : 0) | (e.appClosed ? F_APP_CLOSED : 0));
    w.u8(e.mode === 'sync' ? 1 : 2);
    w.bytes(e.tcb);
    w.f64(e.takenAt); w.f64(e.bytesWritten); w.f64(e.sndQLen); w.f64(e.bytesRead); w.f64(e.rcvQLen);
    w.u32(e.ooo.length);
    for (const o of e.ooo) { w.u32(o.seq); w.bytes(o.data); }
    w.f64(e.outFrom); w.bytes(e.out);
    w.f64(e.inFrom); w.bytes(e.in);
    w.u32(e.unreadLen); w.u32(e.unsentLen);
    w.bytes(e.app);
  }
  return w.done();
}

/** Whether a 'snapshot' frame's payload is a replica batch (ref 0) rather than a move. */
export function isBatch(p: Uint8Array): boolean {
  return p.length >= 5 && p[0] === 0 && p[1] === 0 && p[2] === 0 && p[3] === 0 && p[4] === BATCH_MAGIC;
}

/** Parse a batch; null when malformed (never throws). Byte fields are views into `p`. */
export function decodeBatch(p: Uint8Array): ReplicaBatch | null {
  if (!isBatch(p)) return null;
  try {
    const r = new R(p);
    r.u32(); r.u8();
    const seq = r.u32(), n = r.u32();
    if (n > p.length) return null;
    const entries: ReplicaEntry[] = [];
    for (let i = 0; i < n; i++) {
      const kind = r.u8();
      const id = td.decode(r.bytes());
      if (kind === E_DROP) { entries.push({ kind: 'drop', id }); continue; }
      if (kind === E_DATA) {
        const dir = r.u8(), from = r.f64(), bytes = r.bytes();
        if ((dir !== 0 && dir !== 1) || !Number.isSafeInteger(from) || from < 0) return null;
        entries.push({ kind: 'data', id, dir, from, bytes });
        continue;
      }
      if (kind === E_SCTP) {
        const version = r.u32(), m = r.u8();
        if (m !== 1 && m !== 2) return null;
        entries.push({ kind: 'sctp', id, version, mode: m === 1 ? 'sync' : 'async', snap: r.bytes(), queued: r.bytes(), app: r.bytes() });
        continue;
      }
      if (kind !== E_REPLICA) return null;
      const version = r.u32(), flags = r.u8(), m = r.u8();
      if (flags > 7 || (m !== 1 && m !== 2)) return null;
      const tcb = r.bytes();
      const takenAt = r.f64(), bytesWritten = r.f64(), sndQLen = r.f64(), bytesRead = r.f64(), rcvQLen = r.f64();
      const no = r.u32();
      if (no > p.length) return null;
      const ooo: { seq: number; data: Uint8Array }[] = [];
      for (let j = 0; j < no; j++) ooo.push({ seq: r.u32(), data: r.bytes() });
      for (const x of [bytesWritten, sndQLen, bytesRead, rcvQLen]) if (!Number.isSafeInteger(x) || x < 0) return null;
      if (!Number.isFinite(takenAt)) return null;
      const outFrom = r.f64(), out = r.bytes(), inFrom = r.f64(), inb = r.bytes();
      const unreadLen = r.u32(), unsentLen = r.u32();
      const app = r.bytes();
      if (!Number.isSafeInteger(outFrom) || !Number.isSafeInteger(inFrom) || outFrom < 0 || inFrom < 0) return null;
      entries.push({
        kind: 'replica', id, version, full: (flags & F_FULL) !== 0, ended: (flags & F_ENDED) !== 0, appClosed: (flags & F_APP_CLOSED) !== 0,
        mode: m === 1 ? 'sync' : 'async', tcb, takenAt, bytesWritten, sndQLen, bytesRead, rcvQLen, ooo, outFrom, out, inFrom, in: inb, unreadLen, unsentLen, app,
      });
    }
    return r.end ? { seq, entries } : null;
  } catch {
    return null;
  }
}

/** The standby's confirmation ('ack' frame): 'A', u32 seq, u32 count, ids of replicas it could not apply. */
export function encodeReplicaAck(seq: number, bad: readonly ConnId[]): Uint8Array {
  const w = new W();
  w.u8(ACK_MAGIC);
  w.u32(seq);
  w.u32(bad.length);
  for (const id of bad) w.bytes(te.encode(id));
  return w.done();
}

export function decodeReplicaAck(p: Uint8Array): { seq: number; bad: ConnId[] } | null {
  try {
    const r = new R(p);
    if (r.u8() !== ACK_MAGIC) return null;
    const seq = r.u32(), n = r.u32();
    if (n > p.length) return null;
    const bad: ConnId[] = [];
    for (let i = 0; i < n; i++) bad.push(td.decode(r.bytes()));
    return r.end ? { seq, bad } : null;
  } catch {
    return null;
  }
}

// ------------------------------------------------------------------------------ packet peeks

/** What the hold logic reads from an outgoing IP/TCP packet (null: not TCP, or unparseable). */
export interface TcpPeek {
  /** The connection id from our side: local = source. */
  id: ConnId;
  flags: number;
  seq: number;
  ack: number;
  /** Sequence space the segment occupies (payload, plus one each for SYN and FIN). */
  seqLen: number;
}

/** Peek an IP packet carrying TCP, `outgoing` (we are the source) or incoming. Never throws. */
export function peekTcp(p: Uint8Array, outgoing: boolean): TcpPeek | null {
  if (p.length < 20) return null;
  const ver = p[0]! >> 4;
  let l4: number, total: number, src: string, dst: string;
  if (ver === 4) {
    l4 = (p[0]! & 0x0f) * 4;
    if (p[9] !== 6 || ((p[6]! & 0x3f) << 8 | p[7]!) !== 0) return null;
    total = Math.min(p.length, (p[2]! << 8) | p[3]!);
    src = v4ToString(p, 12); dst = v4ToString(p, 16);
  } else if (ver === 6) {
    if (p.length < 40 || p[6] !== 6) return null;
    l4 = 40;
    total = Math.min(p.length, 40 + ((p[4]! << 8) | p[5]!));
    src = v6ToString(p, 8); dst = v6ToString(p, 24);
  } else return null;
  if (total < l4 + 20) return null;
  const dv = new DataView(p.buffer, p.byteOffset + l4, 20);
  const sport = dv.getUint16(0), dport = dv.getUint16(2);
  const doff = (p[l4 + 12]! >> 4) * 4;
  const flags = p[l4 + 13]!;
  const payload = Math.max(0, total - l4 - doff);
  return {
    id: outgoing ? connKey(src, sport, dst, dport) : connKey(dst, dport, src, sport),
    flags, seq: dv.getUint32(4), ack: dv.getUint32(8),
    seqLen: payload + ((flags & TCP_SYN) !== 0 ? 1 : 0) + ((flags & TCP_FIN) !== 0 ? 1 : 0),
  };
}

// ------------------------------------------------------------------------------ active side

/** One replicated connection on the active node. */
interface Rec {
  id: ConnId;
  mode: ReplicaMode;
  /** An SCTP association (full replicas, every packet held in either mode) instead of a TCP connection. */
  assoc: Association | null;
  socket: Socket | null;
  checkpoint: (() => Uint8Array) | null;
  version: number;
  full: boolean;
  dirty: boolean;
  outEnd: number;
  inEnd: number;
  /** SND.NXT of the last replica sent; RCV.NXT of the last one confirmed (async rule (a)). */
  sentSndNxt: number | null;
  confirmedRcvNxt: number | null;
  /** [batch seq, RCV.NXT] of replicas sent and not yet confirmed, oldest first. */
  pending: number[];
}

export interface ReplicatorStats {
  tracked: number; batchesSent: number; batchesConfirmed: number; bytesSent: number;
  replicas: number; heldNow: number; heldTotal: number; released: number; fullReplicas: number; badReplicas: number;
  /** Batch sent → confirmed, smoothed (1/8 gain, as SRTT) and the largest seen (ms). */
  confirmMs: number; confirmMaxMs: number;
}

export interface ReplicatorOptions {
  host: Host;
  /** The SCTP host, for replicated associations. */
  sctp?: SctpHost;
  /** Ship a batch to the standby (false: no link). */
  send: (payload: Uint8Array) => boolean;
  /** Packets released from the hold, in order (to the device). */
  release: (pkts: Uint8Array[]) => void;
  maxLagMs: number;
  /** Schedules the batch after the current burst of output (default setImmediate). */
  schedule?: (fn: () => void) => void;
  /** Wall clock for the lag rule (default performance.now). */
  clock?: () => number;
  log?: (ev: string, f: Record<string, unknown>) => void;
}

/**
 * The active node's half: tracks replicated connections, builds batches, holds and releases
 * their packets. NodeMux calls filter() with everything the stacks send.
 */
export class Replicator {
  /** Batches in flight before the next waits for a confirmation. */
  static MAX_INFLIGHT = 2;
  readonly stats: ReplicatorStats = { tracked: 0, batchesSent: 0, batchesConfirmed: 0, bytesSent: 0, replicas: 0, heldNow: 0, heldTotal: 0, released: 0, fullReplicas: 0, badReplicas: 0, confirmMs: 0, confirmMaxMs: 0 };
  private readonly recs = new Map<ConnId, Rec>();
  private dirty: Rec[] = [];
  private drops: ConnId[] = [];
  /** The batch being assembled (packets held now wait for it). */
  private nextSeq = 1;
  private scheduled = false;
  /** Batches sent and not confirmed: [seq, sentAt] pairs, oldest first, and the connections each carried. */
  private inflight: number[] = [];
  private inflightRecs: Rec[][] = [];
  /** Held packets and the batch each waits for, oldest first (tags never decrease). */
  private held: Uint8Array[] = [];
  private heldTag: number[] = [];
  private heldHead = 0;
  /** Replicating: this node is active and a standby link is up. */
  private on = false;
  private readonly schedule: (fn: () => void) => void;
  private readonly clock: () => number;

  constructor(private readonly o: ReplicatorOptions) {
    this.schedule = o.schedule ?? ((fn) => { setImmediate(fn); });
    this.clock = o.clock ?? (() => performance.now());
  }

  get enabled(): boolean { return this.on; }

  /** Start replicating `id` (the service accepted it). checkpoint: the service's onCheckpoint. */
  track(id: ConnId, mode: ReplicaMode, socket: Socket | null, checkpoint: (() => Uint8Array) | null): void {
    const r: Rec = {
      id, mode, assoc: null, socket, checkpoint, version: 0, full: true, dirty: false, outEnd: 0, inEnd: 0,
      sentSndNxt: null, confirmedRcvNxt: null, pending: [],
    };
    this.recs.set(id, r);
    this.stats.tracked = this.recs.size;
    if (this.on) this.markDirty(r);
  }

  /** Start replicating SCTP association `id` (its service accepted it). */
  trackSctp(id: string, mode: ReplicaMode, assoc: Association, checkpoint: (() => Uint8Array) | null): void {
    const r: Rec = {
      id, mode, assoc, socket: null, checkpoint, version: 0, full: true, dirty: false, outEnd: 0, inEnd: 0,
      sentSndNxt: null, confirmedRcvNxt: null, pending: [],
    };
    this.recs.set(id, r);
    this.stats.tracked = this.recs.size;
    if (this.on) this.markDirty(r);
  }

  /** The service's socket closed: the stack may still finish the close; replicate the TCB alone. */
  appClosed(id: ConnId): void {
    const r = this.recs.get(id);
    if (r === undefined) return;
    r.socket = null;
    r.checkpoint = null;
    if (this.on) this.markDirty(r);
  }

  /** Stop replicating `id` (moved away, or gone); the standby drops its replica. */
  untrack(id: ConnId): void {
    const r = this.recs.get(id);
    if (r === undefined) return;
    this.recs.delete(id);
    this.stats.tracked = this.recs.size;
    r.dirty = false;
    if (this.on) { this.drops.push(id); this.kick(); }
  }

  has(id: ConnId): boolean { return this.recs.has(id); }

  /** A standby link is up and this node is active: replicate everything afresh. */
  enable(): void {
    if (this.on) return;
    this.on = true;
    this.inflight = [];
    this.inflightRecs = [];
    for (const r of this.recs.values()) { r.full = true; r.pending = []; r.confirmedRcvNxt = null; r.sentSndNxt = null; this.markDirty(r); }
  }

  /** No standby (link down, or this node is no longer active): release everything, stop holding. */
  disable(): void {
    if (!this.on) return;
    this.on = false;
    this.dirty = [];
    this.drops = [];
    this.inflight = [];
    this.inflightRecs = [];
    for (const r of this.recs.values()) { r.dirty = false; r.pending = []; }
    this.releaseUpTo(Number.MAX_SAFE_INTEGER);
  }

  /** Forget every connection (this node is no longer active). */
  clear(): void {
    this.disable();
    this.recs.clear();
    this.stats.tracked = 0;
  }

  /** The stacks' output: returns what may leave now; holds the rest (see the file comment). */
  filter(pkts: Uint8Array[]): Uint8Array[] {
    if (this.recs.size === 0 || !this.on) return pkts;
    let out: Uint8Array[] | null = null;
    const lagging = this.lagging();
    for (let i = 0; i < pkts.length; i++) {
      const p = pkts[i]!;
      const k = peekTcp(p, true);
      const r = k === null ? this.sctpRec(p) : this.recs.get(k.id);
      let hold = false;
      if (r !== undefined) {
        this.markDirty(r);
        // SCTP has no divergence check after a takeover: its packets are held in either mode.
        hold = r.mode === 'sync' || lagging || k === null || this.asyncHolds(r, k);
      }
      if (hold) {
        if (out === null) out = pkts.slice(0, i);
        this.held.push(p);
        this.heldTag.push(this.nextSeq);
        this.stats.heldTotal++;
      } else if (out !== null) out.push(p);
    }
    this.stats.heldNow = this.held.length - this.heldHead;
    return out ?? pkts;
  }

  /** The replicated association an outgoing SCTP packet (raw or UDP-encapsulated, RFC 6951) belongs to. */
  private sctpRec(p: Uint8Array): Rec | undefined {
    const h = this.o.sctp;
    if (h === undefined || p.length < 20) return undefined;
    const ver = p[0]! >> 4;
    let l4: number, proto: number, dst: string;
    if (ver === 4) { l4 = (p[0]! & 0x0f) * 4; proto = p[9]!; dst = v4ToString(p, 16); } else if (ver === 6 && p.length >= 40) { l4 = 40; proto = p[6]!; dst = v6ToString(p, 24); } else return undefined;
    if (proto === 17) l4 += 8; else if (proto !== 132) return undefined;
    if (p.length < l4 + 4) return undefined;
    const sport = (p[l4]! << 8) | p[l4 + 1]!, dport = (p[l4 + 2]! << 8) | p[l4 + 3]!;
    const id = h.state.byRemote[remoteKey(sport, dst, dport)];
    return id === undefined ? undefined : this.recs.get(id);
  }

  /** Async rule (a): an ACK beyond the confirmed RCV.NXT without data newer than every replica sent. */
  private asyncHolds(r: Rec, k: TcpPeek): boolean {
    if ((k.flags & TCP_ACK) === 0 || (k.flags & TCP_RST) !== 0) return false;
    if (r.confirmedRcvNxt !== null && !seqGt(k.ack, r.confirmedRcvNxt)) return false;
    const newData = k.seqLen > 0 && (r.sentSndNxt === null || seqGt((k.seq + k.seqLen) >>> 0, r.sentSndNxt));
    return !newData;
  }

  /** Async rule (b): the oldest unconfirmed batch is older than maxLagMs. */
  private lagging(): boolean {
    return this.inflight.length > 0 && this.clock() - this.inflight[1]! > this.o.maxLagMs;
  }

  private markDirty(r: Rec): void {
    if (r.dirty) return;
    r.dirty = true;
    this.dirty.push(r);
    this.kick();
  }

  private kick(): void {
    // At most MAX_INFLIGHT batches unconfirmed: what changes meanwhile rides in the next one,
    // sent when a confirmation arrives (fewer, larger batches: less per-batch work on both
    // nodes, at the price of up to one more confirmation round trip for a held packet).
    if (this.scheduled || this.inflight.length >= 2 * Replicator.MAX_INFLIGHT) return;
    this.scheduled = true;
    this.schedule(() => { this.scheduled = false; this.flushBatch(); });
  }

  /** Build and ship the batch for everything dirty now (normally run by the scheduler). */
  flushBatch(): void {
    if (!this.on) return;
    const seq = this.nextSeq;
    const heldForIt = this.held.length > this.heldHead && this.heldTag[this.heldTag.length - 1] === seq;
    if (this.dirty.length === 0 && this.drops.length === 0 && !heldForIt) return;
    const entries: ReplicaEntry[] = [];
    for (const id of this.drops) entries.push({ kind: 'drop', id });
    this.drops = [];
    const dirty = this.dirty;
    this.dirty = [];
    const carried: Rec[] = [];
    for (const r of dirty) {
      r.dirty = false;
      if (this.recs.get(r.id) !== r) continue;
      const e = r.assoc !== null ? this.captureSctp(r) : this.capture(r, seq);
      if (e === null) {
        this.recs.delete(r.id);
        entries.push({ kind: 'drop', id: r.id });
      } else { entries.push(e); carried.push(r); }
    }
    this.stats.tracked = this.recs.size;
    this.nextSeq++;
    // Large stream deltas go ahead in frames of about FRAME_DATA bytes (seq 0, unconfirmed).
    let ahead: ReplicaEntry[] = [], aheadBytes = 0;
    const sendAhead = (): boolean => {
      if (ahead.length === 0) return true;
      const p = encodeBatch({ seq: 0, entries: ahead });
      ahead = []; aheadBytes = 0;
      this.stats.bytesSent += p.length;
      return this.o.send(p);
    };
    let ok = true;
    for (const e of entries) {
      if (e.kind !== 'replica' || e.out.length + e.in.length <= FRAME_DATA) continue;
      for (const dir of [0, 1] as const) {
        const b = dir === 0 ? e.out : e.in;
        let from = dir === 0 ? e.outFrom : e.inFrom;
        for (let o = 0; o < b.length; o += FRAME_DATA) {
          const piece = b.subarray(o, Math.min(b.length, o + FRAME_DATA));
          ahead.push({ kind: 'data', id: e.id, dir, from, bytes: piece });
          from += piece.length;
          aheadBytes += piece.length;
          if (aheadBytes >= FRAME_DATA) ok = sendAhead() && ok;
        }
        if (dir === 0) { e.outFrom = from; e.out = EMPTY; } else { e.inFrom = from; e.in = EMPTY; }
      }
    }
    ok = sendAhead() && ok;
    const payload = encodeBatch({ seq, entries });
    if (!ok || !this.o.send(payload)) {
      this.o.log?.('replication.degraded', { reason: 'no hand-over link' });
      this.disable();
      return;
    }
    this.stats.batchesSent++;
    this.stats.bytesSent += payload.length;
    this.inflight.push(seq, this.clock());
    this.inflightRecs.push(carried);
  }

  /** One association's replica: the whole association (snapshot.ts), full each time; null when it is gone. */
  private captureSctp(r: Rec): ReplicaEntry | null {
    const h = this.o.sctp;
    const a = r.assoc;
    if (h === undefined || a === null) return null;
    const st = h.state.assocs[r.id];
    if (st === undefined || st.state === 'CLOSED') return null;
    const exp = peekAssoc(h.state, r.id, h.now());
    if (exp === null) return null;
    let app: Uint8Array = EMPTY;
    if (r.checkpoint !== null) {
      try { app = r.checkpoint(); } catch (e) { this.o.log?.('replication.checkpoint-error', { conn: r.id, error: (e as Error).message }); }
    }
    r.full = false;
    this.stats.replicas++;
    return {
      kind: 'sctp', id: r.id, version: ++r.version, mode: r.mode,
      snap: encodeSnapshot({ kind: 'sctp-assoc', takenAt: 0, assoc: exp, app: null }), queued: encodeQueued(a), app,
    };
  }

  /** One connection's replica (null: its TCB is gone or finished). */
  private capture(r: Rec, seq: number): ReplicaEntry | null {
    const host = this.o.host;
    const t = host.state.tcp[r.id];
    if (t === undefined || t.state === 'TIME-WAIT' || t.state === 'CLOSED') return null;
    // The TCB as JSON, without its queues (they travel as stream deltas) and without copying it
    // first: JSON.stringify of the live object is the cheapest consistent copy there is
    // (measured: ~20 µs against ~300 µs for codec.ts and ~40 µs for peekConn + snapshot.ts;
    // snapshot.ts cannot encode a TCB without its queue bytes). The standby parses it only
    // if it ever takes over.
    const sq = t.sndQ, rq = t.rcvQ, oo = t.ooo, cfg = t.cfg;
    const now = host.now();
    let json: string;
    t.sndQ = NO_BYTES; t.rcvQ = NO_BYTES; t.ooo = NO_OOO;
    if (cfg.md5Key instanceof Uint8Array) t.cfg = { ...cfg, md5Key: { hex: hex(cfg.md5Key) } as unknown as Uint8Array };
    try { json = JSON.stringify(t); } finally { t.sndQ = sq; t.rcvQ = rq; t.ooo = oo; t.cfg = cfg; }
    const unsent = r.socket?.peekUnsent() ?? { data: EMPTY, ended: false };
    const unread = r.socket === null ? EMPTY : peekUnread(r.socket);
    // Send stream: [outStart, outEnd) = send queue ++ unsent.
    const wr = t.bytesWritten, outStart = wr - t.sndQLen, outEnd = wr + unsent.data.length;
    const outFrom = r.full ? outStart : Math.min(Math.max(r.outEnd, outStart), outEnd);
    const out = new Uint8Array(outEnd - outFrom);
    let w = 0;
    if (outFrom < wr) w = readQueue(sq, t.sndQOff, outFrom - outStart, wr - outFrom, out, 0);
    const us = Math.max(0, outFrom - wr);
    if (unsent.data.length > us) out.set(unsent.data.subarray(us), w);
    // Receive stream: [inStart, inEnd) = unread ++ receive queue.
    const rd = t.bytesRead, inStart = rd - unread.length, inEnd = rd + t.rcvQLen;
    const inFrom = r.full ? inStart : Math.min(Math.max(r.inEnd, inStart), inEnd);
    const inb = new Uint8Array(inEnd - inFrom);
    let v = 0;
    if (inFrom < rd) { inb.set(unread.subarray(inFrom - inStart)); v = rd - inFrom; }
    if (inEnd > Math.max(inFrom, rd)) readQueue(rq, t.rcvQOff, Math.max(0, inFrom - rd), inEnd - Math.max(inFrom, rd), inb, v);
    let app: Uint8Array = EMPTY;
    if (r.checkpoint !== null) {
      try { app = r.checkpoint(); } catch (e) { this.o.log?.('replication.checkpoint-error', { conn: r.id, error: (e as Error).message }); }
    }
    const e: ReplicaEntry = {
      kind: 'replica', id: r.id, version: ++r.version, full: r.full, ended: unsent.ended, appClosed: r.socket === null, mode: r.mode,
      tcb: te.encode(json), takenAt: now, bytesWritten: wr, sndQLen: t.sndQLen, bytesRead: rd, rcvQLen: t.rcvQLen,
      ooo: oo.map((x) => ({ seq: x.seq, data: x.data })),
      outFrom, out, inFrom, in: inb, unreadLen: unread.length, unsentLen: unsent.data.length, app,
    };
    if (r.full) this.stats.fullReplicas++;
    this.stats.replicas++;
    r.full = false;
    r.outEnd = outEnd;
    r.inEnd = inEnd;
    r.sentSndNxt = t.sndNxt;
    r.pending.push(seq, t.rcvNxt);
    return e;
  }

  /** The standby's 'ack' frame. */
  onAck(payload: Uint8Array): void {
    const a = decodeReplicaAck(payload);
    if (a === null || !this.on) return;
    for (const id of a.bad) {
      // The standby could not apply it (it never should): drop what waits for it (TCP repairs
      // the loss by retransmission) and send a full replica next.
      this.stats.badReplicas++;
      const r = this.recs.get(id);
      if (r !== undefined) { r.full = true; this.markDirty(r); }
      this.o.log?.('replication.bad-replica', { conn: id });
    }
    let i = 0;
    while (i < this.inflight.length && this.inflight[i]! <= a.seq) i += 2;
    if (i > 0) {
      const ms = this.clock() - this.inflight[i - 1]!;
      this.stats.confirmMs += (ms - this.stats.confirmMs) / 8;
      if (ms > this.stats.confirmMaxMs) this.stats.confirmMaxMs = ms;
      this.inflight.splice(0, i);
      // Only the connections those batches carried can have confirmations to record.
      for (const recs of this.inflightRecs.splice(0, i / 2)) {
        for (const r of recs) {
          let j = 0;
          while (j < r.pending.length && r.pending[j]! <= a.seq) { r.confirmedRcvNxt = r.pending[j + 1]!; j += 2; }
          if (j > 0) r.pending.splice(0, j);
        }
      }
      this.stats.batchesConfirmed += i / 2;
    }
    this.releaseUpTo(a.seq, a.bad.length > 0 ? new Set(a.bad) : null);
    if (this.dirty.length > 0 || this.drops.length > 0) this.kick();
  }

  private releaseUpTo(seq: number, drop: Set<ConnId> | null = null): void {
    let h = this.heldHead;
    const out: Uint8Array[] = [];
    while (h < this.held.length && this.heldTag[h]! <= seq) {
      const p = this.held[h]!;
      if (drop === null || !drop.has(peekTcp(p, true)?.id ?? '')) out.push(p);
      h++;
    }
    if (h === this.held.length) { this.held = []; this.heldTag = []; this.heldHead = 0; } else if (h > 1024 && h * 2 > this.held.length) {
      this.held = this.held.slice(h); this.heldTag = this.heldTag.slice(h); this.heldHead = 0;
    } else this.heldHead = h;
    this.stats.heldNow = this.held.length - this.heldHead;
    if (out.length > 0) { this.stats.released += out.length; this.o.release(out); }
  }

  /** Periodic: connections whose TCB went away without a packet (TIME-WAIT expiry...) are dropped. */
  sweep(): void {
    const st = this.o.host.state.tcp;
    for (const [id, r] of this.recs) {
      if (r.assoc !== null) {
        if (this.o.sctp?.state.assocs[id] === undefined) this.untrack(id);
        continue;
      }
      const t = st[id];
      if (t === undefined || t.state === 'TIME-WAIT' || t.state === 'CLOSED') this.untrack(id);
      else if (this.on && r.version === 0) this.markDirty(r);
    }
  }
}

/** `len` bytes of a chunk queue starting `offset` bytes past its head (head offset `qoff`) into out[at..]. Returns bytes copied. */
function readQueue(q: readonly Uint8Array[], qoff: number, offset: number, len: number, out: Uint8Array, at: number): number {
  let off = qoff + offset, i = 0, w = 0;
  while (i < q.length && off >= q[i]!.length) { off -= q[i]!.length; i++; }
  while (w < len && i < q.length) {
    const c = q[i]!;
    const take = Math.min(c.length - off, len - w);
    out.set(c.subarray(off, off + take), at + w);
    w += take; off = 0; i++;
  }
  return w;
}

/** Bytes in a Socket's readable buffer (pulled from the stack, not yet consumed), not taken. */
export function peekUnread(s: Socket): Uint8Array {
  const st = (s as unknown as { _readableState?: { buffer?: unknown; bufferIndex?: number; length?: number } })._readableState;
  const len = st?.length ?? 0;
  if (st === undefined || len === 0) return EMPTY;
  const parts: Uint8Array[] = [];
  const b = st.buffer;
  if (Array.isArray(b)) {
    for (let i = st.bufferIndex ?? 0; i < b.length; i++) { const c: unknown = b[i]; if (c instanceof Uint8Array) parts.push(c); }
  } else if (b !== null && typeof b === 'object' && Symbol.iterator in b) {
    for (const c of b as Iterable<unknown>) if (c instanceof Uint8Array) parts.push(c);
  }
  let n = 0;
  for (const p of parts) n += p.length;
  const all = new Uint8Array(n);
  let o = 0;
  for (const p of parts) { all.set(p, o); o += p.length; }
  // The readable state's length is authoritative (a consumed prefix may linger in the array).
  return n > len ? all.subarray(n - len) : all;
}

// ------------------------------------------------------------------------------ standby side

/** A growable byte range [start, start + len) of one stream. */
interface Stream { start: number; parts: Uint8Array[]; len: number }

/** The latest replica of one connection, as plain data (not installed). */
export interface Replica {
  id: ConnId;
  version: number;
  mode: ReplicaMode;
  /** The TCB as the active sent it (JSON, parsed at a takeover), its clock then, its out-of-order data. */
  tcb: Uint8Array;
  takenAt: number;
  ooo: { seq: number; data: Uint8Array }[];
  sndQLen: number;
  rcvQLen: number;
  out: Stream;
  in: Stream;
  unreadLen: number;
  unsentLen: number;
  ended: boolean;
  appClosed: boolean;
  app: Uint8Array;
  /** When it arrived here (this node's clock, ms). */
  receivedAt: number;
}

/** Everything a takeover needs to resume one connection. */
export interface Materialized {
  id: ConnId;
  tcb: Tcb;
  unread: Uint8Array;
  unsent: Uint8Array;
  ended: boolean;
  appClosed: boolean;
  app: Uint8Array;
  receivedAt: number;
  mode: ReplicaMode;
}

/** The latest replica of one SCTP association. */
export interface SctpReplica { id: string; version: number; snap: Uint8Array; queued: Uint8Array; app: Uint8Array; receivedAt: number }

export class ReplicaStore {
  readonly replicas = new Map<ConnId, Replica>();
  readonly sctp = new Map<string, SctpReplica>();
  /** Stream bytes that arrived ahead of their connection's replica (E_DATA entries). */
  private readonly ahead = new Map<ConnId, { dir: 0 | 1; from: number; bytes: Uint8Array }[]>();
  lastSeq = 0;
  /** Why the last refused replica was refused. */
  lastError: string | null = null;

  /** Apply a batch; returns the ids whose replica could not be applied (then dropped). */
  apply(b: ReplicaBatch, now: number): ConnId[] {
    const bad: ConnId[] = [];
    if (b.seq !== 0) this.lastSeq = b.seq;
    for (const e of b.entries) {
      if (e.kind === 'drop') { this.replicas.delete(e.id); this.sctp.delete(e.id); this.ahead.delete(e.id); continue; }
      if (e.kind === 'data') {
        let a = this.ahead.get(e.id);
        if (a === undefined) { a = []; this.ahead.set(e.id, a); }
        a.push({ dir: e.dir, from: e.from, bytes: e.bytes });
        continue;
      }
      if (e.kind === 'sctp') {
        this.sctp.set(e.id, { id: e.id, version: e.version, snap: e.snap.slice(), queued: e.queued.slice(), app: e.app.slice(), receivedAt: now });
        continue;
      }
      const why = this.applyOne(e, now);
      if (why !== null) { this.replicas.delete(e.id); bad.push(e.id); this.lastError = `${e.id}: ${why}`; }
    }
    return bad;
  }

  private applyOne(e: Extract<ReplicaEntry, { kind: 'replica' }>, now: number): string | null {
    const prev = this.replicas.get(e.id);
    if (!e.full && (prev === undefined || e.version !== prev.version + 1)) return `version ${e.version} after ${prev?.version ?? 'none'}`;
    const ahead = this.ahead.get(e.id) ?? [];
    this.ahead.delete(e.id);
    const first = (dir: 0 | 1, dflt: number): number => ahead.find((a) => a.dir === dir)?.from ?? dflt;
    const out: Stream = e.full || prev === undefined ? { start: first(0, e.outFrom), parts: [], len: 0 } : prev.out;
    const inn: Stream = e.full || prev === undefined ? { start: first(1, e.inFrom), parts: [], len: 0 } : prev.in;
    for (const a of ahead) {
      const st = a.dir === 0 ? out : inn;
      if (!append(st, a.from, a.bytes)) return `${a.dir === 0 ? 'send' : 'receive'} stream: bytes ahead at ${a.from} before [${st.start}, ${st.start + st.len})`;
    }
    if (!append(out, e.outFrom, e.out)) return `send stream hole: ${e.outFrom} after [${out.start}, ${out.start + out.len})`;
    if (!append(inn, e.inFrom, e.in)) return `receive stream hole: ${e.inFrom} after [${inn.start}, ${inn.start + inn.len})`;
    // Keep exactly what the TCB and the socket still need.
    const outStart = e.bytesWritten - e.sndQLen, outEnd = e.bytesWritten + e.unsentLen;
    const inStart = e.bytesRead - e.unreadLen, inEnd = e.bytesRead + e.rcvQLen;
    if (!clip(out, outStart, outEnd)) return `send stream [${out.start}, ${out.start + out.len}) does not cover [${outStart}, ${outEnd})`;
    if (!clip(inn, inStart, inEnd)) return `receive stream [${inn.start}, ${inn.start + inn.len}) does not cover [${inStart}, ${inEnd})`;
    this.replicas.set(e.id, {
      id: e.id, version: e.version, mode: e.mode, tcb: e.tcb.slice(), takenAt: e.takenAt, ooo: e.ooo.map((o) => ({ seq: o.seq, data: o.data.slice() })),
      sndQLen: e.sndQLen, rcvQLen: e.rcvQLen, out, in: inn, unreadLen: e.unreadLen, unsentLen: e.unsentLen,
      ended: e.ended, appClosed: e.appClosed, app: e.app.slice(), receivedAt: now,
    });
    return null;
  }

  /** The full connection for a takeover (the TCB with its queues, validated). Throws with the reason. */
  materialize(id: ConnId): Materialized {
    const r = this.replicas.get(id);
    if (r === undefined) throw new Error(`no replica of ${id}`);
    let tcb: Tcb;
    try { tcb = JSON.parse(td.decode(r.tcb)) as Tcb; } catch { throw new Error('the replica\'s TCB does not parse'); }
    if (tcb === null || typeof tcb !== 'object' || tcb.id !== id || tcb.sndQLen !== r.sndQLen || tcb.rcvQLen !== r.rcvQLen) throw new Error('the replica\'s TCB is not this connection\'s');
    const k = (tcb.cfg as unknown as { md5Key?: unknown }).md5Key;
    if (k !== null && typeof k === 'object' && typeof (k as { hex?: unknown }).hex === 'string') {
      const h = (k as { hex: string }).hex;
      tcb.cfg = { ...tcb.cfg, md5Key: new Uint8Array((h.match(/../g) ?? []).map((x) => parseInt(x, 16))) };
    }
    tcb.ooo = r.ooo;
    shiftTcb(tcb, r.takenAt, 0); // into snapshot time (stack/freeze.ts), as peekConn would have
    const out = flat(r.out), inn = flat(r.in);
    tcb.sndQ = tcb.sndQLen > 0 ? [out.slice(0, tcb.sndQLen)] : [];
    tcb.sndQOff = 0;
    tcb.rcvQ = tcb.rcvQLen > 0 ? [inn.slice(r.unreadLen)] : [];
    tcb.rcvQOff = 0;
    validateTcb(tcb);
    return {
      id, tcb, unread: inn.slice(0, r.unreadLen), unsent: out.slice(tcb.sndQLen), ended: r.ended, appClosed: r.appClosed,
      app: r.app, receivedAt: r.receivedAt, mode: r.mode,
    };
  }

  clear(): void { this.replicas.clear(); this.sctp.clear(); this.ahead.clear(); }

  /** Number of connections and associations held. */
  get size(): number { return this.replicas.size + this.sctp.size; }
}

/** Append bytes that start at stream offset `from` (overlap with what is there is skipped); false if they start before the range. */
function append(s: Stream, from: number, b: Uint8Array): boolean {
  const end = s.start + s.len;
  // Past our end: the bytes between were consumed (or acknowledged) before any replica carried
  // them, and are needed no more; clip() then checks that nothing still needed is missing.
  if (from > end) { s.start = from; s.parts = []; s.len = 0; } else if (from < s.start) return false;
  const skip = Math.min(b.length, s.start + s.len - from);
  // A view into the frame's payload (an owned copy already, migrate/handover.ts): no second copy.
  if (b.length > skip) { s.parts.push(b.subarray(skip)); s.len += b.length - skip; }
  return true;
}

/** Trim to [start, end); false if bytes in that range are missing. */
function clip(s: Stream, start: number, end: number): boolean {
  if (end < start) return false;
  if (s.len === 0) { s.start = start; return end === start; }
  if (start < s.start || end > s.start + s.len) return false;
  let drop = start - s.start;
  while (drop > 0 && s.parts.length > 0) {
    const p = s.parts[0]!;
    // A view, not a copy: trimming happens on every replica, and the part is our own copy already.
    if (p.length <= drop) { s.parts.shift(); drop -= p.length; } else { s.parts[0] = p.subarray(drop); drop = 0; }
  }
  s.len -= start - s.start;
  s.start = start;
  let extra = s.len - (end - start);
  while (extra > 0 && s.parts.length > 0) {
    const last = s.parts[s.parts.length - 1]!;
    if (last.length <= extra) { s.parts.pop(); extra -= last.length; } else { s.parts[s.parts.length - 1] = last.subarray(0, last.length - extra); extra = 0; }
  }
  s.len = end - start;
  // Many small appends (an interactive connection): coalesce now and then so the list stays short.
  if (s.parts.length > 256) s.parts = [flat(s)];
  return true;
}

function flat(s: Stream): Uint8Array {
  if (s.parts.length === 1) return s.parts[0]!;
  const out = new Uint8Array(s.len);
  let o = 0;
  for (const p of s.parts) { out.set(p, o); o += p.length; }
  return out;
}

// ------------------------------------------------------------------------------ takeover

export interface ResumedReplica {
  id: ConnId;
  /** The live socket (null for a connection whose application had already closed it). */
  socket: Socket | null;
  app: Uint8Array;
  /** A pure ACK to send once the service address is ours (seq SND.NXT, ack RCV.NXT): see probe(). */
  probe: Uint8Array;
}

/**
 * Install one materialized replica on `host` (the standby, at takeover). The replica's moment is
 * placed at `at` on the host's clock (when it arrived), so timers that would have fired since
 * fire now and TSval continues as if the clock had run on (RFC 7323 §5: it never goes back for
 * the peer; `tsSlackMs` more covers async output the replica did not see). A retransmission
 * timer that is armed fires at once: the crash is treated as a loss (RFC 6298 §5.4), which is
 * what restarts a download whose last segments died with the active node.
 */
export function resumeReplica(host: Host, m: Materialized, at: number, tsSlackMs: number): ResumedReplica {
  const tcb = m.tcb;
  tcb.tsOffset = (tcb.tsOffset + Math.ceil(tsSlackMs)) | 0;
  if (tcb.timers.rtx !== null) tcb.timers.rtx = Math.min(tcb.timers.rtx, 0);
  const r = importConn(host.state, { tcb, held: [] }, at);
  if (!r.ok) throw new Error(`install refused: ${r.error}`);
  let socket: Socket | null = null;
  if (!m.appClosed) {
    socket = Socket.accepted(host, r.value.id, null as unknown as Server, { allowHalfOpen: true });
    if (m.unread.length > 0) socket.unshift(Buffer.from(m.unread.buffer, m.unread.byteOffset, m.unread.length));
    if (m.unsent.length > 0) socket.write(Buffer.from(m.unsent.buffer, m.unsent.byteOffset, m.unsent.length));
    if (tcb.wrShut || m.ended) socket.end();
  }
  // Packets that arrived while the id was reserved (the address moved before the install).
  if (r.value.replay.length > 0) host.input(r.value.replay);
  const live = host.state.tcp[r.value.id]!;
  return { id: r.value.id, socket, app: m.app, probe: probe(live) };
}

/**
 * Install one SCTP replica on `sctp` (the standby, at takeover) and give back its live
 * Association with the messages its old one still queued sent again, in order. Its timers keep
 * their remaining time (stack/freeze.ts importAssoc); SCTP's own retransmission (RFC 9260
 * §6.3.3) repairs whatever died with the active node. Throws with the reason.
 */
export function resumeSctpReplica(sctp: SctpHost, r: SctpReplica): { assoc: Association; app: Uint8Array } {
  const d = decodeSnapshot(r.snap);
  if (!d.ok) throw new Error(`snapshot refused: ${d.error}`);
  if (d.value.kind !== 'sctp-assoc') throw new Error(`a ${d.value.kind} snapshot is not an association`);
  const q = decodeQueued(r.queued);
  if (q === null) throw new Error('malformed queued messages');
  const a = sctp.adopt(d.value.assoc);
  for (const m of q) a.send(m.data, { stream: m.stream, ppid: m.ppid, unordered: m.unordered });
  return { assoc: a, app: r.app };
}

/**
 * A pure ACK in the connection's current state. A peer that received more than the replica
 * covers finds its sequence number below RCV.NXT and answers with an ACK (RFC 9293 §3.10.7.4,
 * first check), whose ack number then exposes the divergence (Verifier); a peer in step finds
 * it acceptable and stays silent. Sent without options (the #8 tickle shows Linux accepts that).
 */
export function probe(t: Tcb): Uint8Array {
  const wnd = Math.min(65535, Math.max(0, ((t.rcvAdv - t.rcvNxt) >>> 0) >>> t.rcvShift));
  const seg = { srcPort: t.localPort, dstPort: t.remotePort, seq: t.sndNxt, ack: t.rcvNxt, flags: TCP_ACK, reserved: 0, window: wnd, urgent: 0, options: [], payload: EMPTY };
  const b = new Uint8Array(tcpBufferLen(seg));
  emitTcp(seg, b, tcpPseudoSum(t.localAddr, t.remoteAddr, b.length));
  return buildIp(t.localAddr, t.remoteAddr, 6, b, { ttl: 64, hopLimit: 64 });
}

/** A RST from `id`'s local end with sequence number `seq` (the peer's own ACK number: exactly acceptable). */
export function resetAt(id: ConnId, seq: number): Uint8Array {
  const [la = '', lp = '0', ra = '', rp = '0'] = id.split('|');
  const seg = { srcPort: Number(lp), dstPort: Number(rp), seq, ack: 0, flags: TCP_RST, reserved: 0, window: 0, urgent: 0, options: [], payload: EMPTY };
  const b = new Uint8Array(tcpBufferLen(seg));
  emitTcp(seg, b, tcpPseudoSum(la, ra, b.length));
  return buildIp(la, ra, 6, b, { ttl: 64, hopLimit: 64 });
}

/**
 * After a takeover: watches the first segments of each resumed connection. A peer's ACK beyond
 * our SND.NXT means it received output the replica did not cover (async loss, see the file
 * comment): the connection is reset (RST at the peer's ACK number, then aborted here). An ACK
 * within [SND.UNA, SND.NXT] proves the two ends agree; the connection is no longer watched.
 */
export class Verifier {
  private readonly watch = new Set<ConnId>();
  /** Watching ends this long after the last add (a peer in step may never send an ACK that proves it). */
  static readonly WATCH_MS = 30_000;
  private until = 0;
  diverged = 0;
  verified = 0;
  constructor(private readonly host: Host, private readonly sendRaw: (pkts: Uint8Array[]) => void,
    private readonly onDiverged: (id: ConnId) => void) {}

  add(id: ConnId): void { this.watch.add(id); this.until = performance.now() + Verifier.WATCH_MS; }
  get size(): number { return this.watch.size; }

  /** An incoming packet; true: it was consumed (the connection was reset). */
  inspect(p: Uint8Array): boolean {
    if (this.watch.size === 0) return false;
    if (performance.now() > this.until) { this.watch.clear(); return false; }
    const k = peekTcp(p, false);
    if (k === null || !this.watch.has(k.id)) return false;
    const t = this.host.state.tcp[k.id];
    if (t === undefined || (k.flags & TCP_RST) !== 0) { this.watch.delete(k.id); return false; }
    if ((k.flags & TCP_ACK) === 0) return false;
    if (seqGt(k.ack, t.sndNxt)) {
      this.watch.delete(k.id);
      this.diverged++;
      this.sendRaw([resetAt(k.id, k.ack)]);
      this.onDiverged(k.id);
      return true;
    }
    if (seqGe(k.ack, t.sndUna)) { this.watch.delete(k.id); this.verified++; }
    return false;
  }
}
