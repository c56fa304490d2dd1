// RFC 9260 §6.2 (receiving DATA, delayed SACK, duplicates, gaps), §6.5 (streams), §6.6 (ordered
// and unordered delivery), §6.9 (reassembly), the receive window, and RFC 3758 §3.6 (FORWARD TSN in).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { forwardTsnChunk } from '../../stack/wire/sctp.ts';
import { PEER_TSN, peer, type Peer } from './peer.ts';

const T = PEER_TSN;
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

/** recv() every readable message: [stream, ssn-ignored text] pairs. */
function readAll(p: Peer): string[] {
  const out: string[] = [];
  for (;;) {
    p.step({ type: 'recv', id: p.id! });
    const r = p.result as { ok: true; message: { data: Uint8Array; stream: number; unordered: boolean } | null };
    if (r.message === null) return out;
    out.push(`${r.message.stream}:${dec(r.message.data)}${r.message.unordered ? '/u' : ''}`);
  }
}

test('ESTABLISHED: one DATA packet: SACK after the 200 ms delay (§6.2)', () => {
  const p = peer().established();
  p.send([p.data('a')]).recv().at(199).tick().recv().at(200).tick()
    .recv({ type: 'SACK', cumTsnAck: T, aRwnd: 256 * 1024 - 1, gapAckBlocks: [], dupTsns: [] });
  p.expectEvents({ type: 'readable' });
  assert.equal(readAll(p), ['0:a']);
});

test('ESTABLISHED: every second DATA packet is acknowledged at once (§6.2)', () => {
  const p = peer().established();
  p.send([p.data('a')]).recv().send([p.data('b')]).recv({ type: 'SACK', cumTsnAck: T + 1 });
  assert.is(p.assoc().sackAt, null);
});

test('ESTABLISHED: several DATA chunks in one packet count as one packet', () => {
  const p = peer().established();
  p.send([p.data('a', { tsn: T }), p.data('b', { tsn: T + 1, ssn: 1 })]).recv();
  p.at(200).tick().recv({ type: 'SACK', cumTsnAck: T + 1 });
  assert.equal(readAll(p), ['0:a', '0:b']);
});

test('ESTABLISHED: a gap gets an immediate SACK with a Gap Ack Block; filling it too (§6.2, §6.7)', () => {
  const p = peer().established();
  p.send([p.data('c', { tsn: T + 2, ssn: 2 })]).recv({ type: 'SACK', cumTsnAck: T - 1, gapAckBlocks: [{ start: 3, end: 3 }] });
  p.send([p.data('a', { tsn: T, ssn: 0 })]).recv({ type: 'SACK', cumTsnAck: T, gapAckBlocks: [{ start: 2, end: 2 }] });
  assert.equal(readAll(p), ['0:a'], 'SSN 2 waits for SSN 1');
  p.send([p.data('b', { tsn: T + 1, ssn: 1 })]).recv({ type: 'SACK', cumTsnAck: T + 2, gapAckBlocks: [] });
  assert.equal(readAll(p), ['0:b', '0:c']);
});

test('ESTABLISHED: duplicates are reported at once in Duplicate TSNs (§6.2)', () => {
  const p = peer().established();
  p.send([p.data('a', { tsn: T })]).send([p.data('a', { tsn: T })]).recv({ type: 'SACK', cumTsnAck: T, dupTsns: [T] });
  p.send([p.data('a', { tsn: T })]).recv({ type: 'SACK', cumTsnAck: T, dupTsns: [T] });
  assert.equal(readAll(p), ['0:a']);
});

test('ESTABLISHED: the I bit asks for an immediate SACK (RFC 7053)', () => {
  const p = peer().established();
  p.send([p.data('a', { immediate: true })]).recv({ type: 'SACK', cumTsnAck: T });
});

test('ESTABLISHED: DATA with no user data: ABORT with No User Data (§6.2)', () => {
  const p = peer().established();
  p.send([p.data(new Uint8Array(0))]).recv({ type: 'ABORT', causes: [{ type: 'no-user-data', tsn: T }] });
  p.expectEvents({ type: 'error', code: 'ECONNABORTED' }, { type: 'closed' });
});

test('ESTABLISHED: DATA on a stream we do not have: acknowledged, ERROR Invalid Stream Identifier, dropped (§6.5)', () => {
  const p = peer().established({ init: { os: 4 } });
  assert.is(p.assoc().inStreams, 4);
  p.send([p.data('x', { stream: 7 }), p.data('y', { tsn: T + 1, stream: 1 })]);
  p.recv({ type: 'ERROR', causes: [{ type: 'invalid-stream-identifier', streamId: 7, reserved: 0 }] });
  p.at(200).tick().recv({ type: 'SACK', cumTsnAck: T + 1 });
  assert.equal(readAll(p), ['1:y']);
});

test('ESTABLISHED: fragments are reassembled in any arrival order (§6.9)', () => {
  const p = peer().established();
  p.send([p.data('cc', { tsn: T + 2, beginning: false, ending: true })]);
  p.send([p.data('aa', { tsn: T, beginning: true, ending: false })]);
  assert.equal(readAll(p), []);
  p.send([p.data('bb', { tsn: T + 1, beginning: false, ending: false })]);
  assert.equal(readAll(p), ['0:aabbcc']);
  assert.is(p.assoc().rcvBufUsed, 0);
  assert.is(p.assoc().reasm.length, 0);
});

