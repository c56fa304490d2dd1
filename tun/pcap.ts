// Capture files, byte level: read classic pcap and pcapng, write classic pcap, and strip a
// link-layer header down to the IP packet. Pure functions over Uint8Array, plus readCaptureFile
// (the one read from disk); the file-backed writer is tun/pcap-writer.ts. Untrusted files never
// throw: Parsed<T>.
//
// Formats: classic pcap as in draft-ietf-opsawg-pcap (libpcap's savefile.c), pcapng as in
// draft-ietf-opsawg-pcapng; link-type numbers from the tcpdump.org LINKTYPE_ registry.
import { readFileSync } from 'node:fs';
import { err, ok, view } from '../stack/wire/bytes.ts';
import type { Parsed } from '../stack/wire/bytes.ts';

/** LINKTYPE_ numbers (tcpdump.org/linktypes.html) that linkToIp understands. */
export const LINKTYPE = {
  NULL: 0, // BSD loopback: 4-byte address family in the capturing host's byte order
  EN10MB: 1, // Ethernet II
  RAW: 101, // raw IPv4 or IPv6, version from the first nibble
  LOOP: 108, // OpenBSD loopback: like NULL but the family is big-endian
  LINUX_SLL: 113, // Linux "cooked" capture v1 (16-byte header)
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276, // Linux "cooked" capture v2 (20-byte header)
} as const;

/** One captured packet. The timestamp is split so nanosecond epoch times stay exact (2^53 ns is only 104 days). */
export interface CapturedPacket {
  readonly linkType: number;
  /** Interface index within its pcapng section (always 0 for classic pcap). */
  readonly iface: number;
  /** Whole seconds since the epoch (or since the writer's clock origin). */
  readonly tsSec: number;
  /** Nanoseconds within the second, 0..999_999_999. */
  readonly tsNsec: number;
  /** Length of the packet on the wire; more than data.length when the capture truncated it. */
  readonly origLen: number;
  /** Captured bytes: a view into the file buffer (copy with .slice() to keep it). */
  readonly data: Uint8Array;
}

/** A whole capture file. */
export interface Capture {
  readonly format: 'pcap' | 'pcapng';
  readonly packets: readonly CapturedPacket[];
}

/** Why a capture file was rejected. */
export type CaptureError =
  | 'bad-magic' // neither a classic pcap nor a pcapng section header
  | 'truncated' // a header, record or block runs past the end of the file
  | 'bad-block' // pcapng block length < 12, not a multiple of 4, or trailer ≠ header
  | 'bad-interface' // a pcapng packet names an interface its section never described
  | 'bad-option'; // a pcapng option runs past its block

/** Milliseconds as one float (loses sub-µs precision for epoch times; fine for display and deltas). */
export const packetMs = (p: Pick<CapturedPacket, 'tsSec' | 'tsNsec'>): number => p.tsSec * 1000 + p.tsNsec / 1e6;

// ---------------------------------------------------------------------------------------
// Reading

const PCAP_MAGIC_US = 0xa1b2c3d4; // microsecond timestamps
const PCAP_MAGIC_NS = 0xa1b23c4d; // nanosecond timestamps
const PCAP_HEADER_LEN = 24;
const PCAP_RECORD_LEN = 16;
const NG_SHB = 0x0a0d0d0a; // palindromic: readable before the byte order is known
const NG_BOM = 0x1a2b3c4d;
const NG_IDB = 1;
const NG_OPB = 2; // obsolete Packet Block
const NG_SPB = 3;
const NG_EPB = 6;
const OPT_END = 0;
const OPT_IF_TSRESOL = 9;
const OPT_IF_TSOFFSET = 14;

/** Read a classic pcap or pcapng file (any byte order, µs or ns, any number of pcapng sections). */
export function readCapture(bytes: Uint8Array): Parsed<Capture, CaptureError> {
  if (bytes.length < 4) return err('truncated');
  const dv = view(bytes);
  const be = dv.getUint32(0, false);
  if (be === NG_SHB) return readPcapng(bytes, dv);
  for (const le of [false, true]) {
    const m = dv.getUint32(0, le);
    if (m === PCAP_MAGIC_US || m === PCAP_MAGIC_NS) return readPcap(bytes, dv, le, m === PCAP_MAGIC_NS);
  }
  return err('bad-magic');
}

