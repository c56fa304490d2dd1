// The host driver: the one impure loop around a pure stack (STYLE.md §2, "tun/driver.ts").
//
// A Host owns one StackState, a Link that moves raw IP packets, and a Clock. It
//   - feeds every packet the link delivers into stackStep and writes what comes out back to
//     the link, stepping a whole read batch before it flushes output and re-arms the timer
//     once (so a burst of N segments costs one link write call and one timer operation);
//   - turns user calls (listen, connect, send, recv, ...) into stack events at `clock.now()`;
//   - dispatches AppEvents to whoever watches the connection or listener id (tun/net.ts
//     sockets and servers), in order, even when a handler makes further calls re-entrantly;
//   - arms exactly one real timer at stackNextDeadline() and feeds {type:'tick'} when it fires.
//
// It also runs on the simulator's virtual clock as a SimNode (host.simNode(), addSimHost()),
// with no link and no real timers: the sim calls receive/tick/poll and carries the packets.
//
// Randomness enters the stack here and only here: 32 bytes from node:crypto at boot (tests
// and simulations pass a fixed secret instead, for reproducible runs).

import { randomBytes } from 'node:crypto';
import {
  connInfo, createStack, defaultStackConfig, defaultTcpConfig, stackNextDeadline, stackStep,
} from '../stack/api.ts';
import type {
  AppEvent, ConnId, ConnInfo, ListenerId, Ms, ResultOf, StackConfig, StackEvent, StackState, TcpSocketConfig,
} from '../stack/api.ts';
import { type Clock, realClock } from './clock.ts';
import {
  type ConnectOptions, type Server, type ServerOptions, type Socket, connect as netConnect, createServer as netCreateServer,
} from './net.ts';
import type { Sim, SimNode } from './sim.ts';

/** Something that moves raw IP packets (a TUN device, an in-memory pair, a pcap tap...). */
export interface Link {
  /** Write packets, in order. The link owns them afterwards. */
  send(pkts: Uint8Array[]): void;
  /** Register the single receiver; the link calls it with each batch of packets it reads. */
  onReceive(cb: (pkts: Uint8Array[]) => void): void;
  /** Stop: no more sends or receives. */
  close(): void;
}

/** Stack settings for a Host: everything optional except the addresses. */
export type HostConfig = Partial<Omit<StackConfig, 'tcp' | 'addresses'>> & { tcp?: Partial<TcpSocketConfig> };

export interface HostOptions {
  /** Addresses the stack answers for (canonical text). */
  addresses: string[];
  config?: HostConfig;
  /** null: no link yet (attach one later with setLink) or running as a SimNode. */
  link?: Link | null;
  /** Default: the real monotonic clock (performance.now). */
  clock?: Clock;
  /** 32 bytes; default: node:crypto randomBytes(32). Pass a fixed one for reproducible runs. */
  secret?: Uint8Array;
  /** Arm real timers at the stack's deadline (default true; false when a simulator drives ticks). */
  timers?: boolean;
  /** The stack implementation (default: stack/api.ts). */
  engine?: StackEngine;
  /**
   * Adopt an existing stack state instead of creating one (a snapshot resumed elsewhere,
   * migrate/): `addresses`, `config` and `secret` are then ignored, the state's own are used.
   */
  state?: StackState;
}

/** The stack functions a Host drives (the real stack by default; tests may substitute one). */
export interface StackEngine {
  createStack: typeof createStack;
  stackStep: typeof stackStep;
  stackNextDeadline: typeof stackNextDeadline;
  connInfo: typeof connInfo;
}

const REAL_STACK: StackEngine = { createStack, stackStep, stackNextDeadline, connInfo };

/** Receives the AppEvents of one connection or listener id. */
export type EventHandler = (ev: AppEvent) => void;

/** Counters, for diagnostics and the benchmark. */
export interface HostStats {
  steps: number; packetsIn: number; packetsOut: number; ticks: number; batches: number; timerArms: number;
}

/** The whole stack configuration from a partial one (defaults from the stack). */
export function stackConfig(addresses: string[], cfg: HostConfig = {}): StackConfig {
  const base = defaultStackConfig([...addresses]);
  return { ...base, ...cfg, addresses: [...addresses], tcp: { ...defaultTcpConfig(), ...base.tcp, ...cfg.tcp } };
}

export class Host {
  /** The stack's whole state: plain data (snapshot it with migrate/codec.ts). */
  state: StackState;
  readonly config: StackConfig;
  readonly clock: Clock;
  readonly stats: HostStats = { steps: 0, packetsIn: 0, packetsOut: 0, ticks: 0, batches: 0, timerArms: 0 };
  /** Sees every AppEvent before it is dispatched (sockets-free use: benchmarks, fuzzers). */
  onEvent: EventHandler | null = null;

