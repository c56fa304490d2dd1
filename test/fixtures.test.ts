// The recorded captures in fixtures/ (made by fixtures/record.sh, described in fixtures/README.md):
// every file reads, every packet converts to IP bytes and passes parseAny(); tshark, the
// independent judge, passes each one and catches checksums planted bad.
//
// parseAny() checks what the IP headers promise, then decodes every layer with the stack's
// parsers (stack/wire/packet.ts) and requires encode(decode(p)) to give p byte for byte.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LINKTYPE, encodePcap, linkToIp, readCaptureFile } from '../tun/pcap.ts';
import type { Capture } from '../tun/pcap.ts';
import { checksum } from '../stack/wire/checksum.ts';
import { decodePacket, encodePacket } from '../stack/wire/packet.ts';
import { tsharkCheck, tsharkCheckMany, tsharkFields } from './helpers/tshark.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'ferry-fixtures-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

/** Every capture record.sh writes: format, link type, and at least how many packets. */
const EXPECTED: Record<string, { format: Capture['format']; linkType: number; minPackets: number }> = {
  'tcp-http-v4.pcap': { format: 'pcap', linkType: LINKTYPE.EN10MB, minPackets: 20 },
  'tcp-http-v4-rawip.pcap': { format: 'pcap', linkType: LINKTYPE.RAW, minPackets: 20 },
  'tcp-http-v6.pcap': { format: 'pcap', linkType: LINKTYPE.EN10MB, minPackets: 10 },
  'tcp-sack-v4.pcap': { format: 'pcap', linkType: LINKTYPE.EN10MB, minPackets: 80 },
  'tcp-close-v4.pcap': { format: 'pcap', linkType: LINKTYPE.LINUX_SLL, minPackets: 9 },
  'tcp-rst.pcapng': { format: 'pcapng', linkType: LINKTYPE.LINUX_SLL2, minPackets: 4 },
  'icmp-ping-v4.pcap': { format: 'pcap', linkType: LINKTYPE.EN10MB, minPackets: 6 },
  'icmp-ping-v6.pcap': { format: 'pcap', linkType: LINKTYPE.EN10MB, minPackets: 6 },
  'icmp-frag-needed.pcap': { format: 'pcap', linkType: LINKTYPE.EN10MB, minPackets: 4 },
  'sctp-udp-v4.pcap': { format: 'pcap', linkType: LINKTYPE.EN10MB, minPackets: 10 },
  'sctp-raw-v4.pcap': { format: 'pcap', linkType: LINKTYPE.EN10MB, minPackets: 10 },
};

/** Check one IP packet; null when it is fine, else what is wrong. Extend with the stack's parsers. */
type ParseAny = (ip: Uint8Array) => string | null;

const ipSanity: ParseAny = (ip) => {
  const v = ip[0]! >> 4;
  const dv = new DataView(ip.buffer, ip.byteOffset, ip.byteLength);
  if (v === 4) {
    const ihl = (ip[0]! & 0x0f) * 4;
    if (ihl < 20 || ihl > ip.length) return `bad IHL ${ihl}`;
    if (dv.getUint16(2) !== ip.length) return `total length ${dv.getUint16(2)} ≠ ${ip.length} captured`;
    if (checksum(ip.subarray(0, ihl)) !== 0) return 'bad IPv4 header checksum'; // RFC 791 §3.1
    return null;
  }
  if (v === 6) {
    if (ip.length < 40) return 'short IPv6 header';
    if (40 + dv.getUint16(4) !== ip.length) return `payload length ${dv.getUint16(4)} ≠ ${ip.length - 40} captured`;
    return null;
  }
  return `IP version ${v}`;
};

/** The stack's own parsers: every layer decodes and re-encodes to the same bytes. */
const stackRoundTrip: ParseAny = (ip) => {
  const d = decodePacket(ip);
  if (!d.ok) return `decode failed: ${d.error}`;
  const back = encodePacket(d.value);
  if (back.length !== ip.length || back.some((b, i) => b !== ip[i])) return `re-encoded bytes differ (${d.value.transport.proto})`;
  return null;
};

const parseAny: ParseAny = (ip) => ipSanity(ip) ?? stackRoundTrip(ip);

