// ESTABLISHED (RFC 9293 §3.10.7.4): data both ways, ACK generation, RFC 5961 checks,
// retransmission and backoff, Nagle, windows, zero-window probing, close/abort.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ACK, FIN, PLAIN, PSH, RST, SYN, established, pattern, peer } from './peer.ts';

const bytesOf = (p: { result: unknown }) => (p.result as { data: Uint8Array }).data;
const DELACK = { tcp: { timestamps: false, wscale: false } };

test('ESTABLISHED: delayed ACK: one segment is ACKed after 40 ms', () => {
  established(DELACK)
    .send({ flags: ACK, seq: 1, ack: 1, data: 1000 }).recv()
    .at(39).tick().recv()
    .at(40).tick().recv({ flags: ACK, seq: 1, ack: 1001 });
});

test('ESTABLISHED: delayed ACK: every second full-sized segment is ACKed at once', () => {
  established(DELACK)
    .send({ flags: ACK, seq: 1, ack: 1, data: 1460 }).recv()
    .send({ flags: ACK, seq: 1461, ack: 1, data: 1460 }).recv({ flags: ACK, seq: 1, ack: 2921 })
    .at(100).tick().recv();
});

test('ESTABLISHED: out-of-order segment: immediate duplicate ACK with SACK; filling the hole: immediate ACK', () => {
  established(DELACK)
    .send({ flags: ACK, seq: 101, ack: 1, data: 100 }).recv({ flags: ACK, seq: 1, ack: 1, sack: [[101, 201]] })
    .send({ flags: ACK, seq: 301, ack: 1, data: 100 }).recv({ flags: ACK, seq: 1, ack: 1, sack: [[301, 401], [101, 201]] })
    .send({ flags: ACK, seq: 1, ack: 1, data: 100 }).recv({ flags: ACK, seq: 1, ack: 201, sack: [[301, 401]] })
    .read().check((p) => assert.equal(bytesOf(p), pattern(0, 200)));
});

test('ESTABLISHED: RST at exactly RCV.NXT resets the connection (ECONNRESET)', () => {
  established().send({ flags: RST, seq: 1 }).recv().expectState('CLOSED').expectEvents('error:ECONNRESET', 'closed');
});

test('ESTABLISHED: in-window RST not at RCV.NXT draws a challenge ACK (RFC 5961 §3.2)', () => {
  established().send({ flags: RST, seq: 100 }).recv({ flags: ACK, seq: 1, ack: 1 }).expectState('ESTABLISHED');
});

test('ESTABLISHED: out-of-window RST is dropped silently', () => {
  established().send({ flags: RST, seq: 1_000_000 }).recv().expectState('ESTABLISHED');
});

test('ESTABLISHED: with RFC 5961 off, an in-window RST resets', () => {
  established({ ...PLAIN, stack: { rfc5961: false } }).send({ flags: RST, seq: 100 }).recv().expectState('CLOSED');
});

test('ESTABLISHED: SYN draws a challenge ACK (RFC 5961 §4.2), rate limited per second (§7)', () => {
  established({ ...PLAIN, stack: { challengeAckLimit: 2 } })
    .send({ flags: SYN, seq: 50 }).recv({ flags: ACK, seq: 1, ack: 1 })
    .send({ flags: SYN, seq: 60 }).recv({ flags: ACK, seq: 1, ack: 1 })
    .send({ flags: SYN, seq: 70 }).recv()
    .at(1000).send({ flags: SYN, seq: 80 }).recv({ flags: ACK, seq: 1, ack: 1 })
    .expectState('ESTABLISHED');
});

test('ESTABLISHED: ACK for data never sent draws a challenge ACK and its data is dropped (RFC 5961 §5.2)', () => {
  established().send({ flags: ACK, seq: 1, ack: 50, data: 'zz' }).recv({ flags: ACK, seq: 1, ack: 1 })
    .check((p) => assert.is(p.tcb().rcvQLen, 0));
});

test('ESTABLISHED: ACK too far below SND.UNA (older than MAX.SND.WND) draws a challenge ACK', () => {
  established().send({ flags: ACK, seq: 1, ack: -100_000, data: 'zz' }).recv({ flags: ACK, seq: 1, ack: 1 })
    .check((p) => assert.is(p.tcb().rcvQLen, 0));
});

test('ESTABLISHED: segment beyond the window is answered with an ACK and dropped', () => {
  established().send({ flags: ACK, seq: 900_000, ack: 1, data: 10 }).recv({ flags: ACK, seq: 1, ack: 1 })
    .check((p) => assert.is(p.tcb().oooLen, 0));
});

