// Link-layer impairment for any Link (the kernel here has no netem, PEERS.md §1): seeded loss,
// reordering, duplication and delay, applied in ferry's own link, on the real clock.
//
// Semantics per packet and direction (the same as tun/sim.ts, on real time):
//   - lost with probability `loss`;
//   - a survivor is duplicated with probability `dup` (an intact copy follows it at once);
//   - it is held back with probability `reorder` for an extra (0, reorderMs] ms, so packets
//     sent after it overtake it;
//   - every packet is delayed by `delay` ms (order-preserving on its own).
// With delay 0 nothing but the reordered packets waits: the rest of a batch goes through in the
// same call, as one batch. Held packets are copied (a received packet is a view into the
// device's reused buffer) and released by one timer per direction, in a batch.
// Randomness: one xoshiro stream per direction, forked from `seed` (tun/prng.ts), so a run's
// decisions depend only on the seed and the packet order in that direction.
import type { Link } from './driver.ts';
import { chance, fork, nextFloat, prngInit } from './prng.ts';
import type { PrngState } from './prng.ts';

/** Which way an impairment applies: packets to the host ('in'), from it ('out'), or both. */
export type ImpairDir = 'in' | 'out' | 'both';

export interface ImpairSpec {
  /** Probabilities in [0, 1]. */
  loss: number; reorder: number; dup: number;
  /** Fixed one-way delay (ms, ≥ 0). */
  delay: number;
  /** Largest extra hold-back of a reordered packet (ms, > 0; default 2). */
  reorderMs: number;
  /** PRNG seed (uint32; default 1). */
  seed: number;
  dir: ImpairDir;
}

export const DEFAULT_IMPAIR: Readonly<ImpairSpec> = { loss: 0, reorder: 0, dup: 0, delay: 0, reorderMs: 2, seed: 1, dir: 'both' };

/** A bad --impair spec; the message says which part and what is allowed. */
export class ImpairSpecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImpairSpecError';
  }
}

const KEYS = 'loss, reorder, dup, delay, reorderMs, seed, dir';

/**
 * Parse `loss=0.02,reorder=0.02,dup=0.01,delay=5,seed=1` (any subset, any order; `reorder-ms`
 * is accepted for reorderMs; percentages such as `loss=2%` too). Throws ImpairSpecError.
 */
export function parseImpair(text: string): ImpairSpec {
  if (typeof text !== 'string') throw new ImpairSpecError('impairment spec must be a string like loss=0.02,reorder=0.02,dup=0.01');
  const spec: ImpairSpec = { ...DEFAULT_IMPAIR };
  const seen = new Set<string>();
  const parts = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (parts.length === 0) throw new ImpairSpecError(`empty impairment spec; give key=value pairs (${KEYS}), e.g. loss=0.02,reorder=0.02,dup=0.01`);
  for (const part of parts) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new ImpairSpecError(`"${part}": expected key=value (keys: ${KEYS})`);
    const rawKey = part.slice(0, eq).trim();
    const key = rawKey === 'reorder-ms' || rawKey === 'reorder_ms' ? 'reorderMs' : rawKey;
    const val = part.slice(eq + 1).trim();
    if (seen.has(key)) throw new ImpairSpecError(`"${rawKey}" given twice`);
    seen.add(key);
    switch (key) {
      case 'loss': case 'reorder': case 'dup': {
        const pct = val.endsWith('%');
        const n = num(pct ? val.slice(0, -1) : val, rawKey);
        const p = pct ? n / 100 : n;
        if (!(p >= 0 && p <= 1)) throw new ImpairSpecError(`${rawKey}=${val}: a probability must be in 0..1 (or 0%..100%)`);
        spec[key] = p;
        break;
      }
      case 'delay': case 'reorderMs': {
        const n = num(val, rawKey);
        if (!(n >= 0 && n <= 60_000)) throw new ImpairSpecError(`${rawKey}=${val}: milliseconds in 0..60000`);
        if (key === 'reorderMs' && n === 0) throw new ImpairSpecError(`${rawKey}=0: a reordered packet must be held back for some time (> 0 ms)`);
        spec[key] = n;
        break;
      }
      case 'seed': {
        const n = num(val, rawKey);
        if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new ImpairSpecError(`seed=${val}: an integer in 0..4294967295`);
        spec.seed = n;
        break;
      }
      case 'dir':
        if (val !== 'in' && val !== 'out' && val !== 'both') throw new ImpairSpecError(`dir=${val}: one of in, out, both`);
        spec.dir = val;
        break;
      default:
        throw new ImpairSpecError(`unknown impairment "${rawKey}" (keys: ${KEYS})`);
    }
  }
  return spec;
}

