import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { hex } from '../helpers/hex.ts';
import { buildIpv6, emitIpv6, ipv6BufferLen, parseIpv6 } from '../../stack/wire/ipv6.ts';
import type { Ipv6Error, Ipv6Packet } from '../../stack/wire/ipv6.ts';

const SRC = '2001:db8::1', DST = '2001:db8::2';
const ADDRS = hex`
  2001 0db8 0000 0000 0000 0000 0000 0001   # source 2001:db8::1
  2001 0db8 0000 0000 0000 0000 0000 0002   # destination 2001:db8::2`;

// UDP 4000 -> 7000 "hi!"; checksums verified with tshark.
const UDP = hex`0fa0 1b58 000b f001 686921`;
const PKT = hex`
  6b81 2345   # version 6, traffic class 0xb8, flow label 0x12345
  000b 11 ff  # payload length 11, next header 17 (UDP), hop limit 255
  ${ADDRS}
  ${UDP}`;
const REPR: Ipv6Packet = {
  version: 6, trafficClass: 0xb8, flowLabel: 0x12345, nextHeader: 17, hopLimit: 255, src: SRC, dst: DST,
  extHeaders: new Uint8Array(0), protocol: 17, fragment: null, payload: UDP,
};

// Every walked extension header kind in one chain (tshark decodes it and verifies the UDP checksum).
const EXT = hex`
  6000 0000   # version 6, traffic class 0, flow label 0
  0041 00 40  # payload length 65, next header 0 (Hop-by-Hop), hop limit 64
  ${ADDRS}
  3c00 0104 0000 0000   # Hop-by-Hop: next 60, length 0 (8 bytes); PadN 4
  2b00 0104 0000 0000   # Destination Options: next 43, length 0; PadN 4
  2c00 fd00 0000 0000   # Routing: next 44, length 0, type 253 (experimental), segments left 0
  3300 0000 0000 cafe   # Fragment: next 51, offset 0, M 0 (atomic fragment), identification 0xcafe
  1104 0000             # AH: next 17, payload len 4 ((4 + 2) * 4 = 24 bytes), reserved
  0000 0100 0000 0001   # AH: SPI 0x100, sequence number 1
  0000 0000 0000 0000 0000 0000  # AH: ICV (12 bytes)
  0fa0 1b58 0009 016f 78         # UDP 4000 -> 7000, length 9, checksum; "x"`;

// First fragment of a 48-byte UDP datagram.
const FRAG = hex`
  6000 0000   # version 6
  0020 2c 40  # payload length 32, next header 44 (Fragment), hop limit 64
  ${ADDRS}
  1100 0001   # Fragment: next 17, reserved; offset 0, M 1
  dead beef   # identification
  0fa0 1b58 0030 fb8f 0001 0203 0405 0607 0809 0a0b 0c0d 0e0f   # first 24 bytes of the UDP datagram`;

const ERRORS: readonly Ipv6Error[] = ['truncated', 'bad-version', 'bad-ext-header'];

function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const parsed = (buf: Uint8Array): Ipv6Packet => {
  const r = parseIpv6(buf);
  if (!r.ok) throw new Error(`parse failed: ${r.error}`);
  return r.value;
};
const reemit = (p: Ipv6Packet): Uint8Array => {
  const out = new Uint8Array(ipv6BufferLen(p)).fill(0xa5);
  emitIpv6(p, out);
  return out;
};

test('ipv6: parse a UDP packet', () => {
  assert.equal(parsed(PKT), REPR);
});

test('ipv6: emit reproduces the packet byte for byte', () => {
  const out = new Uint8Array(ipv6BufferLen(REPR)).fill(0xa5);
  assert.is(emitIpv6(REPR, out), PKT.length);
  assert.equal(out, PKT);
});

test('ipv6: the walk skips Hop-by-Hop, Destination Options, Routing, an atomic Fragment and AH', () => {
  const p = parsed(EXT);
  assert.is(p.nextHeader, 0);
  assert.is(p.protocol, 17);
  assert.equal(p.extHeaders, EXT.subarray(40, 96));
  assert.equal(p.payload, hex`0fa0 1b58 0009 016f 78`);
  assert.equal(p.fragment, { offset: 0, more: false, ident: 0xcafe, nextHeader: 51, at: 64, nextHeaderAt: 56 });
  assert.equal(reemit(p), EXT);
});

test('ipv6: a non-atomic fragment stops the walk at the Fragment header', () => {
  const p = parsed(FRAG);
  assert.is(p.protocol, 44);
  assert.equal(p.fragment, { offset: 0, more: true, ident: 0xdeadbeef, nextHeader: 17, at: 40, nextHeaderAt: 6 });
  assert.equal(p.extHeaders, FRAG.subarray(40, 48));
  assert.equal(p.payload, FRAG.subarray(48));
  assert.equal(reemit(p), FRAG);
  const later = FRAG.slice();
  later[43] = 0x18; // offset 3 (24 bytes), M 0
  const q = parsed(later);
  assert.is(q.protocol, 44);
  assert.equal([q.fragment?.offset, q.fragment?.more], [3, false]);
});

