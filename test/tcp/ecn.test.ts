// RFC 3168 ECN (stack/tcp/ecn.ts): negotiation on the SYNs, ECT(0) on new data only, the
// receiver's ECE echo until CWR, the sender's once-per-window cwnd reduction and its CWR.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { TcpSocketConfig } from '../../stack/api.ts';
import { checksum } from '../../stack/wire/checksum.ts';
import { CWR, ECE } from '../../stack/wire/tcp.ts';
import { ACK, PLAIN, PSH, SYN, peer, type Peer, type PeerOptions } from './peer.ts';

const MSS = [{ kind: 'mss' as const, mss: 1460 }];
const opts = (o: Partial<TcpSocketConfig>): PeerOptions => ({ tcp: { ...PLAIN.tcp, ...o } });
const ON = opts({ ecn: 'on' });
const ACCEPT = opts({ ecn: 'accept' });

/** The ECN field of the i-th IP packet we sent since the last recv(). */
const ecnOf = (p: Peer, i = 0): number => {
  const pkt = p.pendingIp[i];
  if (pkt === undefined) throw new Error(`no packet ${i}`);
  return pkt[0]! >> 4 === 4 ? pkt[1]! & 3 : (pkt[1]! >> 4) & 3;
};

/** An IPv4 packet with its ECN field set to `ecn` (header checksum fixed). */
function marked(pkt: Uint8Array, ecn: number): Uint8Array {
  const b = pkt.slice();
  b[1] = (b[1]! & 0xfc) | ecn;
  b[10] = 0; b[11] = 0;
  new DataView(b.buffer).setUint16(10, checksum(b.subarray(0, 20)));
  return b;
}

/** Active open with ECN negotiated (newreno, so cwnd arithmetic is plain RFC 5681). */
function ecnEstablished(o: Partial<TcpSocketConfig> = {}): Peer {
  return peer(opts({ ecn: 'on', cc: 'newreno', ...o })).connect()
    .recv({ flags: SYN | ECE | CWR, seq: 0 })
    .send({ flags: SYN | ACK | ECE, seq: 0, ack: 1, opts: MSS })
    .recv({ flags: ACK, seq: 1, ack: 1 })
    .check((p) => assert.ok(p.tcb().ecn !== null, 'ECN negotiated'));
}

test('ECN: ecn on: an ECN-setup SYN (ECE|CWR), not ECT; an ECN-setup SYN|ACK turns ECN on', () => {
  peer(ON).connect()
    .check((p) => assert.is(ecnOf(p), 0, 'SYN is not ECT (RFC 3168 §6.1.1)'))
    .recv({ flags: SYN | ECE | CWR, seq: 0 })
    .send({ flags: SYN | ACK | ECE, seq: 0, ack: 1, opts: MSS })
    .recv({ flags: ACK, seq: 1, ack: 1 })
    .check((p) => assert.equal(p.tcb().ecn, { ece: false, cwr: false, recover: p.tcb().iss }));
});

test('ECN: off by default: a plain SYN, and an ECE on the SYN|ACK changes nothing', () => {
  peer(PLAIN).connect()
    .recv({ flags: SYN, seq: 0 })
    .send({ flags: SYN | ACK | ECE, seq: 0, ack: 1, opts: MSS })
    .recv({ flags: ACK, seq: 1, ack: 1 })
    .check((p) => assert.is(p.tcb().ecn, null));
});

test('ECN: a SYN|ACK with both ECE and CWR is not ECN-setup (RFC 3168 §6.1.1)', () => {
  peer(ON).connect().drain()
    .send({ flags: SYN | ACK | ECE | CWR, seq: 0, ack: 1, opts: MSS })
    .check((p) => assert.is(p.tcb().ecn, null));
});

test('ECN: the SYN asks for ECN on ecnSynRetries retransmissions, then falls back (RFC 3168 §6.1.1.1)', () => {
  peer(opts({ ecn: 'on', ecnSynRetries: 1 })).connect()
    .recv({ flags: SYN | ECE | CWR, seq: 0 })
    .at(1000).tick().recv({ flags: SYN | ECE | CWR, seq: 0 })
    .at(3000).tick().recv({ flags: SYN, seq: 0 })
    // An ECN-setup SYN|ACK now answers an old SYN: the latest did not ask, so ECN stays off.
    .send({ flags: SYN | ACK | ECE, seq: 0, ack: 1, opts: MSS })
    .check((p) => assert.is(p.tcb().ecn, null));
  peer(opts({ ecn: 'on', ecnSynRetries: 0 })).connect()
    .recv({ flags: SYN | ECE | CWR, seq: 0 })
    .at(1000).tick().recv({ flags: SYN, seq: 0 });
});

test('ECN: a listener accepting ECN answers an ECN-setup SYN with ECE on its SYN|ACK; off answers plainly', () => {
  peer(ACCEPT).listen()
    .send({ flags: SYN | ECE | CWR, seq: 0, opts: MSS })
    .check((p) => assert.is(ecnOf(p), 0, 'SYN|ACK is not ECT'))
    .recv({ flags: SYN | ACK | ECE, seq: 0, ack: 1 })
    .send({ flags: ACK, seq: 1, ack: 1 }).accept()
    .check((p) => assert.ok(p.tcb().ecn !== null));
  peer(PLAIN).listen()
    .send({ flags: SYN | ECE | CWR, seq: 0, opts: MSS })
    .recv({ flags: SYN | ACK, seq: 0, ack: 1 });
  // 'accept' never asks on its own SYN.
  peer(ACCEPT).connect().recv({ flags: SYN, seq: 0 });
});

