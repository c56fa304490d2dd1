// IPv4 header (RFC 791 §3.1). Options are carried verbatim so emit(parse(p)) == p.
//
// Hot path (every packet): parse and emit read and write bytes directly instead of through
// view(): constructing the DataView cost ~190 ns per call on this machine, more than the rest
// of parseIpv4 together (parse went from ~630 ns to ~310 ns, most of the remainder being the two
// address strings). Every field here is a byte or a big-endian 16-bit word, so nothing is lost.
import type { Parsed } from './bytes.ts';
import { need } from './bytes.ts';
import type { IpAddr } from './addr.ts';
import { v4ToString } from './addr.ts';
import { writeV4 } from './addr-write.ts';

/** Length of the option-less IPv4 header. */
export const IPV4_HEADER_LEN = 20;
/** Largest IPv4 datagram: Total Length is 16 bits (RFC 791 §3.1). */
export const IPV4_MAX_LEN = 65535;
/** Field offsets in the IPv4 header, for zero-copy peeks. */
export const IPV4_OFF = {
  verIhl: 0, dscpEcn: 1, totalLen: 2, ident: 4, flagsFrag: 6, ttl: 8, protocol: 9, checksum: 10, src: 12, dst: 16,
} as const;
/** Flag bits in the 16-bit flags/fragment-offset word (RFC 791 §3.1; bit 0 is reserved). */
export const IPV4_RF = 0x8000, IPV4_DF = 0x4000, IPV4_MF = 0x2000;
/** Mask of the 13-bit fragment offset (units of 8 octets). */
export const IPV4_FRAG_MASK = 0x1fff;
/** Default TTL for packets we originate: 64, as Linux and IANA's recommendation (RFC 1700 lineage). */
export const IPV4_DEFAULT_TTL = 64;

/** Why an IPv4 header was rejected. */
export type Ipv4Error = 'truncated' | 'bad-version' | 'bad-ihl' | 'bad-length' | 'bad-checksum';

/** A parsed IPv4 datagram. `options` and `payload` are views into the parsed buffer: copy before keeping. */
export interface Ipv4Packet {
  version: 4;
  /** Differentiated Services codepoint: upper 6 bits of byte 1 (RFC 2474 §3). */
  dscp: number;
  /** ECN field: lower 2 bits of byte 1 (RFC 3168 §5). */
  ecn: number;
  /** Identification (RFC 791 §3.1; RFC 6864 for atomic datagrams). */
  ident: number;
  /** The reserved flag bit (must be zero per RFC 791), kept for exact re-emission. */
  rf: boolean;
  /** Don't Fragment. */
  df: boolean;
  /** More Fragments. */
  mf: boolean;
  /** Fragment offset in units of 8 octets, as on the wire (RFC 791 §3.1). */
  fragOffset: number;
  ttl: number;
  /** Upper-layer protocol number (6 TCP, 17 UDP, 1 ICMP, 132 SCTP). */
  protocol: number;
  src: IpAddr;
  dst: IpAddr;
  /** Option bytes verbatim, including any padding (length a multiple of 4, at most 40). */
  options: Uint8Array;
  /** Bytes between the header and Total Length (link padding beyond Total Length is excluded). */
  payload: Uint8Array;
}

const EMPTY = new Uint8Array(0);

/** Header bytes (20 + options) of `p`. */
export const ipv4HeaderLen = (p: Ipv4Packet): number => IPV4_HEADER_LEN + p.options.length;
/** Bytes emitIpv4 writes for `p`: header, options and payload. */
export const ipv4BufferLen = (p: Ipv4Packet): number => IPV4_HEADER_LEN + p.options.length + p.payload.length;

