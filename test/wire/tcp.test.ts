import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { hex } from '../helpers/hex.ts';
import { pseudoSumV4, pseudoSumV6 } from '../../stack/wire/checksum.ts';
import {
  ACK, buildTcpOptions, emitTcp, FIN, parseTcp, PSH, RST, SYN, tcpBufferLen, tcpHeaderLen, tcpOptionsInfo,
  tcpPseudoSum, URG, type TcpOption, type TcpSegment,
} from '../../stack/wire/tcp.ts';

const SRC = new Uint8Array([192, 168, 1, 1]);
const DST = new Uint8Array([192, 168, 1, 2]);
const LO = new Uint8Array([127, 0, 0, 1]);
const ps = (seg: Uint8Array, src = SRC, dst = DST) => pseudoSumV4(src, dst, 6, seg.length);

/** Naive RFC 1071 checksum over an IPv4/IPv6 pseudo-header plus segment, independent of checksum.ts. */
function naiveTcpChecksum(src: Uint8Array, dst: Uint8Array, seg: Uint8Array): number {
  const len = seg.length;
  const ph = src.length === 4
    ? [...src, ...dst, 0, 6, len >> 8, len & 0xff]
    : [...src, ...dst, 0, 0, len >> 8, len & 0xff, 0, 0, 0, 6];
  const d = [...ph, ...seg];
  if (d.length % 2) d.push(0);
  let s = 0;
  for (let i = 0; i < d.length; i += 2) s += d[i]! * 256 + d[i + 1]!;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 65536);
  return ~s & 0xffff;
}

// smoltcp's SYN_PACKET_BYTES (src/wire/tcp.rs), 192.168.1.1 -> 192.168.1.2.
const SYN_BYTES = hex`
  bf00 0050   # src 48896, dst 80
  0123 4567   # seq
  0000 0000   # ack
  5002 0123   # doff 5, SYN, window 0x0123
  7a8d 0000   # checksum, urgent
  aa00 00ff   # payload`;
const SYN_REPR: TcpSegment = {
  srcPort: 48896, dstPort: 80, seq: 0x01234567, ack: 0, flags: SYN, reserved: 0, window: 0x0123, urgent: 0,
  options: [], payload: new Uint8Array([0xaa, 0x00, 0x00, 0xff]),
};

// smoltcp's PACKET_BYTES: every flag smoltcp tests, a wscale option followed by NOP.
const PACKET_BYTES = hex`
  bf00 0050   # src 48896, dst 80
  0123 4567   # seq
  89ab cdef   # ack
  6035 0123   # doff 6, FIN|RST|ACK|URG, window 0x0123
  01b6 0201   # checksum, urgent 0x0201
  0303 0c01   # wscale 12, NOP
  aa00 00ff   # payload`;
const PACKET_REPR: TcpSegment = {
  srcPort: 48896, dstPort: 80, seq: 0x01234567, ack: 0x89abcdef, flags: FIN | RST | ACK | URG, reserved: 0,
  window: 0x0123, urgent: 0x0201, options: [{ kind: 'wscale', shift: 12 }, { kind: 'nop' }],
  payload: new Uint8Array([0xaa, 0x00, 0x00, 0xff]),
};

// Linux 6.x SYN on loopback (127.0.0.1 -> 127.0.0.1), checksum filled in (loopback leaves it partial).
const LINUX_SYN = hex`
  b5a8 b813   # 46504 -> 47123
  541f 9cbe   # seq
  0000 0000   # ack
  a002 ffd7   # doff 10, SYN, window 65495
  3e6b 0000   # checksum, urgent
  0204 ffd7   # MSS 65495
  0402 080a   # SACK-permitted, timestamp kind+len
  64dc 4e1d   # tsval
  0000 0000   # tsecr
  0103 030a   # NOP, wscale 10`;
const LINUX_SYN_OPTIONS: TcpOption[] = [
  { kind: 'mss', mss: 65495 }, { kind: 'sack-permitted' }, { kind: 'timestamp', tsval: 0x64dc4e1d, tsecr: 0 },
  { kind: 'nop' }, { kind: 'wscale', shift: 10 },
];
// Linux data segment: NOP NOP TS + "hello world".
const LINUX_DATA = hex`
  b5a8 b813 541f 9cbf 64f9 0b1e   # ports, seq, ack
  8018 0040   # doff 8, PSH|ACK, window 64
  87e4 0000   # checksum, urgent
  0101 080a 64dc 4e1f 9785 4581   # NOP NOP TS
  6865 6c6c 6f20 776f 726c 64     # "hello world"`;

