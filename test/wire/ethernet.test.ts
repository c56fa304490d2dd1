import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { hex } from '../helpers/hex.ts';
import {
  ETHERTYPE_ARP, ETHERTYPE_IPV4, ETH_MIN_FRAME, buildEthernet, canonicalMac, emitEthernet, ethernetBufferLen,
  ipv6MulticastMac, isMulticastMac, macToString, parseEthernet, parseMac,
} from '../../stack/wire/ethernet.ts';
import type { EthernetError, EthernetFrame } from '../../stack/wire/ethernet.ts';

// Frames decoded by tshark as ARP request and 802.1Q/IPv4/UDP.
const ARP_BODY = hex`0001 0800 0604 0001 0200 0000 0001 0a00 0001 0000 0000 0000 0a00 0002`;
const ARP_FRAME = hex`
  ffff ffff ffff   # destination: broadcast
  0200 0000 0001   # source 02:00:00:00:00:01
  0806             # EtherType ARP
  ${ARP_BODY}
  0000 0000 0000 0000 0000 0000 0000 0000 0000   # padding to 60 bytes`;
const IP = hex`45b9 0021 1234 4000 4011 13dd 0a00 0001 0a00 0002 1388 1b58 000d 791f 68656c6c6f`;
const VLAN_FRAME = hex`
  0200 0000 0002   # destination 02:00:00:00:00:02
  0200 0000 0001   # source 02:00:00:00:00:01
  8100 a064        # 802.1Q tag: PCP 5, DEI 0, VID 100
  0800             # EtherType IPv4
  ${IP}`;
const VLAN_REPR: EthernetFrame = {
  dst: '02:00:00:00:00:02', src: '02:00:00:00:00:01', vlan: { pcp: 5, dei: false, vid: 100 }, ethertype: ETHERTYPE_IPV4, payload: IP,
};

const ERRORS: readonly EthernetError[] = ['truncated', 'not-ethernet-ii'];

function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('ethernet: parse an untagged frame (padding stays in the payload)', () => {
  assert.equal(parseEthernet(ARP_FRAME), {
    ok: true,
    value: { dst: 'ff:ff:ff:ff:ff:ff', src: '02:00:00:00:00:01', vlan: null, ethertype: ETHERTYPE_ARP, payload: ARP_FRAME.subarray(14) },
  });
});

test('ethernet: parse an 802.1Q-tagged frame', () => {
  assert.equal(parseEthernet(VLAN_FRAME), { ok: true, value: VLAN_REPR });
});

test('ethernet: emit reproduces both frames byte for byte', () => {
  const out = new Uint8Array(ethernetBufferLen(VLAN_REPR)).fill(0xa5);
  assert.is(emitEthernet(VLAN_REPR, out), VLAN_FRAME.length);
  assert.equal(out, VLAN_FRAME);
  const r = parseEthernet(ARP_FRAME);
  assert.ok(r.ok);
  if (!r.ok) return;
  const out2 = new Uint8Array(ethernetBufferLen(r.value)).fill(0xa5);
  emitEthernet(r.value, out2);
  assert.equal(out2, ARP_FRAME);
});

test('ethernet: buildEthernet pads to a minimum length on request', () => {
  assert.equal(buildEthernet('ff:ff:ff:ff:ff:ff', '02:00:00:00:00:01', ETHERTYPE_ARP, ARP_BODY, null, ETH_MIN_FRAME), ARP_FRAME);
  assert.is(buildEthernet('ff:ff:ff:ff:ff:ff', '02:00:00:00:00:01', ETHERTYPE_ARP, ARP_BODY).length, 42);
  assert.equal(buildEthernet(VLAN_REPR.dst, VLAN_REPR.src, ETHERTYPE_IPV4, IP, VLAN_REPR.vlan), VLAN_FRAME);
});

test('ethernet: truncated and 802.3-length frames are rejected with typed errors', () => {
  for (let n = 0; n < 14; n++) assert.equal(parseEthernet(ARP_FRAME.slice(0, n)), { ok: false, error: 'truncated' });
  for (let n = 14; n < 18; n++) assert.equal(parseEthernet(VLAN_FRAME.slice(0, n)), { ok: false, error: 'truncated' });
  const llc = ARP_FRAME.slice();
  llc[12] = 0x00; llc[13] = 0x2e; // Length 46: IEEE 802.3 + LLC
  assert.equal(parseEthernet(llc), { ok: false, error: 'not-ethernet-ii' });
  const rnd = mulberry32(802);
  for (let i = 0; i < 1000; i++) {
    const b = (i & 1 ? VLAN_FRAME : ARP_FRAME).slice(0, 10 + Math.floor(rnd() * 40));
    { const j = Math.floor(rnd() * b.length); b[j] = b[j]! ^ (1 << Math.floor(rnd() * 8)); }
    const r = parseEthernet(b);
    if (!r.ok) assert.ok(ERRORS.includes(r.error));
  }
});

test('ethernet: MAC text helpers', () => {
  assert.equal(parseMac('02:00:00:00:00:01'), hex`0200 0000 0001`);
  assert.is(parseMac('02:00:00:00:00'), null);
  assert.is(parseMac('02-00-00-00-00-01'), null);
  assert.is(parseMac('0g:00:00:00:00:01'), null);
  assert.is(canonicalMac('AA:BB:CC:DD:EE:FF'), 'aa:bb:cc:dd:ee:ff');
  assert.is(macToString(hex`00 0a0b 0c0d 0e0f`, 1), '0a:0b:0c:0d:0e:0f');
  assert.ok(isMulticastMac('ff:ff:ff:ff:ff:ff'));
  assert.ok(isMulticastMac('33:33:00:00:00:01'));
  assert.ok(!isMulticastMac('02:00:00:00:00:01'));
  assert.is(ipv6MulticastMac('ff02::1:ff00:2'), '33:33:ff:00:00:02');
  assert.throws(() => emitEthernet({ ...VLAN_REPR, src: 'nope' }, new Uint8Array(100)), /bad src/);
});

test.run();
