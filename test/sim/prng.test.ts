import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { chance, fork, nextFloat, nextInt, nextU32, prngClone, prngInit, type PrngState } from '../../tun/prng.ts';

const take = (st: PrngState, n: number): number[] => Array.from({ length: n }, () => nextU32(st));

// Known answers computed with the reference C code (prng.di.unimi.it/xoshiro128starstar.c,
// splitmix32 = Weyl step 0x9e3779b9 + MurmurHash3 fmix32), compiled with gcc.
test('prng: xoshiro128** from state 1,2,3,4 matches the reference implementation', () => {
  assert.equal(take({ s: [1, 2, 3, 4] }, 6), [11520, 0, 5927040, 70819200, 2031721883, 1637235492]);
});

test('prng: known answers for seeds 0, 1, 42 and 2^32-1', () => {
  const kat: [number, number[], number[]][] = [
    [0, [0x92ca2f0e, 0x3cd6e3f3, 0x1b147dcc, 0x4c081dbf], [0xe308dc58, 0x4392d0e4, 0x03318f97, 0xac593a63, 0x08535f0a, 0x83532d1f]],
    [1, [0x96a0f96b, 0x12bc8390, 0x971e9964, 0x79adc7e7], [0x9190299e, 0xc1017b27, 0xe3af522f, 0x7d71fb05, 0x787816c2, 0xfbbe0c00]],
    [42, [0x3805ea2c, 0xeb5cd984, 0x1327aacb, 0xc5ba443d], [0xa91e1cac, 0x207b36e9, 0x1c987ffa, 0xd09fde9e, 0x14404494, 0x06bee32a]],
    [0xffffffff, [0x36deb503, 0xfc2fb9b6, 0x2994c1b5, 0x6a06e134], [0x31d28326, 0x728481f8, 0x8c70d5d1, 0x7066baf4, 0x3a707f2c, 0x3ed16aa6]],
  ];
  for (const [seed, state, out] of kat) {
    const st = prngInit(seed);
    assert.equal(st.s, state, `state for seed ${seed}`);
    assert.equal(take(st, 6), out, `outputs for seed ${seed}`);
  }
});

test('prng: seeds must be uint32', () => {
  for (const bad of [-1, 2 ** 32, 1.5, NaN, Infinity]) assert.throws(() => prngInit(bad), /uint32/);
});

test('prng: state round-trips through JSON and continues identically', () => {
  const a = prngInit(1234);
  take(a, 1000);
  const b = JSON.parse(JSON.stringify(a)) as PrngState;
  const c = structuredClone(a);
  const d = prngClone(a);
  const want = take(a, 100);
  assert.equal(take(b, 100), want);
  assert.equal(take(c, 100), want);
  assert.equal(take(d, 100), want);
});

test('prng: fork does not advance the parent and is a function of (state, label)', () => {
  const p = prngInit(9);
  const before = [...p.s];
  const f1 = fork(p, 'link:x:ab');
  assert.equal(p.s, before);
  assert.equal(take(fork(p, 'link:x:ab'), 50), take(f1, 50));
  assert.equal(take(fork(prngInit(9), 7), 5), take(fork(prngInit(9), '7'), 5));
});

test('prng: forks are independent of each other and of the parent', () => {
  const p = prngInit(5);
  const streams = [fork(p, 'a'), fork(p, 'b'), fork(p, 'ab'), fork(p, 'ba'), prngClone(p), fork(prngInit(6), 'a')];
  const outs = streams.map((s) => take(s, 4000));
  for (let i = 0; i < outs.length; i++) {
    for (let j = i + 1; j < outs.length; j++) {
      // Two independent uniform uint32 streams: equal at a position with chance 2^-32, and
      // their xor has half its bits set on average (sd of the mean ≈ 0.0040 over 4000×32 bits).
      let same = 0, ones = 0;
      for (let k = 0; k < 4000; k++) {
        const x = outs[i]![k]!, y = outs[j]![k]!;
        if (x === y) same++;
        let z = (x ^ y) >>> 0;
        while (z) { ones += z & 1; z >>>= 1; }
      }
      assert.is(same, 0, `streams ${i} and ${j} coincide`);
      const frac = ones / (4000 * 32);
      assert.ok(Math.abs(frac - 0.5) < 0.02, `streams ${i},${j}: xor bit density ${frac}`);
    }
  }
});

test('prng: nextFloat is in [0, 1) with mean 1/2', () => {
  const st = prngInit(77);
  let sum = 0, min = 1, max = 0;
  for (let i = 0; i < 100_000; i++) {
    const f = nextFloat(st);
    sum += f; if (f < min) min = f; if (f > max) max = f;
  }
  assert.ok(min >= 0 && max < 1, `range [${min}, ${max}]`);
  assert.ok(Math.abs(sum / 100_000 - 0.5) < 0.005, `mean ${sum / 100_000}`); // sd ≈ 0.0009
});

test('prng: nextInt stays in range and is uniform (chi-square)', () => {
  const st = prngInit(3);
  const k = 10, n = 100_000, counts = new Array<number>(k).fill(0);
  for (let i = 0; i < n; i++) {
    const v = nextInt(st, -3, 7);
    assert.ok(v >= -3 && v < 7 && Number.isInteger(v));
    counts[v + 3]!++;
  }
  const e = n / k;
  const chi2 = counts.reduce((a, c) => a + (c - e) ** 2 / e, 0);
  assert.ok(chi2 < 30, `chi2 ${chi2} (9 dof; p=0.0005 at 29.7)`);
  assert.is(nextInt(st, 5, 6), 5);
  const big = nextInt(st, 0, 2 ** 32);
  assert.ok(big >= 0 && big < 2 ** 32);
  assert.throws(() => nextInt(st, 3, 3), /bad range/);
  assert.throws(() => nextInt(st, 0, 2 ** 32 + 1), /bad range/);
  assert.throws(() => nextInt(st, 0.5, 3), /bad range/);
});

test('prng: chance(0) and chance(1) are certain and draw nothing', () => {
  const st = prngInit(11);
  const before = [...st.s];
  for (let i = 0; i < 100; i++) { assert.is(chance(st, 0), false); assert.is(chance(st, 1), true); }
  assert.equal(st.s, before);
  let hits = 0;
  for (let i = 0; i < 100_000; i++) if (chance(st, 0.25)) hits++;
  assert.ok(Math.abs(hits / 100_000 - 0.25) < 0.006, `rate ${hits / 100_000}`); // sd ≈ 0.0014
});

test('prng: the simulator sources never call Math.random', () => {
  for (const f of ['prng.ts', 'sim.ts', 'sim-route.ts', 'sim-nodes.ts']) {
    const src = readFileSync(new URL(`../../tun/${f}`, import.meta.url), 'utf8');
    assert.not.match(src, /Math\s*\.\s*random/, f);
  }
});

test.run();