/** readCapture of a file's bytes; 'io' when the file cannot be read (missing, a directory, …). */
export function readCaptureFile(path: string): Parsed<Capture, CaptureError | 'io'> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(path));
  } catch {
    return err('io');
  }
  return readCapture(bytes);
}

function readPcap(bytes: Uint8Array, dv: DataView, le: boolean, nano: boolean): Parsed<Capture, CaptureError> {
  if (bytes.length < PCAP_HEADER_LEN) return err('truncated');
  // Header: magic, version 2.4, thiszone, sigfigs, snaplen, then the link type. The upper
  // bits of the link-type word carry an FCS length (draft-ietf-opsawg-pcap §4): mask them.
  const linkType = dv.getUint32(20, le) & 0x0fffffff;
  const packets: CapturedPacket[] = [];
  let o = PCAP_HEADER_LEN;
  while (o < bytes.length) {
    if (o + PCAP_RECORD_LEN > bytes.length) return err('truncated');
    const sec = dv.getUint32(o, le), frac = dv.getUint32(o + 4, le);
    const inclLen = dv.getUint32(o + 8, le), origLen = dv.getUint32(o + 12, le);
    const start = o + PCAP_RECORD_LEN;
    if (inclLen > bytes.length - start) return err('truncated');
    // A sub-second field out of range (≥ 1 s) is carried into the seconds, as libpcap would print it.
    const ns = nano ? frac : frac * 1000;
    packets.push({
      linkType, iface: 0, tsSec: sec + Math.floor(ns / 1e9), tsNsec: ns % 1e9, origLen,
      data: bytes.subarray(start, start + inclLen),
    });
    o = start + inclLen;
  }
  return ok({ format: 'pcap', packets });
}

/** An interface of the current pcapng section: link type and timestamp units. */
interface NgIface { linkType: number; snaplen: number; unitsPerSec: bigint; decimal: boolean; offsetSec: number }

function readPcapng(bytes: Uint8Array, dv: DataView): Parsed<Capture, CaptureError> {
  const packets: CapturedPacket[] = [];
  let le = true;
  let ifaces: NgIface[] = [];
  let skipSection = false;
  let o = 0;
  while (o < bytes.length) {
    if (bytes.length - o < 12) return err('truncated');
    const type = dv.getUint32(o, le);
    if (dv.getUint32(o, true) === NG_SHB) {
      // Section Header Block: the byte-order magic decides how to read everything in the section,
      // including this block's own length (pcapng §4.1).
      const bom = dv.getUint32(o + 8, true);
      if (bom === NG_BOM) le = true;
      else if (dv.getUint32(o + 8, false) === NG_BOM) le = false;
      else return err('bad-magic');
      ifaces = [];
      const len = blockLen(bytes, dv, o, le);
      if (typeof len === 'string') return err(len);
      if (len < 28) return err('bad-block');
      // "In case an application cannot read a Section because of different version number,
      // it must skip everything until the next Section Header Block" (pcapng §4.1).
      skipSection = dv.getUint16(o + 12, le) !== 1;
      o += len;
      continue;
    }
    const len = blockLen(bytes, dv, o, le);
    if (typeof len === 'string') return err(len);
    if (skipSection) { o += len; continue; }
    const body = o + 8, bodyEnd = o + len - 4;
    if (type === NG_IDB) {
      if (bodyEnd - body < 8) return err('bad-block');
      const iface: NgIface = {
        linkType: dv.getUint16(body, le), snaplen: dv.getUint32(body + 4, le),
        unitsPerSec: 1_000_000n, decimal: true, offsetSec: 0,
      };
      const opts = readOptions(dv, body + 8, bodyEnd, le, (code, at, n) => {
        if (code === OPT_IF_TSRESOL && n >= 1) {
          // if_tsresol: MSB clear → 10^-v seconds, MSB set → 2^-(v & 0x7f) seconds (§4.2).
          const v = dv.getUint8(at);
          iface.decimal = (v & 0x80) === 0;
          iface.unitsPerSec = iface.decimal ? 10n ** BigInt(v & 0x7f) : 1n << BigInt(v & 0x7f);
        } else if (code === OPT_IF_TSOFFSET && n >= 8) {
          iface.offsetSec = Number(dv.getBigInt64(at, le));
        }
      });
      if (opts !== null) return err(opts);
      ifaces.push(iface);
    } else if (type === NG_EPB || type === NG_OPB) {
      if (bodyEnd - body < 20) return err('bad-block');
      // EPB: interface u32; OPB: interface u16 + drops u16. Then ts high, ts low, caplen, origlen.
      const id = type === NG_EPB ? dv.getUint32(body, le) : dv.getUint16(body, le);
      const iface = ifaces[id];
      if (iface === undefined) return err('bad-interface');
      const capLen = dv.getUint32(body + 12, le), origLen = dv.getUint32(body + 16, le);
      const start = body + 20;
      if (capLen > bodyEnd - start) return err('bad-block');
      const [tsSec, tsNsec] = ngTime(iface, dv.getUint32(body + 4, le), dv.getUint32(body + 8, le));
      packets.push({ linkType: iface.linkType, iface: id, tsSec, tsNsec, origLen, data: bytes.subarray(start, start + capLen) });
    } else if (type === NG_SPB) {
      // Simple Packet Block: interface 0, no timestamp; captured length is what fits, capped by
      // the original length and the interface's snaplen (§4.4).
      const iface = ifaces[0];
      if (iface === undefined) return err('bad-interface');
      if (bodyEnd - body < 4) return err('bad-block');
      const origLen = dv.getUint32(body, le);
      let capLen = Math.min(origLen, bodyEnd - body - 4);
      if (iface.snaplen > 0) capLen = Math.min(capLen, iface.snaplen);
      packets.push({ linkType: iface.linkType, iface: 0, tsSec: 0, tsNsec: 0, origLen, data: bytes.subarray(body + 4, body + 4 + capLen) });
    }
    // Any other block type (statistics, name resolution, custom, DSB, …) is skipped.
    o += len;
  }
  return ok({ format: 'pcapng', packets });
}

