// The SCTP application API (issue #6 item 3): `createServer` / `connect` returning an
// Association (an EventEmitter with message semantics) plus a Duplex view of one stream for
// code written for `net`. Built on SctpHost, a small impure driver around the pure SCTP stack
// (stack/sctp/api.ts): it owns the state, a clock, one real timer and an optional Link that
// moves IP packets; or it runs as a node of the simulator (tun/sim.ts) on virtual time.
//
//   const host = new SctpHost({ addresses: ['10.0.0.2'], link });
//   createServer(host, { port: 7 }, (assoc) => assoc.on('message', (m) => assoc.send(m.data, { stream: m.stream, ppid: m.ppid })));
//   const a = connect(host, { remote: '10.0.0.1', port: 7 });
//   a.on('connect', () => a.send(Buffer.from('hi'), { stream: 0, ppid: 0 }));
//
// Errors carry Node-style codes (err.code): ECONNREFUSED, ECONNRESET, ETIMEDOUT, ECONNABORTED,
// EPIPE, ENOTCONN, EINVAL, EADDRINUSE, EADDRNOTAVAIL.

import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Duplex } from 'node:stream';
import {
  createSctpStack, defaultSctpStackConfig, sctpAssocInfo, sctpIpStep, sctpNextDeadline,
  type AssocId, type SctpAppEvent, type SctpAssocConfig, type SctpAssocInfo, type SctpErrorCode, type SctpEvent,
  type SctpIpEvent, type SctpResultOf, type SctpStackConfig, type SctpStackState,
  sctpEventFromIp, sctpOutToIp,
} from '../stack/sctp/api.ts';
import {
  exportAssoc, freezeAssoc, holdSctp, importAssoc, newSctpFrozenTable, releaseAssoc, takeHeldSctp,
  type AssocExport, type FreezeResult, type SctpFrozenTable, type SctpHeldPacket,
} from '../stack/freeze.ts';
import { type Clock, realClock } from './clock.ts';
import type { Link } from './driver.ts';
import type { SimNode, SimOut } from './sim.ts';

// ------------------------------------------------------------------------------------ host

export interface SctpHostOptions {
  /** Addresses the stack answers for. */
  addresses: string[];
  config?: Partial<Omit<SctpStackConfig, 'addresses' | 'assoc'>> & { assoc?: Partial<SctpAssocConfig> };
  /** Moves raw IP packets (a TUN device, an in-memory pair); null when driven by the simulator. */
  link?: Link | null;
  /** Default: the real monotonic clock. */
  clock?: Clock;
  /** 32 bytes; default from node:crypto. Fixed ones make runs reproducible. */
  secret?: Uint8Array;
  /** Arm real timers (default: true when a link is given). */
  timers?: boolean;
  /** TTL / hop limit of packets sent. */
  ttl?: number;
  /** An existing state to drive (a resumed snapshot). */
  state?: SctpStackState;
}

type Handler = (ev: SctpAppEvent) => void;

/** The SCTP driver: the one impure loop around an SctpStackState. Also a SimNode. */
export class SctpHost implements SimNode {
  state: SctpStackState;
  /** Frozen (and expected) associations: packets for them are held, not stepped (stack/freeze.ts). */
  readonly frozen: SctpFrozenTable = newSctpFrozenTable();
  readonly clock: Clock;
  /** Sees every event before it is dispatched (tests, benchmarks). */
  onEvent: Handler | null = null;
  private link: Link | null = null;
  private readonly useTimers: boolean;
  private readonly ttl: number;
  private out: Uint8Array[] = [];
  private batching = 0;
  private timer: NodeJS.Timeout | null = null;
  private armedAt: number | null = null;
  private readonly handlers = new Map<string, Handler>();
  private evq: SctpAppEvent[] = [];
  private dispatching = false;
  private simNow: number | null = null;
  private closed = false;
  private flushScheduled = false;

