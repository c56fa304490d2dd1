// Bulk-transfer harness over the simulated network: two ferry stacks, a server that accepts
// one connection and a client that connects; each side sends `bytes` of a pseudo-random
// stream (a prime-length table, offset per direction), reads and verifies everything the other
// side sends, then half-closes. Used by test/sim/tcp-*.test.ts and the benchmark.
import type { CcAlgo, ConnId, StackConfig, TcpSocketConfig } from '../../stack/api.ts';
import { defaultStackConfig } from '../../stack/stack.ts';
import { Sim, type LinkConfig } from '../../tun/sim.ts';
import { StackNode } from '../../tun/sim-stack.ts';
import { nextU32, prngInit } from '../../tun/prng.ts';

const TABLE_LEN = 65521;
const CHUNK = 65536;

/** The data table: TABLE_LEN pseudo-random bytes, repeated twice so any window of < TABLE_LEN bytes is one subarray. */
function makeTable(seed: number): Uint8Array {
  const r = prngInit(seed);
  const t = new Uint8Array(TABLE_LEN * 2);
  for (let i = 0; i < TABLE_LEN; i++) t[i] = nextU32(r) & 0xff;
  t.copyWithin(TABLE_LEN, 0, TABLE_LEN);
  return t;
}

export interface TransferOptions {
  seed: number;
  cc: CcAlgo;
  /** Bytes each direction (0: that side sends nothing). */
  bytesAtoB: number;
  bytesBtoA: number;
  link: Partial<LinkConfig>;
  tcp?: Partial<TcpSocketConfig>;
  /** Give up at this virtual time (ms). */
  limitMs?: number;
  /** Use IPv6 addresses (fd00::1, fd00::2). */
  v6?: boolean;
}

export interface TransferResult {
  ok: boolean;
  why: string;
  virtualMs: number;
  events: number;
  receivedAtB: number;
  receivedAtA: number;
  retransmits: number;
  counters: { a: Record<string, number>; b: Record<string, number> };
  link: unknown;
}

interface Side {
  node: StackNode;
  id: ConnId | null;
  sent: number;
  toSend: number;
  shut: boolean;
  got: number;
  expect: number;
  eof: boolean;
  closed: boolean;
  bad: string | null;
  /** Offset into the table of this side's outgoing stream. */
  txBase: number;
  rxBase: number;
}