/** Length of the block at `o`, checked against the file and its trailer copy; or an error. */
function blockLen(bytes: Uint8Array, dv: DataView, o: number, le: boolean): number | CaptureError {
  const len = dv.getUint32(o + 4, le);
  if (len < 12 || len % 4 !== 0) return 'bad-block';
  if (len > bytes.length - o) return 'truncated';
  if (dv.getUint32(o + len - 4, le) !== len) return 'bad-block';
  return len;
}

/** Walk options in [at, end): code u16, length u16, value padded to 4 (§3.5). Null on success. */
function readOptions(
  dv: DataView, at: number, end: number, le: boolean,
  each: (code: number, valueAt: number, valueLen: number) => void,
): CaptureError | null {
  while (at + 4 <= end) {
    const code = dv.getUint16(at, le), n = dv.getUint16(at + 2, le);
    if (code === OPT_END) return null;
    if (at + 4 + n > end) return 'bad-option';
    each(code, at + 4, n);
    at += 4 + n + ((4 - (n % 4)) % 4);
  }
  return null;
}

/** A 64-bit pcapng timestamp in the interface's units → [seconds, nanoseconds]. */
function ngTime(iface: NgIface, hi: number, lo: number): [number, number] {
  // BigInt only here: a 64-bit count of e.g. nanoseconds does not fit a double exactly.
  const units = (BigInt(hi) << 32n) | BigInt(lo);
  const sec = units / iface.unitsPerSec, rem = units % iface.unitsPerSec;
  const nsec = (rem * 1_000_000_000n) / iface.unitsPerSec;
  return [Number(sec) + iface.offsetSec, Number(nsec)];
}

// ---------------------------------------------------------------------------------------
// Writing (classic pcap, little-endian, nanosecond magic 0xa1b23c4d)
//
// Why nanoseconds: the stack's clock is a float of milliseconds (virtual clocks in tests step
// by fractions), and µs would round it; tshark, tcpdump and libpcap ≥ 1.5 read it natively.
// Little-endian because that is the host order of every machine this runs on; readers swap.

/** Default snaplen: libpcap's MAXIMUM_SNAPLEN. */
export const DEFAULT_SNAPLEN = 262144;

