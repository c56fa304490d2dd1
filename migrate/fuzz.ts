// The migration fuzzer (`ferry fuzz`): each run builds a random scenario on the simulated
// network (tun/sim.ts) and moves the ferry endpoint between nodes at random moments, through
// the real path a migration takes: freeze, export, encode, seal (HMAC envelope), ship, open
// (replay guard), decode, import on a node with another clock, replay the held packets,
// switch the route, forward stragglers, release.
//
// Topology (one seed decides everything):
//
//     peer P ──(impaired link "pr")── router R ──"rf0"── F0
//                                              ├─"rf1"── F1     F0..F2 share the service
//                                              └─"rf2"── F2     address; R routes it to one
//
// P and every F run a ferry stack, each on its own clock (a random offset, sometimes
// fractional, from the sim's time), so every resume crosses clocks. The ferry application
// (server or client) sends and receives pattern streams with random pacing, stalls its reader
// to close the window, half-closes, and closes; its state travels in the snapshot's opaque
// application blob. Migrations fire on triggers: a random time, during the handshake, in loss
// recovery, with a zero window, mid-reassembly, during shutdown, in TIME-WAIT, and bursts of
// migrations back and forth.
//
// A run fails if: any byte arrives twice, out of order, wrong or not at all; a connection
// does not complete (both sides see every byte, EOF and the end of the connection, and every
// TCB finally leaves the tables); a node the connection has left answers it; a TSval sent by the ferry endpoint goes
// backwards (PAWS, RFC 7323 §5); a state (at every TCP state change and at random points, and
// every migrated one) does not round-trip through the snapshot codec exactly; a replayed
// envelope is accepted; the application errors; or the simulation exceeds its limits.
import { isDeepStrictEqual } from 'node:util';
import type { AppEvent, ConnId, ListenerId, StackEvent, ResultOf, TcpSocketConfig, CcAlgo } from '../stack/api.ts';
import { createStack, defaultStackConfig, stackNextDeadline, stackStep, type StackState } from '../stack/stack.ts';
import {
  exportConn, exportListener, freezeConn, freezeListener, importConn, importListener, peekConn, releaseConn, releaseListener,
  reserve, takeHeld, type ConnExport,
} from '../stack/freeze.ts';
import { parseIp } from '../stack/wire/ip.ts';
import { parseTcp, tcpOptionsInfo, RST } from '../stack/wire/tcp.ts';
import { seqLt } from '../stack/wire/seq.ts';
import type { Tcb } from '../stack/tcp/tcb.ts';
import { Sim, type LinkConfig, type SimNode, type SimOut } from '../tun/sim.ts';
import { Router } from '../tun/sim-nodes.ts';
import { chance, fork, nextFloat, nextInt, nextU32, prngInit, type PrngState } from '../tun/prng.ts';
import { decodeSnapshot, encodeSnapshot, type Snapshot } from './snapshot.ts';
import { ReplayGuard, openSnapshot, sealSnapshot } from './envelope.ts';

export const TRIGGERS = ['time', 'handshake', 'recovery', 'zero-window', 'reassembly', 'shutdown', 'time-wait', 'burst'] as const;
export type Trigger = typeof TRIGGERS[number];

export interface FuzzResult {
  seed: number;
  ok: boolean;
  why: string;
  /** Migrations that happened, by the trigger that fired them. */
  migrations: Partial<Record<Trigger, number>>;
  /** States that went through the codec. */
  roundTrips: number;
  virtualMs: number;
  events: number;
  scenario: string;
}

const P_ADDR = '10.50.0.1', S_ADDR = '10.50.0.2', PORT = 7000;
const F_NODES = 3;
const KEY = new Uint8Array(32).map((_, i) => 0xa0 ^ i);
/**
 * A seeded byte pattern of prime length `len`, stored twice over so any window of up to `len`
 * bytes starting below `len` is one contiguous subarray (the fuzzers' expected payloads).
 */
export function patternTable(seed: number, len: number): Uint8Array {
  const r = prngInit(seed);
  const t = new Uint8Array(len * 2);
  for (let i = 0; i < len; i++) t[i] = nextU32(r) & 0xff;
  t.copyWithin(len, 0, len);
  return t;
}

/**
 * When the endpoint under test moves (both fuzzers): each scenario trigger fires at most once,
 * when `check`'s predicate first holds for it on the current node ('time' ones also fire by
 * themselves at their time); a 'burst' trigger is followed by 2–4 more moves, each queued by
 * `afterMove` a random 0–40 ms after the previous one ends. `queued` is true from queueing to
 * the start of the move (the move clears it, or sets it again when it must wait).
 */
export class MigrationTriggers {
  queued = false;
  private readonly fired = new Set<number>();
  private burst = 0;

