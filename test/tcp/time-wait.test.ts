// TIME-WAIT (RFC 9293 §3.10.7.4, 2*MSL), RFC 1337 and 4-tuple reuse.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ACK, FIN, PLAIN, RST, SYN, peer, synOpts, timeWait } from './peer.ts';

test('TIME-WAIT: lasts 2*MSL, then the TCB is gone once the app has closed', () => {
  timeWait().call({ type: 'close' })
    .at(59_999).tick().expectState('TIME-WAIT')
    .at(60_000).tick().recv().expectState('GONE');
});

test('TIME-WAIT: a retransmitted FIN is ACKed and restarts the 2*MSL timer', () => {
  timeWait().call({ type: 'close' })
    .at(30_000).send({ flags: FIN | ACK, seq: 1, ack: 2 }).recv({ flags: ACK, seq: 2, ack: 2 })
    .at(60_000).tick().expectState('TIME-WAIT')
    .at(90_000).tick().expectState('GONE');
});

test('TIME-WAIT: RST is ignored (RFC 1337 TIME-WAIT assassination)', () => {
  timeWait().send({ flags: RST, seq: 2 }).recv().expectState('TIME-WAIT')
    .check((p) => assert.is(p.st.counters['rst-ignored-time-wait'], 1));
});

test('TIME-WAIT: SYN in window draws a challenge ACK when no listener takes it', () => {
  timeWait().send({ flags: SYN, seq: 10 }).recv({ flags: ACK, seq: 2, ack: 2 }).expectState('TIME-WAIT');
});

test('TIME-WAIT: data is not delivered', () => {
  timeWait().send({ flags: ACK, seq: 2, ack: 2, data: 'x' }).recv({ flags: ACK, seq: 2, ack: 2 });
});

test('TIME-WAIT: a new SYN above RCV.NXT reuses the 4-tuple when a listener exists (RFC 6191)', () => {
  const p = timeWait();
  p.call({ type: 'close' });
  const old = p.id!;
  p.send({ flags: SYN, seq: 100_000, opts: synOpts(PLAIN) });
  assert.is(p.pending.length, 1);
  assert.is(p.pending[0]!.flags, SYN | ACK);
  assert.is(p.st.tcp[old]!.state, 'SYN-RECEIVED');
  assert.is(p.st.counters['time-wait-reuse'], 1);
});

test('TIME-WAIT: reached by the active closer after a half-close of an active open', () => {
  const p = peer(PLAIN).connect().drain()
    .send({ flags: SYN | ACK, seq: 0, ack: 1, opts: [{ kind: 'mss', mss: 1460 }] }).drain()
    .call({ type: 'shutdown' }).drain()
    .send({ flags: FIN | ACK, seq: 1, ack: 2 }).recv({ flags: ACK, seq: 2, ack: 2 });
  p.expectState('TIME-WAIT');
  assert.is(p.tcb().timers.close, 60_000);
});

test('TIME-WAIT: an exact duplicate of the last ACK is not answered; any other segment is (RFC 9293 fifth step)', () => {
  timeWait()
    .send({ flags: ACK, seq: 2, ack: 2 }).recv()
    .send({ flags: ACK, seq: 3, ack: 2 }).recv({ flags: ACK, seq: 2, ack: 2 })
    .expectState('TIME-WAIT');
});

test.run();