export function runTransfer(o: TransferOptions): TransferResult {
  const table = makeTable(12345);
  const mk = (addr: string): StackConfig => {
    const c = defaultStackConfig([addr]);
    return { ...c, tcp: { ...c.tcp, cc: o.cc, ...(o.tcp ?? {}) } };
  };
  const secretA = new Uint8Array(32).fill(o.seed & 0xff).map((x, i) => x ^ i);
  const secretB = secretA.map((x) => x ^ 0x5a);
  const sim = new Sim({ seed: o.seed });
  const addrA = o.v6 ? 'fd00::1' : '10.0.0.1', addrB = o.v6 ? 'fd00::2' : '10.0.0.2';
  const A = new StackNode(mk(addrA), secretA);
  const B = new StackNode(mk(addrB), secretB);
  sim.addNode('a', A).addNode('b', B);
  sim.addLink('ab', 'a:eth0', 'b:eth0', o.link);
  const sa: Side = { node: A, id: null, sent: 0, toSend: o.bytesAtoB, shut: false, got: 0, expect: o.bytesBtoA, eof: false, closed: false, bad: null, txBase: 0, rxBase: 777 };
  const sb: Side = { node: B, id: null, sent: 0, toSend: o.bytesBtoA, shut: false, got: 0, expect: o.bytesAtoB, eof: false, closed: false, bad: null, txBase: 777, rxBase: 0 };

  const pump = (s: Side, now: number) => {
    if (s.id === null) return;
    while (s.sent < s.toSend) {
      const n = Math.min(CHUNK, TABLE_LEN, s.toSend - s.sent);
      const off = (s.txBase + s.sent) % TABLE_LEN;
      const r = s.node.call({ type: 'send', id: s.id, data: table.subarray(off, off + n) }, now);
      if (!r.ok) { s.bad = `send failed ${r.code}`; return; }
      s.sent += r.bytes;
      if (r.bytes < n) return;
    }
    if (!s.shut) {
      s.shut = true;
      const r = s.node.call({ type: 'shutdown', id: s.id }, now);
      if (!r.ok) s.bad = `shutdown failed ${r.code}`;
    }
  };
  const drain = (s: Side, now: number) => {
    if (s.id === null) return;
    for (;;) {
      const r = s.node.call({ type: 'recv', id: s.id, max: 1 << 20 }, now);
      if (!r.ok) { s.bad = `recv failed ${r.code}`; return; }
      const d = r.data;
      if (d.length > 0) {
        // Compare in pieces shorter than the table (native memcmp through Buffer.equals).
        for (let i = 0; i < d.length; i += TABLE_LEN - 1) {
          const n = Math.min(TABLE_LEN - 1, d.length - i);
          const off = (s.rxBase + s.got + i) % TABLE_LEN;
          const got = Buffer.from(d.buffer, d.byteOffset + i, n);
          const want = Buffer.from(table.buffer, table.byteOffset + off, n);
          if (!got.equals(want)) {
            let k = 0;
            while (k < n && got[k] === want[k]) k++;
            s.bad = `byte ${s.got + i + k} differs`;
            return;
          }
        }
        s.got += d.length;
      }
      if (r.eof) { s.eof = true; return; }
      if (d.length === 0) return;
    }
  };
  const handler = (s: Side) => (ev: import('../../stack/api.ts').AppEvent, node: StackNode, now: number) => {
    switch (ev.type) {
      case 'accept-ready': {
        const r = node.call({ type: 'accept', listener: ev.listener }, now);
        if (r.ok && r.id !== null) { s.id = r.id; pump(s, now); drain(s, now); }
        break;
      }
      case 'connected': pump(s, now); break;
      case 'writable': pump(s, now); break;
      case 'readable': case 'eof': drain(s, now); break;
      case 'error': s.bad = `error ${ev.code}`; break;
      case 'closed': s.closed = true; drain(s, now); break;
      default: break;
    }
  };
  A.on(handler(sa));
  B.on(handler(sb));
  sim.at(0, (now) => {
    const l = B.call({ type: 'listen', addr: null, port: 80, backlog: 8 }, now);
    if (!l.ok) sb.bad = 'listen failed';
    const c = A.call({ type: 'connect', local: null, localPort: null, remote: addrB, port: 80 }, now);
    if (c.ok) sa.id = c.id; else sa.bad = `connect failed ${c.code}`;
  });
  const done = () => sa.bad !== null || sb.bad !== null || (sa.eof && sb.eof && sa.closed && sb.closed);
  const res = sim.run({ stopWhen: done, until: o.limitMs ?? 3_600_000 });
  const tcbRtx = (n: StackNode, id: ConnId | null) => (id !== null ? n.state.tcp[id]?.retransmits ?? 0 : 0);
  let why = 'ok';
  if (sa.bad !== null) why = `A: ${sa.bad}`;
  else if (sb.bad !== null) why = `B: ${sb.bad}`;
  else if (!done()) why = `incomplete at ${res.now} ms (${res.reason}): A got ${sa.got}/${sa.expect} eof=${sa.eof} closed=${sa.closed}, B got ${sb.got}/${sb.expect} eof=${sb.eof} closed=${sb.closed}; A ${JSON.stringify(stateOf(A, sa.id))} B ${JSON.stringify(stateOf(B, sb.id))}`;
  else if (sa.got !== sa.expect || sb.got !== sb.expect) why = `byte counts A ${sa.got}/${sa.expect} B ${sb.got}/${sb.expect}`;
  return {
    ok: why === 'ok', why, virtualMs: res.now, events: sim.eventCount, receivedAtA: sa.got, receivedAtB: sb.got,
    retransmits: tcbRtx(A, sa.id) + tcbRtx(B, sb.id),
    counters: { a: A.state.counters, b: B.state.counters },
    link: sim.counters('ab'),
  };
}

function stateOf(n: StackNode, id: ConnId | null): unknown {
  if (id === null) return null;
  const t = n.state.tcp[id];
  if (t === undefined) return 'gone';
  return { ww: t.wantWrite, app: t.app, bw: t.bytesWritten, st: t.state, una: t.sndUna, nxt: t.sndNxt, wnd: t.sndWnd, q: t.sndQLen, cwnd: t.cc.cwnd, rec: t.inRecovery, timers: t.timers, rcvQ: t.rcvQLen, ooo: t.ooo.length, fin: t.finSeq, lostHigh: t.lostHigh, highRxt: t.highRxt, sacked: t.sacked.length };
}
