// A deterministic discrete-event network, in the manner of smoltcp's tests/netsim.rs: nodes
// exchange raw IP packets over impaired point-to-point links; virtual time jumps straight to
// the next event (`time = min(next node deadline, next packet arrival or callback)`), nothing
// ever sleeps, and every random choice comes from a seeded PRNG (prng.ts), so a run is
// reproducible from its seed alone.
//
// Model
// - A node is anything implementing SimNode. It is attached to links by interface name.
// - A link joins two ends, `a` and `b`; each direction ('ab', 'ba') has its own LinkConfig,
//   counters and PRNG substream (forked from the seed by link name and direction, so adding a
//   link never changes another link's random sequence).
// - What a node returns is sent at once, at the current virtual time. A plain Uint8Array goes
//   out of the node's only interface, or, for a node with several, the interface its routes
//   (Sim.addRoute) pick for the destination address; `{ iface, pkt }` names the interface.
// - Packets are owned: a packet a node returns belongs to the sim from then on (the sim may
//   flip a bit in it, then hands it to the receiver, which owns it in turn).
//
// Ordering (all deterministic)
// - Packet arrivals and `at` callbacks sit in a binary heap keyed by (time, insertion seq):
//   equal times run first-in first-out.
// - Node deadlines are not in the heap: each node's nextDeadline() is re-read after every call
//   into it (receive, tick, poll) and after every `at` callback, and cached. At equal times,
//   heap events run before node ticks (so an ACK arriving at t is seen before an RTO due at
//   t fires), and nodes tick in the order they were added.
//
// Application actions: `sim.at(t, fn)` runs fn at virtual time t. fn may call into nodes
// directly. Their output reaches the network in either of two ways:
//   - the node implements `poll(now)`, returning what those calls produced: after every `at`
//     callback the sim polls each node (in insertion order), then re-reads every deadline;
//   - or fn hands the packets over itself with `sim.inject(nodeName, packets)`.
// (A node may also simply report nextDeadline() = now and emit queued output from tick().)
// State changed any other way (between runs, or one node calling into another from its
// receive()) is seen at the next run(), or at once after `sim.touch(name)`. A deadline already
// in the past ticks at the current time: virtual time never goes backwards.

import type { Clock } from './clock.ts';
import { type PrngState, chance, fork, nextFloat, nextInt, prngInit } from './prng.ts';
import { RouteTable } from './sim-route.ts';

/** A packet a node sends: raw IP bytes (routed by the sim) or bytes for a named interface. */
export type SimOut = Uint8Array | { readonly iface: string; readonly pkt: Uint8Array };

/** What the simulator drives. All times are virtual milliseconds. */
export interface SimNode {
  /** A packet (raw IP bytes, now owned by the node) arrives on `iface` at `now`; returns packets to send. */
  receive(pkt: Uint8Array, now: number, iface: string): readonly SimOut[];
  /** Timers due: called at or after nextDeadline(); returns packets to send. */
  tick(now: number): readonly SimOut[];
  /** The earliest time this node wants tick() called, or null for never. */
  nextDeadline(): number | null;
  /** Optional: packets produced by application calls since the last poll (drained after each `at` callback and before each run). */
  poll?(now: number): readonly SimOut[];
}

/** Impairments of one link direction. Probabilities are per packet, in [0, 1]. */
export interface LinkConfig {
  /** One-way propagation delay (ms). */
  delayMs: number;
  /** Extra delay drawn uniformly from [0, jitterMs) per packet. Order-preserving: a packet never overtakes an earlier one through jitter alone. */
  jitterMs: number;
  /** Probability a packet is lost on the wire (after it has taken its place in the queue). */
  loss: number;
  /** Probability a surviving packet is duplicated: an intact copy arrives right after it. */
  dup: number;
  /** Probability a surviving packet is held back an extra (0, reorderMs] ms, letting later packets overtake it. */
  reorder: number;
  /** Maximum extra hold-back of a reordered packet (ms). */
  reorderMs: number;
  /** Probability one uniformly chosen bit of a surviving packet is flipped. */
  corrupt: number;
  /** Link rate in bits per second (serialisation delay and a FIFO queue); 0 = infinitely fast, no queue. */
  bitsPerSec: number;
  /** Queue capacity in bytes when bitsPerSec > 0 (the packet being serialised counts; an idle link always takes one packet). Tail drop beyond it. */
  queueBytes: number;
  /** Largest packet (bytes of IP) the link carries; larger ones are dropped and counted. */
  mtu: number;
}

