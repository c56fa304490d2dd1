// IPv6 fixed header (RFC 8200 §3) and the extension-header walk (RFC 8200 §4) that finds the
// upper-layer protocol. Extension headers are kept verbatim so emit(parse(p)) == p.
// Like ipv4.ts, the per-packet paths read and write bytes directly rather than build a DataView
// (measured: the DataView alone cost more than the header fields), and addresses go through
// v6ToStringFast (same text as addr.ts v6ToString, ~6x faster).
import type { Parsed } from './bytes.ts';
import { need } from './bytes.ts';
import type { IpAddr } from './addr.ts';
import { v6ToStringFast, writeV6 } from './addr-write.ts';

/** Length of the fixed IPv6 header. */
export const IPV6_HEADER_LEN = 40;
/** Largest Payload Length without a jumbogram (16-bit field, RFC 8200 §3). */
export const IPV6_MAX_PAYLOAD = 65535;
/** Field offsets in the fixed header, for zero-copy peeks. */
export const IPV6_OFF = { verTcFlow: 0, payloadLen: 4, nextHeader: 6, hopLimit: 7, src: 8, dst: 24 } as const;
/** Default hop limit for packets we originate (Linux's default, as for IPv4 TTL). */
export const IPV6_DEFAULT_HOP_LIMIT = 64;

/** Next Header values that matter to the walk (IANA "IPv6 Extension Header Types"). */
export const NH_HOP_BY_HOP = 0, NH_ROUTING = 43, NH_FRAGMENT = 44, NH_ESP = 50, NH_AH = 51,
  NH_NO_NEXT = 59, NH_DEST_OPTS = 60, NH_MOBILITY = 135, NH_HIP = 139, NH_SHIM6 = 140;

/** Why an IPv6 packet was rejected. */
export type Ipv6Error = 'truncated' | 'bad-version' | 'bad-ext-header';

/** The Fragment header's fields (RFC 8200 §4.5) and where it sits in the packet. */
export interface Ipv6Fragment {
  /** Fragment Offset in units of 8 octets, as on the wire. */
  offset: number;
  /** M flag: more fragments follow. */
  more: boolean;
  /** Identification (32 bits). */
  ident: number;
  /** The Fragment header's own Next Header: the first header of the fragmentable part. */
  nextHeader: number;
  /** Byte offset of the Fragment header from the start of the packet. */
  at: number;
  /** Byte offset of the Next Header field that names the Fragment header (6 for the fixed header). */
  nextHeaderAt: number;
}

/**
 * A parsed IPv6 packet. `extHeaders` and `payload` are views into the parsed buffer: copy before keeping.
 *
 * The walk skips Hop-by-Hop, Routing, Destination Options, AH and the other standard-format extension
 * headers (RFC 8200 §4, RFC 7045). It stops at ESP (`protocol` 50, payload = the ESP bytes), at No Next
 * Header (59), at any other value (the upper-layer protocol), and at a Fragment header that is not an
 * atomic fragment: then `protocol` is 44 and `payload` is the fragment's data after the Fragment header,
 * to be fed to frag.ts. An atomic fragment (offset 0, M 0) is processed as a whole packet (RFC 6946 §4).
 */
export interface Ipv6Packet {
  version: 6;
  /** Traffic Class (RFC 8200 §7: DSCP in the upper 6 bits, ECN in the lower 2). */
  trafficClass: number;
  /** 20-bit Flow Label (RFC 6437). */
  flowLabel: number;
  /** The fixed header's Next Header: the first extension header, or the upper layer if there is none. */
  nextHeader: number;
  hopLimit: number;
  src: IpAddr;
  dst: IpAddr;
  /** Extension headers walked over, verbatim (from byte 40 to the payload). */
  extHeaders: Uint8Array;
  /** Where the walk stopped: the upper-layer protocol, 50 (ESP), 59 (none) or 44 (a non-atomic fragment). */
  protocol: number;
  /** The Fragment header's fields if one was walked over or stopped at, else null. */
  fragment: Ipv6Fragment | null;
  /** Bytes after the extension headers, up to Payload Length (link padding beyond it is excluded). */
  payload: Uint8Array;
}

