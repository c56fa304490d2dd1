// The migration fuzzer for SCTP associations (`ferry fuzz --proto sctp`): the TCP fuzzer's
// topology and migration path (migrate/fuzz.ts) with an SCTP stack on every node. The ferry
// endpoint's association moves between nodes F0..F2 at random moments (random time, during the
// handshake, in loss recovery, with a closed window, mid-reassembly of a fragmented message,
// during shutdown, in bursts back and forth) through freeze, export, encode, seal, open,
// decode, import on a node with another clock, replay of held packets, route switch and
// forwarding of stragglers.
//
// Every F node listens on the service port and all share one cluster secret: an SCTP server
// keeps no state before COOKIE ECHO (RFC 9260 §5.1), so the handshake can finish on whichever
// node the cookie reaches, which must be able to verify it.
//
// A run fails if a message is lost, duplicated, corrupted or (on its stream, when ordered)
// out of order; the association does not shut down gracefully on both sides; a node the
// association has left sends an ABORT; a state does not round-trip through the codec exactly;
// a replayed envelope is accepted; or the simulation exceeds its limits.
import { isDeepStrictEqual } from 'node:util';
import type { AssocId, SctpAppEvent, SctpAssocConfig, SctpEvent, SctpResultOf } from '../stack/sctp/api.ts';
import { createSctpStack, defaultSctpStackConfig, sctpNextDeadline, sctpStackStep, sctpEventFromIp, sctpOutToIp } from '../stack/sctp/api.ts';
import type { SctpStackState } from '../stack/sctp/state.ts';
import type { Assoc } from '../stack/sctp/assoc.ts';
import {
  assocKeys, exportAssoc, freezeAssoc, holdSctp, importAssoc, newSctpFrozenTable, peekAssoc, releaseAssoc, reserveAssoc,
  takeHeldSctp, type AssocExport, type SctpFrozenTable, type SctpHeldPacket,
} from '../stack/freeze.ts';
import { parseIp } from '../stack/wire/ip.ts';
import { parseSctp } from '../stack/wire/sctp.ts';
import { Sim, type LinkConfig, type SimNode, type SimOut } from '../tun/sim.ts';
import { Router } from '../tun/sim-nodes.ts';
import { chance, fork, nextFloat, nextInt, prngInit, type PrngState } from '../tun/prng.ts';
import { decodeSnapshot, encodeSnapshot, type Snapshot } from './snapshot.ts';
import { ReplayGuard, openSnapshot, sealSnapshot } from './envelope.ts';
import { FuzzError, MigrationTriggers, TRIGGERS, patternTable, simTimeFor, type FuzzOptions, type FuzzResult, type Trigger } from './fuzz.ts';

const P_ADDR = '10.52.0.1', S_ADDR = '10.52.0.2', PORT = 5000;
const F_NODES = 3;
const KEY = new Uint8Array(32).map((_, i) => 0x3c ^ i);
const HDR = 12;
const TABLE_LEN = 4093;
const TABLE = patternTable(77, TABLE_LEN);

/** An SCTP stack as a sim node on its own clock, with a frozen table in front of it. */
class SNode implements SimNode {
  st: SctpStackState;
  frozen: SctpFrozenTable = newSctpFrozenTable();
  out: Uint8Array[] = [];
  onEvents: (evs: SctpAppEvent[]) => void = () => {};
  afterStep: () => void = () => {};
  constructor(readonly name: string, addr: string, assoc: Partial<SctpAssocConfig>, readonly off: number, secret: Uint8Array, readonly sim: Sim) {
    const c = defaultSctpStackConfig([addr]);
    this.st = createSctpStack({ ...c, assoc: { ...c.assoc, ...assoc } }, secret, off);
  }
  now(simNow = this.sim.now): number { return simNow + this.off; }
  call<E extends SctpEvent>(ev: E, simNow = this.sim.now): SctpResultOf<E> {
    const r = sctpStackStep(this.st, ev, this.now(simNow));
    for (const o of r.out) this.out.push(sctpOutToIp(o));
    if (r.events.length > 0) this.onEvents(r.events);
    this.afterStep();
    return r.result;
  }
  /** A packet off the wire: held if it belongs to a frozen or expected association. */
  packet(p: SctpHeldPacket, simNow = this.sim.now): void {
    if (holdSctp(this.frozen, p)) return;
    this.call({ type: 'packet', src: p.src, dst: p.dst, sctp: p.sctp, encap: p.encap }, simNow);
  }
  private take(): SimOut[] { const o = this.out; this.out = []; return o; }
  receive(pkt: Uint8Array, now: number): readonly SimOut[] {
    const ev = sctpEventFromIp(this.st, pkt);
    if (ev !== null) this.packet(ev, now);
    return this.take();
  }
  tick(now: number): readonly SimOut[] { this.call({ type: 'tick' }, now); return this.take(); }
  poll(): readonly SimOut[] { return this.take(); }
  nextDeadline(): number | null {
    const d = sctpNextDeadline(this.st);
    return d === null ? null : simTimeFor(d, this.off);
  }
}

