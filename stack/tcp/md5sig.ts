// TCP-MD5 signatures (RFC 2385): the option we add to every segment of a socket configured with
// a key, and the check of arriving segments. The option is laid out as BSD's tcp_addoptions does
// (NOPs until it starts 2 bytes past a 4-byte boundary, so the 16-byte digest is 32-bit aligned).
import { md5, macEqual } from '../crypto.ts';
import { tcpOptionsLen, type SackBlock, type TcpOption } from '../wire/tcp.ts';

/** TCP option kind of the MD5 signature (RFC 2385 §3.0), 18 bytes long. */
export const TCPOPT_MD5SIG = 19;
export const TCPOLEN_MD5SIG = 18;
/** Option bytes the signature takes on a segment that carries nothing else: NOP, NOP, kind 19 (RFC 2385 §3.0). */
export const MD5_OPTION_SPACE = 20;

const ZERO16 = new Uint8Array(16);

/** `options` with NOP padding and a zeroed signature option appended (filled in by signTcp once the segment is built). */
export function withMd5Option(options: TcpOption[]): TcpOption[] {
  const out = options.slice();
  let len = tcpOptionsLen(out);
  for (; len % 4 !== 2; len++) out.push({ kind: 'nop' });
  out.push({ kind: 'unknown', type: TCPOPT_MD5SIG, data: ZERO16 });
  return out;
}

/**
 * SACK blocks that still fit beside the signature (RFC 2385 §4.3: the 18 option bytes leave less
 * room for other options): 40 bytes of options less the signature's 20 and the timestamp's 12,
 * 2 NOPs and 2 bytes of SACK header, 8 per block. null when none fit.
 */
export function sackBlocksBesideMd5(blocks: SackBlock[] | null, tsOk: boolean): SackBlock[] | null {
  if (blocks === null) return null;
  const room = 40 - MD5_OPTION_SPACE - (tsOk ? 12 : 0) - 4;
  const n = Math.max(0, Math.floor(room / 8));
  return n === 0 ? null : blocks.slice(0, n);
}

/**
 * Offset in `tcp` (a whole segment, header first) of the 16 digest bytes of its MD5 signature
 * option; -1 when it has none, -2 when the option list is malformed or the option has the wrong length.
 */
export function md5Offset(tcp: Uint8Array): number {
  if (tcp.length < 20) return -2;
  const hdr = (tcp[12]! >> 4) * 4;
  if (hdr < 20 || hdr > tcp.length) return -2;
  let i = 20;
  while (i < hdr) {
    const k = tcp[i]!;
    if (k === 0) return -1;
    if (k === 1) { i++; continue; }
    if (i + 1 >= hdr) return -2;
    const len = tcp[i + 1]!;
    if (len < 2 || i + len > hdr) return -2;
    if (k === TCPOPT_MD5SIG) return len === TCPOLEN_MD5SIG ? i + 2 : -2;
    i += len;
  }
  return -1;
}

/**
 * The RFC 2385 §2.0 digest of a segment: MD5 over (1) the pseudo-header (source address,
 * destination address, zero-padded protocol 6, segment length; for IPv6 the RFC 8200 §8.1
 * pseudo-header, as Linux and FreeBSD compute it), (2) the fixed 20-byte TCP header with checksum
 * zero (no options), (3) the data, (4) the key. `src`/`dst` are the raw address bytes (4 or 16).
 */
export function md5Digest(src: Uint8Array, dst: Uint8Array, tcp: Uint8Array, key: Uint8Array): Uint8Array {
  const hdr = (tcp[12]! >> 4) * 4;
  const dataLen = tcp.length - hdr;
  const v6 = src.length === 16;
  const pl = v6 ? 40 : 12;
  const buf = new Uint8Array(pl + 20 + dataLen + key.length);
  buf.set(src, 0);
  buf.set(dst, src.length);
  const len = tcp.length;
  if (v6) {
    buf[32] = (len >>> 24) & 0xff; buf[33] = (len >>> 16) & 0xff; buf[34] = (len >>> 8) & 0xff; buf[35] = len & 0xff;
    buf[39] = 6;
  } else {
    buf[9] = 6;
    buf[10] = (len >>> 8) & 0xff; buf[11] = len & 0xff;
  }
  buf.set(tcp.subarray(0, 20), pl);
  buf[pl + 16] = 0; buf[pl + 17] = 0;
  buf.set(tcp.subarray(hdr), pl + 20);
  buf.set(key, pl + 20 + dataLen);
  return md5(buf);
}

/** Write the signature of a built segment into its (zeroed) option. Returns false when it has no option. */
export function signTcp(src: Uint8Array, dst: Uint8Array, tcp: Uint8Array, key: Uint8Array): boolean {
  const off = md5Offset(tcp);
  if (off < 0) return false;
  tcp.set(md5Digest(src, dst, tcp, key), off);
  return true;
}

/** RFC 2385 §3.0 check of an arriving segment: 'ok', or why it must be dropped. */
export function md5Check(src: Uint8Array, dst: Uint8Array, tcp: Uint8Array, key: Uint8Array): 'ok' | 'missing' | 'bad' {
  const off = md5Offset(tcp);
  if (off === -1) return 'missing';
  if (off < 0) return 'bad';
  return macEqual(tcp.subarray(off, off + 16), md5Digest(src, dst, tcp, key)) ? 'ok' : 'bad';
}