/** The IP packets of a fixture (views into the file), failing the test on any error. */
function ipPackets(name: string): { ip: Uint8Array; tsSec: number; tsNsec: number }[] {
  const r = readCaptureFile(join(FIXTURES, name));
  if (!r.ok) throw new Error(`${name}: ${r.error}`);
  return r.value.packets.map((p, i) => {
    const ip = linkToIp(p.linkType, p.data);
    if (!ip.ok) throw new Error(`${name} packet ${i + 1}: ${ip.error}`);
    return { ip: ip.value.ip, tsSec: p.tsSec, tsNsec: p.tsNsec };
  });
}

test('fixtures: every expected capture is present, and every capture present is expected', () => {
  const present = readdirSync(FIXTURES).filter((f) => /\.pcap(ng)?$/.test(f)).sort();
  assert.equal(present, Object.keys(EXPECTED).sort());
});

for (const [name, want] of Object.entries(EXPECTED)) {
  test(`fixtures: ${name} reads (${want.format}, link type ${want.linkType}) and every packet is sound IP`, () => {
    const r = readCaptureFile(join(FIXTURES, name));
    if (!r.ok) throw new Error(`${name}: ${r.error}`);
    assert.is(r.value.format, want.format);
    assert.ok(r.value.packets.length >= want.minPackets, `${r.value.packets.length} packets`);
    for (const p of r.value.packets) {
      assert.is(p.linkType, want.linkType);
      assert.is(p.data.length, p.origLen, 'nothing cut by snaplen');
    }
    ipPackets(name).forEach(({ ip }, i) => {
      const problem = parseAny(ip);
      assert.is(problem, null, `${name} packet ${i + 1}: ${problem}`);
    });
  });
}

test('fixtures: the raw-IP copy holds exactly the IP packets and timestamps of its Ethernet original', () => {
  const eth = ipPackets('tcp-http-v4.pcap'), raw = ipPackets('tcp-http-v4-rawip.pcap');
  assert.is(raw.length, eth.length);
  raw.forEach((p, i) => {
    assert.equal(new Uint8Array(p.ip), new Uint8Array(eth[i]!.ip));
    assert.equal([p.tsSec, p.tsNsec], [eth[i]!.tsSec, eth[i]!.tsNsec]);
  });
});

test('fixtures: what each capture is for is in it (protocols and versions by first bytes)', () => {
  const protos = (name: string) => new Set(ipPackets(name).map(({ ip }) => (ip[0]! >> 4 === 4 ? `4/${ip[9]}` : `6/${ip[6]}`)));
  assert.ok(protos('tcp-http-v6.pcap').has('6/6'));
  assert.ok(protos('tcp-rst.pcapng').has('4/6') && protos('tcp-rst.pcapng').has('6/6'));
  assert.ok(protos('icmp-ping-v6.pcap').has('6/44'), 'an IPv6 fragment header');
  assert.ok(protos('icmp-frag-needed.pcap').has('4/1') && protos('icmp-frag-needed.pcap').has('6/58'));
  assert.ok(protos('sctp-raw-v4.pcap').has('4/132'));
  assert.ok(protos('sctp-udp-v4.pcap').has('4/17'));
  const v4frags = ipPackets('icmp-ping-v4.pcap').filter(({ ip }) => (ip[6]! & 0x20) !== 0); // MF set (RFC 791 §3.1)
  assert.ok(v4frags.length >= 2, 'IPv4 fragments');
});

// ---------------------------------------------------------------------------------------
// The tshark judge

test('tshark judge: every recorded fixture is clean (kernel and usrsctp checksums, offloads off)', async () => {
  // One tshark run over all of them; the raw-IP copy repeats tcp-http-v4's streams, so it is judged alone.
  const names = Object.keys(EXPECTED).filter((n) => n !== 'tcp-http-v4-rawip.pcap');
  const all = await tsharkCheckMany(names.map((n) => join(FIXTURES, n)));
  assert.equal(all.problems, []);
  assert.ok(all.ok);
  assert.equal(await tsharkCheck(join(FIXTURES, 'tcp-http-v4-rawip.pcap')), { ok: true, problems: [] });
});

test('tsharkCheckMany: a problem is named by file and frame within that file', async () => {
  const pkts = ipPackets('tcp-close-v4.pcap').map(({ ip }) => ip.slice());
  pkts[4]![10]! ^= 0x10; // IPv4 header checksum of frame 5
  const r = await tsharkCheckMany([join(FIXTURES, 'tcp-rst.pcapng'), rawPcap('planted.pcap', pkts), join(FIXTURES, 'icmp-ping-v4.pcap')]);
  assert.is(r.ok, false);
  assert.is(r.problems.length, 1);
  assert.match(r.problems[0]!, /^planted\.pcap frame 5: /);
});

