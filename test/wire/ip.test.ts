import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { hex } from '../helpers/hex.ts';
import { parseV4, parseV6, v6ToString } from '../../stack/wire/addr.ts';
import { addrSum, v6ToStringFast, writeIp, writeV4, writeV6 } from '../../stack/wire/addr-write.ts';
import { pseudoSumV4, pseudoSumV6 } from '../../stack/wire/checksum.ts';
import { buildIp, ipPseudoSum, ipVersion, isFragment, parseIp, parseQuoted } from '../../stack/wire/ip.ts';

const V4 = hex`
  45b9 0021 1234 4000 4011 13dd   # IPv4, total 33, DF, TTL 64, UDP
  0a00 0001 0a00 0002             # 10.0.0.1 -> 10.0.0.2
  1388 1b58 000d 791f 68656c6c6f  # UDP 5000 -> 7000 "hello"`;
const V6 = hex`
  6b81 2345 000b 11ff             # IPv6, payload 11, UDP, hop limit 255
  2001 0db8 0000 0000 0000 0000 0000 0001   # 2001:db8::1
  2001 0db8 0000 0000 0000 0000 0000 0002   # 2001:db8::2
  0fa0 1b58 000b f001 686921      # UDP 4000 -> 7000 "hi!"`;

function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('ip: parseIp dispatches on the version nibble', () => {
  const a = parseIp(V4), b = parseIp(V6);
  assert.ok(a.ok && b.ok);
  if (!a.ok || !b.ok) return;
  assert.equal([a.value.version, a.value.src, a.value.dst, a.value.protocol, a.value.payload.length], [4, '10.0.0.1', '10.0.0.2', 17, 13]);
  assert.equal([b.value.version, b.value.src, b.value.dst, b.value.protocol, b.value.payload.length], [6, '2001:db8::1', '2001:db8::2', 17, 11]);
  assert.equal(parseIp(new Uint8Array(0)), { ok: false, error: 'truncated' });
  assert.equal(parseIp(hex`50`), { ok: false, error: 'bad-version' });
  assert.equal([ipVersion(V4), ipVersion(V6), ipVersion(hex`10`), ipVersion(new Uint8Array(0))], [4, 6, null, null]);
});

test('ip: isFragment for IPv4 MF/offset and IPv6 non-atomic Fragment headers', () => {
  const p4 = parseIp(V4);
  assert.ok(p4.ok && !isFragment(p4.value));
  if (!p4.ok || p4.value.version !== 4) return;
  assert.ok(isFragment({ ...p4.value, mf: true }));
  assert.ok(isFragment({ ...p4.value, fragOffset: 1 }));
  const frag = parseIp(hex`
    6000 0000 0010 2c40
    2001 0db8 0000 0000 0000 0000 0000 0001 2001 0db8 0000 0000 0000 0000 0000 0002
    1100 0009 0000 0001   # Fragment: next 17, offset 1, M 1, ident 1
    0000 0000 0000 0000`);
  assert.ok(frag.ok && isFragment(frag.value));
  const p6 = parseIp(V6);
  assert.ok(p6.ok && !isFragment(p6.value));
});

