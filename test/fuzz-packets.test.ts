// The packet fuzzer in CI (issue #10 item 1: at least 200,000 packets): malformed, mutated and
// forged packets into a host with live TCP and SCTP transfers. FERRY_FUZZ_PACKETS overrides
// the count, FERRY_FUZZ_PACKETS_SEED the seed (`ferry fuzz-packets --seed N --count K` is the local run).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BOUNDS, GENERATORS, fuzzPackets } from '../migrate/fuzz-packets.ts';

const COUNT = Number(process.env.FERRY_FUZZ_PACKETS ?? 200_000);
const SEED = Number(process.env.FERRY_FUZZ_PACKETS_SEED ?? 1);

test(`fuzz-packets: ${COUNT} packets, seed ${SEED}: no finding, transfers exact, every packet accounted, memory bounded`, () => {
  const r = fuzzPackets({ seed: SEED, count: COUNT });
  // Nothing threw, nothing unaccounted, no bound crossed, no transfer damaged.
  assert.equal(r.findings.map((f) => `${f.kind} ${f.gen ?? ''} #${f.packet ?? ''} ${f.what}: ${f.detail.split('\n')[0]} ${f.hex ?? ''}`), []);
  assert.ok(r.ok);
  // Accounting: every injected packet moved a drop or disposition counter.
  const injected = Object.values(r.injected).reduce((a, b) => a + b, 0);
  assert.is(injected, COUNT);
  assert.is(r.accounted, COUNT);
  // Every generator ran, and the packets reached deep into both stacks (not all dropped at the IP parser).
  for (const g of GENERATORS) assert.ok((r.injected[g] ?? 0) > COUNT / GENERATORS.length / 2, `generator ${g}: ${r.injected[g]}`);
  for (const k of ['tcp-bad-checksum', 'ip-bad-checksum', 'out-of-window', 'challenge-ack', 'seg-accepted', 'listen-syn', 'tcp-no-socket',
    'sctp-bad-vtag', 'sctp-to-assoc', 'sctp-init-ack-sent', 'sctp-bad-chunk-length', 'icmp-accepted', 'icmp-bad-seq', 'ip-frag-held', 'ip-frag-overlap']) {
    assert.ok((r.dispositions[k] ?? 0) > 0, `no injected packet ended as '${k}'`);
  }
  // Every live transfer completed byte-exact.
  assert.is(r.transfers.length, 5);
  for (const t of r.transfers) assert.ok(t.ok, `${t.name}: ${t.detail}`);
  // Memory: the bounds the run asserted, restated where a reader can see them.
  assert.ok(r.peak.assocs <= 2, `associations ${r.peak.assocs}`);
  assert.ok(r.peak.heapGrowthMB * 2 ** 20 <= BOUNDS.heapGrowth, `heap grew ${r.peak.heapGrowthMB} MB`);
  assert.ok(r.peak.fragBytes <= 4 * 1024 * 1024, `reassembly ${r.peak.fragBytes} B`);
  process.stdout.write(`\n  fuzz-packets: ${COUNT} packets in ${(r.wallMs / 1000).toFixed(1)} s (${Math.round(r.packetsPerSec)}/s), peak ${r.peak.tcbs} TCBs, heapUsed ${r.peak.heapUsedMB.toFixed(0)} MB\n`);
});

test('fuzz-packets: deterministic for a seed (same packets, same dispositions, same transfers)', () => {
  const a = fuzzPackets({ seed: 77, count: 4000 }), b = fuzzPackets({ seed: 77, count: 4000 });
  assert.equal(a.injected, b.injected);
  assert.equal(a.dispositions, b.dispositions);
  assert.equal(a.transfers, b.transfers);
  assert.is(a.virtualMs, b.virtualMs);
  const c = fuzzPackets({ seed: 78, count: 4000 });
  assert.not.equal(a.dispositions, c.dispositions);
});

test.run();
