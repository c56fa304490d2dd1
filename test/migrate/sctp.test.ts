// SCTP associations through freeze, the snapshot codec and import (stack/freeze.ts,
// migrate/snapshot.ts kind 'sctp-assoc'): exact round trips, refusal of damaged snapshots,
// and an association that keeps delivering after it moved to another stack.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  createSctpStack, defaultSctpStackConfig, sctpStackStep, type AssocId, type SctpEvent, type SctpOut,
} from '../../stack/sctp/api.ts';
import type { SctpStackState } from '../../stack/sctp/state.ts';
import {
  exportAssoc, freezeAssoc, holdSctp, importAssoc, newSctpFrozenTable, takeHeldSctp, type AssocExport,
} from '../../stack/freeze.ts';
import { ASSOC_FIELDS, decodeSnapshot, encodeSnapshot, type Snapshot } from '../../migrate/snapshot.ts';
import { nextU32, prngInit } from '../../tun/prng.ts';

const A = '10.70.0.1', B = '10.70.0.2';
const secret = (n: number) => new Uint8Array(32).fill(n);

/** Two SCTP stacks wired back to back; `deliver` moves packets until quiet (or `drop` says no). */
function pair() {
  const a = createSctpStack(defaultSctpStackConfig([A]), secret(1), 0);
  const b = createSctpStack(defaultSctpStackConfig([B]), secret(2), 0);
  const q: SctpOut[] = [];
  let now = 0;
  const step = <E extends SctpEvent>(st: SctpStackState, ev: E) => {
    const r = sctpStackStep(st, ev, now);
    q.push(...r.out);
    return r;
  };
  const deliver = (stacks: Record<string, SctpStackState>, drop: (o: SctpOut) => boolean = () => false) => {
    for (let guard = 0; guard < 1000 && q.length > 0; guard++) {
      const o = q.shift()!;
      if (drop(o)) continue;
      const st = stacks[o.dst];
      if (st !== undefined) step(st, { type: 'packet', src: o.src, dst: o.dst, sctp: o.sctp, encap: o.encap });
    }
  };
  const l = step(b, { type: 'listen', port: 7, addresses: null, backlog: 4 }).result;
  assert.ok(l.ok);
  const c = step(a, { type: 'connect', local: null, localPort: null, remote: [B], port: 7 }).result;
  assert.ok(c.ok);
  deliver({ [A]: a, [B]: b });
  const acc = step(b, { type: 'accept', listener: (l as { listener: string }).listener }).result;
  assert.ok(acc.ok && acc.id !== null);
  return {
    a, b, q, step, deliver, aid: (c as { id: AssocId }).id, bid: (acc as { id: AssocId }).id,
    at: (t: number) => { now = t; },
  };
}

function snapOf(st: SctpStackState, id: AssocId, now: number): { s: Snapshot; bytes: Uint8Array } {
  const f = newSctpFrozenTable();
  assert.ok(freezeAssoc(st, f, id, now).ok);
  const e = exportAssoc(f, id);
  assert.ok(e.ok);
  const s: Snapshot = { kind: 'sctp-assoc', takenAt: now, assoc: (e as { value: AssocExport }).value, app: new Uint8Array([4, 2]) };
  return { s, bytes: encodeSnapshot(s) };
}

test('sctp snapshot: an established association with data in flight round-trips exactly', () => {
  const p = pair();
  p.at(10);
  for (let i = 0; i < 5; i++) p.step(p.a, { type: 'send', id: p.aid, data: new Uint8Array(3000).fill(i), stream: i % 2, ppid: 7 });
  // Half the packets are lost: the sender keeps chunks in flight.
  let k = 0;
  p.deliver({ [A]: p.a, [B]: p.b }, () => (k++ % 2) === 0);
  const { s, bytes } = snapOf(p.a, p.aid, 20);
  const d = decodeSnapshot(bytes);
  assert.ok(d.ok, d.ok ? '' : d.error);
  assert.equal(d.value, s);
  const idle = snapOf(p.b, p.bid, 20).bytes.length;
  console.log(`      sctp snapshot sizes: with data ${bytes.length} B, receiver side ${idle} B`);
});

test('sctp snapshot: the codec knows every association field', () => {
  const p = pair();
  assert.equal(Object.keys(p.a.assocs[p.aid]!).sort(), [...ASSOC_FIELDS].sort());
});

