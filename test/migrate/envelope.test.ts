// The authenticated envelope (migrate/envelope.ts): HMAC under the cluster key, replay
// refusal, freshness, every truncation and bit flip refused; and snapshot batches.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ReplayGuard, openSnapshot, packBatch, sealSnapshot, unpackBatch, ENVELOPE_OVERHEAD } from '../../migrate/envelope.ts';

const KEY = new Uint8Array(32).fill(0x11);
const OTHER = new Uint8Array(32).fill(0x12);
const SNAP = new Uint8Array(120).map((_, i) => i);
const NOW = 1_700_000_000_000;

test('envelope: seal then open returns the snapshot, id and time', () => {
  const id = new Uint8Array(16).fill(7);
  const env = sealSnapshot(SNAP, KEY, { id, createdAt: NOW });
  assert.is(env.length, SNAP.length + ENVELOPE_OVERHEAD);
  const o = openSnapshot(env, KEY, new ReplayGuard(), NOW + 10);
  assert.ok(o.ok);
  assert.equal(o.ok && o.value.snapshot, SNAP);
  assert.equal(o.ok && o.value.id, id);
  assert.is(o.ok && o.value.createdAt, NOW);
});

test('envelope: a wrong cluster key is refused', () => {
  const env = sealSnapshot(SNAP, KEY, { createdAt: NOW });
  assert.equal(openSnapshot(env, OTHER, new ReplayGuard(), NOW), { ok: false, error: 'bad-mac' });
});

test('envelope: accepted once, refused as a replay after', () => {
  const g = new ReplayGuard();
  const env = sealSnapshot(SNAP, KEY, { createdAt: NOW });
  assert.ok(openSnapshot(env, KEY, g, NOW).ok);
  assert.equal(openSnapshot(env, KEY, g, NOW + 1), { ok: false, error: 'replayed' });
  // A different envelope of the same snapshot (new id) is a new migration.
  assert.ok(openSnapshot(sealSnapshot(SNAP, KEY, { createdAt: NOW }), KEY, g, NOW + 2).ok);
});

test('envelope: too old or from the future is refused; ids are forgotten only once they would be too old', () => {
  const g = new ReplayGuard(60_000, 5_000);
  assert.equal(openSnapshot(sealSnapshot(SNAP, KEY, { createdAt: NOW - 60_001 }), KEY, g, NOW), { ok: false, error: 'expired' });
  assert.equal(openSnapshot(sealSnapshot(SNAP, KEY, { createdAt: NOW + 5_001 }), KEY, g, NOW), { ok: false, error: 'from-the-future' });
  const env = sealSnapshot(SNAP, KEY, { createdAt: NOW });
  assert.ok(openSnapshot(env, KEY, g, NOW).ok);
  assert.is(g.size, 1);
  // Later: the id is pruned, and the envelope is refused as expired instead.
  assert.equal(openSnapshot(env, KEY, g, NOW + 70_000), { ok: false, error: 'expired' });
  assert.is(g.size, 0);
});

test('envelope: every truncation and every single-bit flip is refused', () => {
  const env = sealSnapshot(SNAP, KEY, { createdAt: NOW });
  for (let n = 0; n < env.length; n++) assert.not.ok(openSnapshot(env.subarray(0, n), KEY, new ReplayGuard(), NOW).ok, `length ${n}`);
  for (let i = 0; i < env.length * 8; i++) {
    const c = env.slice();
    c[i >>> 3] = c[i >>> 3]! ^ (1 << (i & 7));
    assert.not.ok(openSnapshot(c, KEY, new ReplayGuard(), NOW).ok, `bit ${i}`);
  }
});

test('batch: pack/unpack round-trips; malformed batches are refused', () => {
  const list = [new Uint8Array([1, 2, 3]), new Uint8Array(0), SNAP];
  const b = packBatch(list);
  assert.equal(unpackBatch(b)?.map((x) => x.slice()), list);
  for (let n = 0; n < b.length; n++) assert.is(unpackBatch(b.subarray(0, n)), null, `truncated ${n}`);
  const c = b.slice(); c[7] = 200;
  assert.is(unpackBatch(c), null);
  assert.is(unpackBatch(new Uint8Array([...b, 0])), null, 'trailing byte');
});

test.run();