test('ESTABLISHED: duplicate data is ACKed with a D-SACK block (RFC 2883)', () => {
  established()
    .send({ flags: ACK, seq: 1, ack: 1, data: 5 }).recv({ flags: ACK, seq: 1, ack: 6 })
    .send({ flags: ACK, seq: 1, ack: 1, data: 5 }).recv({ flags: ACK, seq: 1, ack: 6, sack: [[1, 6]] });
});

test('ESTABLISHED: segment without ACK bit is dropped', () => {
  established().send({ flags: PSH, seq: 1, data: 'x' }).recv().check((p) => assert.is(p.tcb().rcvQLen, 0));
});

test('ESTABLISHED: data is cut into MSS-sized segments; Nagle holds the short tail until an ACK, PSH on it', () => {
  established().write(5000).recv(
    { flags: ACK, seq: 1, ack: 1, data: pattern(0, 1460) },
    { flags: ACK, seq: 1461, ack: 1, data: pattern(1460, 1460) },
    { flags: ACK, seq: 2921, ack: 1, data: pattern(2920, 1460) },
  ).send({ flags: ACK, seq: 1, ack: 1461 }).recv()
   .send({ flags: ACK, seq: 1, ack: 4381 }).recv(
    { flags: ACK | PSH, seq: 4381, ack: 1, data: pattern(4380, 620) },
  );
});

test('ESTABLISHED: the initial window is 10 segments (RFC 6928); ACKs release more', () => {
  const p = established().write(20 * 1460);
  assert.is(p.pending.length, 10);
  p.drain().send({ flags: ACK, seq: 1, ack: 1461 });
  assert.is(p.pending.length, 2, 'slow start: one ACK of one segment releases two (RFC 3465 L=2)');
  p.check((q) => assert.is(q.pending[0]!.seq - q.liss!, 14601));
});

test('ESTABLISHED: the peer window limits what is sent; the rest waits for the window to open', () => {
  established()
    .send({ flags: ACK, seq: 1, ack: 1, win: 3000 }).recv()
    .write(5000).recv({ flags: ACK, seq: 1, ack: 1, data: 1460 }, { flags: ACK, seq: 1461, ack: 1, data: 1460 })
    .send({ flags: ACK, seq: 1, ack: 2921, win: 3000 })
    .recv({ flags: ACK, seq: 2921, ack: 1, data: 1460 })
    .send({ flags: ACK, seq: 1, ack: 4381, win: 3000 })
    .recv({ flags: ACK | PSH, seq: 4381, ack: 1, data: 620 });
});

test('ESTABLISHED: data retransmitted at RTO with exponential backoff (RFC 6298 §5.4-5.6)', () => {
  // The handshake RTT was 0 ms, so RTO = minRto = 200 ms.
  established().write('hello').recv({ flags: ACK | PSH, seq: 1, ack: 1, data: 'hello' })
    .at(199).tick().recv()
    .at(200).tick().recv({ flags: ACK | PSH, seq: 1, ack: 1, data: 'hello' })
    .at(599).tick().recv()
    .at(600).tick().recv({ flags: ACK | PSH, seq: 1, ack: 1, data: 'hello' })
    .at(1400).tick().recv({ flags: ACK | PSH, seq: 1, ack: 1, data: 'hello' })
    .send({ flags: ACK, seq: 1, ack: 6 }).recv()
    .check((p) => { assert.is(p.tcb().timers.rtx, null); assert.is(p.tcb().retransmits, 3); });
});

test('ESTABLISHED: retry limit ends the connection with ETIMEDOUT, no RST', () => {
  established({ tcp: { ...PLAIN.tcp, maxRetries: 2 } }).write('x').drain()
    .at(200).tick().at(600).tick().drain()
    .at(1400).tick().recv()
    .expectState('CLOSED').expectEvents('error:ETIMEDOUT', 'closed');
});

test('ESTABLISHED: RFC 5482 user timeout ends the connection before the retry limit', () => {
  established({ tcp: { ...PLAIN.tcp, userTimeout: 500 } }).write('x').drain()
    .at(200).tick().at(600).tick().drain()
    .at(1400).tick().recv().expectState('CLOSED').expectEvents('error:ETIMEDOUT', 'closed');
});