  constructor(
    private readonly sim: Sim,
    private readonly triggers: readonly { kind: Trigger; at: number }[],
    private readonly rng: PrngState,
    private readonly off: boolean,
    private readonly moving: () => boolean,
    private readonly move: (kind: Trigger) => void,
  ) {
    triggers.forEach((t, k) => {
      if (t.kind === 'time' && !off) sim.at(t.at, () => { if (!moving() && !this.queued && !this.fired.has(k)) { this.fired.add(k); this.queue('time'); } });
    });
  }

  /** The first trigger not yet fired whose condition holds now queues a move. */
  check(hit: (t: { kind: Trigger; at: number }) => boolean): void {
    if (this.queued || this.off) return;
    for (let k = 0; k < this.triggers.length; k++) {
      if (this.fired.has(k)) continue;
      const t = this.triggers[k]!;
      if (!hit(t)) continue;
      this.fired.add(k);
      if (t.kind === 'burst') this.burst = nextInt(this.rng, 2, 5);
      this.queue(t.kind);
      return;
    }
  }

  /** A move finished: the next one of a burst, if any. */
  afterMove(): void {
    if (this.burst <= 0) return;
    this.burst--;
    this.sim.at(this.sim.now + nextInt(this.rng, 0, 40), () => { if (!this.moving() && !this.queued) { this.queued = true; this.move('burst'); } });
  }

  private queue(kind: Trigger): void {
    this.queued = true;
    this.sim.at(this.sim.now, () => this.move(kind));
  }
}

/**
 * The sim time whose node time (sim time + off) is at least `d`. Floating point: (d - off) + off
 * may fall just short of d, and a node ticked before its deadline would do nothing.
 */
export function simTimeFor(d: number, off: number): number {
  let t = d - off;
  for (let i = 0; i < 8 && t + off < d; i++) t += Math.max(Math.abs(t) * 2 ** -52, 2 ** -1074);
  return t;
}

/** Pattern table (prime length) shared by every stream. */
const TABLE_LEN = 8191;
const TABLE = patternTable(99, TABLE_LEN);

/** A broken invariant found by a fuzz run. */
export class FuzzError extends Error {}

// ------------------------------------------------------------------------------ node

/** A ferry stack as a sim node on its own clock: stack time = sim time + off. */
class FNode implements SimNode {
  st: StackState;
  out: Uint8Array[] = [];
  /** Called with every step's application events, and after every step (for checks). */
  onEvents: (evs: AppEvent[], n: FNode) => void = () => {};
  afterStep: (n: FNode) => void = () => {};
  constructor(readonly name: string, addr: string, tcp: Partial<TcpSocketConfig>, readonly off: number, secret: Uint8Array, readonly sim: Sim) {
    const c = defaultStackConfig([addr]);
    this.st = createStack({ ...c, tcp: { ...c.tcp, ...tcp } }, secret, off);
  }
  now(simNow = this.sim.now): number { return simNow + this.off; }
  call<E extends StackEvent>(ev: E, simNow = this.sim.now): ResultOf<E> {
    const r = stackStep(this.st, ev, this.now(simNow));
    for (const p of r.out) this.out.push(p);
    if (r.events.length > 0) this.onEvents(r.events, this);
    this.afterStep(this);
    return r.result;
  }
  private take(): SimOut[] { const o = this.out; this.out = []; return o; }
  receive(pkt: Uint8Array, now: number): readonly SimOut[] { this.call({ type: 'packet', data: pkt }, now); return this.take(); }
  tick(now: number): readonly SimOut[] { this.call({ type: 'tick' }, now); return this.take(); }
  poll(): readonly SimOut[] { return this.take(); }
  nextDeadline(): number | null {
    const d = stackNextDeadline(this.st);
    return d === null ? null : simTimeFor(d, this.off);
  }
}

// ------------------------------------------------------------------------------ application

/** One side's application state: plain data (the ferry side's travels in the snapshot blob). */
interface App {
  role: 'server' | 'client';
  listener: ListenerId | null;
  id: ConnId | null;
  txTotal: number; txSent: number; txBase: number; shut: boolean;
  rxExpect: number; rxGot: number; rxBase: number; eof: boolean;
  closed: boolean; closeCalled: boolean;
  /** Pacing. */
  maxChunk: number; readMax: number; readEvery: number; writeEvery: number;
  stallFrom: number; stallUntil: number;
  closeOnEof: boolean;
  bad: string | null;
  rng: PrngState;
}