test('sctp snapshot: every truncation and every single-bit flip is refused', () => {
  const p = pair();
  const { bytes } = snapOf(p.a, p.aid, 5);
  for (let n = 0; n < bytes.length; n++) assert.not.ok(decodeSnapshot(bytes.subarray(0, n)).ok, `truncated to ${n}`);
  for (let i = 0; i < bytes.length * 8; i += 3) {
    const c = bytes.slice();
    c[i >>> 3] = c[i >>> 3]! ^ (1 << (i & 7));
    assert.not.ok(decodeSnapshot(c).ok, `bit ${i}`);
  }
  const rng = prngInit(5);
  for (let k = 0; k < 300; k++) {
    const c = bytes.slice();
    const j = nextU32(rng) % c.length;
    c[j] = c[j]! ^ (1 + (nextU32(rng) % 255));
    assert.not.ok(decodeSnapshot(c).ok);
  }
});

test('sctp snapshot: inconsistent associations are refused by the encoder (and so the decoder)', () => {
  const p = pair();
  p.step(p.a, { type: 'send', id: p.aid, data: new Uint8Array(100), stream: 0, ppid: 1 });
  const base = snapOf(p.a, p.aid, 5).s as Extract<Snapshot, { kind: 'sctp-assoc' }>;
  const cases: [string, (s: typeof base) => void, RegExp][] = [
    ['sndBufUsed', (s) => { s.assoc.assoc.sndBufUsed += 1; }, /sndBufUsed/],
    ['no path', (s) => { s.assoc.assoc.paths = []; }, /path/],
    ['bad state', (s) => { (s.assoc.assoc as { state: string }).state = 'LISTEN'; }, /state/],
    ['primary out of range', (s) => { s.assoc.assoc.primary = 5; }, /primary/],
  ];
  for (const [name, f, re] of cases) {
    const s = structuredClone(base);
    f(s);
    let msg = '';
    try { encodeSnapshot(s); } catch (e) { msg = (e as Error).message; }
    assert.ok(re.test(msg), `${name}: '${msg}'`);
  }
});

test('sctp migrate: the association moves to another stack (other clock) and keeps delivering; held packets replay', () => {
  const p = pair();
  p.at(100);
  p.step(p.a, { type: 'send', id: p.aid, data: new Uint8Array(500).fill(1), stream: 0, ppid: 1 });
  p.deliver({ [A]: p.a, [B]: p.b });
  // Freeze B's side; A sends meanwhile: held, not answered (no ABORT).
  const f = newSctpFrozenTable();
  assert.ok(freezeAssoc(p.b, f, p.bid, 100).ok);
  p.step(p.a, { type: 'send', id: p.aid, data: new Uint8Array(700).fill(2), stream: 0, ppid: 2 });
  let answered = 0;
  for (const o of p.q.splice(0)) {
    if (holdSctp(f, { src: o.src, dst: o.dst, sctp: o.sctp, encap: o.encap })) continue;
    answered++;
  }
  assert.is(answered, 0, 'every packet for the frozen association was held');
  const e = exportAssoc(f, p.bid);
  assert.ok(e.ok);
  const bytes = encodeSnapshot({ kind: 'sctp-assoc', takenAt: 100, assoc: (e as { value: AssocExport }).value, app: null });
  const d = decodeSnapshot(bytes);
  assert.ok(d.ok && d.value.kind === 'sctp-assoc');
  const b2 = createSctpStack(defaultSctpStackConfig([B]), secret(3), 5_000_000);
  p.at(5_000_000);
  const r = importAssoc(b2, null, (d.value as { assoc: AssocExport }).assoc, 5_000_000);
  assert.ok(r.ok, r.ok ? '' : r.error);
  for (const h of (r as { value: { replay: { src: string; dst: string; sctp: Uint8Array; encap: null }[] } }).value.replay) {
    p.step(b2, { type: 'packet', ...h });
  }
  p.deliver({ [A]: p.a, [B]: b2 });
  const got: number[] = [];
  for (;;) {
    const m = p.step(b2, { type: 'recv', id: p.bid }).result;
    if (!m.ok || m.message === null) break;
    got.push(m.message.ppid);
  }
  assert.equal(got, [1, 2], 'both messages, the second from the held packets');
  assert.is(takeHeldSctp(f, p.bid).length, 0);
  // And it shuts down cleanly from the new stack.
  p.step(b2, { type: 'shutdown', id: p.bid });
  p.deliver({ [A]: p.a, [B]: b2 });
  assert.is(b2.assocs[p.bid]!.state, 'CLOSED');
});

test.run();
