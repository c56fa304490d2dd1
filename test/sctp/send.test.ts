// RFC 9260 §6.1 (sending rules A-D), §6.3 (RTO, T3-rtx), §6.9 (fragmentation), §6.10
// (bundling), §7.2 (congestion control), §7.2.4 (fast retransmit), §8.1 (association failure).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { sackChunk } from '../../stack/wire/sctp.ts';
import { Peer, peer } from './peer.ts';

const send = (p: Peer, data: string | Uint8Array, o: Record<string, unknown> = {}) =>
  p.step({ type: 'send', id: p.id!, data: typeof data === 'string' ? new TextEncoder().encode(data) : data, ...o });

test('ESTABLISHED: send → one DATA chunk with TSN, stream, SSN, PPID, B and E set', () => {
  const p = peer().connected();
  send(p, 'hello', { stream: 3, ppid: 51 });
  assert.equal(p.result, { ok: true, msg: 0 });
  p.recv({ type: 'DATA', flags: 3, tsn: p.tsn, streamId: 3, ssn: 0, ppid: 51, userData: 'hello' });
  send(p, 'again', { stream: 3, ppid: 51 }).recv({ type: 'DATA', tsn: p.tsn + 1, streamId: 3, ssn: 1 });
  send(p, 'u', { stream: 3, unordered: true }).recv({ type: 'DATA', flags: 7, tsn: p.tsn + 2, ssn: 0 });
});

test('ESTABLISHED: send rejects a stream beyond the negotiated outbound streams and empty messages (EINVAL)', () => {
  const p = peer().connected({ mis: 4 });
  assert.is(p.assoc().outStreams, 4);
  send(p, 'x', { stream: 4 });
  assert.equal(p.result, { ok: false, code: 'EINVAL' });
  send(p, new Uint8Array(0));
  assert.equal(p.result, { ok: false, code: 'EINVAL' });
});

test('ESTABLISHED: a message larger than the PMTU is fragmented (§6.9); small ones are bundled (§6.10)', () => {
  const p = peer().connected();
  const big = new Uint8Array(3000).map((_, i) => i & 0xff);
  send(p, big);
  const got = p.takeSent();
  assert.equal(got.map((g) => (g.chunk as { flags: number }).flags), [2, 0, 1]);
  assert.equal(got.map((g) => g.packet), [got[0]!.packet, got[0]!.packet + 1, got[0]!.packet + 2]);
  const joined = new Uint8Array(got.flatMap((g) => [...(g.chunk as { userData: Uint8Array }).userData]));
  assert.equal(joined, big);
  assert.is((got[0]!.chunk as { userData: Uint8Array }).userData.length, 1500 - 20 - 12 - 16);
  // Two small messages after a SACK go out in one packet.
  p.send([sackChunk(p.tsn + 2, 65536)]);
  p.takeSent();
  const q = peer().connected();
  q.step({ type: 'send', id: q.id!, data: new Uint8Array(100) }); // first goes alone
  q.takeSent();
  q.step({ type: 'send', id: q.id!, data: new Uint8Array(100) });
  q.step({ type: 'send', id: q.id!, data: new Uint8Array(100) });
  const two = q.takeSent();
  assert.is(two.length, 2);
});

test('ESTABLISHED: T3-rtx retransmits at RTO with exponential backoff; a SACK stops it (§6.3.2, §6.3.3)', () => {
  const p = peer().connected();
  send(p, 'x').recv({ type: 'DATA', tsn: p.tsn });
  p.at(999).tick().recv().at(1000).tick().recv({ type: 'DATA', tsn: p.tsn });
  assert.is(p.assoc().paths[0]!.rto, 2000);
  assert.is(p.assoc().paths[0]!.cwnd, 1500, 'cwnd = 1 MTU after T3 (§7.2.3)');
  p.at(2999).tick().recv().at(3000).tick().recv({ type: 'DATA', tsn: p.tsn });
  p.at(3100).send([sackChunk(p.tsn, 65536)]).recv();
  assert.is(p.assoc().paths[0]!.t3, null);
  assert.is(p.assoc().sent.length, 0);
  assert.is(p.assoc().errors, 0);
});

