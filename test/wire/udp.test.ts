import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { hex } from '../helpers/hex.ts';
import { ipPseudoSum } from '../../stack/wire/ip.ts';
import { emitUdp, parseUdp, udpBufferLen } from '../../stack/wire/udp.ts';
import type { UdpDatagram, UdpError } from '../../stack/wire/udp.ts';

// Checksums verified with tshark (inside the IPv4/IPv6 fixtures of ipv4/ipv6.test.ts).
const V4 = hex`
  1388 1b58   # src port 5000, dst port 7000
  000d 791f   # length 13, checksum (10.0.0.1 -> 10.0.0.2)
  68656c6c6f  # "hello"`;
const PS4 = ipPseudoSum('10.0.0.1', '10.0.0.2', 17, 13);
const REPR4: UdpDatagram = { srcPort: 5000, dstPort: 7000, noChecksum: false, payload: hex`68656c6c6f` };
const V6 = hex`
  0fa0 1b58   # src port 4000, dst port 7000
  000b f001   # length 11, checksum (2001:db8::1 -> 2001:db8::2)
  686921      # "hi!"`;
const PS6 = ipPseudoSum('2001:db8::1', '2001:db8::2', 17, 11);
const NOSUM = hex`
  1388 1b58   # src port 5000, dst port 7000
  000d 0000   # length 13, checksum 0: none (RFC 768, IPv4 only)
  68656c6c6f  # "hello"`;

const ERRORS: readonly UdpError[] = ['truncated', 'bad-length', 'bad-checksum', 'no-checksum'];

function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('udp: parse over IPv4 and IPv6', () => {
  assert.equal(parseUdp(V4, PS4, 4), { ok: true, value: REPR4 });
  assert.equal(parseUdp(V6, PS6, 6), { ok: true, value: { srcPort: 4000, dstPort: 7000, noChecksum: false, payload: hex`686921` } });
});

test('udp: emit reproduces the datagram byte for byte', () => {
  const out = new Uint8Array(udpBufferLen(REPR4)).fill(0xa5);
  assert.is(emitUdp(REPR4, out, PS4), 13);
  assert.equal(out, V4);
  const out6 = new Uint8Array(11).fill(0xa5);
  emitUdp({ srcPort: 4000, dstPort: 7000, noChecksum: false, payload: hex`686921` }, out6, PS6);
  assert.equal(out6, V6);
});

test('udp: checksum 0 means none over IPv4 and is refused over IPv6 (RFC 8200 §8.1)', () => {
  const r = parseUdp(NOSUM, 12345, 4);
  assert.equal(r, { ok: true, value: { ...REPR4, noChecksum: true } });
  if (r.ok) {
    const out = new Uint8Array(13).fill(0xa5);
    emitUdp(r.value, out, PS4);
    assert.equal(out, NOSUM);
  }
  assert.equal(parseUdp(NOSUM, PS4, 6), { ok: false, error: 'no-checksum' });
});

test('udp: a computed checksum of 0 is sent as 0xffff (RFC 768)', () => {
  // Pick a payload word that makes the one's complement sum 0xffff, so the checksum computes to 0.
  const d: UdpDatagram = { srcPort: 1, dstPort: 2, noChecksum: false, payload: new Uint8Array(2) };
  const out = new Uint8Array(10);
  emitUdp(d, out, 0);
  const ck = (out[6]! << 8) | out[7]!;            // checksum with payload 0000
  d.payload = new Uint8Array([ck >> 8, ck & 0xff]); // adding ck to the sum makes it 0xffff
  emitUdp(d, out, 0);
  assert.equal(out.subarray(6, 8), hex`ffff`);
  assert.equal(parseUdp(out, 0, 6), { ok: true, value: d });
});

test('udp: bytes beyond the Length field are ignored; length errors are typed', () => {
  const padded = new Uint8Array(20);
  padded.set(V4);
  assert.equal(parseUdp(padded, PS4, 4), { ok: true, value: REPR4 });
  for (let n = 0; n < V4.length; n++) assert.equal(parseUdp(V4.slice(0, n), PS4, 4), { ok: false, error: 'truncated' }, `length ${n}`);
  const short = V4.slice();
  short[5] = 7;
  assert.equal(parseUdp(short, PS4, 4), { ok: false, error: 'bad-length' });
  const corrupt = V4.slice();
  corrupt[9] = 0x66;
  assert.equal(parseUdp(corrupt, PS4, 4), { ok: false, error: 'bad-checksum' });
  assert.equal(parseUdp(V4, PS4 + 1, 4), { ok: false, error: 'bad-checksum' }, 'wrong pseudo-header');
});

test('udp: random bit flips never throw', () => {
  const rnd = mulberry32(768);
  for (let i = 0; i < 2000; i++) {
    const b = (i & 1 ? V4 : V6).slice();
    { const j = Math.floor(rnd() * b.length); b[j] = b[j]! ^ (1 << Math.floor(rnd() * 8)); }
    const r = parseUdp(b, i & 1 ? PS4 : PS6, i & 1 ? 4 : 6);
    if (!r.ok) assert.ok(ERRORS.includes(r.error));
  }
});

test('udp: payload already in place at out[8] is not disturbed', () => {
  const out = new Uint8Array(13).fill(0xa5);
  out.set(hex`68656c6c6f`, 8);
  emitUdp({ ...REPR4, payload: out.subarray(8) }, out, PS4);
  assert.equal(out, V4);
});

test.run();