/** One side's application: plain data (the ferry side's travels in the snapshot blob). */
interface App {
  id: AssocId | null;
  /** Messages to send, sent so far, per-stream SSN counters of ours. */
  txTotal: number; txSent: number; nextSeq: number[];
  /** Messages expected, received (by index), next expected per-stream sequence. */
  rxTotal: number; rxSeen: number[]; expSeq: number[];
  /** This side shuts down once it sent and received everything. */
  shutter: boolean; shut: boolean; eof: boolean; closed: boolean; released: boolean;
  maxMsg: number; streams: number; unordered: number;
  readEvery: number; stallFrom: number; stallUntil: number;
  bad: string | null;
  rng: PrngState;
  /** Seed of the other side's message generator (to check what we receive). */
}

function newApp(rng: PrngState, txTotal: number, rxTotal: number, streams: number, shutter: boolean): App {
  const stall = chance(rng, 0.35);
  const stallFrom = stall ? nextInt(rng, 0, 1500) : 0;
  return {
    id: null, txTotal, txSent: 0, nextSeq: new Array<number>(streams).fill(0),
    rxTotal, rxSeen: [], expSeq: new Array<number>(streams).fill(0),
    shutter, shut: false, eof: false, closed: false, released: false,
    maxMsg: chance(rng, 0.5) ? nextInt(rng, HDR + 1, 1400) : nextInt(rng, 1400, 9000),
    streams, unordered: chance(rng, 0.5) ? nextFloat(rng) * 0.5 : 0,
    readEvery: chance(rng, 0.5) ? 0 : nextInt(rng, 1, 60),
    stallFrom, stallUntil: stall ? stallFrom + nextInt(rng, 50, 2500) : 0,
    bad: null, rng,
  };
}

/** Message i of a direction: header (index, per-stream seq, size) then table bytes. */
function body(dir: number, i: number, seq: number, size: number): Uint8Array {
  const m = new Uint8Array(size);
  const dv = new DataView(m.buffer);
  dv.setUint32(0, i); dv.setUint32(4, seq); dv.setUint32(8, size);
  const off = ((i * 7919) + dir * 131) % TABLE_LEN;
  for (let k = HDR; k < size; k += TABLE_LEN) m.set(TABLE.subarray(off, off + Math.min(TABLE_LEN, size - k)), k);
  return m;
}

interface Scenario {
  ferryRole: 'server' | 'client';
  msgsFP: number; msgsPF: number; streams: number;
  assocP: Partial<SctpAssocConfig>; assocF: Partial<SctpAssocConfig>;
  link: Partial<LinkConfig>; rfDelay: number;
  triggers: { kind: Trigger; at: number }[];
  offsets: number[];
  ferryShuts: boolean;
}

function pickAssoc(r: PrngState): Partial<SctpAssocConfig> {
  const bufs = [4096, 16384, 65536, 262144];
  return {
    rcvBuf: bufs[nextInt(r, 0, bufs.length)]!, sndBuf: bufs[nextInt(r, 0, bufs.length)]!,
    rtoInitial: chance(r, 0.5) ? 300 : 1000, rtoMin: chance(r, 0.5) ? 100 : 300,
    sackDelay: chance(r, 0.5) ? 200 : 20, hbInterval: chance(r, 0.3) ? 500 : 30000,
    assocMaxRetrans: 30, pathMaxRetrans: 30, maxInitRetrans: 30,
  };
}

