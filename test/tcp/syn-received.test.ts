// SYN-RECEIVED (RFC 9293 §3.10.7.4 for the passive side).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ACK, FIN, PLAIN, PSH, RST, SYN, peer, synOpts, synReceived } from './peer.ts';

const SA = { flags: SYN | ACK, seq: 0, ack: 1 };

test('SYN-RECEIVED: SYN|ACK retransmitted at RTO with backoff', () => {
  synReceived()
    .at(999).tick().recv()
    .at(1000).tick().recv(SA)
    .at(2999).tick().recv()
    .at(3000).tick().recv(SA)
    .at(7000).tick().recv(SA);
});

test('SYN-RECEIVED: a retransmitted SYN is answered with the SYN|ACK again', () => {
  const p = synReceived().send({ flags: SYN, seq: 0, opts: synOpts(PLAIN) }).recv(SA);
  assert.is(Object.values(p.st.tcp)[0]!.state, 'SYN-RECEIVED');
});

test('SYN-RECEIVED: gives up quietly after synAckRetries', () => {
  const p = peer({ ...PLAIN, tcp: { ...PLAIN.tcp, synAckRetries: 1 } }).listen().send({ flags: SYN, seq: 0, opts: synOpts(PLAIN) }).drain()
    .at(1000).tick().recv(SA)
    .at(3000).tick().recv();
  assert.equal(Object.keys(p.st.tcp), []);
  assert.equal(p.st.listeners[p.listener!]!.synQ, []);
});

test('SYN-RECEIVED: RST in window returns to LISTEN (TCB removed)', () => {
  const p = synReceived().send({ flags: RST, seq: 1 }).recv();
  assert.equal(Object.keys(p.st.tcp), []);
});

test('SYN-RECEIVED: RST not exactly at RCV.NXT draws a challenge ACK (RFC 5961 §3.2)', () => {
  synReceived().send({ flags: RST, seq: 5 }).recv({ flags: ACK, seq: 1, ack: 1 });
});

test('SYN-RECEIVED: ACK of something never sent draws <SEQ=SEG.ACK><CTL=RST>', () => {
  synReceived().send({ flags: ACK, seq: 1, ack: 77 }).recv({ flags: RST, seq: 77 });
});

test('SYN-RECEIVED: segment without ACK is dropped', () => {
  const p = synReceived().send({ flags: PSH, seq: 1, data: 'x' }).recv();
  assert.is(Object.values(p.st.tcp)[0]!.state, 'SYN-RECEIVED');
});

test('SYN-RECEIVED: ACK carrying data establishes and the data is readable after accept', () => {
  synReceived()
    .send({ flags: ACK | PSH, seq: 1, ack: 1, data: 'hello' })
    .recv({ flags: ACK, seq: 1, ack: 6 })
    .accept().expectState('ESTABLISHED')
    .read().check((p) => assert.equal((p.result as { data: Uint8Array }).data, new TextEncoder().encode('hello')));
});

test('SYN-RECEIVED: FIN|ACK completes the handshake straight into CLOSE-WAIT', () => {
  synReceived()
    .send({ flags: FIN | ACK, seq: 1, ack: 1 })
    .recv({ flags: ACK, seq: 1, ack: 2 })
    .accept().expectState('CLOSE-WAIT');
});

test('SYN-RECEIVED: SYN with a different sequence number returns to LISTEN', () => {
  const p = synReceived().send({ flags: SYN, seq: 100, opts: synOpts(PLAIN) }).recv();
  assert.equal(Object.keys(p.st.tcp), []);
});

test.run();