  constructor(opts: SctpHostOptions) {
    this.clock = opts.clock ?? realClock;
    this.ttl = opts.ttl ?? 64;
    if (opts.state !== undefined) {
      this.state = opts.state;
    } else {
      const base = defaultSctpStackConfig([...opts.addresses]);
      const cfg: SctpStackConfig = { ...base, ...(opts.config ?? {}), addresses: [...opts.addresses], assoc: { ...base.assoc, ...(opts.config?.assoc ?? {}) } };
      const secret = opts.secret ?? new Uint8Array(randomBytes(32));
      this.state = createSctpStack(cfg, secret, this.clock.now());
    }
    this.useTimers = opts.timers ?? (opts.link !== undefined && opts.link !== null);
    if (opts.link) this.setLink(opts.link);
  }

  now(): number { return this.simNow ?? this.clock.now(); }

  setLink(link: Link): void {
    this.link = link;
    link.onReceive((pkts) => this.input(pkts));
  }

  /** A user call at the current time. */
  call<E extends SctpEvent>(ev: E): SctpResultOf<E> {
    const r = this.step(ev);
    this.scheduleFlush();
    return r as SctpResultOf<E>;
  }

  private step(ev: SctpIpEvent): unknown {
    // A packet for a frozen association is held (no answer, no §8.4 ABORT) until it moves on.
    if (ev.type === 'ip' && this.frozen.n > 0) {
      const pe = sctpEventFromIp(this.state, ev.data);
      if (pe !== null && holdSctp(this.frozen, pe)) return null;
    }
    const r = sctpIpStep(this.state, ev, this.now(), this.ttl);
    if (!this.closed) for (const p of r.out) this.out.push(p);
    if (r.events.length > 0) this.dispatch(r.events);
    return r.result;
  }

  /** Packets from the link: step them all, then flush once. */
  input(pkts: Uint8Array[]): void {
    if (this.closed) return;
    this.batching++;
    try { for (const data of pkts) this.step({ type: 'ip', data }); } finally { this.batching--; }
    if (this.batching === 0) this.flush();
  }

  /** Feed a tick now. */
  tick(): void;
  tick(now: number): readonly SimOut[];
  tick(now?: number): readonly SimOut[] | void {
    if (now !== undefined) {
      this.simNow = now;
      try { this.step({ type: 'tick' }); } finally { this.simNow = null; }
      return this.take();
    }
    if (this.closed) return;
    this.batching++;
    try { this.step({ type: 'tick' }); } finally { this.batching--; }
    this.flush();
  }

  private scheduleFlush(): void {
    if (this.batching > 0 || this.flushScheduled || this.link === null) { if (this.link === null && this.useTimers) this.arm(); return; }
    this.flushScheduled = true;
    queueMicrotask(() => { this.flushScheduled = false; this.flush(); });
  }

  /** Write pending output to the link and re-arm the timer. */
  flush(): void {
    if (this.link !== null && this.out.length > 0) {
      const pkts = this.out;
      this.out = [];
      this.link.send(pkts);
    }
    if (this.useTimers) this.arm();
  }

  private arm(): void {
    if (this.closed) return;
    const at = sctpNextDeadline(this.state);
    if (at === this.armedAt && this.timer !== null) return;
    if (this.timer !== null) { clearTimeout(this.timer); this.timer = null; }
    this.armedAt = at;
    if (at === null) return;
    // Ref'd like an open socket: a live association keeps the process alive until close().
    this.timer = setTimeout(() => { this.timer = null; this.armedAt = null; this.tick(); }, Math.max(0, at - this.clock.now()));
  }

  /** Route events of one association or listener id to `h`. */
  watch(id: string, h: Handler): void { this.handlers.set(id, h); }
  unwatch(id: string): void { this.handlers.delete(id); }

