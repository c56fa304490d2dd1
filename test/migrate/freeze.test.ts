// stack/freeze.ts: a frozen connection is silent and holds what arrives; an export installs
// into another stack on another clock and continues exactly (timers keep their remaining
// time, TSval never goes backwards, held packets replay); listeners move with their queues.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createStack, stackNextDeadline, stackStep } from '../../stack/stack.ts';
import {
  exportConn, exportListener, freezeConn, freezeListener, importConn, importListener, releaseConn, takeHeld, thawConn,
  type ConnExport, type ListenerExport,
} from '../../stack/freeze.ts';
import { tcpOptionsInfo } from '../../stack/wire/tcp.ts';
import { decodeSnapshot, encodeSnapshot } from '../../migrate/snapshot.ts';
import {
  ACK, FIN, PSH, SECRET, SYN, established, peer, synOpts, synSent, testConfig, timeWait, type Peer, type PeerOptions,
} from '../tcp/peer.ts';

const TS: PeerOptions = { tcp: { delayedAck: false, wscale: false } }; // timestamps on

/** Freeze the peer's connection, export it through the codec, and move the peer onto a new stack whose clock reads `newNow`. */
function migrate(p: Peer, newNow: number, o: PeerOptions = TS): ConnExport {
  const id = p.id!;
  assert.ok(freezeConn(p.st, id, p.now).ok);
  const e = exportConn(p.st, id);
  assert.ok(e.ok);
  const bytes = encodeSnapshot({ kind: 'tcp-conn', takenAt: p.now, conn: (e as { value: ConnExport }).value, app: null });
  const d = decodeSnapshot(bytes);
  assert.ok(d.ok && d.value.kind === 'tcp-conn');
  const exp = (d as { value: { conn: ConnExport } }).value.conn;
  const target = createStack(testConfig(o), SECRET.map((x) => x ^ 0xff), newNow);
  const r = importConn(target, exp, newNow);
  assert.ok(r.ok, r.ok ? '' : r.error);
  p.st = target;
  p.now = newNow;
  for (const pkt of (r as { value: { replay: Uint8Array[] } }).value.replay) p.step({ type: 'packet', data: pkt });
  return exp;
}

test('freeze: a frozen connection sends nothing, answers nothing, holds what arrives, refuses calls', () => {
  const p = established(TS).write('hello');
  p.drain();
  assert.ok(freezeConn(p.st, p.id!, p.now).ok);
  assert.is(stackNextDeadline(p.st), null, 'no timer of a frozen connection');
  // Data, a duplicate, a RST-worthy segment: all held, nothing sent.
  p.send({ flags: ACK | PSH, seq: 1, ack: 6, data: 'abc' });
  p.send({ flags: ACK, seq: 1, ack: 6 });
  p.send({ flags: SYN, seq: 5 });
  p.recv();
  assert.is(p.st.counters['frozen-held'], 3);
  assert.is(p.st.counters['tcp-no-socket'], undefined, 'not treated as a closed port');
  const r = stackStep(p.st, { type: 'send', id: p.id!, data: new Uint8Array(3) }, p.now);
  assert.equal(r.result, { ok: false, code: 'EBADF' });
  p.at(5000).tick().recv();
  // The hold is bounded.
  p.st.frozen.maxHeldPackets = 4;
  for (let i = 0; i < 3; i++) p.send({ flags: ACK, seq: 1, ack: 6 });
  assert.is(p.st.counters['frozen-hold-full'], 2);
  assert.is(takeHeld(p.st, p.id!).length, 4);
  assert.is(takeHeld(p.st, p.id!).length, 0);
});

