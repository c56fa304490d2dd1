// tun/impair.ts: the --impair spec parser and the impairing Link wrapper (real timers, a fake
// inner link that records what passes).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ImpairLink, ImpairSpecError, parseImpair } from '../../tun/impair.ts';
import type { Link } from '../../tun/driver.ts';

test('parseImpair: the issue\'s spec, defaults, percentages, reorder-ms and dir', () => {
  assert.equal(parseImpair('loss=0.02,reorder=0.02,dup=0.01,seed=1'), { loss: 0.02, reorder: 0.02, dup: 0.01, delay: 0, reorderMs: 2, seed: 1, dir: 'both' });
  assert.equal(parseImpair(' delay=5 , loss=2% , reorder-ms=3.5, dir=out'), { loss: 0.02, reorder: 0, dup: 0, delay: 5, reorderMs: 3.5, seed: 1, dir: 'out' });
});

test('parseImpair: bad specs name the bad part', () => {
  const cases: Array<[string, RegExp]> = [
    ['', /empty impairment spec/],
    ['loss', /"loss": expected key=value/],
    ['loss=2', /loss=2: a probability must be in 0\.\.1/],
    ['loss=-0.1', /loss=-0\.1: not a number/],
    ['loss=abc', /loss=abc: not a number/],
    ['dup=0.1,dup=0.2', /"dup" given twice/],
    ['jitter=3', /unknown impairment "jitter"/],
    ['seed=1.5', /seed=1\.5: an integer/],
    ['delay=99999', /delay=99999: milliseconds in 0\.\.60000/],
    ['reorderMs=0', /held back for some time/],
    ['dir=up', /dir=up: one of in, out, both/],
  ];
  for (const [spec, re] of cases) {
    try {
      parseImpair(spec);
      assert.unreachable(`accepted ${JSON.stringify(spec)}`);
    } catch (e) {
      assert.instance(e, ImpairSpecError, spec);
      assert.match((e as Error).message, re, spec);
    }
  }
});

/** A fake link: records what the wrapper sends, lets the test inject received batches. */
function fakeLink(): Link & { sent: Uint8Array[][]; inject(p: Uint8Array[]): void; closed: boolean } {
  let cb: ((p: Uint8Array[]) => void) | null = null;
  const l = {
    sent: [] as Uint8Array[][], closed: false,
    send(p: Uint8Array[]) { l.sent.push(p); },
    onReceive(c: (p: Uint8Array[]) => void) { cb = c; },
    close() { l.closed = true; },
    inject(p: Uint8Array[]) { cb?.(p); },
  };
  return l;
}

const numbered = (n: number, from = 0): Uint8Array[] => Array.from({ length: n }, (_, i) => new Uint8Array([((from + i) >> 8) & 0xff, (from + i) & 0xff]));
const idOf = (p: Uint8Array): number => (p[0]! << 8) | p[1]!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('ImpairLink: no impairment passes batches through untouched, in the same call', () => {
  const inner = fakeLink();
  const l = new ImpairLink(inner, 'loss=0');
  const got: Uint8Array[][] = [];
  l.onReceive((p) => got.push(p));
  const batch = numbered(5);
  l.send(batch);
  inner.inject(batch);
  assert.is(inner.sent[0], batch, 'the same array object');
  assert.is(got[0], batch);
  l.close();
  assert.ok(inner.closed);
});

test('ImpairLink: loss and duplication rates follow the spec; the same seed gives the same fates', async () => {
  const run = (seed: number): number[] => {
    const inner = fakeLink();
    const l = new ImpairLink(inner, `loss=0.1,dup=0.05,seed=${seed},dir=out`);
    for (let i = 0; i < 200; i++) l.send(numbered(100, i * 100));
    l.close();
    return inner.sent.flat().map(idOf);
  };
  const a = run(3), b = run(3), c = run(4);
  assert.equal(a, b, 'deterministic for a seed');
  assert.not.equal(a, c);
  const distinct = new Set(a).size;
  const lost = 20_000 - distinct, dups = a.length - distinct;
  assert.ok(lost > 1700 && lost < 2300, `lost ${lost} of 20000 at 10%`);
  assert.ok(dups > 700 && dups < 1100, `${dups} duplicates of ${distinct} at 5%`);
  // Without reordering or delay everything left in order (a duplicate right after its original).
  for (let i = 1; i < a.length; i++) assert.ok(a[i]! >= a[i - 1]!, `order at ${i}`);
});

test('ImpairLink: reordered packets are held back and overtaken; delay holds everything; held received packets are copies', async () => {
  const inner = fakeLink();
  const l = new ImpairLink(inner, 'reorder=0.2,reorderMs=5,seed=9,dir=out');
  for (let i = 0; i < 10; i++) { l.send(numbered(20, i * 20)); await sleep(1); }
  await sleep(30);
  const ids = inner.sent.flat().map(idOf);
  assert.equal([...ids].sort((x, y) => x - y), Array.from({ length: 200 }, (_, i) => i), 'nothing lost or duplicated');
  let inversions = 0;
  for (let i = 1; i < ids.length; i++) if (ids[i]! < ids[i - 1]!) inversions++;
  assert.ok(inversions > 5, `only ${inversions} reorderings`);
  assert.is(l.stats.out.reordered > 20 && l.stats.out.reordered < 60, true, `reordered ${l.stats.out.reordered}`);
  l.close();

  const inner2 = fakeLink();
  const d = new ImpairLink(inner2, 'delay=20,dir=in');
  const got: number[] = [];
  d.onReceive((p) => got.push(...p.map(idOf)));
  const buf = new Uint8Array([0, 7]);
  const t0 = performance.now();
  inner2.inject([buf]);
  buf[1] = 99; // the device reuses its buffer: the held packet must be a copy
  assert.equal(got, []);
  while (got.length === 0 && performance.now() - t0 < 1000) await sleep(2);
  const waited = performance.now() - t0;
  assert.equal(got, [7]);
  assert.ok(waited >= 19, `released after ${waited.toFixed(1)} ms`);
  d.close();
});

test.run();