  private link: Link | null = null;
  private readonly engine: StackEngine;
  private readonly useTimers: boolean;
  /** Output waiting for the next flush (or for the simulator to collect it). */
  private out: Uint8Array[] = [];
  private flushQueued = false;
  /** >0 while stepping a batch: output is flushed once at the end. */
  private batching = 0;
  private timer: NodeJS.Timeout | null = null;
  private armedAt: Ms | null = null;
  private readonly conns = new Map<ConnId, EventHandler>();
  private readonly listeners = new Map<ListenerId, EventHandler>();
  private evq: AppEvent[] = [];
  private evHead = 0;
  private dispatching = false;
  /** Ref'd sockets and servers: while > 0 a no-op handle keeps the process alive (like an open fd). */
  private refs = 0;
  private keepAlive: NodeJS.Timeout | null = null;
  /** The time a simulator handed us for the current callback (overrides the clock). */
  private simNow: Ms | null = null;
  private closed = false;

  constructor(opts: HostOptions) {
    this.clock = opts.clock ?? realClock;
    this.useTimers = opts.timers ?? true;
    this.engine = opts.engine ?? REAL_STACK;
    if (opts.state !== undefined) {
      this.state = opts.state;
      this.config = opts.state.config;
    } else {
      this.config = stackConfig(opts.addresses, opts.config);
      const secret = opts.secret ?? new Uint8Array(randomBytes(32));
      if (secret.length !== 32) throw new RangeError(`Host: secret must be 32 bytes, got ${secret.length}`);
      this.state = this.engine.createStack(this.config, secret.slice(), this.now());
    }
    if (opts.link) this.setLink(opts.link);
  }

  /** The stack's current time: the simulator's for the current callback, else the clock's. */
  now(): Ms { return this.simNow ?? this.clock.now(); }

  /** Attach the link (replacing any earlier one, which is not closed). */
  setLink(link: Link): void {
    this.link = link;
    link.onReceive((pkts) => this.input(pkts));
    if (this.out.length > 0) this.flush();
  }

  // ------------------------------------------------------------------------- stepping

  /** A user call (or any event) at the current time; output goes out on scheduleFlush. */
  call<E extends StackEvent>(ev: E): ResultOf<E> {
    const r = this.engine.stackStep(this.state, ev, this.now());
    this.stats.steps++;
    if (r.out.length > 0) this.queueOut(r.out);
    if (r.events.length > 0) this.dispatch(r.events);
    this.scheduleFlush();
    return r.result as ResultOf<E>;
  }

  /** A batch of packets from the link: step them all, then flush and re-arm once. */
  input(pkts: Uint8Array[]): void {
    if (this.closed) return;
    this.stats.batches++;
    this.batching++;
    try {
      const now = this.now();
      for (const data of pkts) {
        const r = this.engine.stackStep(this.state, { type: 'packet', data }, now);
        this.stats.steps++;
        this.stats.packetsIn++;
        if (r.out.length > 0) this.queueOut(r.out);
        if (r.events.length > 0) this.dispatch(r.events);
      }
    } finally {
      this.batching--;
    }
    if (this.batching === 0) this.flush();
  }

  /** Feed a tick now (what the timer does; spurious ticks are harmless). */
  tick(): void {
    if (this.closed) return;
    this.stats.ticks++;
    this.batching++;
    try { this.call({ type: 'tick' }); } finally { this.batching--; }
    if (this.batching === 0) this.flush();
  }

  /** Write pending output to the link and re-arm the timer. */
  flush(): void {
    this.flushQueued = false;
    if (this.link !== null && this.out.length > 0) {
      const pkts = this.out;
      this.out = [];
      this.stats.packetsOut += pkts.length;
      this.link.send(pkts);
    }
    if (this.useTimers) this.arm();
  }

  private queueOut(pkts: Uint8Array[]): void {
    if (this.closed) return; // a closed host still answers user calls, but sends nothing
    for (const p of pkts) this.out.push(p);
  }

  /**
   * Flush on a microtask after a user call made outside a batch: a run of synchronous calls
   * (several socket writes) goes out as one link batch, and the timer is re-armed for any
   * deadline the call set even when it produced no packet.
   */
  private scheduleFlush(): void {
    if (this.batching > 0 || this.flushQueued || this.closed) return;
    if (this.link === null && !this.useTimers) return; // a SimNode: the simulator collects output
    this.flushQueued = true;
    queueMicrotask(this.flushTask);
  }

  private readonly flushTask = (): void => { if (this.flushQueued) this.flush(); };

