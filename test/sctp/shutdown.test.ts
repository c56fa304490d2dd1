// RFC 9260 §9: ABORT (§9.1) and graceful shutdown (§9.2) through SHUTDOWN-PENDING,
// SHUTDOWN-SENT, SHUTDOWN-RECEIVED and SHUTDOWN-ACK-SENT, with T2-shutdown and T5-shutdown-guard.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { sackChunk, shutdownChunk, shutdownCompleteChunk } from '../../stack/wire/sctp.ts';
import { PEER_TAG, PEER_TSN, peer, type Peer } from './peer.ts';

const T = PEER_TSN;
const send = (p: Peer, s: string) => p.step({ type: 'send', id: p.id!, data: new TextEncoder().encode(s) });

test('ESTABLISHED → SHUTDOWN-SENT: nothing outstanding: SHUTDOWN at once with our cumulative TSN', () => {
  const p = peer().established();
  p.send([p.data('in')]);
  p.step({ type: 'shutdown', id: p.id! }).recv({ type: 'SHUTDOWN', cumTsnAck: T });
  assert.is(p.assoc().state, 'SHUTDOWN-SENT');
  assert.is(p.assoc().sackAt, null, 'the SHUTDOWN acknowledged the data');
  p.send([{ type: 'SHUTDOWN-ACK', flags: 0 }]).recv({ type: 'SHUTDOWN-COMPLETE', flags: 0 });
  p.expectEvents({ type: 'readable' }, { type: 'closed' });
  assert.is(p.assoc().state, 'CLOSED');
  // The message that arrived before is still readable; then eof.
  p.step({ type: 'recv', id: p.id! });
  assert.is(new TextDecoder().decode((p.result as { message: { data: Uint8Array } }).message.data), 'in');
  p.step({ type: 'recv', id: p.id! });
  assert.equal(p.result, { ok: true, message: null, eof: true });
});

test('SHUTDOWN-PENDING: SHUTDOWN waits until every DATA chunk is acknowledged; send is refused (EPIPE)', () => {
  const p = peer().connected();
  send(p, 'x').recv({ type: 'DATA' });
  p.step({ type: 'shutdown', id: p.id! }).recv();
  assert.is(p.assoc().state, 'SHUTDOWN-PENDING');
  send(p, 'y');
  assert.equal(p.result, { ok: false, code: 'EPIPE' });
  p.send([sackChunk(p.tsn, 65536)]).recv({ type: 'SHUTDOWN', cumTsnAck: 999 });
  assert.is(p.assoc().state, 'SHUTDOWN-SENT');
});

test('SHUTDOWN-SENT: T2-shutdown retransmits the SHUTDOWN with backoff; T5 guard aborts', () => {
  const p = peer().established();
  p.step({ type: 'shutdown', id: p.id! }).recv({ type: 'SHUTDOWN' });
  p.at(1000).tick().recv({ type: 'SHUTDOWN' });
  p.at(3000).tick().recv({ type: 'SHUTDOWN' });
  assert.is(p.assoc().t5, 300_000);
  p.runUntil(300_000);
  const got = p.takeSent().map((s) => s.chunk.type);
  assert.is(got[got.length - 1], 'ABORT', 'the association failed with an ABORT');
  p.expectEvents({ type: 'path', state: 'inactive' }, { type: 'error', code: 'ETIMEDOUT' }, { type: 'closed' });
});

test('SHUTDOWN-SENT: DATA from the peer is acknowledged and answered with SHUTDOWN at once (§9.2)', () => {
  const p = peer().established();
  p.step({ type: 'shutdown', id: p.id! }).recv({ type: 'SHUTDOWN', cumTsnAck: T - 1 });
  p.send([p.data('late')]).recv({ type: 'SHUTDOWN', cumTsnAck: T });
  p.send([p.data('gap', { tsn: T + 2, ssn: 2 })]).recv({ type: 'SACK', gapAckBlocks: [{ start: 2, end: 2 }] }, { type: 'SHUTDOWN', cumTsnAck: T });
});

