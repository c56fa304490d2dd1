// ICMPv4 (RFC 792) and ICMPv6 (RFC 4443), with Neighbor Solicitation/Advertisement (RFC 4861 §4.3,
// §4.4) parsed for TAP mode. Known types become named kinds; any other type stays generic
// {type, code, rest, body} so every message re-emits byte for byte.
import type { Parsed } from './bytes.ts';
import { need, view } from './bytes.ts';
import type { IpAddr } from './addr.ts';
import { v6ToString } from './addr.ts';
import { writeV6 } from './addr-write.ts';
import { finish, sum16 } from './checksum.ts';
import type { Mac } from './ethernet.ts';
import { macToString, writeMac } from './ethernet.ts';

/** Length of the ICMP header (type, code, checksum, 4 bytes of rest-of-header), both versions. */
export const ICMP_HEADER_LEN = 8;

/** ICMPv4 types (RFC 792; IANA "ICMP Type Numbers"). */
export const ICMPV4_ECHO_REPLY = 0, ICMPV4_DEST_UNREACHABLE = 3, ICMPV4_ECHO_REQUEST = 8,
  ICMPV4_TIME_EXCEEDED = 11, ICMPV4_PARAMETER_PROBLEM = 12;
/** ICMPv4 Destination Unreachable codes (RFC 792; 6-15 from RFC 1122 §3.2.2.1 and RFC 1812 §5.2.7.1). */
export const ICMPV4_UNREACH = {
  net: 0, host: 1, protocol: 2, port: 3, fragNeeded: 4, sourceRouteFailed: 5, netUnknown: 6, hostUnknown: 7,
  hostIsolated: 8, netProhibited: 9, hostProhibited: 10, netTos: 11, hostTos: 12, adminProhibited: 13,
  precedenceViolation: 14, precedenceCutoff: 15,
} as const;

/** ICMPv6 types (RFC 4443 §2.1, RFC 4861 §4). */
export const ICMPV6_DEST_UNREACHABLE = 1, ICMPV6_PACKET_TOO_BIG = 2, ICMPV6_TIME_EXCEEDED = 3,
  ICMPV6_PARAMETER_PROBLEM = 4, ICMPV6_ECHO_REQUEST = 128, ICMPV6_ECHO_REPLY = 129,
  ICMPV6_ROUTER_SOLICITATION = 133, ICMPV6_ROUTER_ADVERTISEMENT = 134,
  ICMPV6_NEIGHBOR_SOLICITATION = 135, ICMPV6_NEIGHBOR_ADVERTISEMENT = 136, ICMPV6_REDIRECT = 137;
/** ICMPv6 Destination Unreachable codes (RFC 4443 §3.1). */
export const ICMPV6_UNREACH = {
  noRoute: 0, adminProhibited: 1, beyondScope: 2, address: 3, port: 4, sourcePolicy: 5, rejectRoute: 6,
} as const;
/** Time Exceeded codes, both versions (RFC 792, RFC 4443 §3.3). */
export const ICMP_TIME_EXCEEDED = { ttl: 0, reassembly: 1 } as const;
/** ICMPv6 Parameter Problem codes (RFC 4443 §3.4; 3 from RFC 7112 §5). */
export const ICMPV6_PARAM = { header: 0, nextHeader: 1, option: 2, incompleteChain: 3 } as const;

/** Largest quote an ICMPv4 error should carry: the message within 576 bytes (RFC 1812 §4.3.2.3). */
export const ICMPV4_MAX_QUOTE = 576 - 20 - ICMP_HEADER_LEN;
/** Largest quote an ICMPv6 error may carry: the message within the minimum MTU (RFC 4443 §2.4(c)). */
export const ICMPV6_MAX_QUOTE = 1280 - 40 - ICMP_HEADER_LEN;

/** Why an ICMP message was rejected. */
export type IcmpError = 'truncated' | 'bad-checksum' | 'bad-option';

/** Echo Request / Echo Reply (RFC 792; RFC 4443 §4.1, §4.2). `data` is a view: copy before keeping. */
export interface IcmpEcho {
  kind: 'echo-request' | 'echo-reply';
  /** Always 0 on send; kept as received. */
  code: number;
  /** Identifier. */
  id: number;
  /** Sequence Number. */
  seq: number;
  data: Uint8Array;
}