function pickScenario(seed: number): Scenario {
  const r = prngInit(seed ^ 0x5c7e);
  const n = () => (chance(r, 0.15) ? 0 : nextInt(r, 1, chance(r, 0.7) ? 40 : 120));
  const link: Partial<LinkConfig> = {
    delayMs: nextInt(r, 1, 25), jitterMs: chance(r, 0.5) ? nextInt(r, 0, 4) : 0,
    loss: chance(r, 0.6) ? nextFloat(r) * 0.06 : 0, reorder: chance(r, 0.4) ? nextFloat(r) * 0.06 : 0, reorderMs: nextInt(r, 1, 15),
    dup: chance(r, 0.3) ? nextFloat(r) * 0.02 : 0,
  };
  const triggers: { kind: Trigger; at: number }[] = [];
  const k = nextInt(r, 1, 6);
  for (let i = 0; i < k; i++) triggers.push({ kind: TRIGGERS[nextInt(r, 0, TRIGGERS.length)]!, at: nextInt(r, 0, 2500) });
  if (!triggers.some((t) => t.kind === 'time')) triggers.push({ kind: 'time', at: nextInt(r, 0, 1200) });
  const offsets: number[] = [];
  for (let i = 0; i <= F_NODES; i++) {
    const o = nextInt(r, 0, 4) === 0 ? 0 : nextInt(r, -5_000_000, 2_000_000_000);
    offsets.push(chance(r, 0.3) ? o + nextFloat(r) : o);
  }
  return {
    ferryRole: chance(r, 0.5) ? 'server' : 'client', msgsFP: n(), msgsPF: n(), streams: nextInt(r, 1, 6),
    assocP: pickAssoc(r), assocF: pickAssoc(r), link, rfDelay: nextInt(r, 0, 3), triggers, offsets, ferryShuts: chance(r, 0.5),
  };
}

/** One SCTP fuzz run. Never throws. */
export function fuzzSctp(seed: number, o: FuzzOptions = {}): FuzzResult {
  const sc = pickScenario(seed);
  const res: FuzzResult = {
    seed, ok: false, why: '', migrations: {}, roundTrips: 0, virtualMs: 0, events: 0,
    scenario: `ferry ${sc.ferryRole}, ${sc.msgsFP} msgs ferry→peer, ${sc.msgsPF} msgs peer→ferry on ${sc.streams} streams, ${sc.ferryShuts ? 'ferry' : 'peer'} shuts down, `
      + `link ${JSON.stringify(sc.link)}, ferry ${JSON.stringify(sc.assocF)}, peer ${JSON.stringify(sc.assocP)}, triggers ${sc.triggers.map((t) => (t.kind === 'time' ? `time@${t.at}` : t.kind)).join(',')}`,
  };
  try {
    run(seed, sc, o, res);
    res.ok = true;
    res.why = 'ok';
  } catch (e) {
    res.why = e instanceof FuzzError ? e.message : `exception: ${(e as Error).stack ?? String(e)}`;
  }
  return res;
}

