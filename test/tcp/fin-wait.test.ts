// FIN-WAIT-1 and FIN-WAIT-2 (RFC 9293 §3.10.4 CLOSE, §3.10.7.4), half-close.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ACK, FIN, PLAIN, PSH, RST, SYN, established, finWait1, finWait2, peer } from './peer.ts';

test('FIN-WAIT-1: shutdown sends FIN after the queued data (FIN is not held by Nagle)', () => {
  established().write('abc').call({ type: 'shutdown' })
    .recv({ flags: ACK | PSH, seq: 1, ack: 1, data: 'abc' }, { flags: ACK | FIN, seq: 4, ack: 1 })
    .expectState('FIN-WAIT-1');
});

test('FIN-WAIT-1: FIN waits behind data a small window holds back (sender SWS override after the persist interval)', () => {
  established().send({ flags: ACK, seq: 1, ack: 1, win: 2 }).write('abc').call({ type: 'shutdown' })
    .recv()
    .at(200).tick().recv({ flags: ACK, seq: 1, ack: 1, data: 'ab' })
    .send({ flags: ACK, seq: 1, ack: 3, win: 10 })
    .recv({ flags: ACK | PSH | FIN, seq: 3, ack: 1, data: 'c' });
});

test('FIN-WAIT-1: FIN follows data written after an ACK', () => {
  const p = established().write('abc').drain().send({ flags: ACK, seq: 1, ack: 4 }).write('de').call({ type: 'shutdown' });
  p.recv({ flags: ACK | PSH, seq: 4, ack: 1, data: 'de' }, { flags: ACK | FIN, seq: 6, ack: 1 });
});

test('FIN-WAIT-1: ACK of our FIN moves to FIN-WAIT-2', () => {
  finWait1().send({ flags: ACK, seq: 1, ack: 2 }).recv().expectState('FIN-WAIT-2');
});

test('FIN-WAIT-1: ACK not covering the FIN keeps FIN-WAIT-1', () => {
  finWait1().send({ flags: ACK, seq: 1, ack: 1 }).recv().expectState('FIN-WAIT-1');
});

test('FIN-WAIT-1: FIN is retransmitted at RTO with backoff', () => {
  finWait1()
    .at(200).tick().recv({ flags: ACK | FIN, seq: 1, ack: 1 })
    .at(600).tick().recv({ flags: ACK | FIN, seq: 1, ack: 1 })
    .send({ flags: ACK, seq: 1, ack: 2 }).expectState('FIN-WAIT-2');
});

test('FIN-WAIT-1: FIN|ACK acknowledging our FIN goes straight to TIME-WAIT', () => {
  finWait1().send({ flags: FIN | ACK, seq: 1, ack: 2 }).recv({ flags: ACK, seq: 2, ack: 2 }).expectState('TIME-WAIT')
    .expectEvents('drained', 'readable', 'eof', 'closed');
});

test('FIN-WAIT-1: FIN not acknowledging ours: simultaneous close, CLOSING', () => {
  finWait1().send({ flags: FIN | ACK, seq: 1, ack: 1 }).recv({ flags: ACK, seq: 2, ack: 2 }).expectState('CLOSING');
});

test('FIN-WAIT-1: data still arrives after our half-close and is readable', () => {
  finWait1().send({ flags: ACK, seq: 1, ack: 1, data: 'more' }).recv({ flags: ACK, seq: 2, ack: 5 })
    .read().check((p) => assert.equal((p.result as { data: Uint8Array }).data, new TextEncoder().encode('more')));
});

test('FIN-WAIT-1: RST at RCV.NXT: ECONNRESET', () => {
  finWait1().send({ flags: RST, seq: 1 }).recv().expectState('CLOSED').expectEvents('error:ECONNRESET', 'closed');
});

test('FIN-WAIT-1: SYN draws a challenge ACK', () => {
  finWait1().send({ flags: SYN, seq: 5 }).recv({ flags: ACK, seq: 2, ack: 1 }).expectState('FIN-WAIT-1');
});

test('FIN-WAIT-1: send after shutdown fails with EPIPE', () => {
  finWait1().write('x').check((p) => assert.equal(p.result, { ok: false, code: 'EPIPE' }));
});

test('FIN-WAIT-2: data is accepted and ACKed (half-close)', () => {
  finWait2().send({ flags: ACK, seq: 1, ack: 2, data: 'tail' }).recv({ flags: ACK, seq: 2, ack: 5 }).expectState('FIN-WAIT-2');
});

test('FIN-WAIT-2: FIN moves to TIME-WAIT and is ACKed', () => {
  finWait2().send({ flags: FIN | ACK, seq: 1, ack: 2 }).recv({ flags: ACK, seq: 2, ack: 2 }).expectState('TIME-WAIT');
});

test('FIN-WAIT-2: RST: ECONNRESET', () => {
  finWait2().send({ flags: RST, seq: 1 }).recv().expectState('CLOSED');
});

test('FIN-WAIT-2: after close() (orphaned) the connection is dropped after finWait2Timeout', () => {
  finWait2({ tcp: { ...PLAIN.tcp, finWait2Timeout: 5000 } }).call({ type: 'close' })
    .at(4999).tick().expectState('FIN-WAIT-2')
    .at(5000).tick().recv().expectState('GONE');
});

test('FIN-WAIT-2: after close(), new data draws a RST (RFC 1122 §4.2.2.13)', () => {
  finWait2().call({ type: 'close' }).send({ flags: ACK, seq: 1, ack: 2, data: 'late' }).recv({ flags: RST, seq: 2 }).expectState('GONE');
});

test('FIN-WAIT-2: without close() it waits for the peer indefinitely', () => {
  finWait2().at(3_600_000).tick().recv().expectState('FIN-WAIT-2');
});

test('half-close both ways: active closer ends in TIME-WAIT, passive in CLOSED', () => {
  const p = peer(PLAIN).connect().drain()
    .send({ flags: SYN | ACK, seq: 0, ack: 1, opts: [{ kind: 'mss', mss: 1460 }] }).drain()
    .call({ type: 'shutdown' }).recv({ flags: ACK | FIN, seq: 1, ack: 1 })
    .send({ flags: ACK, seq: 1, ack: 2, data: 'resp' }).recv({ flags: ACK, seq: 2, ack: 5 })
    .send({ flags: ACK | FIN, seq: 5, ack: 2 }).recv({ flags: ACK, seq: 2, ack: 6 });
  p.expectState('TIME-WAIT');
});

test.run();