  private dispatch(evs: SctpAppEvent[]): void {
    for (const e of evs) this.evq.push(e);
    if (this.dispatching) return;
    this.dispatching = true;
    try {
      while (this.evq.length > 0) {
        const e = this.evq.shift()!;
        this.onEvent?.(e);
        const key = e.type === 'accept-ready' ? e.listener : e.id;
        this.handlers.get(key)?.(e);
      }
    } finally {
      this.dispatching = false;
    }
  }

  /** Stop: no more packets in or out, no timers. */
  close(): void {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.link?.close();
  }

  info(id: AssocId): SctpAssocInfo | null { return sctpAssocInfo(this.state, id); }

  // ---- migration (stack/freeze.ts) ----

  /** Take association `id` out of the stack: it sends nothing, its packets are held; its Association object is detached. */
  freeze(id: AssocId): FreezeResult {
    const r = freezeAssoc(this.state, this.frozen, id, this.now());
    if (r.ok) { this.unwatch(id); if (this.useTimers) this.arm(); }
    return r;
  }

  /** The frozen association in snapshot time (held packets move into it). */
  exportAssoc(id: AssocId): FreezeResult<AssocExport> { return exportAssoc(this.frozen, id); }

  /** Packets held for frozen `id` since the last export/take, as IP packets (to forward them). */
  takeHeld(id: AssocId): Uint8Array[] { return takeHeldSctp(this.frozen, id).map((p) => this.heldToIp(p)); }

  /** Forget frozen `id` (it lives elsewhere now); what it still held, as IP packets. */
  release(id: AssocId): Uint8Array[] { return releaseAssoc(this.frozen, id).map((p) => this.heldToIp(p)); }

  private heldToIp(p: SctpHeldPacket): Uint8Array { return sctpOutToIp({ src: p.src, dst: p.dst, sctp: p.sctp, encap: p.encap }, this.ttl); }

  /**
   * Install an exported association here and return an Association for it (listen for
   * 'message' on it); held packets are replayed. Throws when the stack refuses it.
   */
  adopt(exp: AssocExport): Association {
    const r = importAssoc(this.state, this.frozen, exp, this.now());
    if (!r.ok) throw new Error(`adopt: ${r.error}`);
    const { id, events, replay } = r.value;
    const a = new Association(this, id);
    a.connected = exp.assoc.state !== 'COOKIE-WAIT' && exp.assoc.state !== 'COOKIE-ECHOED';
    this.batching++;
    try {
      if (events.length > 0) this.dispatch(events);
      for (const p of replay) this.step({ type: 'packet', src: p.src, dst: p.dst, sctp: p.sctp, encap: p.encap });
    } finally { this.batching--; }
    if (this.batching === 0) this.flush();
    // Messages delivered before the move but not yet read.
    queueMicrotask(() => a.pull());
    return a;
  }

  // ---- SimNode ----
  private take(): SimOut[] {
    const o = this.out;
    this.out = [];
    return o;
  }
  receive(pkt: Uint8Array, now: number): readonly SimOut[] {
    this.simNow = now;
    try { this.step({ type: 'ip', data: pkt }); } finally { this.simNow = null; }
    return this.take();
  }
  nextDeadline(): number | null { return sctpNextDeadline(this.state); }
  poll(now: number): readonly SimOut[] { void now; return this.take(); }
}

// ------------------------------------------------------------------------------- errors

const MESSAGES: Record<SctpErrorCode, string> = {
  ECONNREFUSED: 'association refused (ABORT during setup)', ECONNRESET: 'association aborted by the peer',
  ETIMEDOUT: 'association timed out (retransmissions exhausted)', ECONNABORTED: 'association aborted (protocol error)',
  EPIPE: 'association is shutting down', ENOTCONN: 'association is not connected', EBADF: 'association is closed',
  EINVAL: 'invalid argument', EAGAIN: 'send buffer full', EADDRINUSE: 'address in use', EADDRNOTAVAIL: 'address not available',
};

/** An Error with a Node-style `code`. */
export function sctpError(code: SctpErrorCode, syscall: string): NodeJS.ErrnoException {
  const e = new Error(`${syscall} ${code}: ${MESSAGES[code]}`) as NodeJS.ErrnoException;
  e.code = code;
  e.syscall = syscall;
  return e;
}