function num(s: string, key: string): number {
  if (!/^[+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/.test(s)) throw new ImpairSpecError(`${key}=${s}: not a number`);
  return Number(s);
}

/** The spec as text, in parseImpair's syntax. */
export function formatImpair(s: ImpairSpec): string {
  return `loss=${s.loss},reorder=${s.reorder},dup=${s.dup},delay=${s.delay},reorderMs=${s.reorderMs},seed=${s.seed},dir=${s.dir}`;
}

/** Counters of one direction. */
export interface ImpairDirStats { packets: number; lost: number; duplicated: number; reordered: number; delayed: number }

interface Held { at: number; n: number; pkt: Uint8Array }

/** One direction's impairment: decides each packet's fate and releases held packets on time. */
class Lane {
  readonly stats: ImpairDirStats = { packets: 0, lost: 0, duplicated: 0, reordered: 0, delayed: 0 };
  private readonly rng: PrngState;
  private held: Held[] = [];
  private n = 0;
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  private closed = false;

  constructor(
    private readonly spec: ImpairSpec,
    seed: PrngState,
    private readonly active: boolean,
    private readonly copy: boolean,
    private readonly deliver: (pkts: Uint8Array[]) => void,
    private readonly now: () => number,
  ) {
    this.rng = seed;
  }

  push(pkts: Uint8Array[]): void {
    if (this.closed) return;
    if (!this.active) { this.deliver(pkts); return; }
    const s = this.spec, rng = this.rng, st = this.stats;
    const now = this.now();
    const pass: Uint8Array[] = [];
    for (const p of pkts) {
      st.packets++;
      if (chance(rng, s.loss)) { st.lost++; continue; }
      const copies = chance(rng, s.dup) ? 2 : 1;
      if (copies === 2) st.duplicated++;
      let wait = s.delay;
      if (chance(rng, s.reorder)) { st.reordered++; wait += s.reorderMs * (1 - nextFloat(rng)); }
      for (let c = 0; c < copies; c++) {
        if (wait <= 0) { pass.push(p); continue; }
        st.delayed++;
        this.hold({ at: now + wait, n: this.n++, pkt: this.copy ? p.slice() : p });
      }
    }
    if (pass.length > 0) this.deliver(pass);
  }

  close(): void {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.held = [];
  }

  /** Insert in release order (by time, then arrival): from the back, since most packets arrive in order. */
  private hold(h: Held): void {
    const q = this.held;
    let i = q.length;
    while (i > 0 && q[i - 1]!.at > h.at) i--;
    q.splice(i, 0, h);
    this.arm();
  }

  private arm(): void {
    const first = this.held[0];
    if (first === undefined || this.closed) return;
    if (this.timer !== null && this.timerAt <= first.at) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timerAt = first.at;
    this.timer = setTimeout(this.release, Math.max(0, Math.ceil(first.at - this.now())));
    this.timer.unref(); // held packets alone never keep a process alive
  }

  private readonly release = (): void => {
    this.timer = null;
    this.timerAt = Infinity;
    if (this.closed) return;
    const now = this.now() + 0.5; // setTimeout rounds to whole ms: release what is due within it
    let k = 0;
    while (k < this.held.length && this.held[k]!.at <= now) k++;
    const due = this.held.splice(0, k).map((h) => h.pkt);
    if (due.length > 0) this.deliver(due);
    this.arm();
  };
}

/** A Link that impairs another: `new ImpairLink(tunLink, 'loss=0.02,reorder=0.02,dup=0.01,seed=1')`. */
export class ImpairLink implements Link {
  readonly inner: Link;
  readonly spec: ImpairSpec;
  private readonly inLane: Lane;
  private readonly outLane: Lane;
  private cb: ((pkts: Uint8Array[]) => void) | null = null;

  constructor(inner: Link, spec: ImpairSpec | string, clock: () => number = () => performance.now()) {
    this.inner = inner;
    this.spec = typeof spec === 'string' ? parseImpair(spec) : { ...spec };
    const root = prngInit(this.spec.seed);
    const any = this.spec.loss > 0 || this.spec.dup > 0 || this.spec.reorder > 0 || this.spec.delay > 0;
    const d = this.spec.dir;
    // Received packets may be views into a reused device buffer: held ones are copied. Packets
    // the host sends are fresh buffers the link owns: no copy needed.
    this.inLane = new Lane(this.spec, fork(root, 'in'), any && d !== 'out', true, (p) => this.cb?.(p), clock);
    this.outLane = new Lane(this.spec, fork(root, 'out'), any && d !== 'in', false, (p) => inner.send(p), clock);
    inner.onReceive((pkts) => this.inLane.push(pkts));
  }

  /** Counters: `in` is toward the host, `out` from it. */
  get stats(): { in: ImpairDirStats; out: ImpairDirStats } {
    return { in: this.inLane.stats, out: this.outLane.stats };
  }

  send(pkts: Uint8Array[]): void { this.outLane.push(pkts); }

  onReceive(cb: (pkts: Uint8Array[]) => void): void { this.cb = cb; }

  close(): void {
    this.inLane.close();
    this.outLane.close();
    this.cb = null;
    this.inner.close();
  }
}