/** Defaults for every field not given: a perfect, instant 1500-byte-MTU link. */
export const DEFAULT_LINK: Readonly<LinkConfig> = Object.freeze({
  delayMs: 0, jitterMs: 0, loss: 0, dup: 0, reorder: 0, reorderMs: 1, corrupt: 0,
  bitsPerSec: 0, queueBytes: 150_000, mtu: 1500,
});

/** Link configuration: the same for both directions, or per direction. */
export type LinkSpec = Partial<LinkConfig> | { ab?: Partial<LinkConfig>; ba?: Partial<LinkConfig> };

/** Direction on a link: from end a to end b, or back. */
export type Dir = 'ab' | 'ba';

/**
 * What became of a packet. 'delivered', 'corrupt' (delivered with a bit flipped) and 'dup' (the
 * extra copy) are reported at arrival time; the drops at the time the packet was sent, except
 * 'down-drop' of a packet already in flight when its link went down (reported at arrival time).
 */
export type Fate = 'delivered' | 'corrupt' | 'dup' | 'lost' | 'queue-drop' | 'mtu-drop' | 'down-drop';

/** One packet's fate on one link, for onPacket hooks (e.g. a pcap tap). */
export interface PacketEvent {
  /** Virtual time of this event (arrival time for deliveries, send time for drops). */
  readonly t: number;
  /** When the sender handed the packet to the link. */
  readonly sentAt: number;
  readonly link: string;
  readonly dir: Dir;
  /** Sending and receiving node names. */
  readonly from: string;
  readonly to: string;
  /** The bytes as they arrive (or as dropped). Valid only during the hook call: copy to keep; never modify. */
  readonly pkt: Uint8Array;
  readonly fate: Fate;
}

/** Per-direction counters. Once nothing is in flight, sent + duplicated = delivered + dropped. */
export interface LinkCounters {
  sent: number; sentBytes: number;
  /** Arrivals at the far end, including duplicates and corrupted packets. */
  delivered: number; deliveredBytes: number;
  lost: number; duplicated: number; reordered: number; corrupted: number;
  queueDrops: number; mtuDrops: number; downDrops: number;
  /** lost + queueDrops + mtuDrops + downDrops. */
  dropped: number;
}

/** Why run() returned. */
export type StopReason = 'idle' | 'until' | 'max-events' | 'stop-when';

/** run() options; all optional. */
export interface RunOptions {
  /** Process events at times ≤ until, then advance the clock to `until` and stop. */
  until?: number;
  /** Stop after this many events (packet arrivals, callbacks and ticks) in this call. */
  maxEvents?: number;
  /** Checked before the first event and after each one; stop when it returns true. */
  stopWhen?: () => boolean;
}

export interface RunResult { reason: StopReason; now: number; events: number }

/** A link end as 'node:iface' (split at the last colon). */
export type EndSpec = string;

const newCounters = (): LinkCounters => ({
  sent: 0, sentBytes: 0, delivered: 0, deliveredBytes: 0, lost: 0, duplicated: 0, reordered: 0,
  corrupted: 0, queueDrops: 0, mtuDrops: 0, downDrops: 0, dropped: 0,
});

interface NodeSlot {
  readonly name: string;
  node: SimNode;
  /** Cached nextDeadline(); Infinity for null. */
  deadline: number;
  /** Interface name → the link direction that sends out of it. */
  readonly ifaces: Record<string, DirState>;
  /** The interface when exactly one is attached, else null. */
  single: string | null;
  routes: RouteTable | null;
}

interface LinkSlot {
  readonly name: string;
  up: boolean;
  /** Incremented each time the link goes down: packets sent in an earlier epoch never arrive. */
  epoch: number;
  ab: DirState;
  ba: DirState;
}