const EMPTY = new Uint8Array(0);

/** Bytes emitIpv6 writes for `p`. */
export const ipv6BufferLen = (p: Ipv6Packet): number => IPV6_HEADER_LEN + p.extHeaders.length + p.payload.length;

/** True for Next Header values that name an extension header in the standard format walked here. */
export function isIpv6ExtHeader(nh: number): boolean {
  return nh === NH_HOP_BY_HOP || nh === NH_ROUTING || nh === NH_FRAGMENT || nh === NH_DEST_OPTS || nh === NH_AH
    || nh === NH_MOBILITY || nh === NH_HIP || nh === NH_SHIM6 || nh === 253 || nh === 254;
}

/** Parse an IPv6 packet and walk its extension headers. Bytes beyond Payload Length are ignored. */
export function parseIpv6(buf: Uint8Array): Parsed<Ipv6Packet, Ipv6Error> {
  if (buf.length < IPV6_HEADER_LEN) return { ok: false, error: 'truncated' };
  const b0 = buf[0]!, b1 = buf[1]!;
  if (b0 >> 4 !== 6) return { ok: false, error: 'bad-version' };
  const payloadLen = (buf[4]! << 8) | buf[5]!;
  // Payload Length 0 with Hop-by-Hop would be a jumbogram (RFC 2675): not supported, it then
  // parses as an empty payload whose extension headers lie beyond the end ('truncated').
  const end = IPV6_HEADER_LEN + payloadLen;
  if (end > buf.length) return { ok: false, error: 'truncated' };
  const nextHeader = buf[IPV6_OFF.nextHeader]!;
  let nh = nextHeader, off = IPV6_HEADER_LEN, nhAt: number = IPV6_OFF.nextHeader;
  let fragment: Ipv6Fragment | null = null;
  while (isIpv6ExtHeader(nh)) {
    // RFC 8200 §4.3: Hop-by-Hop Options only immediately after the IPv6 header.
    if (nh === NH_HOP_BY_HOP && off !== IPV6_HEADER_LEN) return { ok: false, error: 'bad-ext-header' };
    if (off + 8 > end) return { ok: false, error: 'truncated' };
    let len: number;
    if (nh === NH_FRAGMENT) {
      len = 8; // RFC 8200 §4.5: fixed 8 octets
      const fo = (buf[off + 2]! << 8) | buf[off + 3]!;
      const f: Ipv6Fragment = {
        offset: fo >> 3, more: (fo & 1) !== 0,
        ident: ((buf[off + 4]! << 24) | (buf[off + 5]! << 16) | (buf[off + 6]! << 8) | buf[off + 7]!) >>> 0,
        nextHeader: buf[off]!, at: off, nextHeaderAt: nhAt,
      };
      // A real fragment ends the walk and is the one reported; atomic ones (RFC 6946) are walked over.
      if (f.offset !== 0 || f.more) { fragment = f; off += len; nh = NH_FRAGMENT; break; }
      if (fragment === null) fragment = f;
    } else if (nh === NH_AH) {
      len = (buf[off + 1]! + 2) * 4; // RFC 4302 §2.2: Payload Len in 32-bit words, minus 2
    } else {
      len = (buf[off + 1]! + 1) * 8; // RFC 8200 §4.3/4.4/4.6: Hdr Ext Len in 8-octet units, not counting the first 8
    }
    if (off + len > end) return { ok: false, error: 'truncated' };
    nhAt = off;
    nh = buf[off]!;
    off += len;
  }
  return {
    ok: true,
    value: {
      version: 6,
      trafficClass: ((b0 & 0x0f) << 4) | (b1 >> 4),
      flowLabel: ((b1 & 0x0f) << 16) | (buf[2]! << 8) | buf[3]!,
      nextHeader,
      hopLimit: buf[IPV6_OFF.hopLimit]!,
      src: v6ToStringFast(buf, IPV6_OFF.src),
      dst: v6ToStringFast(buf, IPV6_OFF.dst),
      extHeaders: off === IPV6_HEADER_LEN ? EMPTY : buf.subarray(IPV6_HEADER_LEN, off),
      protocol: nh,
      fragment,
      payload: buf.subarray(off, end),
    },
  };
}