// --------------------------------------------------------------------------- association

/** Options of Association.send (a message). */
export interface SendOptions {
  stream?: number;
  ppid?: number;
  unordered?: boolean;
  /** PR-SCTP lifetime in ms (RFC 3758 timed reliability). */
  ttl?: number | null;
  /** PR-SCTP limit on retransmissions. */
  maxRetransmits?: number | null;
}

/** A received message. */
export interface Message { data: Buffer; stream: number; ppid: number; unordered: boolean }

interface Queued { data: Uint8Array; opts: SendOptions }

/**
 * One SCTP association. Events: 'connect', 'message' (Message), 'drain', 'end' (the peer shut
 * down and every message was delivered), 'close' (hadError), 'error' (err.code), 'abandoned'
 * ({ msg, stream, ppid, sent }), 'path' ({ addr, state, primary }), 'restart', 'remote-error'.
 */
export class Association extends EventEmitter {
  id: AssocId | null;
  connected = false;
  closed = false;
  private queue: Queued[] = [];
  private paused = false;
  private ended = false;
  private hadError = false;
  private streams = new Map<number, SctpStream>();

  constructor(readonly host: SctpHost, id: AssocId | null) {
    super();
    this.id = id;
    if (id !== null) this.attach(id);
  }

  /** @internal */
  attach(id: AssocId): void {
    this.id = id;
    this.host.watch(id, (e) => this.onEvent(e));
  }

  private onEvent(e: SctpAppEvent): void {
    switch (e.type) {
      case 'connected': this.connected = true; this.emit('connect'); this.flushQueue(); break;
      case 'readable': this.pull(); break;
      case 'writable': this.flushQueue(); break;
      case 'eof': this.pull(); break;
      case 'abandoned': this.emit('abandoned', { msg: e.msg, stream: e.stream, ppid: e.ppid, sent: e.sent }); break;
      case 'path': this.emit('path', { addr: e.addr, state: e.state, primary: e.primary }); break;
      case 'restart': this.emit('restart'); break;
      case 'remote-error': this.emit('remote-error', e.causes); break;
      case 'error':
        this.hadError = true;
        this.emit('error', sctpError(e.code, 'sctp'));
        for (const s of this.streams.values()) s.destroy(sctpError(e.code, 'sctp'));
        break;
      case 'closed': this.pull(); this.finishClose(); break;
      default: break;
    }
  }

  private finishClose(): void {
    if (this.closed) return;
    this.closed = true;
    if (!this.ended && !this.hadError) { this.ended = true; this.emit('end'); for (const s of this.streams.values()) s.push(null); }
    const id = this.id;
    if (id !== null) { this.host.call({ type: 'close', id }); this.host.unwatch(id); }
    this.emit('close', this.hadError);
  }

  /** Take messages from the stack while not paused (called on 'readable'; @internal). */
  pull(): void {
    const id = this.id;
    if (id === null) return;
    while (!this.paused) {
      const r = this.host.call({ type: 'recv', id });
      if (!r.ok) return;
      if (r.message === null) {
        if (r.eof && !this.ended && !this.hadError) {
          this.ended = true;
          this.emit('end');
          for (const s of this.streams.values()) s.push(null);
        }
        return;
      }
      const m = r.message;
      const msg: Message = { data: Buffer.from(m.data.buffer, m.data.byteOffset, m.data.length), stream: m.stream, ppid: m.ppid, unordered: m.unordered };
      this.emit('message', msg);
      const s = this.streams.get(m.stream);
      if (s !== undefined && !s.push(msg.data)) this.pause();
    }
  }

  /** Messages accepted by send() but still waiting here for room in the stack's send buffer ('drain' follows). */
  get queued(): number { return this.queue.length; }