test('freeze: thaw in place continues as if no time had passed', () => {
  const p = established(TS).write('abc');
  p.drain();
  const rtx = p.tcb().timers.rtx!;
  assert.ok(freezeConn(p.st, p.id!, 50).ok);
  p.send({ flags: ACK, seq: 1, ack: 4 }); // held
  const r = thawConn(p.st, p.id!, 10_050);
  assert.ok(r.ok);
  assert.is(p.tcb().timers.rtx, rtx + 10_000, 'the RTO keeps its remaining time');
  p.at(10_050);
  for (const pkt of (r as { value: { replay: Uint8Array[] } }).value.replay) p.step({ type: 'packet', data: pkt });
  assert.is(p.tcb().sndUna, (p.tcb().iss + 4) >>> 0, 'the held ACK was replayed');
  assert.is(p.tcb().timers.rtx, null);
});

test('migrate: mid-transfer onto another clock: the RTO keeps its remaining time and TSval continues', () => {
  const p = established(TS).at(100).write('abcdef');
  const ts0 = tcpOptionsInfo(p.pending[0]!.options).ts!.tsval;
  p.drain();
  const remaining = p.tcb().timers.rtx! - p.now;
  p.at(150);
  migrate(p, 7_777_777.25);
  assert.is(p.tcb().timers.rtx! - p.now, remaining - 50, 'RTO deadline relative to now is preserved');
  // Nothing is due until then; then the retransmission carries a TSval >= the last one sent.
  p.at(7_777_777.25 + remaining - 51).tick().recv();
  p.at(7_777_777.25 + remaining - 50).tick().recv({ flags: ACK | PSH, seq: 1, ack: 1, data: 'abcdef' });
  // The connection lived 50 ms before the freeze and (remaining - 50) after the resume: TSval
  // advanced by exactly that (one more at most, from the new clock's fractional millisecond).
  const t = p.tcb();
  const lived = ((((p.now + t.tsOffset) >>> 0) - ts0) | 0);
  assert.ok(lived === remaining || lived === remaining + 1, `TSval advanced by ${lived}, expected ${remaining}`);
});

test('migrate: packets held while frozen are replayed on the new stack', () => {
  const p = established(TS).write('xyz');
  p.drain();
  assert.ok(freezeConn(p.st, p.id!, p.now).ok);
  p.send({ flags: ACK | PSH, seq: 1, ack: 4, data: 'reply' });
  p.recv();
  const e = exportConn(p.st, p.id!);
  assert.ok(e.ok);
  const exp = (e as { value: ConnExport }).value;
  assert.is(exp.held.length, 1, 'the held packet travels with the export');
  assert.is(takeHeld(p.st, p.id!).length, 0, 'and is no longer held at the source');
  const target = createStack(testConfig(TS), SECRET, 1_000_000);
  const r = importConn(target, exp, 1_000_000);
  assert.ok(r.ok);
  p.st = target;
  p.now = 1_000_000;
  for (const pkt of (r as { value: { replay: Uint8Array[] } }).value.replay) p.step({ type: 'packet', data: pkt });
  p.recv({ flags: ACK, seq: 4, ack: 6 });
  p.read().check((q) => assert.equal(new TextDecoder().decode((q.result as { data: Uint8Array }).data), 'reply'));
  assert.ok(releaseConn(p.st, p.id!).length === 0);
});

test('migrate: SYN-SENT moves and completes the handshake on the new stack', () => {
  const p = synSent(TS);
  migrate(p, 42_000);
  p.send({ flags: SYN | ACK, seq: 0, ack: 1, opts: synOpts({ tcp: { wscale: false } }) });
  p.recv({ flags: ACK, seq: 1, ack: 1 });
  p.expectState('ESTABLISHED');
});

test('migrate: TIME-WAIT keeps its remaining 2*MSL', () => {
  const p = timeWait(TS);
  const left = p.tcb().timers.close! - p.now;
  migrate(p, 5_000_000);
  assert.is(p.tcb().timers.close! - p.now, left);
  p.at(5_000_000 + left).tick();
  assert.is(p.state(), 'CLOSED', '2*MSL over on the new clock');
});

