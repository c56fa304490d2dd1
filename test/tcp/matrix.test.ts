// The state × arriving-segment matrix of RFC 9293 §3.10.7.4 for the states the per-state files
// cover less directly: a SYN (RFC 5961 §4.2 challenge ACK), an ACK-less segment, an
// out-of-window RST, and (after the peer's FIN) data that must not be delivered.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ACK, FIN, PSH, RST, SYN, closeWait, closing, established, finWait1, finWait2, lastAck, synSent, timeWait } from './peer.ts';
import type { Peer } from './peer.ts';

/** Each state with our SND.NXT and RCV.NXT (relative) once it is reached. */
const STATES: [string, () => Peer, number, number][] = [
  ['ESTABLISHED', () => established(), 1, 1],
  ['FIN-WAIT-1', () => finWait1(), 2, 1],
  ['FIN-WAIT-2', () => finWait2(), 2, 1],
  ['CLOSE-WAIT', () => closeWait(), 1, 2],
  ['CLOSING', () => closing(), 2, 2],
  ['LAST-ACK', () => lastAck(), 2, 2],
  ['TIME-WAIT', () => timeWait(), 2, 2],
];

for (const [name, make, sndNxt, rcvNxt] of STATES) {
  test(`${name}: SYN draws a challenge ACK <SEQ=SND.NXT><ACK=RCV.NXT> and changes nothing`, () => {
    make().send({ flags: SYN, seq: rcvNxt + 5 }).recv({ flags: ACK, seq: sndNxt, ack: rcvNxt }).expectState(name);
  });
  test(`${name}: a segment without ACK is dropped silently`, () => {
    make().send({ flags: PSH, seq: rcvNxt, data: 'x' }).recv().expectState(name);
  });
  test(`${name}: RST outside the window is dropped silently`, () => {
    make().send({ flags: RST, seq: rcvNxt + 2_000_000 }).recv().expectState(name);
  });
  test(`${name}: an ACK acknowledging data never sent draws a challenge ACK`, () => {
    // TIME-WAIT acknowledges everything but an exact duplicate ACK (RFC 9293 fifth step, BSD tcp_twcheck).
    make().send({ flags: ACK, seq: rcvNxt, ack: sndNxt + 1000 }).recv({ flags: ACK, seq: sndNxt, ack: rcvNxt }).expectState(name);
  });
}

for (const [name, make, sndNxt, rcvNxt] of STATES.filter(([n]) => ['CLOSE-WAIT', 'CLOSING', 'LAST-ACK', 'TIME-WAIT'].includes(n))) {
  test(`${name}: data after the peer's FIN is not delivered; the ACK repeats RCV.NXT`, () => {
    // In CLOSING and LAST-ACK the segment must not acknowledge our FIN (that would end the state).
    const ack = name === 'CLOSING' || name === 'LAST-ACK' ? sndNxt - 1 : sndNxt;
    const p = make().send({ flags: ACK, seq: rcvNxt, ack, data: 'late' }).recv({ flags: ACK, seq: sndNxt, ack: rcvNxt }).expectState(name);
    assert.is(p.tcb().rcvQLen, 0);
  });
}

test('SYN-SENT: FIN without SYN is dropped', () => {
  synSent().send({ flags: FIN | ACK, seq: 0, ack: 1 }).recv().expectState('SYN-SENT');
});

test('SYN-SENT: data without SYN is dropped', () => {
  synSent().send({ flags: PSH | ACK, seq: 1, ack: 1, data: 'x' }).recv().expectState('SYN-SENT');
});

test.run();