test('ESTABLISHED: Nagle holds small segments while data is unacknowledged', () => {
  established()
    .write('a').recv({ flags: ACK | PSH, seq: 1, ack: 1, data: 'a' })
    .write('b').write('c').recv()
    .send({ flags: ACK, seq: 1, ack: 2 }).recv({ flags: ACK | PSH, seq: 2, ack: 1, data: 'bc' });
});

test('ESTABLISHED: with noDelay small segments go out at once', () => {
  established()
    .call({ type: 'set-option', options: { noDelay: true } })
    .write('a').write('b').recv({ flags: ACK | PSH, seq: 1, ack: 1, data: 'a' }, { flags: ACK | PSH, seq: 2, ack: 1, data: 'b' });
});

test('ESTABLISHED: zero window: persist probes of one byte with backoff; opening the window resumes', () => {
  established()
    .send({ flags: ACK, seq: 1, ack: 1, win: 0 }).recv()
    .write(100).recv()
    .at(199).tick().recv()
    .at(200).tick().recv({ flags: ACK, seq: 1, ack: 1, data: 1 })
    .at(599).tick().recv()
    .at(600).tick().recv({ flags: ACK, seq: 1, ack: 1, data: 1 })
    .send({ flags: ACK, seq: 1, ack: 1, win: 0 }).recv()
    .at(1400).tick().recv({ flags: ACK, seq: 1, ack: 1, data: 1 })
    .send({ flags: ACK, seq: 1, ack: 2, win: 65535 })
    .recv({ flags: ACK | PSH, seq: 2, ack: 1, data: pattern(1, 99) })
    .check((p) => assert.is(p.tcb().timers.persist, null));
});

test('ESTABLISHED: zero-window probes answered with ACKs never time the connection out', () => {
  const p = established({ tcp: { ...PLAIN.tcp, maxRetries: 2 } }).send({ flags: ACK, seq: 1, ack: 1, win: 0 }).write(10).drain();
  for (let i = 0; i < 6; i++) {
    const t = p.tcb().timers.persist!;
    p.at(t).tick().send({ flags: ACK, seq: 1, ack: 1, win: 0 });
  }
  p.expectState('ESTABLISHED');
  assert.ok(p.tcb().persistShift >= 5);
});

test('ESTABLISHED: the advertised window shrinks with unread data; recv sends a window update', () => {
  established({ tcp: { ...PLAIN.tcp, rcvBuf: 4000 } })
    .send({ flags: ACK, seq: 1, ack: 1, data: 2000 }).recv({ flags: ACK, seq: 1, ack: 2001, win: 2000 })
    .send({ flags: ACK, seq: 2001, ack: 1, data: 2000 }).recv({ flags: ACK, seq: 1, ack: 4001, win: 0 })
    .send({ flags: ACK, seq: 4001, ack: 1, data: 10 }).recv({ flags: ACK, seq: 1, ack: 4001, win: 0 })
    .read(1000).recv()
    .read().recv({ flags: ACK, seq: 1, ack: 4001, win: 4000 });
});

test('ESTABLISHED: receiver SWS avoidance (right-edge policy): a small read does not advertise a small window increase', () => {
  established({ tcp: { ...PLAIN.tcp, rcvBuf: 8000, rcvWndPolicy: 'right-edge' } })
    .send({ flags: ACK, seq: 1, ack: 1, data: 1460 }).drain()
    .send({ flags: ACK, seq: 1461, ack: 1, data: 1460 }).drain()
    .read(100)
    .send({ flags: ACK, seq: 2921, ack: 1, data: 10 })
    .recv({ flags: ACK, seq: 1, ack: 2931, win: 5070 });
});

test('ESTABLISHED: receiver SWS avoidance (free-space policy, default): the free buffer is offered, never a window below min(rcvBuf/4, MSS)', () => {
  established({ tcp: { ...PLAIN.tcp, rcvBuf: 8000 } })
    .send({ flags: ACK, seq: 1, ack: 1, data: 1460 }).recv({ flags: ACK, seq: 1, ack: 1461, win: 6540 })
    .read(100)
    .send({ flags: ACK, seq: 1461, ack: 1, data: 10 }).recv({ flags: ACK, seq: 1, ack: 1471, win: 6630 });
  established({ tcp: { ...PLAIN.tcp, rcvBuf: 4000 } })
    .send({ flags: ACK, seq: 1, ack: 1, data: 2000 }).recv({ flags: ACK, seq: 1, ack: 2001, win: 2000 })
    // 500 bytes free: below min(1000, 1460), so only the rest of the earlier offer stands.
    .send({ flags: ACK, seq: 2001, ack: 1, data: 1500 }).recv({ flags: ACK, seq: 1, ack: 3501, win: 500 })
    .read(200)
    .send({ flags: ACK, seq: 3501, ack: 1, data: 1 }).recv({ flags: ACK, seq: 1, ack: 3502, win: 499 })
    .read(1000)
    .send({ flags: ACK, seq: 3502, ack: 1, data: 1 }).recv({ flags: ACK, seq: 1, ack: 3503, win: 1698 });
});