test('SHUTDOWN-SENT: a SHUTDOWN from the peer (both closing): SHUTDOWN ACK, SHUTDOWN-ACK-SENT (§9.2)', () => {
  const p = peer().established();
  p.step({ type: 'shutdown', id: p.id! }).recv({ type: 'SHUTDOWN' });
  p.send([shutdownChunk((p.tsn - 1) >>> 0)]).recv({ type: 'SHUTDOWN-ACK' });
  assert.is(p.assoc().state, 'SHUTDOWN-ACK-SENT');
  p.send([shutdownCompleteChunk()]).recv();
  assert.is(p.assoc().state, 'CLOSED');
});

test('ESTABLISHED → SHUTDOWN-RECEIVED: outstanding data is finished first, then SHUTDOWN ACK; eof', () => {
  const p = peer().connected();
  send(p, 'a').recv({ type: 'DATA' });
  p.send([shutdownChunk((p.tsn - 1) >>> 0)]).recv();
  assert.is(p.assoc().state, 'SHUTDOWN-RECEIVED');
  p.expectEvents({ type: 'eof' });
  send(p, 'b');
  assert.equal(p.result, { ok: false, code: 'EPIPE' });
  // T3 still retransmits what is outstanding.
  p.at(1000).tick().recv({ type: 'DATA', tsn: p.tsn });
  // The SHUTDOWN's own cumulative ack can finish it.
  p.send([shutdownChunk(p.tsn)]).recv({ type: 'SHUTDOWN-ACK' });
  assert.is(p.assoc().state, 'SHUTDOWN-ACK-SENT');
  p.at(2000).tick().recv();
  p.at(3000).tick().recv({ type: 'SHUTDOWN-ACK' }); // T2
  p.send([shutdownCompleteChunk(true)], { vtag: PEER_TAG }).recv();
  p.expectEvents({ type: 'closed' });
});

test('SHUTDOWN-RECEIVED: DATA from the peer after its SHUTDOWN is not accepted', () => {
  const p = peer().established();
  p.send([shutdownChunk((p.tsn - 1) >>> 0)]).recv({ type: 'SHUTDOWN-ACK' });
  p.send([p.data('nope', { immediate: true })]).recv();
  assert.is(p.assoc().cumTsn, T - 1);
});

test('SHUTDOWN-ACK-SENT: a retransmitted SHUTDOWN gets the SHUTDOWN ACK again', () => {
  const p = peer().established();
  p.send([shutdownChunk((p.tsn - 1) >>> 0)]).recv({ type: 'SHUTDOWN-ACK' });
  p.send([shutdownChunk((p.tsn - 1) >>> 0)]).recv({ type: 'SHUTDOWN-ACK' });
});

test('ABORT primitive: ABORT with User-Initiated Abort carrying the reason; the id is released (§9.1)', () => {
  const p = peer().established();
  const id = p.id!;
  p.step({ type: 'abort', id, reason: new TextEncoder().encode('bye') });
  p.recv({ type: 'ABORT', flags: 0, causes: [{ type: 'user-initiated-abort', reason: new TextEncoder().encode('bye') }] });
  assert.is(p.st.assocs[id], undefined);
  p.step({ type: 'send', id, data: new Uint8Array(1) });
  assert.equal(p.result, { ok: false, code: 'EBADF' });
  assert.equal(p.st.byRemote, {});
});

test('close after a graceful end releases the association; a new one with the same peer can start', () => {
  const p = peer().established();
  const id = p.id!;
  p.step({ type: 'shutdown', id }).recv({ type: 'SHUTDOWN' });
  p.send([{ type: 'SHUTDOWN-ACK', flags: 0 }]).recv({ type: 'SHUTDOWN-COMPLETE' });
  p.step({ type: 'close', id });
  assert.equal(p.result, { ok: true });
  assert.equal(Object.keys(p.st.assocs), []);
  p.send([p.init({ tag: 0x777 })]).takeSent();
});

test.run();
