// The migration fuzzer in CI (issue #7: at least 500 seeds per protocol, TCP and SCTP).
// FERRY_FUZZ_RUNS overrides the count (`ferry fuzz --proto both --runs 5000` is the long local run).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fuzzTcp, type FuzzResult } from '../../migrate/fuzz.ts';
import { fuzzSctp } from '../../migrate/fuzz-sctp.ts';

const RUNS = Number(process.env.FERRY_FUZZ_RUNS ?? 500);

test(`fuzz: ${RUNS} TCP seeds migrate and complete exactly`, () => {
  const failed: FuzzResult[] = [];
  const kinds: Record<string, number> = {};
  for (let seed = 1; seed <= RUNS; seed++) {
    const r = fuzzTcp(seed);
    if (!r.ok) failed.push(r);
    for (const [k, v] of Object.entries(r.migrations)) kinds[k] = (kinds[k] ?? 0) + v;
  }
  assert.equal(failed.map((r) => `seed ${r.seed}: ${r.why}`), []);
  // The scenarios really exercise the interesting moments.
  if (RUNS >= 500) {
    for (const k of ['time', 'handshake', 'recovery', 'zero-window', 'reassembly', 'shutdown', 'time-wait', 'burst']) {
      assert.ok((kinds[k] ?? 0) > 0, `no migration was triggered by '${k}' (${JSON.stringify(kinds)})`);
    }
  }
});

test(`fuzz: ${RUNS} SCTP seeds migrate and complete exactly`, () => {
  const failed: FuzzResult[] = [];
  const kinds: Record<string, number> = {};
  for (let seed = 1; seed <= RUNS; seed++) {
    const r = fuzzSctp(seed);
    if (!r.ok) failed.push(r);
    for (const [k, v] of Object.entries(r.migrations)) kinds[k] = (kinds[k] ?? 0) + v;
  }
  assert.equal(failed.map((r) => `seed ${r.seed}: ${r.why}`), []);
  if (RUNS >= 500) {
    for (const k of ['time', 'handshake', 'recovery', 'zero-window', 'reassembly', 'shutdown', 'burst']) {
      assert.ok((kinds[k] ?? 0) > 0, `no SCTP migration was triggered by '${k}' (${JSON.stringify(kinds)})`);
    }
  }
});

test('fuzz: without migrations the same scenarios pass (the harness itself is sound)', () => {
  for (let seed = 1; seed <= 30; seed++) {
    for (const r of [fuzzTcp(seed, { noMigrate: true }), fuzzSctp(seed, { noMigrate: true })]) {
      assert.ok(r.ok, `seed ${seed}: ${r.why}`);
      assert.equal(r.migrations, {});
    }
  }
});

test('fuzz: a resume that sends TSval backwards is caught', () => {
  let caught = 0;
  for (let seed = 1; seed <= 40 && caught === 0; seed++) {
    const r = fuzzTcp(seed, { fault: 'tsval-backwards' });
    if (!r.ok && /TSval went backwards/.test(r.why)) caught++;
  }
  assert.ok(caught > 0, 'no run noticed TSval going backwards');
});

test('fuzz: a resume that loses unread bytes is caught', () => {
  let caught = 0;
  for (let seed = 1; seed <= 200 && caught === 0; seed++) {
    const r = fuzzTcp(seed, { fault: 'lose-unread' });
    if (!r.ok && /differs|EOF after|incomplete/.test(r.why)) caught++;
  }
  assert.ok(caught > 0, 'no run noticed lost bytes');
});

test.run();
