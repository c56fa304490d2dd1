// Freeze, export, install: the stack-side half of connection migration (STYLE.md §1: the
// stack never learns that it can move; migrate/ reads and installs its plain state through
// these functions).
//
// - freezeConn / freezeListener take a connection (or a listener with its not-yet-accepted
//   connections) out of the live tables into `st.frozen`. A frozen connection sends nothing,
//   answers nothing (no RST, no ACK), fires no timer and refuses user calls (EBADF, as an
//   unknown id). Packets that arrive for it are held, bounded (FrozenTable.maxHeldPackets /
//   maxHeldBytes per entry; beyond that they are dropped and counted, and TCP's retransmission
//   repairs the loss), for replay wherever the connection resumes.
// - exportConn / exportListener copy the frozen state out in *snapshot time*: the clock reads
//   0 at the moment of freezing. Every deadline and stored instant becomes an offset from that
//   moment, and tsOffset becomes the TSval of that moment (RFC 7323 §4: TSval = now + tsOffset),
//   so the snapshot carries no trace of the source clock.
// - importConn / importListener install an export into another stack whose clock reads `now`:
//   instants shift by `now`, and tsOffset is chosen so TSval continues from where it stopped and
//   never goes backwards for the peer's PAWS check (RFC 7323 §5). The time a connection spends
//   frozen is invisible to it: timers keep their remaining time.
// - thawConn / thawListener undo a freeze in place (a migration that was called off).
// - takeHeld drains the packets held so far (to forward them to where the connection went);
//   releaseConn / releaseListener forget a frozen entry once the connection lives elsewhere.
//
// Nothing here emits packets. Replaying held packets is an ordinary `stackStep` with
// `{ type: 'packet' }` per packet, made by the caller after the install.
import type { AppEvent, ConnId, ListenerId, Ms } from './api.ts';
import type { StackState } from './stack.ts';
import type { Listener } from './tcp/listen.ts';
import { tcbDeadline, type Tcb } from './tcp/tcb.ts';
import { prune, schedule, unschedule } from './deadlines.ts';
import { connKey, listenerKey, peekPorts } from './demux.ts';
import { addrSum } from './wire/addr-write.ts';
import { canonicalIp } from './wire/addr.ts';

/** Packets held for a frozen entry (raw IP packets, owned copies, oldest first). */
export interface Held {
  held: Uint8Array[];
  heldBytes: number;
  /** Packets refused because the hold was full. */
  dropped: number;
}

/** A frozen connection: its TCB exactly as it was at `frozenAt` (stack clock). */
export interface FrozenConn extends Held {
  tcb: Tcb;
  frozenAt: Ms;
  /** The listener this connection was frozen with (its SYN or accept queue), else null. */
  withListener: ListenerId | null;
}

/** A frozen listener; its queued connections sit in FrozenTable.conns (withListener = its id). */
export interface FrozenListener extends Held {
  listener: Listener;
  frozenAt: Ms;
}

/** Everything frozen in one stack (StackState.frozen). */
export interface FrozenTable {
  conns: Record<ConnId, FrozenConn>;
  listeners: Record<ListenerId, FrozenListener>;
  /** Number of entries in conns + listeners (the packet path checks this one number). */
  n: number;
  /** Bounds on what one entry holds. */
  maxHeldPackets: number;
  maxHeldBytes: number;
}

/** A connection in snapshot time (see the file comment), plus the packets held for it. */
export interface ConnExport {
  tcb: Tcb;
  held: Uint8Array[];
}

/** A listener with its not-yet-accepted connections (in synQ then acceptQ order). */
export interface ListenerExport {
  listener: Listener;
  conns: ConnExport[];
  held: Uint8Array[];
}

export type FreezeError =
  | 'no-such-connection' | 'no-such-listener' | 'already-frozen' | 'not-frozen'
  | 'address-not-local' | 'id-in-use' | 'no-listener' | 'listener-in-use' | 'bad-state';

export type FreezeResult<T = null> = { ok: true; value: T } | { ok: false; error: FreezeError };

const ok = <T>(value: T): FreezeResult<T> => ({ ok: true, value });
const fail = (error: FreezeError): { ok: false; error: FreezeError } => ({ ok: false, error });

