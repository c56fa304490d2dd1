// IP fragment reassembly for IPv4 (RFC 791 §3.2, RFC 815) and IPv6 Fragment headers (RFC 8200 §4.5).
// The table is plain data (records and arrays, owned byte copies) so it snapshots like the rest of
// the stack. fragInput/fragExpire update the table they are handed in place and return it (STYLE.md
// §2 allows in-place updates of the state handed in; copying the table per fragment would cost O(n)).
//
// Bookkeeping: the RFC 815 idea in list form. Each datagram keeps its received pieces sorted by offset
// and never overlapping, so the holes are exactly the gaps between them, and the datagram is complete
// when the last fragment fixed the total length and the piece lengths add up to it.
//
// Policies (each a choice the RFCs leave to us, cited where they do not):
// - Overlap: any fragment that overlaps bytes already held, other than an exact duplicate, discards the
//   whole datagram, and later fragments of it are dropped until its deadline (RFC 5722 §4 for IPv6).
//   IPv4 gets the same policy: it is the one Linux adopted for IPv4 too after FragmentSmack
//   (CVE-2018-5391) and it leaves no ambiguity about which copy of a byte wins (the attack surface of
//   RFC 791's "later data overwrites" rule, cf. RFC 1858 §4 on overlapping-fragment filter evasion).
// - Exact duplicates (same offset, length and bytes) are ignored and the datagram kept (RFC 5722 §4 MAY).
// - Limits: when the whole table is at maxBytes or maxDatagrams, the arriving fragment is refused and
//   datagrams already in progress are kept (new refused, oldest not evicted: an attacker's flood can then
//   delay new datagrams until their own entries time out, but cannot flush datagrams nearly complete;
//   Linux behaves the same since 4.17). A datagram that exceeds maxDatagramBytes or maxFragments can
//   never complete within bounds: it is discarded like an overlap.
// - Timeout: fixed from the first-arriving fragment, never extended by later ones (RFC 1122 §3.3.2 (1);
//   RFC 8200 §4.5). IPv6: 60 s (RFC 8200 §4.5). IPv4: 30 s, Linux's ipfrag_time: RFC 791 suggests an
//   initial 15 s raised by each fragment's TTL, RFC 1122 §3.3.2 recommends a fixed 60..120 s; 30 s bounds
//   how long a flood pins memory while leaving slow links time.
import type { IpAddr } from './addr.ts';
import { bytesEqual, view } from './bytes.ts';
import type { IpPacket } from './ip.ts';
import { IPV4_DF, IPV4_HEADER_LEN, IPV4_MAX_LEN, IPV4_RF } from './ipv4.ts';
import { IPV6_HEADER_LEN, IPV6_MAX_PAYLOAD, NH_AH, NH_ESP, NH_FRAGMENT, NH_NO_NEXT, isIpv6ExtHeader } from './ipv6.ts';

/** Bounds of a reassembly table. */
export interface FragLimits {
  /** Bytes held across all datagrams: fragment data plus each saved first-fragment header. */
  maxBytes: number;
  /** Bytes held for one datagram (same accounting). */
  maxDatagramBytes: number;
  /** Datagrams in progress, discarded ones still waiting out their deadline included. */
  maxDatagrams: number;
  /** Fragments held for one datagram: bounds the work an attacker buys with 8-byte fragments. */
  maxFragments: number;
  /** Reassembly timeout for IPv4, ms. */
  timeoutV4: number;
  /** Reassembly timeout for IPv6, ms. */
  timeoutV6: number;
}

/**
 * Defaults: 4 MiB in total (Linux ipfrag_high_thresh), one maximum-size datagram plus its header per
 * datagram, 256 datagrams, 128 fragments each (a 65535-byte datagram over a 576-byte IPv4 MTU needs 120),
 * 30 s for IPv4 and 60 s for IPv6 (see the header comment).
 */
export const FRAG_DEFAULTS: Readonly<FragLimits> = {
  maxBytes: 4 * 1024 * 1024,
  maxDatagramBytes: 65535 + 60 + 40,
  maxDatagrams: 256,
  maxFragments: 128,
  timeoutV4: 30_000,
  timeoutV6: 60_000,
};

/** One fragment, as fragInput needs it. `data` and `header` may be views: fragInput copies what it keeps. */
export interface FragmentInfo {
  version: 4 | 6;
  src: IpAddr;
  dst: IpAddr;
  /** IPv4: the Protocol field (part of the key, RFC 791 §3.2); IPv6: the Fragment header's Next Header (used from the offset-0 fragment only). */
  proto: number;
  /** Identification: 16 bits for IPv4, 32 for IPv6. */
  id: number;
  /** Offset of `data` in the original payload, in bytes (the wire offset × 8). */
  offset: number;
  /** More fragments follow (IPv4 MF, IPv6 M). */
  more: boolean;
  /** The fragment's data. */
  data: Uint8Array;
  /** IPv4: the whole header with options; IPv6: the unfragmentable part (fixed header and the extension headers before the Fragment header). Kept from the offset-0 fragment. */
  header: Uint8Array;
  /** IPv6: index in `header` of the Next Header byte that named the Fragment header; IPv4: -1. */
  nextHeaderAt: number;
}

