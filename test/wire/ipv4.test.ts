import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { hex } from '../helpers/hex.ts';
import {
  IPV4_DF, buildIpv4, checkIpv4, emitIpv4, emitIpv4Header, ipv4BufferLen, parseIpv4,
} from '../../stack/wire/ipv4.ts';
import type { Ipv4Error, Ipv4Packet } from '../../stack/wire/ipv4.ts';

// UDP 10.0.0.1:5000 -> 10.0.0.2:7000 "hello"; checksums verified with tshark.
const UDP_BYTES = hex`
  1388 1b58   # UDP src 5000, dst 7000
  000d 791f   # length 13, checksum
  68656c6c6f  # "hello"`;
const PKT = hex`
  45 b9 0021  # version 4, IHL 5; DSCP 46 (EF), ECN 1 (ECT(1)); total length 33
  1234 4000   # identification 0x1234; flags DF, fragment offset 0
  40 11 13dd  # TTL 64, protocol 17 (UDP), header checksum
  0a00 0001   # source 10.0.0.1
  0a00 0002   # destination 10.0.0.2
  ${UDP_BYTES}`;
const REPR: Ipv4Packet = {
  version: 4, dscp: 46, ecn: 1, ident: 0x1234, rf: false, df: true, mf: false, fragOffset: 0, ttl: 64,
  protocol: 17, src: '10.0.0.1', dst: '10.0.0.2', options: new Uint8Array(0), payload: UDP_BYTES,
};

// ICMP echo request with a Router Alert option (RFC 2113).
const OPTS = hex`
  46 00 0024  # version 4, IHL 6 (24-byte header); DSCP/ECN 0; total length 36
  beef 0000   # identification 0xbeef; no flags, offset 0
  01 01 e289  # TTL 1, protocol 1 (ICMP), header checksum
  c0a8 010a   # source 192.168.1.10
  c0a8 0101   # destination 192.168.1.1
  9404 0000   # option: Router Alert, length 4, value 0
  0800 1826   # ICMP echo request, code 0, checksum
  0102 0007   # id 0x0102, seq 7
  70696e67    # "ping"`;

const ERRORS: readonly Ipv4Error[] = ['truncated', 'bad-version', 'bad-ihl', 'bad-length', 'bad-checksum'];

function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const parsed = (buf: Uint8Array): Ipv4Packet => {
  const r = parseIpv4(buf);
  if (!r.ok) throw new Error(`parse failed: ${r.error}`);
  return r.value;
};

test('ipv4: parse a UDP datagram', () => {
  assert.equal(parsed(PKT), REPR);
  assert.is(checkIpv4(PKT), 20);
});

test('ipv4: emit reproduces the datagram byte for byte', () => {
  const out = new Uint8Array(ipv4BufferLen(REPR)).fill(0xa5);
  assert.is(emitIpv4(REPR, out), 33);
  assert.equal(out, PKT);
});

test('ipv4: options are carried verbatim through parse and emit', () => {
  const p = parsed(OPTS);
  assert.equal(p.options, hex`9404 0000`);
  assert.is(p.protocol, 1);
  assert.is(p.ttl, 1);
  assert.is(p.df, false);
  assert.equal(p.payload, OPTS.subarray(24));
  const out = new Uint8Array(ipv4BufferLen(p)).fill(0xa5);
  emitIpv4(p, out);
  assert.equal(out, OPTS);
});

test('ipv4: link padding beyond Total Length is ignored', () => {
  const padded = new Uint8Array(60).fill(0);
  padded.set(PKT);
  const p = parsed(padded);
  assert.equal(p.payload, UDP_BYTES);
  const out = new Uint8Array(ipv4BufferLen(p));
  emitIpv4(p, out);
  assert.equal(out, PKT);
});

test('ipv4: a view inside a larger buffer (non-zero byteOffset) parses the same', () => {
  const big = new Uint8Array(PKT.length + 7).fill(0xee);
  big.set(PKT, 7);
  assert.equal(parsed(big.subarray(7)), REPR);
});

test('ipv4: every truncation returns a typed error, never throws', () => {
  for (const pkt of [PKT, OPTS]) {
    for (let n = 0; n < pkt.length; n++) {
      const r = parseIpv4(pkt.slice(0, n));
      assert.is(r.ok, false, `length ${n}`);
      if (!r.ok) assert.is(r.error, 'truncated', `length ${n}`);
    }
  }
});