test('parse smoltcp SYN fixture', () => {
  const r = parseTcp(SYN_BYTES, ps(SYN_BYTES));
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.equal(r.value, SYN_REPR);
  assert.is(tcpHeaderLen(r.value), 20);
});

test('parse smoltcp packet with wscale + NOP', () => {
  const r = parseTcp(PACKET_BYTES, ps(PACKET_BYTES));
  assert.ok(r.ok);
  if (r.ok) assert.equal(r.value, PACKET_REPR);
});

test('parse Linux SYN options and data segment (fast path)', () => {
  const r = parseTcp(LINUX_SYN, ps(LINUX_SYN, LO, LO));
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.equal(r.value.options, LINUX_SYN_OPTIONS);
  assert.is(r.value.window, 65495);
  assert.is(r.value.payload.length, 0);
  const d = parseTcp(LINUX_DATA, ps(LINUX_DATA, LO, LO));
  assert.ok(d.ok);
  if (!d.ok) return;
  assert.equal(d.value.options, [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'timestamp', tsval: 0x64dc4e1f, tsecr: 0x97854581 }]);
  assert.is(d.value.flags, PSH | ACK);
  assert.is(new TextDecoder().decode(d.value.payload), 'hello world');
});

test('payload is a view into the input; unknown option data is an owned copy', () => {
  const p = hex`0001 0002 0000 0001 0000 0000 6010 1000 0000 0000  fe04 abcd  dead beef`;
  const r = parseTcp(p, null);
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.is(r.value.payload.buffer, p.buffer);
  assert.is(r.value.payload.byteOffset, 24);
  const o = r.value.options[0]!;
  assert.equal(o, { kind: 'unknown', type: 0xfe, data: new Uint8Array([0xab, 0xcd]) });
  if (o.kind === 'unknown') assert.is.not(o.data.buffer, p.buffer);
});

test('emit into 0xa5-filled buffers reproduces fixtures byte for byte', () => {
  const cases: [TcpSegment, Uint8Array, Uint8Array, Uint8Array][] = [
    [SYN_REPR, SYN_BYTES, SRC, DST],
    [PACKET_REPR, PACKET_BYTES, SRC, DST],
  ];
  for (const [repr, bytes, s, d] of cases) {
    assert.is(tcpBufferLen(repr), bytes.length);
    const out = new Uint8Array(tcpBufferLen(repr)).fill(0xa5);
    emitTcp(repr, out, pseudoSumV4(s, d, 6, out.length));
    assert.equal(out, bytes);
  }
  for (const [bytes, s, d] of [[LINUX_SYN, LO, LO], [LINUX_DATA, LO, LO]] as const) {
    const r = parseTcp(bytes, ps(bytes, s, d));
    assert.ok(r.ok);
    if (!r.ok) continue;
    const out = new Uint8Array(tcpBufferLen(r.value)).fill(0xa5);
    emitTcp(r.value, out, ps(bytes, s, d));
    assert.equal(out, bytes);
  }
});

test('emit into a subarray with byteOffset != 0 leaves the rest untouched', () => {
  const big = new Uint8Array(100).fill(0xa5);
  const out = big.subarray(7, 7 + SYN_BYTES.length);
  emitTcp(SYN_REPR, out, ps(SYN_BYTES));
  assert.equal(new Uint8Array(out), SYN_BYTES);
  assert.is(big[6], 0xa5);
  assert.is(big[7 + SYN_BYTES.length], 0xa5);
  // And parsing from an offset view works too.
  const r = parseTcp(out, ps(SYN_BYTES));
  assert.ok(r.ok);
});