/** A message with a type not decoded here; `rest` is the 32-bit rest-of-header, `body` a view of what follows. */
export interface IcmpOther {
  kind: 'other';
  type: number;
  code: number;
  rest: number;
  body: Uint8Array;
}

/** Time Exceeded, either version (RFC 792; RFC 4443 §3.3). `original` is the quoted packet (a view). */
export interface IcmpTimeExceeded {
  kind: 'time-exceeded';
  code: number;
  /** The 32 unused bits (RFC 4884 puts a length in them), kept verbatim. */
  unused: number;
  original: Uint8Array;
}

/** An ICMPv4 message. Views (`data`, `original`, `body`) point into the parsed buffer. */
export type Icmpv4Message =
  | IcmpEcho
  | {
    kind: 'dest-unreachable';
    code: number;
    /** Bytes 4-5, unused (RFC 4884 puts the quote length in byte 5), kept verbatim. */
    unused: number;
    /** Bytes 6-7: Next-Hop MTU for code 4, fragmentation needed (RFC 1191 §4); 0 in old routers and other codes. */
    mtu: number;
    original: Uint8Array;
  }
  | IcmpTimeExceeded
  | {
    kind: 'parameter-problem';
    code: number;
    /** Octet of the original header where the problem was found (RFC 792). */
    pointer: number;
    /** Bytes 5-7, unused, kept verbatim. */
    unused: number;
    original: Uint8Array;
  }
  | IcmpOther;

/** An NDP option (RFC 4861 §4.6): link-layer address options for Ethernet decoded, the rest verbatim. */
export type NdpOption =
  /** Type 1 (RFC 4861 §4.6.1) with Length 1: a 6-byte Ethernet address. */
  | { kind: 'source-lladdr'; mac: Mac }
  /** Type 2 with Length 1. */
  | { kind: 'target-lladdr'; mac: Mac }
  /** Any other option: `data` is the bytes after Type and Length (8 × Length − 2 of them), a view. */
  | { kind: 'other'; type: number; data: Uint8Array };

/** An ICMPv6 message. Views (`data`, `original`, `body`, option data) point into the parsed buffer. */
export type Icmpv6Message =
  | IcmpEcho
  | {
    kind: 'dest-unreachable';
    code: number;
    /** The 32 unused bits, kept verbatim. */
    unused: number;
    original: Uint8Array;
  }
  | {
    kind: 'packet-too-big';
    code: number;
    /** MTU of the next-hop link (RFC 4443 §3.2, used by RFC 8201 path MTU discovery). */
    mtu: number;
    original: Uint8Array;
  }
  | IcmpTimeExceeded
  | {
    kind: 'parameter-problem';
    code: number;
    /** Offset in the original packet of the erroneous octet (RFC 4443 §3.4; 32 bits). */
    pointer: number;
    original: Uint8Array;
  }
  | {
    kind: 'neighbor-solicitation';
    code: number;
    /** The 32 reserved bits, kept verbatim. */
    reserved: number;
    target: IpAddr;
    options: NdpOption[];
  }
  | {
    kind: 'neighbor-advertisement';
    code: number;
    /** R flag: sender is a router. */
    router: boolean;
    /** S flag: sent in response to a solicitation. */
    solicited: boolean;
    /** O flag: override an existing cache entry. */
    override: boolean;
    /** The 29 reserved bits after R, S, O, kept verbatim. */
    reserved: number;
    target: IpAddr;
    options: NdpOption[];
  }
  | IcmpOther;

const NA_R = 0x80000000, NA_S = 0x40000000, NA_O = 0x20000000;