/** An empty table (createStack). Default bounds: 512 packets or 4 MiB per frozen entry. */
export function newFrozenTable(): FrozenTable {
  return { conns: {}, listeners: {}, n: 0, maxHeldPackets: 512, maxHeldBytes: 4 * 1024 * 1024 };
}

// ------------------------------------------------------------------------------ packet path

/**
 * Called by the stack for every TCP packet while anything is frozen: hold it if it belongs to
 * a frozen connection, or to a frozen listener and no live connection (a new SYN, a cookie
 * ACK). Returns true when the packet was taken (held or dropped for a full hold).
 */
export function holdFrozen(st: StackState, src: string, dst: string, l4: Uint8Array, data: Uint8Array): boolean {
  const ports = peekPorts(l4);
  if (ports === null) return false;
  const f = st.frozen;
  const id = connKey(dst, ports.dst, src, ports.src);
  let e: Held | undefined = f.conns[id];
  if (e === undefined) {
    if (st.tcp[id] !== undefined) return false;
    // The listener the stack would pick (specific address first, then the wildcard).
    for (const key of [listenerKey(dst, ports.dst), listenerKey(null, ports.dst)]) {
      if (st.listeners[key] !== undefined) return false;
      e = f.listeners[key];
      if (e !== undefined) break;
    }
    if (e === undefined) return false;
  }
  const c = st.counters;
  if (e.held.length >= f.maxHeldPackets || e.heldBytes + data.length > f.maxHeldBytes) {
    e.dropped++;
    c['frozen-hold-full'] = (c['frozen-hold-full'] ?? 0) + 1;
    return true;
  }
  e.held.push(data.slice());
  e.heldBytes += data.length;
  c['frozen-held'] = (c['frozen-held'] ?? 0) + 1;
  return true;
}

// ------------------------------------------------------------------------------ freezing

/** Take a connection out of the live table: no output, no timers, packets held. */
export function freezeConn(st: StackState, id: ConnId, now: Ms): FreezeResult {
  const tcb = st.tcp[id];
  if (tcb === undefined) return fail(st.frozen.conns[id] !== undefined ? 'already-frozen' : 'no-such-connection');
  unqueue(st, tcb);
  delete st.tcp[id];
  unschedule(st.deadlines, id);
  prune(st.deadlines, st.tcp);
  st.frozen.conns[id] = { tcb, frozenAt: now, withListener: null, held: [], heldBytes: 0, dropped: 0 };
  st.frozen.n++;
  return ok(null);
}

/** Freeze a listener together with every connection in its SYN and accept queues. */
export function freezeListener(st: StackState, lid: ListenerId, now: Ms): FreezeResult {
  const l = st.listeners[lid];
  if (l === undefined) return fail(st.frozen.listeners[lid] !== undefined ? 'already-frozen' : 'no-such-listener');
  delete st.listeners[lid];
  const f = st.frozen;
  f.listeners[lid] = { listener: l, frozenAt: now, held: [], heldBytes: 0, dropped: 0 };
  f.n++;
  const keep = (q: ConnId[]) => q.filter((cid) => st.tcp[cid] !== undefined);
  l.synQ = keep(l.synQ);
  l.acceptQ = keep(l.acceptQ);
  for (const cid of [...l.synQ, ...l.acceptQ]) {
    const tcb = st.tcp[cid]!;
    delete st.tcp[cid];
    unschedule(st.deadlines, cid);
    f.conns[cid] = { tcb, frozenAt: now, withListener: lid, held: [], heldBytes: 0, dropped: 0 };
    f.n++;
  }
  prune(st.deadlines, st.tcp);
  return ok(null);
}

/** Remove a pending connection from its listener's queues (it moves without the listener). */
function unqueue(st: StackState, tcb: Tcb): void {
  if (tcb.listener === null) return;
  const l = st.listeners[tcb.listener];
  if (l === undefined) return;
  let i = l.synQ.indexOf(tcb.id);
  if (i >= 0) l.synQ.splice(i, 1);
  i = l.acceptQ.indexOf(tcb.id);
  if (i >= 0) l.acceptQ.splice(i, 1);
}

/** Whether a connection or listener id is frozen in this stack. */
export function isFrozen(st: StackState, id: ConnId | ListenerId): boolean {
  return st.frozen.conns[id] !== undefined || st.frozen.listeners[id] !== undefined;
}