/** A received run of bytes: owned copy, sorted by `start` within its datagram, never overlapping another. */
export interface FragPiece {
  start: number;
  data: Uint8Array;
}

/** One datagram in reassembly. */
export interface FragEntry {
  version: 4 | 6;
  src: IpAddr;
  dst: IpAddr;
  /** IPv4 Protocol / IPv6 Next Header of the offset-0 fragment (-1 until it arrives for IPv6). */
  proto: number;
  id: number;
  /** When reassembly is abandoned (ms on the stack clock). */
  deadline: number;
  /** 'open' while collecting; 'discarded' after an overlap, inconsistency or limit: fragments are dropped until the deadline. */
  state: 'open' | 'discarded';
  /** Header saved from the offset-0 fragment (owned), or null before it arrives. */
  header: Uint8Array | null;
  /** IPv6: where in `header` the Next Header to rewrite sits; IPv4: -1. */
  nextHeaderAt: number;
  /** Length of the whole payload once the last fragment arrived, else -1. */
  total: number;
  pieces: FragPiece[];
  /** Sum of the piece lengths. */
  received: number;
  /** Bytes this entry holds (pieces plus header), as counted against the limits. */
  bytes: number;
}

/** A reassembly table: plain data. */
export interface FragTable {
  limits: FragLimits;
  /** Datagrams by fragKey(). */
  entries: Record<string, FragEntry>;
  /** Number of entries. */
  count: number;
  /** Sum of the entries' `bytes`. */
  bytes: number;
}

/** Why a fragment was not (or no longer) used. */
export type FragDrop =
  | 'bad-length'      // empty, or not a multiple of 8 octets while more follow (RFC 8200 §4.5; RFC 791 §3.2)
  | 'too-big'         // would make the datagram exceed 65535 octets (RFC 8200 §4.5; RFC 791 Total Length)
  | 'incomplete-chain'// IPv6 first fragment without the whole header chain (RFC 7112 §5, RFC 8200 §4.5)
  | 'duplicate'       // exact copy of a fragment held: ignored, datagram kept
  | 'overlap'         // overlaps held bytes: datagram discarded
  | 'inconsistent'    // contradicts the total length set by the last fragment: datagram discarded
  | 'datagram-limit'  // datagram over maxDatagramBytes or maxFragments: datagram discarded
  | 'discarded'       // belongs to a datagram discarded earlier, before its deadline
  | 'table-full'      // maxDatagrams reached: fragment of a new datagram refused
  | 'memory';         // maxBytes reached: fragment refused

/** Result of fragInput: the (same, updated) table, the reassembled packet if this fragment completed one, and the drop reason if any. */
export interface FragResult {
  table: FragTable;
  /** The whole reassembled packet (IPv4 datagram, or IPv6 packet without the Fragment header), owned, or null. */
  complete: Uint8Array | null;
  dropped: FragDrop | null;
}

/** A datagram abandoned at its deadline. */
export interface FragExpired {
  version: 4 | 6;
  src: IpAddr;
  dst: IpAddr;
  /** The offset-0 fragment as received (owned), for an ICMP Time Exceeded code 1 quote, or null if it never came (then no ICMP is sent: RFC 1122 §3.3.2, RFC 8200 §4.5). */
  first: Uint8Array | null;
}

/** A new, empty table. */
export function fragInit(limits: Partial<FragLimits> = {}): FragTable {
  return { limits: { ...FRAG_DEFAULTS, ...limits }, entries: {}, count: 0, bytes: 0 };
}

/** The table key of a fragment: (src, dst, protocol, id) for IPv4 (RFC 791 §3.2); (src, dst, id) for IPv6, whose fragments may differ in Next Header (RFC 8200 §4.5). */
export function fragKey(f: FragmentInfo): string {
  return f.version === 4 ? `4 ${f.src} ${f.dst} ${f.proto} ${f.id}` : `6 ${f.src} ${f.dst} ${f.id}`;
}

/**
 * The FragmentInfo of a parsed packet that needs reassembly (ip.ts isFragment), or null if it does not.
 * `raw` is the buffer `p` was parsed from (its header bytes are needed for the offset-0 fragment).
 */
