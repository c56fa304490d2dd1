// Message-transfer harness for SCTP over the simulated network: node A (client) sends
// messages of random sizes on several streams, ordered and unordered, to node B (server)
// (and, with `bidir`, B to A at the same time). The receiver checks every message: content,
// per-stream order for ordered ones, exactly-once for all; then the sender shuts down.
// Options: multihoming (two links, one can die mid-transfer), PR-SCTP lifetimes, a slow
// reader (flow control), IPv6, UDP encapsulation, and state snapshots through the codec.
import { Sim, type LinkConfig } from '../../tun/sim.ts';
import { SctpHost } from '../../tun/sctp-socket.ts';
import { chance, nextInt, nextU32, prngInit, type PrngState } from '../../tun/prng.ts';
import { roundTrip } from '../../migrate/codec.ts';
import type { AssocId, SctpAppEvent, SctpAssocConfig, SctpAssocStats } from '../../stack/sctp/api.ts';

const TABLE_LEN = 65521;
const HDR = 16;

function makeTable(seed: number): Uint8Array {
  const r = prngInit(seed);
  const t = new Uint8Array(TABLE_LEN * 2);
  for (let i = 0; i < TABLE_LEN; i++) t[i] = nextU32(r) & 0xff;
  t.copyWithin(TABLE_LEN, 0, TABLE_LEN);
  return t;
}
const TABLE = makeTable(4242);

export interface TransferOptions {
  seed: number;
  /** Payload bytes A sends (and B, with bidir). */
  bytes: number;
  streams: number;
  /** Probability a message is unordered. */
  unordered: number;
  /** Largest message size. */
  maxMsg?: number;
  link: Partial<LinkConfig>;
  /** B sends as much to A at the same time. */
  bidir?: boolean;
  /** Two paths: links 'l1' (primary) and 'l2'. */
  multihome?: boolean;
  /** Bring link `cut[0]` down at virtual time `cut[1]`, or when B has received `cutAtBytes`. */
  cut?: [string, number];
  cutAtBytes?: number;
  assoc?: Partial<SctpAssocConfig>;
  /** PR-SCTP lifetime (ms) of unordered messages; abandoned ones are not required to arrive. */
  ttl?: number | null;
  /** PR-SCTP limited retransmissions of unordered messages. */
  maxRtx?: number | null;
  /** The receiver reads at most `n` messages every `ms` (flow control). */
  slowReader?: { n: number; ms: number };
  /** Replace both stacks' state by a codec round trip every `ms` (serializability under traffic). */
  snapshotEveryMs?: number;
  v6?: boolean;
  udpEncap?: boolean;
  limitMs?: number;
}

export interface TransferResult {
  ok: boolean;
  why: string;
  virtualMs: number;
  events: number;
  msgs: number;
  received: number;
  abandoned: number;
  statsA: SctpAssocStats | null;
  statsB: SctpAssocStats | null;
  pathEventsA: string[];
  link: ReturnType<Sim['counters']>;
}

interface Gen { i: number; stream: number; unordered: boolean; size: number; seq: number }

/** One direction's sender state and the matching receiver checks. */
class Flow {
  readonly rng: PrngState;
  readonly nextSeq: number[];
  readonly expSeq: number[];
  readonly seen = new Uint8Array(1 << 20);
  readonly abandoned = new Set<number>();
  sentBytes = 0;
  msgs = 0;
  cur: Gen | null = null;
  received = 0;
  bytesReceived = 0;
  constructor(seed: number, readonly o: TransferOptions) {
    this.rng = prngInit(seed >>> 0);
    this.nextSeq = new Array<number>(o.streams).fill(0);
    this.expSeq = new Array<number>(o.streams).fill(0);
  }