interface DirState {
  readonly link: LinkSlot;
  readonly dir: Dir;
  readonly from: NodeSlot;
  readonly to: NodeSlot;
  readonly toIface: string;
  cfg: LinkConfig;
  readonly rng: PrngState;
  /** When the transmitter finishes serialising everything queued so far. */
  busyUntil: number;
  /** Latest arrival time scheduled for an in-order packet (keeps jitter order-preserving). */
  lastArrival: number;
  readonly c: LinkCounters;
}

const ARRIVAL = 0, CALL = 1;

/** A heap entry: one shape for both kinds, so property access stays monomorphic. */
class Ev {
  constructor(
    readonly t: number,
    readonly seq: number,
    readonly kind: typeof ARRIVAL | typeof CALL,
    readonly ds: DirState | null,
    readonly pkt: Uint8Array | null,
    readonly fate: Fate,
    readonly epoch: number,
    readonly sentAt: number,
    readonly fn: ((now: number) => void) | null,
  ) {}
}

/**
 * Binary min-heap of Ev keyed by (t, seq). The keys live in parallel Float64Arrays so the
 * sift loops compare numbers in contiguous memory instead of chasing pointers to Ev objects
 * (the comparisons were most of the simulator's own cost).
 */
class EvHeap {
  private ts = new Float64Array(1024);
  private qs = new Float64Array(1024);
  private es: (Ev | null)[] = new Array<Ev | null>(1024).fill(null);
  size = 0;

  /** Time of the earliest event, Infinity when empty. */
  peekTime(): number { return this.size === 0 ? Infinity : this.ts[0]!; }

  push(e: Ev): void {
    if (this.size === this.ts.length) this.grow();
    const ts = this.ts, qs = this.qs, es = this.es, t = e.t, q = e.seq;
    let i = this.size++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pt = ts[p]!;
      if (pt < t || (pt === t && qs[p]! < q)) break;
      ts[i] = pt; qs[i] = qs[p]!; es[i] = es[p]!;
      i = p;
    }
    ts[i] = t; qs[i] = q; es[i] = e;
  }

  /** Remove and return the earliest event (the heap must not be empty). */
  pop(): Ev {
    const ts = this.ts, qs = this.qs, es = this.es;
    const top = es[0]!;
    const n = --this.size;
    const t = ts[n]!, q = qs[n]!, e = es[n]!;
    es[n] = null;
    if (n === 0) return top;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      const r = c + 1;
      if (r < n && (ts[r]! < ts[c]! || (ts[r] === ts[c] && qs[r]! < qs[c]!))) c = r;
      const ct = ts[c]!;
      if (t < ct || (t === ct && q < qs[c]!)) break;
      ts[i] = ct; qs[i] = qs[c]!; es[i] = es[c]!;
      i = c;
    }
    ts[i] = t; qs[i] = q; es[i] = e;
    return top;
  }

  private grow(): void {
    const n = this.ts.length * 2;
    const ts = new Float64Array(n), qs = new Float64Array(n);
    ts.set(this.ts); qs.set(this.qs);
    this.ts = ts; this.qs = qs;
    const es = new Array<Ev | null>(n).fill(null);
    for (let i = 0; i < this.size; i++) es[i] = this.es[i]!;
    this.es = es;
  }
}

function splitEnd(spec: EndSpec): [string, string] {
  const i = spec.lastIndexOf(':');
  if (i <= 0 || i === spec.length - 1) throw new Error(`sim: link end '${spec}' is not 'node:iface'`);
  return [spec.slice(0, i), spec.slice(i + 1)];
}

function checkConfig(c: LinkConfig, where: string): void {
  for (const k of ['loss', 'dup', 'reorder', 'corrupt'] as const) {
    if (!(c[k] >= 0 && c[k] <= 1)) throw new RangeError(`sim: ${where}: ${k} must be in [0, 1], got ${c[k]}`);
  }
  for (const k of ['delayMs', 'jitterMs', 'reorderMs', 'bitsPerSec', 'queueBytes', 'mtu'] as const) {
    if (!(c[k] >= 0) || !Number.isFinite(c[k])) throw new RangeError(`sim: ${where}: ${k} must be a finite number ≥ 0, got ${c[k]}`);
  }
}

const isPerDir = (s: LinkSpec): s is { ab?: Partial<LinkConfig>; ba?: Partial<LinkConfig> } => 'ab' in s || 'ba' in s;

