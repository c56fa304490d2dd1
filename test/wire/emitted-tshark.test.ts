// Issue #2: packets built by ferry's own emitters, written to pcap, pass tshark's check
// (PEERS.md §4: no malformed packet, every checksum verified good), and every fixture
// packet survives truncation and corruption as a typed error, never a throw.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodePcap, linkToIp, readCaptureFile, LINKTYPE } from '../../tun/pcap.ts';
import { decodePacket, encodePacket } from '../../stack/wire/packet.ts';
import { buildIp } from '../../stack/wire/ip.ts';
import { emitTcp, tcpBufferLen, tcpPseudoSum, buildTcpOptions, SYN, ACK, PSH, FIN, RST, type TcpSegment } from '../../stack/wire/tcp.ts';
import { emitUdp, udpBufferLen } from '../../stack/wire/udp.ts';
import { ipPseudoSum } from '../../stack/wire/ip.ts';
import {
  emitSctp, sctpBufferLen, dataChunk, initChunk, initAckChunk, sackChunk, heartbeatChunk, heartbeatAckChunk,
  heartbeatInfoParam, abortChunk, errorChunk, shutdownChunk, shutdownAckChunk, shutdownCompleteChunk, cookieEchoChunk,
  cookieAckChunk, forwardTsnChunk, ipAddressParam, stateCookieParam, supportedExtensionsParam, forwardTsnSupportedParam,
  invalidStreamCause, userInitiatedAbortCause, unrecognizedChunkCause, type SctpChunk,
} from '../../stack/wire/sctp.ts';
import { tsharkCheck } from '../helpers/tshark.ts';