  gen(): Gen {
    const o = this.o, rng = this.rng, maxMsg = o.maxMsg ?? 60_000;
    const stream = nextInt(rng, 0, o.streams);
    const unordered = chance(rng, o.unordered);
    const r = nextU32(rng) / 2 ** 32;
    // Mostly small messages, some spanning several packets, a few large ones.
    const size = r < 0.7 ? nextInt(rng, HDR, 1500) : r < 0.95 ? nextInt(rng, 1500, Math.max(1501, Math.min(maxMsg, 16_000))) : nextInt(rng, HDR, maxMsg + 1);
    const seq = unordered ? 0 : this.nextSeq[stream]!++;
    return { i: this.msgs, stream, unordered, size: Math.max(HDR, size), seq };
  }

  static body(g: Gen): Uint8Array {
    const m = new Uint8Array(g.size);
    const dv = new DataView(m.buffer);
    dv.setUint32(0, g.i); dv.setUint32(4, g.seq); dv.setUint32(8, g.size); dv.setUint32(12, (g.stream << 1) | (g.unordered ? 1 : 0));
    const off = (g.i * 7919) % TABLE_LEN, n = g.size - HDR;
    for (let k = 0; k < n; k += TABLE_LEN) m.set(TABLE.subarray(off, off + Math.min(TABLE_LEN, n - k)), HDR + k);
    return m;
  }

  /** Check one received message; null when good. */
  check(d: Uint8Array, stream: number, ppid: number, unordered: boolean): string | null {
    if (d.length < HDR) return `short message ${d.length}`;
    const dv = new DataView(d.buffer, d.byteOffset, d.length);
    const i = dv.getUint32(0), seq = dv.getUint32(4), size = dv.getUint32(8), su = dv.getUint32(12);
    if (size !== d.length) return `message ${i}: size ${d.length} != ${size}`;
    if ((su >> 1) !== stream || ((su & 1) === 1) !== unordered) return `message ${i}: stream/unordered mismatch (${stream}, ${unordered})`;
    if (ppid !== (i & 0xffff)) return `message ${i}: ppid ${ppid}`;
    if (this.seen[i]) return `message ${i} delivered twice`;
    this.seen[i] = 1;
    if (!unordered) {
      if (seq !== this.expSeq[stream]) return `stream ${stream}: ordered message seq ${seq}, expected ${this.expSeq[stream]} (message ${i})`;
      this.expSeq[stream]!++;
    }
    const off = (i * 7919) % TABLE_LEN, n = size - HDR;
    for (let k = 0; k < n; k += TABLE_LEN) {
      const len = Math.min(TABLE_LEN, n - k);
      const want = Buffer.from(TABLE.buffer, TABLE.byteOffset + off, len);
      if (!Buffer.from(d.buffer, d.byteOffset + HDR + k, len).equals(want)) return `message ${i}: content differs`;
    }
    this.received++;
    this.bytesReceived += d.length;
    return null;
  }

  missing(): number {
    let n = 0;
    for (let i = 0; i < this.msgs; i++) if (!this.seen[i]) n++;
    return n;
  }
}

interface Side { host: SctpHost; id: AssocId | null; out: Flow | null; inn: Flow | null; shut: boolean; closed: boolean; eof: boolean; name: string }