/** Consecutive ticks at one instant that produce nothing and leave the deadline ≤ now, before we call it a livelock. */
const SPIN_LIMIT = 10_000;

/** The simulated network. See the file comment for the model and the ordering rules. */
export class Sim {
  /** The uint32 seed every random choice derives from. */
  readonly seed: number;
  /** A Clock reading this sim's virtual time (for drivers that take a Clock). */
  readonly clock: Clock;

  private t: number;
  private seq = 0;
  private readonly heap = new EvHeap();
  private readonly nodes: NodeSlot[] = [];
  private readonly nodeByName: Record<string, NodeSlot> = Object.create(null);
  private readonly links: Record<string, LinkSlot> = Object.create(null);
  private readonly root: PrngState;
  private hooks: ((ev: PacketEvent) => void)[] = [];
  private running = false;
  private total = 0;

  constructor(opts: { seed?: number; start?: number } = {}) {
    this.seed = opts.seed ?? 1;
    this.root = prngInit(this.seed);
    this.t = opts.start ?? 0;
    if (!Number.isFinite(this.t)) throw new RangeError(`sim: bad start time ${this.t}`);
    this.clock = { now: () => this.t };
  }

  /** Current virtual time (ms). */
  get now(): number { return this.t; }

  /** Events processed over the sim's lifetime (arrivals, callbacks, ticks). */
  get eventCount(): number { return this.total; }

  /** An independent PRNG stream for the caller (e.g. application data), derived from the seed and `label` only. */
  rng(label: string): PrngState {
    return fork(this.root, `user:${label}`);
  }

  // ---- topology ----------------------------------------------------------------------

  /** Add a node under a unique name. */
  addNode(name: string, node: SimNode): this {
    if (name in this.nodeByName) throw new Error(`sim: node '${name}' already exists`);
    const slot: NodeSlot = { name, node, deadline: Infinity, ifaces: Object.create(null), single: null, routes: null };
    this.nodes.push(slot);
    this.nodeByName[name] = slot;
    this.refresh(slot);
    return this;
  }

  /**
   * Put `node` in place of the node called `name` (say, a migrated connection resumed on a new
   * host): it keeps the name and interfaces, packets in flight arrive at it, the old node's
   * deadline is forgotten and the new one's read. Returns the old node.
   */
  replaceNode(name: string, node: SimNode): SimNode {
    const slot = this.slot(name);
    const old = slot.node;
    slot.node = node;
    slot.deadline = Infinity;
    if (node.poll) this.emit(slot, node.poll(this.t));
    this.refresh(slot);
    return old;
  }

  /** The node currently called `name`. */
  node(name: string): SimNode { return this.slot(name).node; }

  /** Node names, in the order they were added. */
  nodeNames(): string[] { return this.nodes.map((s) => s.name); }

  /** Link names, in the order they were added. */
  linkNames(): string[] { return Object.keys(this.links); }

  /**
   * Join `a` and `b` ('node:iface' each; the nodes must exist, the interfaces be free) with a
   * link called `name`. `spec` sets both directions alike, or `{ ab, ba }` each; unset fields
   * take DEFAULT_LINK.
   */
  addLink(name: string, a: EndSpec, b: EndSpec, spec: LinkSpec = {}): this {
    if (name in this.links) throw new Error(`sim: link '${name}' already exists`);
    const [an, ai] = splitEnd(a), [bn, bi] = splitEnd(b);
    const A = this.slot(an), B = this.slot(bn);
    if (ai in A.ifaces) throw new Error(`sim: ${a} is already attached`);
    if (bi in B.ifaces || (A === B && ai === bi)) throw new Error(`sim: ${b} is already attached`);
    const per = isPerDir(spec) ? spec : { ab: spec, ba: spec };
    const cab = { ...DEFAULT_LINK, ...per.ab }, cba = { ...DEFAULT_LINK, ...per.ba };
    checkConfig(cab, `link ${name} ab`);
    checkConfig(cba, `link ${name} ba`);
    const link = { name, up: true, epoch: 0 } as LinkSlot; // ab and ba are filled in just below
    const mk = (dir: Dir, from: NodeSlot, to: NodeSlot, toIface: string, cfg: LinkConfig): DirState => ({
      link, dir, from, to, toIface, cfg, rng: fork(this.root, `link:${name}:${dir}`),
      busyUntil: -Infinity, lastArrival: -Infinity, c: newCounters(),
    });
    link.ab = mk('ab', A, B, bi, cab);
    link.ba = mk('ba', B, A, ai, cba);
    this.links[name] = link;
    A.ifaces[ai] = link.ab;
    B.ifaces[bi] = link.ba;
    for (const s of A === B ? [A] : [A, B]) {
      const names = Object.keys(s.ifaces);
      s.single = names.length === 1 ? names[0]! : null;
    }
    return this;
  }