/** A raw-IP pcap of `pkts` in tmp, returning its path. */
function rawPcap(file: string, pkts: readonly Uint8Array[]): string {
  const path = join(tmp, file);
  writeFileSync(path, encodePcap(LINKTYPE.RAW, pkts.map((data, i) => ({ data, tsMs: i }))));
  return path;
}

test('tshark judge: a clean raw-IP capture passes; one planted bad IPv4 header checksum fails', async () => {
  const pkts = ipPackets('tcp-http-v4.pcap').slice(0, 6).map(({ ip }) => ip.slice());
  const clean = await tsharkCheck(rawPcap('clean.pcap', pkts));
  assert.equal(clean, { ok: true, problems: [] });
  pkts[2]![11]! ^= 0x01; // IPv4 header checksum, low byte
  const bad = await tsharkCheck(rawPcap('bad-ip.pcap', pkts));
  assert.is(bad.ok, false);
  assert.is(bad.problems.length, 1);
  assert.match(bad.problems[0]!, /^frame 3: /);
});

test('tshark judge: a bad TCP checksum and a bad SCTP CRC32c are each caught', async () => {
  const tcp = ipPackets('tcp-http-v4.pcap').slice(0, 4).map(({ ip }) => ip.slice());
  tcp[1]![20 + 16]! ^= 0x80; // TCP checksum (IHL 5)
  const t = await tsharkCheck(rawPcap('bad-tcp.pcap', tcp));
  assert.is(t.ok, false);
  assert.match(t.problems.join('\n'), /^frame 2: /);
  const sctp = ipPackets('sctp-raw-v4.pcap').slice(0, 4).map(({ ip }) => ip.slice());
  assert.is(sctp[0]![9], 132);
  sctp[0]![20 + 8]! ^= 0x01; // SCTP common header checksum (RFC 9260 §3.1)
  const s = await tsharkCheck(rawPcap('bad-sctp.pcap', sctp));
  assert.is(s.ok, false);
  assert.match(s.problems.join('\n'), /^frame 1: /);
});

test('tshark judge: a capture cut mid-record fails instead of passing on what could be read', async () => {
  const pkts = ipPackets('tcp-close-v4.pcap').map(({ ip }) => ip.slice());
  const whole = encodePcap(LINKTYPE.RAW, pkts.map((data) => ({ data })));
  const path = join(tmp, 'cut.pcap');
  writeFileSync(path, whole.subarray(0, whole.length - 5));
  const r = await tsharkCheck(path);
  assert.is(r.ok, false);
  assert.match(r.problems.join('\n'), 'tshark: ');
});

test('tsharkFields: options of the kernel SYN (MSS, SACK-permitted, timestamps, window scale)', async () => {
  const rows = await tsharkFields(join(FIXTURES, 'tcp-http-v4.pcap'),
    ['tcp.srcport', 'tcp.options.mss_val', 'tcp.options.wscale.shift', 'tcp.option_kind'], 'tcp.flags.syn == 1 && tcp.flags.ack == 0');
  assert.is(rows.length, 1);
  const [, mss, shift, kinds] = rows[0]!;
  assert.is(mss, '1460');
  assert.ok(Number(shift) > 0, `window scale shift ${shift}`);
  assert.equal(kinds!.split(',').map(Number).filter((k) => k !== 1).sort(), [2, 3, 4, 8]); // MSS WS SACK-perm TS, NOPs aside
  const sacks = await tsharkFields(join(FIXTURES, 'tcp-sack-v4.pcap'), ['tcp.options.sack_le', 'tcp.options.sack_re'], 'tcp.options.sack_le');
  assert.ok(sacks.length > 0, 'SACK blocks in the loss capture');
  const empty = await tsharkFields(join(FIXTURES, 'tcp-close-v4.pcap'), ['tcp.options.sack_le'], '!tcp.options.sack_le');
  assert.ok(empty.length > 0 && empty.every((r) => r.length === 1 && r[0] === ''), 'absent fields are empty strings, rows kept');
});

test('tsharkCheck: without tshark on PATH it throws naming the package', async () => {
  const saved = process.env['PATH'];
  process.env['PATH'] = join(tmp, 'empty-bin');
  try {
    await tsharkCheck(join(FIXTURES, 'tcp-rst.pcapng')).then(
      () => assert.unreachable('should have thrown'),
      (e: Error) => assert.is(e.message, 'tshark missing: apt-get install tshark'),
    );
  } finally {
    process.env['PATH'] = saved;
  }
});

test.run();
