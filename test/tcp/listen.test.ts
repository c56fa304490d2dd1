// LISTEN and CLOSED (no TCB): RFC 9293 §3.10.7.1-2, SYN queue and SYN cookies (RFC 4987).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ACK, FIN, PLAIN, RST, SYN, peer, synOpts } from './peer.ts';

const SYNACK_OPTS_PLAIN = [{ kind: 'mss', mss: 1460 }, { kind: 'nop' }, { kind: 'nop' }, { kind: 'sack-permitted' }];

test('LISTEN: SYN gets SYN|ACK <SEQ=ISS><ACK=SEG.SEQ+1> with MSS and SACK-permitted', () => {
  peer(PLAIN).listen()
    .send({ flags: SYN, seq: 0, opts: synOpts(PLAIN) })
    .recv({ flags: SYN | ACK, seq: 0, ack: 1, win: 65535, opts: SYNACK_OPTS_PLAIN as never })
    .check((p) => assert.is(p.st.tcp[Object.keys(p.st.tcp)[0]!]!.state, 'SYN-RECEIVED'));
});

test('LISTEN: SYN|ACK offers only what the SYN offered (Linux layout with timestamps and window scale)', () => {
  const o = { tcp: { delayedAck: false } };
  peer(o).listen()
    .send({ flags: SYN, seq: 0, opts: synOpts(o) })
    .check((p) => {
      const seg = p.pending[0]!;
      assert.equal(seg.options.map((x) => x.kind), ['mss', 'sack-permitted', 'timestamp', 'nop', 'wscale']);
      const ts = seg.options[2] as { tsval: number; tsecr: number };
      assert.is(ts.tsecr, 500_000, 'TSecr echoes the SYN TSval');
    });
});

test('LISTEN: FreeBSD option layout on SYN|ACK (mss, nop, wscale, sackOK, TS)', () => {
  const o = { tcp: { optionLayout: 'freebsd' as const, wscaleShift: 6 } };
  peer(o).listen()
    .send({ flags: SYN, seq: 0, opts: synOpts(o) })
    .check((p) => {
      const seg = p.pending[0]!;
      assert.equal(seg.options.map((x) => x.kind), ['mss', 'nop', 'wscale', 'sack-permitted', 'timestamp']);
      assert.equal(seg.options[2], { kind: 'wscale', shift: 6 });
    });
});

test('LISTEN: RST is ignored', () => {
  peer(PLAIN).listen().send({ flags: RST, seq: 0 }).recv().check((p) => assert.equal(Object.keys(p.st.tcp), []));
});

test('LISTEN: ACK draws <SEQ=SEG.ACK><CTL=RST>', () => {
  peer(PLAIN).listen().send({ flags: ACK, seq: 1, ack: 5000 }).recv({ flags: RST, seq: 5000 });
});

test('LISTEN: segment without SYN, ACK or RST (FIN) is dropped', () => {
  peer(PLAIN).listen().send({ flags: FIN, seq: 1 }).recv().check((p) => assert.equal(Object.keys(p.st.tcp), []));
});

test('LISTEN: data on a SYN is not acknowledged (the peer retransmits it)', () => {
  peer(PLAIN).listen().send({ flags: SYN, seq: 0, data: 'early', opts: synOpts(PLAIN) })
    .recv({ flags: SYN | ACK, seq: 0, ack: 1 });
});

test('LISTEN: SYN queue full and cookies off: SYN dropped', () => {
  peer({ ...PLAIN, stack: { synQueue: 1, syncookies: 'off' } }).listen()
    .send({ flags: SYN, seq: 0, sport: 1001, opts: synOpts(PLAIN) }).recv({ flags: SYN | ACK, seq: 0, ack: 1 })
    .send({ flags: SYN, seq: 0, sport: 1002, opts: synOpts(PLAIN) }).recv()
    .check((p) => { assert.is(Object.keys(p.st.tcp).length, 1); assert.is(p.st.counters['syn-queue-full'], 1); });
});

