import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { hex } from '../helpers/hex.ts';
import { ipPseudoSum, parseQuoted } from '../../stack/wire/ip.ts';
import {
  ICMPV4_UNREACH, emitIcmpv4, emitIcmpv6, icmpQuote, icmpv4BufferLen, icmpv6BufferLen, parseIcmpv4, parseIcmpv6,
  solicitedNodeAddr,
} from '../../stack/wire/icmp.ts';
import type { IcmpError, Icmpv4Message, Icmpv6Message } from '../../stack/wire/icmp.ts';

// Every fixture's checksum was verified with tshark.
const QUOTE4 = hex`
  45b9 0021 1234 4000 4011 13dd   # quoted IPv4 header: total 33, DF, TTL 64, UDP
  0a00 0001 0a00 0002             # 10.0.0.1 -> 10.0.0.2
  1388 1b58 000d 791f             # first 64 bits of the datagram: UDP 5000 -> 7000`;
const QUOTE6 = hex`
  6b81 2345 000b 11ff             # quoted IPv6 header: payload 11, UDP, hop limit 255
  2001 0db8 0000 0000 0000 0000 0000 0001   # 2001:db8::1
  2001 0db8 0000 0000 0000 0000 0000 0002   # 2001:db8::2
  0fa0 1b58 000b f001             # UDP 4000 -> 7000`;

const ECHO4 = hex`
  08 00 6561  # type 8 (echo request), code 0, checksum
  0102 0007   # identifier 0x0102, sequence 7
  6162636465666768  # data "abcdefgh"`;
const FRAG_NEEDED = hex`
  03 04 4f77  # type 3 (destination unreachable), code 4 (fragmentation needed), checksum
  0000 0578   # unused; next-hop MTU 1400 (RFC 1191 §4)
  ${QUOTE4}`;
const TIME_EX4 = hex`
  0b 00 4cf3  # type 11 (time exceeded), code 0 (TTL), checksum
  0000 0000   # unused
  ${QUOTE4}`;
const PARAM4 = hex`
  0c 00 37f3  # type 12 (parameter problem), code 0, checksum
  14 000000   # pointer 20, unused
  ${QUOTE4}`;
const TIMESTAMP = hex`
  0d 00 f2f8  # type 13 (timestamp): not decoded, kept generic
  0005 0001   # identifier 5, sequence 1
  0000 0001 0000 0000 0000 0000   # originate, receive, transmit timestamps`;

const LL1 = 'fe80::1', LL2 = 'fe80::2';
const ECHO6 = hex`
  80 00 6324  # type 128 (echo request), code 0, checksum (fe80::1 -> fe80::2)
  0abc 0002   # identifier 0x0abc, sequence 2
  70696e6736  # "ping6"`;
const PTB = hex`
  02 00 e43d  # type 2 (packet too big), code 0, checksum (fe80::1 -> fe80::2)
  0000 0500   # MTU 1280
  ${QUOTE6}`;
const UNREACH6 = hex`
  01 04 ea39  # type 1 (destination unreachable), code 4 (port unreachable), checksum
  0000 0000   # unused
  ${QUOTE6}`;
const PARAM6 = hex`
  04 01 e736  # type 4 (parameter problem), code 1 (unrecognized next header), checksum
  0000 0006   # pointer 6
  ${QUOTE6}`;
const NS = hex`
  87 00 7a97  # type 135 (neighbor solicitation), code 0, checksum (fe80::1 -> ff02::1:ff00:2)
  0000 0000   # reserved
  fe80 0000 0000 0000 0000 0000 0000 0002   # target fe80::2
  01 01 0200 0000 0001                      # option: source link-layer address 02:00:00:00:00:01`;
const NA = hex`
  88 00 181a  # type 136 (neighbor advertisement), code 0, checksum (fe80::2 -> fe80::1)
  6000 0000   # flags S, O; reserved
  fe80 0000 0000 0000 0000 0000 0000 0002   # target fe80::2
  02 01 0200 0000 0002                      # option: target link-layer address 02:00:00:00:00:02`;
const RS = hex`
  85 00 7a2c  # type 133 (router solicitation): kept generic (fe80::1 -> ff02::2)
  0000 0000   # reserved
  0101 0200 0000 0001   # option: source link-layer address`;

const ps6 = (src: string, dst: string, len: number): number => ipPseudoSum(src, dst, 58, len);
const ERRORS: readonly IcmpError[] = ['truncated', 'bad-checksum', 'bad-option'];

