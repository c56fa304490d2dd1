// Issue #6: SCTP over the simulated network. 20 MB in messages of random sizes over 10
// streams, ordered and unordered, exact (ordered messages in order per stream, every message
// exactly once) under 5% loss, 5% reordering and 5% duplication, over many seeds (FERRY_SEEDS,
// default 32: about 0.65 s each on an idle 2-core machine, 25 s for the file; 1.1-1.7 s each when
// the machine is busy); multihoming failover when the primary path dies mid-transfer; PR-SCTP
// lifetimes and retransmission limits (FORWARD TSN, the receiver skips); flow control with a
// slow reader; IPv6; UDP encapsulation; state snapshots under traffic.
// FERRY_SCTP_BYTES overrides the 20 MB for quick local runs.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runSctpTransfer, type TransferOptions } from './sctp-harness.ts';

const SEEDS = Number(process.env.FERRY_SEEDS ?? 32);
const BYTES = Number(process.env.FERRY_SCTP_BYTES ?? 20_000_000);
const LINK = { delayMs: 5, jitterMs: 2, loss: 0.05, reorder: 0.05, reorderMs: 10, dup: 0.05 };
const base = (seed: number, extra: Partial<TransferOptions> = {}): TransferOptions =>
  ({ seed, bytes: BYTES, streams: 10, unordered: 0.3, link: LINK, ...extra });

let totalMs = 0;
for (let seed = 1; seed <= SEEDS; seed++) {
  test(`seed ${seed}: ${BYTES / 1e6} MB in random-size messages over 10 streams, 5% loss/reorder/dup, exact`, () => {
    const t0 = performance.now();
    const r = runSctpTransfer(base(seed));
    totalMs += performance.now() - t0;
    assert.ok(r.ok, r.why);
    assert.is(r.received, r.msgs);
    assert.ok(r.msgs > 1000, 'many messages');
    // The impairments happened and were repaired: otherwise the test proves little.
    assert.ok(r.statsA!.dataRetransmitted > 0 && r.statsA!.fastRetransmits > 0, 'retransmissions');
    assert.ok(r.statsB!.dupTsnsReceived > 0, 'duplicate TSNs seen');
    if (seed === SEEDS) console.log(`  sctp-transfer: ${SEEDS} seeds x ${BYTES / 1e6} MB in ${(totalMs / 1000).toFixed(1)} s (${(totalMs / SEEDS).toFixed(0)} ms per seed)`);
  });
}

test('both directions at once, 4 MB each way, 5% loss/reorder/dup', () => {
  const r = runSctpTransfer(base(101, { bytes: 4_000_000, bidir: true }));
  assert.ok(r.ok, r.why);
  assert.ok(r.statsB!.dataSent > 0 && r.statsA!.dataSent > 0);
});

test('clean link: no retransmissions', () => {
  const r = runSctpTransfer(base(102, { bytes: 2_000_000, link: { delayMs: 5 } }));
  assert.ok(r.ok, r.why);
  assert.is(r.statsA!.dataRetransmitted, 0);
  assert.is(r.statsA!.t3Expiries, 0);
});

test('IPv6, 2 MB under loss/reorder/dup', () => {
  const r = runSctpTransfer(base(103, { bytes: 2_000_000, v6: true }));
  assert.ok(r.ok, r.why);
});

test('UDP encapsulation (RFC 6951), 2 MB under loss/reorder/dup', () => {
  const r = runSctpTransfer(base(104, { bytes: 2_000_000, udpEncap: true }));
  assert.ok(r.ok, r.why);
});

test('a 10 Mbit/s bottleneck with a small queue: congestion losses are repaired', () => {
  const r = runSctpTransfer(base(105, { bytes: 3_000_000, link: { delayMs: 20, bitsPerSec: 10e6, queueBytes: 40_000 } }));
  assert.ok(r.ok, r.why);
  assert.ok(r.link.ab.queueDrops > 0, 'the queue overflowed');
});

test('flow control: a slow reader with a 32 KB buffer closes the window; zero-window probing resumes it', () => {
  const r = runSctpTransfer(base(106, { bytes: 1_000_000, link: { delayMs: 5 }, slowReader: { n: 3, ms: 40 }, assoc: { rcvBuf: 32_000 } }));
  assert.ok(r.ok, r.why);
  // The sender never had more than the window outstanding, so nothing was dropped for lack of buffer.
  assert.is(r.statsA!.t3Expiries, 0);
});

test('state snapshots through the codec every 100 ms under traffic (both directions) change nothing', () => {
  const r = runSctpTransfer(base(107, { bytes: 1_000_000, bidir: true, snapshotEveryMs: 100 }));
  assert.ok(r.ok, r.why);
});

for (const v6 of [false, true]) {
  test(`multihoming${v6 ? ' (IPv6)' : ''}: the primary path dies mid-transfer; failover to the alternate, exact`, () => {
    for (const seed of [201, 202]) {
      const r = runSctpTransfer(base(seed, {
        bytes: 3_000_000, multihome: true, v6, link: { delayMs: 10, loss: 0.01, reorder: 0.01, dup: 0.01 }, cutAtBytes: 1_000_000, cut: ['l1', 0],
      }));
      assert.ok(r.ok, r.why);
      const alt = v6 ? 'fd00:2::2' : '10.2.0.2', pri = v6 ? 'fd00:1::2' : '10.1.0.2';
      assert.ok(r.pathEventsA.some((e) => e.startsWith(`${alt}:confirmed`)), `alternate confirmed by HEARTBEAT: ${r.pathEventsA}`);
      assert.ok(r.pathEventsA.some((e) => e.startsWith(`${pri}:inactive`)), `primary marked inactive: ${r.pathEventsA}`);
      assert.ok(r.link.ab.downDrops > 0, 'packets were lost with the link');
    }
  });
}

test('PR-SCTP timed reliability: expired messages are abandoned, FORWARD TSN makes the receiver skip them', () => {
  const r = runSctpTransfer(base(301, { bytes: 2_000_000, unordered: 0.5, link: { delayMs: 10, loss: 0.05, bitsPerSec: 20e6 }, ttl: 300 }));
  assert.ok(r.ok, r.why);
  assert.ok(r.abandoned > 0, 'messages were abandoned');
  assert.ok(r.statsA!.fwdTsnSent > 0, 'FORWARD TSN sent');
  assert.ok(r.statsB!.fwdTsnReceived > 0, 'FORWARD TSN received');
  assert.ok(r.received + r.abandoned >= r.msgs, 'every message delivered or abandoned');
});

test('PR-SCTP limited retransmissions (0): lost unordered messages are abandoned, the rest arrives', () => {
  const r = runSctpTransfer(base(302, { bytes: 2_000_000, unordered: 0.5, maxRtx: 0 }));
  assert.ok(r.ok, r.why);
  assert.ok(r.abandoned > 0);
  assert.ok(r.statsA!.fwdTsnSent > 0);
});

test.run();
