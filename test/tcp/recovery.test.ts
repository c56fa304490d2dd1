// Loss recovery: RFC 6675 SACK-based recovery, RFC 6582 NewReno, RFC 3042 limited transmit,
// RFC 2883 D-SACK reception, RFC 6298 RTO with go-back-N in slow start.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ACK, PLAIN, PSH, SYN, established, peer } from './peer.ts';

const M = 1460;
const NR = { tcp: { ...PLAIN.tcp, cc: 'newreno' as const } };

/** ESTABLISHED with a peer that did not offer SACK. */
function noSack() {
  return peer(PLAIN).listen()
    .send({ flags: SYN, seq: 0, opts: [{ kind: 'mss', mss: M }] })
    .send({ flags: ACK, seq: 1, ack: 1 }).accept().drain();
}

test('SACK recovery: third duplicate ACK with SACK retransmits the first hole; full ACK ends recovery', () => {
  const p = established(NR).write(10 * M);
  assert.is(p.pending.length, 10);
  p.drain()
    .send({ flags: ACK, seq: 1, ack: 1, sack: [[1 + M, 1 + 2 * M]] }).recv()
    .send({ flags: ACK, seq: 1, ack: 1, sack: [[1 + M, 1 + 3 * M]] }).recv()
    .send({ flags: ACK, seq: 1, ack: 1, sack: [[1 + M, 1 + 4 * M]] }).recv({ flags: ACK, seq: 1, ack: 1, data: M })
    .check((q) => { assert.ok(q.tcb().inRecovery); assert.is(q.tcb().cc.ssthresh, 5 * M); assert.is(q.st.counters['fast-retransmit'], 1); })
    .send({ flags: ACK, seq: 1, ack: 1, sack: [[1 + M, 1 + 6 * M]] }).recv()
    .send({ flags: ACK, seq: 1, ack: 1 + 10 * M }).recv()
    .check((q) => {
      assert.not.ok(q.tcb().inRecovery);
      assert.is(q.tcb().cc.cwnd, 2 * M, 'RFC 6582 §3.2 step 3: min(ssthresh, max(FlightSize, SMSS) + SMSS)');
      assert.equal(q.tcb().sacked, []);
    });
});

test('SACK recovery: only holes IsLost marks are retransmitted; a partial ACK retransmits the next hole', () => {
  established(NR).write(10 * M).drain()
    .send({ flags: ACK, seq: 1, ack: 1, sack: [[1 + M, 1 + 3 * M]] })
    .send({ flags: ACK, seq: 1, ack: 1, sack: [[1 + M, 1 + 3 * M], [1 + 4 * M, 1 + 5 * M]] })
    .send({ flags: ACK, seq: 1, ack: 1, sack: [[1 + 4 * M, 1 + 6 * M], [1 + M, 1 + 3 * M]] })
    // Hole [3M+1, 4M+1) has one block and 2 SMSS SACKed above it: not yet lost (RFC 6675 §4 IsLost).
    .recv({ flags: ACK, seq: 1, ack: 1, data: M })
    .send({ flags: ACK, seq: 1, ack: 1 + 3 * M, sack: [[1 + 4 * M, 1 + 8 * M]] })
    .recv({ flags: ACK, seq: 1 + 3 * M, ack: 1, data: M })
    // A partial ACK with no SACK information left above it: the head is retransmitted (NewReno rule).
    .send({ flags: ACK, seq: 1, ack: 1 + 8 * M }).recv({ flags: ACK, seq: 1 + 8 * M, ack: 1, data: M })
    .send({ flags: ACK, seq: 1, ack: 1 + 10 * M }).recv()
    .check((q) => assert.not.ok(q.tcb().inRecovery));
});

test('SACK recovery: IsLost by SACKed bytes triggers before three duplicate ACKs (RFC 6675 §5)', () => {
  established().write(10 * M).drain()
    .send({ flags: ACK, seq: 1, ack: 1, sack: [[1 + M, 1 + 5 * M]] })
    .recv({ flags: ACK, seq: 1, ack: 1, data: M });
});

test('D-SACK: a SACK block below the cumulative ACK is counted, not taken as loss (RFC 2883)', () => {
  established().write(3 * M).drain()
    .send({ flags: ACK, seq: 1, ack: 1 + 2 * M, sack: [[1, 1 + M]] }).recv()
    .check((q) => {
      assert.is(q.st.counters['dsack-rcvd'], 1);
      assert.is(q.tcb().dupAcks, 0);
      assert.equal(q.tcb().sacked, []);
    })
    .send({ flags: ACK, seq: 1, ack: 1 + 2 * M, sack: [[1, 1 + M]] })
    .send({ flags: ACK, seq: 1, ack: 1 + 2 * M, sack: [[1, 1 + M]] })
    .send({ flags: ACK, seq: 1, ack: 1 + 2 * M, sack: [[1, 1 + M]] }).recv()
    .check((q) => assert.not.ok(q.tcb().inRecovery, 'D-SACKs are not duplicate ACKs with new information'));
});