/** The 24-byte classic pcap file header (version 2.4, nanosecond timestamps, little-endian). */
export function encodePcapHeader(linkType: number, snaplen = DEFAULT_SNAPLEN): Uint8Array {
  const out = new Uint8Array(PCAP_HEADER_LEN);
  const dv = view(out);
  dv.setUint32(0, PCAP_MAGIC_NS, true);
  dv.setUint16(4, 2, true);
  dv.setUint16(6, 4, true);
  // thiszone 0, sigfigs 0 (draft-ietf-opsawg-pcap §4: both SHOULD be zero)
  dv.setUint32(16, snaplen >>> 0, true);
  dv.setUint32(20, linkType >>> 0, true);
  return out;
}

/** Bytes a record for `data` takes under `snaplen`. */
export const pcapRecordLen = (data: Uint8Array, snaplen = DEFAULT_SNAPLEN): number =>
  PCAP_RECORD_LEN + Math.min(data.length, snaplen);

/**
 * Write one record (16-byte header + data cut to snaplen) at `out[off]`; returns the new offset.
 * `sec`/`nsec` is the timestamp; `origLen` defaults to data.length.
 */
export function writePcapRecord(
  out: Uint8Array, off: number, sec: number, nsec: number, data: Uint8Array,
  origLen = data.length, snaplen = DEFAULT_SNAPLEN,
): number {
  const incl = Math.min(data.length, snaplen);
  if (out.length - off < PCAP_RECORD_LEN + incl) throw new RangeError(`pcap record: output buffer too small`);
  const dv = view(out);
  dv.setUint32(off, sec >>> 0, true);
  dv.setUint32(off + 4, nsec >>> 0, true);
  dv.setUint32(off + 8, incl, true);
  dv.setUint32(off + 12, origLen >>> 0, true);
  out.set(incl === data.length ? data : data.subarray(0, incl), off + PCAP_RECORD_LEN);
  return off + PCAP_RECORD_LEN + incl;
}

/** Split a non-negative time in milliseconds into [seconds, nanoseconds] (negative → 0). */
export function msToSecNsec(ms: number): [number, number] {
  if (!(ms > 0)) return [0, 0];
  let sec = Math.floor(ms / 1000);
  let nsec = Math.round((ms - sec * 1000) * 1e6);
  if (nsec >= 1e9) { sec += 1; nsec -= 1e9; }
  return [sec, nsec];
}

/**
 * One classic pcap record for a packet at `tsNs` nanoseconds (exact below 2^53 ns ≈ 104 days,
 * e.g. a virtual clock; epoch-based values round to ~0.25 µs).
 */
export function encodePcapRecord(tsNs: number, data: Uint8Array, origLen = data.length, snaplen = DEFAULT_SNAPLEN): Uint8Array {
  const t = tsNs > 0 ? tsNs : 0;
  const sec = Math.floor(t / 1e9);
  const nsec = Math.min(999_999_999, Math.round(t - sec * 1e9));
  const out = new Uint8Array(pcapRecordLen(data, snaplen));
  writePcapRecord(out, 0, sec, nsec, data, origLen, snaplen);
  return out;
}

