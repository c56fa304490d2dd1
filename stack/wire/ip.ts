// Version dispatch over IPv4 and IPv6: one parse entry point for the stack's input path,
// the pseudo-header sum for upper-layer checksums, and a lenient parser for the IP header
// quoted inside ICMP errors.
import type { Parsed } from './bytes.ts';
import { view } from './bytes.ts';
import type { IpAddr } from './addr.ts';
import { v4ToString, v6ToString } from './addr.ts';
import { addrSum } from './addr-write.ts';
import type { Ipv4BuildOpts, Ipv4Error, Ipv4Packet } from './ipv4.ts';
import { buildIpv4, parseIpv4 } from './ipv4.ts';
import type { Ipv6BuildOpts, Ipv6Error, Ipv6Packet } from './ipv6.ts';
import { NH_AH, NH_FRAGMENT, buildIpv6, isIpv6ExtHeader, parseIpv6 } from './ipv6.ts';

/** Either IP version; narrow on `version`. Both carry src, dst, protocol and payload. */
export type IpPacket = Ipv4Packet | Ipv6Packet;
/** Why an IP packet was rejected. */
export type IpError = Ipv4Error | Ipv6Error;

/** The version nibble of `buf` if it is 4 or 6, else null. */
export function ipVersion(buf: Uint8Array): 4 | 6 | null {
  if (buf.length === 0) return null;
  const v = buf[0]! >> 4;
  return v === 4 ? 4 : v === 6 ? 6 : null;
}

/** Parse an IPv4 or IPv6 packet by its version nibble (IPv4 header checksum verified unless `verify` is false). */
export function parseIp(buf: Uint8Array, verify = true): Parsed<IpPacket, IpError> {
  if (buf.length === 0) return { ok: false, error: 'truncated' };
  const v = buf[0]! >> 4;
  if (v === 4) return parseIpv4(buf, verify);
  if (v === 6) return parseIpv6(buf);
  return { ok: false, error: 'bad-version' };
}

/** True if `p` is a fragment that needs reassembly (frag.ts) before its payload means anything. */
export function isFragment(p: IpPacket): boolean {
  if (p.version === 4) return p.mf || p.fragOffset !== 0;
  return p.protocol === NH_FRAGMENT && p.fragment !== null;
}

/**
 * Pseudo-header sum for an upper-layer checksum (TCP, UDP, ICMPv6, RFC 9293 §3.1 and RFC 8200 §8.1),
 * choosing v4 or v6 by the address text. Throws on malformed address text (programmer error).
 */
export function ipPseudoSum(src: IpAddr, dst: IpAddr, protocol: number, len: number): number {
  // Both layouts reduce to the same sum: the address words, the protocol, and the length split into
  // 16-bit words (IPv6 carries a 32-bit length, IPv4 a 16-bit one: the high word is 0 there).
  return addrSum(src) + addrSum(dst) + protocol + (len >>> 16) + (len & 0xffff);
}

/** Allocate and emit a packet of the version that `src` and `dst` are written in. */
export function buildIp(src: IpAddr, dst: IpAddr, protocol: number, payload: Uint8Array, opts?: Ipv4BuildOpts & Ipv6BuildOpts): Uint8Array {
  const v6s = src.includes(':'), v6d = dst.includes(':');
  if (v6s !== v6d) throw new RangeError(`buildIp: mixed address families ${src} -> ${dst}`);
  return v6s ? buildIpv6(src, dst, protocol, payload, opts) : buildIpv4(src, dst, protocol, payload, opts);
}

/** What is recoverable from the (usually truncated) IP packet quoted in an ICMP error. */
export interface QuotedIp {
  version: 4 | 6;
  src: IpAddr;
  dst: IpAddr;
  /** Upper-layer protocol after the extension headers that fit (IPv6), or the Protocol field (IPv4). */
  protocol: number;
  /** The quoted bytes after the IP header(s): at least the first 8 bytes of the transport header when the sender obeyed RFC 792 / RFC 4443 §2.4(c). */
  payload: Uint8Array;
}

/** Why a quoted packet is unusable. */
export type QuotedError = 'truncated' | 'bad-version' | 'bad-ihl';

/**
 * Parse the original packet quoted in an ICMP error (RFC 792: IP header + 64 bits; RFC 1812 §4.3.2.3 and
 * RFC 4443 §2.4(c): as much as fits). Lenient where the quote is necessarily incomplete: Total Length and
 * Payload Length are not checked against the quote and the IPv4 header checksum is not verified.
 */
export function parseQuoted(buf: Uint8Array): Parsed<QuotedIp, QuotedError> {
  if (buf.length === 0) return { ok: false, error: 'truncated' };
  const v = buf[0]! >> 4;
  if (v === 4) {
    if (buf.length < 20) return { ok: false, error: 'truncated' };
    const hl = (buf[0]! & 0x0f) * 4;
    if (hl < 20) return { ok: false, error: 'bad-ihl' };
    if (hl > buf.length) return { ok: false, error: 'truncated' };
    const total = view(buf).getUint16(2);
    const end = total >= hl && total < buf.length ? total : buf.length;
    return { ok: true, value: { version: 4, src: v4ToString(buf, 12), dst: v4ToString(buf, 16), protocol: buf[9]!, payload: buf.subarray(hl, end) } };
  }
  if (v === 6) {
    if (buf.length < 40) return { ok: false, error: 'truncated' };
    const total = 40 + view(buf).getUint16(4);
    const end = total < buf.length ? total : buf.length;
    let nh = buf[6]!, off = 40;
    while (isIpv6ExtHeader(nh)) {
      if (off + 8 > end) return { ok: false, error: 'truncated' };
      if (nh === NH_FRAGMENT) {
        // Only a first fragment's quote holds the transport header: a later one reports protocol 44.
        const offset = view(buf).getUint16(off + 2) >> 3;
        if (offset !== 0) { off += 8; break; }
        nh = buf[off]!; off += 8;
        continue;
      }
      const len = nh === NH_AH ? (buf[off + 1]! + 2) * 4 : (buf[off + 1]! + 1) * 8;
      if (off + len > end) return { ok: false, error: 'truncated' };
      nh = buf[off]!; off += len;
    }
    return { ok: true, value: { version: 6, src: v6ToString(buf, 8), dst: v6ToString(buf, 24), protocol: nh, payload: buf.subarray(off, end) } };
  }
  return { ok: false, error: 'bad-version' };
}
