// The packet fuzzer (`ferry fuzz-packets`, issue #10 item 1). On the simulated network
// (tun/sim.ts, virtual clock, one seed decides everything) a ferry host — a TCP stack and an
// SCTP stack behind one device, split as the HA node's NodeMux splits them (peekPacket: SCTP
// is protocol 132 or UDP to the RFC 6951 port, everything else, ICMP included, goes to TCP) —
// carries live transfers with an honest peer (another ferry host): three TCP connections
// (both directions, one of 4 MB, one over IPv6) and two SCTP associations (raw and
// UDP-encapsulated, messages on four streams both ways). While they run, K fuzzed packets
// (migrate/fuzz-packets-gen.ts) are fed into the host's input between the live packets.
//
// Checks, each a finding with the seed (and the packet's hex where one packet is to blame):
//   - nothing throws: every injected packet is stepped inside try/catch;
//   - every injected packet is accounted for: stepping it moves at least one counter of either
//     stack other than the pass-through ones (PASS below) — a drop by reason or a disposition;
//   - memory stays bounded: TCBs, associations, buffered bytes per connection and association,
//     IP reassembly bytes, and the process heap, against explicit bounds (BOUNDS);
//   - every live transfer completes byte-exact (length and sha256 of each TCP byte stream;
//     every SCTP message compared byte for byte, in order per stream), with EOF and no error;
//   - no connection or association that the test did not open is ever accepted.
// The live-tuple generators forge only what cannot legitimately damage a connection (see the
// file comment of fuzz-packets-gen.ts), so a damaged transfer is a stack bug, not bad luck.
import { createHash, type Hash } from 'node:crypto';
import type { AppEvent, ConnId, StackEvent, ResultOf } from '../stack/api.ts';
import { createStack, defaultStackConfig, stackNextDeadline, stackStep, type StackState } from '../stack/stack.ts';
import {
  createSctpStack, defaultSctpStackConfig, sctpIpStep, sctpNextDeadline,
  type AssocId, type SctpAppEvent, type SctpEvent, type SctpResultOf, type SctpStackState,
} from '../stack/sctp/api.ts';
import { rcvWnd } from '../stack/tcp/receive.ts';
import { toHex } from '../stack/wire/bytes.ts';
import { readCaptureFile, linkToIp } from '../tun/pcap.ts';
import { fork, nextInt, nextU32, prngInit, type PrngState } from '../tun/prng.ts';
import { Sim, type SimNode, type SimOut } from '../tun/sim.ts';
import { peekPacket } from './node-mux.ts';
import { GENERATORS, generate, type GenName, type LiveSctp, type LiveTcp, type Targets } from './fuzz-packets-gen.ts';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export { GENERATORS, type GenName } from './fuzz-packets-gen.ts';

const HOST4 = '10.9.0.1', PEER4 = '10.9.0.2', HOST6 = 'fd09::1', PEER6 = 'fd09::2';
const ENCAP = 9899;
const SCTP_PORT = 5000;

/**
 * Counters that say a packet went in, or that the stack sent something, but not what became of
 * the packet: stepping an injected packet must move some counter outside this set.
 */
export const PASS: ReadonlySet<string> = new Set([
  'ip-in', 'ip-reassembled', 'tcp-in', 'tcp-over-udp-in', 'sctp-in', 'tcp-out', 'tcp-rxt', 'fast-retransmit',
  'window-update', 'zero-window-probe', 'fin-repeated-on-ack', 'ecn-cwnd-reduced', 'ecn-ce-rcvd', 'pmtu-decrease',
]);

/** Explicit memory bounds, asserted after every batch of injected packets. */
export const BOUNDS = {
  /** TCBs: live connections plus a full SYN queue per listener (config synQueue) plus slack. */
  tcbSlack: 64,
  /** Bytes queued in one TCB beyond its configured send + receive buffers. */
  tcbBufSlack: 64 * 1024,
  /** Bytes held in one association beyond its configured buffers. */
  assocBufSlack: 64 * 1024,
  /** Heap growth over the run (process.memoryUsage().heapUsed above the value after setup). */
  heapGrowth: 192 * 1024 * 1024,
} as const;

// ------------------------------------------------------------------------------ patterns

const TABLE_LEN = 65521;
const TABLE = (() => {
  const r = prngInit(0x5eed);
  const t = new Uint8Array(TABLE_LEN * 2);
  for (let i = 0; i < TABLE_LEN; i++) t[i] = nextU32(r) & 0xff;
  t.copyWithin(TABLE_LEN, 0, TABLE_LEN);
  return t;
})();
/** `len` (≤ TABLE_LEN) bytes of the pattern stream starting at `off`: a view. */
const pattern = (off: number, len: number): Uint8Array => { const p = off % TABLE_LEN; return TABLE.subarray(p, p + len); };