export function runSctpTransfer(o: TransferOptions): TransferResult {
  const sim = new Sim({ seed: o.seed });
  // Subnet 1 and 2; host 1 = A, host 2 = B.
  const addr = (net: number, host: number) => (o.v6 ? `fd00:${net}::${host}` : `10.${net}.0.${host}`);
  const aAddrs = o.multihome ? [addr(1, 1), addr(2, 1)] : [addr(1, 1)];
  const bAddrs = o.multihome ? [addr(1, 2), addr(2, 2)] : [addr(1, 2)];
  const secretA = new Uint8Array(32).map((_, i) => (o.seed * 31 + i * 7) & 0xff);
  const secretB = secretA.map((x) => x ^ 0xa5);
  const cfg = { assoc: { ...(o.assoc ?? {}) } };
  const A = new SctpHost({ addresses: aAddrs, secret: secretA, clock: sim.clock, timers: false, config: cfg });
  const B = new SctpHost({ addresses: bAddrs, secret: secretB, clock: sim.clock, timers: false, config: cfg });
  sim.addNode('a', A).addNode('b', B);
  sim.addLink('l1', 'a:eth0', 'b:eth0', o.link);
  if (o.multihome) {
    sim.addLink('l2', 'a:eth1', 'b:eth1', o.link);
    const p = (n: number) => (o.v6 ? `fd00:${n}::/64` : `10.${n}.0.0/24`);
    sim.addRoute('a', p(1), 'eth0'); sim.addRoute('a', p(2), 'eth1');
    sim.addRoute('b', p(1), 'eth0'); sim.addRoute('b', p(2), 'eth1');
  }
  const ab = new Flow((o.seed * 2654435761) >>> 0, o);
  const ba = o.bidir ? new Flow((o.seed * 40503 + 17) >>> 0, o) : null;
  const sa: Side = { host: A, id: null, out: ab, inn: ba, shut: false, closed: false, eof: false, name: 'A' };
  const sb: Side = { host: B, id: null, out: ba, inn: ab, shut: false, closed: false, eof: false, name: 'B' };
  let bad: string | null = null;
  let reads = 0;
  const pathEventsA: string[] = [];

  const pump = (s: Side) => {
    const f = s.out;
    if (s.id === null || bad !== null) return;
    if (f !== null) {
      for (;;) {
        if (f.cur === null) {
          if (f.sentBytes >= o.bytes) break;
          f.cur = f.gen();
        }
        const g = f.cur;
        const ttl = o.ttl !== undefined && o.ttl !== null && g.unordered ? o.ttl : null;
        const maxRetransmits = o.maxRtx !== undefined && o.maxRtx !== null && g.unordered ? o.maxRtx : null;
        const r = s.host.call({ type: 'send', id: s.id, data: Flow.body(g), stream: g.stream, ppid: g.i & 0xffff, unordered: g.unordered, ttl, maxRetransmits });
        if (!r.ok) {
          if (r.code !== 'EAGAIN') bad = `${s.name}: send failed ${r.code}`;
          return;
        }
        f.sentBytes += g.size;
        f.msgs++;
        f.cur = null;
      }
    }
    maybeShutdown();
  };
  // A shuts down once it has sent everything and (bidir) received everything B sent: after
  // a SHUTDOWN the peer may send no new data (RFC 9260 §9.2).
  const maybeShutdown = () => {
    if (sa.shut || sa.id === null || bad !== null) return;
    if (ab.cur !== null || ab.sentBytes < o.bytes) return;
    if (ba !== null && (ba.cur !== null || ba.sentBytes < o.bytes || ba.received < ba.msgs)) return;
    sa.shut = true;
    const r = A.call({ type: 'shutdown', id: sa.id });
    if (!r.ok) bad = `A: shutdown failed ${r.code}`;
  };
  const drain = (s: Side, limit = Infinity) => {
    if (s.id === null) return;
    let n = 0;
    while (n < limit) {
      const r = s.host.call({ type: 'recv', id: s.id });
      if (!r.ok) { bad = `${s.name}: recv failed ${r.code}`; return; }
      if (r.message === null) { if (r.eof) s.eof = true; return; }
      n++;
      const m = r.message;
      const f = s.inn;
      if (f === null) { bad = `${s.name}: unexpected message`; return; }
      const e = f.check(m.data, m.stream, m.ppid, m.unordered);
      if (e !== null) { bad = `${s.name}: ${e}`; return; }
      if (s === sa) maybeShutdown();
      if (s === sb && o.cutAtBytes !== undefined && o.cut !== undefined && f.bytesReceived >= o.cutAtBytes && sim.isLinkUp(o.cut[0])) sim.setLinkUp(o.cut[0], false);
    }
  };
  const slow = (s: Side) => s === sb && o.slowReader !== undefined;
  const handler = (s: Side) => (e: SctpAppEvent) => {
    switch (e.type) {
      case 'accept-ready': {
        const r = s.host.call({ type: 'accept', listener: e.listener });
        if (r.ok && r.id !== null) { s.id = r.id; pump(s); if (!slow(s)) drain(s); }
        break;
      }
      case 'connected': case 'writable': pump(s); break;
      case 'abandoned': s.out?.abandoned.add(e.msg); break;
      case 'path': if (s === sa) pathEventsA.push(`${e.addr}:${e.state}@${Math.round(sim.now)}`); break;
      case 'readable': case 'eof': if (!slow(s)) drain(s); break;
      case 'error': bad = `${s.name}: error ${e.code}`; break;
      case 'closed': s.closed = true; if (!slow(s)) drain(s); break;
      default: break;
    }
  };
  A.onEvent = handler(sa);
  B.onEvent = handler(sb);
  const port = 5001;
  sim.at(0, () => {
    const l = B.call({ type: 'listen', port, addresses: null, backlog: 4 });
    if (!l.ok) bad = 'listen failed';
    const c = A.call({ type: 'connect', local: null, localPort: null, remote: [bAddrs[0]!], port, udpEncap: o.udpEncap ? 9899 : null });
    if (c.ok) sa.id = c.id; else bad = `connect failed ${c.code}`;
  });
  if (o.cut !== undefined && o.cutAtBytes === undefined) {
    const [ln, t] = o.cut;
    sim.at(t, () => sim.setLinkUp(ln, false));
  }
  if (o.slowReader !== undefined) {
    const { n, ms } = o.slowReader;
    const read = (now: number) => { reads++; drain(sb, n); if (!(sb.eof && sb.closed) && bad === null) sim.at(now + ms, read); };
    sim.at(ms, read);
  }
  if (o.snapshotEveryMs !== undefined) {
    const every = o.snapshotEveryMs;
    const snap = (now: number) => {
      A.state = roundTrip(A.state);
      B.state = roundTrip(B.state);
      if (bad === null && !done()) sim.at(now + every, snap);
    };
    sim.at(every, snap);
  }
  const finished = (s: Side) => s.closed && (s.inn === null || s.eof);
  function done(): boolean { return bad !== null || (finished(sa) && finished(sb)); }
  const res = sim.run({ stopWhen: done, until: o.limitMs ?? 4 * 3_600_000 });
  let why = 'ok';
  if (bad !== null) why = bad;
  else if (!done()) {
    const desc = (s: Side) => {
      const a = s.id !== null ? s.host.state.assocs[s.id] : undefined;
      return `${s.name} ${a?.state} sent=${a?.sent.length} pending=${a?.pending.length} rtx=${a?.rtxCount} rwnd=${a?.peerRwnd} readQ=${a?.readQ.length} held=${a?.held.length} reasm=${a?.reasm.length} paths=${JSON.stringify(a?.paths.map((p) => [p.addr, p.active, p.cwnd, p.flight, p.t3, p.errors]))}`;
    };
    why = `incomplete at ${res.now} ms (${res.reason}): A sent ${ab.msgs} msgs, B got ${ab.received}; ${desc(sa)}; ${desc(sb)}`;
  } else {
    for (const [name, f] of [['A→B', ab], ['B→A', ba]] as const) {
      if (f === null) continue;
      const missing = f.missing();
      if (missing > f.abandoned.size) why = `${name}: ${missing} messages missing (${f.abandoned.size} abandoned)`;
      else if ((o.ttl ?? null) === null && (o.maxRtx ?? null) === null && f.received !== f.msgs) why = `${name}: received ${f.received} of ${f.msgs}`;
    }
  }
  const stats = (s: Side) => (s.id !== null ? s.host.state.assocs[s.id]?.stats ?? null : null);
  void reads;
  return {
    ok: why === 'ok', why, virtualMs: res.now, events: sim.eventCount, msgs: ab.msgs, received: ab.received, abandoned: ab.abandoned.size,
    statsA: stats(sa), statsB: stats(sb), pathEventsA, link: sim.counters('l1'),
  };
}