function newApp(role: 'server' | 'client', rng: PrngState, txTotal: number, rxExpect: number, txBase: number, rxBase: number): App {
  const big = chance(rng, 0.5);
  const stall = chance(rng, 0.35);
  const stallFrom = stall ? nextInt(rng, 0, 2000) : 0;
  // Paced readers and writers move at least ~5 KB/s, so no scenario crawls for minutes.
  const readEvery = chance(rng, 0.5) ? 0 : nextInt(rng, 1, 80);
  const writeEvery = chance(rng, 0.5) ? 0 : nextInt(rng, 1, 60);
  return {
    role, listener: null, id: null,
    txTotal, txSent: 0, txBase, shut: false,
    rxExpect, rxGot: 0, rxBase, eof: false,
    closed: false, closeCalled: false,
    maxChunk: big ? nextInt(rng, 1000, 40000) : nextInt(rng, writeEvery > 0 ? writeEvery * 5 : 1, 3000),
    readMax: chance(rng, 0.5) ? 1 << 20 : nextInt(rng, readEvery > 0 ? readEvery * 5 : 1, 5000),
    readEvery, writeEvery,
    stallFrom, stallUntil: stall ? stallFrom + nextInt(rng, 50, 3000) : 0,
    closeOnEof: chance(rng, 0.5),
    bad: null,
    rng,
  };
}

const dataDone = (a: App) => a.bad === null && a.rxGot === a.rxExpect && a.eof && a.shut && a.txSent === a.txTotal;
const appDone = (a: App) => a.bad === null && a.rxGot === a.rxExpect && a.eof && a.shut && a.txSent === a.txTotal && (a.closed || a.closeCalled);

// ------------------------------------------------------------------------------ scenario

interface Scenario {
  ferryRole: 'server' | 'client';
  bytesFP: number; bytesPF: number;
  tcpP: Partial<TcpSocketConfig>; tcpF: Partial<TcpSocketConfig>;
  link: Partial<LinkConfig>;
  rfDelay: number;
  triggers: { kind: Trigger; at: number }[];
  offsets: number[];
}

function pickTcp(r: PrngState): Partial<TcpSocketConfig> {
  const bufs = [2048, 4096, 8192, 16384, 65536, 262144];
  return {
    timestamps: chance(r, 0.7), sack: chance(r, 0.7), wscale: chance(r, 0.6),
    rcvBuf: bufs[nextInt(r, 0, bufs.length)]!, sndBuf: bufs[nextInt(r, 0, bufs.length)]!,
    cc: (chance(r, 0.5) ? 'cubic' : 'newreno') as CcAlgo,
    delayedAck: chance(r, 0.6), noDelay: chance(r, 0.3),
    msl: nextInt(r, 500, 4000), initialRto: chance(r, 0.5) ? 1000 : 300,
    minRto: chance(r, 0.5) ? 200 : 50, maxRetries: 30, synRetries: 12, synAckRetries: 12,
    ...(chance(r, 0.3) ? { ecn: (['off', 'accept', 'on'] as const)[nextInt(r, 0, 3)]! } : {}),
  };
}

function pickScenario(seed: number): Scenario {
  const r = prngInit(seed);
  const size = () => {
    const k = nextFloat(r);
    return k < 0.15 ? 0 : k < 0.5 ? nextInt(r, 1, 4000) : k < 0.85 ? nextInt(r, 4000, 60000) : nextInt(r, 60000, 250000);
  };
  const link: Partial<LinkConfig> = {
    delayMs: nextInt(r, 1, 30), jitterMs: chance(r, 0.5) ? nextInt(r, 0, 5) : 0,
    loss: chance(r, 0.6) ? nextFloat(r) * 0.08 : 0,
    reorder: chance(r, 0.4) ? nextFloat(r) * 0.08 : 0, reorderMs: nextInt(r, 1, 20),
    dup: chance(r, 0.3) ? nextFloat(r) * 0.03 : 0,
  };
  if (chance(r, 0.2)) { link.bitsPerSec = nextInt(r, 1, 20) * 1e6; link.queueBytes = nextInt(r, 3000, 60000); }
  const triggers: { kind: Trigger; at: number }[] = [];
  const n = nextInt(r, 1, 6);
  for (let i = 0; i < n; i++) triggers.push({ kind: TRIGGERS[nextInt(r, 0, TRIGGERS.length)]!, at: nextInt(r, 0, 3000) });
  if (!triggers.some((t) => t.kind === 'time')) triggers.push({ kind: 'time', at: nextInt(r, 0, 1500) });
  const offsets: number[] = [];
  for (let i = 0; i <= F_NODES; i++) {
    const o = nextInt(r, 0, 4) === 0 ? 0 : nextInt(r, -5_000_000, 2_000_000_000);
    offsets.push(chance(r, 0.3) ? o + nextFloat(r) : o);
  }
  return {
    ferryRole: chance(r, 0.5) ? 'server' : 'client', bytesFP: size(), bytesPF: size(),
    tcpP: pickTcp(r), tcpF: pickTcp(r), link, rfDelay: nextInt(r, 0, 3), triggers, offsets,
  };
}

// ------------------------------------------------------------------------------ run

export interface FuzzOptions {
  /** Give up at this virtual time (ms). */
  limitMs?: number;
  /** Probability of a codec round trip after an ordinary step (state changes are always checked). */
  sample?: number;
  /** No migrations (checks the harness itself). */
  noMigrate?: boolean;
  /** Print every packet on the peer's link (debugging a seed). */
  trace?: (line: string) => void;
  /** Break every resume on purpose (tests that the fuzzer notices). */
  fault?: 'tsval-backwards' | 'lose-unread';
}