  /**
   * Exactly one real timer, at the stack's earliest deadline. It is re-armed only when the
   * deadline moves earlier than the armed one (or there is none armed): a deadline that moved
   * later lets the armed timer fire early, which costs one spurious tick and re-arms then,
   * instead of clearing and re-creating a timer on every ACK that pushes the RTO forward.
   * The timer is unref'd: what keeps the process alive is open sockets and servers (refs).
   */
  private arm(): void {
    const at = this.engine.stackNextDeadline(this.state);
    if (at === null) {
      if (this.timer !== null) { clearTimeout(this.timer); this.timer = null; this.armedAt = null; }
      return;
    }
    if (this.timer !== null && this.armedAt !== null && at >= this.armedAt) return;
    if (this.timer !== null) clearTimeout(this.timer);
    // Node's timers take at most 2^31-1 ms (longer becomes 1 ms!): a farther deadline gets an
    // early, spurious tick that re-arms.
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, Math.ceil(at - this.clock.now())));
    this.armedAt = at;
    this.stats.timerArms++;
    this.timer = setTimeout(this.onTimer, delay);
    this.timer.unref();
  }

  private readonly onTimer = (): void => {
    this.timer = null;
    this.armedAt = null;
    this.tick();
  };

  // ------------------------------------------------------------------------- events

  /** Route one connection's events to `h` (replacing any earlier handler). */
  watchConn(id: ConnId, h: EventHandler): void { this.conns.set(id, h); }
  unwatchConn(id: ConnId, h?: EventHandler): void { if (h === undefined || this.conns.get(id) === h) this.conns.delete(id); }
  watchListener(id: ListenerId, h: EventHandler): void { this.listeners.set(id, h); }
  unwatchListener(id: ListenerId, h?: EventHandler): void { if (h === undefined || this.listeners.get(id) === h) this.listeners.delete(id); }

  /**
   * Deliver events in order. A handler may call back into the host (recv, send...); events
   * those calls produce are queued behind the ones not yet delivered, never delivered in the
   * middle of another handler. If a handler throws, the rest stay queued for the next dispatch.
   */
  private dispatch(evs: AppEvent[]): void {
    for (const e of evs) this.evq.push(e);
    if (this.dispatching) return;
    this.dispatching = true;
    try {
      while (this.evHead < this.evq.length) {
        const e = this.evq[this.evHead++]!;
        this.onEvent?.(e);
        const h = e.type === 'accept-ready' ? this.listeners.get(e.listener) : this.conns.get(e.id);
        h?.(e);
      }
      this.evq = [];
      this.evHead = 0;
    } finally {
      this.dispatching = false;
    }
  }

  // ------------------------------------------------------------------------- lifetime

  /** Diagnostics for one connection (null: unknown id). */
  info(id: ConnId): ConnInfo | null { return this.engine.connInfo(this.state, id); }

  /** A socket or server that should keep the process alive opened (ref) or went away (unref). */
  addRef(): void {
    if (this.refs++ === 0 && !this.closed) this.keepAlive = setInterval(() => {}, 0x7fffffff);
  }
  removeRef(): void {
    if (this.refs <= 0) return;
    if (--this.refs === 0 && this.keepAlive !== null) { clearInterval(this.keepAlive); this.keepAlive = null; }
  }

  /** Stop the driver: no more timers, the link is closed, connections are left as they are. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== null) { clearTimeout(this.timer); this.timer = null; }
    if (this.keepAlive !== null) { clearInterval(this.keepAlive); this.keepAlive = null; }
    this.link?.close();
    this.link = null;
  }

  // ------------------------------------------------------------------------- sockets

  /** net.createServer on this host (tun/net.ts). */
  createServer(options?: ServerOptions | ((s: Socket) => void), listener?: (s: Socket) => void): Server {
    return netCreateServer(this, options, listener);
  }

  /** net.connect on this host: (options, [cb]) or (port, address, [cb]). */
  connect(options: ConnectOptions | number, remote?: string | (() => void), cb?: () => void): Socket {
    return netConnect(this, options, remote, cb);
  }

  // ------------------------------------------------------------------------- simulator

  /**
   * This host as a node of tun/sim.ts. Use a Host built with `timers: false`, no link, and the
   * sim's clock (addSimHost does all that), so user calls made from `sim.at` callbacks or from
   * event handlers run at virtual time; their output is collected by poll()/tick().
   */
  simNode(): SimNode {
    if (this.link !== null || this.useTimers) throw new Error('Host.simNode: build the host with link: null and timers: false');
    const drain = (): Uint8Array[] => {
      if (this.out.length === 0) return EMPTY;
      const o = this.out;
      this.out = [];
      this.stats.packetsOut += o.length;
      return o;
    };
    return {
      receive: (pkt, now) => {
        this.simNow = now;
        try { this.input([pkt]); } finally { this.simNow = null; }
        return drain();
      },
      tick: (now) => {
        this.simNow = now;
        try { this.tick(); } finally { this.simNow = null; }
        return drain();
      },
      poll: () => drain(),
      // Output queued by a call made outside a sim callback: ask to be ticked now to send it.
      nextDeadline: () => (this.out.length > 0 ? this.clock.now() : this.engine.stackNextDeadline(this.state)),
    };
  }
}

const EMPTY: Uint8Array[] = [];
const MAX_TIMER_MS = 0x7fffffff;

/** A Host on the simulator's virtual clock, added to `sim` as node `name`. */
export function addSimHost(sim: Sim, name: string, opts: Omit<HostOptions, 'link' | 'clock' | 'timers'>): Host {
  const host = new Host({ ...opts, link: null, clock: sim.clock, timers: false });
  sim.addNode(name, host.simNode());
  return host;
}