  /** Stop taking messages (the receive window closes as they pile up). */
  pause(): this { this.paused = true; return this; }
  resume(): this {
    if (!this.paused) return this;
    this.paused = false;
    queueMicrotask(() => this.pull());
    return this;
  }

  /**
   * Send one message. Returns false when it had to be queued here because the association's
   * send buffer is full ('drain' follows). Throws on invalid arguments (EINVAL).
   */
  send(data: Uint8Array | string, opts: SendOptions = {}): boolean {
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    if (this.closed || this.id === null) { this.emitLater(sctpError('ENOTCONN', 'send')); return false; }
    if (this.queue.length > 0 || !this.connected) { this.queue.push({ data: bytes, opts }); return false; }
    return this.trySend(bytes, opts);
  }

  private trySend(data: Uint8Array, o: SendOptions): boolean {
    const r = this.host.call({
      type: 'send', id: this.id!, data, stream: o.stream ?? 0, ppid: o.ppid ?? 0, unordered: o.unordered ?? false,
      ttl: o.ttl ?? null, maxRetransmits: o.maxRetransmits ?? null,
    });
    if (r.ok) return true;
    if (r.code === 'EAGAIN') { this.queue.push({ data, opts: o }); return false; }
    const err = sctpError(r.code, 'send');
    if (r.code === 'EINVAL') throw err;
    this.emitLater(err);
    return false;
  }

  private flushQueue(): void {
    let sent = false;
    while (this.queue.length > 0 && this.connected && !this.closed) {
      const q = this.queue[0]!;
      const r = this.host.call({
        type: 'send', id: this.id!, data: q.data, stream: q.opts.stream ?? 0, ppid: q.opts.ppid ?? 0,
        unordered: q.opts.unordered ?? false, ttl: q.opts.ttl ?? null, maxRetransmits: q.opts.maxRetransmits ?? null,
      });
      if (!r.ok && r.code === 'EAGAIN') return;
      this.queue.shift();
      if (!r.ok) { this.emitLater(sctpError(r.code, 'send')); continue; }
      sent = true;
    }
    if (sent && this.queue.length === 0) this.emit('drain');
  }

  private emitLater(err: Error): void { queueMicrotask(() => this.emit('error', err)); }

  /** Graceful shutdown (RFC 9260 §9.2) after every queued message. */
  shutdown(): void {
    if (this.id === null || this.closed) return;
    if (this.queue.length > 0) { this.once('drain', () => this.shutdown()); return; }
    const r = this.host.call({ type: 'shutdown', id: this.id });
    if (!r.ok && r.code !== 'ENOTCONN') this.emitLater(sctpError(r.code, 'shutdown'));
  }

  /** ABORT (RFC 9260 §9.1) with a User-Initiated Abort cause. */
  abort(reason = ''): void {
    if (this.id === null || this.closed) return;
    const id = this.id;
    // Detach first: the stack reports 'closed' for its own abort too, which is not news here.
    this.closed = true;
    this.host.unwatch(id);
    this.host.call({ type: 'abort', id, reason: new TextEncoder().encode(reason) });
    this.queue = [];
    for (const s of this.streams.values()) s.destroy();
    this.emit('close', false);
  }

  /** A Duplex over one stream: writes are messages on it, reads its messages' bytes; end() shuts the association down. */
  stream(streamId: number, opts: { ppid?: number; unordered?: boolean } = {}): SctpStream {
    let s = this.streams.get(streamId);
    if (s === undefined) {
      s = new SctpStream(this, streamId, opts.ppid ?? 0, opts.unordered ?? false);
      this.streams.set(streamId, s);
    }
    return s;
  }

  /** Paths, windows and counters. */
  info(): SctpAssocInfo | null { return this.id === null ? null : this.host.info(this.id); }

  get remoteAddresses(): string[] { return this.info()?.paths.map((p) => p.addr) ?? []; }
  get remotePort(): number | undefined { return this.info()?.remotePort; }
  get localPort(): number | undefined { return this.info()?.localPort; }
}