/** sha256 of `len` pattern bytes from `base`. */
function patternHash(base: number, len: number): string {
  const h = createHash('sha256');
  for (let o = 0; o < len; o += 60000) h.update(pattern(base + o, Math.min(60000, len - o)));
  return h.digest('hex');
}

// ------------------------------------------------------------------------------ the node

type TcpHandler = (ev: AppEvent) => void;
type SctpHandler = (ev: SctpAppEvent) => void;

/** A TCP stack and an SCTP stack behind one interface, split like NodeMux (peekPacket). */
class DualNode implements SimNode {
  readonly tcp: StackState;
  readonly sctp: SctpStackState;
  out: Uint8Array[] = [];
  now = 0;
  onTcp: TcpHandler = () => {};
  onSctp: SctpHandler = () => {};
  private tq: AppEvent[] = [];
  private sq: SctpAppEvent[] = [];
  private busy = false;
  constructor(addrs: string[], secret: Uint8Array) {
    const c = defaultStackConfig(addrs);
    this.tcp = createStack({ ...c, tcp: { ...c.tcp, msl: 2000 } }, secret, 0);
    const s = secret.slice();
    s[0]! ^= 0x55;
    this.sctp = createSctpStack(defaultSctpStackConfig(addrs), s, 0);
  }
  /** One IP packet from the device. */
  input(pkt: Uint8Array): void {
    const k = peekPacket(pkt, ENCAP);
    if (k !== null && k.cls === 'sctp') {
      const r = sctpIpStep(this.sctp, { type: 'ip', data: pkt }, this.now);
      for (const p of r.out) this.out.push(p);
      this.queueSctp(r.events);
    } else {
      const r = stackStep(this.tcp, { type: 'packet', data: pkt }, this.now);
      for (const p of r.out) this.out.push(p);
      this.queueTcp(r.events);
    }
  }
  callTcp<E extends StackEvent>(ev: E): ResultOf<E> {
    const r = stackStep(this.tcp, ev, this.now);
    for (const p of r.out) this.out.push(p);
    this.queueTcp(r.events);
    return r.result;
  }
  callSctp<E extends SctpEvent>(ev: E): SctpResultOf<E> {
    const r = sctpIpStep(this.sctp, ev, this.now);
    for (const p of r.out) this.out.push(p);
    this.queueSctp(r.events);
    return r.result as SctpResultOf<E>;
  }
  private queueTcp(evs: AppEvent[]): void { if (evs.length > 0) { for (const e of evs) this.tq.push(e); this.dispatch(); } }
  private queueSctp(evs: SctpAppEvent[]): void { if (evs.length > 0) { for (const e of evs) this.sq.push(e); this.dispatch(); } }
  private dispatch(): void {
    if (this.busy) return;
    this.busy = true;
    try {
      while (this.tq.length > 0 || this.sq.length > 0) {
        if (this.tq.length > 0) this.onTcp(this.tq.shift()!);
        else this.onSctp(this.sq.shift()!);
      }
    } finally { this.busy = false; }
  }
  private take(): SimOut[] { const o = this.out; this.out = []; return o; }
  receive(pkt: Uint8Array, now: number): readonly SimOut[] { this.now = now; this.input(pkt); return this.take(); }
  tick(now: number): readonly SimOut[] {
    this.now = now;
    const a = stackNextDeadline(this.tcp), b = sctpNextDeadline(this.sctp);
    if (a !== null && a <= now) this.callTcp({ type: 'tick' });
    if (b !== null && b <= now) this.callSctp({ type: 'tick' });
    return this.take();
  }
  nextDeadline(): number | null {
    const a = stackNextDeadline(this.tcp), b = sctpNextDeadline(this.sctp);
    return a === null ? b : b === null ? a : Math.min(a, b);
  }
  poll(now: number): readonly SimOut[] { this.now = now; return this.take(); }
}

// ------------------------------------------------------------------------------ TCP transfers

interface TcpFlowSpec { name: string; client: 'host' | 'peer'; port: number; v6: boolean; up: number; down: number }

/** The live TCP connections: `up` bytes client → server, `down` server → client. */
const TCP_FLOWS: readonly TcpFlowSpec[] = [
  { name: 'tcp-4MB-to-host', client: 'peer', port: 80, v6: false, up: 4 * 1024 * 1024, down: 64 * 1024 },
  { name: 'tcp-1MB-from-host', client: 'host', port: 81, v6: false, up: 1024 * 1024, down: 256 * 1024 },
  { name: 'tcp-v6-both', client: 'peer', port: 82, v6: true, up: 512 * 1024, down: 1024 * 1024 },
];