export function fragmentOf(p: IpPacket, raw: Uint8Array): FragmentInfo | null {
  if (p.version === 4) {
    if (!p.mf && p.fragOffset === 0) return null;
    return {
      version: 4, src: p.src, dst: p.dst, proto: p.protocol, id: p.ident, offset: p.fragOffset * 8, more: p.mf,
      data: p.payload, header: raw.subarray(0, IPV4_HEADER_LEN + p.options.length), nextHeaderAt: -1,
    };
  }
  const f = p.fragment;
  if (f === null || p.protocol !== NH_FRAGMENT) return null;
  return {
    version: 6, src: p.src, dst: p.dst, proto: f.nextHeader, id: f.ident, offset: f.offset * 8, more: f.more,
    data: p.payload, header: raw.subarray(0, f.at), nextHeaderAt: f.nextHeaderAt,
  };
}

/** True if the IPv6 header chain starting with `nh` lies wholly within `data` (RFC 7112 §5). */
function chainComplete(nh: number, data: Uint8Array): boolean {
  let off = 0;
  while (isIpv6ExtHeader(nh) && nh !== NH_ESP && nh !== NH_NO_NEXT) {
    if (off + 8 > data.length) return false;
    const len = nh === NH_FRAGMENT ? 8 : nh === NH_AH ? (data[off + 1]! + 2) * 4 : (data[off + 1]! + 1) * 8;
    if (off + len > data.length) return false;
    nh = data[off]!;
    off += len;
  }
  return true;
}

function drop(table: FragTable, reason: FragDrop): FragResult {
  return { table, complete: null, dropped: reason };
}

function removeEntry(table: FragTable, key: string, e: FragEntry): void {
  table.bytes -= e.bytes;
  table.count -= 1;
  delete table.entries[key];
}

/** Free a datagram's bytes and keep it as a tombstone until its deadline (RFC 5722 §4: later fragments are discarded too). */
function discard(table: FragTable, e: FragEntry, reason: FragDrop): FragResult {
  table.bytes -= e.bytes;
  e.bytes = 0;
  e.pieces = [];
  e.received = 0;
  e.header = null;
  e.state = 'discarded';
  return drop(table, reason);
}

/** Index of the first piece whose start is ≥ `offset`. */
function lowerBound(pieces: readonly FragPiece[], offset: number): number {
  let lo = 0, hi = pieces.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (pieces[mid]!.start < offset) lo = mid + 1; else hi = mid;
  }
  return lo;
}

/** Build the reassembled packet of a complete entry. */
function assemble(e: FragEntry, header: Uint8Array): Uint8Array {
  const hl = header.length;
  const out = new Uint8Array(hl + e.total);
  out.set(header, 0);
  for (const p of e.pieces) out.set(p.data, hl + p.start);
  const dv = view(out);
  if (e.version === 4) {
    // RFC 791 §3.2: the reassembled datagram has the first fragment's header, MF and offset cleared.
    dv.setUint16(2, hl + e.total);
    dv.setUint16(6, dv.getUint16(6) & (IPV4_RF | IPV4_DF));
    dv.setUint16(10, 0);
    let sum = 0;
    for (let i = 0; i < hl; i += 2) sum += dv.getUint16(i);
    sum = (sum & 0xffff) + (sum >>> 16);
    sum = (sum & 0xffff) + (sum >>> 16);
    dv.setUint16(10, ~sum & 0xffff);
  } else {
    // RFC 8200 §4.5: Payload Length recomputed; the Next Header of the last unfragmentable header
    // takes the offset-0 fragment's Fragment header Next Header; the Fragment header is gone.
    dv.setUint16(4, hl - IPV6_HEADER_LEN + e.total);
    out[e.nextHeaderAt] = e.proto;
  }
  return out;
}

/**
 * Feed one fragment at time `now` (ms). Updates `table` in place and returns it, with the whole
 * reassembled packet when this fragment completed one, and the reason when the fragment was not used.
 * An entry past its deadline is replaced as if fragExpire had run (call fragExpire to learn of it).
 */
