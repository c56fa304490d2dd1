// CLOSE-WAIT, LAST-ACK and CLOSING (RFC 9293 §3.10.7.4).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ACK, FIN, PLAIN, PSH, RST, SYN, closeWait, closing, lastAck } from './peer.ts';

test('CLOSE-WAIT: we can still send data', () => {
  closeWait().write('reply').recv({ flags: ACK | PSH, seq: 1, ack: 2, data: 'reply' }).expectState('CLOSE-WAIT');
});

test('CLOSE-WAIT: a retransmitted FIN is ACKed again', () => {
  closeWait().send({ flags: FIN | ACK, seq: 1, ack: 1 }).recv({ flags: ACK, seq: 1, ack: 2 }).expectState('CLOSE-WAIT');
});

test('CLOSE-WAIT: data after the FIN is ignored (ACKed, not delivered)', () => {
  closeWait().send({ flags: ACK, seq: 2, ack: 1, data: 'zz' }).recv({ flags: ACK, seq: 1, ack: 2 })
    .check((p) => assert.is(p.tcb().rcvQLen, 0));
});

test('CLOSE-WAIT: RST: ECONNRESET', () => {
  closeWait().send({ flags: RST, seq: 2 }).recv().expectState('CLOSED').expectEvents('error:ECONNRESET', 'closed');
});

test('CLOSE-WAIT: SYN draws a challenge ACK', () => {
  closeWait().send({ flags: SYN, seq: 7 }).recv({ flags: ACK, seq: 1, ack: 2 });
});

test('CLOSE-WAIT: shutdown sends FIN: LAST-ACK', () => {
  closeWait().call({ type: 'shutdown' }).recv({ flags: ACK | FIN, seq: 1, ack: 2 }).expectState('LAST-ACK');
});

test('CLOSE-WAIT: close() with everything read sends FIN (graceful)', () => {
  closeWait().read().call({ type: 'close' }).recv({ flags: ACK | FIN, seq: 1, ack: 2 }).expectState('LAST-ACK');
});

test('LAST-ACK: ACK of our FIN: CLOSED, closed event; the TCB goes when the app closes', () => {
  lastAck().send({ flags: ACK, seq: 2, ack: 2 }).recv().expectState('CLOSED')
    .expectEvents('drained', 'closed')
    .call({ type: 'close' }).expectState('GONE');
});

test('LAST-ACK: after close() the ACK of our FIN removes the TCB at once', () => {
  lastAck().call({ type: 'close' }).send({ flags: ACK, seq: 2, ack: 2 }).expectState('GONE');
});

test('LAST-ACK: FIN retransmitted at RTO', () => {
  lastAck().at(200).tick().recv({ flags: ACK | FIN, seq: 1, ack: 2 }).at(600).tick().recv({ flags: ACK | FIN, seq: 1, ack: 2 });
});

test('LAST-ACK: RST closes; our FIN was never acknowledged, so the application hears ECONNRESET (Linux, FreeBSD)', () => {
  lastAck().send({ flags: RST, seq: 2 }).recv().expectState('CLOSED').expectEvents('error:ECONNRESET', 'closed');
});

test('LAST-ACK: ACK not covering the FIN keeps LAST-ACK', () => {
  lastAck().send({ flags: ACK, seq: 2, ack: 1 }).recv().expectState('LAST-ACK');
});

test('CLOSING: ACK of our FIN: TIME-WAIT', () => {
  closing().send({ flags: ACK, seq: 2, ack: 2 }).recv().expectState('TIME-WAIT');
});

test('CLOSING: FIN retransmitted at RTO', () => {
  closing().at(200).tick().recv({ flags: ACK | FIN, seq: 1, ack: 2 });
});

test('CLOSING: retransmitted peer FIN is ACKed', () => {
  closing().send({ flags: FIN | ACK, seq: 1, ack: 1 }).recv({ flags: ACK, seq: 2, ack: 2 }).expectState('CLOSING');
});

test('CLOSING: RST closes; the application hears ECONNRESET (our FIN was never acknowledged)', () => {
  closing().send({ flags: RST, seq: 2 }).recv().expectState('CLOSED').expectEvents('error:ECONNRESET', 'closed');
});

test.run();
