// SYN-SENT (RFC 9293 §3.10.7.3) and active open.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ACK, FIN, PLAIN, PSH, RST, SYN, peer, synSent } from './peer.ts';

const SYNOPTS = { opts: [{ kind: 'mss', mss: 1460 }, { kind: 'nop' }, { kind: 'nop' }, { kind: 'sack-permitted' }] as never };

test('SYN-SENT: connect sends <SEQ=ISS><CTL=SYN> with MSS and SACK-permitted', () => {
  peer(PLAIN).connect().recv({ flags: SYN, seq: 0, win: 65535, ...SYNOPTS }).expectState('SYN-SENT');
});

test('SYN-SENT: SYN retransmitted at 1 s, then backed off to 2 s, 4 s', () => {
  synSent()
    .at(999).tick().recv()
    .at(1000).tick().recv({ flags: SYN, seq: 0, ...SYNOPTS })
    .at(2999).tick().recv()
    .at(3000).tick().recv({ flags: SYN, seq: 0, ...SYNOPTS })
    .at(7000).tick().recv({ flags: SYN, seq: 0, ...SYNOPTS });
});

test('SYN-SENT: gives up after synRetries with ETIMEDOUT', () => {
  const p = peer({ ...PLAIN, tcp: { ...PLAIN.tcp, synRetries: 2 } }).connect().drain()
    .at(1000).tick().at(3000).tick().drain()
    .at(7000).tick().recv();
  p.expectEvents('error:ETIMEDOUT', 'closed').expectState('CLOSED');
  p.call({ type: 'send', data: new Uint8Array(1) });
  assert.equal(p.result, { ok: false, code: 'ETIMEDOUT' });
});

test('SYN-SENT: SYN|ACK completes the handshake: ACK, ESTABLISHED, connected', () => {
  synSent()
    .send({ flags: SYN | ACK, seq: 0, ack: 1, opts: [{ kind: 'mss', mss: 1000 }] })
    .recv({ flags: ACK, seq: 1, ack: 1 })
    .expectState('ESTABLISHED')
    .expectEvents('connected')
    .check((p) => { assert.is(p.tcb().mss, 1000); assert.not.ok(p.tcb().sackOk, 'peer did not offer SACK'); });
});

test('SYN-SENT: RST without ACK is ignored', () => {
  synSent().send({ flags: RST, seq: 0 }).recv().expectState('SYN-SENT');
});

test('SYN-SENT: RST|ACK acknowledging our SYN: ECONNREFUSED', () => {
  synSent().send({ flags: RST | ACK, seq: 0, ack: 1 }).recv().expectState('CLOSED').expectEvents('error:ECONNREFUSED', 'closed');
});

test('SYN-SENT: RST|ACK with a bad ACK is dropped', () => {
  synSent().send({ flags: RST | ACK, seq: 0, ack: 99 }).recv().expectState('SYN-SENT');
});

test('SYN-SENT: ACK not acknowledging our SYN draws <SEQ=SEG.ACK><CTL=RST>', () => {
  synSent().send({ flags: ACK, seq: 0, ack: 500 }).recv({ flags: RST, seq: 500 }).expectState('SYN-SENT');
});

test('SYN-SENT: SYN without ACK is a simultaneous open: SYN-RECEIVED, SYN|ACK, then ACK establishes', () => {
  synSent()
    .send({ flags: SYN, seq: 0, opts: [{ kind: 'mss', mss: 1460 }, { kind: 'sack-permitted' }] })
    .recv({ flags: SYN | ACK, seq: 0, ack: 1, ...SYNOPTS })
    .expectState('SYN-RECEIVED')
    .send({ flags: ACK, seq: 1, ack: 1 })
    .recv()
    .expectState('ESTABLISHED')
    .expectEvents('connected');
});

test('SYN-SENT: data written before the handshake goes out right after it', () => {
  synSent().write('early')
    .recv()
    .send({ flags: SYN | ACK, seq: 0, ack: 1, opts: [{ kind: 'mss', mss: 1460 }] })
    .recv({ flags: ACK | PSH, seq: 1, ack: 1, data: 'early' });
});

test('SYN-SENT: close deletes the TCB without sending anything', () => {
  synSent().call({ type: 'close' }).recv().expectState('GONE');
});

test('SYN-SENT: the SYN|ACK RTT seeds the RTO (RFC 6298 §2.2)', () => {
  synSent().at(100).send({ flags: SYN | ACK, seq: 0, ack: 1, opts: [{ kind: 'mss', mss: 1460 }] })
    .check((p) => { assert.is(p.tcb().srtt, 100); assert.is(p.tcb().rto, 300); });
});

test('SYN-SENT: after a retransmitted SYN no RTT sample is taken and RTO is at least 3 s (RFC 6298 §5.7)', () => {
  synSent().at(1000).tick().at(1100).send({ flags: SYN | ACK, seq: 0, ack: 1, opts: [{ kind: 'mss', mss: 1460 }] })
    .check((p) => { assert.is(p.tcb().srtt, null); assert.ok(p.tcb().rto >= 3000); });
});

test('SYN-SENT: window scaling and timestamps negotiated from the SYN|ACK', () => {
  peer({ tcp: { delayedAck: false } }).connect().drain()
    .send({ flags: SYN | ACK, seq: 0, ack: 1, win: 1000, opts: [{ kind: 'mss', mss: 1460 }, { kind: 'nop' }, { kind: 'wscale', shift: 3 }, { kind: 'timestamp', tsval: 7, tsecr: 1 }] })
    .check((p) => {
      const t = p.tcb();
      assert.is(t.sndShift, 3);
      assert.ok(t.tsOk);
      assert.is(t.sndWnd, 1000, 'the SYN|ACK window is not scaled (RFC 7323 §2.2)');
      assert.is(t.mss, 1448, 'MSS less the timestamp option');
    });
});

test('SYN-SENT: text and FIN on a simultaneous-open SYN wait until ESTABLISHED (RFC 9293 §3.10.7.3)', () => {
  const p = synSent()
    .send({ flags: SYN | FIN, seq: 0, data: 'abc', opts: [{ kind: 'mss', mss: 1460 }, { kind: 'sack-permitted' }] })
    // The SYN|ACK acknowledges the SYN only: the text is queued, not yet received.
    .recv({ flags: SYN | ACK, seq: 0, ack: 1, ...SYNOPTS })
    .expectState('SYN-RECEIVED')
    .read();
  assert.equal((p.result as { data: Uint8Array }).data, new Uint8Array(0));
  p.send({ flags: ACK, seq: 5, ack: 1 })
    .expectState('CLOSE-WAIT')
    .recv({ flags: ACK, seq: 1, ack: 5 })
    .read().check((q) => assert.equal(q.result, { ok: true, data: new TextEncoder().encode('abc'), eof: true }));
});

test('SYN-SENT: rtoSlop is added to every SYN timeout but the first (FreeBSD rexmit_slop)', () => {
  peer({ tcp: { ...PLAIN.tcp, rtoSlop: 200 } }).connect().drain()
    .at(1000).tick().recv({ flags: SYN, seq: 0, ...SYNOPTS })
    .at(3199).tick().recv()
    .at(3200).tick().recv({ flags: SYN, seq: 0, ...SYNOPTS })
    .at(7400).tick().recv({ flags: SYN, seq: 0, ...SYNOPTS });
});

test.run();
