// Issue #3: a 20 MB transfer each way at once is byte-exact under 5% loss, 5% reordering and
// 1% duplication, for NewReno and CUBIC, over many seeds (FERRY_SEEDS, default 50 each).
// FERRY_SIM_BYTES overrides the size for quick local runs.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { CcAlgo } from '../../stack/api.ts';
import { runTransfer } from './tcp-harness.ts';

const SEEDS = Number(process.env.FERRY_SEEDS ?? 50);
const BYTES = Number(process.env.FERRY_SIM_BYTES ?? 20_000_000);
const LINK = { delayMs: 5, jitterMs: 2, loss: 0.05, reorder: 0.05, reorderMs: 10, dup: 0.01 };

for (const cc of ['newreno', 'cubic'] as CcAlgo[]) {
  for (let seed = 1; seed <= SEEDS; seed++) {
    test(`${cc} seed ${seed}: ${BYTES / 1e6} MB each way, 5% loss, 5% reorder, 1% dup, byte-exact`, () => {
      const r = runTransfer({ seed, cc, bytesAtoB: BYTES, bytesBtoA: BYTES, link: LINK });
      assert.ok(r.ok, r.why);
      assert.is(r.receivedAtA, BYTES);
      assert.is(r.receivedAtB, BYTES);
      // Loss happened and was repaired: the test would be vacuous on a clean link.
      assert.ok(r.retransmits > 0, 'expected retransmissions under 5% loss');
    });
  }
}

test('clean link: no retransmissions, 1 MB each way', () => {
  const r = runTransfer({ seed: 1, cc: 'cubic', bytesAtoB: 1_000_000, bytesBtoA: 1_000_000, link: { delayMs: 5 } });
  assert.ok(r.ok, r.why);
  assert.is(r.retransmits, 0);
});

test('one direction only, 1 MB, with a 10 Mbit/s bottleneck queue', () => {
  const r = runTransfer({ seed: 3, cc: 'newreno', bytesAtoB: 1_000_000, bytesBtoA: 0, link: { delayMs: 10, bitsPerSec: 10e6, queueBytes: 30000 } });
  assert.ok(r.ok, r.why);
  assert.is(r.receivedAtB, 1_000_000);
});

test('IPv6: 2 MB each way under loss, reordering and duplication', () => {
  const r = runTransfer({ seed: 7, cc: 'cubic', bytesAtoB: 2_000_000, bytesBtoA: 2_000_000, link: LINK, v6: true });
  assert.ok(r.ok, r.why);
  assert.ok(r.retransmits > 0);
});

test('tiny buffers (4 KiB), no window scaling, no SACK, no timestamps: 1 MB each way under loss', () => {
  const r = runTransfer({
    seed: 11, cc: 'newreno', bytesAtoB: 1_000_000, bytesBtoA: 1_000_000, link: LINK,
    tcp: { rcvBuf: 4096, sndBuf: 4096, wscale: false, sack: false, timestamps: false },
  });
  assert.ok(r.ok, r.why);
});

test('interface MTU 1280 on a 1280-byte link: every segment (with SACK blocks and timestamps) fits', () => {
  const r = runTransfer({ seed: 5, cc: 'cubic', bytesAtoB: 500_000, bytesBtoA: 500_000, link: { ...LINK, mtu: 1280 }, tcp: { mtu: 1280 } });
  assert.ok(r.ok, r.why);
  assert.is((r.link as { ab: { mtuDrops: number } }).ab.mtuDrops, 0);
});

test.run();
