// RFC 7323 timestamps (RTTM, PAWS) and window scaling; MSS negotiation.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { tcpOptionsInfo } from '../../stack/wire/tcp.ts';
import { ACK, PEER_TS, PSH, RST, SYN, established, peer } from './peer.ts';

const TS = { tcp: { delayedAck: false } };
const DAY = 24 * 3600 * 1000;

test('timestamps: every segment carries TSval = now + offset and TSecr = TS.Recent', () => {
  const p = established(TS).at(10).send({ flags: ACK, seq: 1, ack: 1, data: 'x' });
  const ts = tcpOptionsInfo(p.pending[0]!.options).ts!;
  assert.is(ts.tsecr, 10 + PEER_TS);
  assert.is(ts.tsval, (10 + p.tcb().tsOffset) >>> 0);
});

test('PAWS: a segment with an older TSval is dropped and ACKed (RFC 7323 §5.3)', () => {
  established(TS).at(10)
    .send({ flags: ACK, seq: 1, ack: 1, data: 'new', ts: [PEER_TS + 10, 0] }).drain()
    .send({ flags: ACK, seq: 4, ack: 1, data: 'old', ts: [PEER_TS + 5, 0] })
    .recv({ flags: ACK, seq: 1, ack: 4 })
    .check((p) => { assert.is(p.tcb().rcvQLen, 3); assert.is(p.st.counters['paws-reject'], 1); });
});

test('PAWS: after 24 days idle TS.Recent is invalid and an old TSval is accepted (RFC 7323 §5.5)', () => {
  established(TS).at(25 * DAY)
    .send({ flags: ACK, seq: 1, ack: 1, data: 'late', ts: [PEER_TS - 1000, 0] })
    .recv({ flags: ACK, seq: 1, ack: 5 });
});

test('PAWS does not apply to RST', () => {
  established(TS).send({ flags: RST, seq: 1, ts: [1, 0] }).expectState('CLOSED');
});

test('timestamps: a non-RST segment without TSopt is dropped silently (RFC 7323 §3.2)', () => {
  established(TS).send({ flags: ACK | PSH, seq: 1, ack: 1, data: 'x', ts: null }).recv()
    .check((p) => { assert.is(p.tcb().rcvQLen, 0); assert.is(p.st.counters['missing-timestamp'], 1); });
});

test('RTTM: the RTT comes from TSecr on ACKs of new data (RFC 7323 §4.1)', () => {
  const p = established(TS).write('hello').drain();
  const tsval = p.lastTsval;
  p.at(80).send({ flags: ACK, seq: 1, ack: 6, ts: [PEER_TS + 80, tsval] });
  // First sample was the handshake (0 ms); then 80 ms: srtt = 7/8*0 + 1/8*80.
  assert.is(p.tcb().srtt, 10);
});

test('RTTM: an ACK of a retransmission still gives a valid sample from TSecr (no Karn ambiguity)', () => {
  const p = established(TS).write('hello').drain().at(200).tick();
  const tsval = p.lastTsval;
  p.at(230).send({ flags: ACK, seq: 1, ack: 6, ts: [PEER_TS + 230, tsval] });
  assert.is(p.tcb().srtt, 30 / 8);
});

test('window scale: the peer window is shifted by its scale, ours by our scale (RFC 7323 §2.3)', () => {
  const p = established(TS).send({ flags: ACK, seq: 1, ack: 1, win: 100 });
  assert.is(p.tcb().sndWnd, 100 << 7);
  assert.is(p.tcb().rcvShift, 3, '256 KiB needs shift 3');
  p.send({ flags: ACK, seq: 1, ack: 1, data: 10 });
  assert.is(p.pending[0]!.window, Math.floor((256 * 1024 - 10) / 8));
});

test('MSS: no option means 536 (RFC 9293 §3.7.1); the option is honoured and clamped by our MTU', () => {
  const p = peer({ tcp: { timestamps: false } }).listen().send({ flags: SYN, seq: 0 });
  const id = Object.keys(p.st.tcp)[0]!;
  assert.is(p.st.tcp[id]!.mss, 536);
  const q = peer({ tcp: { timestamps: false, mtu: 1400 } }).listen().send({ flags: SYN, seq: 0, opts: [{ kind: 'mss', mss: 9000 }] });
  const t = Object.values(q.st.tcp)[0]!;
  assert.is(t.mss, 1360);
  assert.is(t.advMss, 1360);
});

test('MSS: a tiny peer MSS is clamped to 64 bytes', () => {
  const p = peer({ tcp: { timestamps: false } }).listen().send({ flags: SYN, seq: 0, opts: [{ kind: 'mss', mss: 1 }] });
  assert.is(Object.values(p.st.tcp)[0]!.mss, 64);
});

test('window scale: a shift above 14 is used as 14 (RFC 7323 §2.3)', () => {
  const p = peer().listen().send({ flags: SYN, seq: 0, opts: [{ kind: 'mss', mss: 1460 }, { kind: 'wscale', shift: 20 }] });
  assert.is(Object.values(p.st.tcp)[0]!.sndShift, 14);
});

test('MSS: the advertised MSS is MTU - 40 even on a tiny link (RFC 9293 §3.7.1), and we send no larger segments', () => {
  const p = peer({ tcp: { timestamps: false, mtu: 72 } }).connect().check((q) => {
    const syn = q.pending[0]!;
    assert.equal(syn.options[0], { kind: 'mss', mss: 32 });
  });
  p.drain().send({ flags: SYN | ACK, seq: 0, ack: 1, opts: [{ kind: 'mss', mss: 1460 }] });
  assert.is(p.tcb().mss, 32);
});

test('FreeBSD option layout: without SACK the timestamp option is aligned by two NOPs (<mss,nop,wscale,nop,nop,TS>)', () => {
  const p = peer({ tcp: { optionLayout: 'freebsd', sack: false } }).connect();
  assert.equal(p.pending[0]!.options.map((o) => o.kind), ['mss', 'nop', 'wscale', 'nop', 'nop', 'timestamp']);
  const q = peer({ tcp: { optionLayout: 'freebsd', sack: false, wscale: false } }).connect();
  assert.equal(q.pending[0]!.options.map((o) => o.kind), ['mss', 'nop', 'nop', 'timestamp']);
});

test.run();