test('emitted checksum agrees with a naive implementation, IPv4 and IPv6', () => {
  const seg: TcpSegment = {
    srcPort: 1234, dstPort: 80, seq: 0xfffffff0, ack: 7, flags: ACK | PSH, reserved: 0, window: 1000, urgent: 0,
    options: buildTcpOptions({ ts: { tsval: 1, tsecr: 0xffffffff }, sack: [{ left: 1, right: 2 }] }),
    payload: new Uint8Array([1, 2, 3, 4, 5]), // odd length
  };
  const len = tcpBufferLen(seg);
  const out = new Uint8Array(len);
  emitTcp(seg, out, tcpPseudoSum('10.0.0.1', '10.0.0.2', len));
  const s4 = new Uint8Array([10, 0, 0, 1]), d4 = new Uint8Array([10, 0, 0, 2]);
  const z = out.slice(); z[16] = 0; z[17] = 0;
  assert.is(out[16]! * 256 + out[17]!, naiveTcpChecksum(s4, d4, z));
  assert.ok(parseTcp(out, pseudoSumV4(s4, d4, 6, len)).ok);

  const s6 = new Uint8Array(16); s6[0] = 0xfe; s6[1] = 0x80; s6[15] = 1;
  const d6 = new Uint8Array(16); d6[0] = 0x20; d6[1] = 0x01; d6[2] = 0x0d; d6[3] = 0xb8; d6[15] = 0xff;
  assert.is(tcpPseudoSum('fe80::1', '2001:db8::ff', len), pseudoSumV6(s6, d6, 6, len));
  emitTcp(seg, out, tcpPseudoSum('fe80::1', '2001:db8::ff', len));
  const z6 = out.slice(); z6[16] = 0; z6[17] = 0;
  assert.is(out[16]! * 256 + out[17]!, naiveTcpChecksum(s6, d6, z6));
  assert.ok(parseTcp(out, pseudoSumV6(s6, d6, 6, len)).ok);
  assert.throws(() => tcpPseudoSum('10.0.0.1', 'fe80::1', 20), RangeError);
});

test('truncated, bad data offset, bad checksum', () => {
  for (let n = 0; n < 20; n++) assert.equal(parseTcp(LINUX_SYN.subarray(0, n), null), { ok: false, error: 'truncated' });
  for (let n = 20; n < 40; n++) assert.equal(parseTcp(LINUX_SYN.subarray(0, n), null), { ok: false, error: 'bad-data-offset' });
  for (let n = 32; n < LINUX_DATA.length; n++) {
    const t = LINUX_DATA.subarray(0, n);
    assert.equal(parseTcp(t, ps(t, LO, LO)), { ok: false, error: 'bad-checksum' }, `len ${n}`);
  }
  const low = SYN_BYTES.slice(); low[12] = 0x40; // data offset 4 words
  assert.equal(parseTcp(low, null), { ok: false, error: 'bad-data-offset' });
  for (let bit = 0; bit < SYN_BYTES.length * 8; bit++) {
    const f = SYN_BYTES.slice(); f[bit >> 3]! ^= 1 << (bit & 7);
    if (bit >> 3 === 12 && (bit & 7) >= 4) continue; // data offset bits: other error
    assert.equal(parseTcp(f, ps(f)), { ok: false, error: 'bad-checksum' }, `bit ${bit}`);
  }
  // Wrong pseudo-header (other destination) fails too.
  assert.equal(parseTcp(SYN_BYTES, pseudoSumV4(SRC, LO, 6, SYN_BYTES.length)), { ok: false, error: 'bad-checksum' });
});

/** A 20-byte header with data offset for `opts` (already a multiple of 4) followed by the options. */
const withOptions = (opts: Uint8Array): Uint8Array => {
  const p = new Uint8Array(20 + opts.length);
  p.set(SYN_BYTES.subarray(0, 20));
  p[12] = ((20 + opts.length) / 4) << 4;
  p.set(opts, 20);
  return p;
};

test('malformed options reject the segment with bad-option', () => {
  const bad = [
    hex`0200 0000`, // MSS with length 0
    hex`0201 0000`, // length 1
    hex`0101 0108`, // kind 8 in the last byte: no room for its length
    hex`0101 0205`, // length 5 runs past the header end
  ];
  for (const o of bad) assert.equal(parseTcp(withOptions(o), null), { ok: false, error: 'bad-option' }, Array.from(o).join(','));
  assert.equal(parseTcp(withOptions(hex`0101 080e 0000 0000 0000 0000`), null), { ok: false, error: 'bad-option' });
  assert.equal(parseTcp(withOptions(hex`fe05 0000`), null), { ok: false, error: 'bad-option' });
});