  /** Change some impairments of a link at the current time (both directions, or one). */
  setLinkConfig(name: string, cfg: Partial<LinkConfig>, dir?: Dir): void {
    const link = this.link(name);
    for (const ds of dir === undefined ? [link.ab, link.ba] : [link[dir]]) {
      const next = { ...ds.cfg, ...cfg };
      checkConfig(next, `link ${name} ${ds.dir}`);
      ds.cfg = next;
    }
  }

  /** A copy of one direction's configuration. */
  linkConfig(name: string, dir: Dir): LinkConfig { return { ...this.link(name)[dir].cfg }; }

  /**
   * Bring a link up or down now. Going down drops every packet in flight on it (they are
   * reported as 'down-drop' when they would have arrived) and every packet sent while down.
   * To cut a path at time t: `sim.at(t, () => sim.setLinkUp('l', false))`.
   */
  setLinkUp(name: string, up: boolean): void {
    const link = this.link(name);
    if (link.up === up) return;
    link.up = up;
    if (!up) {
      link.epoch++;
      // Whatever was queued at the transmitter is gone with the link.
      link.ab.busyUntil = link.ba.busyUntil = -Infinity;
      link.ab.lastArrival = link.ba.lastArrival = -Infinity;
    }
  }

  isLinkUp(name: string): boolean { return this.link(name).up; }

  /** A copy of one link's counters, per direction. */
  counters(name: string): { ab: LinkCounters; ba: LinkCounters } {
    const l = this.link(name);
    return { ab: { ...l.ab.c }, ba: { ...l.ba.c } };
  }

  /** The nodes and interfaces at a link's ends. */
  linkEnds(name: string): { a: { node: string; iface: string }; b: { node: string; iface: string } } {
    const l = this.link(name);
    return { a: { node: l.ab.from.name, iface: l.ba.toIface }, b: { node: l.ab.to.name, iface: l.ab.toIface } };
  }

  /**
   * Route a node's plain-Uint8Array output by destination address (longest prefix wins; same
   * prefix replaces). Only needed for nodes with more than one interface: a node with exactly
   * one uses it when no route matches.
   */
  addRoute(nodeName: string, cidr: string, iface: string): void {
    const s = this.slot(nodeName);
    (s.routes ??= new RouteTable()).set(cidr, iface);
  }

  /** Remove a node route; returns whether it existed. */
  deleteRoute(nodeName: string, cidr: string): boolean {
    return this.slot(nodeName).routes?.delete(cidr) ?? false;
  }

  // ---- application actions ---------------------------------------------------------------

  /**
   * Run `fn(now)` at virtual time t (≥ now). Callbacks at equal times run in the order they were
   * scheduled, interleaved FIFO with packet arrivals at that time. After fn returns, every
   * node's poll() is drained and every deadline re-read.
   */
  at(t: number, fn: (now: number) => void): void {
    if (!(t >= this.t) || !Number.isFinite(t)) throw new RangeError(`sim.at: time ${t} is before now (${this.t}) or not finite`);
    this.heap.push(new Ev(t, this.seq++, CALL, null, null, 'delivered', 0, t, fn));
  }

  /** `at(now + ms, fn)`. */
  after(ms: number, fn: (now: number) => void): void { this.at(this.t + ms, fn); }

  /**
   * Send `packets` from node `nodeName` now, exactly as if the node had returned them, then
   * re-read that node's deadline. For application calls made inside an `at` callback or
   * between runs.
   */
  inject(nodeName: string, packets: readonly SimOut[]): void {
    const s = this.slot(nodeName);
    this.emit(s, packets);
    this.refresh(s);
  }