/** One fuzz run. Never throws: failures are reported in the result. */
export function fuzzTcp(seed: number, o: FuzzOptions = {}): FuzzResult {
  const sc = pickScenario(seed);
  const res: FuzzResult = { seed, ok: false, why: '', migrations: {}, roundTrips: 0, virtualMs: 0, events: 0, scenario: describe(sc) };
  try {
    runScenario(seed, sc, o, res);
    res.ok = true;
    res.why = 'ok';
  } catch (e) {
    res.ok = false;
    res.why = e instanceof FuzzError ? e.message : `exception: ${(e as Error).stack ?? String(e)}`;
  }
  return res;
}

function describe(sc: Scenario): string {
  const l = sc.link;
  return `ferry ${sc.ferryRole}, ${sc.bytesFP} B ferry→peer, ${sc.bytesPF} B peer→ferry, link delay ${l.delayMs} ms loss ${((l.loss ?? 0) * 100).toFixed(1)}% reorder ${((l.reorder ?? 0) * 100).toFixed(1)}% dup ${((l.dup ?? 0) * 100).toFixed(1)}%${l.bitsPerSec ? ` ${l.bitsPerSec / 1e6} Mbit/s` : ''}, `
    + `ferry tcp ${JSON.stringify(sc.tcpF)}, peer tcp ${JSON.stringify(sc.tcpP)}, triggers ${sc.triggers.map((t) => (t.kind === 'time' ? `time@${t.at}` : t.kind)).join(',')}`;
}

