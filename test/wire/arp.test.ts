import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { hex } from '../helpers/hex.ts';
import { ARP_REPLY, ARP_REQUEST, arpBufferLen, arpReply, arpRequest, buildArpFrame, emitArp, gratuitousArp, parseArp } from '../../stack/wire/arp.ts';
import type { ArpError, ArpPacket } from '../../stack/wire/arp.ts';

// Decoded by tshark as "Who has 10.0.0.2? Tell 10.0.0.1", "10.0.0.2 is at 02:00:00:00:00:02"
// and "ARP Announcement for 10.0.0.2".
const REQUEST = hex`
  0001 0800   # hardware type Ethernet, protocol type IPv4
  06 04 0001  # hlen 6, plen 4, op 1 (request)
  0200 0000 0001   # sha 02:00:00:00:00:01
  0a00 0001        # spa 10.0.0.1
  0000 0000 0000   # tha unknown
  0a00 0002        # tpa 10.0.0.2`;
const REQUEST_REPR: ArpPacket = { op: ARP_REQUEST, sha: '02:00:00:00:00:01', spa: '10.0.0.1', tha: '00:00:00:00:00:00', tpa: '10.0.0.2' };
const REPLY_FRAME = hex`
  0200 0000 0001  0200 0000 0002  0806   # Ethernet: to the requester, from us, ARP
  0001 0800 06 04 0002   # Ethernet/IPv4, op 2 (reply)
  0200 0000 0002 0a00 0002   # sha/spa: 02:00:00:00:00:02 is 10.0.0.2
  0200 0000 0001 0a00 0001   # tha/tpa: the requester`;
const ANNOUNCE_FRAME = hex`
  ffff ffff ffff  0200 0000 0002  0806   # Ethernet broadcast, ARP
  0001 0800 06 04 0001       # op 1 (request)
  0200 0000 0002 0a00 0002   # sha/spa
  0000 0000 0000 0a00 0002   # tha zero, tpa = spa (RFC 5227 §2.3)`;

const ERRORS: readonly ArpError[] = ['truncated', 'unsupported'];

function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('arp: parse a request (link padding after it ignored)', () => {
  assert.equal(parseArp(REQUEST), { ok: true, value: REQUEST_REPR });
  const padded = new Uint8Array(46);
  padded.set(REQUEST);
  assert.equal(parseArp(padded), { ok: true, value: REQUEST_REPR });
});

test('arp: emit reproduces the request byte for byte', () => {
  const out = new Uint8Array(arpBufferLen(REQUEST_REPR)).fill(0xa5);
  assert.is(emitArp(REQUEST_REPR, out), 28);
  assert.equal(out, REQUEST);
  assert.equal(arpRequest('02:00:00:00:00:01', '10.0.0.1', '10.0.0.2'), REQUEST_REPR);
});

test('arp: the reply to a request, as a whole frame', () => {
  const reply = arpReply(REQUEST_REPR, '02:00:00:00:00:02');
  assert.equal(reply, { op: ARP_REPLY, sha: '02:00:00:00:00:02', spa: '10.0.0.2', tha: '02:00:00:00:00:01', tpa: '10.0.0.1' });
  assert.equal(buildArpFrame(reply), REPLY_FRAME);
  assert.is(buildArpFrame(reply, 60).length, 60);
});

test('arp: gratuitous ARP (announcement)', () => {
  assert.equal(buildArpFrame(gratuitousArp('02:00:00:00:00:02', '10.0.0.2')), ANNOUNCE_FRAME);
});

test('arp: truncated, non-Ethernet/IPv4 and random inputs give typed errors', () => {
  for (let n = 0; n < 28; n++) assert.equal(parseArp(REQUEST.slice(0, n)), { ok: false, error: 'truncated' }, `length ${n}`);
  for (const [i, v] of [[1, 6], [3, 0xdd], [4, 8], [5, 16]] as const) {
    const b = REQUEST.slice();
    b[i] = v;
    assert.equal(parseArp(b), { ok: false, error: 'unsupported' }, `byte ${i}`);
  }
  const rnd = mulberry32(826);
  for (let i = 0; i < 1000; i++) {
    const b = REQUEST.slice(0, 1 + Math.floor(rnd() * 28));
    { const j = Math.floor(rnd() * b.length); b[j] = b[j]! ^ (1 << Math.floor(rnd() * 8)); }
    const r = parseArp(b);
    if (!r.ok) assert.ok(ERRORS.includes(r.error));
  }
  assert.throws(() => emitArp({ ...REQUEST_REPR, spa: '10.0.0.300' }, new Uint8Array(28)), /bad address/);
});

test.run();
