// RFC 9260 §8.4 (out-of-the-blue packets), §8.5 / §8.5.1 (verification tags, with the
// exceptions for INIT, ABORT, SHUTDOWN COMPLETE, COOKIE ECHO and the T bit), §3.2 (unknown chunk
// types by their upper two bits), §6.8 (checksum).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { abortChunk, cookieEchoChunk, sackChunk, shutdownCompleteChunk, type SctpChunk } from '../../stack/wire/sctp.ts';
import { PEER_TAG, PEER_TSN, peer } from './peer.ts';

const T = PEER_TSN;
const unknown = (t: number): SctpChunk => ({ type: 'unknown', chunkType: t, flags: 0, value: new Uint8Array([9, 9, 9, 9]) });

test('ESTABLISHED: a packet with the wrong verification tag is discarded silently (§8.5)', () => {
  const p = peer().established();
  p.send([p.data('x', { immediate: true })], { vtag: (p.tag ^ 1) >>> 0 }).recv();
  assert.is(p.assoc().cumTsn, T - 1);
  assert.is(p.st.counters['sctp-bad-vtag'], 1);
});

test('ESTABLISHED: a packet with a bad checksum is discarded (§6.8)', () => {
  const p = peer().established();
  p.send([p.data('x', { immediate: true })], { corrupt: true }).recv();
  assert.is(p.assoc().cumTsn, T - 1);
});

test('ESTABLISHED: ABORT with our tag and T clear is accepted (§8.5.1 B)', () => {
  const p = peer().established();
  p.send([abortChunk()]).recv();
  p.expectEvents({ type: 'error', code: 'ECONNRESET' }, { type: 'closed' });
});

test('ESTABLISHED: ABORT with the T bit must carry the peer\'s tag (§8.5.1 B)', () => {
  const p = peer().established();
  p.send([abortChunk([], true)]).recv(); // our tag with T set: wrong
  assert.is(p.assoc().state, 'ESTABLISHED');
  p.send([abortChunk([], false)], { vtag: PEER_TAG }).recv(); // peer's tag without T: wrong
  assert.is(p.assoc().state, 'ESTABLISHED');
  p.send([abortChunk([], true)], { vtag: PEER_TAG }).recv();
  assert.is(p.assoc().state, 'CLOSED');
});

test('ESTABLISHED: SHUTDOWN COMPLETE outside SHUTDOWN-ACK-SENT is ignored (§8.5.1 C)', () => {
  const p = peer().established();
  p.send([shutdownCompleteChunk()]).recv();
  assert.is(p.assoc().state, 'ESTABLISHED');
});

test('OOTB: DATA for no association gets ABORT with the T bit and the packet\'s tag (§8.4 rule 8)', () => {
  const p = peer().listen();
  p.send([p.data('x')], { vtag: 0xdead }).recv({ type: 'ABORT', flags: 1, $vtag: 0xdead });
});

test('OOTB: ABORT, SHUTDOWN COMPLETE, COOKIE ACK and Stale Cookie ERROR get no answer (§8.4 rules 2, 6, 7)', () => {
  const p = peer().listen();
  p.send([abortChunk()], { vtag: 5 }).recv();
  p.send([shutdownCompleteChunk()], { vtag: 5 }).recv();
  p.send([{ type: 'COOKIE-ACK', flags: 0 }], { vtag: 5 }).recv();
  p.send([{ type: 'ERROR', flags: 0, causes: [{ type: 'stale-cookie', staleness: 1 }] }], { vtag: 5 }).recv();
  // A packet that contains an ABORT anywhere is never answered.
  p.send([sackChunk(1, 1), abortChunk()], { vtag: 5 }).recv();
});

test('OOTB: SHUTDOWN ACK gets SHUTDOWN COMPLETE with the T bit (§8.4 rule 5)', () => {
  const p = peer().listen();
  p.send([{ type: 'SHUTDOWN-ACK', flags: 0 }], { vtag: 0x42 }).recv({ type: 'SHUTDOWN-COMPLETE', flags: 1, $vtag: 0x42 });
});

test('OOTB: a COOKIE ECHO to a port without a listener gets ABORT with the T bit', () => {
  const p = peer().listen();
  p.send([cookieEchoChunk(new Uint8Array(64))], { vtag: 0x42, dstPort: 9 }).recv({ type: 'ABORT', flags: 1, $vtag: 0x42 });
});

test('unknown chunk 00xxxxxx: the rest of the packet is discarded, nothing reported (§3.2)', () => {
  const p = peer().established();
  p.send([unknown(0x3f), p.data('x', { immediate: true })]).recv();
  assert.is(p.assoc().cumTsn, T - 1);
});

test('unknown chunk 01xxxxxx: discarded with the rest of the packet, reported in an ERROR (§3.2)', () => {
  const p = peer().established();
  p.send([unknown(0x7e), p.data('x', { immediate: true })]);
  p.recv({ type: 'ERROR', causes: [{ type: 'unrecognized-chunk-type', chunk: new Uint8Array([0x7e, 0, 0, 8, 9, 9, 9, 9]) }] });
  assert.is(p.assoc().cumTsn, T - 1);
});

test('unknown chunk 10xxxxxx: skipped, the packet goes on (§3.2)', () => {
  const p = peer().established();
  p.send([unknown(0xbe), p.data('x', { immediate: true })]).recv({ type: 'SACK', cumTsnAck: T });
});

test('unknown chunk 11xxxxxx: skipped and reported, the packet goes on (§3.2)', () => {
  const p = peer().established();
  p.send([unknown(0xfe), p.data('x', { immediate: true })]);
  p.recv({ type: 'SACK', cumTsnAck: T }, { type: 'ERROR', causes: [{ type: 'unrecognized-chunk-type', chunk: new Uint8Array([0xfe, 0, 0, 8, 9, 9, 9, 9]) }] });
});

test('chunks we parse but do not implement follow their type bits: I-DATA (01) reported, PAD (10) skipped', () => {
  const p = peer().established();
  p.send([{ type: 'PAD', flags: 0, padding: new Uint8Array(8) }, p.data('x', { immediate: true })]).recv({ type: 'SACK', cumTsnAck: T });
  p.send([{ type: 'I-DATA', flags: 3, tsn: T + 1, streamId: 0, reserved: 0, mid: 0, ppidOrFsn: 0, userData: new Uint8Array(1) }, p.data('y', { tsn: T + 1, immediate: true })]);
  const got = p.takeSent();
  assert.is(got.length, 1);
  assert.is(got[0]!.chunk.type, 'ERROR');
  assert.is(p.assoc().cumTsn, T);
});

test('an ERROR reporting our FORWARD TSN as unrecognized turns PR-SCTP off (RFC 3758 §3.3)', () => {
  const p = peer().established();
  assert.is(p.assoc().peerPrSctp, true);
  p.send([{ type: 'ERROR', flags: 0, causes: [{ type: 'unrecognized-chunk-type', chunk: new Uint8Array([0xc0, 0, 0, 8, 0, 0, 0, 1]) }] }]);
  assert.is(p.assoc().peerPrSctp, false);
  p.expectEvents({ type: 'remote-error', causes: ['unrecognized-chunk-type'] });
});

test('a packet with verification tag 0 that is not an INIT is discarded (§8.5.1 A)', () => {
  const p = peer().listen();
  p.send([p.data('x')], { vtag: 0 }).recv();
  assert.is(p.st.counters['sctp-zero-vtag'], 1);
});

test.run();