  /** Re-read nodes' deadlines (all, or one) after changing them from outside a callback. */
  touch(nodeName?: string): void {
    if (nodeName === undefined) for (const s of this.nodes) this.refresh(s);
    else this.refresh(this.slot(nodeName));
  }

  /** Call `fn` for every packet fate on every link; returns a function that removes it. */
  onPacket(fn: (ev: PacketEvent) => void): () => void {
    this.hooks = [...this.hooks, fn];
    return () => { this.hooks = this.hooks.filter((h) => h !== fn); };
  }

  // ---- the event loop --------------------------------------------------------------------

  /** Process events in time order until a stop condition holds (see RunOptions, StopReason). */
  run(opts: RunOptions = {}): RunResult {
    if (this.running) throw new Error('sim.run: already running (called from inside a callback or node?)');
    const until = opts.until ?? Infinity;
    const maxEvents = opts.maxEvents ?? Infinity;
    const stopWhen = opts.stopWhen ?? null;
    if (Number.isNaN(until) || until < this.t) throw new RangeError(`sim.run: until ${until} is before now (${this.t})`);
    this.running = true;
    let n = 0, spin = 0, spinAt = NaN;
    try {
      this.settle();
      for (;;) {
        if (stopWhen !== null && stopWhen()) return { reason: 'stop-when', now: this.t, events: n };
        if (n >= maxEvents) return { reason: 'max-events', now: this.t, events: n };
        const ht = this.heap.peekTime();
        // Earliest node deadline; strict < keeps insertion order among equal deadlines.
        let nd = Infinity, ns: NodeSlot | null = null;
        for (const s of this.nodes) if (s.deadline < nd) { nd = s.deadline; ns = s; }
        const next = ht <= nd ? ht : nd;
        if (next > until || next === Infinity) {
          if (until !== Infinity) this.t = until;
          return { reason: next === Infinity ? 'idle' : 'until', now: this.t, events: n };
        }
        if (next > this.t) this.t = next;
        n++;
        this.total++;
        if (ht <= nd) {
          spin = 0;
          const ev = this.heap.pop();
          if (ev.kind === ARRIVAL) this.arrive(ev);
          else { ev.fn!(this.t); this.settle(); }
        } else {
          const s = ns!;
          const out = s.node.tick(this.t);
          this.emit(s, out);
          this.refresh(s);
          // A node that keeps asking for a tick at or before now and sends nothing would
          // spin forever at one instant: a bug in the node, so say so.
          if (out.length === 0 && s.deadline <= this.t) {
            if (spinAt !== this.t) { spinAt = this.t; spin = 0; }
            if (++spin >= SPIN_LIMIT) throw new Error(`sim: node '${s.name}' livelocked at t=${this.t}: tick() sends nothing and nextDeadline() stays ${s.deadline}`);
          }
        }
      }
    } finally {
      this.running = false;
    }
  }

  // ---- internals -------------------------------------------------------------------------

  private slot(name: string): NodeSlot {
    const s = this.nodeByName[name];
    if (s === undefined) throw new Error(`sim: no node '${name}'`);
    return s;
  }

  private link(name: string): LinkSlot {
    const l = this.links[name];
    if (l === undefined) throw new Error(`sim: no link '${name}'`);
    return l;
  }

  private refresh(s: NodeSlot): void {
    const d = s.node.nextDeadline();
    if (d === null) { s.deadline = Infinity; return; }
    if (Number.isNaN(d)) throw new Error(`sim: node '${s.name}' nextDeadline() returned NaN`);
    s.deadline = d;
  }

  /** Drain every node's poll() and re-read every deadline (after application actions). */
  private settle(): void {
    for (const s of this.nodes) {
      if (s.node.poll) this.emit(s, s.node.poll(this.t));
      this.refresh(s);
    }
  }

  private emit(s: NodeSlot, outs: readonly SimOut[]): void {
    for (let i = 0; i < outs.length; i++) {
      const o = outs[i]!;
      let pkt: Uint8Array, iface: string | null;
      if (o instanceof Uint8Array) {
        pkt = o;
        iface = (s.routes !== null ? s.routes.lookup(o) : null) ?? s.single;
        if (iface === null) throw new Error(`sim: node '${s.name}' sent a packet it has no route for (${Object.keys(s.ifaces).length} interfaces; see addRoute)`);
      } else {
        pkt = o.pkt;
        iface = o.iface;
      }
      const ds = s.ifaces[iface];
      if (ds === undefined) throw new Error(`sim: node '${s.name}' has no interface '${iface}' attached`);
      this.transmit(ds, pkt);
    }
  }