test('ESTABLISHED: RTT is measured from a chunk sent once (Karn), RTO clamped to RTO.Min (§6.3.1)', () => {
  const p = peer({ assoc: { rtoMin: 100 } }).connected();
  send(p, 'x').recv({ type: 'DATA' });
  p.at(200).send([sackChunk(p.tsn, 65536)]);
  const path = p.assoc().paths[0]!;
  assert.is(path.srtt, 200);
  assert.is(path.rttvar, 100);
  assert.is(path.rto, 600);
  // A retransmitted chunk gives no sample.
  send(p, 'y').recv({ type: 'DATA' });
  p.at(800).tick().recv({ type: 'DATA' });
  p.at(900).send([sackChunk(p.tsn + 1, 65536)]);
  assert.is(p.assoc().paths[0]!.srtt, 200);
});

test('ESTABLISHED: the initial cwnd limits the first flight; it grows in slow start (§7.2.1)', () => {
  const p = peer().connected({ rwnd: 1 << 20 });
  const k = new Uint8Array(1452);
  for (let i = 0; i < 10; i++) send(p, k);
  // cwnd = min(4*MTU, max(2*MTU, 4404)) = 4404: chunks are sent while flight < cwnd: 4 chunks.
  assert.is(p.takeSent().length, 4);
  const a = p.assoc();
  assert.is(a.paths[0]!.cwnd, 4404);
  p.at(50).send([sackChunk(p.tsn + 1, 1 << 20)]);
  assert.is(a.paths[0]!.cwnd, 4404 + 1500);
  // Now 2 in flight (2904 bytes): room for more.
  assert.is(p.takeSent().length, 3);
});

test('ESTABLISHED: three miss indications trigger one fast retransmission; cwnd halves (§7.2.4)', () => {
  const p = peer().connected({ rwnd: 1 << 20 });
  const a = p.assoc();
  a.paths[0]!.cwnd = 20 * 1500;
  const k = new Uint8Array(1000);
  for (let i = 0; i < 8; i++) send(p, k);
  assert.is(p.takeSent().length, 8);
  const t = p.tsn;
  // TSN t lost; t+1.. arrive: SACKs with growing gap blocks.
  p.at(10).send([sackChunk((t - 1) >>> 0, 1 << 20, [{ start: 2, end: 2 }])]).recv();
  p.at(11).send([sackChunk((t - 1) >>> 0, 1 << 20, [{ start: 2, end: 3 }])]).recv();
  p.at(12).send([sackChunk((t - 1) >>> 0, 1 << 20, [{ start: 2, end: 4 }])]).recv({ type: 'DATA', tsn: t });
  assert.is(a.stats.fastRetransmits, 1);
  assert.is(a.paths[0]!.ssthresh, 15_000);
  assert.is(a.paths[0]!.cwnd, 15_000);
  assert.is(a.fastRecoveryExit, (t + 7) >>> 0);
  // More SACKs still missing t: no second fast retransmission of it.
  p.at(13).send([sackChunk((t - 1) >>> 0, 1 << 20, [{ start: 2, end: 5 }])]).recv();
  p.at(14).send([sackChunk((t - 1) >>> 0, 1 << 20, [{ start: 2, end: 6 }])]).recv();
  p.at(15).send([sackChunk((t - 1) >>> 0, 1 << 20, [{ start: 2, end: 8 }])]).recv();
  p.at(20).send([sackChunk((t + 7) >>> 0, 1 << 20)]).recv();
  assert.is(a.fastRecoveryExit, null);
  assert.is(a.sent.length, 0);
});