/** Parse NDP options in buf[off, end); null if one has Length 0 or runs past the end (RFC 4861 §4.6: discard). */
function parseNdpOptions(buf: Uint8Array, off: number, end: number): NdpOption[] | null {
  const opts: NdpOption[] = [];
  while (off < end) {
    if (off + 2 > end) return null;
    const type = buf[off]!, len = buf[off + 1]! * 8;
    if (len === 0 || off + len > end) return null;
    if ((type === 1 || type === 2) && len === 8) {
      opts.push({ kind: type === 1 ? 'source-lladdr' : 'target-lladdr', mac: macToString(buf, off + 2) });
    } else {
      opts.push({ kind: 'other', type, data: buf.subarray(off + 2, off + len) });
    }
    off += len;
  }
  return opts;
}

/** Encoded length of NDP options. */
export function ndpOptionsLen(opts: readonly NdpOption[]): number {
  let n = 0;
  for (const o of opts) n += o.kind === 'other' ? 2 + o.data.length : 8;
  return n;
}

function emitNdpOptions(opts: readonly NdpOption[], out: Uint8Array, off: number): void {
  for (const o of opts) {
    if (o.kind === 'other') {
      const len = 2 + o.data.length;
      if (len % 8 !== 0 || len > 255 * 8) throw new RangeError(`emitIcmpv6: NDP option type ${o.type} length ${len} is not a multiple of 8`);
      out[off] = o.type; out[off + 1] = len / 8;
      out.set(o.data, off + 2);
      off += len;
    } else {
      out[off] = o.kind === 'source-lladdr' ? 1 : 2; out[off + 1] = 1;
      if (!writeMac(o.mac, out, off + 2)) throw new RangeError(`emitIcmpv6: bad MAC ${JSON.stringify(o.mac)}`);
      off += 8;
    }
  }
}

/** Parse an ICMPv4 message (the whole IP payload); the checksum covers the message (RFC 792). */
export function parseIcmpv4(buf: Uint8Array): Parsed<Icmpv4Message, IcmpError> {
  if (buf.length < ICMP_HEADER_LEN) return { ok: false, error: 'truncated' };
  if (finish(sum16(buf)) !== 0) return { ok: false, error: 'bad-checksum' };
  const dv = view(buf);
  const type = buf[0]!, code = buf[1]!;
  const body = buf.subarray(ICMP_HEADER_LEN);
  switch (type) {
    case ICMPV4_ECHO_REQUEST:
    case ICMPV4_ECHO_REPLY:
      return { ok: true, value: { kind: type === ICMPV4_ECHO_REQUEST ? 'echo-request' : 'echo-reply', code, id: dv.getUint16(4), seq: dv.getUint16(6), data: body } };
    case ICMPV4_DEST_UNREACHABLE:
      return { ok: true, value: { kind: 'dest-unreachable', code, unused: dv.getUint16(4), mtu: dv.getUint16(6), original: body } };
    case ICMPV4_TIME_EXCEEDED:
      return { ok: true, value: { kind: 'time-exceeded', code, unused: dv.getUint32(4), original: body } };
    case ICMPV4_PARAMETER_PROBLEM:
      return { ok: true, value: { kind: 'parameter-problem', code, pointer: buf[4]!, unused: dv.getUint32(4) & 0xffffff, original: body } };
    default:
      return { ok: true, value: { kind: 'other', type, code, rest: dv.getUint32(4), body } };
  }
}

/** Bytes emitIcmpv4 writes for `m`. */
export function icmpv4BufferLen(m: Icmpv4Message): number {
  switch (m.kind) {
    case 'echo-request': case 'echo-reply': return ICMP_HEADER_LEN + m.data.length;
    case 'other': return ICMP_HEADER_LEN + m.body.length;
    default: return ICMP_HEADER_LEN + m.original.length;
  }
}

