// The packet fuzzer's generators (migrate/fuzz-packets-gen.ts): deterministic per seed, checksums
// valid where claimed (judged by tshark, PEERS.md §4), live-tuple forgeries within the rule that
// keeps the transfers' byte-exact check meaningful.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GENERATORS, generate, safeLiveTcp, type FuzzPacket, type GenName, type LiveTcp, type Targets } from '../migrate/fuzz-packets-gen.ts';
import { fixturePackets } from '../migrate/fuzz-packets.ts';
import { parseIp } from '../stack/wire/ip.ts';
import { parseTcp, tcpOptionsInfo } from '../stack/wire/tcp.ts';
import { prngInit } from '../tun/prng.ts';
import { encodePcap, LINKTYPE } from '../tun/pcap.ts';
import { tsharkFields } from './helpers/tshark.ts';

const TRUTH = new Uint8Array(70000).map((_, i) => (i * 31 + 7) & 0xff);
const live: LiveTcp = {
  local: '10.9.0.1', localPort: 80, remote: '10.9.0.2', remotePort: 40000,
  irs: 0xfffff000, rcvNxt: 0x00001000, rcvWnd: 65535, sndUna: 0x7ffffff0, sndNxt: 0x80010000, maxSndWnd: 200000,
  tsOk: true, tsRecent: 0xfffffff0, sackOk: true,
  truth: (off, len) => (off + len <= 60000 ? TRUTH.subarray(off, off + len) : null),
};
const targets = (): Targets => ({
  hostV4: '10.9.0.1', hostV6: 'fd09::1', peerV4: '10.9.0.2', peerV6: 'fd09::2',
  tcpPorts: [80, 82], sctpPorts: [5000], closedPort: 9, encapPort: 9899,
  tcp: [live, { ...live, local: 'fd09::1', remote: 'fd09::2', localPort: 82, tsOk: false }],
  sctp: [
    { local: '10.9.0.1', localPort: 5000, remote: '10.9.0.2', remotePort: 33000, myVtag: 0x11111111, peerVtag: 0x22222222, cumTsn: 0xfffffffe, nextTsn: 5, cumAck: 1, encap: null },
    { local: '10.9.0.1', localPort: 5000, remote: '10.9.0.2', remotePort: 33001, myVtag: 0x33333333, peerVtag: 0x44444444, cumTsn: 100, nextTsn: 200, cumAck: 150, encap: 9899 },
  ],
  fixtures: fixturePackets(),
});

function draw(seed: number, n: number, gens: readonly GenName[] = GENERATORS): FuzzPacket[] {
  const r = prngInit(seed), t = targets(), out: FuzzPacket[] = [];
  for (let i = 0; i < n; i++) out.push(generate(gens[i % gens.length]!, r, t));
  return out;
}

test('generators: the same seed gives the same packets; another seed, others', () => {
  const a = draw(7, 3000), b = draw(7, 3000), c = draw(8, 3000);
  assert.equal(a.map((p) => p.data), b.map((p) => p.data));
  assert.equal(a.map((p) => p.what), b.map((p) => p.what));
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i]!.data.length === c[i]!.data.length && a[i]!.data.every((x, k) => x === c[i]!.data[k])) same++;
  assert.ok(same < a.length / 10, `${same} of ${a.length} packets equal across seeds`);
});

test('generators: fixtures are read, and random packets cover lengths 0..2000', () => {
  assert.ok(targets().fixtures.length >= 20, `${targets().fixtures.length} fixture packets`);
  const lens = draw(3, 4000, ['random']).map((p) => p.data.length);
  assert.ok(Math.min(...lens) < 20 && Math.max(...lens) > 1900, `${Math.min(...lens)}..${Math.max(...lens)}`);
});

test('tcp-live: every forged segment on a live 4-tuple is one the transfers survive (safeLiveTcp), edges included', () => {
  const pkts = draw(11, 6000, ['tcp-live']);
  let atEdge = 0, withData = 0;
  for (const p of pkts) {
    const ip = parseIp(p.data);
    assert.ok(ip.ok, p.what);
    if (!ip.ok) continue;
    const c = ip.value.dst === live.local ? live : { ...live, local: 'fd09::1', remote: 'fd09::2', localPort: 82, tsOk: false };
    const seg = parseTcp(ip.value.payload, null);
    // Raw option bytes (lengths 0, 1, overlong) go only to the connection without timestamps: dropped by the parser.
    if (!seg.ok) { assert.is(seg.error, 'bad-option', p.what); assert.is(c.tsOk, false); continue; }
    const ts = tcpOptionsInfo(seg.value.options).ts;
    assert.ok(safeLiveTcp(c, seg.value, ts === null ? null : ts.tsval), `${p.what}`);
    if (seg.value.seq === ((c.rcvNxt - 1) >>> 0) || seg.value.seq === ((c.rcvNxt + c.rcvWnd) >>> 0)) atEdge++;
    if (seg.value.payload.length > 0) withData++;
  }
  assert.ok(atEdge > 500 && withData > 500, `edges ${atEdge}, with data ${withData}`);
});