// ------------------------------------------------------------------------------ export

/** A deep copy of a TCB (owned byte copies). */
export function copyTcb(t: Tcb): Tcb {
  return {
    ...t,
    cfg: { ...t.cfg, keepAlive: { ...t.cfg.keepAlive } },
    cc: { ...t.cc },
    timers: { ...t.timers },
    sacked: t.sacked.slice(),
    sndQ: t.sndQ.map((c) => c.slice()),
    rcvQ: t.rcvQ.map((c) => c.slice()),
    ooo: t.ooo.map((s) => ({ seq: s.seq, data: s.data.slice() })),
    sackRecent: t.sackRecent.slice(),
    dsack: t.dsack === null ? null : t.dsack.slice(),
  };
}

/** A copy of a listener record. */
export function copyListener(l: Listener): Listener {
  return { ...l, cfg: { ...l.cfg, keepAlive: { ...l.cfg.keepAlive } }, synQ: l.synQ.slice(), acceptQ: l.acceptQ.slice() };
}

/**
 * Move every instant of `tcb` (in place) from a clock on which the reference moment reads
 * `from` to one on which it reads `to`. TSval at the reference moment is preserved exactly;
 * after it TSval advances with the new clock. See the file comment.
 */
export function shiftTcb(tcb: Tcb, from: Ms, to: Ms): void {
  const t = tcb.timers;
  if (t.rtx !== null) t.rtx = t.rtx - from + to;
  if (t.persist !== null) t.persist = t.persist - from + to;
  if (t.delack !== null) t.delack = t.delack - from + to;
  if (t.keepalive !== null) t.keepalive = t.keepalive - from + to;
  if (t.close !== null) t.close = t.close - from + to;
  tcb.rttAt = tcb.rttAt - from + to;
  tcb.lastRcvAt = tcb.lastRcvAt - from + to;
  if (tcb.tsRecentAt !== null) tcb.tsRecentAt = tcb.tsRecentAt - from + to;
  if (tcb.firstRtxAt !== null) tcb.firstRtxAt = tcb.firstRtxAt - from + to;
  if (tcb.cc.epochStart !== null) tcb.cc.epochStart = tcb.cc.epochStart - from + to;
  // TSval(ref) = trunc(from + tsOffset) mod 2^32, an integer K. On the new clock pick
  // tsOffset' = K - floor(to): for t >= to, t + tsOffset' >= K, and truncation is monotonic,
  // so TSval never falls below K (it may read K+1 at `to` when `to` is fractional).
  const k = Math.trunc(from + tcb.tsOffset);
  tcb.tsOffset = (k - Math.floor(to)) | 0;
  tcb.deadline = tcbDeadline(tcb);
}

/**
 * The frozen connection in snapshot time, with the packets held so far moved into the export
 * (later arrivals stay held: forward them with takeHeld). The frozen entry itself is kept
 * until releaseConn, so the migration can still be called off with thawConn.
 */
export function exportConn(st: StackState, id: ConnId): FreezeResult<ConnExport> {
  const e = st.frozen.conns[id];
  if (e === undefined) return fail(st.tcp[id] !== undefined ? 'not-frozen' : 'no-such-connection');
  return ok(exportEntry(e));
}

function exportEntry(e: FrozenConn): ConnExport {
  const tcb = copyTcb(e.tcb);
  shiftTcb(tcb, e.frozenAt, 0);
  return { tcb, held: drain(e) };
}

/** The held packets, moved out (the entry keeps holding what arrives later). */
function drain(e: Held): Uint8Array[] {
  const h = e.held;
  e.held = [];
  e.heldBytes = 0;
  return h;
}

/**
 * A live connection in snapshot time without freezing it (diagnostics, and the fuzzer's
 * "every reached state round-trips through the codec" check). `now` is the current time.
 */
export function peekConn(st: StackState, id: ConnId, now: Ms): ConnExport | null {
  const t = st.tcp[id];
  if (t === undefined) return null;
  const tcb = copyTcb(t);
  shiftTcb(tcb, now, 0);
  return { tcb, held: [] };
}