function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const V4_CASES: [string, Uint8Array, Icmpv4Message][] = [
  ['echo request', ECHO4, { kind: 'echo-request', code: 0, id: 0x0102, seq: 7, data: hex`6162636465666768` }],
  ['fragmentation needed', FRAG_NEEDED, { kind: 'dest-unreachable', code: ICMPV4_UNREACH.fragNeeded, unused: 0, mtu: 1400, original: QUOTE4 }],
  ['time exceeded', TIME_EX4, { kind: 'time-exceeded', code: 0, unused: 0, original: QUOTE4 }],
  ['parameter problem', PARAM4, { kind: 'parameter-problem', code: 0, pointer: 20, unused: 0, original: QUOTE4 }],
  ['timestamp (generic)', TIMESTAMP, { kind: 'other', type: 13, code: 0, rest: 0x00050001, body: hex`0000 0001 0000 0000 0000 0000` }],
];
const V6_CASES: [string, Uint8Array, string, string, Icmpv6Message][] = [
  ['echo request', ECHO6, LL1, LL2, { kind: 'echo-request', code: 0, id: 0x0abc, seq: 2, data: hex`70696e6736` }],
  ['packet too big', PTB, LL1, LL2, { kind: 'packet-too-big', code: 0, mtu: 1280, original: QUOTE6 }],
  ['port unreachable', UNREACH6, LL1, LL2, { kind: 'dest-unreachable', code: 4, unused: 0, original: QUOTE6 }],
  ['parameter problem', PARAM6, LL1, LL2, { kind: 'parameter-problem', code: 1, pointer: 6, original: QUOTE6 }],
  ['neighbor solicitation', NS, LL1, 'ff02::1:ff00:2', {
    kind: 'neighbor-solicitation', code: 0, reserved: 0, target: LL2, options: [{ kind: 'source-lladdr', mac: '02:00:00:00:00:01' }],
  }],
  ['neighbor advertisement', NA, LL2, LL1, {
    kind: 'neighbor-advertisement', code: 0, router: false, solicited: true, override: true, reserved: 0, target: LL2,
    options: [{ kind: 'target-lladdr', mac: '02:00:00:00:00:02' }],
  }],
  ['router solicitation (generic)', RS, LL1, 'ff02::2', { kind: 'other', type: 133, code: 0, rest: 0, body: hex`0101 0200 0000 0001` }],
];

for (const [name, bytes, repr] of V4_CASES) {
  test(`icmpv4: parse ${name}`, () => {
    assert.equal(parseIcmpv4(bytes), { ok: true, value: repr });
  });
  test(`icmpv4: emit ${name} byte for byte`, () => {
    const out = new Uint8Array(icmpv4BufferLen(repr)).fill(0xa5);
    assert.is(emitIcmpv4(repr, out), bytes.length);
    assert.equal(out, bytes);
  });
}

for (const [name, bytes, src, dst, repr] of V6_CASES) {
  test(`icmpv6: parse ${name}`, () => {
    assert.equal(parseIcmpv6(bytes, ps6(src, dst, bytes.length)), { ok: true, value: repr });
  });
  test(`icmpv6: emit ${name} byte for byte`, () => {
    const out = new Uint8Array(icmpv6BufferLen(repr)).fill(0xa5);
    assert.is(emitIcmpv6(repr, out, ps6(src, dst, bytes.length)), bytes.length);
    assert.equal(out, bytes);
  });
}

test('icmp: the quoted datagram exposes the original ports', () => {
  const r = parseIcmpv4(FRAG_NEEDED);
  assert.ok(r.ok && r.value.kind === 'dest-unreachable');
  if (!r.ok || r.value.kind !== 'dest-unreachable') return;
  const q = parseQuoted(r.value.original);
  assert.ok(q.ok);
  if (q.ok) assert.equal([q.value.src, q.value.dst, q.value.protocol, q.value.payload.subarray(0, 4)], ['10.0.0.1', '10.0.0.2', 17, hex`1388 1b58`]);
  const r6 = parseIcmpv6(PTB, ps6(LL1, LL2, PTB.length));
  assert.ok(r6.ok && r6.value.kind === 'packet-too-big');
  if (!r6.ok || r6.value.kind !== 'packet-too-big') return;
  const q6 = parseQuoted(r6.value.original);
  assert.ok(q6.ok && q6.value.protocol === 17 && q6.value.payload.length === 8);
});

test('icmpv6: NA flags R, S, O each map to their own bit (RFC 4861 §4.4)', () => {
  for (const [router, solicited, override, bits] of [[true, false, false, 0x80], [false, true, false, 0x40], [false, false, true, 0x20], [true, true, false, 0xc0]] as const) {
    const m: Icmpv6Message = { kind: 'neighbor-advertisement', code: 0, router, solicited, override, reserved: 0, target: LL2, options: [] };
    const out = new Uint8Array(icmpv6BufferLen(m));
    emitIcmpv6(m, out, 0);
    assert.is(out[4], bits);
    assert.equal(parseIcmpv6(out, 0), { ok: true, value: m });
  }
});

test('icmp: checksums are verified (ICMPv6 over the pseudo-header)', () => {
  const bad = ECHO4.slice();
  bad[15] = 0;
  assert.equal(parseIcmpv4(bad), { ok: false, error: 'bad-checksum' });
  assert.equal(parseIcmpv6(ECHO6, ps6(LL1, 'fe80::3', ECHO6.length)), { ok: false, error: 'bad-checksum' }, 'wrong destination');
});

