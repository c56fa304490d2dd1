import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { hex } from '../helpers/hex.ts';
import { isFragment, parseIp } from '../../stack/wire/ip.ts';
import { buildIpv4, emitIpv4, ipv4BufferLen, parseIpv4 } from '../../stack/wire/ipv4.ts';
import { buildIpv6 } from '../../stack/wire/ipv6.ts';
import { fragExpire, fragInit, fragInput, fragKey, fragNextDeadline, fragmentOf } from '../../stack/wire/frag.ts';
import type { FragDrop, FragResult, FragTable, FragmentInfo } from '../../stack/wire/frag.ts';

const SRC6 = '2001:db8::1', DST6 = '2001:db8::2';
const ADDRS6 = hex`
  2001 0db8 0000 0000 0000 0000 0000 0001   # source 2001:db8::1
  2001 0db8 0000 0000 0000 0000 0000 0002   # destination 2001:db8::2`;
// A 48-byte UDP datagram (4000 -> 7000, bytes 0..39) in two fragments; tshark reassembles them
// and verifies the UDP checksum.
const UDP48 = hex`0fa0 1b58 0030 fb8f 0001 0203 0405 0607 0809 0a0b 0c0d 0e0f 1011 1213 1415 1617 1819 1a1b 1c1d 1e1f 2021 2223 2425 2627`;
const FRAG6_A = hex`
  6000 0000 0020 2c 40   # IPv6, payload 32, next header 44 (Fragment), hop limit 64
  ${ADDRS6}
  1100 0001 dead beef    # Fragment: next 17, offset 0, M 1, identification 0xdeadbeef
  ${UDP48.subarray(0, 24)}`;
const FRAG6_B = hex`
  6000 0000 0020 2c 40   # IPv6, payload 32, next header 44
  ${ADDRS6}
  1100 0018 dead beef    # Fragment: next 17, offset 3 (24 bytes), M 0
  ${UDP48.subarray(24)}`;
const WHOLE6 = buildIpv6(SRC6, DST6, 17, UDP48);

/** A 128-byte IPv4 datagram (UDP, DF clear) with recognisable payload bytes. */
const WHOLE4 = buildIpv4('10.0.0.1', '10.0.0.2', 17, Uint8Array.from({ length: 108 }, (_, i) => i), { ident: 0x4242, df: false, ttl: 9 });

/** Split an IPv4 datagram into fragments of the given payload sizes (multiples of 8 but the last). */
function fragment4(pkt: Uint8Array, sizes: readonly number[]): Uint8Array[] {
  const r = parseIpv4(pkt);
  if (!r.ok) throw new Error(r.error);
  const out: Uint8Array[] = [];
  let off = 0;
  for (let i = 0; i < sizes.length; i++) {
    const n = sizes[i]!;
    const f = { ...r.value, mf: i < sizes.length - 1, fragOffset: off / 8, payload: r.value.payload.subarray(off, off + n) };
    const b = new Uint8Array(ipv4BufferLen(f));
    emitIpv4(f, b);
    out.push(b);
    off += n;
  }
  if (off !== r.value.payload.length) throw new Error('sizes do not cover the payload');
  return out;
}

const info = (raw: Uint8Array): FragmentInfo => {
  const r = parseIp(raw);
  if (!r.ok) throw new Error(r.error);
  assert.ok(isFragment(r.value));
  const f = fragmentOf(r.value, raw);
  if (f === null) throw new Error('not a fragment');
  return f;
};

/** Feed raw packets at time `now`; returns each result. */
function feed(t: FragTable, raws: readonly Uint8Array[], now = 0): FragResult[] {
  return raws.map((raw) => fragInput(t, info(raw), now));
}

/** Byte accounting invariant: the table's totals equal the sum over its entries, within the limits. */
function checkInvariants(t: FragTable): void {
  let bytes = 0, count = 0;
  for (const k in t.entries) {
    const e = t.entries[k]!;
    count++;
    let b = e.header ? e.header.length : 0, got = 0;
    for (let i = 0; i < e.pieces.length; i++) {
      const p = e.pieces[i]!;
      b += p.data.length; got += p.data.length;
      if (i > 0) assert.ok(e.pieces[i - 1]!.start + e.pieces[i - 1]!.data.length <= p.start, 'pieces sorted, no overlap');
    }
    assert.is(e.bytes, b);
    assert.is(e.received, got);
    bytes += e.bytes;
  }
  assert.is(t.bytes, bytes);
  assert.is(t.count, count);
  assert.ok(t.bytes <= t.limits.maxBytes);
  assert.ok(t.count <= t.limits.maxDatagrams);
}