test('ECN: simultaneous open: an ECN-setup SYN in SYN-SENT is accepted like at a listener', () => {
  peer(ACCEPT).connect().drain()
    .send({ flags: SYN | ECE | CWR, seq: 0, opts: MSS })
    .recv({ flags: SYN | ACK | ECE, seq: 0, ack: 1 })
    .send({ flags: ACK, seq: 1, ack: 1 })
    .expectState('ESTABLISHED')
    .check((p) => assert.ok(p.tcb().ecn !== null));
});

test('ECN: SYN cookies keep ECN through the timestamp bits; without timestamps it is declined', () => {
  const ts: PeerOptions = { tcp: { ...PLAIN.tcp, timestamps: true, ecn: 'accept' }, stack: { syncookies: 'always' } };
  const tsOpt = [...MSS, { kind: 'timestamp' as const, tsval: 1, tsecr: 0 }];
  peer(ts).listen()
    .send({ flags: SYN | ECE | CWR, seq: 0, opts: tsOpt })
    .recv({ flags: SYN | ACK | ECE, seq: 0, ack: 1 })
    .send({ flags: ACK, seq: 1, ack: 1 }).accept()
    .check((p) => assert.ok(p.tcb().ecn !== null, 'ECN restored from the cookie'));
  peer({ tcp: { ...PLAIN.tcp, ecn: 'accept' }, stack: { syncookies: 'always' } }).listen()
    .send({ flags: SYN | ECE | CWR, seq: 0, opts: MSS })
    .recv({ flags: SYN | ACK, seq: 0, ack: 1 });
});

test('ECN: new data is ECT(0); pure ACKs and retransmissions are not (RFC 3168 §6.1.2, §6.1.4, §6.1.5)', () => {
  const p = ecnEstablished().write('abc');
  assert.is(ecnOf(p), 2, 'new data ECT(0)');
  p.recv({ flags: ACK | PSH, seq: 1, ack: 1, data: 'abc' })
    .at(200).tick();
  assert.is(ecnOf(p), 0, 'retransmission not ECT');
  p.recv({ flags: ACK | PSH, seq: 1, ack: 1, data: 'abc' })
    .send({ flags: ACK, seq: 1, ack: 4, data: 'xy' });
  assert.is(ecnOf(p), 0, 'pure ACK not ECT');
  p.recv({ flags: ACK, seq: 4, ack: 3 });
});

test('ECN: a CE mark makes every ACK carry ECE until the peer sends CWR (RFC 3168 §6.1.3)', () => {
  const p = ecnEstablished();
  p.step({ type: 'packet', data: marked(p.packet({ flags: ACK, seq: 1, ack: 1, data: 'a' }), 3) })
    .recv({ flags: ACK | ECE, seq: 1, ack: 2 })
    .send({ flags: ACK, seq: 2, ack: 1, data: 'b' })
    .recv({ flags: ACK | ECE, seq: 1, ack: 3 })
    .send({ flags: ACK | CWR, seq: 3, ack: 1, data: 'c' })
    .recv({ flags: ACK, seq: 1, ack: 4 });
  // Without ECN a CE mark is just a delivered packet.
  const q = peer(PLAIN).connect().drain().send({ flags: SYN | ACK, seq: 0, ack: 1, opts: MSS }).drain();
  q.step({ type: 'packet', data: marked(q.packet({ flags: ACK, seq: 1, ack: 1, data: 'a' }), 3) })
    .recv({ flags: ACK, seq: 1, ack: 2 });
});

test('ECN: ECE halves cwnd once per window, with no retransmission; the next new data carries CWR (RFC 3168 §6.1.2)', () => {
  const p = ecnEstablished({ noDelay: true }).write(3 * 1460).drain();
  const cwnd0 = p.tcb().cc.cwnd;
  p.send({ flags: ACK | ECE, seq: 1, ack: 1461 }).recv();
  // RFC 5681 §3.2 with FlightSize 4380: ssthresh = max(2190, 2920).
  assert.is(p.tcb().cc.ssthresh, 2920);
  assert.is(p.tcb().cc.cwnd, 2920);
  assert.ok(p.tcb().cc.cwnd < cwnd0);
  // pipe (2920) = cwnd: new data waits.
  p.write(100).recv()
    // A second ECE within the same window changes nothing; the freed room sends the new data with CWR.
    .send({ flags: ACK | ECE, seq: 1, ack: 2921 })
    .check((q) => assert.is(q.tcb().cc.ssthresh, 2920))
    .check((q) => assert.is(ecnOf(q), 2))
    .recv({ flags: ACK | PSH | CWR, seq: 4381, ack: 1, data: 100 })
    .check((q) => assert.is(q.tcb().ecn!.cwr, false));
  assert.is(p.st.counters['ecn-cwnd-reduced'], 1);
});

test('ECN: ECE on an ACK beyond the last reduction is a new congestion signal', () => {
  const p = ecnEstablished().write(2 * 1460).drain()
    .send({ flags: ACK | ECE, seq: 1, ack: 2921 })
    .write(100)
    .recv({ flags: ACK | PSH | CWR, seq: 2921, ack: 1, data: 100 })
    .send({ flags: ACK | ECE, seq: 1, ack: 3021 });
  assert.is(p.st.counters['ecn-cwnd-reduced'], 2);
});

test.run();
