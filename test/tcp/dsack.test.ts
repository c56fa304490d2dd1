// D-SACK generation (RFC 2883 §4): the first block of the ACK reports the first duplicate
// contiguous sequence of the segment that triggered it, whether below RCV.NXT or already held in
// the reassembly queue, followed by the block holding that segment (RFC 2018 §4), and the ACK
// goes out at once (RFC 2883 §4 (1): the D-SACK reports the most recent packet).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ACK, established } from './peer.ts';

const DELACK = { tcp: { timestamps: false, wscale: false } };

test('D-SACK: an out-of-order segment partly repeating queued data reports the repeat, then its merged block', () => {
  established()
    .send({ flags: ACK, seq: 101, ack: 1, data: 100 }).recv({ flags: ACK, seq: 1, ack: 1, sack: [[101, 201]] })
    .send({ flags: ACK, seq: 51, ack: 1, data: 100 }).recv({ flags: ACK, seq: 1, ack: 1, sack: [[101, 151], [51, 201]] });
});

test('D-SACK: an in-order segment that runs into queued data reports the overlap below the new cumulative ACK', () => {
  established()
    .send({ flags: ACK, seq: 101, ack: 1, data: 100 }).recv({ flags: ACK, seq: 1, ack: 1, sack: [[101, 201]] })
    .send({ flags: ACK, seq: 1, ack: 1, data: 150 }).recv({ flags: ACK, seq: 1, ack: 201, sack: [[101, 151]] })
    .check((p) => assert.is(p.tcb().rcvQLen, 200));
});

test('D-SACK: of several repeated ranges the first is reported', () => {
  established()
    .send({ flags: ACK, seq: 101, ack: 1, data: 100 }).drain()
    .send({ flags: ACK, seq: 301, ack: 1, data: 100 }).drain()
    .send({ flags: ACK, seq: 1, ack: 1, data: 450 }).recv({ flags: ACK, seq: 1, ack: 451, sack: [[101, 201]] });
});

test('D-SACK: a segment straddling RCV.NXT is ACKed at once with the repeated part, not after the delayed-ACK timer', () => {
  established(DELACK)
    .send({ flags: ACK, seq: 1, ack: 1, data: 100 }).recv()
    .send({ flags: ACK, seq: 51, ack: 1, data: 100 }).recv({ flags: ACK, seq: 1, ack: 151, sack: [[51, 101]] });
});

test('D-SACK: without SACK nothing is reported and the ACK is delayed as usual', () => {
  established({ tcp: { timestamps: false, wscale: false, sack: false } })
    .send({ flags: ACK, seq: 1, ack: 1, data: 100 }).recv()
    .send({ flags: ACK, seq: 51, ack: 1, data: 100 }).recv()
    .at(40).tick().recv({ flags: ACK, seq: 1, ack: 151 });
});

test.run();