/** Write the fixed header of `p` into out[0, 40) for `payloadLen` bytes (extension headers included) after it. */
export function emitIpv6Header(p: Ipv6Packet, out: Uint8Array, payloadLen: number): number {
  if (payloadLen > IPV6_MAX_PAYLOAD) throw new RangeError(`emitIpv6: payload length ${payloadLen} > 65535`);
  need(out, IPV6_HEADER_LEN, 'emitIpv6');
  const tc = p.trafficClass & 0xff, fl = p.flowLabel & 0xfffff;
  out[0] = 0x60 | (tc >> 4);
  out[1] = ((tc & 0x0f) << 4) | (fl >> 16);
  out[2] = (fl >> 8) & 0xff; out[3] = fl & 0xff;
  out[4] = payloadLen >> 8; out[5] = payloadLen & 0xff;
  out[IPV6_OFF.nextHeader] = p.nextHeader;
  out[IPV6_OFF.hopLimit] = p.hopLimit;
  if (!writeV6(p.src, out, IPV6_OFF.src)) throw new RangeError(`emitIpv6: bad src ${JSON.stringify(p.src)}`);
  if (!writeV6(p.dst, out, IPV6_OFF.dst)) throw new RangeError(`emitIpv6: bad dst ${JSON.stringify(p.dst)}`);
  return IPV6_HEADER_LEN;
}

/** Write `p` (fixed header, extension headers verbatim, payload) into out[0, ipv6BufferLen(p)); returns the byte count. */
export function emitIpv6(p: Ipv6Packet, out: Uint8Array): number {
  const len = ipv6BufferLen(p);
  need(out, len, 'emitIpv6');
  emitIpv6Header(p, out, len - IPV6_HEADER_LEN);
  if (p.extHeaders.length > 0) out.set(p.extHeaders, IPV6_HEADER_LEN);
  const po = IPV6_HEADER_LEN + p.extHeaders.length;
  if (p.payload.length > 0 && !(p.payload.buffer === out.buffer && p.payload.byteOffset === out.byteOffset + po)) out.set(p.payload, po);
  return len;
}

/**
 * Options for buildIpv6; defaults: hop limit 64, traffic class 0, flow label 0, no extension headers.
 * With `extHeaders`, `nextHeader` must name the first of them; `protocol` is then only the
 * caller's record (the last extension header's own Next Header byte must already say it).
 */
export interface Ipv6BuildOpts {
  hopLimit?: number;
  trafficClass?: number;
  flowLabel?: number;
  extHeaders?: Uint8Array;
  nextHeader?: number;
}

/** Allocate and emit a whole IPv6 packet carrying `payload` as upper-layer `protocol`. */
export function buildIpv6(src: IpAddr, dst: IpAddr, protocol: number, payload: Uint8Array, opts?: Ipv6BuildOpts): Uint8Array {
  const ext = opts?.extHeaders ?? EMPTY;
  if (ext.length > 0 && opts?.nextHeader === undefined) throw new RangeError('buildIpv6: extHeaders need nextHeader (the first extension header type)');
  const p: Ipv6Packet = {
    version: 6,
    trafficClass: opts?.trafficClass ?? 0,
    flowLabel: opts?.flowLabel ?? 0,
    nextHeader: ext.length > 0 ? opts!.nextHeader! : protocol,
    hopLimit: opts?.hopLimit ?? IPV6_DEFAULT_HOP_LIMIT,
    src,
    dst,
    extHeaders: ext,
    protocol,
    fragment: null,
    payload,
  };
  const out = new Uint8Array(ipv6BufferLen(p));
  emitIpv6(p, out);
  return out;
}