test('icmp: every truncation returns a typed error (or, past the header, parses only when the cut bytes were zeros)', () => {
  // The message length comes from the IP layer, so a cut is caught by the checksum, which cannot
  // see trailing zero bytes for ICMPv4 (no length in its sum): those cuts legitimately parse.
  const zeros = (b: Uint8Array): boolean => b.every((x) => x === 0);
  for (const [, bytes] of V4_CASES) {
    for (let n = 0; n < bytes.length; n++) {
      const r = parseIcmpv4(bytes.slice(0, n));
      if (n < 8) assert.equal(r, { ok: false, error: 'truncated' });
      else if (r.ok) assert.ok(zeros(bytes.subarray(n)), `cut at ${n} parsed`);
      else assert.ok(ERRORS.includes(r.error));
    }
  }
  for (const [, bytes, src, dst] of V6_CASES) {
    for (let n = 0; n < bytes.length; n++) {
      const r = parseIcmpv6(bytes.slice(0, n), ps6(src, dst, n));
      assert.is(r.ok, false, `cut at ${n}`); // the pseudo-header length changes the sum
      if (!r.ok) assert.ok(ERRORS.includes(r.error));
      if (!r.ok && n < 8) assert.is(r.error, 'truncated');
    }
    // A short NS/NA whose checksum is right is still rejected.
    if (bytes[0] === 135 || bytes[0] === 136) {
      const cut = bytes.slice(0, 20);
      assert.equal(parseIcmpv6(cut, fixSum(cut)), { ok: false, error: 'truncated' });
    }
  }
});

test('icmpv6: NDP options of length 0 or past the end are rejected (RFC 4861 §4.6)', () => {
  const withOpts = (opts: Uint8Array): Uint8Array => {
    const m: Icmpv6Message = { kind: 'neighbor-solicitation', code: 0, reserved: 0, target: LL2, options: [] };
    const out = new Uint8Array(24 + opts.length);
    emitIcmpv6(m, out, 0);
    out.set(opts, 24);
    out[2] = 0; out[3] = 0;
    const v = new DataView(out.buffer);
    let s = 0;
    for (let i = 0; i < out.length; i += 2) s += v.getUint16(i);
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    v.setUint16(2, ~s & 0xffff);
    return out;
  };
  assert.equal(parseIcmpv6(withOpts(hex`0100 0000 0000 0000`), 0), { ok: false, error: 'bad-option' });
  assert.equal(parseIcmpv6(withOpts(hex`0102 0000 0000 0000`), 0), { ok: false, error: 'bad-option' });
  const odd = parseIcmpv6(withOpts(hex`
    0e01 0102 0304 0506                       # Nonce (RFC 3971), length 1
    0102 aabb ccdd eeff 0011 2233 4455 6677   # type 1 with length 2: not an Ethernet address, kept generic`), 0);
  assert.equal(odd.ok && odd.value.kind === 'neighbor-solicitation' ? odd.value.options : null, [
    { kind: 'other', type: 14, data: hex`0102 0304 0506` },
    { kind: 'other', type: 1, data: hex`aabb ccdd eeff 0011 2233 4455 6677` },
  ]);
});

test('icmp: random bit flips never throw', () => {
  const rnd = mulberry32(4443);
  for (let i = 0; i < 3000; i++) {
    const v6 = (i & 1) === 1;
    const src = v6 ? V6_CASES[i % V6_CASES.length]![1] : V4_CASES[i % V4_CASES.length]![1];
    const b = src.slice();
    { const j = Math.floor(rnd() * b.length); b[j] = b[j]! ^ (1 << Math.floor(rnd() * 8)); }
    // Ignore the checksum (pseudo sum chosen to make it pass) so the type-specific parsers see the flipped bytes.
    const r = v6 ? parseIcmpv6(b, fixSum(b)) : parseIcmpv4(b);
    if (!r.ok) assert.ok(ERRORS.includes(r.error));
  }
});

/** A pseudo-header sum that makes `b`'s checksum verify, whatever its bytes. */
function fixSum(b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i + 1 < b.length; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  if (b.length & 1) s += b[b.length - 1]! << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return 0xffff - s;
}

test('icmp: icmpQuote caps the quote (RFC 1812 §4.3.2.3, RFC 4443 §2.4(c)); solicited-node address', () => {
  const big = new Uint8Array(2000).fill(7);
  assert.is(icmpQuote(big, 4).length, 548);
  assert.is(icmpQuote(big, 6).length, 1232);
  const small = icmpQuote(QUOTE4, 4);
  assert.equal(small, QUOTE4);
  assert.is.not(small.buffer, QUOTE4.buffer);
  assert.is(solicitedNodeAddr('fe80::2'), 'ff02::1:ff00:2');
  assert.is(solicitedNodeAddr('2001:db8::abcd:1234:5678'), 'ff02::1:ff34:5678');
});

test.run();