/** Write `m` with its checksum into out[0, icmpv4BufferLen(m)); returns the byte count. */
export function emitIcmpv4(m: Icmpv4Message, out: Uint8Array): number {
  const len = icmpv4BufferLen(m);
  need(out, len, 'emitIcmpv4');
  const dv = view(out);
  let type: number, rest: number, body: Uint8Array;
  switch (m.kind) {
    case 'echo-request': case 'echo-reply':
      type = m.kind === 'echo-request' ? ICMPV4_ECHO_REQUEST : ICMPV4_ECHO_REPLY;
      rest = ((m.id & 0xffff) * 65536 + (m.seq & 0xffff)) >>> 0; body = m.data; break;
    case 'dest-unreachable':
      type = ICMPV4_DEST_UNREACHABLE; rest = ((m.unused & 0xffff) * 65536 + (m.mtu & 0xffff)) >>> 0; body = m.original; break;
    case 'time-exceeded':
      type = ICMPV4_TIME_EXCEEDED; rest = m.unused >>> 0; body = m.original; break;
    case 'parameter-problem':
      type = ICMPV4_PARAMETER_PROBLEM; rest = ((m.pointer & 0xff) * 2 ** 24 + (m.unused & 0xffffff)) >>> 0; body = m.original; break;
    case 'other':
      type = m.type; rest = m.rest >>> 0; body = m.body; break;
  }
  out[0] = type; out[1] = m.code;
  dv.setUint16(2, 0);
  dv.setUint32(4, rest);
  out.set(body, ICMP_HEADER_LEN);
  dv.setUint16(2, finish(sum16(len === out.length ? out : out.subarray(0, len))));
  return len;
}

/**
 * Parse an ICMPv6 message (the upper-layer payload). `pseudoSum` is the IPv6 pseudo-header sum for
 * this message (ipPseudoSum(src, dst, 58, len) or pseudoSumV6), which the checksum covers (RFC 4443 §2.3).
 */
export function parseIcmpv6(buf: Uint8Array, pseudoSum: number): Parsed<Icmpv6Message, IcmpError> {
  if (buf.length < ICMP_HEADER_LEN) return { ok: false, error: 'truncated' };
  if (finish(sum16(buf, pseudoSum)) !== 0) return { ok: false, error: 'bad-checksum' };
  const dv = view(buf);
  const type = buf[0]!, code = buf[1]!, rest = dv.getUint32(4);
  const body = buf.subarray(ICMP_HEADER_LEN);
  switch (type) {
    case ICMPV6_ECHO_REQUEST:
    case ICMPV6_ECHO_REPLY:
      return { ok: true, value: { kind: type === ICMPV6_ECHO_REQUEST ? 'echo-request' : 'echo-reply', code, id: dv.getUint16(4), seq: dv.getUint16(6), data: body } };
    case ICMPV6_DEST_UNREACHABLE:
      return { ok: true, value: { kind: 'dest-unreachable', code, unused: rest, original: body } };
    case ICMPV6_PACKET_TOO_BIG:
      return { ok: true, value: { kind: 'packet-too-big', code, mtu: rest, original: body } };
    case ICMPV6_TIME_EXCEEDED:
      return { ok: true, value: { kind: 'time-exceeded', code, unused: rest, original: body } };
    case ICMPV6_PARAMETER_PROBLEM:
      return { ok: true, value: { kind: 'parameter-problem', code, pointer: rest, original: body } };
    case ICMPV6_NEIGHBOR_SOLICITATION:
    case ICMPV6_NEIGHBOR_ADVERTISEMENT: {
      // RFC 4861 §7.1.1/§7.1.2: ICMP length (derived from the IP length) is 24 or more octets.
      if (buf.length < ICMP_HEADER_LEN + 16) return { ok: false, error: 'truncated' };
      const options = parseNdpOptions(buf, ICMP_HEADER_LEN + 16, buf.length);
      if (options === null) return { ok: false, error: 'bad-option' };
      const target = v6ToString(buf, ICMP_HEADER_LEN);
      if (type === ICMPV6_NEIGHBOR_SOLICITATION) return { ok: true, value: { kind: 'neighbor-solicitation', code, reserved: rest, target, options } };
      return {
        ok: true,
        value: {
          kind: 'neighbor-advertisement', code,
          router: (rest & NA_R) !== 0, solicited: (rest & NA_S) !== 0, override: (rest & NA_O) !== 0,
          reserved: rest & 0x1fffffff, target, options,
        },
      };
    }
    default:
      return { ok: true, value: { kind: 'other', type, code, rest, body } };
  }
}