test('ESTABLISHED: unordered messages are delivered at once, ordered ones wait for their SSN (§6.6)', () => {
  const p = peer().established();
  p.send([p.data('second', { tsn: T + 1, ssn: 1, stream: 2 }), p.data('u', { tsn: T + 2, unordered: true, stream: 2 })]);
  assert.equal(readAll(p), ['2:u/u']);
  p.send([p.data('first', { tsn: T, ssn: 0, stream: 2 })]);
  assert.equal(readAll(p), ['2:first', '2:second']);
});

test('ESTABLISHED: streams are independent: a gap in one does not hold another (§6.6)', () => {
  const p = peer().established();
  p.send([p.data('s1-1', { tsn: T + 1, stream: 1, ssn: 1 }), p.data('s2-0', { tsn: T + 2, stream: 2, ssn: 0 })]);
  assert.equal(readAll(p), ['2:s2-0']);
});

test('ESTABLISHED: a_rwnd follows what the application has not read; reading opens it with a window update', () => {
  const p = peer().established();
  const big = new Uint8Array(1000).fill(7);
  p.send([p.data(big, { tsn: T }), p.data(big, { tsn: T + 1, ssn: 1 })]);
  p.send([p.data(big, { tsn: T + 2, ssn: 2 })]).recv({ type: 'SACK', cumTsnAck: T + 2, aRwnd: 256 * 1024 - 3000 });
  assert.is(p.assoc().rcvBufUsed, 3000);
  p.at(200).tick().recv();
  readAll(p);
  p.recv(); // 3000 bytes read: below the update threshold (min(rcvBuf/2, max(2*MTU, rcvBuf/8)))
  assert.is(p.assoc().rcvBufUsed, 0);
});

test('ESTABLISHED: a full receive buffer drops DATA beyond the highest TSN and SACKs at once (§6.2)', () => {
  const p = peer({ assoc: { rcvBuf: 4000 } }).established();
  const k = new Uint8Array(1400).fill(1);
  p.send([p.data(k, { tsn: T }), p.data(k, { tsn: T + 1, ssn: 1 })]).at(200).tick().recv({ type: 'SACK', cumTsnAck: T + 1, aRwnd: 1200 });
  p.send([p.data(k, { tsn: T + 2, ssn: 2 })]).recv();
  assert.is(p.assoc().rcvBufUsed, 4200, 'over by at most one chunk');
  p.send([p.data(k, { tsn: T + 3, ssn: 3 })]).recv({ type: 'SACK', cumTsnAck: T + 2, aRwnd: 0 });
  // Reading makes room: a window update goes out.
  readAll(p);
  p.recv({ type: 'SACK', cumTsnAck: T + 2, aRwnd: 2600 }); // after the second read (a step of rcvBuf/2)
});

test('ESTABLISHED: a window update follows a read that opens the window by a large step', () => {
  const p = peer({ assoc: { rcvBuf: 20_000 } }).established();
  const k = new Uint8Array(1400).fill(1);
  for (let i = 0; i < 10; i += 2) p.send([p.data(k, { tsn: T + i, ssn: i }), p.data(k, { tsn: T + i + 1, ssn: i + 1 })]);
  p.takeSent();
  p.at(200).tick().takeSent();
  // 6000 advertised; two messages read: 8800, not yet a step of 3000 (2*MTU); a third: 10200.
  p.step({ type: 'recv', id: p.id! }).step({ type: 'recv', id: p.id! }).recv();
  p.step({ type: 'recv', id: p.id! }).recv({ type: 'SACK', aRwnd: 20_000 - 7 * 1400 });
});

test('ESTABLISHED: FORWARD TSN moves the cumulative TSN, drops covered fragments, skips SSNs (RFC 3758 §3.6)', () => {
  const p = peer().established();
  // TSN T is a fragment of an abandoned message; T+1 lost; T+2 is SSN 2 on stream 0 (SSN 1 abandoned too).
  p.send([p.data('frag', { tsn: T, beginning: true, ending: false })]);
  p.send([p.data('kept', { tsn: T + 3, ssn: 2 })]);
  p.takeSent();
  assert.is(p.assoc().reasm.length, 1);
  p.send([forwardTsnChunk(T + 2, [{ streamId: 0, ssn: 1 }])]).recv({ type: 'SACK', cumTsnAck: T + 3 });
  assert.equal(readAll(p), ['0:kept']);
  assert.is(p.assoc().reasm.length, 0);
  assert.is(p.assoc().rcvBufUsed, 0);
  // An old FORWARD TSN is answered with a SACK at once.
  p.send([forwardTsnChunk(T + 1)]).recv({ type: 'SACK', cumTsnAck: T + 3 });
});

test('ESTABLISHED: TSN wrap-around: gaps, duplicates and reassembly across 2^32', () => {
  const start = 0xfffffffe;
  const p = peer().established({ init: { tsn: start } });
  p.send([p.data('c', { tsn: 0, ssn: 2 })]).recv({ type: 'SACK', cumTsnAck: 0xfffffffd, gapAckBlocks: [{ start: 3, end: 3 }] });
  p.send([p.data('a', { tsn: 0xfffffffe, ssn: 0 }), p.data('b', { tsn: 0xffffffff, ssn: 1 })]).recv({ type: 'SACK', cumTsnAck: 0 });
  assert.equal(readAll(p), ['0:a', '0:b', '0:c']);
});

test('ESTABLISHED: a TSN far beyond any window we offered is dropped (bounds the receive state)', () => {
  const p = peer().established();
  p.send([p.data('far', { tsn: T + 300_000 })]).recv();
  assert.is(p.st.counters['sctp-tsn-beyond-window'], 1);
  assert.equal(p.assoc().rcvRanges, []);
});

test.run();