test('ip: ipPseudoSum equals pseudoSumV4/pseudoSumV6 on the address bytes', () => {
  const cases: [string, string][] = [['10.0.0.1', '10.0.0.2'], ['255.255.255.255', '0.0.0.0'], ['2001:db8::1', 'fe80::1:2:3'], ['::', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'], ['::ffff:1.2.3.4', '1::']];
  for (const [s, d] of cases) {
    const sb = (s.includes(':') ? parseV6(s) : parseV4(s))!, db = (d.includes(':') ? parseV6(d) : parseV4(d))!;
    for (const len of [0, 20, 65535, 70000]) {
      const want = s.includes(':') ? pseudoSumV6(sb, db, 6, len) : pseudoSumV4(sb, db, 6, len & 0xffff);
      assert.is(ipPseudoSum(s, d, 6, s.includes(':') ? len : len & 0xffff), want, `${s} ${d} ${len}`);
    }
  }
  assert.throws(() => ipPseudoSum('10.0.0', '10.0.0.1', 6, 0), /bad IPv4/);
  assert.throws(() => ipPseudoSum('1:::2', '::1', 6, 0), /bad IPv6/);
});

test('ip: writeV4/writeV6 accept and reject exactly what parseV4/parseV6 do', () => {
  const texts = [
    '0.0.0.0', '255.255.255.255', '10.0.0.1', '010.0.0.1', '256.0.0.1', '1.2.3', '1.2.3.4.5', '1..2.3', '1.2.3.4 ', '',
    '::', '::1', '1::', '1::2', 'fe80::1', '2001:db8:0:0:1:0:0:1', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7::',
    '::1:2:3:4:5:6:7', '1::2::3', ':1::', '1:', ':', ':::', '12345::', 'g::', '::ffff:1.2.3.4', '::1.2.3.4',
    '::ffff:1.2.3', '::ffff:256.1.1.1', '1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:7:1.2.3.4', 'ABCD::EF', '::ffff:1.2.3.4:5',
  ];
  for (const t of texts) {
    const out = new Uint8Array(16);
    if (t.includes(':')) {
      const ref = parseV6(t);
      assert.is(writeV6(t, out, 0), ref !== null, t);
      if (ref) assert.equal(out, ref, t);
    } else {
      const ref = parseV4(t);
      assert.is(writeV4(t, out, 0), ref !== null, t);
      if (ref) assert.equal(out.subarray(0, 4), ref, t);
    }
    const n = writeIp(t, new Uint8Array(16), 0);
    assert.is(n, (t.includes(':') ? parseV6(t) : parseV4(t)) === null ? 0 : t.includes(':') ? 16 : 4, t);
  }
});

test('ip: writeV6 takes a dotted quad only as the last 32 bits (RFC 4291 §2.2 form 3)', () => {
  // addr.ts parseV6 accepts '1.2.3.4::' (a dotted quad before '::'); writeV6 does not.
  assert.is(writeV6('1.2.3.4::', new Uint8Array(16), 0), false);
  assert.is(writeV6('::1.2.3.4', new Uint8Array(16), 0), true);
});

test('ip: v6ToStringFast equals addr.ts v6ToString (RFC 5952) on edge cases and random words', () => {
  const rnd = mulberry32(5952);
  const b = new Uint8Array(16);
  for (let i = 0; i < 3000; i++) {
    for (let w = 0; w < 8; w++) {
      const r = rnd();
      const v = r < 0.5 ? 0 : r < 0.6 ? 1 : Math.floor(rnd() * 65536);
      b[2 * w] = v >> 8; b[2 * w + 1] = v & 0xff;
    }
    assert.is(v6ToStringFast(b), v6ToString(b));
    assert.equal(parseV6(v6ToStringFast(b)), b);
  }
  assert.is(v6ToStringFast(new Uint8Array(16)), '::');
  assert.is(v6ToStringFast(hex`0001 0000 0002 0000 0000 0003 0000 0000`), '1:0:2::3:0:0');
  assert.is(v6ToStringFast(hex`00 2001 0db8 0000 0001 0000 0000 0000 0001`, 1), '2001:db8:0:1::1');
  assert.is(addrSum('::'), 0);
});

test('ip: buildIp picks the version from the address text', () => {
  assert.equal(buildIp('10.0.0.1', '10.0.0.2', 17, V4.subarray(20), { ident: 0x1234, dscp: 46, ecn: 1 }), V4);
  assert.equal(buildIp('2001:db8::1', '2001:db8::2', 17, V6.subarray(40), { trafficClass: 0xb8, flowLabel: 0x12345, hopLimit: 255 }), V6);
  assert.throws(() => buildIp('10.0.0.1', '::1', 17, new Uint8Array(0)), /mixed/);
});

test('ip: parseQuoted reads the truncated packet inside an ICMP error', () => {
  const q4 = parseQuoted(V4.subarray(0, 28)); // RFC 792: header + 64 bits
  assert.equal(q4, { ok: true, value: { version: 4, src: '10.0.0.1', dst: '10.0.0.2', protocol: 17, payload: V4.subarray(20, 28) } });
  const q6 = parseQuoted(V6.subarray(0, 48));
  assert.equal(q6, { ok: true, value: { version: 6, src: '2001:db8::1', dst: '2001:db8::2', protocol: 17, payload: V6.subarray(40, 48) } });
  const frag = hex`
    6000 0000 0030 2c40
    2001 0db8 0000 0000 0000 0000 0000 0001 2001 0db8 0000 0000 0000 0000 0000 0002
    3c00 0001 0000 0007   # Fragment: next 60, offset 0, M 1
    0600 0104 0000 0000   # Destination Options: next 6 (TCP), PadN
    1f90 0050 0000 0001   # TCP ports 8080 -> 80, seq 1`;
  const qf = parseQuoted(frag);
  assert.ok(qf.ok);
  if (qf.ok) assert.equal([qf.value.protocol, qf.value.payload], [6, hex`1f90 0050 0000 0001`]);
  const later = frag.slice();
  later[43] = 0x11; // offset 2
  const ql = parseQuoted(later);
  assert.ok(ql.ok && ql.value.protocol === 44);
  assert.equal(parseQuoted(V4.subarray(0, 19)), { ok: false, error: 'truncated' });
  assert.equal(parseQuoted(hex`4400 0000`), { ok: false, error: 'truncated' });
  assert.equal(parseQuoted(new Uint8Array([0x44, ...new Uint8Array(19)])), { ok: false, error: 'bad-ihl' });
  assert.equal(parseQuoted(frag.subarray(0, 52)), { ok: false, error: 'truncated' });
  const rnd = mulberry32(792);
  for (let i = 0; i < 1000; i++) {
    const b = (i & 1 ? V4 : frag).slice(0, 1 + Math.floor(rnd() * 60));
    { const j = Math.floor(rnd() * b.length); b[j] = b[j]! ^ (1 << Math.floor(rnd() * 8)); }
    parseQuoted(b); // never throws
  }
});

test.run();
