// The IP level around the SCTP stack (stack/sctp/ip.ts): raw protocol 132 and RFC 6951 UDP
// encapsulation in, IP (and UDP) out, everything else ignored.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createSctpStack, defaultSctpStackConfig, sctpEventFromIp, sctpIpStep, sctpOutToIp } from '../../stack/sctp/api.ts';
import { buildIp, parseIp } from '../../stack/wire/ip.ts';
import { parseUdp } from '../../stack/wire/udp.ts';
import { ipPseudoSum } from '../../stack/wire/ip.ts';
import { emitSctp, initChunk, sctpBufferLen } from '../../stack/wire/sctp.ts';

const st = () => createSctpStack(defaultSctpStackConfig(['10.0.0.1', 'fd00::1']), new Uint8Array(32).fill(3), 0);
const initPkt = () => {
  const pkt = { srcPort: 4000, dstPort: 7, verificationTag: 0, chunks: [initChunk({ initiateTag: 5, aRwnd: 10000, outboundStreams: 1, inboundStreams: 1, initialTsn: 1 })] };
  const b = new Uint8Array(sctpBufferLen(pkt));
  emitSctp(pkt, b);
  return b;
};

test('raw IPv4 protocol 132 in, IP out: INIT gets an INIT ACK from the address it was sent to', () => {
  const s = st();
  sctpIpStep(s, { type: 'listen', port: 7, addresses: null, backlog: 1 }, 0);
  const r = sctpIpStep(s, { type: 'ip', data: buildIp('10.0.0.9', '10.0.0.1', 132, initPkt()) }, 0);
  assert.is(r.out.length, 1);
  const ip = parseIp(r.out[0]!);
  assert.ok(ip.ok);
  if (!ip.ok) return;
  assert.is(ip.value.protocol, 132);
  assert.is(ip.value.src, '10.0.0.1');
  assert.is(ip.value.dst, '10.0.0.9');
});

test('UDP encapsulation (RFC 6951) in and out over IPv6, with a valid UDP checksum', () => {
  const s = st();
  sctpIpStep(s, { type: 'listen', port: 7, addresses: null, backlog: 1 }, 0);
  const sctp = initPkt();
  const out = sctpOutToIp({ src: 'fd00::9', dst: 'fd00::1', sctp, encap: { srcPort: 5555, dstPort: 9899 } });
  const ev = sctpEventFromIp(s, out);
  assert.ok(ev !== null);
  assert.equal(ev!.encap, { srcPort: 5555, dstPort: 9899 });
  const r = sctpIpStep(s, { type: 'ip', data: out }, 0);
  assert.is(r.out.length, 1);
  const ip = parseIp(r.out[0]!);
  if (!ip.ok) throw new Error(ip.error);
  assert.is(ip.value.protocol, 17);
  const u = parseUdp(ip.value.payload, ipPseudoSum(ip.value.src, ip.value.dst, 17, ip.value.payload.length), 6);
  assert.ok(u.ok, 'checksum verifies');
  if (!u.ok) return;
  assert.is(u.value.srcPort, 9899);
  assert.is(u.value.dstPort, 5555);
});

test('not SCTP, UDP to another port, or not for us: ignored', () => {
  const s = st();
  assert.is(sctpEventFromIp(s, buildIp('10.0.0.9', '10.0.0.1', 6, new Uint8Array(20))), null);
  const udp = sctpOutToIp({ src: '10.0.0.9', dst: '10.0.0.1', sctp: initPkt(), encap: { srcPort: 5555, dstPort: 9900 } });
  assert.is(sctpEventFromIp(s, udp), null);
  const r = sctpIpStep(s, { type: 'ip', data: buildIp('10.0.0.9', '10.0.0.7', 132, initPkt()) }, 0);
  assert.is(r.out.length, 0);
  assert.is(s.counters['sctp-not-local'], 1);
});

test.run();