function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('frag v4: fragments in order reassemble to the original datagram byte for byte', () => {
  const t = fragInit();
  const frags = fragment4(WHOLE4, [48, 32, 28]);
  const rs = feed(t, frags);
  assert.equal(rs.slice(0, 2).map((r) => [r.complete, r.dropped]), [[null, null], [null, null]]);
  assert.equal(rs[2]!.complete, WHOLE4);
  assert.is(rs[2]!.table, t);
  assert.equal([t.count, t.bytes], [0, 0]);
  const back = parseIpv4(rs[2]!.complete!);
  assert.ok(back.ok && !back.value.mf && back.value.fragOffset === 0, 'checksum valid, MF and offset cleared');
});

test('frag v4: out of order, with duplicates, still reassembles', () => {
  const t = fragInit();
  const [a, b, c, d] = fragment4(WHOLE4, [24, 24, 40, 20]) as [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
  const rs = feed(t, [d, b, b, a, d, c]);
  assert.equal(rs.map((r) => r.dropped), [null, null, 'duplicate', null, 'duplicate', null]);
  assert.equal(rs.map((r) => r.complete !== null), [false, false, false, false, false, true]);
  assert.equal(rs[5]!.complete, WHOLE4);
  checkInvariants(t);
});

test('frag v4: an overlapping fragment discards the datagram until its deadline (RFC 5722 policy)', () => {
  const t = fragInit();
  const [a, b, c] = fragment4(WHOLE4, [48, 32, 28]) as [Uint8Array, Uint8Array, Uint8Array];
  // Same bytes, different boundaries: still an overlap.
  const [x] = fragment4(WHOLE4, [56, 52]) as [Uint8Array, Uint8Array];
  const rs = feed(t, [a, x, b, c]);
  assert.equal(rs.map((r) => r.dropped), [null, 'overlap', 'discarded', 'discarded']);
  assert.ok(rs.every((r) => r.complete === null));
  assert.equal([t.count, t.bytes], [1, 0], 'a tombstone holding no bytes');
  checkInvariants(t);
  // After the deadline the same datagram can be received afresh.
  const later = feed(t, [a, b, c], 30_000);
  assert.equal(later[2]!.complete, WHOLE4);
});

test('frag v4: a fragment overlapping from the left or the right is caught', () => {
  for (const order of [[0, 1], [1, 0]]) {
    const t = fragInit();
    const [a, b] = fragment4(WHOLE4, [64, 44]) as [Uint8Array, Uint8Array];
    const [c] = fragment4(WHOLE4, [32, 76]).slice(1) as [Uint8Array]; // offset 32..108 overlaps a
    const first = order[0] === 0 ? a : c;
    const second = order[0] === 0 ? c : a;
    const rs = feed(t, [first, second, b]);
    assert.equal(rs.map((r) => r.dropped), [null, 'overlap', 'discarded']);
  }
});

test('frag v4: fragments contradicting the total length discard the datagram', () => {
  const frags = fragment4(WHOLE4, [48, 32, 28]);
  // The same datagram cut short: its last fragment ends at 88 instead of 108.
  const short = buildIpv4('10.0.0.1', '10.0.0.2', 17, WHOLE4.subarray(20, 108), { ident: 0x4242, df: false, ttl: 9 });
  const shortLast = fragment4(short, [48, 40])[1]!;
  const t = fragInit();
  assert.equal(feed(t, [frags[2]!, shortLast]).map((r) => r.dropped), [null, 'inconsistent'], 'two different ends');
  const t2 = fragInit();
  assert.equal(feed(t2, [shortLast, frags[2]!]).map((r) => r.dropped), [null, 'inconsistent'], 'a last fragment past the known end');
  const t3 = fragInit();
  const past = fragment4(WHOLE4, [88, 8, 12])[1]!; // offset 88, MF set
  assert.equal(feed(t3, [shortLast, past]).map((r) => r.dropped), [null, 'inconsistent'], 'a middle fragment past the known end');
  const t4 = fragInit();
  assert.equal(feed(t4, [frags[2]!, fragment4(WHOLE4, [8, 100])[0]!, shortLast]).map((r) => r.dropped), [null, null, 'inconsistent']);
  const t5 = fragInit();
  assert.equal(feed(t5, [frags[1]!, shortLast]).map((r) => r.dropped), [null, 'overlap']);
});

test('frag: timeout expires the datagram and reports the first fragment for ICMP (RFC 1122 §3.3.2)', () => {
  const t = fragInit();
  const [a, b] = fragment4(WHOLE4, [48, 32, 28]) as [Uint8Array, Uint8Array];
  feed(t, [a, b], 1000);
  assert.is(fragNextDeadline(t), 31_000);
  assert.equal(fragExpire(t, 30_999).expired, []);
  assert.is(t.count, 1);
  const { expired } = fragExpire(t, 31_000);
  assert.equal(expired, [{ version: 4, src: '10.0.0.1', dst: '10.0.0.2', first: a }]);
  assert.equal([t.count, t.bytes, fragNextDeadline(t)], [0, 0, null]);
  // Without the offset-0 fragment there is nothing to quote.
  feed(t, [b], 0);
  assert.equal(fragExpire(t, 40_000).expired, [{ version: 4, src: '10.0.0.1', dst: '10.0.0.2', first: null }]);
});

test('frag v6: two fragments reassemble to the unfragmented packet (RFC 8200 §4.5)', () => {
  const t = fragInit();
  const rs = feed(t, [FRAG6_A, FRAG6_B]);
  assert.is(rs[0]!.complete, null);
  assert.equal(rs[1]!.complete, WHOLE6);
  const t2 = fragInit();
  assert.equal(feed(t2, [FRAG6_B, FRAG6_A])[1]!.complete, WHOLE6, 'out of order');
  assert.equal(fragKey(info(FRAG6_A)), `6 ${SRC6} ${DST6} ${0xdeadbeef}`);
});

test('frag v6: the last unfragmentable header gets the Next Header; Payload Length counts it', () => {
  const withHbh = (frag: Uint8Array): Uint8Array => {
    const out = new Uint8Array(frag.length + 8);
    out.set(frag.subarray(0, 40));
    out[5] = frag[5]! + 8;
    out[6] = 0; // Hop-by-Hop first
    out.set(hex`2c00 0104 0000 0000`, 40); // Hop-by-Hop: next 44, PadN
    out.set(frag.subarray(40), 48);
    return out;
  };
  const t = fragInit();
  const rs = feed(t, [withHbh(FRAG6_B), withHbh(FRAG6_A)]);
  assert.equal(rs[1]!.complete, buildIpv6(SRC6, DST6, 17, UDP48, { extHeaders: hex`1100 0104 0000 0000`, nextHeader: 0 }));
});

test('frag v6: fragments differing only in Next Header join the same datagram; offset 0 decides', () => {
  const t = fragInit();
  const b = FRAG6_B.slice();
  b[40] = 6; // non-first fragment says TCP: ignored (RFC 8200 §4.5)
  assert.equal(feed(t, [b, FRAG6_A])[1]!.complete, WHOLE6);
});

test('frag v6: overlap discards the whole datagram (RFC 5722 §4); duplicates are ignored', () => {
  const t = fragInit();
  const over = FRAG6_B.slice();
  over[43] = 0x10; // offset 2 (16 bytes): overlaps the first fragment's 24 bytes
  const rs = feed(t, [FRAG6_A, FRAG6_A, over, FRAG6_B]);
  assert.equal(rs.map((r) => r.dropped), [null, 'duplicate', 'overlap', 'discarded']);
  assert.is(fragNextDeadline(t), 60_000);
  assert.equal(fragExpire(t, 60_000).expired, [], 'a discarded datagram expires silently');
});

test('frag v6: a first fragment without the whole header chain is dropped (RFC 7112)', () => {
  const t = fragInit();
  const a = FRAG6_A.slice();
  a[40] = 60;           // fragmentable part starts with Destination Options...
  a[49] = 5;            // ...of (5 + 1) * 8 = 48 bytes, more than the 24 in this fragment
  assert.equal(feed(t, [a]).map((r) => r.dropped), ['incomplete-chain']);
  assert.is(t.count, 0);
});

test('frag v6: timeout is 60 s; expiry quotes the first fragment as received', () => {
  const t = fragInit();
  feed(t, [FRAG6_A], 5);
  assert.is(fragNextDeadline(t), 60_005);
  assert.equal(fragExpire(t, 60_005).expired, [{ version: 6, src: SRC6, dst: DST6, first: FRAG6_A }]);
});

test('frag: length rules: multiples of 8 while more follow, nothing empty, at most 65535 octets', () => {
  const t = fragInit();
  const [a] = fragment4(WHOLE4, [48, 60]) as [Uint8Array];
  const odd = fragment4(WHOLE4, [44, 64])[0]!; // 44 bytes with MF
  assert.equal(feed(t, [odd]).map((r) => r.dropped), ['bad-length']);
  const empty = fragInput(t, { ...info(a), data: new Uint8Array(0) }, 0);
  assert.is(empty.dropped, 'bad-length');
  const far = fragInput(t, { ...info(a), offset: 8189 * 8, data: new Uint8Array(24) }, 0); // 20 + 65512 + 24 > 65535
  assert.is(far.dropped, 'too-big');
  const fits = fragInput(t, { ...info(a), offset: 8189 * 8, more: false, data: new Uint8Array(3) }, 0); // 20 + 65512 + 3 = 65535
  assert.is(fits.dropped, null);
  const far6 = fragInput(t, { ...info(FRAG6_B), offset: 8191 * 8, data: new Uint8Array(8) }, 0);
  assert.is(far6.dropped, 'too-big');
  checkInvariants(t);
});

test('frag: memory bounds: total bytes and datagram count refuse new fragments; per-datagram limits discard', () => {
  const frags = fragment4(WHOLE4, [48, 32, 28]);
  const other = (id: number): Uint8Array[] => {
    const w = WHOLE4.slice();
    w[4] = id >> 8; w[5] = id & 0xff; w[10] = 0; w[11] = 0;
    const r = parseIpv4(w, false);
    if (!r.ok) throw new Error(r.error);
    return fragment4(buildIpv4('10.0.0.1', '10.0.0.2', 17, r.value.payload, { ident: id, df: false, ttl: 9 }), [48, 32, 28]);
  };
  // maxBytes: the header (20) + 48 fit in 99, the next 32 do not.
  const t = fragInit({ maxBytes: 99 });
  assert.equal(feed(t, frags.slice(0, 2)).map((r) => r.dropped), [null, 'memory']);
  checkInvariants(t);
  // maxDatagrams: a third datagram is refused; those in progress keep going and complete.
  const t2 = fragInit({ maxDatagrams: 2 });
  const d2 = other(2), d3 = other(3);
  const rs = feed(t2, [frags[0]!, d2[0]!, d3[0]!, frags[1]!, frags[2]!]);
  assert.equal(rs.map((r) => r.dropped), [null, null, 'table-full', null, null]);
  assert.equal(rs[4]!.complete, WHOLE4);
  assert.equal(feed(t2, [d3[0]!]).map((r) => r.dropped), [null], 'room again once one completed');
  checkInvariants(t2);
  // maxFragments and maxDatagramBytes: the datagram can never complete, so it is discarded.
  const t3 = fragInit({ maxFragments: 2 });
  assert.equal(feed(t3, frags).map((r) => r.dropped), [null, null, 'datagram-limit']);
  assert.equal([t3.count, t3.bytes], [1, 0]);
  const t4 = fragInit({ maxDatagramBytes: 90 });
  assert.equal(feed(t4, frags).map((r) => r.dropped), [null, 'datagram-limit', 'discarded']);
  checkInvariants(t4);
});

test('frag: the table is plain data: a structured clone taken mid-reassembly finishes the job', () => {
  const t = fragInit();
  const frags = fragment4(WHOLE4, [48, 32, 28]);
  feed(t, [frags[0]!, frags[2]!]);
  feed(t, [FRAG6_A]);
  const snap = structuredClone(t);
  assert.equal(snap, t);
  assert.ok(Object.getPrototypeOf(snap.entries) === Object.prototype);
  assert.equal(feed(snap, [frags[1]!])[0]!.complete, WHOLE4);
  assert.equal(feed(snap, [FRAG6_B])[0]!.complete, WHOLE6);
  assert.equal([snap.count, snap.bytes], [0, 0]);
  assert.is(t.count, 2, 'the original is untouched by work on the clone');
  // Pieces are owned copies, not views of the packets they came from.
  for (const k in t.entries) for (const p of t.entries[k]!.pieces) assert.is(p.data.byteOffset, 0);
});

test('frag: random fragment streams never throw and keep the accounting exact', () => {
  const rnd = mulberry32(815);
  const t = fragInit({ maxBytes: 4000, maxDatagrams: 8, maxFragments: 16 });
  const base = info(fragment4(WHOLE4, [48, 60])[0]!);
  let now = 0, completed = 0;
  const drops: Record<string, number> = {};
  for (let i = 0; i < 4000; i++) {
    now += Math.floor(rnd() * 200);
    const id = Math.floor(rnd() * 12);
    const offset = Math.floor(rnd() * 16) * 8;
    const len = rnd() < 0.1 ? Math.floor(rnd() * 30) : 8 * (1 + Math.floor(rnd() * 4));
    const data = new Uint8Array(len).fill(offset & 0xff);
    const r = fragInput(t, { ...base, id, offset, more: rnd() < 0.7, data }, now);
    if (r.dropped) drops[r.dropped as FragDrop] = (drops[r.dropped] ?? 0) + 1;
    if (r.complete) {
      completed++;
      const p = parseIpv4(r.complete);
      assert.ok(p.ok, 'a reassembled datagram always parses');
    }
    if (i % 97 === 0) fragExpire(t, now);
    checkInvariants(t);
  }
  assert.ok(completed > 0, 'some datagrams completed');
  assert.ok((drops.overlap ?? 0) > 0 && (drops['bad-length'] ?? 0) > 0, JSON.stringify(drops));
});

test.run();