/** One end of a TCP transfer. */
class TcpEnd {
  id: ConnId | null = null;
  txSent = 0; rxGot = 0; eof = false; shut = false; closed = false; closeCalled = false;
  error: string | null = null;
  readonly hash: Hash = createHash('sha256');
  constructor(readonly node: DualNode, readonly txTotal: number, readonly txBase: number, readonly rxTotal: number) {}
  pump(): void {
    const id = this.id;
    if (id === null || this.closeCalled) return;
    while (this.txSent < this.txTotal) {
      const n = Math.min(60000, this.txTotal - this.txSent);
      const r = this.node.callTcp({ type: 'send', id, data: pattern(this.txBase + this.txSent, n) });
      if (!r.ok) { if (r.code !== 'EAGAIN' as string) this.error ??= `send: ${r.code}`; return; }
      if (r.bytes === 0) return;
      this.txSent += r.bytes;
    }
    if (!this.shut) { this.shut = true; this.node.callTcp({ type: 'shutdown', id }); }
    this.maybeClose();
  }
  drain(): void {
    const id = this.id;
    if (id === null) return;
    for (;;) {
      const r = this.node.callTcp({ type: 'recv', id, max: 1 << 20 });
      if (!r.ok) return;
      if (r.data.length > 0) { this.hash.update(r.data); this.rxGot += r.data.length; }
      if (r.eof) { this.eof = true; break; }
      if (r.data.length === 0) break;
    }
    this.maybeClose();
  }
  maybeClose(): void {
    if (this.eof && this.shut && this.txSent === this.txTotal && !this.closeCalled && this.id !== null) {
      this.closeCalled = true;
      this.node.callTcp({ type: 'close', id: this.id });
    }
  }
  on(e: AppEvent): void {
    switch (e.type) {
      case 'connected': case 'writable': this.pump(); break;
      case 'readable': case 'eof': this.drain(); break;
      case 'error': this.error ??= e.code; break;
      case 'closed': this.closed = true; this.drain(); break;
      default: break;
    }
  }
}

// ------------------------------------------------------------------------------ SCTP transfers

const STREAMS = 4;
interface SctpFlowSpec { name: string; encap: boolean; up: number; down: number }
/** The live associations: `up` messages peer → host, `down` host → peer, on four streams. */
const SCTP_FLOWS: readonly SctpFlowSpec[] = [
  { name: 'sctp-raw', encap: false, up: 600, down: 400 },
  { name: 'sctp-udp', encap: true, up: 400, down: 600 },
];
/** Message `i` of a direction with pattern base `base`: its stream and bytes (1..3000 bytes). */
const sctpMsg = (base: number, i: number): { stream: number; data: Uint8Array } =>
  ({ stream: i % STREAMS, data: pattern(base + i * 977, 1 + ((i * 7919 + base) % 3000)) });

class SctpEnd {
  id: AssocId | null = null;
  sent = 0; got = 0; eof = false; closed = false; shutCalled = false;
  error: string | null = null;
  /** Next message index expected on each stream. */
  readonly next: number[] = Array.from({ length: STREAMS }, (_, s) => s);
  bad: string | null = null;
  constructor(readonly node: DualNode, readonly isClient: boolean, readonly txTotal: number, readonly txBase: number, readonly rxTotal: number, readonly rxBase: number) {}
  pump(): void {
    const id = this.id;
    if (id === null) return;
    while (this.sent < this.txTotal) {
      const m = sctpMsg(this.txBase, this.sent);
      const r = this.node.callSctp({ type: 'send', id, data: m.data, stream: m.stream, ppid: this.sent, unordered: false, ttl: null, maxRetransmits: null });
      if (!r.ok) { if (r.code !== 'EAGAIN') this.error ??= `send: ${r.code}`; return; }
      this.sent++;
    }
    this.maybeShutdown();
  }
  drain(): void {
    const id = this.id;
    if (id === null) return;
    for (;;) {
      const r = this.node.callSctp({ type: 'recv', id });
      if (!r.ok) return;
      if (r.message === null) { if (r.eof) this.eof = true; break; }
      const m = r.message;
      const s = m.stream;
      const i = s < STREAMS ? this.next[s]! : -1;
      const want = i >= 0 && i < this.rxTotal ? sctpMsg(this.rxBase, i) : null;
      if (want === null || m.ppid !== i || !bytesEq(want.data, m.data)) this.bad ??= `stream ${s}: message ${i} wrong (${m.data.length} bytes, ppid ${m.ppid})`;
      else { this.next[s] = i + STREAMS; this.got++; }
    }
    this.maybeShutdown();
  }
  maybeShutdown(): void {
    if (this.isClient && this.sent === this.txTotal && this.got === this.rxTotal && !this.shutCalled && this.id !== null) {
      this.shutCalled = true;
      this.node.callSctp({ type: 'shutdown', id: this.id });
    }
  }
  on(e: SctpAppEvent): void {
    switch (e.type) {
      case 'connected': case 'writable': this.pump(); break;
      case 'readable': case 'eof': this.drain(); break;
      case 'error': this.error ??= e.code; break;
      case 'closed': this.drain(); this.closed = true; break;
      default: break;
    }
  }
}