test('ipv6: after an atomic fragment, a real Fragment header is the one reported', () => {
  const p = parsed(hex`
    6000 0000 0020 2c 40 ${ADDRS}
    2c00 0000 0000 0001   # Fragment: next 44, offset 0, M 0 (atomic), identification 1
    1100 0011 0000 0002   # Fragment: next 17, offset 2, M 1, identification 2
    0000 0000 0000 0000 0000 0000 0000 0000`);
  assert.is(p.protocol, 44);
  assert.equal(p.fragment, { offset: 2, more: true, ident: 2, nextHeader: 17, at: 48, nextHeaderAt: 40 });
});

test('ipv6: ESP and No Next Header end the walk', () => {
  const esp = hex`
    6000 0000 0010 00 40 ${ADDRS}
    3200 0104 0000 0000   # Hop-by-Hop: next 50 (ESP)
    0000 1000 0000 0001   # ESP: SPI 0x1000, sequence 1 (rest encrypted)`;
  const p = parsed(esp);
  assert.is(p.protocol, 50);
  assert.equal(p.payload, esp.subarray(48));
  const none = hex`
    6000 0000 0008 3c 40 ${ADDRS}
    3b00 0104 0000 0000   # Destination Options: next 59 (No Next Header)`;
  const q = parsed(none);
  assert.is(q.protocol, 59);
  assert.is(q.payload.length, 0);
  assert.equal(reemit(q), none);
});

test('ipv6: link padding beyond Payload Length is ignored', () => {
  const padded = new Uint8Array(PKT.length + 9);
  padded.set(PKT);
  assert.equal(parsed(padded), REPR);
});

test('ipv6: every truncation returns a typed error, never throws', () => {
  for (const pkt of [PKT, EXT, FRAG]) {
    for (let n = 0; n < pkt.length; n++) {
      const r = parseIpv6(pkt.slice(0, n));
      assert.is(r.ok, false, `length ${n}`);
      if (!r.ok) assert.is(r.error, 'truncated', `length ${n}`);
    }
  }
});

test('ipv6: corrupt packets are rejected with the right error', () => {
  const bad = (patch: (b: Uint8Array) => void): string => {
    const b = EXT.slice();
    patch(b);
    const r = parseIpv6(b);
    return r.ok ? 'ok' : r.error;
  };
  assert.is(bad((b) => { b[0] = 0x40; }), 'bad-version');
  assert.is(bad((b) => { b[5] = 20; }), 'truncated');           // Routing header ends past Payload Length
  assert.is(bad((b) => { b[41] = 200; }), 'truncated');         // Hop-by-Hop length 200 runs past the end
  assert.is(bad((b) => { b[72] = 60; }), 'truncated');          // AH -> Destination Options: the UDP bytes read as one, length 161*8
  assert.is(bad((b) => { b[48] = 0; }), 'bad-ext-header');      // Hop-by-Hop after Destination Options (RFC 8200 §4.3)
  assert.is(bad((b) => { b[73] = 200; }), 'truncated');         // AH length past the end
});

test('ipv6: random bit flips never throw; what parses re-emits identically', () => {
  const rnd = mulberry32(0x6666);
  let ok = 0;
  for (let i = 0; i < 3000; i++) {
    const src = i % 3 === 0 ? PKT : i % 3 === 1 ? EXT : FRAG;
    const b = src.slice();
    const flips = 1 + Math.floor(rnd() * 3);
    for (let k = 0; k < flips; k++) { const j = Math.floor(rnd() * b.length); b[j] = b[j]! ^ (1 << Math.floor(rnd() * 8)); }
    const r = parseIpv6(b);
    if (!r.ok) { assert.ok(ERRORS.includes(r.error), r.error); continue; }
    ok++;
    assert.equal(reemit(r.value), b.slice(0, 40 + ((b[4]! << 8) | b[5]!)));
  }
  assert.ok(ok > 500, `only ${ok} flipped packets parsed`);
});

test('ipv6: buildIpv6 allocates and emits a whole packet', () => {
  assert.equal(buildIpv6(SRC, DST, 17, UDP, { trafficClass: 0xb8, flowLabel: 0x12345, hopLimit: 255 }), PKT);
  const withExt = buildIpv6(SRC, DST, 59, new Uint8Array(0), { extHeaders: hex`3b00 0104 0000 0000`, nextHeader: 60 });
  const p = parsed(withExt);
  assert.equal([p.nextHeader, p.protocol, p.hopLimit, p.extHeaders.length], [60, 59, 64, 8]);
  assert.throws(() => buildIpv6(SRC, DST, 59, new Uint8Array(0), { extHeaders: new Uint8Array(8) }), /nextHeader/);
  assert.throws(() => buildIpv6('2001:db8::g', DST, 17, UDP), /bad src/);
});

test.run();
