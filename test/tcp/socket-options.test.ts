// Per-socket settings added for the FreeBSD packetdrill profile and BSD socket options:
// ackRepeatsFin, connectTimeout (TCP_KEEPINIT), noOptions (TCP_NOOPT), ttl and tos
// (IP_TTL / IP_TOS), and the challenge ACK for a SYN outside the window.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { TcpSocketConfig } from '../../stack/api.ts';
import { createStack, defaultStackConfig, stackStep } from '../../stack/stack.ts';
import { ACK, FIN, PLAIN, PSH, SECRET, SYN, closing, established, finWait1, lastAck, peer, type Peer, type PeerOptions } from './peer.ts';

const opts = (o: Partial<TcpSocketConfig>): PeerOptions => ({ tcp: { ...PLAIN.tcp, ...o } });
const REPEAT = opts({ ackRepeatsFin: true });
const MSS = [{ kind: 'mss' as const, mss: 1460 }];

/** TTL / hop limit and TOS / traffic class of the i-th IP packet we sent since the last recv(). */
const ipOf = (p: Peer, i = 0): { ttl: number; tos: number } => {
  const b = p.pendingIp[i];
  if (b === undefined) throw new Error(`no packet ${i}`);
  return b[0]! >> 4 === 4 ? { ttl: b[8]!, tos: b[1]! } : { ttl: b[7]!, tos: ((b[0]! & 0x0f) << 4) | (b[1]! >> 4) };
};

// ------------------------------------------------------------------------- ackRepeatsFin

test('ackRepeatsFin: FIN-WAIT-1, the peer\'s FIN is acknowledged by repeating our FIN (CLOSING)', () => {
  finWait1(REPEAT).send({ flags: FIN | ACK, seq: 1, ack: 1 })
    .recv({ flags: FIN | ACK, seq: 1, ack: 2 })
    .expectState('CLOSING')
    .send({ flags: ACK, seq: 2, ack: 2 }).recv().expectState('TIME-WAIT');
});

test('ackRepeatsFin: off (the default) the same FIN gets a bare ACK at SND.NXT', () => {
  finWait1().send({ flags: FIN | ACK, seq: 1, ack: 1 }).recv({ flags: ACK, seq: 2, ack: 2 });
});

test('ackRepeatsFin: data in FIN-WAIT-1 and an unacceptable segment in LAST-ACK are acknowledged with the FIN', () => {
  finWait1(REPEAT).send({ flags: ACK, seq: 1, ack: 1, data: 'ab' }).recv({ flags: FIN | ACK, seq: 1, ack: 3 });
  lastAck(REPEAT).send({ flags: ACK, seq: 1, ack: 1 }).recv({ flags: FIN | ACK, seq: 1, ack: 2 }).expectState('LAST-ACK');
});

test('ackRepeatsFin: not while data before the FIN is unacknowledged, and never on a challenge ACK', () => {
  established(REPEAT).write('abc').call({ type: 'shutdown' }).drain()
    .send({ flags: ACK, seq: 1, ack: 1, data: 'x' })
    .recv({ flags: ACK, seq: 5, ack: 2 });
  closing(REPEAT).send({ flags: SYN, seq: 2 }).recv({ flags: ACK, seq: 2, ack: 2 });
});

// ------------------------------------------------------------------- SYN outside the window

test('SYN outside the window: a rate-limited challenge ACK (RFC 5961 §4.2 "irrespective of the sequence number")', () => {
  const p = established({ ...PLAIN, stack: { challengeAckLimit: 1 } })
    .send({ flags: SYN, seq: 0 }).recv({ flags: ACK, seq: 1, ack: 1 })
    .send({ flags: SYN, seq: 0 }).recv();
  assert.is(p.st.counters['challenge-ack-limited'], 1);
  // Also with RFC 5961 §4 off (RFC 793 resets only for a SYN in the window).
  established({ ...PLAIN, stack: { rfc5961Syn: false, challengeAckLimit: 1 } })
    .send({ flags: SYN, seq: 400_000 }).recv({ flags: ACK, seq: 1, ack: 1 })
    .send({ flags: SYN, seq: 400_000 }).recv().expectState('ESTABLISHED');
});