function runScenario(seed: number, sc: Scenario, o: FuzzOptions, res: FuzzResult): void {
  const sim = new Sim({ seed });
  const rng = prngInit(seed ^ 0x5eed);
  const secret = (i: number) => new Uint8Array(32).map((_, k) => (seed * 31 + i * 7 + k) & 0xff);
  const P = new FNode('p', P_ADDR, sc.tcpP, sc.offsets[0]!, secret(0), sim);
  const F: FNode[] = [];
  for (let i = 0; i < F_NODES; i++) F.push(new FNode(`f${i}`, S_ADDR, sc.tcpF, sc.offsets[i + 1]!, secret(1 + (i % 2)), sim));
  const R = new Router([[`${P_ADDR}/32`, 'p'], [`${S_ADDR}/32`, 'f0']]);
  sim.addNode('p', P).addNode('r', R);
  F.forEach((f) => sim.addNode(f.name, f));
  sim.addLink('pr', 'p:eth0', 'r:p', sc.link);
  F.forEach((f, i) => sim.addLink(`rf${i}`, `r:f${i}`, `${f.name}:eth0`, { delayMs: sc.rfDelay }));
  // Random round trips on top of every state change and every migration: a few percent of
  // steps, at most 300 per run (a run of thousands of tiny segments would spend its time here).
  const sample = o.sample ?? 0.03;
  let sampled = 0;
  const fail: (why: string) => never = (why) => { throw new FuzzError(`t=${sim.now.toFixed(3)}: ${why}`); };

  // --- applications
  const pApp = newApp(sc.ferryRole === 'server' ? 'client' : 'server', fork(rng, 'papp'), sc.bytesPF, sc.bytesFP, 3001, 17);
  let fApp: App | null = newApp(sc.ferryRole, fork(rng, 'fapp'), sc.bytesFP, sc.bytesPF, 17, 3001);
  let cur = 0;                      // index of the F node that runs the ferry application
  let migrating = false;            // between freeze and resume: the ferry application is suspended
  const draining: Set<number> = new Set(); // nodes still holding frozen entries (stragglers forwarded)

  type Side = 'p' | 'f';
  const nodeOf = (side: Side): FNode => (side === 'p' ? P : F[cur]!);
  /** The side's application state now (the ferry's is replaced by its decoded copy on every resume). */
  const appOf = (side: Side): App | null => (side === 'p' ? pApp : fApp);
  let pendingF: ((a: App) => void)[] = [];

  // Application events are never handled in the middle of another application action (a recv
  // whose 'eof' event re-entered the reader before the recv returned would misorder the
  // stream): they queue, and run when the current action is over.
  let appBusy = 0;
  const evq: [Side, AppEvent][] = [];
  const flush = () => {
    if (appBusy > 0) return;
    while (evq.length > 0) {
      const [side, e] = evq.shift()!;
      appBusy++;
      try { handle(side, e); } finally { appBusy--; }
    }
  };
  const act = (fn: () => void) => {
    appBusy++;
    try { fn(); } finally { appBusy--; }
    flush();
  };

  /** Run an application action later; the ferry application's actions wait while it migrates. */
  const later = (side: Side, ms: number, fn: (a: App) => void) => {
    sim.at(sim.now + ms, () => {
      const a = appOf(side);
      if (side === 'f' && (migrating || a === null)) { pendingF.push(fn); return; }
      act(() => fn(a!));
    });
  };

  const pump = (side: Side) => {
    const a = appOf(side);
    if (a === null || a.id === null || a.bad !== null) return;
    const n = nodeOf(side);
    while (a.txSent < a.txTotal) {
      const len = Math.min(nextInt(a.rng, 1, a.maxChunk + 1), a.txTotal - a.txSent, TABLE_LEN);
      const off = (a.txBase + a.txSent) % TABLE_LEN;
      const r = n.call({ type: 'send', id: a.id, data: TABLE.subarray(off, off + len) });
      if (!r.ok) { a.bad = `send failed: ${r.code}`; return; }
      a.txSent += r.bytes;
      if (r.bytes < len) return; // 'writable' resumes
      if (a.writeEvery > 0 && chance(a.rng, 0.5)) { later(side, a.writeEvery, () => pump(side)); return; }
    }
    if (!a.shut) {
      a.shut = true;
      const r = n.call({ type: 'shutdown', id: a.id });
      if (!r.ok) a.bad = `shutdown failed: ${r.code}`;
    }
    maybeClose(side);
  };

  /** Read what is there (`force`: all of it now, as after the connection ended). */
  const drain = (side: Side, force = false) => {
    const a = appOf(side);
    if (a === null || a.id === null || a.bad !== null || a.eof) return;
    const n = nodeOf(side);
    if (!force && sim.now >= a.stallFrom && sim.now < a.stallUntil) { later(side, a.stallUntil - sim.now, () => drain(side)); return; }
    for (let k = 0; k < 64; k++) {
      const r = n.call({ type: 'recv', id: a.id, max: Math.max(1, nextInt(a.rng, 1, a.readMax + 1)) });
      if (!r.ok) { if (r.code !== 'EBADF') a.bad = `recv failed: ${r.code}`; return; }
      const d = r.data;
      for (let i = 0; i < d.length; i++) {
        if (a.rxGot + i >= a.rxExpect) { a.bad = `received more than the ${a.rxExpect} bytes sent`; return; }
        if (d[i] !== TABLE[(a.rxBase + a.rxGot + i) % TABLE_LEN]) { a.bad = `byte ${a.rxGot + i} differs`; return; }
      }
      a.rxGot += d.length;
      if (r.eof) {
        if (a.rxGot !== a.rxExpect) { a.bad = `EOF after ${a.rxGot} of ${a.rxExpect} bytes`; return; }
        a.eof = true;
        maybeClose(side);
        return;
      }
      if (d.length === 0) return;
      if (a.readEvery > 0 && !force) { later(side, a.readEvery, () => drain(side)); return; }
    }
    if (force) drain(side, true); else later(side, 0, () => drain(side));
  };

  const maybeClose = (side: Side) => {
    const a = appOf(side);
    if (a === null || a.id === null || a.closeCalled) return;
    if ((a.closeOnEof && a.eof && a.shut) || a.closed) {
      a.closeCalled = true;
      nodeOf(side).call({ type: 'close', id: a.id });
    }
  };

  const handle = (side: Side, ev: AppEvent) => {
    const a = appOf(side);
    if (a === null) return;
    switch (ev.type) {
      case 'accept-ready': {
        if (a.id !== null) return;
        const r = nodeOf(side).call({ type: 'accept', listener: ev.listener });
        if (r.ok && r.id !== null) { a.id = r.id; pump(side); drain(side); }
        return;
      }
      case 'connected': if (ev.id === a.id) pump(side); return;
      case 'writable': if (ev.id === a.id) pump(side); return;
      case 'readable': case 'eof': if (ev.id === a.id) drain(side); return;
      case 'error':
        // A reset during the closing handshake after every byte has arrived both ways (a FIN
        // retransmitted past the peer's TIME-WAIT draws a RST) ends nothing that mattered.
        if (ev.id === a.id && dataDone(pApp) && fApp !== null && dataDone(fApp)) { a.closed = true; return; }
        a.bad = `connection error ${ev.code}`;
        return;
      case 'closed':
        if (ev.id !== a.id) return;
        a.closed = true;
        drain(side, true);
        maybeClose(side);
        return;
      default: return;
    }
  };
  P.onEvents = (evs) => { for (const e of evs) evq.push(['p', e]); flush(); };
  F.forEach((f, i) => {
    f.onEvents = (evs) => {
      if (i !== cur || fApp === null) { if (evs.length > 0) fail(`events on ${f.name} while the application runs on f${cur}: ${JSON.stringify(evs)}`); return; }
      for (const e of evs) evq.push(['f', e]);
      flush();
    };
  });

  // --- checks after every step: codec round trips, triggers
  const lastState: Record<string, string> = {};
  const roundTrip = (exp: ConnExport, where: string) => {
    const s: Snapshot = { kind: 'tcp-conn', takenAt: 0, conn: exp, app: null };
    let bytes: Uint8Array;
    try { bytes = encodeSnapshot(s); } catch (e) { return fail(`${where}: encode refused a real state: ${(e as Error).message}`); }
    const d = decodeSnapshot(bytes);
    if (!d.ok) fail(`${where}: decode refused a real state: ${d.error}`);
    if (!isDeepStrictEqual(d.value, s)) fail(`${where}: state changed through the codec`);
    res.roundTrips++;
  };
  const check = (n: FNode) => {
    const now = n.now();
    for (const id in n.st.tcp) {
      const t = n.st.tcp[id]!;
      const key = `${n.name}|${id}`;
      const changed = lastState[key] !== t.state;
      lastState[key] = t.state;
      if (changed || (sampled < 300 && chance(rng, sample) && ++sampled > 0)) roundTrip(peekConn(n.st, id, now)!, `${n.name} ${t.state}`);
    }
  };
  P.afterStep = check;
  F.forEach((f, i) => {
    f.afterStep = (n) => {
      check(n);
      if (i === cur && !migrating) checkTriggers(n);
    };
  });

  const checkTriggers = (n: FNode) => {
    let all: Tcb[] | null = null;
    trig.check((tr) => {
      const tcbs = (all ??= Object.values(n.st.tcp));
      switch (tr.kind) {
        case 'time': return sim.now >= tr.at;
        case 'burst': return sim.now >= tr.at && tcbs.length > 0;
        case 'handshake': return tcbs.some((t) => t.state === 'SYN-SENT' || t.state === 'SYN-RECEIVED');
        case 'recovery': return tcbs.some((t) => t.inRecovery || t.retries > 0);
        case 'zero-window': return tcbs.some((t) => t.timers.persist !== null || (t.state === 'ESTABLISHED' && t.rcvAdv === t.rcvNxt && t.rcvQLen > 0));
        case 'reassembly': return tcbs.some((t) => t.ooo.length > 0);
        case 'shutdown': return tcbs.some((t) => ['FIN-WAIT-1', 'FIN-WAIT-2', 'CLOSING', 'LAST-ACK', 'CLOSE-WAIT'].includes(t.state));
        case 'time-wait': return tcbs.some((t) => t.state === 'TIME-WAIT');
      }
    });
  };
  // 'time' triggers also fire when nothing happens on the node.
  const trig = new MigrationTriggers(sim, sc.triggers, rng, o.noMigrate === true, () => migrating, (kind) => migrate(kind));

  // --- TSval monotonic and no RST, as sent by the ferry nodes (rf links carry no reordering)
  const lastTs: Record<string, number> = {};
  if (o.trace) {
    sim.onPacket((ev) => {
      if (ev.link !== 'pr') return;
      const ip = parseIp(ev.pkt);
      if (!ip.ok || ip.value.protocol !== 6) return;
      const tcp = parseTcp(ip.value.payload, null);
      if (!tcp.ok) return;
      const g = tcp.value;
      const fl = ['F', 'S', 'R', 'P', '.'].filter((_, i) => g.flags & (1 << (i === 4 ? 4 : i))).join('');
      o.trace!(`${ev.t.toFixed(3)} ${ev.from}->${ev.to} ${ev.fate} [${fl}] seq=${g.seq} ack=${g.ack} win=${g.window} len=${g.payload.length}`);
    });
  }
  sim.onPacket((ev) => {
    if (ev.fate === 'dup') return;
    const fromF = ev.from.startsWith('f');
    if (!ev.link.startsWith('rf') && ev.link !== 'pr') return;
    if (ev.link === 'pr' && ev.from !== 'p') return;
    if (ev.link.startsWith('rf') && !fromF) return;
    const ip = parseIp(ev.pkt);
    if (!ip.ok || ip.value.protocol !== 6) return;
    const tcp = parseTcp(ip.value.payload, null);
    if (!tcp.ok) return;
    const seg = tcp.value;
    // A node answering for a connection that has left it would reset the peer. (RSTs the current
    // endpoints send to strays after a close are ordinary TCP; any RST that hurts a live
    // connection shows up as an application error.)
    if ((seg.flags & RST) && fromF && ev.from !== `f${cur}`) fail(`${ev.from}, which the connection has left, sent a RST`);
    if (!fromF) return;
    const ts = tcpOptionsInfo(seg.options).ts;
    if (ts === null) return;
    const key = `${seg.srcPort}|${seg.dstPort}`;
    const prev = lastTs[key];
    if (prev !== undefined && seqLt(ts.tsval, prev)) fail(`TSval went backwards for the peer: ${prev} then ${ts.tsval} (from ${ev.from})`);
    lastTs[key] = ts.tsval;
  });

  // --- migration
  const guard = new ReplayGuard(3_600_000, 5_000);
  const migrate = (kind: Trigger) => {
    trig.queued = false;
    if (migrating) return;
    const src = F[cur]!;
    const candidates = [...Array(F_NODES).keys()].filter((i) => i !== cur && !draining.has(i));
    if (candidates.length === 0) { sim.at(sim.now + 5, () => migrate(kind)); trig.queued = true; return; }
    const dst = candidates[nextInt(rng, 0, candidates.length)]!;
    if (Object.keys(src.st.listeners).length === 0 && Object.keys(src.st.tcp).length === 0) return; // nothing to move
    migrating = true;
    res.migrations[kind] = (res.migrations[kind] ?? 0) + 1;
    const t0 = src.now();
    // Freeze everything the ferry application has on the node: listeners (with their queues), then connections.
    const lids = Object.keys(src.st.listeners);
    for (const lid of lids) if (!freezeListener(src.st, lid, t0).ok) fail(`freezeListener ${lid}`);
    const cids = Object.keys(src.st.tcp);
    for (const cid of cids) { const r = freezeConn(src.st, cid, t0); if (!r.ok) fail(`freezeConn ${cid}: ${r.error}`); }
    // Export, encode, check the round trip, seal. The application state rides on the first snapshot.
    const blob = new TextEncoder().encode(JSON.stringify(fApp));
    fApp = null;
    const envelopes: Uint8Array[] = [];
    const ship = (s: Snapshot) => {
      const bytes = encodeSnapshot(s);
      const d = decodeSnapshot(bytes);
      if (!d.ok) fail(`migrated state refused by the decoder: ${d.error}`);
      if (!isDeepStrictEqual(d.value, s)) fail('migrated state changed through the codec');
      res.roundTrips++;
      envelopes.push(sealSnapshot(bytes, KEY, { createdAt: sim.now }));
    };
    let app: Uint8Array | null = blob;
    for (const lid of lids) {
      const e = exportListener(src.st, lid);
      if (!e.ok) fail(`exportListener: ${e.error}`);
      ship({ kind: 'tcp-listener', takenAt: t0, listener: e.value, app });
      app = null;
    }
    for (const cid of cids) {
      const e = exportConn(src.st, cid);
      if (!e.ok) fail(`exportConn: ${e.error}`);
      ship({ kind: 'tcp-conn', takenAt: t0, conn: e.value, app });
      app = null;
    }
    const delay = nextInt(rng, 0, 30) + (chance(rng, 0.3) ? nextFloat(rng) : 0);
    // The destination expects the connections; the route may switch before the snapshots land.
    const d = F[dst]!;
    for (const id of [...lids, ...cids]) { const r = reserve(d.st, id); if (!r.ok) fail(`reserve ${id}: ${r.error}`); }
    if (chance(rng, 0.5)) sim.at(sim.now + nextFloat(rng) * delay, () => R.routes.set(`${S_ADDR}/32`, `f${dst}`));
    sim.at(sim.now + delay, () => resume(src, dst, envelopes, lids, cids));
  };

  const resume = (src: FNode, dstI: number, envelopes: Uint8Array[], lids: string[], cids: string[]) => {
    const dst = F[dstI]!;
    const now = dst.now();
    const replay: Uint8Array[] = [];
    const evs: AppEvent[] = [];
    let appBlob: Uint8Array | null = null;
    for (const env of envelopes) {
      const opened = openSnapshot(env, KEY, guard, sim.now);
      if (!opened.ok) fail(`envelope refused: ${opened.error}`);
      const again = openSnapshot(env, KEY, guard, sim.now);
      if (again.ok || again.error !== 'replayed') fail(`a replayed envelope was not refused (${again.ok ? 'accepted' : again.error})`);
      const d = decodeSnapshot(opened.value.snapshot);
      if (!d.ok) fail(`snapshot refused at the destination: ${d.error}`);
      const s = d.value;
      if (s.app !== null) appBlob = s.app;
      // Replay order = arrival order as far as it is known: held at the source before the
      // export, then since (still at the source), then what reached the destination.
      if (s.kind === 'tcp-listener') {
        s.listener.held.push(...takeHeld(src.st, s.listener.listener.id));
        for (const c of s.listener.conns) c.held.push(...takeHeld(src.st, c.tcb.id));
        const r = importListener(dst.st, s.listener, now);
        if (!r.ok) fail(`importListener: ${r.error}`);
        const v = r.value;
        evs.push(...v.events); replay.push(...v.replay);
      } else if (s.kind === 'tcp-conn') {
        if (o.fault === 'tsval-backwards' && s.conn.tcb.tsOk) s.conn.tcb.tsOffset = (s.conn.tcb.tsOffset - 100_000) | 0;
        if (o.fault === 'lose-unread' && s.conn.tcb.rcvQLen > 0) { s.conn.tcb.rcvQ = []; s.conn.tcb.rcvQLen = 0; s.conn.tcb.rcvQOff = 0; }
        s.conn.held.push(...takeHeld(src.st, s.conn.tcb.id));
        const r = importConn(dst.st, s.conn, now);
        if (!r.ok) fail(`importConn: ${r.error}`);
        const v = r.value;
        evs.push(...v.events); replay.push(...v.replay);
      }
    }
    if (appBlob === null) fail('the application state was lost');
    fApp = JSON.parse(new TextDecoder().decode(appBlob!)) as App;
    const srcI = F.indexOf(src);
    cur = dstI;
    migrating = false;
    R.routes.set(`${S_ADDR}/32`, `f${dstI}`);
    act(() => {
      for (const e of evs) evq.push(['f', e]);
      for (const p of replay) dst.call({ type: 'packet', data: p });
    });
    sim.touch();
    // Stragglers still in flight to the old node are forwarded until it lets go.
    draining.add(srcI);
    const drainFor = 3 * sc.rfDelay + 20;
    const forward = () => {
      // To wherever the connection is now (a frozen node holds them for its own hand-over).
      act(() => { for (const id of [...lids, ...cids]) for (const p of takeHeld(src.st, id)) F[cur]!.call({ type: 'packet', data: p }); });
    };
    for (let t = 2; t < drainFor; t += 2) sim.at(sim.now + t, forward);
    sim.at(sim.now + drainFor, () => {
      forward();
      for (const lid of lids) releaseListener(src.st, lid);
      for (const cid of cids) releaseConn(src.st, cid);
      if (src.st.frozen.n !== 0) fail(`${src.name} still holds ${src.st.frozen.n} frozen entries after release`);
      draining.delete(srcI);
    });
    // The application continues where it stopped.
    const waiting = pendingF;
    pendingF = [];
    for (const fn of waiting) later('f', 0, fn);
    later('f', 0, () => { pump('f'); drain('f'); });
    trig.afterMove();
  };

  // --- start
  sim.at(0, () => act(() => {
    const server = sc.ferryRole === 'server' ? fApp! : pApp;
    const client = sc.ferryRole === 'server' ? pApp : fApp!;
    const sn = sc.ferryRole === 'server' ? F[0]! : P;
    const cn = sc.ferryRole === 'server' ? P : F[0]!;
    const l = sn.call({ type: 'listen', addr: null, port: PORT, backlog: 4 });
    if (!l.ok) fail('listen failed');
    server.listener = (l as { listener: string }).listener;
    const c = cn.call({ type: 'connect', local: null, localPort: null, remote: sc.ferryRole === 'server' ? S_ADDR : P_ADDR, port: PORT });
    if (!c.ok) fail(`connect failed: ${c.code}`);
    client.id = (c as { id: string }).id;
  }));

  const limit = o.limitMs ?? 600_000;
  const allClean = () => Object.keys(P.st.tcp).length === 0 && F.every((f) => Object.keys(f.st.tcp).length === 0 && f.st.frozen.n === 0);
  const done = () => pApp.bad !== null || (fApp !== null && fApp.bad !== null)
    || (!migrating && !trig.queued && fApp !== null && appDone(pApp) && appDone(fApp) && allClean() && draining.size === 0);
  const r = sim.run({ stopWhen: done, until: limit, maxEvents: 3_000_000 });
  res.virtualMs = r.now;
  res.events = sim.eventCount;
  if (pApp.bad !== null) fail(`peer application: ${pApp.bad}`);
  if (fApp !== null && fApp.bad !== null) fail(`ferry application: ${fApp.bad}`);
  if (!done()) {
    const st = (n: FNode) => Object.values(n.st.tcp).map((t) => `${t.state}(una=${t.sndUna} nxt=${t.sndNxt} q=${t.sndQLen} rq=${t.rcvQLen} wnd=${t.sndWnd} app=${t.app} timers=${JSON.stringify(t.timers)} deadline=${t.deadline} at ${n.now()})`).join(' ');
    fail(`incomplete (${r.reason}): peer got ${pApp.rxGot}/${pApp.rxExpect} eof=${pApp.eof} closed=${pApp.closed}; `
      + `ferry ${fApp === null ? 'suspended' : `got ${fApp.rxGot}/${fApp.rxExpect} sent ${fApp.txSent}/${fApp.txTotal} eof=${fApp.eof} closed=${fApp.closed}`}; `
      + `P ${st(P)} F${cur} ${st(F[cur]!)} frozen ${F.map((f) => f.st.frozen.n).join('/')}`);
  }
}

/** Run `runs` seeds from `seed`; calls `onResult` for each. */
export function fuzzMany(seed: number, runs: number, onResult: (r: FuzzResult) => void, o: FuzzOptions = {}): FuzzResult[] {
  const failures: FuzzResult[] = [];
  for (let i = 0; i < runs; i++) {
    const r = fuzzTcp((seed + i) >>> 0, o);
    onResult(r);
    if (!r.ok) failures.push(r);
  }
  return failures;
}