test('migrate: a listener moves with its SYN queue and accept queue; a SYN held meanwhile is answered by the new stack', () => {
  const o: PeerOptions = { tcp: { delayedAck: false } };
  const p = peer(o).listen();
  p.send({ flags: SYN, seq: 0, opts: synOpts(o), sport: 40001 });
  p.drain();
  const lid = p.listener!;
  assert.ok(freezeListener(p.st, lid, p.now).ok);
  p.send({ flags: SYN, seq: 0, opts: synOpts(o), sport: 40002 }); // held, not reset
  p.recv();
  const e = exportListener(p.st, lid);
  assert.ok(e.ok);
  const s = { kind: 'tcp-listener' as const, takenAt: p.now, listener: (e as { value: ListenerExport }).value, app: null };
  const d = decodeSnapshot(encodeSnapshot(s));
  assert.ok(d.ok && d.value.kind === 'tcp-listener');
  const target = createStack(testConfig(o), SECRET, 300);
  const r = importListener(target, (d.value as { listener: ListenerExport }).listener, 300);
  assert.ok(r.ok, r.ok ? '' : r.error);
  p.st = target;
  p.now = 300;
  assert.equal(target.listeners[lid]!.synQ.length, 1, 'the half-open connection came along');
  for (const pkt of (r as { value: { replay: Uint8Array[] } }).value.replay) p.step({ type: 'packet', data: pkt });
  const out = p.pending;
  assert.is(out.length, 1);
  assert.is(out[0]!.flags, SYN | ACK, 'the held SYN gets its SYN|ACK from the new stack');
  assert.is(out[0]!.dstPort, 40002);
});

test('import: refuses a foreign address, a taken 4-tuple, and a pending connection without its listener', () => {
  const p = established(TS);
  assert.ok(freezeConn(p.st, p.id!, p.now).ok);
  const exp = (exportConn(p.st, p.id!) as { value: ConnExport }).value;
  const other = createStack({ ...testConfig(TS), addresses: ['10.9.9.9'] }, SECRET, 0);
  assert.equal(importConn(other, exp, 0), { ok: false, error: 'address-not-local' });
  const same = createStack(testConfig(TS), SECRET, 0);
  assert.ok(importConn(same, exp, 0).ok);
  assert.equal(importConn(same, exp, 0), { ok: false, error: 'id-in-use' });
  const pending: ConnExport = { tcb: { ...exp.tcb, app: 'pending', listener: '*|80' }, held: [] };
  const empty = createStack(testConfig(TS), SECRET, 0);
  assert.equal(importConn(empty, pending, 0), { ok: false, error: 'no-listener' });
});

test('freeze: ids are validated (unknown, double freeze, thaw of a live connection)', () => {
  const p = established(TS);
  assert.equal(freezeConn(p.st, 'nope', 0), { ok: false, error: 'no-such-connection' });
  assert.equal(thawConn(p.st, p.id!, 0), { ok: false, error: 'not-frozen' });
  assert.ok(freezeConn(p.st, p.id!, 0).ok);
  assert.equal(freezeConn(p.st, p.id!, 0), { ok: false, error: 'already-frozen' });
  assert.equal(exportConn(p.st, 'nope'), { ok: false, error: 'no-such-connection' });
});

test('migrate: a FIN held while frozen is processed after resume (CLOSE-WAIT)', () => {
  const p = established(TS);
  assert.ok(freezeConn(p.st, p.id!, p.now).ok);
  p.send({ flags: FIN | ACK, seq: 1, ack: 1 });
  p.recv();
  const exp = (exportConn(p.st, p.id!) as { value: ConnExport }).value;
  const target = createStack(testConfig(TS), SECRET, 10);
  const r = importConn(target, exp, 10);
  assert.ok(r.ok);
  p.st = target;
  p.now = 10;
  for (const pkt of (r as { value: { replay: Uint8Array[] } }).value.replay) p.step({ type: 'packet', data: pkt });
  p.recv({ flags: ACK, seq: 1, ack: 2 });
  p.expectState('CLOSE-WAIT');
});

test.run();
