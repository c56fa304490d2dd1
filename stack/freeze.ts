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
// - reserve makes the destination hold packets for a connection (or listener) still in transit,
//   so the route may switch before the snapshot arrives; the import replays them.
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
import type { Assoc } from './sctp/assoc.ts';
import type { AssocId, SctpAppEvent, SctpEncap } from './sctp/events.ts';
import { indexAssoc, unindexAssoc } from './sctp/init.ts';
import { remoteKey, type SctpStackState } from './sctp/state.ts';
import { refreshDeadline, shiftAssocTimes } from './sctp/timers.ts';

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
  /**
   * Connections or listeners on their way here (reserveConn): packets for them are held until
   * the import arrives, so the route may switch before the snapshot lands.
   */
  reserved: Record<string, Held>;
  /** Number of entries in conns + listeners + reserved (the packet path checks this one number). */
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
  return { conns: {}, listeners: {}, reserved: {}, n: 0, maxHeldPackets: 512, maxHeldBytes: 4 * 1024 * 1024 };
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
  let e: Held | undefined = f.conns[id] ?? f.reserved[id];
  if (e === undefined) {
    if (st.tcp[id] !== undefined) return false;
    // The listener the stack would pick (specific address first, then the wildcard).
    for (const key of [listenerKey(dst, ports.dst), listenerKey(null, ports.dst)]) {
      if (st.listeners[key] !== undefined) return false;
      e = f.listeners[key] ?? f.reserved[key];
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

// ------------------------------------------------------------------------------ reservations

/**
 * Announce a connection (ConnId) or listener (ListenerId) that is being migrated here: until
 * importConn / importListener installs it, packets for it are held instead of answered (a
 * RST from here would kill the connection if the route switched before the snapshot arrived).
 */
export function reserve(st: StackState, id: ConnId | ListenerId): FreezeResult {
  const f = st.frozen;
  if (st.tcp[id] !== undefined || st.listeners[id] !== undefined || f.conns[id] !== undefined || f.listeners[id] !== undefined) return fail('id-in-use');
  if (f.reserved[id] !== undefined) return ok(null);
  f.reserved[id] = { held: [], heldBytes: 0, dropped: 0 };
  f.n++;
  return ok(null);
}

/** Drop a reservation (the migration was called off); returns what it held. */
export function unreserve(st: StackState, id: ConnId | ListenerId): Uint8Array[] {
  const e = st.frozen.reserved[id];
  if (e === undefined) return [];
  delete st.frozen.reserved[id];
  st.frozen.n--;
  return e.held;
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
  // Held at the source first, then what reached us while we waited for the snapshot.
  const replay = [...exp.held.map((p) => p.slice()), ...unreserve(st, tcb.id)];
  return ok({ id: tcb.id, events, replay });
}

/** Install an exported listener and its queued connections into `st` at `now`. */
export function importListener(st: StackState, exp: ListenerExport, now: Ms): FreezeResult<Installed<ListenerId>> {
  const src = exp.listener;
  const addr = src.addr === null ? null : canonicalIp(src.addr);
  if (src.addr !== null && (addr === null || !st.config.addresses.includes(addr))) return fail('address-not-local');
  const lid = listenerKey(addr, src.port);
  if (st.listeners[lid] !== undefined || st.frozen.listeners[lid] !== undefined) return fail('listener-in-use'); // (a reservation is fine)
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
  const early = unreserve(st, lid);
  const l: Listener = { ...copyListener(src), id: lid, addr, synQ: [], acceptQ: [] };
  st.listeners[lid] = l;
  const events: AppEvent[] = [];
  const replay: Uint8Array[] = exp.held.map((p) => p.slice());
  for (let i = 0; i < tcbs.length; i++) {
    const tcb = tcbs[i]!;
    enqueue(l, tcb, events);
    shiftTcb(tcb, 0, now);
    install(st, tcb);
    for (const p of exp.conns[i]!.held) replay.push(p.slice());
    replay.push(...unreserve(st, tcb.id));
  }
  replay.push(...early);
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
  if (st.tcp[id] !== undefined || st.frozen.conns[id] !== undefined) return fail('id-in-use'); // (a reservation is fine)
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

// ==============================================================================================
// SCTP associations (stack/sctp). The SCTP stack state has no frozen table of its own (yet):
// the caller keeps an SctpFrozenTable next to its SctpStackState and passes each arriving SCTP
// packet to holdSctp before sctpStackStep. A frozen association is out of the stack's tables,
// so it sends nothing and fires no timer; holdSctp keeps its packets from being answered as
// out of the blue (§8.4 would ABORT them).
// ==============================================================================================

/** An SCTP packet as the stack takes it (its 'packet' event without the type). */
export interface SctpHeldPacket { src: string; dst: string; sctp: Uint8Array; encap: SctpEncap | null }

export interface SctpHeld { held: SctpHeldPacket[]; heldBytes: number; dropped: number }

export interface SctpFrozenAssoc extends SctpHeld { assoc: Assoc; frozenAt: Ms }

/** Frozen and expected associations of one SCTP stack (plain data, kept by the driver). */
export interface SctpFrozenTable {
  assocs: Record<AssocId, SctpFrozenAssoc>;
  /** Associations on their way here (reserveAssoc). */
  reserved: Record<AssocId, SctpHeld>;
  /** remoteKey(localPort, peer address, peer port) → id, for every path of every entry. */
  byRemote: Record<string, AssocId>;
  n: number;
  maxHeldPackets: number;
  maxHeldBytes: number;
}

/** An association in snapshot time (its clock reads 0 at the freeze), plus its held packets. */
export interface AssocExport { assoc: Assoc; held: SctpHeldPacket[] }

export function newSctpFrozenTable(): SctpFrozenTable {
  return { assocs: {}, reserved: {}, byRemote: {}, n: 0, maxHeldPackets: 512, maxHeldBytes: 4 * 1024 * 1024 };
}

/** The demux keys of an association's paths. */
export const assocKeys = (a: Assoc): string[] => a.paths.map((p) => remoteKey(a.localPort, p.addr, a.remotePort));

/**
 * Hold an SCTP packet for a frozen or expected association (call before sctpStackStep while
 * `f.n > 0`). Returns true when the packet was taken.
 */
export function holdSctp(f: SctpFrozenTable, ev: SctpHeldPacket): boolean {
  if (f.n === 0) return false;
  const ports = peekPorts(ev.sctp);
  if (ports === null) return false;
  const id = f.byRemote[remoteKey(ports.dst, ev.src, ports.src)];
  if (id === undefined) return false;
  const e: SctpHeld | undefined = f.assocs[id] ?? f.reserved[id];
  if (e === undefined) return false;
  if (e.held.length >= f.maxHeldPackets || e.heldBytes + ev.sctp.length > f.maxHeldBytes) { e.dropped++; return true; }
  e.held.push({ src: ev.src, dst: ev.dst, sctp: ev.sctp.slice(), encap: ev.encap === null ? null : { ...ev.encap } });
  e.heldBytes += ev.sctp.length;
  return true;
}

/** Take an association out of the SCTP stack's tables. */
export function freezeAssoc(st: SctpStackState, f: SctpFrozenTable, id: AssocId, now: Ms): FreezeResult {
  const a = st.assocs[id];
  if (a === undefined) return fail(f.assocs[id] !== undefined ? 'already-frozen' : 'no-such-connection');
  delete st.assocs[id];
  unindexAssoc(st, a);
  if (a.listener !== null) {
    const l = st.listeners[a.listener];
    if (l !== undefined) { const i = l.acceptQ.indexOf(id); if (i >= 0) l.acceptQ.splice(i, 1); }
  }
  f.assocs[id] = { assoc: a, frozenAt: now, held: [], heldBytes: 0, dropped: 0 };
  for (const k of assocKeys(a)) f.byRemote[k] = id;
  f.n++;
  return ok(null);
}

/** A deep copy of an association (owned byte copies). */
export function copyAssoc(a: Assoc): Assoc {
  const chunk = (c: Assoc['sent'][number]) => ({ ...c, data: c.data.slice() });
  return {
    ...a,
    localAddrs: a.localAddrs.slice(),
    cfg: { ...a.cfg },
    paths: a.paths.map((p) => ({ ...p, hbNonce: [p.hbNonce[0], p.hbNonce[1]] as [number, number] })),
    initParams: structuredCopy(a.initParams),
    cookie: a.cookie === null ? null : a.cookie.slice(),
    cookieCauses: structuredCopy(a.cookieCauses),
    outSsn: a.outSsn.slice(),
    pending: a.pending.map(chunk),
    sent: a.sent.map(chunk),
    rcvRanges: a.rcvRanges.slice(),
    dupTsns: a.dupTsns.slice(),
    reasm: a.reasm.map((c) => ({ ...c, data: c.data.slice() })),
    held: a.held.map((m) => ({ ...m, data: m.data.slice() })),
    readQ: a.readQ.map((m) => ({ ...m, data: m.data.slice() })),
    inSsn: { ...a.inSsn },
    ctrl: structuredCopy(a.ctrl),
    stats: { ...a.stats },
  };
}

/** Deep copy of plain data (arrays, records, Uint8Array, primitives). */
function structuredCopy<T>(v: T): T {
  if (v === null || typeof v !== 'object') return v;
  if (v instanceof Uint8Array) return v.slice() as T;
  if (Array.isArray(v)) return v.map(structuredCopy) as T;
  const o: Record<string, unknown> = {};
  for (const k in v) o[k] = structuredCopy((v as Record<string, unknown>)[k]);
  return o as T;
}

/** The frozen association in snapshot time; held packets move into the export. */
export function exportAssoc(f: SctpFrozenTable, id: AssocId): FreezeResult<AssocExport> {
  const e = f.assocs[id];
  if (e === undefined) return fail('no-such-connection');
  const assoc = copyAssoc(e.assoc);
  shiftAssocTimes(assoc, -e.frozenAt);
  const held = e.held;
  e.held = [];
  e.heldBytes = 0;
  return ok({ assoc, held });
}

/** A live association in snapshot time, without freezing it (codec round-trip checks). */
export function peekAssoc(st: SctpStackState, id: AssocId, now: Ms): AssocExport | null {
  const a = st.assocs[id];
  if (a === undefined) return null;
  const assoc = copyAssoc(a);
  shiftAssocTimes(assoc, -now);
  return { assoc, held: [] };
}

/** Packets held for a frozen (or expected) association since the last export / take. */
export function takeHeldSctp(f: SctpFrozenTable, id: AssocId): SctpHeldPacket[] {
  const e: SctpHeld | undefined = f.assocs[id] ?? f.reserved[id];
  if (e === undefined) return [];
  const h = e.held;
  e.held = [];
  e.heldBytes = 0;
  return h;
}

/** Forget a frozen association (it lives elsewhere now); returns what it still held. */
export function releaseAssoc(f: SctpFrozenTable, id: AssocId): SctpHeldPacket[] {
  const e = f.assocs[id];
  if (e === undefined) return [];
  delete f.assocs[id];
  for (const k of assocKeys(e.assoc)) if (f.byRemote[k] === id) delete f.byRemote[k];
  f.n--;
  return e.held;
}

/** Expect association `id` (with its peer addresses `keys`, see assocKeys) from another node: hold its packets until importAssoc. */
export function reserveAssoc(f: SctpFrozenTable, id: AssocId, keys: readonly string[]): FreezeResult {
  if (f.assocs[id] !== undefined) return fail('id-in-use');
  if (f.reserved[id] === undefined) { f.reserved[id] = { held: [], heldBytes: 0, dropped: 0 }; f.n++; }
  for (const k of keys) f.byRemote[k] = id;
  return ok(null);
}

function unreserveAssoc(f: SctpFrozenTable, id: AssocId): SctpHeldPacket[] {
  const e = f.reserved[id];
  if (e === undefined) return [];
  delete f.reserved[id];
  for (const k in f.byRemote) if (f.byRemote[k] === id && f.assocs[id] === undefined) delete f.byRemote[k];
  f.n--;
  return e.held;
}

/**
 * Install an exported association into `st` at `now`: indexed by its peer addresses, into its
 * listener's accept queue when not yet accepted (an 'accept-ready' event is returned). Held
 * packets (the export's, then any a reservation in `f` collected) come back in `replay`:
 * feed each to sctpStackStep as a 'packet' event.
 */
export function importAssoc(st: SctpStackState, f: SctpFrozenTable | null, exp: AssocExport, now: Ms): FreezeResult<{ id: AssocId; events: SctpAppEvent[]; replay: SctpHeldPacket[] }> {
  const a = copyAssoc(exp.assoc);
  if (a.localAddrs.length === 0 || a.localAddrs.some((x) => !st.config.addresses.includes(x))) return fail('address-not-local');
  if (st.assocs[a.id] !== undefined) return fail('id-in-use');
  for (const k of assocKeys(a)) if (st.byRemote[k] !== undefined) return fail('id-in-use');
  const events: SctpAppEvent[] = [];
  if (a.app === 'pending') {
    const l = a.listener === null ? undefined : st.listeners[a.listener];
    if (l === undefined) return fail('no-listener');
    l.acceptQ.push(a.id);
    events.push({ type: 'accept-ready', listener: l.id, id: a.id });
  }
  shiftAssocTimes(a, now);
  refreshDeadline(a);
  st.assocs[a.id] = a;
  indexAssoc(st, a);
  const replay = [...exp.held, ...(f === null ? [] : unreserveAssoc(f, a.id))];
  return ok({ id: a.id, events, replay });
}