test('safeLiveTcp: refuses the forgeries RFC 5961 lets through', () => {
  const base = { srcPort: 40000, dstPort: 80, reserved: 0, window: 1000, urgent: 0, options: [], payload: new Uint8Array(0) };
  // RST at exactly RCV.NXT (RFC 5961 §3.2 accepts it), an ACK of data in flight, an in-window FIN, a TSval ahead of TS.Recent.
  assert.not.ok(safeLiveTcp(live, { ...base, seq: live.rcvNxt, ack: 0, flags: 0x04 }, null));
  assert.not.ok(safeLiveTcp(live, { ...base, seq: live.rcvNxt, ack: (live.sndUna + 1) >>> 0, flags: 0x10 }, live.tsRecent));
  assert.not.ok(safeLiveTcp(live, { ...base, seq: live.rcvNxt, ack: live.sndUna, flags: 0x11 }, live.tsRecent));
  assert.not.ok(safeLiveTcp(live, { ...base, seq: live.rcvNxt, ack: live.sndUna, flags: 0x10 }, (live.tsRecent + 5) >>> 0));
  // Wrong bytes in window: refused; the real stream's bytes: allowed.
  const off = (live.rcvNxt - live.irs - 1) >>> 0;
  assert.not.ok(safeLiveTcp(live, { ...base, seq: live.rcvNxt, ack: live.sndUna, flags: 0x10, payload: new Uint8Array(10) }, live.tsRecent));
  assert.ok(safeLiveTcp(live, { ...base, seq: live.rcvNxt, ack: live.sndUna, flags: 0x10, payload: TRUTH.slice(off, off + 10) }, live.tsRecent));
  // Outside the RFC 5961 §5.2 ACK range anything goes (challenge ACK), a future TSval too.
  assert.ok(safeLiveTcp(live, { ...base, seq: live.rcvNxt, ack: (live.sndNxt + 1) >>> 0, flags: 0x11, payload: new Uint8Array(10) }, (live.tsRecent + 5) >>> 0));
});

test('structure-aware generators: checksums tshark verifies are good (IP, TCP, UDP, SCTP CRC32c, ICMP)', async () => {
  const gens: GenName[] = ['tcp', 'tcp-live', 'sctp', 'sctp-live', 'udp-encap', 'icmp', 'frag'];
  // Packets whose lengths are consistent (a lying IP or UDP length makes tshark checksum other bytes).
  const sample = draw(21, 2800, gens).filter((p) => p.valid && !/udp-len|quote random|truncated/.test(p.what));
  assert.ok(sample.length > 2000, `${sample.length} packets`);
  const dir = mkdtempSync(join(tmpdir(), 'fx-gen-'));
  try {
    const file = join(dir, 'gen.pcap');
    writeFileSync(file, encodePcap(LINKTYPE.RAW, sample.map((p, i) => ({ data: p.data, tsMs: i }))));
    const fields = ['ip.checksum.status', 'tcp.checksum.status', 'udp.checksum.status', 'sctp.checksum.status', 'icmp.checksum.status', 'icmpv6.checksum.status'];
    const rows = await tsharkFields(file, fields);
    assert.is(rows.length, sample.length);
    const good: Record<string, number> = {};
    const bad: string[] = [];
    rows.forEach((row, i) => row.forEach((v, k) => {
      // A fragment claims a valid IP header only (tshark reassembles pieces of unrelated packets that share an ident).
      if (sample[i]!.gen === 'frag' && k > 0) return;
      // In an ICMP error the transport header is the quoted one (often cut short): only IP and ICMP are this packet's.
      if (sample[i]!.gen === 'icmp' && k > 0 && k < 4) return;
      const first = v.split(',')[0]!; // the outer header (a quoted packet inside ICMP comes after)
      if (first === '1') good[fields[k]!] = (good[fields[k]!] ?? 0) + 1;
      if (first === '0') bad.push(`#${i} ${sample[i]!.gen} ${sample[i]!.what}: ${fields[k]} bad`);
    }));
    assert.equal(bad.slice(0, 10), []);
    for (const f of ['ip.checksum.status', 'tcp.checksum.status', 'udp.checksum.status', 'sctp.checksum.status', 'icmp.checksum.status', 'icmpv6.checksum.status']) {
      assert.ok((good[f] ?? 0) > 50, `${f}: only ${good[f] ?? 0} verified good (${JSON.stringify(good)})`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
