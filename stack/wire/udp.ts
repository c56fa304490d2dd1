// UDP (RFC 768), with the pseudo-header checksum for IPv4 (RFC 768) and IPv6 (RFC 8200 §8.1).
// Used by SCTP's UDP encapsulation (RFC 6951).
import type { Parsed } from './bytes.ts';
import { need } from './bytes.ts';
import { finish, sum16 } from './checksum.ts';

/** Length of the UDP header. */
export const UDP_HEADER_LEN = 8;
/** Field offsets, for zero-copy peeks (demux reads the ports without a full parse). */
export const UDP_OFF = { srcPort: 0, dstPort: 2, length: 4, checksum: 6 } as const;
/** SCTP over UDP's registered port (RFC 6951 §5.1, "sctp-tunneling"). */
export const UDP_PORT_SCTP_TUNNELING = 9899;

/** Why a datagram was rejected. */
export type UdpError = 'truncated' | 'bad-length' | 'bad-checksum' | 'no-checksum';

/** A parsed UDP datagram. `payload` is a view into the parsed buffer: copy before keeping. */
export interface UdpDatagram {
  srcPort: number;
  dstPort: number;
  /**
   * True when the datagram carries (or is to carry) checksum 0, "no checksum" (RFC 768); IPv4 only.
   * Parsing over IPv6 rejects it ('no-checksum', RFC 8200 §8.1); emitting computes the checksum when false.
   */
  noChecksum: boolean;
  payload: Uint8Array;
}

/** Bytes emitUdp writes for `d`. */
export const udpBufferLen = (d: UdpDatagram): number => UDP_HEADER_LEN + d.payload.length;

/**
 * Parse a UDP datagram. `pseudoSum` is the IP pseudo-header sum for this datagram's length
 * (ipPseudoSum(src, dst, 17, len), or pseudoSumV4/V6); `ipVersion` decides whether checksum 0 is allowed.
 * Bytes beyond the UDP Length field are ignored (as Linux trims them); a Length beyond the buffer is 'truncated'.
 */
export function parseUdp(buf: Uint8Array, pseudoSum: number, ipVersion: 4 | 6): Parsed<UdpDatagram, UdpError> {
  if (buf.length < UDP_HEADER_LEN) return { ok: false, error: 'truncated' };
  // Byte reads rather than a DataView: per-packet path, see ipv4.ts.
  const len = (buf[4]! << 8) | buf[5]!;
  if (len < UDP_HEADER_LEN) return { ok: false, error: 'bad-length' };
  if (len > buf.length) return { ok: false, error: 'truncated' };
  const noChecksum = buf[6] === 0 && buf[7] === 0;
  if (noChecksum) {
    // RFC 8200 §8.1: IPv6 receivers must discard UDP packets with a zero checksum (RFC 6935/6936
    // tunnel exceptions are not supported).
    if (ipVersion === 6) return { ok: false, error: 'no-checksum' };
  } else {
    const d = len === buf.length ? buf : buf.subarray(0, len);
    if (finish(sum16(d, pseudoSum)) !== 0) return { ok: false, error: 'bad-checksum' };
  }
  return {
    ok: true,
    value: { srcPort: (buf[0]! << 8) | buf[1]!, dstPort: (buf[2]! << 8) | buf[3]!, noChecksum, payload: buf.subarray(UDP_HEADER_LEN, len) },
  };
}

/**
 * Write `d` into out[0, udpBufferLen(d)) with its checksum over `pseudoSum` (which must be for this
 * length); returns the byte count. `d.payload` may already sit at out[8].
 */
export function emitUdp(d: UdpDatagram, out: Uint8Array, pseudoSum: number): number {
  const len = udpBufferLen(d);
  if (len > 65535) throw new RangeError(`emitUdp: length ${len} > 65535`);
  need(out, len, 'emitUdp');
  out[0] = (d.srcPort >> 8) & 0xff; out[1] = d.srcPort & 0xff;
  out[2] = (d.dstPort >> 8) & 0xff; out[3] = d.dstPort & 0xff;
  out[4] = len >> 8; out[5] = len & 0xff;
  out[6] = 0; out[7] = 0;
  if (d.payload.length > 0 && !(d.payload.buffer === out.buffer && d.payload.byteOffset === out.byteOffset + UDP_HEADER_LEN)) {
    out.set(d.payload, UDP_HEADER_LEN);
  }
  if (!d.noChecksum) {
    const ck = finish(sum16(len === out.length ? out : out.subarray(0, len), pseudoSum));
    // RFC 768: a computed checksum of zero is transmitted as all ones (zero means "none").
    const c = ck === 0 ? 0xffff : ck;
    out[6] = c >> 8; out[7] = c & 0xff;
  }
  return len;
}