  private report(ds: DirState, pkt: Uint8Array, fate: Fate, t: number, sentAt: number): void {
    const ev: PacketEvent = { t, sentAt, link: ds.link.name, dir: ds.dir, from: ds.from.name, to: ds.to.name, pkt, fate };
    for (const h of this.hooks) h(ev);
  }

  private drop(ds: DirState, pkt: Uint8Array, fate: Fate): void {
    const c = ds.c;
    c.dropped++;
    if (fate === 'lost') c.lost++;
    else if (fate === 'queue-drop') c.queueDrops++;
    else if (fate === 'mtu-drop') c.mtuDrops++;
    else c.downDrops++;
    if (this.hooks.length > 0) this.report(ds, pkt, fate, this.t, this.t);
  }

  /** One packet onto one link direction at the current time: every impairment decided here. */
  private transmit(ds: DirState, pkt: Uint8Array): void {
    const cfg = ds.cfg, c = ds.c, rng = ds.rng, t = this.t, len = pkt.length;
    c.sent++;
    c.sentBytes += len;
    if (!ds.link.up) return this.drop(ds, pkt, 'down-drop');
    if (len > cfg.mtu) return this.drop(ds, pkt, 'mtu-drop');
    let depart = t;
    if (cfg.bitsPerSec > 0) {
      // A FIFO transmitter: the backlog in bytes is what is left to serialise at the link rate.
      const bytesPerMs = cfg.bitsPerSec / 8000;
      const backlog = ds.busyUntil > t ? (ds.busyUntil - t) * bytesPerMs : 0;
      if (backlog > 0 && backlog + len > cfg.queueBytes) return this.drop(ds, pkt, 'queue-drop');
      depart = (ds.busyUntil > t ? ds.busyUntil : t) + len / bytesPerMs;
      ds.busyUntil = depart;
    }
    if (chance(rng, cfg.loss)) return this.drop(ds, pkt, 'lost');
    let arrive = depart + cfg.delayMs;
    if (cfg.jitterMs > 0) arrive += nextFloat(rng) * cfg.jitterMs;
    if (arrive < ds.lastArrival) arrive = ds.lastArrival; // jitter alone never reorders
    ds.lastArrival = arrive;
    const copy = chance(rng, cfg.dup) ? pkt.slice() : null;
    let fate: Fate = 'delivered';
    if (len > 0 && chance(rng, cfg.corrupt)) {
      const bit = nextInt(rng, 0, len * 8);
      pkt[bit >>> 3]! ^= 1 << (bit & 7);
      fate = 'corrupt';
      c.corrupted++;
    }
    if (chance(rng, cfg.reorder)) {
      arrive += cfg.reorderMs * (1 - nextFloat(rng)); // (0, reorderMs]: strictly later than in-order
      c.reordered++;
    }
    const epoch = ds.link.epoch;
    this.heap.push(new Ev(arrive, this.seq++, ARRIVAL, ds, pkt, fate, epoch, t, null));
    if (copy !== null) {
      c.duplicated++;
      this.heap.push(new Ev(arrive, this.seq++, ARRIVAL, ds, copy, 'dup', epoch, t, null));
    }
  }

  private arrive(ev: Ev): void {
    const ds = ev.ds!, pkt = ev.pkt!, c = ds.c;
    if (!ds.link.up || ev.epoch !== ds.link.epoch) {
      c.dropped++;
      c.downDrops++;
      if (this.hooks.length > 0) this.report(ds, pkt, 'down-drop', this.t, ev.sentAt);
      return;
    }
    c.delivered++;
    c.deliveredBytes += pkt.length;
    if (this.hooks.length > 0) this.report(ds, pkt, ev.fate, this.t, ev.sentAt);
    const s = ds.to;
    this.emit(s, s.node.receive(pkt, this.t, ds.toIface));
    this.refresh(s);
  }
}