/** A Duplex view of one stream of an association, for code written for `net`. */
export class SctpStream extends Duplex {
  constructor(readonly association: Association, readonly streamId: number, readonly ppid: number, readonly unordered: boolean) {
    super({ allowHalfOpen: true });
    association.on('close', () => { if (!this.readableEnded) this.push(null); });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    try {
      if (this.association.send(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length), { stream: this.streamId, ppid: this.ppid, unordered: this.unordered })) cb();
      else this.association.once('drain', () => cb());
    } catch (e) {
      cb(e as Error);
    }
  }

  override _read(): void { this.association.resume(); }

  override _final(cb: (err?: Error | null) => void): void {
    this.association.shutdown();
    cb();
  }
}

// --------------------------------------------------------------------------------- server

export interface ServerOptions {
  port: number;
  /** Local addresses (default: every address of the host). */
  addresses?: string[] | null;
  backlog?: number;
  /** Per-association settings (streams, buffers, RTO, ...). */
  options?: Partial<SctpAssocConfig>;
}

/** A listening SCTP endpoint. Events: 'listening', 'association' (Association), 'error', 'close'. */
export class SctpServer extends EventEmitter {
  listener: string | null = null;
  constructor(readonly host: SctpHost) { super(); }

  listen(o: ServerOptions): this {
    const r = this.host.call({ type: 'listen', port: o.port, addresses: o.addresses ?? null, backlog: o.backlog ?? 128, options: o.options ?? {} });
    if (!r.ok) { queueMicrotask(() => this.emit('error', sctpError(r.code, 'listen'))); return this; }
    this.listener = r.listener;
    this.host.watch(r.listener, (e) => {
      if (e.type !== 'accept-ready') return;
      const a = this.host.call({ type: 'accept', listener: r.listener });
      if (!a.ok || a.id === null) return;
      const assoc = new Association(this.host, a.id);
      assoc.connected = true;
      this.emit('association', assoc);
      // Messages that arrived with the COOKIE ECHO are waiting.
      queueMicrotask(() => assoc.pull());
    });
    queueMicrotask(() => this.emit('listening'));
    return this;
  }

  close(): void {
    if (this.listener === null) return;
    this.host.call({ type: 'unlisten', listener: this.listener });
    this.host.unwatch(this.listener);
    this.listener = null;
    queueMicrotask(() => this.emit('close'));
  }
}

/** Listen on `o.port`; `onAssociation` is added as an 'association' listener. */
export function createServer(host: SctpHost, o: ServerOptions, onAssociation?: (a: Association) => void): SctpServer {
  const s = new SctpServer(host);
  if (onAssociation) s.on('association', onAssociation);
  return s.listen(o);
}

export interface ConnectOptions {
  /** Peer address(es); the first is the primary path. */
  remote: string | string[];
  port: number;
  localPort?: number | null;
  /** Our addresses for this association (default: every host address). */
  local?: string[] | null;
  /** RFC 6951: the peer's UDP encapsulation port (e.g. 9899); null/absent for raw IP. */
  udpEncap?: number | null;
  options?: Partial<SctpAssocConfig>;
}

/** Start an association (RFC 9260 §5.1); 'connect' when it is up. */
export function connect(host: SctpHost, o: ConnectOptions, onConnect?: () => void): Association {
  const assoc = new Association(host, null);
  if (onConnect) assoc.once('connect', onConnect);
  const r = host.call({
    type: 'connect', local: o.local ?? null, localPort: o.localPort ?? null, remote: Array.isArray(o.remote) ? o.remote : [o.remote],
    port: o.port, udpEncap: o.udpEncap ?? null, options: o.options ?? {},
  });
  if (!r.ok) {
    queueMicrotask(() => { assoc.emit('error', sctpError(r.code, 'connect')); assoc.closed = true; assoc.emit('close', true); });
    return assoc;
  }
  assoc.attach(r.id);
  return assoc;
}