test('known kinds with a wrong length are kept as unknown; round trip exact', () => {
  const o = hex`
    0205 0102 03     # MSS with length 5
    0302             # wscale with length 2
    0403 00          # SACK-permitted with length 3
    0503 00          # SACK with length 3
    050a 0000 0001 0000 0002   # SACK one block (valid)
    0802 01          # TS with length 2 then NOP
    00 0000 0000 00  # EOL + 5 pad`;
  assert.is(o.length % 4, 0);
  const p = withOptions(o);
  const r = parseTcp(p, null);
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.equal(r.value.options, [
    { kind: 'unknown', type: 2, data: new Uint8Array([1, 2, 3]) },
    { kind: 'unknown', type: 3, data: new Uint8Array([]) },
    { kind: 'unknown', type: 4, data: new Uint8Array([0]) },
    { kind: 'unknown', type: 5, data: new Uint8Array([0]) },
    { kind: 'sack', blocks: [{ left: 1, right: 2 }] },
    { kind: 'unknown', type: 8, data: new Uint8Array([]) },
    { kind: 'nop' },
    { kind: 'eol', pad: 5 },
  ]);
  const out = new Uint8Array(tcpBufferLen(r.value)).fill(0xa5);
  emitTcp(r.value, out, 0);
  out[16] = p[16]!; out[17] = p[17]!;
  assert.equal(out, p);
});

test('EOL padding: pad count round-trips; non-zero bytes after EOL are accepted and emitted as zeros', () => {
  const p = withOptions(hex`0204 05b4 0000 0000`);
  const r = parseTcp(p, null);
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.equal(r.value.options, [{ kind: 'mss', mss: 1460 }, { kind: 'eol', pad: 3 }]);
  const q = withOptions(hex`0204 05b4 00ff 0102`);
  const s = parseTcp(q, null);
  assert.ok(s.ok);
  if (!s.ok) return;
  assert.equal(s.value.options, r.value.options);
  const out = new Uint8Array(tcpBufferLen(s.value));
  emitTcp(s.value, out, 0);
  assert.equal(Array.from(out.subarray(20)), [2, 4, 5, 0xb4, 0, 0, 0, 0]);
});

test('emit pads options to 4 bytes with zeros and rejects more than 40 bytes', () => {
  const seg: TcpSegment = { ...SYN_REPR, payload: new Uint8Array(0), options: [{ kind: 'mss', mss: 536 }, { kind: 'wscale', shift: 7 }] };
  assert.is(tcpHeaderLen(seg), 28);
  const out = new Uint8Array(tcpBufferLen(seg)).fill(0xa5);
  emitTcp(seg, out, 0);
  assert.equal(out.subarray(20), new Uint8Array([2, 4, 2, 0x18, 3, 3, 7, 0]));
  assert.is(out[12], 0x70);
  const big: TcpSegment = { ...seg, options: [{ kind: 'unknown', type: 99, data: new Uint8Array(39) }] };
  assert.throws(() => emitTcp(big, new Uint8Array(100), 0), RangeError);
  assert.throws(() => emitTcp(SYN_REPR, new Uint8Array(10), 0), RangeError);
});

test('reserved bits (AE) and all flags survive a round trip', () => {
  const seg: TcpSegment = { ...SYN_REPR, flags: 0xff, reserved: 0x0f };
  const out = new Uint8Array(tcpBufferLen(seg));
  emitTcp(seg, out, ps(SYN_BYTES));
  assert.is(out[12], 0x5f);
  const r = parseTcp(out, ps(SYN_BYTES));
  assert.ok(r.ok);
  if (r.ok) assert.equal(r.value, seg);
});

test('buildTcpOptions matches the Linux SYN layout byte for byte', () => {
  const opts = buildTcpOptions({ mss: 65495, sackPermitted: true, ts: { tsval: 0x64dc4e1d, tsecr: 0 }, wscale: 10 });
  assert.equal(opts, LINUX_SYN_OPTIONS);
  const r = parseTcp(LINUX_SYN, null);
  assert.ok(r.ok);
  if (!r.ok) return;
  const out = new Uint8Array(tcpBufferLen(r.value));
  emitTcp({ ...r.value, options: opts }, out, ps(LINUX_SYN, LO, LO));
  assert.equal(out, LINUX_SYN);
});