test('ESTABLISHED: the peer\'s rwnd limits new data; zero window: one probe while nothing is in flight (§6.1 A)', () => {
  const p = peer().connected({ rwnd: 3000 });
  const k = new Uint8Array(1400);
  for (let i = 0; i < 4; i++) send(p, k);
  assert.is(p.takeSent().length, 2, 'rwnd 3000 takes two chunks of 1400, not a third');
  // The peer acknowledges both but advertises a zero window.
  p.at(100).send([sackChunk((p.tsn + 1) >>> 0, 0)]).recv({ type: 'DATA', tsn: p.tsn + 2 });
  // The probe is dropped by the peer (window still 0) but SACKs keep coming: no error counting (§6.1 A).
  p.at(1100).tick().recv({ type: 'DATA', tsn: p.tsn + 2 });
  p.at(1150).send([sackChunk((p.tsn + 1) >>> 0, 0)]);
  p.at(3100).tick().recv({ type: 'DATA', tsn: p.tsn + 2 });
  assert.is(p.assoc().errors, 0);
  // Window opens.
  p.at(3200).send([sackChunk((p.tsn + 2) >>> 0, 10_000)]).recv({ type: 'DATA', tsn: p.tsn + 3 });
});

test('ESTABLISHED: Association.Max.Retrans exhausted → ABORT and ETIMEDOUT (§8.1)', () => {
  const p = peer({ assoc: { rtoMax: 4000 } }).connected();
  send(p, 'x').recv({ type: 'DATA' });
  const times: number[] = [];
  p.runUntil(200_000);
  for (const s of p.takeSent()) times.push(s.chunk.type === 'DATA' ? 1 : 0);
  // 10 retransmissions, then the 11th expiry aborts.
  assert.is(times.filter((x) => x === 1).length, 10);
  p.expectEvents({ type: 'path', state: 'inactive' }, { type: 'error', code: 'ETIMEDOUT' }, { type: 'closed' });
  assert.is(p.assoc().state, 'CLOSED');
});

test('ESTABLISHED: the send buffer bounds queued messages (EAGAIN, then writable)', () => {
  const p = peer({ assoc: { sndBuf: 3000 } }).connected({ rwnd: 0 });
  send(p, new Uint8Array(2000));
  send(p, new Uint8Array(2000));
  assert.equal(p.result, { ok: false, code: 'EAGAIN' });
  p.takeSent();
  p.at(10).send([sackChunk(p.tsn, 65536)]);
  p.expectEvents({ type: 'writable' });
  send(p, new Uint8Array(2000));
  assert.equal(p.result, { ok: true, msg: 1 });
});

test('ESTABLISHED: an old SACK (below the cumulative TSN ack point) is ignored (§6.2.1 D i)', () => {
  const p = peer().connected();
  send(p, 'a'); send(p, 'b');
  p.takeSent();
  p.send([sackChunk((p.tsn + 1) >>> 0, 65536)]);
  p.send([sackChunk(p.tsn, 100)]);
  assert.is(p.assoc().cumAck, (p.tsn + 1) >>> 0);
  assert.is(p.assoc().peerArwnd, 65536);
});

test('ESTABLISHED: a gap-acked chunk is not retransmitted at T3, a reneged one is (§6.2.1)', () => {
  const p = peer().connected();
  send(p, 'a'); send(p, 'b');
  p.takeSent();
  p.at(10).send([sackChunk((p.tsn - 1) >>> 0, 65536, [{ start: 2, end: 2 }])]);
  p.at(1000).tick().recv({ type: 'DATA', tsn: p.tsn });
  // The peer reneges on TSN+1 (a SACK with a later block but not that one).
  send(p, 'c');
  p.takeSent();
  p.at(1010).send([sackChunk((p.tsn - 1) >>> 0, 65536, [{ start: 3, end: 3 }])]).recv({ type: 'DATA', tsn: p.tsn + 1 });
  assert.is(p.assoc().sent[1]!.tx, 2);
});

test('ESTABLISHED: when a zero window opens, the outstanding probe is sent again at once (§6.1 A)', () => {
  const p = peer().connected({ rwnd: 0 });
  send(p, new Uint8Array(100)).recv({ type: 'DATA', tsn: p.tsn });   // the probe
  send(p, new Uint8Array(100)).recv();                                // waits
  p.at(50).send([sackChunk((p.tsn - 1) >>> 0, 0)]).recv();            // probe dropped, window still 0
  p.at(60).send([sackChunk((p.tsn - 1) >>> 0, 50_000)]).recv({ type: 'DATA', tsn: p.tsn }, { type: 'DATA', tsn: p.tsn + 1 });
});

test.run();