/** A whole classic pcap file in memory: header plus one record per packet (timestamps in ms). */
export function encodePcap(
  linkType: number, packets: readonly { readonly data: Uint8Array; readonly tsMs?: number }[], snaplen = DEFAULT_SNAPLEN,
): Uint8Array {
  let n = PCAP_HEADER_LEN;
  for (const p of packets) n += pcapRecordLen(p.data, snaplen);
  const out = new Uint8Array(n);
  out.set(encodePcapHeader(linkType, snaplen), 0);
  let o = PCAP_HEADER_LEN;
  for (const p of packets) {
    const [sec, nsec] = msToSecNsec(p.tsMs ?? 0);
    o = writePcapRecord(out, o, sec, nsec, p.data, p.data.length, snaplen);
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Link layer → IP

/** Why linkToIp found no IP packet. */
export type LinkError =
  | 'truncated' // shorter than the link header (or than an IP version nibble)
  | 'not-ip' // a valid frame carrying something else (ARP, LLDP, 802.3 length, unknown family)
  | 'bad-version' // the link header says IPv4/IPv6 but the first nibble disagrees
  | 'unsupported-link'; // a link type this module does not decode

const ETH_IPV4 = 0x0800;
const ETH_IPV6 = 0x86dd;
const ETH_VLAN = 0x8100; // IEEE 802.1Q
const ETH_QINQ = 0x88a8; // IEEE 802.1ad outer tag: accepted like 802.1Q (one tag)

/**
 * The IP packet inside a captured frame: a view into `data`, trimmed to the length its IP header
 * declares (drops Ethernet minimum-frame padding) whenever that length is sane and fits.
 */
export function linkToIp(linkType: number, data: Uint8Array): Parsed<{ ip: Uint8Array }, LinkError> {
  const dv = view(data);
  switch (linkType) {
    case LINKTYPE.RAW:
      return ipAt(data, 0, 0);
    case LINKTYPE.IPV4:
      return ipAt(data, 0, 4);
    case LINKTYPE.IPV6:
      return ipAt(data, 0, 6);
    case LINKTYPE.EN10MB: {
      if (data.length < 14) return err('truncated');
      let type = dv.getUint16(12), off = 14;
      if (type === ETH_VLAN || type === ETH_QINQ) {
        if (data.length < 18) return err('truncated');
        type = dv.getUint16(16);
        off = 18;
      }
      return ipByEthertype(data, off, type);
    }
    case LINKTYPE.LINUX_SLL: {
      // packet type u16, ARPHRD u16, address length u16, address 8 bytes, protocol u16
      if (data.length < 16) return err('truncated');
      return ipByEthertype(data, 16, dv.getUint16(14));
    }
    case LINKTYPE.LINUX_SLL2: {
      // protocol u16, reserved u16, ifindex u32, ARPHRD u16, packet type u8, address length u8, address 8 bytes
      if (data.length < 20) return err('truncated');
      return ipByEthertype(data, 20, dv.getUint16(0));
    }
    case LINKTYPE.NULL:
    case LINKTYPE.LOOP: {
      if (data.length < 4) return err('truncated');
      // NULL: the family is in the capturing host's byte order, which the file does not record:
      // take whichever order gives a known family (values are < 256, so at most one does).
      const fam = linkType === LINKTYPE.LOOP ? dv.getUint32(0, false)
        : dv.getUint32(0, true) < 256 ? dv.getUint32(0, true) : dv.getUint32(0, false);
      if (fam === 2) return ipAt(data, 4, 4); // AF_INET everywhere
      if (fam === 24 || fam === 28 || fam === 30) return ipAt(data, 4, 6); // AF_INET6 of NetBSD/OpenBSD, FreeBSD, Darwin
      return err('not-ip');
    }
    default:
      return err('unsupported-link');
  }
}

function ipByEthertype(data: Uint8Array, off: number, type: number): Parsed<{ ip: Uint8Array }, LinkError> {
  if (type === ETH_IPV4) return ipAt(data, off, 4);
  if (type === ETH_IPV6) return ipAt(data, off, 6);
  return err('not-ip');
}

/** IP packet from `off`; `want` 4, 6, or 0 for either. Trims to the header's declared length. */
function ipAt(data: Uint8Array, off: number, want: 0 | 4 | 6): Parsed<{ ip: Uint8Array }, LinkError> {
  if (data.length <= off) return err('truncated');
  const ip = data.subarray(off);
  const version = ip[0]! >> 4;
  if (version !== 4 && version !== 6) return err(want === 0 ? 'not-ip' : 'bad-version');
  if (want !== 0 && version !== want) return err('bad-version');
  const dv = view(ip);
  let declared = -1;
  if (version === 4 && ip.length >= 4) {
    const total = dv.getUint16(2); // RFC 791 §3.1 Total Length
    if (total >= 20) declared = total;
  } else if (version === 6 && ip.length >= 6) {
    const payload = dv.getUint16(4); // RFC 8200 §3 Payload Length; 0 means a jumbogram (RFC 2675)
    if (payload > 0) declared = 40 + payload;
  }
  return ok({ ip: declared >= 0 && declared < ip.length ? ip.subarray(0, declared) : ip });
}