// -------------------------------------------------------------------------- connectTimeout

test('connectTimeout: an open not ESTABLISHED in time fails with ETIMEDOUT, no RST (RFC 1122 §4.2.3.5)', () => {
  peer(opts({ connectTimeout: 2500 })).connect().drain()
    .at(1000).tick().recv({ flags: SYN, seq: 0 })
    .at(2499).tick().recv().expectState('SYN-SENT')
    .at(2500).tick().recv().expectState('CLOSED').expectEvents('error:ETIMEDOUT', 'closed');
});

test('connectTimeout: ends with the handshake, and set-option re-arms it from now', () => {
  peer(opts({ connectTimeout: 2500 })).connect().drain()
    .send({ flags: SYN | ACK, seq: 0, ack: 1, opts: MSS }).drain()
    .check((p) => assert.is(p.tcb().timers.close, null))
    .at(5000).tick().expectState('ESTABLISHED');
  peer(opts({ connectTimeout: 2500 })).connect().drain()
    .at(2000).call({ type: 'set-option', options: { connectTimeout: 1000 } })
    .at(2999).tick().expectState('SYN-SENT')
    .at(3000).tick().expectState('CLOSED');
});

// ------------------------------------------------------------------------------ noOptions

test('noOptions: a SYN without any option; the peer\'s offers are not taken up, its MSS is', () => {
  peer({ ...opts({ noOptions: true, timestamps: true, wscale: true }), ts: false }).connect()
    .recv({ flags: SYN, seq: 0, opts: [] })
    .send({ flags: SYN | ACK, seq: 0, ack: 1, opts: [{ kind: 'mss', mss: 1000 }, { kind: 'sack-permitted' }, { kind: 'nop' }, { kind: 'wscale', shift: 7 }, { kind: 'timestamp', tsval: 5, tsecr: 0 }] })
    .recv({ flags: ACK, seq: 1, ack: 1 })
    .check((p) => {
      const t = p.tcb();
      assert.equal([t.sackOk, t.wsOk, t.tsOk, t.mss], [false, false, false, 1000]);
    });
});

test('noOptions: a listener answers with a SYN|ACK without options and negotiates nothing', () => {
  peer(opts({ noOptions: true })).listen()
    .send({ flags: SYN, seq: 0, opts: [...MSS, { kind: 'sack-permitted' }] })
    .recv({ flags: SYN | ACK, seq: 0, ack: 1, opts: [] })
    .send({ flags: ACK, seq: 1, ack: 1 }).accept()
    .check((p) => assert.is(p.tcb().sackOk, false));
});

// ----------------------------------------------------------------------------- ttl and tos

test('ttl and tos: every packet of the socket carries them; the ECN bits of tos are ignored; set-option changes them', () => {
  const p = peer(opts({ ttl: 7, tos: 0x2b })).connect();
  assert.equal(ipOf(p), { ttl: 7, tos: 0x28 });
  p.recv({ flags: SYN, seq: 0 })
    .send({ flags: SYN | ACK, seq: 0, ack: 1, opts: MSS }).drain()
    .call({ type: 'set-option', options: { ttl: null, tos: 0xe0 } })
    .write('a');
  assert.equal(ipOf(p), { ttl: 64, tos: 0xe0 });
  p.recv({ flags: ACK | PSH, seq: 1, ack: 1, data: 'a' });
});

test('ttl and tos: a listener\'s setting reaches its SYN|ACK; IPv6 writes the traffic class', () => {
  const p = peer(opts({ ttl: 3, tos: 0x20 })).listen().send({ flags: SYN, seq: 0, opts: MSS });
  assert.equal(ipOf(p), { ttl: 3, tos: 0x20 });
  const cfg = defaultStackConfig(['fd00::1']);
  const st = createStack({ ...cfg, tcp: { ...cfg.tcp, ttl: 5, tos: 0xe0 } }, SECRET, 0);
  const r = stackStep(st, { type: 'connect', local: null, localPort: 40000, remote: 'fd00::2', port: 80 }, 0);
  const b = r.out[0]!;
  assert.equal([b[0]! >> 4, b[7], ((b[0]! & 0x0f) << 4) | (b[1]! >> 4)], [6, 5, 0xe0]);
});

test.run();