test('SACK blocks beyond SND.NXT are ignored', () => {
  established().write(2 * M).drain()
    .send({ flags: ACK, seq: 1, ack: 1, sack: [[1 + M, 1 + 50 * M]] }).recv()
    .check((q) => { assert.equal(q.tcb().sacked, []); assert.is(q.st.counters['sack-invalid'], 1); });
});

test('NewReno: limited transmit on the first two duplicate ACKs, fast retransmit on the third (RFC 3042, RFC 5681)', () => {
  const p = noSack().write(12 * M);
  assert.is(p.pending.length, 10);
  p.drain()
    .send({ flags: ACK, seq: 1, ack: 1 }).recv({ flags: ACK, seq: 1 + 10 * M, ack: 1, data: M })
    .send({ flags: ACK, seq: 1, ack: 1 }).recv({ flags: ACK | PSH, seq: 1 + 11 * M, ack: 1, data: M })
    .send({ flags: ACK, seq: 1, ack: 1 }).recv({ flags: ACK, seq: 1, ack: 1, data: M })
    .check((q) => { assert.ok(q.tcb().inRecovery); assert.is(q.tcb().recover, (q.liss! + 1 + 12 * M) >>> 0); });
});

test('NewReno: partial ACK retransmits the next segment (RFC 6582 §3.2 step 4)', () => {
  noSack().write(10 * M).drain()
    .send({ flags: ACK, seq: 1, ack: 1 }).send({ flags: ACK, seq: 1, ack: 1 })
    .send({ flags: ACK, seq: 1, ack: 1 }).recv({ flags: ACK, seq: 1, ack: 1, data: M })
    .send({ flags: ACK, seq: 1, ack: 1 + 3 * M }).recv({ flags: ACK, seq: 1 + 3 * M, ack: 1, data: M })
    .check((q) => assert.ok(q.tcb().inRecovery))
    .send({ flags: ACK, seq: 1, ack: 1 + 10 * M }).recv()
    .check((q) => assert.not.ok(q.tcb().inRecovery));
});

test('NewReno: duplicate ACKs after an RTO do not trigger fast retransmit (RFC 6582 §3.2 step 1: ACK must exceed recover)', () => {
  noSack().write(4 * M).drain()
    .at(200).tick().recv({ flags: ACK, seq: 1, ack: 1, data: M })
    .send({ flags: ACK, seq: 1, ack: 1 }).send({ flags: ACK, seq: 1, ack: 1 }).send({ flags: ACK, seq: 1, ack: 1 })
    .recv()
    .check((q) => assert.not.ok(q.tcb().inRecovery));
});

test('RTO: cwnd to one segment, then the outstanding data is resent in slow start (go-back-N)', () => {
  established(NR).write(5 * M).drain()
    .at(200).tick().recv({ flags: ACK, seq: 1, ack: 1, data: M })
    .check((q) => { assert.is(q.tcb().cc.cwnd, M); assert.is(q.tcb().cc.ssthresh, Math.floor(5 * M / 2)); assert.is(q.tcb().rto, 400); })
    .send({ flags: ACK, seq: 1, ack: 1 + M })
    .recv({ flags: ACK, seq: 1 + M, ack: 1, data: M }, { flags: ACK, seq: 1 + 2 * M, ack: 1, data: M })
    .send({ flags: ACK, seq: 1, ack: 1 + 3 * M })
    .recv({ flags: ACK, seq: 1 + 3 * M, ack: 1, data: M }, { flags: ACK | PSH, seq: 1 + 4 * M, ack: 1, data: M });
});

test('RTO: the SACK scoreboard is cleared (RFC 2018 §8)', () => {
  established().write(5 * M).drain()
    .send({ flags: ACK, seq: 1, ack: 1, sack: [[1 + M, 1 + 2 * M]] })
    .at(200).tick()
    .check((q) => assert.equal(q.tcb().sacked, []));
});

test('CUBIC: ssthresh is 0.7 * cwnd after fast retransmit (RFC 9438 §4.6)', () => {
  established({ tcp: { ...PLAIN.tcp, cc: 'cubic' } }).write(10 * M).drain()
    .send({ flags: ACK, seq: 1, ack: 1, sack: [[1 + M, 1 + 5 * M]] })
    .check((q) => { assert.is(q.tcb().cc.ssthresh, Math.floor(10 * M * 0.7)); assert.is(q.tcb().cc.wMax, 10 * M); });
});

test('NewReno: ssthresh is FlightSize/2 after fast retransmit (RFC 5681 eq. 4)', () => {
  established({ tcp: { ...PLAIN.tcp, cc: 'newreno' } }).write(10 * M).drain()
    .send({ flags: ACK, seq: 1, ack: 1, sack: [[1 + M, 1 + 5 * M]] })
    .check((q) => assert.is(q.tcb().cc.ssthresh, 5 * M));
});

test.run();