function run(seed: number, sc: Scenario, o: FuzzOptions, res: FuzzResult): void {
  const sim = new Sim({ seed });
  const rng = prngInit(seed ^ 0x1234);
  const fail: (why: string) => never = (why) => { throw new FuzzError(`t=${sim.now.toFixed(3)}: ${why}`); };
  const cluster = new Uint8Array(32).map((_, k) => (seed * 13 + k) & 0xff);
  const P = new SNode('p', P_ADDR, sc.assocP, sc.offsets[0]!, cluster.map((x) => x ^ 0x77), sim);
  const F: SNode[] = [];
  for (let i = 0; i < F_NODES; i++) F.push(new SNode(`f${i}`, S_ADDR, sc.assocF, sc.offsets[i + 1]!, cluster, sim));
  const R = new Router([[`${P_ADDR}/32`, 'p'], [`${S_ADDR}/32`, 'f0']]);
  sim.addNode('p', P).addNode('r', R);
  F.forEach((f) => sim.addNode(f.name, f));
  sim.addLink('pr', 'p:eth0', 'r:p', sc.link);
  F.forEach((f, i) => sim.addLink(`rf${i}`, `r:f${i}`, `${f.name}:eth0`, { delayMs: sc.rfDelay }));

  type Side = 'p' | 'f';
  const pApp = newApp(fork(rng, 'p'), sc.msgsPF, sc.msgsFP, sc.streams, !sc.ferryShuts);
  let fApp: App | null = newApp(fork(rng, 'f'), sc.msgsFP, sc.msgsPF, sc.streams, sc.ferryShuts);
  let cur = 0, migrating = false;
  const draining = new Set<number>();
  const appOf = (s: Side) => (s === 'p' ? pApp : fApp);
  const nodeOf = (s: Side): SNode => (s === 'p' ? P : F[cur]!);
  const dirOf = (s: Side) => (s === 'p' ? 1 : 0);
  let pendingF: (() => void)[] = [];

  let busy = 0;
  const evq: [Side, SctpAppEvent][] = [];
  const flush = () => {
    if (busy > 0) return;
    while (evq.length > 0) { const [s, e] = evq.shift()!; busy++; try { handle(s, e); } finally { busy--; } }
  };
  const act = (fn: () => void) => { busy++; try { fn(); } finally { busy--; } flush(); };
  const later = (s: Side, ms: number, fn: () => void) => sim.at(sim.now + ms, () => {
    if (s === 'f' && (migrating || fApp === null)) { pendingF.push(fn); return; }
    act(fn);
  });

  const pump = (s: Side) => {
    const a = appOf(s);
    if (a === null || a.id === null || a.bad !== null) return;
    const n = nodeOf(s);
    while (a.txSent < a.txTotal) {
      const i = a.txSent;
      const stream = nextInt(fork(a.rng, `s${i}`), 0, a.streams);
      const unordered = chance(fork(a.rng, `u${i}`), a.unordered);
      const size = nextInt(fork(a.rng, `z${i}`), HDR, a.maxMsg + 1);
      const seq = unordered ? 0 : a.nextSeq[stream]!;
      const r = n.call({ type: 'send', id: a.id, data: body(dirOf(s), i, seq, size), stream, ppid: i & 0xffff, unordered });
      if (!r.ok) { if (r.code !== 'EAGAIN') a.bad = `send failed: ${r.code}`; return; }
      if (!unordered) a.nextSeq[stream]!++;
      a.txSent++;
    }
    maybeShut(s);
  };
  const maybeShut = (s: Side) => {
    const a = appOf(s);
    if (a === null || a.id === null || a.shut || !a.shutter || a.txSent < a.txTotal || a.rxSeen.length < a.rxTotal) return;
    a.shut = true;
    const r = nodeOf(s).call({ type: 'shutdown', id: a.id });
    if (!r.ok) a.bad = `shutdown failed: ${r.code}`;
  };
  const drain = (s: Side, force = false) => {
    const a = appOf(s);
    if (a === null || a.id === null || a.bad !== null) return;
    if (!force && sim.now >= a.stallFrom && sim.now < a.stallUntil) { later(s, a.stallUntil - sim.now, () => drain(s)); return; }
    const other = s === 'p' ? 0 : 1;
    for (let k = 0; force || k < 32; k++) {
      const r: SctpResultOf<{ type: 'recv'; id: string }> = nodeOf(s).call({ type: 'recv', id: a.id });
      if (!r.ok) { if (r.code !== 'EBADF') a.bad = `recv failed: ${r.code}`; return; }
      if (r.message === null) { if (r.eof) a.eof = true; maybeShut(s); return; }
      const m = r.message.data;
      if (m.length < HDR) { a.bad = 'short message'; return; }
      const dv = new DataView(m.buffer, m.byteOffset, m.length);
      const i = dv.getUint32(0), seq = dv.getUint32(4), size = dv.getUint32(8);
      if (size !== m.length || i >= a.rxTotal) { a.bad = `message ${i}: bad size or index`; return; }
      const want = body(other, i, seq, size);
      if (!Buffer.from(m.buffer, m.byteOffset, m.length).equals(Buffer.from(want.buffer))) { a.bad = `message ${i}: content differs`; return; }
      if (a.rxSeen.includes(i)) { a.bad = `message ${i} delivered twice`; return; }
      if (r.message.ppid !== (i & 0xffff)) { a.bad = `message ${i}: ppid`; return; }
      if (!r.message.unordered) {
        const st = r.message.stream;
        if (seq !== a.expSeq[st]) { a.bad = `stream ${st}: ordered message ${seq} where ${a.expSeq[st]} was due (message ${i})`; return; }
        a.expSeq[st]!++;
      }
      a.rxSeen.push(i);
      maybeShut(s);
    }
    if (!force && a.readEvery > 0) later(s, a.readEvery, () => drain(s)); else later(s, 0, () => drain(s));
  };
  const allData = (a: App) => a.bad === null && a.txSent === a.txTotal && a.rxSeen.length === a.rxTotal;
  const release = (s: Side) => {
    const a = appOf(s);
    if (a === null || a.id === null || a.released || !a.closed) return;
    a.released = true;
    nodeOf(s).call({ type: 'close', id: a.id });
  };
  const handle = (s: Side, e: SctpAppEvent) => {
    const a = appOf(s);
    if (a === null) return;
    switch (e.type) {
      case 'accept-ready': {
        if (a.id !== null) return;
        const r = nodeOf(s).call({ type: 'accept', listener: e.listener });
        if (r.ok && r.id !== null) { a.id = r.id; pump(s); drain(s); }
        return;
      }
      case 'connected': case 'writable': if (e.id === a.id) pump(s); return;
      case 'readable': case 'eof': if (e.id === a.id) drain(s); return;
      case 'error':
        // An ABORT in the closing handshake after every message arrived both ways (the peer
        // answered a reordered stale packet after its association ended) ends nothing that mattered.
        if (e.id === a.id && allData(pApp) && fApp !== null && allData(fApp)) return;
        if (e.id === a.id) a.bad = `association error ${e.code}`;
        return;
      case 'closed': if (e.id === a.id) { a.closed = true; drain(s, true); release(s); } return;
      default: return;
    }
  };
  P.onEvents = (evs) => { for (const e of evs) evq.push(['p', e]); flush(); };
  F.forEach((f, i) => {
    f.onEvents = (evs) => {
      if (i !== cur || fApp === null) fail(`events on ${f.name} while the association lives on f${cur}: ${JSON.stringify(evs)}`);
      for (const e of evs) evq.push(['f', e]);
      flush();
    };
  });

  // Codec round trips at state changes, sampled steps and every migration.
  const last: Record<string, string> = {};
  let sampled = 0;
  const roundTrip = (exp: AssocExport, where: string) => {
    const s: Snapshot = { kind: 'sctp-assoc', takenAt: 0, assoc: exp, app: null };
    let bytes: Uint8Array;
    try { bytes = encodeSnapshot(s); } catch (e) { return fail(`${where}: encode refused a real state: ${(e as Error).message}`); }
    const d = decodeSnapshot(bytes);
    if (!d.ok) fail(`${where}: decode refused a real state: ${d.error}`);
    if (!isDeepStrictEqual(d.value, s)) fail(`${where}: state changed through the codec`);
    res.roundTrips++;
  };
  const check = (n: SNode) => {
    for (const id in n.st.assocs) {
      const a = n.st.assocs[id]!;
      const k = `${n.name}|${id}`;
      const changed = last[k] !== a.state;
      last[k] = a.state;
      if (changed || (sampled < 100 && chance(rng, o.sample ?? 0.03) && ++sampled > 0)) roundTrip(peekAssoc(n.st, id, n.now())!, `${n.name} ${a.state}`);
    }
  };
  P.afterStep = () => check(P);
  F.forEach((f, i) => { f.afterStep = () => { check(f); if (i === cur && !migrating) triggers(f); }; });

  const triggers = (n: SNode) => {
    let all: Assoc[] | null = null;
    trig.check((t) => {
      const as = (all ??= Object.values(n.st.assocs));
      switch (t.kind) {
        case 'time': return sim.now >= t.at;
        case 'burst': return sim.now >= t.at && as.length > 0;
        case 'handshake': return as.some((a) => a.state === 'COOKIE-WAIT' || a.state === 'COOKIE-ECHOED');
        case 'recovery': return as.some((a) => a.fastRecoveryExit !== null || a.rtxCount > 0);
        case 'zero-window': return as.some((a) => a.state === 'ESTABLISHED' && (a.peerRwnd === 0 || a.rcvBufUsed >= a.cfg.rcvBuf));
        case 'reassembly': return as.some((a) => a.reasm.length > 0);
        case 'shutdown': return as.some((a) => a.state.startsWith('SHUTDOWN'));
        case 'time-wait': return as.some((a) => a.state === 'SHUTDOWN-ACK-SENT' || a.state === 'SHUTDOWN-SENT');
      }
    });
  };
  const trig = new MigrationTriggers(sim, sc.triggers, rng, o.noMigrate === true, () => migrating, (kind) => migrate(kind));

  if (o.trace) {
    sim.onPacket((ev) => {
      if (ev.link !== 'pr' && !(ev.link.startsWith('rf') && ev.from.startsWith('f'))) return;
      const ip = parseIp(ev.pkt);
      if (!ip.ok || ip.value.protocol !== 132) return;
      const p = parseSctp(ip.value.payload, { verifyChecksum: false });
      if (!p.ok) return;
      const ch = p.value.chunks.map((c) => {
        const x = c as { type: string; tsn?: number; cumTsnAck?: number };
        return `${x.type}${x.tsn !== undefined ? `(${x.tsn})` : ''}${x.cumTsnAck !== undefined ? `(cum ${x.cumTsnAck})` : ''}`;
      }).join(' ');
      o.trace!(`${ev.t.toFixed(3)} ${ev.link} ${ev.from}->${ev.to} ${ev.fate} vtag=${p.value.verificationTag} ${ch} [cur f${cur}${migrating ? ' migrating' : ''}]`);
    });
  }
  // A node the association has left must not abort it.
  sim.onPacket((ev) => {
    if (!ev.link.startsWith('rf') || !ev.from.startsWith('f') || ev.from === `f${cur}` || ev.fate === 'dup') return;
    const ip = parseIp(ev.pkt);
    if (!ip.ok || ip.value.protocol !== 132) return;
    const p = parseSctp(ip.value.payload, { verifyChecksum: false });
    if (p.ok && p.value.chunks.some((c) => c.type === 'ABORT')) fail(`${ev.from}, which the association has left, sent an ABORT`);
  });

  const guard = new ReplayGuard(3_600_000, 5_000);
  const migrate = (kind: Trigger) => {
    trig.queued = false;
    if (migrating) return;
    const src = F[cur]!;
    const ids = Object.keys(src.st.assocs);
    if (ids.length === 0) return;
    const cands = [...Array(F_NODES).keys()].filter((i) => i !== cur && !draining.has(i));
    if (cands.length === 0) { trig.queued = true; sim.at(sim.now + 5, () => migrate(kind)); return; }
    const dstI = cands[nextInt(rng, 0, cands.length)]!;
    const dst = F[dstI]!;
    migrating = true;
    res.migrations[kind] = (res.migrations[kind] ?? 0) + 1;
    const t0 = src.now();
    const keys: Record<string, string[]> = {};
    for (const id of ids) {
      keys[id] = assocKeys(src.st.assocs[id]!);
      const r = freezeAssoc(src.st, src.frozen, id, t0);
      if (!r.ok) fail(`freezeAssoc: ${r.error}`);
    }
    let app: Uint8Array | null = new TextEncoder().encode(JSON.stringify(fApp));
    fApp = null;
    const envelopes: Uint8Array[] = [];
    for (const id of ids) {
      const e = exportAssoc(src.frozen, id);
      if (!e.ok) fail(`exportAssoc: ${e.error}`);
      const s: Snapshot = { kind: 'sctp-assoc', takenAt: t0, assoc: e.value, app };
      app = null;
      const bytes = encodeSnapshot(s);
      const d = decodeSnapshot(bytes);
      if (!d.ok) fail(`migrated association refused by the decoder: ${d.error}`);
      if (!isDeepStrictEqual(d.value, s)) fail('migrated association changed through the codec');
      res.roundTrips++;
      envelopes.push(sealSnapshot(bytes, KEY, { createdAt: sim.now }));
      const rr = reserveAssoc(dst.frozen, id, keys[id]!);
      if (!rr.ok) fail(`reserveAssoc: ${rr.error}`);
    }
    const delay = nextInt(rng, 0, 30) + (chance(rng, 0.3) ? nextFloat(rng) : 0);
    if (chance(rng, 0.5)) sim.at(sim.now + nextFloat(rng) * delay, () => R.routes.set(`${S_ADDR}/32`, `f${dstI}`));
    sim.at(sim.now + delay, () => resume(src, dstI, envelopes, ids));
  };

  const resume = (src: SNode, dstI: number, envelopes: Uint8Array[], ids: string[]) => {
    const dst = F[dstI]!;
    const now = dst.now();
    const evs: SctpAppEvent[] = [];
    const replay: SctpHeldPacket[] = [];
    let blob: Uint8Array | null = null;
    for (const env of envelopes) {
      const op = openSnapshot(env, KEY, guard, sim.now);
      if (!op.ok) fail(`envelope refused: ${op.error}`);
      const again = openSnapshot(env, KEY, guard, sim.now);
      if (again.ok || again.error !== 'replayed') fail('a replayed envelope was not refused');
      const d = decodeSnapshot(op.value.snapshot);
      if (!d.ok || d.value.kind !== 'sctp-assoc') fail(`snapshot refused at the destination: ${d.ok ? d.value.kind : d.error}`);
      const s = d.value as Extract<Snapshot, { kind: 'sctp-assoc' }>;
      if (s.app !== null) blob = s.app;
      // Replay order = arrival order as far as it is known: held at the source before the
      // export, then since (still at the source), then what reached the destination.
      s.assoc.held.push(...takeHeldSctp(src.frozen, s.assoc.assoc.id));
      const r = importAssoc(dst.st, dst.frozen, s.assoc, now);
      if (!r.ok) fail(`importAssoc: ${r.error}`);
      evs.push(...r.value.events);
      replay.push(...r.value.replay);
    }
    if (blob === null) fail('the application state was lost');
    fApp = JSON.parse(new TextDecoder().decode(blob!)) as App;
    const srcI = F.indexOf(src);
    cur = dstI;
    migrating = false;
    R.routes.set(`${S_ADDR}/32`, `f${dstI}`);
    act(() => {
      for (const e of evs) evq.push(['f', e]);
      for (const p of replay) dst.packet(p);
    });
    sim.touch();
    draining.add(srcI);
    const drainFor = 3 * sc.rfDelay + 20;
    const forward = () => act(() => { for (const id of ids) for (const p of takeHeldSctp(src.frozen, id)) F[cur]!.packet(p); });
    for (let t = 2; t < drainFor; t += 2) sim.at(sim.now + t, forward);
    sim.at(sim.now + drainFor, () => {
      forward();
      for (const id of ids) releaseAssoc(src.frozen, id);
      if (src.frozen.n !== 0) fail(`${src.name} still holds ${src.frozen.n} frozen entries`);
      draining.delete(srcI);
    });
    const waiting = pendingF;
    pendingF = [];
    for (const fn of waiting) later('f', 0, fn);
    later('f', 0, () => { pump('f'); drain('f'); });
    trig.afterMove();
  };

  sim.at(0, () => act(() => {
    const serverSide: Side = sc.ferryRole === 'server' ? 'f' : 'p';
    const clientSide: Side = serverSide === 'f' ? 'p' : 'f';
    // Every ferry node listens (anycast service); the peer listens when it is the server.
    for (const n of serverSide === 'f' ? F : [P]) {
      const l = n.call({ type: 'listen', port: PORT, addresses: null, backlog: 4 });
      if (!l.ok) fail('listen failed');
    }
    const c = nodeOf(clientSide).call({ type: 'connect', local: null, localPort: null, remote: [clientSide === 'f' ? P_ADDR : S_ADDR], port: PORT });
    if (!c.ok) fail(`connect failed: ${c.code}`);
    appOf(clientSide)!.id = c.id;
  }));

  const done = (a: App) => a.bad === null && a.txSent === a.txTotal && a.rxSeen.length === a.rxTotal && a.closed && a.released;
  const clean = () => Object.keys(P.st.assocs).length === 0 && F.every((f) => Object.keys(f.st.assocs).length === 0 && f.frozen.n === 0);
  const stop = () => pApp.bad !== null || (fApp !== null && fApp.bad !== null)
    || (!migrating && !trig.queued && fApp !== null && done(pApp) && done(fApp) && clean() && draining.size === 0);
  const r = sim.run({ stopWhen: stop, until: o.limitMs ?? 600_000, maxEvents: 3_000_000 });
  res.virtualMs = r.now;
  res.events = sim.eventCount;
  if (pApp.bad !== null) fail(`peer application: ${pApp.bad}`);
  if (fApp !== null && fApp.bad !== null) fail(`ferry application: ${fApp.bad}`);
  if (!stop()) {
    const st = (n: SNode) => Object.values(n.st.assocs).map((a) => `${a.state}(sent=${a.sent.length} pending=${a.pending.length} rwnd=${a.peerRwnd} readQ=${a.readQ.length} app=${a.app})`).join(' ');
    const desc = (a: App | null) => (a === null ? 'suspended' : `sent ${a.txSent}/${a.txTotal} got ${a.rxSeen.length}/${a.rxTotal} shut=${a.shut} eof=${a.eof} closed=${a.closed}`);
    fail(`incomplete (${r.reason}): peer ${desc(pApp)}; ferry ${desc(fApp)}; P ${st(P)} F${cur} ${st(F[cur]!)} frozen ${F.map((f) => f.frozen.n).join('/')}`);
  }
}