test('LISTEN: SYN queue full: SYN cookie answers without state, its ACK establishes the connection', () => {
  const q = peer({ ...PLAIN, stack: { synQueue: 1 } }).listen()
    .send({ flags: SYN, seq: 0, sport: 1001, opts: synOpts(PLAIN) }).drain()
    .send({ flags: SYN, seq: 0, sport: 1002, opts: synOpts(PLAIN) });
  assert.is(Object.keys(q.st.tcp).length, 1, 'no state for the cookie SYN');
  assert.is(q.pending[0]!.flags, SYN | ACK);
  const c2 = q.pending[0]!.seq;
  q.drain().send({ flags: ACK, seq: 1_000_001, ack: (c2 + 1) >>> 0, abs: true, sport: 1002, data: 'hi' });
  assert.is(q.st.counters['syncookie-accepted'], 1);
  const id = Object.keys(q.st.tcp).find((k) => k.endsWith('|1002'))!;
  assert.is(q.st.tcp[id]!.state, 'ESTABLISHED');
  assert.is(q.st.tcp[id]!.rcvQLen, 2, 'data on the cookie ACK is kept');
  assert.ok(q.events.some((e) => e.type === 'accept-ready' && e.id === id));
});

test('LISTEN: SYN cookies with timestamps restore window scale and SACK from TSecr', () => {
  const o = { stack: { syncookies: 'always' as const } };
  const p = peer(o).listen().send({ flags: SYN, seq: 0, opts: synOpts(o) });
  const synack = p.pending[0]!;
  assert.is(Object.keys(p.st.tcp).length, 0);
  const ts = synack.options.find((x) => x.kind === 'timestamp') as { tsval: number };
  p.drain().send({ flags: ACK, seq: 1_000_001, ack: (synack.seq + 1) >>> 0, abs: true, ts: [500_010, ts.tsval] });
  const t = Object.values(p.st.tcp)[0]!;
  assert.is(t.state, 'ESTABLISHED');
  assert.is(t.sndShift, 7);
  assert.ok(t.sackOk);
  assert.ok(t.tsOk);
  assert.is(t.peerMss, 1460);
});

test('LISTEN: forged cookie ACK draws a RST', () => {
  peer({ ...PLAIN, stack: { syncookies: 'always' } }).listen()
    .send({ flags: ACK, seq: 1, ack: 0x12345678, abs: true })
    .recv({ flags: RST, seq: 0x12345678 })
    .check((p) => assert.is(p.st.counters['syncookie-invalid'], 1));
});

test('LISTEN: accept queue full: the final ACK is ignored, the connection stays SYN-RECEIVED', () => {
  const p = peer(PLAIN);
  p.step({ type: 'listen', addr: null, port: 80, backlog: 1 });
  p.listener = (p.result as { listener: string }).listener;
  p.send({ flags: SYN, seq: 0, sport: 1001, opts: synOpts(PLAIN) });
  const iss1 = p.pending[0]!.seq;
  p.drain().send({ flags: ACK, seq: 1_000_001, ack: (iss1 + 1) >>> 0, abs: true, sport: 1001 });
  p.send({ flags: SYN, seq: 0, sport: 1002, opts: synOpts(PLAIN) });
  const iss2 = p.pending[0]!.seq;
  p.drain().send({ flags: ACK, seq: 1_000_001, ack: (iss2 + 1) >>> 0, abs: true, sport: 1002 });
  const states = Object.values(p.st.tcp).map((t) => `${t.remotePort}:${t.state}`).sort();
  assert.equal(states, ['1001:ESTABLISHED', '1002:SYN-RECEIVED']);
});

test('CLOSED: SYN to a port nobody listens on gets <SEQ=0><ACK=SEG.SEQ+1><CTL=RST,ACK>', () => {
  peer(PLAIN).send({ flags: SYN, seq: 0, opts: synOpts(PLAIN) })
    .recv({ flags: RST | ACK, seq: 0, ack: 1 });
});

test('CLOSED: data segment with ACK gets <SEQ=SEG.ACK><CTL=RST>', () => {
  peer(PLAIN).send({ flags: ACK, seq: 5, ack: 777, data: 'xyz' }).recv({ flags: RST, seq: 777 });
});

test('CLOSED: RST is never answered', () => {
  peer(PLAIN).send({ flags: RST | ACK, seq: 5, ack: 777 }).recv();
});

test('CLOSED: FIN without ACK gets RST|ACK acknowledging SEG.SEQ+SEG.LEN', () => {
  peer(PLAIN).send({ flags: FIN, seq: 10, data: 'ab' }).recv({ flags: RST | ACK, seq: 0, ack: 13 });
});

test('listen: second listener on the same port is EADDRINUSE', () => {
  const p = peer(PLAIN).listen();
  p.step({ type: 'listen', addr: '10.0.0.1', port: 80, backlog: 1 });
  assert.equal(p.result, { ok: false, code: 'EADDRINUSE' });
});

test.run();
