// PR-SCTP (RFC 3758): timed reliability and limited retransmissions on the sending side,
// abandonment of whole messages, the Advanced.Peer.Ack.Point and FORWARD TSN (§3.5).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { sackChunk } from '../../stack/wire/sctp.ts';
import { peer, type Peer } from './peer.ts';

const send = (p: Peer, len: number, o: Record<string, unknown>) => p.step({ type: 'send', id: p.id!, data: new Uint8Array(len).fill(7), ...o });

test('timed reliability: an expired message is abandoned at T3; FORWARD TSN instead of a retransmission', () => {
  const p = peer().connected();
  send(p, 10, { stream: 2, ttl: 500 }).recv({ type: 'DATA', tsn: p.tsn, streamId: 2, ssn: 0 });
  p.at(1000).tick().recv({ type: 'FORWARD-TSN', newCumTsn: p.tsn, streams: [{ streamId: 2, ssn: 0 }] });
  p.expectEvents({ type: 'abandoned', msg: 0, stream: 2, sent: true });
  assert.is(p.assoc().sndBufUsed, 0);
  // T3 covers the FORWARD TSN until the peer's cumulative ack reaches it.
  p.at(3000).tick().recv({ type: 'FORWARD-TSN', newCumTsn: p.tsn });
  p.at(3050).send([sackChunk(p.tsn, 65536)]).recv();
  assert.is(p.assoc().sent.length, 0);
  assert.is(p.assoc().paths[0]!.t3, null);
});

test('timed reliability: unordered messages are skipped without stream entries', () => {
  const p = peer().connected();
  send(p, 10, { stream: 1, unordered: true, ttl: 100 }).recv({ type: 'DATA' });
  p.at(1000).tick().recv({ type: 'FORWARD-TSN', newCumTsn: p.tsn, streams: [] });
});

test('timed reliability: a message that expires before it was ever sent is dropped quietly (sent: false)', () => {
  const p = peer().connected({ rwnd: 0 });
  send(p, 10, {}).recv({ type: 'DATA' }); // the zero-window probe
  send(p, 10, { ttl: 50 });
  p.at(100).send([sackChunk(p.tsn, 0)]).recv();
  p.at(200).send([sackChunk(p.tsn, 10_000)]).recv();
  p.expectEvents({ type: 'abandoned', msg: 1, sent: false });
  send(p, 10, {}).recv({ type: 'DATA', tsn: p.tsn + 1, ssn: 1 }, );
});

test('limited retransmissions: maxRetransmits 1 allows one retransmission, then abandons', () => {
  const p = peer().connected();
  send(p, 10, { maxRetransmits: 1 }).recv({ type: 'DATA' });
  p.at(1000).tick().recv({ type: 'DATA', tsn: p.tsn });
  p.at(3000).tick().recv({ type: 'FORWARD-TSN', newCumTsn: p.tsn, streams: [{ streamId: 0, ssn: 0 }] });
  p.expectEvents({ type: 'abandoned', msg: 0, sent: true });
});

test('abandonment covers every fragment of a message, and the ack point only passes abandoned TSNs', () => {
  const p = peer().connected();
  send(p, 3000, { stream: 4, ttl: 200 }); // three fragments
  send(p, 10, { stream: 4 });             // reliable, after it
  assert.is(p.takeSent().length, 4);
  p.at(1000).tick();
  // Fragments abandoned; the reliable chunk is retransmitted; the FORWARD TSN goes first.
  p.recv({ type: 'FORWARD-TSN', newCumTsn: p.tsn + 2, streams: [{ streamId: 4, ssn: 0 }] }, { type: 'DATA', tsn: p.tsn + 3, ssn: 1 });
  p.expectEvents({ type: 'abandoned', msg: 0, stream: 4, sent: true });
});

test('a SACK below the ack point brings the FORWARD TSN again (RFC 3758 §3.5 C3)', () => {
  const p = peer().connected();
  send(p, 10, { ttl: 100 });
  send(p, 10, {});
  p.takeSent();
  p.at(1000).tick().recv({ type: 'FORWARD-TSN', newCumTsn: p.tsn }, { type: 'DATA', tsn: p.tsn + 1 });
  p.at(1010).send([sackChunk((p.tsn - 1) >>> 0, 65536, [{ start: 2, end: 2 }])]).recv({ type: 'FORWARD-TSN', newCumTsn: p.tsn });
  p.at(1020).send([sackChunk((p.tsn + 1) >>> 0, 65536)]).recv();
});

test('a peer without PR-SCTP support: lifetimes are not applied (reliable delivery)', () => {
  const p = peer().connected({ params: [] });
  assert.is(p.assoc().peerPrSctp, false);
  send(p, 10, { ttl: 100 }).recv({ type: 'DATA' });
  p.at(1000).tick().recv({ type: 'DATA', tsn: p.tsn });
  p.expectEvents();
});

test.run();