/** Bytes emitIcmpv6 writes for `m`. */
export function icmpv6BufferLen(m: Icmpv6Message): number {
  switch (m.kind) {
    case 'echo-request': case 'echo-reply': return ICMP_HEADER_LEN + m.data.length;
    case 'other': return ICMP_HEADER_LEN + m.body.length;
    case 'neighbor-solicitation': case 'neighbor-advertisement': return ICMP_HEADER_LEN + 16 + ndpOptionsLen(m.options);
    default: return ICMP_HEADER_LEN + m.original.length;
  }
}

/** Write `m` with its checksum over `pseudoSum` (for this length) into out[0, icmpv6BufferLen(m)); returns the byte count. */
export function emitIcmpv6(m: Icmpv6Message, out: Uint8Array, pseudoSum: number): number {
  const len = icmpv6BufferLen(m);
  need(out, len, 'emitIcmpv6');
  const dv = view(out);
  let type: number, rest: number;
  let body: Uint8Array | null = null;
  switch (m.kind) {
    case 'echo-request': case 'echo-reply':
      type = m.kind === 'echo-request' ? ICMPV6_ECHO_REQUEST : ICMPV6_ECHO_REPLY;
      rest = ((m.id & 0xffff) * 65536 + (m.seq & 0xffff)) >>> 0; body = m.data; break;
    case 'dest-unreachable': type = ICMPV6_DEST_UNREACHABLE; rest = m.unused >>> 0; body = m.original; break;
    case 'packet-too-big': type = ICMPV6_PACKET_TOO_BIG; rest = m.mtu >>> 0; body = m.original; break;
    case 'time-exceeded': type = ICMPV6_TIME_EXCEEDED; rest = m.unused >>> 0; body = m.original; break;
    case 'parameter-problem': type = ICMPV6_PARAMETER_PROBLEM; rest = m.pointer >>> 0; body = m.original; break;
    case 'neighbor-solicitation':
      type = ICMPV6_NEIGHBOR_SOLICITATION; rest = m.reserved >>> 0;
      if (!writeV6(m.target, out, ICMP_HEADER_LEN)) throw new RangeError(`emitIcmpv6: bad target ${JSON.stringify(m.target)}`);
      emitNdpOptions(m.options, out, ICMP_HEADER_LEN + 16);
      break;
    case 'neighbor-advertisement':
      type = ICMPV6_NEIGHBOR_ADVERTISEMENT;
      rest = ((m.router ? NA_R : 0) + (m.solicited ? NA_S : 0) + (m.override ? NA_O : 0) + (m.reserved & 0x1fffffff)) >>> 0;
      if (!writeV6(m.target, out, ICMP_HEADER_LEN)) throw new RangeError(`emitIcmpv6: bad target ${JSON.stringify(m.target)}`);
      emitNdpOptions(m.options, out, ICMP_HEADER_LEN + 16);
      break;
    case 'other': type = m.type; rest = m.rest >>> 0; body = m.body; break;
  }
  out[0] = type; out[1] = m.code;
  dv.setUint16(2, 0);
  dv.setUint32(4, rest);
  if (body !== null) out.set(body, ICMP_HEADER_LEN);
  dv.setUint16(2, finish(sum16(len === out.length ? out : out.subarray(0, len), pseudoSum)));
  return len;
}

/** An owned copy of the start of `packet` to quote in an ICMP error of that IP version (RFC 1812 §4.3.2.3, RFC 4443 §2.4(c)). */
export function icmpQuote(packet: Uint8Array, version: 4 | 6): Uint8Array {
  const max = version === 4 ? ICMPV4_MAX_QUOTE : ICMPV6_MAX_QUOTE;
  return packet.slice(0, packet.length < max ? packet.length : max);
}

/** The solicited-node multicast address of `addr` (RFC 4291 §2.7.1: ff02::1:ff00:0/104 + its low 24 bits). */
export function solicitedNodeAddr(addr: IpAddr): IpAddr {
  const b = new Uint8Array(16);
  if (!writeV6(addr, b, 0)) throw new RangeError(`solicitedNodeAddr: bad address ${JSON.stringify(addr)}`);
  const t = new Uint8Array([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, b[13]!, b[14]!, b[15]!]);
  return v6ToString(t);
}
