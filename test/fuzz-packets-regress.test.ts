// Regression tests for what the packet fuzzer (migrate/fuzz-packets.ts) found in the stack, each
// replaying the kind of packet that showed it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { defaultStackConfig } from '../stack/stack.ts';
import { createSctpStack, defaultSctpStackConfig, sctpIpStep, type SctpStackState } from '../stack/sctp/api.ts';
import { buildIp } from '../stack/wire/ip.ts';
import { ACK } from '../stack/wire/tcp.ts';
import { sctpBytes, tcpBytes } from '../migrate/fuzz-packets-gen.ts';
import { Sim } from '../tun/sim.ts';
import { StackNode } from '../tun/sim-stack.ts';

const A = '10.1.0.1', B = '10.1.0.2';

/** Two ferry stacks on a 1 ms link; B listens on 80, A connects; returns both ends once established. */
function tcpPair() {
  const sim = new Sim({ seed: 1 });
  const a = new StackNode(defaultStackConfig([A]), new Uint8Array(32).fill(1));
  const b = new StackNode(defaultStackConfig([B]), new Uint8Array(32).fill(2));
  sim.addNode('a', a).addNode('b', b).addLink('l', 'a:e', 'b:e', { delayMs: 1 });
  b.call({ type: 'listen', addr: null, port: 80, backlog: 4 });
  let bid: string | null = null;
  b.on((ev, n) => { if (ev.type === 'accept-ready') { const r = n.call({ type: 'accept', listener: ev.listener }); if (r.ok) bid = r.id; } });
  const c = a.call({ type: 'connect', local: null, localPort: null, remote: B, port: 80 });
  if (!c.ok) throw new Error(c.code);
  sim.run({ until: 50 });
  if (bid === null) throw new Error('not accepted');
  return { sim, a, b, aid: c.id, bid: bid as string };
}

test('TCP: a segment whose ACK fails RFC 5961 §5.2 does not move TS.Recent (a future TSval would PAWS-block the real peer)', () => {
  const { sim, a, b, aid, bid } = tcpPair();
  const tb = b.state.tcp[bid]!, ta = a.state.tcp[aid]!;
  assert.ok(tb.tsOk);
  const tsRecent = tb.tsRecent;
  // The fuzzer's packet: the real 4-tuple, SEG.SEQ = RCV.NXT, SEG.ACK = SND.NXT + 1, TSval far ahead.
  const seg = {
    srcPort: ta.localPort, dstPort: tb.localPort, seq: tb.rcvNxt, ack: (tb.sndNxt + 1) >>> 0, flags: ACK, reserved: 0, window: 1000, urgent: 0,
    options: [{ kind: 'nop' as const }, { kind: 'nop' as const }, { kind: 'timestamp' as const, tsval: (tsRecent + 0x40000000) >>> 0, tsecr: 0 }],
    payload: new Uint8Array(0),
  };
  const before = b.state.counters['challenge-ack'] ?? 0;
  b.receive(buildIp(A, B, 6, tcpBytes(seg, A, B)), sim.now);
  assert.is(b.state.counters['challenge-ack'], before + 1);
  assert.is(tb.tsRecent, tsRecent, 'TS.Recent moved');
  // The real peer's data still gets through (before the fix every later segment failed PAWS).
  const data = new Uint8Array(3000).map((_, i) => i & 0xff);
  a.call({ type: 'send', id: aid, data });
  sim.run({ until: sim.now + 100 });
  const r = b.call({ type: 'recv', id: bid, max: 1 << 16 });
  assert.ok(r.ok);
  if (r.ok) assert.equal(r.data, data);
  assert.is(b.state.counters['paws-reject'] ?? 0, 0);
});

/** Deliver packets between two SCTP stacks until none are left. */
function shuttle(x: SctpStackState, y: SctpStackState, first: Uint8Array[], from: 'x' | 'y', now: number): void {
  let q: { to: 'x' | 'y'; p: Uint8Array }[] = first.map((p) => ({ to: from === 'x' ? 'y' : 'x', p }));
  for (let i = 0; i < 100 && q.length > 0; i++) {
    const next: typeof q = [];
    for (const { to, p } of q) {
      const r = sctpIpStep(to === 'x' ? x : y, { type: 'ip', data: p }, now);
      for (const o of r.out) next.push({ to: to === 'x' ? 'y' : 'x', p: o });
    }
    q = next;
  }
}

test('SCTP: an empty DATA chunk with the real tag and an old TSN is a duplicate, not an ABORT (RFC 9260 §6.2, as Linux)', () => {
  const sa = createSctpStack(defaultSctpStackConfig([A]), new Uint8Array(32).fill(3), 0);
  const sb = createSctpStack(defaultSctpStackConfig([B]), new Uint8Array(32).fill(4), 0);
  const l = sctpIpStep(sb, { type: 'listen', port: 5000, addresses: null, backlog: 4 }, 0);
  assert.ok(l.result.ok);
  const c = sctpIpStep(sa, { type: 'connect', local: null, localPort: null, remote: [B], port: 5000 }, 0);
  assert.ok(c.result.ok);
  shuttle(sa, sb, c.out, 'x', 1);
  const s = sctpIpStep(sa, { type: 'send', id: c.result.ok ? c.result.id : '', data: new Uint8Array(100).fill(7), stream: 0, ppid: 0, unordered: false, ttl: null, maxRetransmits: null }, 2);
  shuttle(sa, sb, s.out, 'x', 2);
  const [bid] = Object.keys(sb.assocs);
  const ab = sb.assocs[bid!]!;
  assert.is(ab.state, 'ESTABLISHED');
  const empty = (tsn: number) => buildIp(A, B, 132, sctpBytes(ab.remotePort, 5000, ab.myVtag, [{ type: 'DATA', flags: 3, tsn, streamId: 0, ssn: 0, ppid: 0, userData: new Uint8Array(0) }]));
  // Old TSN (what the fuzzer sent): reported as a duplicate in the SACK, the association lives on.
  const r1 = sctpIpStep(sb, { type: 'ip', data: empty(ab.cumTsn) }, 3);
  assert.is(sb.assocs[bid!]?.state, 'ESTABLISHED');
  assert.ok(r1.events.every((e) => e.type !== 'error' && e.type !== 'closed'));
  // A new TSN with no user data is still the protocol error §6.2 names: ABORT with "No User Data".
  const r2 = sctpIpStep(sb, { type: 'ip', data: empty((ab.cumTsn + 1) >>> 0) }, 4);
  assert.ok(r2.events.some((e) => e.type === 'error' || e.type === 'closed') || sb.assocs[bid!]?.state !== 'ESTABLISHED');
});

test.run();