/** The frozen listener and its queued connections in snapshot time (held packets moved, as exportConn). */
export function exportListener(st: StackState, lid: ListenerId): FreezeResult<ListenerExport> {
  const e = st.frozen.listeners[lid];
  if (e === undefined) return fail(st.listeners[lid] !== undefined ? 'not-frozen' : 'no-such-listener');
  const conns: ConnExport[] = [];
  for (const cid of [...e.listener.synQ, ...e.listener.acceptQ]) {
    const c = st.frozen.conns[cid];
    if (c !== undefined) conns.push(exportEntry(c));
  }
  return ok({ listener: copyListener(e.listener), conns, held: drain(e) });
}

/** Drain the packets held so far for a frozen connection or listener (oldest first). */
export function takeHeld(st: StackState, id: ConnId | ListenerId): Uint8Array[] {
  const e: Held | undefined = st.frozen.conns[id] ?? st.frozen.listeners[id];
  return e === undefined ? [] : drain(e);
}

/** Forget a frozen connection (it lives elsewhere now). Returns the packets still held. */
export function releaseConn(st: StackState, id: ConnId): Uint8Array[] {
  const e = st.frozen.conns[id];
  if (e === undefined) return [];
  delete st.frozen.conns[id];
  st.frozen.n--;
  return e.held;
}

/** Forget a frozen listener and the connections frozen with it. Returns the packets still held (listener's, then each connection's). */
export function releaseListener(st: StackState, lid: ListenerId): Uint8Array[] {
  const e = st.frozen.listeners[lid];
  if (e === undefined) return [];
  delete st.frozen.listeners[lid];
  st.frozen.n--;
  const out = e.held;
  for (const cid of [...e.listener.synQ, ...e.listener.acceptQ]) {
    const c = st.frozen.conns[cid];
    if (c !== undefined && c.withListener === lid) out.push(...releaseConn(st, cid));
  }
  return out;
}

// ------------------------------------------------------------------------------ install

/** Result of an install: the id, application events to dispatch, and packets to replay. */
export interface Installed<I> { id: I; events: AppEvent[]; replay: Uint8Array[] }

/**
 * Install an exported connection into `st`, whose clock reads `now`. The id and pseudo-header
 * sum are recomputed from the addresses. A connection still waiting in a listener's queue
 * needs that listener (live) in `st`; it is appended to the right queue (an 'accept-ready'
 * event is returned for the accept queue). The export's held packets are returned in
 * `replay`: feed each to stackStep as `{ type: 'packet' }`, in order. `exp` is not kept.
 */
export function importConn(st: StackState, exp: ConnExport, now: Ms): FreezeResult<Installed<ConnId>> {
  const tcb = copyTcb(exp.tcb);
  const r = admit(st, tcb);
  if (!r.ok) return r;
  const events: AppEvent[] = [];
  if (tcb.app === 'pending') {
    const l = tcb.listener === null ? undefined : st.listeners[tcb.listener];
    if (l === undefined) return fail('no-listener');
    enqueue(l, tcb, events);
  }
  shiftTcb(tcb, 0, now);
  install(st, tcb);
  return ok({ id: tcb.id, events, replay: exp.held.map((p) => p.slice()) });
}

/** Install an exported listener and its queued connections into `st` at `now`. */
export function importListener(st: StackState, exp: ListenerExport, now: Ms): FreezeResult<Installed<ListenerId>> {
  const src = exp.listener;
  const addr = src.addr === null ? null : canonicalIp(src.addr);
  if (src.addr !== null && (addr === null || !st.config.addresses.includes(addr))) return fail('address-not-local');
  const lid = listenerKey(addr, src.port);
  if (st.listeners[lid] !== undefined || st.frozen.listeners[lid] !== undefined) return fail('listener-in-use');
  // A wildcard and a specific listener on one port conflict (as listen() decides).
  for (const other of Object.values(st.listeners)) {
    if (other.port === src.port && (addr === null || other.addr === null)) return fail('listener-in-use');
  }
  const tcbs: Tcb[] = [];
  const seen: Record<string, true> = {};
  for (const c of exp.conns) {
    const tcb = copyTcb(c.tcb);
    const r = admit(st, tcb);
    if (!r.ok) return r;
    if (seen[tcb.id] || tcb.app !== 'pending' || tcb.listener !== lid) return fail('bad-state');
    seen[tcb.id] = true;
    tcbs.push(tcb);
  }
  const l: Listener = { ...copyListener(src), id: lid, addr, synQ: [], acceptQ: [] };
  st.listeners[lid] = l;
  const events: AppEvent[] = [];
  const replay = exp.held.map((p) => p.slice());
  for (let i = 0; i < tcbs.length; i++) {
    const tcb = tcbs[i]!;
    enqueue(l, tcb, events);
    shiftTcb(tcb, 0, now);
    install(st, tcb);
    for (const p of exp.conns[i]!.held) replay.push(p.slice());
  }
  return ok({ id: lid, events, replay });
}