test('ipv4: corrupt headers are rejected with the right error', () => {
  const bad = (patch: (b: Uint8Array) => void): string => {
    const b = PKT.slice();
    patch(b);
    const r = parseIpv4(b);
    return r.ok ? 'ok' : r.error;
  };
  assert.is(bad((b) => { b[0] = 0x65; }), 'bad-version');
  assert.is(bad((b) => { b[0] = 0x44; }), 'bad-ihl');
  assert.is(bad((b) => { b[0] = 0x4f; }), 'truncated');      // IHL 15 = 60 bytes > 33
  assert.is(bad((b) => { b[3] = 0x13; }), 'bad-length');     // total 19 < header 20
  assert.is(bad((b) => { b[3] = 0x22; }), 'truncated');      // total 34 > 33 bytes
  assert.is(bad((b) => { b[8] = 0x3f; }), 'bad-checksum');   // TTL changed, checksum not
  assert.is(bad((b) => { b[11] = b[11]! ^ 1; }), 'bad-checksum');
  const ttl = PKT.slice();
  ttl[8] = 0x3f;
  assert.is(parseIpv4(ttl, false).ok, true, 'verify=false skips the checksum');
});

test('ipv4: random bit flips never throw; what parses re-emits identically apart from the checksum', () => {
  const rnd = mulberry32(0x1b5);
  let parsedCount = 0;
  for (let i = 0; i < 3000; i++) {
    const b = (i & 1 ? OPTS : PKT).slice();
    const flips = 1 + Math.floor(rnd() * 3);
    for (let k = 0; k < flips; k++) { const j = Math.floor(rnd() * b.length); b[j] = b[j]! ^ (1 << Math.floor(rnd() * 8)); }
    const r = parseIpv4(b, (i & 2) === 0);
    if (!r.ok) { assert.ok(ERRORS.includes(r.error), r.error); continue; }
    parsedCount++;
    const out = new Uint8Array(ipv4BufferLen(r.value));
    emitIpv4(r.value, out);
    const total = ((b[2]! << 8) | b[3]!);
    out[10] = b[10]!; out[11] = b[11]!;
    assert.equal(out, b.slice(0, total));
  }
  assert.ok(parsedCount > 100, `only ${parsedCount} flipped packets parsed`);
});

test('ipv4: fragment fields and the reserved flag survive a round trip', () => {
  const frag: Ipv4Packet = { ...REPR, rf: true, df: false, mf: true, fragOffset: 185, ttl: 255, dscp: 0, ecn: 3 };
  const out = new Uint8Array(ipv4BufferLen(frag));
  emitIpv4(frag, out);
  assert.equal(out.subarray(0, 10), hex`
    4503 0021   # version 4, IHL 5; DSCP 0, ECN 3 (CE); total length 33
    1234 a0b9   # identification 0x1234; flags RF + MF, offset 185 (1480 bytes)
    ff11        # TTL 255, protocol 17`);
  assert.equal(parsed(out), frag);
});

test('ipv4: buildIpv4 allocates and emits a whole datagram', () => {
  assert.equal(buildIpv4('10.0.0.1', '10.0.0.2', 17, UDP_BYTES, { ident: 0x1234, dscp: 46, ecn: 1 }), PKT);
  const d = parsed(buildIpv4('192.0.2.1', '198.51.100.7', 6, new Uint8Array(3)));
  assert.equal([d.ttl, d.df, d.ident, d.src, d.dst, d.protocol, d.payload.length], [64, true, 0, '192.0.2.1', '198.51.100.7', 6, 3]);
});

test('ipv4: emitIpv4Header in front of a payload already in place', () => {
  const out = new Uint8Array(33).fill(0xa5);
  out.set(UDP_BYTES, 20);
  assert.is(emitIpv4Header(REPR, out, UDP_BYTES.length), 20);
  assert.equal(out, PKT);
  const inPlace = { ...REPR, payload: out.subarray(20) };
  emitIpv4(inPlace, out);
  assert.equal(out, PKT);
});

test('ipv4: emitting into a short buffer or bad addresses throws (programmer error)', () => {
  assert.throws(() => emitIpv4(REPR, new Uint8Array(32)), /output buffer/);
  assert.throws(() => emitIpv4({ ...REPR, src: '10.0.0.256' }, new Uint8Array(33)), /bad src/);
  assert.throws(() => emitIpv4({ ...REPR, options: new Uint8Array(3) }, new Uint8Array(40)), /options length/);
  assert.is(IPV4_DF, 0x4000);
});

test.run();