/** RFC 1071 sum of the first `len` (even, ≤ 60) bytes, folded to 16 bits, without allocating. */
export function ipv4HeaderSum(b: Uint8Array, len: number): number {
  let sum = 0;
  for (let i = 0; i < len; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
  sum = (sum & 0xffff) + (sum >>> 16);
  return (sum & 0xffff) + (sum >>> 16);
}

/** Zero-copy check of the fixed header: version, IHL, Total Length. Returns the header length or an error. */
export function checkIpv4(buf: Uint8Array): number | Ipv4Error {
  if (buf.length < IPV4_HEADER_LEN) return 'truncated';
  const b0 = buf[0]!;
  if (b0 >> 4 !== 4) return 'bad-version';
  const hl = (b0 & 0x0f) * 4;
  if (hl < IPV4_HEADER_LEN) return 'bad-ihl';
  if (hl > buf.length) return 'truncated';
  const total = (buf[2]! << 8) | buf[3]!;
  if (total < hl) return 'bad-length';
  if (total > buf.length) return 'truncated';
  return hl;
}

/**
 * Parse an IPv4 datagram. The header checksum is verified unless `verify` is false (use that only
 * where the link already guarantees it, e.g. packets the kernel wrote into a TUN).
 * Bytes beyond Total Length (link padding) are ignored (RFC 791 §3.1: Total Length delimits the datagram).
 */
export function parseIpv4(buf: Uint8Array, verify = true): Parsed<Ipv4Packet, Ipv4Error> {
  const hl = checkIpv4(buf);
  if (typeof hl === 'string') return { ok: false, error: hl };
  // RFC 791 §3.1: the checksum field is the 16-bit one's complement of the one's complement
  // sum of all 16-bit words in the header; a valid header sums to 0xffff.
  if (verify && ipv4HeaderSum(buf, hl) !== 0xffff) return { ok: false, error: 'bad-checksum' };
  const total = (buf[2]! << 8) | buf[3]!;
  const tos = buf[1]!;
  const ff = (buf[6]! << 8) | buf[7]!;
  return {
    ok: true,
    value: {
      version: 4,
      dscp: tos >> 2,
      ecn: tos & 3,
      ident: (buf[4]! << 8) | buf[5]!,
      rf: (ff & IPV4_RF) !== 0,
      df: (ff & IPV4_DF) !== 0,
      mf: (ff & IPV4_MF) !== 0,
      fragOffset: ff & IPV4_FRAG_MASK,
      ttl: buf[8]!,
      protocol: buf[9]!,
      src: v4ToString(buf, IPV4_OFF.src),
      dst: v4ToString(buf, IPV4_OFF.dst),
      options: hl === IPV4_HEADER_LEN ? EMPTY : buf.subarray(IPV4_HEADER_LEN, hl),
      payload: buf.subarray(hl, total),
    },
  };
}

/**
 * Write the header of `p` (with options and a fresh checksum) into out[0, ipv4HeaderLen(p)), for a
 * payload of `payloadLen` bytes that the caller has written (or will write) right after it.
 * Lets the stack emit a transport segment in place at out[hl] and then the header in front of it.
 */
export function emitIpv4Header(p: Ipv4Packet, out: Uint8Array, payloadLen: number): number {
  const ol = p.options.length;
  const hl = IPV4_HEADER_LEN + ol;
  if ((ol & 3) !== 0 || ol > 40) throw new RangeError(`emitIpv4: options length ${ol} is not a multiple of 4 up to 40`);
  const total = hl + payloadLen;
  if (total > IPV4_MAX_LEN) throw new RangeError(`emitIpv4: total length ${total} > 65535`);
  need(out, hl, 'emitIpv4');
  const ff = (p.rf ? IPV4_RF : 0) | (p.df ? IPV4_DF : 0) | (p.mf ? IPV4_MF : 0) | (p.fragOffset & IPV4_FRAG_MASK);
  out[0] = 0x40 | (hl >> 2);
  out[1] = ((p.dscp & 0x3f) << 2) | (p.ecn & 3);
  out[2] = total >> 8; out[3] = total & 0xff;
  out[4] = (p.ident >> 8) & 0xff; out[5] = p.ident & 0xff;
  out[6] = ff >> 8; out[7] = ff & 0xff;
  out[8] = p.ttl;
  out[9] = p.protocol;
  out[10] = 0; out[11] = 0;
  if (!writeV4(p.src, out, IPV4_OFF.src)) throw new RangeError(`emitIpv4: bad src ${JSON.stringify(p.src)}`);
  if (!writeV4(p.dst, out, IPV4_OFF.dst)) throw new RangeError(`emitIpv4: bad dst ${JSON.stringify(p.dst)}`);
  if (ol > 0) out.set(p.options, IPV4_HEADER_LEN);
  const ck = ~ipv4HeaderSum(out, hl) & 0xffff;
  out[10] = ck >> 8; out[11] = ck & 0xff;
  return hl;
}

/** Write `p` (header, options, payload) into out[0, ipv4BufferLen(p)); returns the byte count. `p.payload` may already sit at out[hl]. */
export function emitIpv4(p: Ipv4Packet, out: Uint8Array): number {
  const len = ipv4BufferLen(p);
  need(out, len, 'emitIpv4');
  const hl = emitIpv4Header(p, out, p.payload.length);
  // Skip the copy when the payload is already in place (set() would also cope with the overlap).
  if (p.payload.length > 0 && !(p.payload.buffer === out.buffer && p.payload.byteOffset === out.byteOffset + hl)) out.set(p.payload, hl);
  return len;
}

/** Options for buildIpv4; defaults: TTL 64, DF set (RFC 1191 path MTU discovery), ident 0, DSCP/ECN 0, no options. */
export interface Ipv4BuildOpts {
  ttl?: number;
  dscp?: number;
  ecn?: number;
  ident?: number;
  df?: boolean;
  options?: Uint8Array;
}

/** Allocate and emit a whole unfragmented IPv4 datagram carrying `payload`. */
export function buildIpv4(src: IpAddr, dst: IpAddr, protocol: number, payload: Uint8Array, opts?: Ipv4BuildOpts): Uint8Array {
  const p: Ipv4Packet = {
    version: 4,
    dscp: opts?.dscp ?? 0,
    ecn: opts?.ecn ?? 0,
    // RFC 6864 §4.1: the ID of an atomic datagram (DF=1, MF=0, offset 0) carries no meaning.
    ident: opts?.ident ?? 0,
    rf: false,
    df: opts?.df ?? true,
    mf: false,
    fragOffset: 0,
    ttl: opts?.ttl ?? IPV4_DEFAULT_TTL,
    protocol,
    src,
    dst,
    options: opts?.options ?? EMPTY,
    payload,
  };
  const out = new Uint8Array(ipv4BufferLen(p));
  emitIpv4(p, out);
  return out;
}
