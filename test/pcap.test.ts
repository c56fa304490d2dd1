// tun/pcap.ts and tun/pcap-writer.ts: the writer's files read back field for field; classic
// pcap in both byte orders, µs and ns; pcapng with every packet block kind, two sections of
// opposite byte order and both if_tsresol kinds; truncated and bit-flipped files give typed
// errors and never throw; linkToIp for every link type.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  LINKTYPE, encodePcap, encodePcapHeader, encodePcapRecord, linkToIp, msToSecNsec, packetMs, readCapture, readCaptureFile,
} from '../tun/pcap.ts';
import type { Capture, CaptureError } from '../tun/pcap.ts';
import { PcapWriter, tap } from '../tun/pcap-writer.ts';
import { hex } from './helpers/hex.ts';

const dir = mkdtempSync(join(tmpdir(), 'ferry-pcap-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** Unwrap a Parsed or fail the test with its error. */
function must<T>(r: { ok: true; value: T } | { ok: false; error: string }): T {
  if (!r.ok) throw new Error(`unexpected error ${r.error}`);
  return r.value;
}
const errorOf = (r: { ok: boolean; error?: string }): string | undefined => (r.ok ? undefined : r.error);

// ICMP echo request 10.0.0.1 → 10.0.0.2 (header checksum valid), 28 bytes.
const V4 = hex`
  4500 001c  0001 0000  4001 66dd   # v4 IHL 5, total 28, id 1, TTL 64, ICMP, checksum
  0a00 0001  0a00 0002              # src, dst
  0800 f7fe  0000 0001              # echo request id 0 seq 1`;
// ICMPv6 echo request ::1 → ::1 with 8 bytes of payload (payload length 8).
const V6 = hex`
  6000 0000  0008 3a40
  0000 0000 0000 0000 0000 0000 0000 0001
  0000 0000 0000 0000 0000 0000 0000 0001
  8000 7fbb  0000 0001`;

// ---------------------------------------------------------------------------------------
// Writer

test('encodePcapHeader: nanosecond magic, v2.4, snaplen, link type, little-endian', () => {
  assert.equal(encodePcapHeader(101), hex`
    4d3c b2a1  0200 0400   # magic a1b23c4d (LE), version 2.4
    0000 0000  0000 0000   # thiszone, sigfigs
    0000 0400  6500 0000   # snaplen 262144, LINKTYPE_RAW`);
  assert.equal(encodePcapHeader(1, 1500).subarray(16), hex`dc05 0000 0100 0000`);
});

test('encodePcapRecord: seconds and nanoseconds, incl/orig length, data cut to snaplen', () => {
  assert.equal(encodePcapRecord(3_000_000_007, hex`aabbcc`), hex`
    0300 0000  0700 0000  0300 0000  0300 0000  aabbcc`);
  assert.equal(encodePcapRecord(1.5e9, hex`aabbccdd`, 10, 2), hex`
    0100 0000  0065 cd1d  0200 0000  0a00 0000  aabb`);
  assert.equal(msToSecNsec(1234.5678), [1, 234_567_800]);
  assert.equal(msToSecNsec(-5), [0, 0]);
  assert.equal(msToSecNsec(999.9999999), [1, 0]);
});

test('PcapWriter: packets read back with link type, timestamps, lengths and bytes', () => {
  const path = join(dir, 'rt.pcap');
  const w = new PcapWriter(path);
  w.write(V4, 0);
  w.write(V6, 1.5); // virtual clock: 1.5 ms
  w.write(V4, 86_400_000 + 0.000_001); // one day and one nanosecond
  w.close();
  assert.is(w.packets, 3);
  assert.is(w.error, null);
  const cap = must(readCaptureFile(path));
  assert.is(cap.format, 'pcap');
  assert.equal(cap.packets.map((p) => [p.linkType, p.iface, p.tsSec, p.tsNsec, p.origLen]), [
    [101, 0, 0, 0, 28], [101, 0, 0, 1_500_000, 48], [101, 0, 86_400, 1, 28],
  ]);
  assert.equal(cap.packets.map((p) => new Uint8Array(p.data)), [V4, V6, V4]);
  assert.is(packetMs(cap.packets[1]!), 1.5);
});

test('PcapWriter: link type and snaplen options; long packets stored cut with their original length', () => {
  const path = join(dir, 'snap.pcap');
  const w = new PcapWriter(path, { linkType: LINKTYPE.IPV4, snaplen: 20 });
  w.write(V4, 7);
  w.close();
  const [p] = must(readCaptureFile(path)).packets;
  assert.is(p!.linkType, 228);
  assert.is(p!.origLen, 28);
  assert.equal(new Uint8Array(p!.data), V4.subarray(0, 20));
});

test('PcapWriter: buffers (no write until the buffer fills), keeps order across flushes and oversize packets', () => {
  const path = join(dir, 'buf.pcap');
  const w = new PcapWriter(path, { bufferBytes: 100 });
  w.write(V4, 1); // 24 + 44 = 68 bytes: still buffered
  assert.is(statSync(path).size, 0);
  const big = new Uint8Array(300).fill(7);
  for (let i = 2; i <= 9; i++) w.write(i === 5 ? big : V6, i); // forces flushes and one direct write
  assert.ok(statSync(path).size > 0);
  w.flush();
  const sizeAfterFlush = statSync(path).size;
  w.close();
  assert.is(statSync(path).size, sizeAfterFlush);
  const cap = must(readCaptureFile(path));
  assert.equal(cap.packets.map((p) => p.tsNsec / 1e6), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.equal(new Uint8Array(cap.packets[4]!.data), big);
  assert.equal(new Uint8Array(cap.packets[8]!.data), V6);
});

test('PcapWriter: an unwritable path is reported once and never throws; writes after close are dropped', () => {
  const seen: Error[] = [];
  const w = new PcapWriter(join(dir, 'no', 'such', 'dir.pcap'), { onError: (e) => seen.push(e) });
  w.write(V4, 1);
  w.write(V4, 2);
  w.close();
  assert.is(seen.length, 1);
  assert.match(seen[0]!.message, 'ENOENT');
  assert.is(w.error, seen[0]);
  assert.is(w.dropped, 2);
  assert.ok(w.closed);

  const ok = new PcapWriter(join(dir, 'closed.pcap'), { onError: () => assert.unreachable('no error expected') });
  ok.close();
  ok.write(V4, 1);
  ok.close(); // idempotent
  assert.is(ok.dropped, 1);
  assert.is(must(readCaptureFile(join(dir, 'closed.pcap'))).packets.length, 0);
});

test('PcapWriter: a throwing onError handler does not escape', () => {
  const w = new PcapWriter(join(dir, 'missing', 'x.pcap'), { onError: () => { throw new Error('handler'); } });
  w.write(V4, 1);
  assert.ok(w.error !== null);
});

test('tap(writer) records each packet at the link clock time it is given', () => {
  const path = join(dir, 'tap.pcap');
  const w = new PcapWriter(path);
  const t = tap(w);
  t(V6, 250);
  t(V4, 2500.25);
  w.close();
  assert.equal(must(readCaptureFile(path)).packets.map((p) => [p.tsSec, p.tsNsec]), [[0, 250_000_000], [2, 500_250_000]]);
});

test('encodePcap builds the same file as the writer', () => {
  const path = join(dir, 'same.pcap');
  const w = new PcapWriter(path);
  w.write(V4, 10);
  w.write(V6, 20.5);
  w.close();
  assert.equal(encodePcap(101, [{ data: V4, tsMs: 10 }, { data: V6, tsMs: 20.5 }]), new Uint8Array(readFileSync(path)));
});

// ---------------------------------------------------------------------------------------
// Classic pcap, hand-built

/** A classic pcap file with one record: byte order and timestamp unit chosen by the caller. */
function classic(le: boolean, nano: boolean, linkType: number, sec: number, frac: number, data: Uint8Array, origLen = data.length): Uint8Array {
  const out = new Uint8Array(24 + 16 + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, nano ? 0xa1b23c4d : 0xa1b2c3d4, le);
  dv.setUint16(4, 2, le); dv.setUint16(6, 4, le);
  dv.setUint32(16, 65535, le); dv.setUint32(20, linkType, le);
  dv.setUint32(24, sec, le); dv.setUint32(28, frac, le);
  dv.setUint32(32, data.length, le); dv.setUint32(36, origLen, le);
  out.set(data, 40);
  return out;
}

for (const le of [true, false]) {
  for (const nano of [false, true]) {
    test(`classic pcap, ${le ? 'little' : 'big'}-endian, ${nano ? 'nanosecond' : 'microsecond'} magic`, () => {
      const f = classic(le, nano, 1, 1_700_000_000, nano ? 123_456_789 : 123_456, V4, 60);
      const cap = must(readCapture(f));
      assert.is(cap.format, 'pcap');
      assert.is(cap.packets.length, 1);
      const p = cap.packets[0]!;
      assert.equal([p.linkType, p.iface, p.tsSec, p.tsNsec, p.origLen], [1, 0, 1_700_000_000, nano ? 123_456_789 : 123_456_000, 60]);
      assert.equal(new Uint8Array(p.data), V4);
    });
  }
}

test('classic pcap: the FCS bits of the link-type word are masked off; a header-only file has no packets', () => {
  const f = classic(true, false, 0x10000001, 0, 0, V4); // FCS present flag set (draft-ietf-opsawg-pcap §4)
  assert.is(must(readCapture(f)).packets[0]!.linkType, 1);
  assert.equal(must(readCapture(encodePcapHeader(101))), { format: 'pcap', packets: [] });
});

test('classic pcap: a µs fraction ≥ 1 s carries into the seconds', () => {
  const p = must(readCapture(classic(true, false, 101, 5, 2_500_000, V4))).packets[0]!;
  assert.equal([p.tsSec, p.tsNsec], [7, 500_000_000]);
});

// ---------------------------------------------------------------------------------------
// pcapng, hand-built

/** pcapng builder: blocks in one byte order; each block padded and framed by its length twice. */
class Ng {
  private parts: Uint8Array[] = [];
  constructor(private readonly le: boolean) {}
  block(type: number, body: Uint8Array): this {
    const padded = body.length + ((4 - (body.length % 4)) % 4);
    const out = new Uint8Array(12 + padded);
    const dv = new DataView(out.buffer);
    dv.setUint32(0, type, this.le);
    dv.setUint32(4, out.length, this.le);
    out.set(body, 8);
    dv.setUint32(out.length - 4, out.length, this.le);
    this.parts.push(out);
    return this;
  }
  words(spec: readonly (readonly [bytes: 1 | 2 | 4, value: number])[], tail: Uint8Array = new Uint8Array(0)): Uint8Array {
    const n = spec.reduce((a, [b]) => a + b, 0);
    const out = new Uint8Array(n + tail.length);
    const dv = new DataView(out.buffer);
    let o = 0;
    for (const [b, v] of spec) {
      if (b === 1) dv.setUint8(o, v); else if (b === 2) dv.setUint16(o, v, this.le); else dv.setUint32(o, v, this.le);
      o += b;
    }
    out.set(tail, n);
    return out;
  }
  shb(major = 1): this {
    // BOM, major, minor, section length -1 (unknown), no options
    return this.block(0x0a0d0d0a, this.words([[4, 0x1a2b3c4d], [2, major], [2, 0], [4, 0xffffffff], [4, 0xffffffff]]));
  }
  idb(linkType: number, snaplen: number, tsresol: number | null, tsoffset = 0): this {
    const opts: (readonly [1 | 2 | 4, number])[] = [];
    if (tsresol !== null) opts.push([2, 9], [2, 1], [1, tsresol], [1, 0], [2, 0]);
    if (tsoffset !== 0) opts.push([2, 14], [2, 8], ...(this.le ? [[4, tsoffset], [4, 0]] as const : [[4, 0], [4, tsoffset]] as const));
    if (opts.length > 0) opts.push([2, 0], [2, 0]); // opt_endofopt
    return this.block(1, this.words([[2, linkType], [2, 0], [4, snaplen], ...opts]));
  }
  epb(iface: number, ts: [hi: number, lo: number], data: Uint8Array, origLen = data.length): this {
    return this.block(6, this.words([[4, iface], [4, ts[0]], [4, ts[1]], [4, data.length], [4, origLen]], data));
  }
  opb(iface: number, ts: [hi: number, lo: number], data: Uint8Array): this {
    return this.block(2, this.words([[2, iface], [2, 0xffff], [4, ts[0]], [4, ts[1]], [4, data.length], [4, data.length]], data));
  }
  spb(data: Uint8Array, origLen = data.length): this {
    return this.block(3, this.words([[4, origLen]], data));
  }
  bytes(): Uint8Array {
    const n = this.parts.reduce((a, p) => a + p.length, 0);
    const out = new Uint8Array(n);
    let o = 0;
    for (const p of this.parts) { out.set(p, o); o += p.length; }
    return out;
  }
}

/** 2 sections: LE (Ethernet ns iface + raw µs iface, every packet block kind, an unknown block), BE (2^-10 s). */
function sampleNg(): Uint8Array {
  const eth = new Uint8Array([...hex`020000000002 020000000001 0800`, ...V4]);
  const ns = 1_700_000_000_123_456_789n; // 64-bit count of nanoseconds
  const a = new Ng(true).shb()
    .idb(LINKTYPE.EN10MB, 0, 9) // if_tsresol 9: 10^-9 s
    .epb(0, [Number(ns >> 32n), Number(ns & 0xffffffffn)], eth)
    .block(5, new Uint8Array(20)) // Interface Statistics Block: skipped
    .block(0x0bad, new Uint8Array(3)) // unknown, padded: skipped
    .idb(LINKTYPE.RAW, 0, null) // default 10^-6 s
    .epb(1, [0, 2_500_001], V6, 1000)
    .spb(eth) // iface 0, no timestamp
    .opb(1, [0, 7], V4)
    .bytes();
  const b = new Ng(false).shb()
    .idb(LINKTYPE.IPV4, 0, 0x8a, 100) // 2^-10 s, if_tsoffset 100 s
    .epb(0, [0, 1024 * 3 + 512], V4)
    .bytes();
  return new Uint8Array([...a, ...b]);
}

test('pcapng: EPB, SPB and OPB across interfaces and two sections of opposite byte order', () => {
  const cap = must(readCapture(sampleNg()));
  assert.is(cap.format, 'pcapng');
  assert.equal(cap.packets.map((p) => [p.linkType, p.iface, p.tsSec, p.tsNsec, p.origLen, p.data.length]), [
    [1, 0, 1_700_000_000, 123_456_789, 42, 42],
    [101, 1, 2, 500_001_000, 1000, 48],
    [1, 0, 0, 0, 42, 42],
    [101, 1, 0, 7000, 28, 28],
    [228, 0, 103, 500_000_000, 28, 28],
  ]);
  assert.equal(new Uint8Array(cap.packets[1]!.data), V6);
  assert.equal(new Uint8Array(cap.packets[4]!.data), V4);
});

test('pcapng: SPB captured length is capped by the original length and the interface snaplen', () => {
  const f = new Ng(true).shb().idb(LINKTYPE.RAW, 20, null).spb(V4).spb(V4.subarray(0, 26), 26).bytes();
  assert.equal(must(readCapture(f)).packets.map((p) => [p.origLen, p.data.length]), [[28, 20], [26, 20]]);
  const g = new Ng(true).shb().idb(LINKTYPE.RAW, 0, null).spb(new Uint8Array([...V4, 0, 0, 0, 0]), 30).bytes();
  assert.is(must(readCapture(g)).packets[0]!.data.length, 30);
});

test('pcapng: a section with an unknown major version is skipped up to the next section header', () => {
  const f = new Uint8Array([
    ...new Ng(true).shb(2).idb(LINKTYPE.RAW, 0, null).epb(0, [0, 1], V4).bytes(),
    ...new Ng(true).shb().idb(LINKTYPE.RAW, 0, null).epb(0, [0, 2], V6).bytes(),
  ]);
  const cap = must(readCapture(f));
  assert.is(cap.packets.length, 1);
  assert.equal(new Uint8Array(cap.packets[0]!.data), V6);
});

test('pcapng: typed errors for an undeclared interface, bad block framing and a bad byte-order magic', () => {
  assert.is(errorOf(readCapture(new Ng(true).shb().epb(0, [0, 0], V4).bytes())), 'bad-interface');
  assert.is(errorOf(readCapture(new Ng(true).shb().spb(V4).bytes())), 'bad-interface');
  const good = new Ng(true).shb().idb(LINKTYPE.RAW, 0, null).epb(0, [0, 0], V4).bytes();
  const trailer = good.slice();
  trailer[trailer.length - 4]! ^= 4; // trailer length differs from header length
  assert.is(errorOf(readCapture(trailer)), 'bad-block');
  const odd = good.slice();
  new DataView(odd.buffer).setUint32(28 + 4, 21, true); // IDB length not a multiple of 4
  assert.is(errorOf(readCapture(odd)), 'bad-block');
  const bom = good.slice();
  bom[8] = 0;
  assert.is(errorOf(readCapture(bom)), 'bad-magic');
  const opt = new Ng(true).shb().block(1, new Ng(true).words([[2, 101], [2, 0], [4, 0], [2, 9], [2, 40]])).bytes();
  assert.is(errorOf(readCapture(opt)), 'bad-option');
  assert.is(errorOf(readCapture(hex`00 01 02 03 04 05`)), 'bad-magic');
});

// ---------------------------------------------------------------------------------------
// Hostile input: every truncation, random bit flips

const ERRORS: readonly CaptureError[] = ['bad-magic', 'truncated', 'bad-block', 'bad-interface', 'bad-option'];

/** Byte offsets at which `full` can be cut and still be a valid (shorter) file. */
function boundaries(full: Uint8Array, cap: Capture): Set<number> {
  const ends = new Set<number>();
  if (cap.format === 'pcap') {
    let o = 24;
    ends.add(o);
    for (const p of cap.packets) { o += 16 + p.data.length; ends.add(o); }
  } else {
    // walk block lengths; the sample's sections are LE then BE
    let o = 0, le = true;
    while (o < full.length) {
      const dv = new DataView(full.buffer, full.byteOffset);
      if (dv.getUint32(o, true) === 0x0a0d0d0a) le = dv.getUint32(o + 8, true) === 0x1a2b3c4d;
      o += dv.getUint32(o + 4, le);
      ends.add(o);
    }
  }
  return ends;
}

for (const [name, file] of [
  ['classic pcap', encodePcap(101, [{ data: V4, tsMs: 1 }, { data: V6, tsMs: 2 }, { data: V4, tsMs: 3 }])],
  ['pcapng', sampleNg()],
] as const) {
  test(`${name}: every truncation is either a valid shorter file (at a record boundary) or 'truncated'`, () => {
    const full = must(readCapture(file));
    const ends = boundaries(file, full);
    for (let n = 0; n < file.length; n++) {
      const r = readCapture(file.slice(0, n));
      if (ends.has(n)) {
        assert.ok(r.ok, `cut at boundary ${n}: ${errorOf(r)}`);
      } else {
        assert.is(errorOf(r), 'truncated', `cut at ${n}`);
      }
    }
  });

  test(`${name}: 3000 random bit flips (seeded) never throw; results are typed errors or in-bounds packets`, () => {
    let seed = 0x9e3779b9;
    const rand = (): number => { // mulberry32
      seed = (seed + 0x6d2b79f5) >>> 0;
      let t = seed;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    let oks = 0, errs = 0;
    for (let i = 0; i < 3000; i++) {
      const f = file.slice();
      const flips = 1 + Math.floor(rand() * 3);
      for (let k = 0; k < flips; k++) f[Math.floor(rand() * f.length)]! ^= 1 << Math.floor(rand() * 8);
      const r = readCapture(f);
      if (!r.ok) { assert.ok(ERRORS.includes(r.error), r.error); errs++; continue; }
      oks++;
      for (const p of r.value.packets) {
        assert.is(p.data.buffer, f.buffer);
        assert.ok(p.data.byteOffset + p.data.length <= f.length);
        assert.ok(Number.isInteger(p.tsSec) && p.tsNsec >= 0 && p.tsNsec < 1e9);
        const ip = linkToIp(p.linkType, p.data); // must not throw either
        if (ip.ok) assert.ok(ip.value.ip.length <= p.data.length);
      }
    }
    assert.ok(oks > 0 && errs > 0, `both outcomes seen (${oks} ok, ${errs} errors)`);
  });
}

// ---------------------------------------------------------------------------------------
// linkToIp

const ipOf = (linkType: number, frame: Uint8Array): Uint8Array => new Uint8Array(must(linkToIp(linkType, frame)).ip);
const MACS = hex`020000000002 020000000001`;

test('linkToIp: RAW (101), IPV4 (228), IPV6 (229)', () => {
  assert.equal(ipOf(101, V4), V4);
  assert.equal(ipOf(101, V6), V6);
  assert.equal(ipOf(228, V4), V4);
  assert.equal(ipOf(229, V6), V6);
  assert.is(errorOf(linkToIp(228, V6)), 'bad-version');
  assert.is(errorOf(linkToIp(229, V4)), 'bad-version');
  assert.is(errorOf(linkToIp(101, hex`5000 0000`)), 'not-ip');
  assert.is(errorOf(linkToIp(101, new Uint8Array(0))), 'truncated');
});

test('linkToIp: EN10MB (1) with and without one 802.1Q tag; Ethernet padding trimmed', () => {
  assert.equal(ipOf(1, new Uint8Array([...MACS, 0x08, 0x00, ...V4])), V4);
  assert.equal(ipOf(1, new Uint8Array([...MACS, 0x86, 0xdd, ...V6])), V6);
  assert.equal(ipOf(1, new Uint8Array([...MACS, 0x81, 0x00, 0x00, 0x64, 0x08, 0x00, ...V4])), V4);
  assert.equal(ipOf(1, new Uint8Array([...MACS, 0x88, 0xa8, 0x00, 0x64, 0x86, 0xdd, ...V6])), V6);
  const padded = new Uint8Array(60); // minimum frame: 14 + 28 + 18 bytes of padding
  padded.set([...MACS, 0x08, 0x00, ...V4]);
  assert.equal(ipOf(1, padded), V4);
  assert.is(errorOf(linkToIp(1, new Uint8Array([...MACS, 0x08, 0x06, ...new Uint8Array(28)]))), 'not-ip'); // ARP
  assert.is(errorOf(linkToIp(1, new Uint8Array([...MACS, 0x00, 0x2e, ...new Uint8Array(46)]))), 'not-ip'); // 802.3 length
  assert.is(errorOf(linkToIp(1, new Uint8Array([...MACS, 0x08, 0x00, ...V6]))), 'bad-version');
  assert.is(errorOf(linkToIp(1, MACS)), 'truncated');
  assert.is(errorOf(linkToIp(1, new Uint8Array([...MACS, 0x81, 0x00, 0x00]))), 'truncated');
  assert.is(errorOf(linkToIp(1, new Uint8Array([...MACS, 0x08, 0x00]))), 'truncated');
});

test('linkToIp: trims to the declared IP length only when it is sane; IPv6 jumbograms keep everything', () => {
  const short = V4.slice(); short[3] = 10; // total length 10 < 20: not trusted, kept whole
  assert.equal(ipOf(101, short), short);
  const long = V4.slice(); long[3] = 200; // longer than captured (snaplen): kept as captured
  assert.equal(ipOf(101, long), long);
  const jumbo = new Uint8Array([...V6.slice(0, 4), 0, 0, ...V6.slice(6), 1, 2, 3]);
  assert.is(ipOf(101, jumbo).length, jumbo.length);
  assert.equal(ipOf(101, new Uint8Array([...V6, 9, 9])), V6);
});

test('linkToIp: LINUX_SLL (113) and LINUX_SLL2 (276)', () => {
  const sll = hex`0000 0001 0006 020000000001 0000 0800`; // incoming, ARPHRD_ETHER, 6-byte address, IPv4
  assert.equal(ipOf(113, new Uint8Array([...sll, ...V4])), V4);
  assert.is(errorOf(linkToIp(113, new Uint8Array([...sll.subarray(0, 14), 0x08, 0x06, ...new Uint8Array(28)]))), 'not-ip');
  assert.is(errorOf(linkToIp(113, sll.subarray(0, 15))), 'truncated');
  const sll2 = hex`86dd 0000 00000002 0001 04 06 020000000001 0000`; // IPv6, ifindex 2, outgoing
  assert.equal(ipOf(276, new Uint8Array([...sll2, ...V6])), V6);
  assert.is(errorOf(linkToIp(276, sll2.subarray(0, 19))), 'truncated');
});

test('linkToIp: NULL (0) in either host byte order, LOOP (108) big-endian, every AF_INET6 value', () => {
  assert.equal(ipOf(0, new Uint8Array([2, 0, 0, 0, ...V4])), V4); // little-endian host
  assert.equal(ipOf(0, new Uint8Array([0, 0, 0, 2, ...V4])), V4); // big-endian host
  for (const af6 of [24, 28, 30]) {
    assert.equal(ipOf(0, new Uint8Array([af6, 0, 0, 0, ...V6])), V6);
    assert.equal(ipOf(0, new Uint8Array([0, 0, 0, af6, ...V6])), V6);
  }
  assert.equal(ipOf(108, new Uint8Array([0, 0, 0, 2, ...V4])), V4);
  assert.is(errorOf(linkToIp(108, new Uint8Array([2, 0, 0, 0, ...V4]))), 'not-ip');
  assert.is(errorOf(linkToIp(0, new Uint8Array([7, 0, 0, 0, ...V4]))), 'not-ip');
  assert.is(errorOf(linkToIp(0, new Uint8Array([2, 0, 0, 0, ...V6]))), 'bad-version');
  assert.is(errorOf(linkToIp(0, new Uint8Array([2, 0, 0]))), 'truncated');
});

test('linkToIp: an unknown link type is a typed error', () => {
  assert.is(errorOf(linkToIp(147, V4)), 'unsupported-link');
});

test.run();
