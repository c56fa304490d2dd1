// TCP header (RFC 9293 §3.1) and options (RFC 9293 §3.2, RFC 7323, RFC 2018).
// CONTRACT (types fixed so the TCP endpoint and the wire layer can be built in parallel):
// parseTcp/emitTcp/tcpBufferLen are implemented below this block.
import type { Seq } from './seq.ts';

/** Flag bits of byte 13 (RFC 9293 §3.1; ECE/CWR from RFC 3168). */
export const FIN = 0x01, SYN = 0x02, RST = 0x04, PSH = 0x08, ACK = 0x10, URG = 0x20, ECE = 0x40, CWR = 0x80;

/** One SACK block (RFC 2018 §3): left edge inclusive, right edge exclusive. */
export interface SackBlock { left: Seq; right: Seq }

/** One TCP option in wire order. Parsing keeps order, NOPs and EOL padding so emit(parse(p)) == p. */
export type TcpOption =
  | { kind: 'eol'; pad: number }                  // kind 0, followed by `pad` more zero bytes up to the header end
  | { kind: 'nop' }                               // kind 1
  | { kind: 'mss'; mss: number }                  // kind 2, len 4 (RFC 9293 §3.7.1)
  | { kind: 'wscale'; shift: number }             // kind 3, len 3 (RFC 7323 §2)
  | { kind: 'sack-permitted' }                    // kind 4, len 2 (RFC 2018 §2)
  | { kind: 'sack'; blocks: SackBlock[] }         // kind 5, len 2+8n (RFC 2018 §3)
  | { kind: 'timestamp'; tsval: number; tsecr: number } // kind 8, len 10 (RFC 7323 §3)
  | { kind: 'unknown'; type: number; data: Uint8Array }; // any other kind with a valid length, kept verbatim (owned copy)

/** A parsed TCP segment. `payload` is a view into the parsed buffer: copy it before keeping it in state. */
export interface TcpSegment {
  srcPort: number;
  dstPort: number;
  seq: Seq;
  ack: Seq;
  /** The 8 flag bits (FIN..CWR). */
  flags: number;
  /** The 4 reserved bits between data offset and flags (bit 0 is AE/NS), kept for exact re-emission. */
  reserved: number;
  window: number;
  urgent: number;
  options: TcpOption[];
  payload: Uint8Array;
}

// ---- implementation ----
import { err, need, ok, type Parsed } from './bytes.ts';
import { finish, pseudoSumV4, pseudoSumV6, sum16 } from './checksum.ts';
import { ipToBytes, isV6, type IpAddr } from './addr.ts';
import { emitTcpOptions, parseTcpOptions, TCP_MAX_OPTIONS_LEN, tcpOptionsLen } from './tcp-options.ts';

export {
  buildTcpOptions, emitTcpOptions, parseTcpOptions, tcpOptionLen, tcpOptionsInfo, tcpOptionsLen,
  TCP_MAX_OPTIONS_LEN, TCPOPT_EOL, TCPOPT_MSS, TCPOPT_NOP, TCPOPT_SACK, TCPOPT_SACK_PERMITTED, TCPOPT_TIMESTAMP, TCPOPT_WSCALE,
} from './tcp-options.ts';
export type { TcpOptionsInfo, TcpOptionsSpec } from './tcp-options.ts';

/** IP protocol number of TCP. */
export const IPPROTO_TCP = 6;
/** Length of the fixed TCP header (RFC 9293 §3.1). */
export const TCP_HEADER_LEN = 20;
/** Byte offsets of the fixed header fields, for zero-copy peeks (e.g. demux). */
export const TCP_OFF = { srcPort: 0, dstPort: 2, seq: 4, ack: 8, dataOff: 12, flags: 13, window: 14, checksum: 16, urgent: 18 } as const;

/** Ways a TCP segment can be rejected. */
export type TcpParseError = 'truncated' | 'bad-data-offset' | 'bad-checksum' | 'bad-option';

/**
 * Parse a TCP segment (header, options, payload). With `pseudoSum` a number (from
 * pseudoSumV4/V6 or tcpPseudoSum with the TCP length = buf.length), the checksum is verified
 * (RFC 9293 §3.1, MUST-3); null skips verification. `payload` is a view into `buf`.
 */
