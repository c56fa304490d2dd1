// SCTP packet (RFC 9260 §3): common header, chunk framing and padding, CRC32c checksum.
// Chunk bodies, parameters and error causes live in sctp-chunks.ts (re-exported here).
import { err, need, ok, type Parsed } from './bytes.ts';
import { crc32c } from './crc32c.ts';
import { emitSctpChunk, pad4, parseSctpChunk, sctpChunkLen, type SctpChunk, type SctpChunkError } from './sctp-chunks.ts';

export * from './sctp-chunks.ts';

/** IP protocol number of SCTP. */
export const IPPROTO_SCTP = 132;
/** Length of the common header (RFC 9260 §3.1). */
export const SCTP_HEADER_LEN = 12;
/** Byte offsets of the common header fields, for zero-copy peeks (e.g. demux). */
export const SCTP_OFF = { srcPort: 0, dstPort: 2, verificationTag: 4, checksum: 8, chunks: 12 } as const;

/** A parsed SCTP packet. The checksum is not kept: emitSctp always computes it. */
export interface SctpPacket {
  srcPort: number;
  dstPort: number;
  verificationTag: number;
  chunks: SctpChunk[];
}

/** Ways an SCTP packet can be rejected. */
export type SctpParseError = 'truncated' | 'bad-checksum' | 'bad-chunk-length' | SctpChunkError;

const ZERO4 = new Uint8Array(4);

/**
 * CRC32c of a packet as RFC 9260 §6.8 defines it: over the whole packet with the checksum
 * field taken as zero (without modifying `buf`).
 */
export function sctpChecksum(buf: Uint8Array): number {
  let c = crc32c(buf.subarray(0, 8));
  c = crc32c(ZERO4, c);
  return crc32c(buf.subarray(12), c);
}

/**
 * The checksum as stored in the packet. RFC 9260 Appendix B: the CRC is computed on the
 * reflected bit order and its least significant byte goes first, so the field holds the
 * CRC32c value little-endian (Linux, usrsctp and pion all write it this way).
 */
const storedChecksum = (dv: DataView): number => dv.getUint32(8, true);

/**
 * Parse an SCTP packet. Shorter than header + one chunk header is 'truncated'. With
 * `verifyChecksum`, a CRC32c mismatch is 'bad-checksum' (RFC 9260 §6.8: silently discard). Chunk framing (§3.2, §6.10): a Chunk Length < 4 or past the end of
 * the packet is 'bad-chunk-length'; 1..3 bytes left over after a chunk's padding are
 * 'truncated'. The last chunk may omit its padding (accepted, as Linux does). Padding bytes
 * need not be zero (the receiver ignores them, §3.2); emitSctp writes zeros.
 */
export function parseSctp(buf: Uint8Array, opts: { verifyChecksum: boolean }): Parsed<SctpPacket, SctpParseError> {
  const n = buf.length;
  // RFC 9260 §3: a common header followed by one or more chunks.
  if (n < SCTP_HEADER_LEN + 4) return err('truncated');
  const dv = new DataView(buf.buffer, buf.byteOffset, n);
  if (opts.verifyChecksum && sctpChecksum(buf) !== storedChecksum(dv)) return err('bad-checksum');
  const chunks: SctpChunk[] = [];
  let o = SCTP_HEADER_LEN;
  while (o < n) {
    if (n - o < 4) return err('truncated');
    const len = dv.getUint16(o + 2);
    if (len < 4 || o + len > n) return err('bad-chunk-length');
    const c = parseSctpChunk(buf, dv, o, len);
    if (typeof c === 'string') return err(c);
    chunks.push(c);
    o = Math.min(o + pad4(len), n);
  }
  return ok({ srcPort: dv.getUint16(0), dstPort: dv.getUint16(2), verificationTag: dv.getUint32(4), chunks });
}

/** Bytes emitSctp writes: header plus every chunk padded to 4 bytes (the last one too, §3.2). */
export function sctpBufferLen(pkt: SctpPacket): number {
  let n = SCTP_HEADER_LEN;
  for (let k = 0; k < pkt.chunks.length; k++) n += pad4(sctpChunkLen(pkt.chunks[k]!));
  return n;
}

/**
 * Write `pkt` into `out[0..sctpBufferLen(pkt))`: header, chunks with zero padding, then the
 * CRC32c (little-endian, see storedChecksum). Throws (programmer error) if `out` is too small
 * or a chunk does not fit its 16-bit length.
 */
export function emitSctp(pkt: SctpPacket, out: Uint8Array): void {
  const len = sctpBufferLen(pkt);
  need(out, len, 'emitSctp');
  const dv = new DataView(out.buffer, out.byteOffset, len);
  dv.setUint16(0, pkt.srcPort);
  dv.setUint16(2, pkt.dstPort);
  dv.setUint32(4, pkt.verificationTag >>> 0);
  dv.setUint32(8, 0);
  let o = SCTP_HEADER_LEN;
  for (let k = 0; k < pkt.chunks.length; k++) {
    const end = emitSctpChunk(pkt.chunks[k]!, out, dv, o);
    const p = o + pad4(end - o);
    out.fill(0, end, p);
    o = p;
  }
  dv.setUint32(8, crc32c(out.subarray(0, len)), true);
}

/** Packet builder: a plain SctpPacket. */
export const sctpPacket = (srcPort: number, dstPort: number, verificationTag: number, chunks: SctpChunk[]): SctpPacket =>
  ({ srcPort, dstPort, verificationTag: verificationTag >>> 0, chunks });