test('buildTcpOptions: non-SYN, no-TS and SACK layouts', () => {
  assert.equal(buildTcpOptions({ ts: { tsval: 5, tsecr: 6 } }),
    [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'timestamp', tsval: 5, tsecr: 6 }]);
  // Linux SYN without timestamps: MSS, NOP NOP SACK-permitted, NOP wscale.
  assert.equal(buildTcpOptions({ mss: 1460, sackPermitted: true, wscale: 7 }), [
    { kind: 'mss', mss: 1460 }, { kind: 'nop' }, { kind: 'nop' }, { kind: 'sack-permitted' },
    { kind: 'nop' }, { kind: 'wscale', shift: 7 },
  ]);
  assert.equal(buildTcpOptions({}), []);
  const blocks = [1, 2, 3, 4, 5].map((k) => ({ left: k * 100, right: k * 100 + 50 }));
  const withTs = buildTcpOptions({ ts: { tsval: 1, tsecr: 2 }, sack: blocks });
  assert.equal(withTs.slice(3), [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'sack', blocks: blocks.slice(0, 3) }]);
  const noTs = buildTcpOptions({ sack: blocks });
  assert.equal(noTs, [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'sack', blocks: blocks.slice(0, 4) }]);
  for (const o of [withTs, noTs, buildTcpOptions({ mss: 1, sackPermitted: true, ts: { tsval: 1, tsecr: 1 }, wscale: 14, sack: blocks })]) {
    const seg: TcpSegment = { ...SYN_REPR, options: o, payload: new Uint8Array(0) };
    const hl = tcpHeaderLen(seg);
    assert.ok(hl <= 60 && hl % 4 === 0);
    const out = new Uint8Array(hl);
    emitTcp(seg, out, 0);
    const r = parseTcp(out, 0);
    assert.ok(r.ok);
    if (r.ok) assert.equal(r.value.options, o);
  }
});

test('tcpOptionsInfo: first occurrence wins, wscale > 14 reported as-is', () => {
  assert.equal(tcpOptionsInfo([]), { mss: null, wscale: null, sackPermitted: false, sack: [], ts: null });
  assert.equal(tcpOptionsInfo(LINUX_SYN_OPTIONS),
    { mss: 65495, wscale: 10, sackPermitted: true, sack: [], ts: { tsval: 0x64dc4e1d, tsecr: 0 } });
  const info = tcpOptionsInfo([
    { kind: 'wscale', shift: 15 }, { kind: 'mss', mss: 100 }, { kind: 'mss', mss: 200 }, { kind: 'wscale', shift: 3 },
    { kind: 'sack', blocks: [{ left: 1, right: 2 }] }, { kind: 'sack', blocks: [{ left: 3, right: 4 }] },
    { kind: 'timestamp', tsval: 9, tsecr: 8 }, { kind: 'timestamp', tsval: 7, tsecr: 6 },
  ]);
  assert.equal(info, { mss: 100, wscale: 15, sackPermitted: false, sack: [{ left: 1, right: 2 }], ts: { tsval: 9, tsecr: 8 } });
});

test('random bit flips and truncations never throw; accepted segments re-emit consistently', () => {
  let x = 0x12345678;
  const rnd = () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x; };
  const bases = [SYN_BYTES, PACKET_BYTES, LINUX_SYN, LINUX_DATA, withOptions(hex`0101 050a 0000 0001 0000 0002`)];
  let accepted = 0;
  for (let k = 0; k < 3000; k++) {
    const base = bases[k % bases.length]!;
    const p = base.slice(0, base.length - (rnd() % 3 === 0 ? rnd() % base.length : 0));
    for (let f = rnd() % 4; f >= 0; f--) if (p.length) p[rnd() % p.length]! ^= 1 << (rnd() % 8);
    const r = parseTcp(p, null);
    if (!r.ok) continue;
    accepted++;
    const out = new Uint8Array(tcpBufferLen(r.value));
    emitTcp(r.value, out, 0);
    assert.is(out.length, p.length);
    const again = parseTcp(out, 0);
    assert.ok(again.ok);
    if (again.ok) assert.equal(again.value, r.value);
  }
  assert.ok(accepted > 100);
});

test.run();