/** Put a TCB into the live table and file its deadline (the stack's deadline index, deadlines.ts). */
function install(st: StackState, tcb: Tcb): void {
  st.tcp[tcb.id] = tcb;
  schedule(st.deadlines, tcb.id, tcb.deadline);
}

/** Checks every install makes: the local address is ours and the 4-tuple is free. Fixes id and psum. */
function admit(st: StackState, tcb: Tcb): FreezeResult {
  const la = canonicalIp(tcb.localAddr), ra = canonicalIp(tcb.remoteAddr);
  if (la === null || ra === null || la.includes(':') !== ra.includes(':')) return fail('bad-state');
  if (!st.config.addresses.includes(la)) return fail('address-not-local');
  const id = connKey(la, tcb.localPort, ra, tcb.remotePort);
  if (st.tcp[id] !== undefined || st.frozen.conns[id] !== undefined) return fail('id-in-use');
  tcb.localAddr = la;
  tcb.remoteAddr = ra;
  tcb.id = id;
  tcb.v6 = la.includes(':');
  tcb.psum = addrSum(la) + addrSum(ra) + 6;
  return ok(null);
}

/** Put a pending connection into its listener's SYN queue or accept queue (as the stack's settle would). */
function enqueue(l: Listener, tcb: Tcb, events: AppEvent[]): void {
  if (tcb.state === 'SYN-RECEIVED') {
    l.synQ.push(tcb.id);
  } else {
    l.acceptQ.push(tcb.id);
    events.push({ type: 'accept-ready', listener: l.id, id: tcb.id });
  }
}

// ------------------------------------------------------------------------------ thaw

/** Undo freezeConn: the connection goes live again at `now`, as if no time had passed while frozen. */
export function thawConn(st: StackState, id: ConnId, now: Ms): FreezeResult<Installed<ConnId>> {
  const e = st.frozen.conns[id];
  if (e === undefined) return fail(st.tcp[id] !== undefined ? 'not-frozen' : 'no-such-connection');
  if (e.withListener !== null) return fail('bad-state'); // thaw its listener instead
  const events: AppEvent[] = [];
  const tcb = e.tcb;
  if (tcb.app === 'pending' && tcb.listener !== null) {
    const l = st.listeners[tcb.listener];
    if (l !== undefined) enqueue(l, tcb, events);
  }
  delete st.frozen.conns[id];
  st.frozen.n--;
  shiftTcb(tcb, e.frozenAt, now);
  install(st, tcb);
  return ok({ id, events, replay: e.held });
}

/** Undo freezeListener (with its queued connections). */
export function thawListener(st: StackState, lid: ListenerId, now: Ms): FreezeResult<Installed<ListenerId>> {
  const e = st.frozen.listeners[lid];
  if (e === undefined) return fail(st.listeners[lid] !== undefined ? 'not-frozen' : 'no-such-listener');
  const l = e.listener;
  delete st.frozen.listeners[lid];
  st.frozen.n--;
  st.listeners[lid] = l;
  const replay = e.held;
  const events: AppEvent[] = [];
  for (const cid of [...l.synQ, ...l.acceptQ]) {
    const c = st.frozen.conns[cid];
    if (c === undefined) continue;
    delete st.frozen.conns[cid];
    st.frozen.n--;
    shiftTcb(c.tcb, c.frozenAt, now);
    install(st, c.tcb);
    replay.push(...c.held);
    if (l.acceptQ.includes(cid)) events.push({ type: 'accept-ready', listener: lid, id: cid });
  }
  return ok({ id: lid, events, replay });
}