export function fragInput(table: FragTable, f: FragmentInfo, now: number): FragResult {
  const lim = table.limits;
  const len = f.data.length, start = f.offset, end = start + len;
  if (len === 0 || (f.more && (len & 7) !== 0) || (start & 7) !== 0) return drop(table, 'bad-length');
  const extra = f.version === 4 ? f.header.length : f.header.length - IPV6_HEADER_LEN;
  if (extra + end > (f.version === 4 ? IPV4_MAX_LEN : IPV6_MAX_PAYLOAD)) return drop(table, 'too-big');
  if (f.version === 6 && start === 0 && !chainComplete(f.proto, f.data)) return drop(table, 'incomplete-chain');

  const key = fragKey(f);
  let e = table.entries[key];
  if (e !== undefined && e.deadline <= now) { removeEntry(table, key, e); e = undefined; }
  if (e !== undefined && e.state === 'discarded') return drop(table, 'discarded');
  const keep = len + (start === 0 ? f.header.length : 0);
  if (table.bytes + keep > lim.maxBytes) return drop(table, 'memory');
  if (e === undefined) {
    if (table.count >= lim.maxDatagrams) return drop(table, 'table-full');
    e = {
      version: f.version, src: f.src, dst: f.dst, proto: f.version === 4 ? f.proto : -1, id: f.id,
      deadline: now + (f.version === 4 ? lim.timeoutV4 : lim.timeoutV6),
      state: 'open', header: null, nextHeaderAt: -1, total: -1, pieces: [], received: 0, bytes: 0,
    };
    table.entries[key] = e;
    table.count += 1;
  }

  // Consistency with the total length (Linux ip_frag_queue draws the same lines).
  const pieces = e.pieces;
  const last = pieces.length > 0 ? pieces[pieces.length - 1]! : null;
  const heldEnd = last === null ? 0 : last.start + last.data.length;
  if (!f.more) {
    if ((e.total >= 0 && end !== e.total) || end < heldEnd) return discard(table, e, 'inconsistent');
  } else if (e.total >= 0 && end > e.total) {
    return discard(table, e, 'inconsistent');
  }

  const i = lowerBound(pieces, start);
  const next = i < pieces.length ? pieces[i]! : null;
  if (next !== null && next.start === start && next.data.length === len && bytesEqual(next.data, f.data)) {
    return drop(table, 'duplicate');
  }
  const prev = i > 0 ? pieces[i - 1]! : null;
  if ((prev !== null && prev.start + prev.data.length > start) || (next !== null && next.start < end)) {
    return discard(table, e, 'overlap');
  }
  if (pieces.length + 1 > lim.maxFragments || e.bytes + keep > lim.maxDatagramBytes) {
    return discard(table, e, 'datagram-limit');
  }

  pieces.splice(i, 0, { start, data: f.data.slice() });
  e.received += len;
  e.bytes += keep;
  table.bytes += keep;
  if (!f.more) e.total = end;
  if (start === 0) {
    e.header = f.header.slice();
    e.nextHeaderAt = f.nextHeaderAt;
    e.proto = f.proto;
  }

  if (e.total >= 0 && e.header !== null && e.received === e.total) {
    const header = e.header;
    removeEntry(table, key, e);
    // Later fragments may carry shorter headers than the first: check the real size (RFC 791 §3.1: 16-bit Total Length).
    const size = e.version === 4 ? header.length + e.total : header.length - IPV6_HEADER_LEN + e.total;
    if (size > (e.version === 4 ? IPV4_MAX_LEN : IPV6_MAX_PAYLOAD)) return drop(table, 'too-big');
    return { table, complete: assemble(e, header), dropped: null };
  }
  return { table, complete: null, dropped: null };
}

/** The offset-0 fragment of `e` as it arrived, rebuilt from the saved header and first piece. */
function firstFragment(e: FragEntry): Uint8Array | null {
  const h = e.header, p0 = e.pieces[0];
  if (h === null || p0 === undefined || p0.start !== 0) return null;
  if (e.version === 4) {
    const out = new Uint8Array(h.length + p0.data.length);
    out.set(h, 0); out.set(p0.data, h.length);
    return out;
  }
  // IPv6: the saved unfragmentable part still names the Fragment header; put one back (offset 0, M 1).
  const out = new Uint8Array(h.length + 8 + p0.data.length);
  out.set(h, 0);
  const dv = view(out);
  out[h.length] = e.proto;
  dv.setUint16(h.length + 2, 1);
  dv.setUint32(h.length + 4, e.id >>> 0);
  out.set(p0.data, h.length + 8);
  return out;
}

/** Drop every datagram whose deadline is ≤ `now`; updates `table` in place. Reports the abandoned ones that were still open. */
export function fragExpire(table: FragTable, now: number): { table: FragTable; expired: FragExpired[] } {
  const expired: FragExpired[] = [];
  for (const key in table.entries) {
    const e = table.entries[key]!;
    if (e.deadline > now) continue;
    if (e.state === 'open') expired.push({ version: e.version, src: e.src, dst: e.dst, first: firstFragment(e) });
    removeEntry(table, key, e);
  }
  return { table, expired };
}

/** The earliest deadline in the table, or null if it is empty. */
export function fragNextDeadline(table: FragTable): number | null {
  let at: number | null = null;
  for (const key in table.entries) {
    const d = table.entries[key]!.deadline;
    if (at === null || d < at) at = d;
  }
  return at;
}