const FIXTURES = fileURLToPath(new URL('../../fixtures/', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'ferry-emitted-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

function fixturePackets(): { name: string; ip: Uint8Array }[] {
  const out: { name: string; ip: Uint8Array }[] = [];
  for (const name of readdirSync(FIXTURES).filter((n) => /\.pcap(ng)?$/.test(n)).sort()) {
    const r = readCaptureFile(join(FIXTURES, name));
    if (!r.ok) throw new Error(`${name}: ${r.error}`);
    for (const p of r.value.packets) {
      const ip = linkToIp(p.linkType, p.data);
      if (ip.ok) out.push({ name, ip: ip.value.ip.slice() });
    }
  }
  return out;
}

function tcpPacket(src: string, dst: string, seg: Partial<TcpSegment>): Uint8Array {
  const s: TcpSegment = { srcPort: 40000, dstPort: 80, seq: 1000, ack: 0, flags: ACK, reserved: 0, window: 65535, urgent: 0, options: [], payload: new Uint8Array(0), ...seg };
  const b = new Uint8Array(tcpBufferLen(s));
  emitTcp(s, b, tcpPseudoSum(src, dst, b.length));
  return buildIp(src, dst, 6, b);
}

function sctpBytes(vtag: number, chunks: SctpChunk[]): Uint8Array {
  const pkt = { srcPort: 5000, dstPort: 7, verificationTag: vtag, chunks };
  const b = new Uint8Array(sctpBufferLen(pkt));
  emitSctp(pkt, b);
  return b;
}

function udpEncap(src: string, dst: string, inner: Uint8Array): Uint8Array {
  const d = { srcPort: 9899, dstPort: 9899, noChecksum: false, payload: inner };
  const b = new Uint8Array(udpBufferLen(d));
  emitUdp(d, b, ipPseudoSum(src, dst, 17, b.length));
  return buildIp(src, dst, 17, b);
}

function builtPackets(): Uint8Array[] {
  const pkts: Uint8Array[] = [];
  const data = new Uint8Array(1000).map((_, i) => i & 0xff);
  for (const [a, b] of [['10.88.0.2', '10.88.0.1'], ['fd00::2', 'fd00::1']] as const) {
    pkts.push(tcpPacket(a, b, { flags: SYN, options: buildTcpOptions({ mss: 1460, wscale: 7, sackPermitted: true, ts: { tsval: 1, tsecr: 0 } }) }));
    pkts.push(tcpPacket(b, a, { flags: SYN | ACK, ack: 1001, options: buildTcpOptions({ mss: 1460, wscale: 7, sackPermitted: true, ts: { tsval: 5, tsecr: 1 } }) }));
    pkts.push(tcpPacket(a, b, { flags: ACK | PSH, payload: data, options: buildTcpOptions({ ts: { tsval: 2, tsecr: 5 } }) }));
    pkts.push(tcpPacket(a, b, { flags: ACK, options: buildTcpOptions({ ts: { tsval: 3, tsecr: 5 }, sack: [{ left: 5000, right: 6000 }, { left: 7000, right: 8000 }, { left: 9000, right: 9500 }] }) }));
    pkts.push(tcpPacket(a, b, { flags: FIN | ACK }));
    pkts.push(tcpPacket(a, b, { flags: RST, window: 0 }));
    const chunks: SctpChunk[][] = [
      [initChunk({ initiateTag: 0x11223344, aRwnd: 131072, outboundStreams: 10, inboundStreams: 10, initialTsn: 7, params: [ipAddressParam(a), forwardTsnSupportedParam(), supportedExtensionsParam([0xc0])] })],
      [initAckChunk({ initiateTag: 0x55667788, aRwnd: 131072, outboundStreams: 10, inboundStreams: 10, initialTsn: 9, params: [stateCookieParam(new Uint8Array(48).fill(7))] })],
      [cookieEchoChunk(new Uint8Array(48).fill(7))], [cookieAckChunk()],
      [dataChunk({ tsn: 7, streamId: 1, ssn: 0, ppid: 51, userData: data.subarray(0, 333) }), sackChunk(9, 131072, [{ start: 2, end: 3 }], [8])],
      [heartbeatChunk(new Uint8Array(20).fill(1))], [heartbeatAckChunk([heartbeatInfoParam(new Uint8Array(20).fill(1))])],
      [forwardTsnChunk(12, [{ streamId: 1, ssn: 4 }])], [errorChunk([invalidStreamCause(9), unrecognizedChunkCause(new Uint8Array([0x7f, 0, 0, 4]))])],
      [shutdownChunk(12)], [shutdownAckChunk()], [shutdownCompleteChunk()], [abortChunk([userInitiatedAbortCause(new Uint8Array([1, 2, 3]))])],
    ];
    for (const c of chunks) {
      const s = sctpBytes(0x11223344, c);
      pkts.push(buildIp(a, b, 132, s));
      pkts.push(udpEncap(a, b, s));
    }
  }
  return pkts;
}

test('emitted: hand-built TCP and SCTP (raw and UDP-encapsulated) packets decode back to the same bytes', () => {
  for (const p of builtPackets()) {
    const d = decodePacket(p);
    assert.ok(d.ok, d.ok ? '' : d.error);
    if (d.ok) assert.equal(encodePacket(d.value), p);
  }
});

test('emitted: tshark finds nothing wrong with ferry-emitted packets (built, and every fixture re-encoded)', async () => {
  const reencoded = fixturePackets().map(({ ip }) => {
    const d = decodePacket(ip);
    if (!d.ok) throw new Error(d.error);
    return encodePacket(d.value);
  });
  const all = [...builtPackets(), ...reencoded];
  const f = join(tmp, 'emitted.pcap');
  writeFileSync(f, encodePcap(LINKTYPE.RAW, all.map((data, i) => ({ data, tsMs: i }))));
  const r = await tsharkCheck(f);
  assert.equal(r.problems, []);
  assert.ok(r.ok);
});

test('emitted: every truncation of every fixture packet is a typed error, never a throw', () => {
  let n = 0;
  for (const { name, ip } of fixturePackets()) {
    for (let len = 0; len < ip.length; len++) {
      const r = decodePacket(ip.subarray(0, len));
      assert.not.ok(r.ok, `${name}: ${len}/${ip.length} bytes accepted`);
      n++;
    }
  }
  assert.ok(n > 10000, `only ${n} truncations`);
});

test('emitted: random bit flips in fixture packets never throw and are mostly refused', () => {
  let s = 0x9e3779b9, refused = 0, total = 0;
  const next = () => { s ^= s << 13; s ^= s >>> 17; s ^= s << 5; return s >>> 0; };
  for (const { ip } of fixturePackets()) {
    for (let k = 0; k < 20; k++) {
      const c = ip.slice();
      const flips = 1 + (next() % 3);
      for (let f = 0; f < flips; f++) { const at = next() % c.length; c[at] = c[at]! ^ (1 << (next() % 8)); }
      const r = decodePacket(c);
      total++;
      if (!r.ok) refused++;
    }
  }
  // Checksums cover every byte except fields outside them (e.g. IPv6 flow label, IPv4 TTL, UDP 0-checksum), so nearly all flips are caught.
  assert.ok(refused / total > 0.9, `${refused}/${total} refused`);
});

test.run();