export function parseTcp(buf: Uint8Array, pseudoSum: number | null): Parsed<TcpSegment, TcpParseError> {
  const n = buf.length;
  if (n < TCP_HEADER_LEN) return err('truncated');
  const b12 = buf[12]!;
  const hdrLen = (b12 >> 4) * 4;
  // RFC 9293 §3.1: data offset counts 32-bit words, at least 5.
  if (hdrLen < TCP_HEADER_LEN || hdrLen > n) return err('bad-data-offset');
  if (pseudoSum !== null && finish(sum16(buf, pseudoSum)) !== 0) return err('bad-checksum');
  const dv = new DataView(buf.buffer, buf.byteOffset, n);
  let options: TcpOption[];
  if (hdrLen === TCP_HEADER_LEN) {
    options = [];
  } else if (hdrLen === 32 && buf[20] === 1 && buf[21] === 1 && buf[22] === 8 && buf[23] === 10) {
    // Fast path: NOP NOP TS, what Linux puts on every non-SYN segment (RFC 7323 Appendix A layout).
    options = [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'timestamp', tsval: dv.getUint32(24), tsecr: dv.getUint32(28) }];
  } else {
    const o = parseTcpOptions(buf, dv, TCP_HEADER_LEN, hdrLen);
    if (o === null) return err('bad-option');
    options = o;
  }
  return ok({
    srcPort: dv.getUint16(0),
    dstPort: dv.getUint16(2),
    seq: dv.getUint32(4),
    ack: dv.getUint32(8),
    flags: buf[13]!,
    reserved: b12 & 0x0f,
    window: dv.getUint16(14),
    urgent: dv.getUint16(18),
    options,
    payload: buf.subarray(hdrLen),
  });
}

/** Header length of `seg` as emitted: 20 + options padded to a multiple of 4. */
export function tcpHeaderLen(seg: TcpSegment): number {
  return TCP_HEADER_LEN + ((tcpOptionsLen(seg.options) + 3) & ~3);
}

/** Bytes emitTcp writes: header + payload. */
export function tcpBufferLen(seg: TcpSegment): number {
  return tcpHeaderLen(seg) + seg.payload.length;
}

/**
 * Write `seg` into `out[0..tcpBufferLen(seg))`: header, options in the given order, zero
 * padding to a 4-byte boundary (a zero byte is EOL, RFC 9293 §3.1), payload, and the checksum
 * over all of it plus `pseudoSum` (pseudo-header sum whose length is tcpBufferLen(seg)).
 * Throws (programmer error) if `out` is too small or the options exceed 40 bytes.
 */
export function emitTcp(seg: TcpSegment, out: Uint8Array, pseudoSum: number): void {
  const optLen = tcpOptionsLen(seg.options);
  if (optLen > TCP_MAX_OPTIONS_LEN) throw new RangeError(`emitTcp: ${optLen} bytes of options > ${TCP_MAX_OPTIONS_LEN}`);
  const hdrLen = TCP_HEADER_LEN + ((optLen + 3) & ~3);
  const len = hdrLen + seg.payload.length;
  need(out, len, 'emitTcp');
  const dv = new DataView(out.buffer, out.byteOffset, len);
  dv.setUint16(0, seg.srcPort);
  dv.setUint16(2, seg.dstPort);
  dv.setUint32(4, seg.seq >>> 0);
  dv.setUint32(8, seg.ack >>> 0);
  out[12] = ((hdrLen >> 2) << 4) | (seg.reserved & 0x0f);
  out[13] = seg.flags;
  dv.setUint16(14, seg.window);
  dv.setUint16(16, 0);
  dv.setUint16(18, seg.urgent);
  if (optLen > 0) {
    const end = emitTcpOptions(seg.options, out, dv, TCP_HEADER_LEN);
    out.fill(0, end, hdrLen);
  }
  out.set(seg.payload, hdrLen);
  dv.setUint16(16, finish(sum16(out.subarray(0, len), pseudoSum)));
}

/** Pseudo-header sum for a TCP segment of `len` bytes between two addresses (text form, see addr.ts). */
export function tcpPseudoSum(src: IpAddr, dst: IpAddr, len: number): number {
  const s = ipToBytes(src), d = ipToBytes(dst);
  if (s === null || d === null || s.length !== d.length) throw new RangeError(`tcpPseudoSum: bad address pair ${src} ${dst}`);
  return isV6(src) ? pseudoSumV6(s, d, IPPROTO_TCP, len) : pseudoSumV4(s, d, IPPROTO_TCP, len);
}