function bytesEq(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A failed transfer's TCB, for the report. */
function tcbSummary(st: StackState, id: ConnId | null): string {
  const t = id === null ? undefined : st.tcp[id];
  if (t === undefined) return 'gone';
  return JSON.stringify({
    state: t.state, sndUna: t.sndUna, sndNxt: t.sndNxt, sndWnd: t.sndWnd, rcvNxt: t.rcvNxt, rcvWnd: rcvWnd(t), sndQLen: t.sndQLen, rcvQLen: t.rcvQLen,
    oooLen: t.oooLen, tsRecent: t.tsRecent, timers: t.timers, rto: t.rto, retries: t.retries, pmtu: t.pmtu, mss: t.mss, cwnd: t.cc.cwnd,
  });
}

// ------------------------------------------------------------------------------ fixtures

let fixtureCache: Uint8Array[] | null = null;
/** Every IP packet of every fixtures/*.pcap* file (owned copies). */
export function fixturePackets(): Uint8Array[] {
  if (fixtureCache !== null) return fixtureCache;
  const dir = fileURLToPath(new URL('../fixtures/', import.meta.url));
  const out: Uint8Array[] = [];
  for (const f of readdirSync(dir).sort()) {
    if (!/\.pcap(ng)?$/.test(f)) continue;
    const c = readCaptureFile(dir + f);
    if (!c.ok) continue;
    for (const p of c.value.packets) {
      const ip = linkToIp(p.linkType, p.data);
      if (ip.ok) out.push(ip.value.ip.slice());
    }
  }
  fixtureCache = out;
  return out;
}

// ------------------------------------------------------------------------------ the run

export interface Finding { kind: string; seed: number; packet: number | null; gen: GenName | null; what: string; hex: string | null; detail: string }

export interface TransferReport { name: string; ok: boolean; detail: string; bytesOrMsgs: string }

export interface FuzzPacketsResult {
  seed: number;
  count: number;
  ok: boolean;
  /** Packets injected, per generator. */
  injected: Record<string, number>;
  /** Packets whose step moved each counter (disposition and drop reasons), over injected packets only. */
  dispositions: Record<string, number>;
  /** Injected packets that moved a counter outside PASS (must equal count). */
  accounted: number;
  findings: Finding[];
  transfers: TransferReport[];
  peak: { tcbs: number; assocs: number; fragBytes: number; tcbBufBytes: number; assocBufBytes: number; heapUsedMB: number; heapGrowthMB: number };
  virtualMs: number;
  wallMs: number;
  packetsPerSec: number;
}

export interface FuzzPacketsOptions {
  seed: number;
  count: number;
  /** Virtual ms over which the packets are spread (default 1200, while the transfers run). */
  spreadMs?: number;
  /** Stop collecting findings after this many (default 50). */
  maxFindings?: number;
}

/** Run the packet fuzzer once. Deterministic for (seed, count) apart from heap figures and wall time. */
export function fuzzPackets(o: FuzzPacketsOptions): FuzzPacketsResult {
  const wall0 = performance.now();
  const seed = o.seed >>> 0, count = o.count;
  const spreadMs = o.spreadMs ?? 1200, maxFindings = o.maxFindings ?? 50;
  const root = prngInit(seed);
  const sim = new Sim({ seed });
  const secret = (k: number) => new Uint8Array(32).map((_, i) => (seed * 131 + i * 17 + k) & 0xff);
  const host = new DualNode([HOST4, HOST6], secret(1));
  const peer = new DualNode([PEER4, PEER6], secret(2));
  sim.addNode('host', host).addNode('peer', peer);
  sim.addLink('l', 'host:eth0', 'peer:eth0', { delayMs: 2, bitsPerSec: 25e6, queueBytes: 200_000 });

  const findings: Finding[] = [];
  const finding = (f: Omit<Finding, 'seed'>) => { if (findings.length < maxFindings) findings.push({ seed, ...f }); };

  // ---- live transfers
  interface TcpPair { spec: TcpFlowSpec; host: TcpEnd; peer: TcpEnd; hostIsClient: boolean; upBase: number; downBase: number }
  const tcpPairs: TcpPair[] = TCP_FLOWS.map((spec, k) => {
    const upBase = 1000 + k * 7777, downBase = 50000 + k * 3333;
    const hostIsClient = spec.client === 'host';
    // The host's end sends `up` when it is the client, else `down`.
    const h = hostIsClient ? new TcpEnd(host, spec.up, upBase, spec.down) : new TcpEnd(host, spec.down, downBase, spec.up);
    const p = hostIsClient ? new TcpEnd(peer, spec.down, downBase, spec.up) : new TcpEnd(peer, spec.up, upBase, spec.down);
    return { spec, host: h, peer: p, hostIsClient, upBase, downBase };
  });
  const tcpById: Record<string, TcpEnd> = {};
  const listenerFlow: Record<string, { node: DualNode; pair: TcpPair }> = {};
  for (const pair of tcpPairs) {
    const server = pair.hostIsClient ? peer : host;
    const addr = pair.spec.v6 ? (server === host ? HOST6 : PEER6) : (server === host ? HOST4 : PEER4);
    const l = server.callTcp({ type: 'listen', addr, port: pair.spec.port, backlog: 16 });
    if (!l.ok) throw new Error(`fuzz-packets: listen ${pair.spec.port}: ${l.code}`);
    listenerFlow[l.listener] = { node: server, pair };
  }
  const tcpHandler = (node: DualNode) => (e: AppEvent) => {
    if (e.type === 'accept-ready') {
      const lf = listenerFlow[e.listener];
      const a = node.callTcp({ type: 'accept', listener: e.listener });
      if (!a.ok || a.id === null || lf === undefined) return;
      const end = node === host ? lf.pair.host : lf.pair.peer;
      if (end.id !== null) {
        finding({ kind: 'unexpected-connection', packet: null, gen: null, what: a.id, hex: null, detail: `a second connection on ${lf.pair.spec.name} was accepted` });
        node.callTcp({ type: 'abort', id: a.id });
        return;
      }
      end.id = a.id;
      tcpById[a.id] = end;
      end.pump();
      end.drain();
      return;
    }
    const end = tcpById[e.id];
    if (end !== undefined && end.node === node) end.on(e);
  };
  host.onTcp = tcpHandler(host);
  peer.onTcp = tcpHandler(peer);

  interface SctpPair { spec: SctpFlowSpec; host: SctpEnd; peer: SctpEnd }
  const sctpPairs: SctpPair[] = SCTP_FLOWS.map((spec, k) => ({
    spec,
    host: new SctpEnd(host, false, spec.down, 900 + k * 55, spec.up, 400 + k * 99),
    peer: new SctpEnd(peer, true, spec.up, 400 + k * 99, spec.down, 900 + k * 55),
  }));
  const sl = host.callSctp({ type: 'listen', port: SCTP_PORT, addresses: null, backlog: 16 });
  if (!sl.ok) throw new Error(`fuzz-packets: sctp listen: ${sl.code}`);
  const sctpById: Record<string, SctpEnd> = {};
  let sctpAccepted = 0;
  host.onSctp = (e) => {
    if (e.type === 'accept-ready') {
      const a = host.callSctp({ type: 'accept', listener: e.listener });
      if (!a.ok || a.id === null) return;
      // Associations are accepted in the order the peer opened them (one at a time, below).
      const pair = sctpPairs[sctpAccepted++];
      if (pair === undefined) {
        finding({ kind: 'unexpected-association', packet: null, gen: null, what: a.id, hex: null, detail: 'an association the test did not open was accepted' });
        host.callSctp({ type: 'abort', id: a.id });
        return;
      }
      pair.host.id = a.id;
      sctpById[a.id] = pair.host;
      pair.host.pump();
      pair.host.drain();
      return;
    }
    sctpById[e.id]?.on(e);
  };
  peer.onSctp = (e) => { if (e.type !== 'accept-ready') { const end = sctpById[`peer:${e.id}`]; end?.on(e); } };

  // Open everything at t = 1 ms; the second association once the first is accepted (accept order = pair order).
  sim.at(1, () => {
    for (const pair of tcpPairs) {
      const client = pair.hostIsClient ? host : peer;
      const remote = pair.spec.v6 ? (client === host ? PEER6 : HOST6) : (client === host ? PEER4 : HOST4);
      const r = client.callTcp({ type: 'connect', local: null, localPort: null, remote, port: pair.spec.port });
      if (!r.ok) throw new Error(`fuzz-packets: connect ${pair.spec.name}: ${r.code}`);
      const end = pair.hostIsClient ? pair.host : pair.peer;
      end.id = r.id;
      tcpById[r.id] = end;
    }
    openSctp(0);
  });
  const openSctp = (k: number) => {
    const pair = sctpPairs[k];
    if (pair === undefined) return;
    const r = peer.callSctp({ type: 'connect', local: null, localPort: null, remote: [HOST4], port: SCTP_PORT, udpEncap: pair.spec.encap ? ENCAP : null });
    if (!r.ok) throw new Error(`fuzz-packets: sctp connect: ${r.code}`);
    pair.peer.id = r.id;
    sctpById[`peer:${r.id}`] = pair.peer;
    const wait = () => { if (sctpAccepted > k) openSctp(k + 1); else sim.after(1, wait); };
    sim.after(1, wait);
  };

  // ---- targets for the generators (refreshed for every packet: each injected packet may move the state)
  const fixtures = fixturePackets();
  const targets: Targets = {
    hostV4: HOST4, hostV6: HOST6, peerV4: PEER4, peerV6: PEER6,
    tcpPorts: TCP_FLOWS.filter((f) => f.client === 'peer').map((f) => f.port), sctpPorts: [SCTP_PORT], closedPort: 9, encapPort: ENCAP,
    tcp: [], sctp: [], fixtures,
  };
  const refreshTargets = () => {
    const tl: LiveTcp[] = [];
    for (const pair of tcpPairs) {
      const id = pair.host.id;
      const t = id === null ? undefined : host.tcp.tcp[id];
      if (t === undefined || t.state === 'SYN-SENT' || t.state === 'CLOSED') continue;
      // What the peer sends on this connection: `up` from upBase when the peer is the client. Only
      // bytes the peer has already sent may be forged: correct bytes beyond its SND.NXT would be
      // accepted and acknowledged, and the peer drops every segment whose ACK is above its SND.NXT
      // (RFC 9293 §3.10.7.4 fifth, RFC 5961 §5.2), so the connection would stall for good.
      const total = pair.hostIsClient ? pair.spec.down : pair.spec.up, base = pair.hostIsClient ? pair.downBase : pair.upBase;
      const pt = pair.peer.id === null ? undefined : peer.tcp.tcp[pair.peer.id];
      const sent = pt === undefined ? total : pt.state === 'SYN-SENT' ? 0 : Math.min(total, (pt.sndNxt - pt.iss - 1) >>> 0);
      tl.push({
        local: t.localAddr, localPort: t.localPort, remote: t.remoteAddr, remotePort: t.remotePort,
        irs: t.irs, rcvNxt: t.rcvNxt, rcvWnd: rcvWnd(t), sndUna: t.sndUna, sndNxt: t.sndNxt, maxSndWnd: t.maxSndWnd,
        tsOk: t.tsOk, tsRecent: t.tsRecent, sackOk: t.sackOk,
        truth: (off, len) => (off + len <= sent && len <= TABLE_LEN ? pattern(base + off, len) : null),
      });
    }
    const sl2: LiveSctp[] = [];
    for (const pair of sctpPairs) {
      const a = pair.host.id === null ? undefined : host.sctp.assocs[pair.host.id];
      if (a === undefined) continue;
      const p = a.paths[a.primary];
      sl2.push({
        local: a.localAddrs[0]!, localPort: a.localPort, remote: p?.addr ?? PEER4, remotePort: a.remotePort,
        myVtag: a.myVtag, peerVtag: a.peerVtag, cumTsn: a.cumTsn, nextTsn: a.nextTsn, cumAck: a.cumAck, encap: p?.udpPort ?? null,
      });
    }
    targets.tcp = tl;
    targets.sctp = sl2;
  };

  // ---- injection
  const injected: Record<string, number> = {};
  const dispositions: Record<string, number> = {};
  let accounted = 0, n = 0;
  const genRng: PrngState = fork(root, 'gen');
  // Each injected packet is stepped with empty counter records swapped in (the stacks bump
  // `state.counters[name]`, read afresh on every step), so what it moved is exactly the keys
  // that appear; they are then added back into the real records.
  const moved = (t: Record<string, number>, s: Record<string, number>): string[] => {
    const m: string[] = [];
    for (const k in t) { host.tcp.counters[k] = (host.tcp.counters[k] ?? 0) + t[k]!; if (!PASS.has(k)) m.push(k); }
    for (const k in s) { host.sctp.counters[k] = (host.sctp.counters[k] ?? 0) + s[k]!; if (!PASS.has(k)) m.push(k); }
    return m;
  };
  const injectOne = () => {
    const g = GENERATORS[nextInt(genRng, 0, GENERATORS.length)]!;
    if (g === 'tcp-live' || g === 'sctp-live' || g === 'icmp') refreshTargets();
    const p = generate(g, genRng, targets);
    injected[g] = (injected[g] ?? 0) + 1;
    const idx = n++;
    const tc = host.tcp.counters, sc = host.sctp.counters;
    const t: Record<string, number> = {}, sx: Record<string, number> = {};
    host.tcp.counters = t;
    host.sctp.counters = sx;
    try {
      host.now = sim.now;
      host.input(p.data);
    } catch (e) {
      finding({ kind: 'exception', packet: idx, gen: g, what: p.what, hex: toHex(p.data), detail: (e as Error).stack ?? String(e) });
      return;
    } finally {
      host.tcp.counters = tc;
      host.sctp.counters = sc;
    }
    const m = moved(t, sx);
    if (m.length > 0) {
      accounted++;
      for (const k of m) dispositions[k] = (dispositions[k] ?? 0) + 1;
    } else {
      finding({ kind: 'unaccounted', packet: idx, gen: g, what: p.what, hex: toHex(p.data), detail: 'no drop or disposition counter moved' });
    }
  };

  // ---- memory bounds
  const peak = { tcbs: 0, assocs: 0, fragBytes: 0, tcbBufBytes: 0, assocBufBytes: 0, heapUsedMB: 0, heapGrowthMB: 0 };
  const seen = new Set<string>();
  const bound = (kind: string, ok: boolean, detail: string) => {
    if (ok || seen.has(kind)) return;
    seen.add(kind);
    finding({ kind: `memory-${kind}`, packet: n, gen: null, what: '', hex: null, detail });
  };
  let heap0 = 0;
  const checkMemory = (heap: boolean) => {
    const st = host.tcp;
    const ids = Object.keys(st.tcp);
    const listeners = Object.keys(st.listeners).length;
    const maxTcbs = TCP_FLOWS.length + listeners * st.config.synQueue + BOUNDS.tcbSlack;
    peak.tcbs = Math.max(peak.tcbs, ids.length);
    bound('tcbs', ids.length <= maxTcbs, `${ids.length} TCBs > ${maxTcbs}`);
    let buf = 0;
    for (const id of ids) {
      const t = st.tcp[id]!;
      const b = t.sndQLen + t.rcvQLen + t.oooLen;
      buf += b;
      bound('tcb-buffer', b <= t.cfg.sndBuf + t.cfg.rcvBuf + BOUNDS.tcbBufSlack, `${id}: ${b} bytes queued > sndBuf ${t.cfg.sndBuf} + rcvBuf ${t.cfg.rcvBuf} + slack`);
    }
    peak.tcbBufBytes = Math.max(peak.tcbBufBytes, buf);
    peak.fragBytes = Math.max(peak.fragBytes, st.frag.bytes);
    bound('frag', st.frag.bytes <= st.frag.limits.maxBytes && st.frag.count <= st.frag.limits.maxDatagrams, `reassembly ${st.frag.bytes} bytes, ${st.frag.count} datagrams`);
    const aids = Object.keys(host.sctp.assocs);
    peak.assocs = Math.max(peak.assocs, aids.length);
    // Exactly the live associations: RFC 9260 §5.1 keeps no state before a valid COOKIE ECHO.
    bound('assocs', aids.length <= SCTP_FLOWS.length, `${aids.length} associations > ${SCTP_FLOWS.length} live ones`);
    let abuf = 0;
    for (const id of aids) {
      const a = host.sctp.assocs[id]!;
      abuf += a.rcvBufUsed + a.sndBufUsed;
      bound('assoc-buffer', a.rcvBufUsed <= a.cfg.rcvBuf + BOUNDS.assocBufSlack && a.sndBufUsed <= a.cfg.sndBuf + BOUNDS.assocBufSlack,
        `${id}: rcvBufUsed ${a.rcvBufUsed}/${a.cfg.rcvBuf}, sndBufUsed ${a.sndBufUsed}/${a.cfg.sndBuf}`);
    }
    peak.assocBufBytes = Math.max(peak.assocBufBytes, abuf);
    if (heap) {
      const h = process.memoryUsage().heapUsed;
      peak.heapUsedMB = Math.max(peak.heapUsedMB, h / 2 ** 20);
      peak.heapGrowthMB = Math.max(peak.heapGrowthMB, (h - heap0) / 2 ** 20);
      bound('heap', h - heap0 <= BOUNDS.heapGrowth, `heapUsed grew ${((h - heap0) / 2 ** 20).toFixed(1)} MB > ${BOUNDS.heapGrowth / 2 ** 20} MB`);
    }
  };

  // Batches every 0.5 ms of virtual time from t = 5 ms over spreadMs, between the live packets.
  const start = 5, step = 0.5;
  const batches = Math.max(1, Math.floor(spreadMs / step));
  const per = Math.floor(count / batches), extra = count - per * batches;
  let b = 0;
  const batch = () => {
    const k = per + (b < extra ? 1 : 0);
    for (let i = 0; i < k; i++) injectOne();
    checkMemory(b % 200 === 0);
    b++;
    if (b < batches) sim.at(start + b * step, batch);
  };
  sim.at(start, batch);

  // ---- run
  heap0 = process.memoryUsage().heapUsed;
  const done = () => tcpPairs.every((p) => p.host.closeCalled && p.peer.closeCalled) && sctpPairs.every((p) => p.host.closed && p.peer.closed) && b >= batches;
  const limitMs = 600_000;
  try {
    sim.run({ until: limitMs, stopWhen: done, maxEvents: 50_000_000 });
  } catch (e) {
    finding({ kind: 'exception-live', packet: null, gen: null, what: 'live traffic or timers', hex: null, detail: (e as Error).stack ?? String(e) });
  }
  checkMemory(true);

  // ---- transfer checks
  const transfers: TransferReport[] = [];
  for (const p of tcpPairs) {
    const probs: string[] = [];
    const check = (who: string, e: TcpEnd, base: number, total: number) => {
      if (e.error !== null) probs.push(`${who} error ${e.error}`);
      if (e.rxGot !== total) probs.push(`${who} got ${e.rxGot}/${total} bytes`);
      else if (e.hash.copy().digest('hex') !== patternHash(base, total)) probs.push(`${who} sha256 differs`);
      if (!e.eof) probs.push(`${who} no EOF`);
      if (e.txSent !== e.txTotal) probs.push(`${who} sent ${e.txSent}/${e.txTotal}`);
      if (!e.closeCalled) probs.push(`${who} not closed`);
    };
    // The server receives `up` (upBase), the client `down` (downBase).
    const server = p.hostIsClient ? p.peer : p.host, client = p.hostIsClient ? p.host : p.peer;
    check(p.hostIsClient ? 'peer' : 'host', server, p.upBase, p.spec.up);
    check(p.hostIsClient ? 'host' : 'peer', client, p.downBase, p.spec.down);
    if (probs.length > 0) for (const [who, node, e] of [['host', host, p.host], ['peer', peer, p.peer]] as const) probs.push(`${who} TCB ${tcbSummary(node.tcp, e.id)}`);
    transfers.push({ name: p.spec.name, ok: probs.length === 0, detail: probs.join('; ') || 'byte-exact (sha256), EOF both ways', bytesOrMsgs: `${p.spec.up}+${p.spec.down} B` });
  }
  for (const p of sctpPairs) {
    const probs: string[] = [];
    for (const [who, e, total] of [['host', p.host, p.spec.up], ['peer', p.peer, p.spec.down]] as const) {
      if (e.error !== null) probs.push(`${who} error ${e.error}`);
      if (e.bad !== null) probs.push(`${who} ${e.bad}`);
      if (e.got !== total) probs.push(`${who} got ${e.got}/${total} messages`);
      if (!e.closed) probs.push(`${who} not closed`);
    }
    transfers.push({ name: p.spec.name, ok: probs.length === 0, detail: probs.join('; ') || 'every message exact, in order per stream, shutdown', bytesOrMsgs: `${p.spec.up}+${p.spec.down} msgs` });
  }
  for (const t of transfers) if (!t.ok) finding({ kind: 'transfer', packet: null, gen: null, what: t.name, hex: null, detail: t.detail });
  if (accounted !== n - findings.filter((f) => f.kind === 'exception').length && !findings.some((f) => f.kind === 'unaccounted')) {
    finding({ kind: 'accounting', packet: null, gen: null, what: '', hex: null, detail: `${accounted} of ${n} packets accounted` });
  }
  if (n !== count) finding({ kind: 'accounting', packet: null, gen: null, what: '', hex: null, detail: `${n} packets injected, ${count} asked for` });

  const wallMs = performance.now() - wall0;
  return {
    seed, count, ok: findings.length === 0, injected, dispositions, accounted, findings, transfers, peak,
    virtualMs: sim.now, wallMs, packetsPerSec: count / (wallMs / 1000),
  };
}