test('ESTABLISHED: close() with unread data sends RST (RFC 2525 §2.17)', () => {
  established().send({ flags: ACK, seq: 1, ack: 1, data: 3 }).drain()
    .call({ type: 'close' }).recv({ flags: RST, seq: 1 }).expectState('GONE');
});

test('ESTABLISHED: abort sends <SEQ=SND.NXT><CTL=RST> and forgets the connection', () => {
  established().write('abc').drain().call({ type: 'abort' }).recv({ flags: RST, seq: 4 }).expectState('GONE');
});

test('ESTABLISHED: FIN moves to CLOSE-WAIT, ACKs it, and reports eof after the data is read', () => {
  established()
    .send({ flags: ACK | FIN, seq: 1, ack: 1, data: 'bye' })
    .recv({ flags: ACK, seq: 1, ack: 5 })
    .expectState('CLOSE-WAIT')
    .expectEvents('readable')
    .read().check((p) => assert.equal(p.result, { ok: true, data: new TextEncoder().encode('bye'), eof: true }))
    .expectEvents('eof');
});

test('ESTABLISHED: FIN beyond a hole waits for the hole to fill', () => {
  established()
    .send({ flags: ACK | FIN, seq: 4, ack: 1, data: 'def' }).recv({ flags: ACK, seq: 1, ack: 1, sack: [[4, 7]] })
    .expectState('ESTABLISHED')
    .send({ flags: ACK, seq: 1, ack: 1, data: 'abc' }).recv({ flags: ACK, seq: 1, ack: 8 })
    .expectState('CLOSE-WAIT');
});

test('ESTABLISHED: URG is ignored and urgent bytes are delivered inline', () => {
  established().send({ flags: ACK | 0x20, seq: 1, ack: 1, data: 'u!' }).recv({ flags: ACK, seq: 1, ack: 3 })
    .read().check((p) => assert.equal(bytesOf(p), new TextEncoder().encode('u!')));
});

test('ESTABLISHED: send beyond the send buffer is cut short; writable follows once half of it is free', () => {
  const p = established({ tcp: { ...PLAIN.tcp, sndBuf: 3000 } }).write(5000);
  assert.equal(p.result, { ok: true, bytes: 3000 });
  p.drain().send({ flags: ACK, seq: 1, ack: 1461 }).expectEvents();
  p.send({ flags: ACK, seq: 1, ack: 2921 }).expectEvents('writable');
});

test('CLOSED but still held by the app: a later segment draws a RST (RFC 9293 §3.10.7.1)', () => {
  established().send({ flags: RST, seq: 1 }).expectState('CLOSED')
    .send({ flags: ACK, seq: 1, ack: 1, data: 'x' }).recv({ flags: RST, seq: 1 });
});

test('close() with everything read: FIN, orphaned connection finishes on its own', () => {
  established().call({ type: 'close' }).recv({ flags: ACK | FIN, seq: 1, ack: 1 }).expectState('FIN-WAIT-1')
    .send({ flags: ACK | FIN, seq: 1, ack: 2 }).recv({ flags: ACK, seq: 2, ack: 2 }).expectState('TIME-WAIT')
    .expectEvents()
    .at(60_000).tick().expectState('GONE');
});

test('ESTABLISHED: delAckSegments: every second segment is ACKed at once whatever its size (FreeBSD)', () => {
  established({ tcp: { ...DELACK.tcp, delAckSegments: true } })
    .send({ flags: ACK, seq: 1, ack: 1, data: 10 }).recv()
    .send({ flags: ACK, seq: 11, ack: 1, data: 10 }).recv({ flags: ACK, seq: 1, ack: 21 });
  established(DELACK)
    .send({ flags: ACK, seq: 1, ack: 1, data: 10 }).recv()
    .send({ flags: ACK, seq: 11, ack: 1, data: 10 }).recv()
    .at(40).tick().recv({ flags: ACK, seq: 1, ack: 21 });
});

test.run();
