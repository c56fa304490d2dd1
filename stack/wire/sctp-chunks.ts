// SCTP chunks (RFC 9260 §3.3 and extensions), their parameters (§3.2.1, §3.3.2.1) and
// error causes (§3.3.10): a discriminated union on `type`, one parse/emit per chunk type,
// and builders so the endpoint never hand-encodes bytes.
//
// Representation rules:
// - Every chunk keeps its whole flags byte (`flags`); the defined bits have constants below.
// - DATA/I-DATA `userData` is a view into the parsed packet (copy before keeping it);
//   every other byte field is an owned copy (`slice()`), safe to keep in state.
// - Unknown chunk types, parameter types and cause codes are kept verbatim ('unknown') with
//   their numeric type, so the endpoint can apply the upper-two-bits rules (§3.2, §3.2.1).
// - A known parameter or cause whose value does not fit its layout is kept as 'unknown' with
//   its numeric type rather than misread. A known chunk whose value does not fit its layout
//   makes the packet fail with 'bad-chunk' (RFC 9260 §6.10: a partial chunk is dropped).
// - Parameters and causes are TLVs padded to 4 bytes; the chunk length excludes the padding
//   of the last one (§3.2). Parsing accepts both forms (§3.2 note: "A robust implementation
//   should accept the chunk whether or not the final padding has been included in the Chunk
//   Length"); emitting always excludes it, so only that non-canonical form re-emits differently.
import { v4ToString, v6ToString, ipToBytes, type IpAddr } from './addr.ts';

// ---- chunk types (RFC 9260 §3.2 and the IANA "Chunk Types" registry) ----

/** Numeric type of every chunk with a typed form. */
export const SCTP_CHUNK_TYPE = {
  'DATA': 0, 'INIT': 1, 'INIT-ACK': 2, 'SACK': 3, 'HEARTBEAT': 4, 'HEARTBEAT-ACK': 5, 'ABORT': 6,
  'SHUTDOWN': 7, 'SHUTDOWN-ACK': 8, 'ERROR': 9, 'COOKIE-ECHO': 10, 'COOKIE-ACK': 11,
  'SHUTDOWN-COMPLETE': 14, 'AUTH': 0x0f, 'I-DATA': 0x40, 'ASCONF-ACK': 0x80, 'RE-CONFIG': 0x82,
  'PAD': 0x84, 'FORWARD-TSN': 0xc0, 'ASCONF': 0xc1, 'I-FORWARD-TSN': 0xc2,
} as const;
/** Name of a chunk with a typed form. */
export type SctpChunkName = keyof typeof SCTP_CHUNK_TYPE;

/** DATA / I-DATA flag bits (RFC 9260 §3.3.1, RFC 7053 §3 I bit, RFC 8260 §2.1). */
export const DATA_E = 0x01, DATA_B = 0x02, DATA_U = 0x04, DATA_I = 0x08;
/** T bit of ABORT and SHUTDOWN-COMPLETE (RFC 9260 §3.3.7, §3.3.13): verification tag reflected. */
export const CHUNK_T = 0x01;
/** U bit in an I-FORWARD-TSN stream entry's flags word (RFC 8260 §2.3.1). */
export const IFWD_U = 0x0001;

/** SACK gap ack block: TSN offsets from the cumulative TSN ack, inclusive (RFC 9260 §3.3.4). */
export interface SctpGapAckBlock { start: number; end: number }
/** FORWARD-TSN stream entry (RFC 3758 §3.2). */
export interface SctpForwardTsnStream { streamId: number; ssn: number }
/** I-FORWARD-TSN stream entry (RFC 8260 §2.3.1): `flags` is the 16-bit word holding the U bit. */
export interface SctpIForwardTsnStream { streamId: number; flags: number; mid: number }

/** DATA (RFC 9260 §3.3.1). */
export interface SctpDataChunk {
  type: 'DATA'; flags: number; tsn: number; streamId: number; ssn: number; ppid: number;
  /** View into the packet buffer. */
  userData: Uint8Array;
}
/** I-DATA (RFC 8260 §2.1). `ppidOrFsn` is the PPID when B is set, the FSN otherwise. */
export interface SctpIDataChunk {
  type: 'I-DATA'; flags: number; tsn: number; streamId: number; reserved: number; mid: number; ppidOrFsn: number;
  /** View into the packet buffer. */
  userData: Uint8Array;
}
interface InitFields {
  flags: number; initiateTag: number; aRwnd: number;
  /** OS: number of outbound streams. */
  outboundStreams: number;
  /** MIS: maximum inbound streams. */
  inboundStreams: number;
  initialTsn: number; params: SctpParam[];
}
/** INIT (RFC 9260 §3.3.2). */
export interface SctpInitChunk extends InitFields { type: 'INIT' }
/** INIT ACK (RFC 9260 §3.3.3). */
export interface SctpInitAckChunk extends InitFields { type: 'INIT-ACK' }
/** SACK (RFC 9260 §3.3.4). */
export interface SctpSackChunk {
  type: 'SACK'; flags: number; cumTsnAck: number; aRwnd: number; gapAckBlocks: SctpGapAckBlock[]; dupTsns: number[];
}
/** HEARTBEAT (RFC 9260 §3.3.5): normally one 'heartbeat-info' parameter. */
export interface SctpHeartbeatChunk { type: 'HEARTBEAT'; flags: number; params: SctpParam[] }
/** HEARTBEAT ACK (RFC 9260 §3.3.6): the HEARTBEAT's parameters echoed. */
export interface SctpHeartbeatAckChunk { type: 'HEARTBEAT-ACK'; flags: number; params: SctpParam[] }
/** ABORT (RFC 9260 §3.3.7); flags bit CHUNK_T. */
export interface SctpAbortChunk { type: 'ABORT'; flags: number; causes: SctpErrorCause[] }
/** SHUTDOWN (RFC 9260 §3.3.8). */
export interface SctpShutdownChunk { type: 'SHUTDOWN'; flags: number; cumTsnAck: number }
/** SHUTDOWN ACK (RFC 9260 §3.3.9). */
export interface SctpShutdownAckChunk { type: 'SHUTDOWN-ACK'; flags: number }
/** ERROR (RFC 9260 §3.3.10). */
export interface SctpErrorChunk { type: 'ERROR'; flags: number; causes: SctpErrorCause[] }
/** COOKIE ECHO (RFC 9260 §3.3.11). */
export interface SctpCookieEchoChunk { type: 'COOKIE-ECHO'; flags: number; cookie: Uint8Array }
/** COOKIE ACK (RFC 9260 §3.3.12). */
export interface SctpCookieAckChunk { type: 'COOKIE-ACK'; flags: number }
/** SHUTDOWN COMPLETE (RFC 9260 §3.3.13); flags bit CHUNK_T. */
export interface SctpShutdownCompleteChunk { type: 'SHUTDOWN-COMPLETE'; flags: number }
/** FORWARD TSN (RFC 3758 §3.2). */
export interface SctpForwardTsnChunk { type: 'FORWARD-TSN'; flags: number; newCumTsn: number; streams: SctpForwardTsnStream[] }
/** I-FORWARD-TSN (RFC 8260 §2.3.1). */
export interface SctpIForwardTsnChunk { type: 'I-FORWARD-TSN'; flags: number; newCumTsn: number; streams: SctpIForwardTsnStream[] }
/** RE-CONFIG (RFC 6525 §3.1): request/response parameters, kept as parameters (types 13..18 are 'unknown' here). */
export interface SctpReConfigChunk { type: 'RE-CONFIG'; flags: number; params: SctpParam[] }
/** AUTH (RFC 4895 §4.1). */
export interface SctpAuthChunk { type: 'AUTH'; flags: number; sharedKeyId: number; hmacId: number; hmac: Uint8Array }
/** ASCONF (RFC 5061 §4.1.1): serial number, then the address parameter and ASCONF parameters. */
export interface SctpAsconfChunk { type: 'ASCONF'; flags: number; serial: number; params: SctpParam[] }
/** ASCONF-ACK (RFC 5061 §4.1.2). */
export interface SctpAsconfAckChunk { type: 'ASCONF-ACK'; flags: number; serial: number; params: SctpParam[] }
/** PAD (RFC 4820 §3): padding data, ignored by the receiver. */
export interface SctpPadChunk { type: 'PAD'; flags: number; padding: Uint8Array }
/** A chunk of a type we do not parse: raw type byte, flags and value (owned copy). */
export interface SctpUnknownChunk { type: 'unknown'; chunkType: number; flags: number; value: Uint8Array }

/** Every chunk; switch on `type`. */
export type SctpChunk =
  | SctpDataChunk | SctpIDataChunk | SctpInitChunk | SctpInitAckChunk | SctpSackChunk
  | SctpHeartbeatChunk | SctpHeartbeatAckChunk | SctpAbortChunk | SctpShutdownChunk | SctpShutdownAckChunk
  | SctpErrorChunk | SctpCookieEchoChunk | SctpCookieAckChunk | SctpShutdownCompleteChunk
  | SctpForwardTsnChunk | SctpIForwardTsnChunk | SctpReConfigChunk | SctpAuthChunk
  | SctpAsconfChunk | SctpAsconfAckChunk | SctpPadChunk | SctpUnknownChunk;

// ---- parameters (RFC 9260 §3.2.1, §3.3.2.1; RFC 3758, 4820, 4895, 5061, 6525) ----

/** Numeric type of every parameter with a typed form. */
export const SCTP_PARAM_TYPE = {
  'heartbeat-info': 1, 'ipv4-address': 5, 'ipv6-address': 6, 'state-cookie': 7, 'unrecognized-parameter': 8,
  'cookie-preservative': 9, 'host-name-address': 11, 'supported-address-types': 12, 'ecn-capable': 0x8000,
  'random': 0x8002, 'chunk-list': 0x8003, 'hmac-algo': 0x8004, 'padding': 0x8005, 'supported-extensions': 0x8008,
  'forward-tsn-supported': 0xc000, 'adaptation-layer-indication': 0xc006,
} as const;

/** A chunk parameter (TLV). */
export type SctpParam =
  | { type: 'heartbeat-info'; info: Uint8Array }                 // RFC 9260 §3.3.5
  | { type: 'ipv4-address'; addr: IpAddr }                       // §3.3.2.1
  | { type: 'ipv6-address'; addr: IpAddr }                       // §3.3.2.1
  | { type: 'state-cookie'; cookie: Uint8Array }                 // §3.3.3.1
  | { type: 'unrecognized-parameter'; param: Uint8Array }        // §3.3.3.1: the unrecognized TLV(s) as received
  | { type: 'cookie-preservative'; increment: number }           // §3.3.2.1, milliseconds
  | { type: 'host-name-address'; hostName: Uint8Array }          // §3.3.2.1 (deprecated): raw, NUL-terminated
  | { type: 'supported-address-types'; addressTypes: number[] }  // §3.3.2.1
  | { type: 'ecn-capable' }                                      // RFC 9260 Appendix A
  | { type: 'random'; random: Uint8Array }                       // RFC 4895 §3.1
  | { type: 'chunk-list'; chunkTypes: number[] }                 // RFC 4895 §3.2
  | { type: 'hmac-algo'; hmacIds: number[] }                     // RFC 4895 §3.3
  | { type: 'padding'; padding: Uint8Array }                     // RFC 4820 §4
  | { type: 'supported-extensions'; chunkTypes: number[] }       // RFC 5061 §4.2.7
  | { type: 'forward-tsn-supported' }                            // RFC 3758 §3.1
  | { type: 'adaptation-layer-indication'; indication: number }  // RFC 5061 §4.2.6
  | { type: 'unknown'; paramType: number; value: Uint8Array };

// ---- error causes (RFC 9260 §3.3.10) ----

/** Numeric code of every cause with a typed form. */
export const SCTP_CAUSE_CODE = {
  'invalid-stream-identifier': 1, 'missing-mandatory-parameter': 2, 'stale-cookie': 3, 'out-of-resource': 4,
  'unresolvable-address': 5, 'unrecognized-chunk-type': 6, 'invalid-mandatory-parameter': 7,
  'unrecognized-parameters': 8, 'no-user-data': 9, 'cookie-while-shutting-down': 10,
  'restart-with-new-addresses': 11, 'user-initiated-abort': 12, 'protocol-violation': 13,
} as const;

/** An error cause (TLV) in ABORT or ERROR. */
export type SctpErrorCause =
  | { type: 'invalid-stream-identifier'; streamId: number; reserved: number } // §3.3.10.1
  | { type: 'missing-mandatory-parameter'; paramTypes: number[] }            // §3.3.10.2
  | { type: 'stale-cookie'; staleness: number }                              // §3.3.10.3, microseconds
  | { type: 'out-of-resource' }                                              // §3.3.10.4
  | { type: 'unresolvable-address'; address: Uint8Array }                    // §3.3.10.5: the address TLV
  | { type: 'unrecognized-chunk-type'; chunk: Uint8Array }                   // §3.3.10.6: the chunk as received
  | { type: 'invalid-mandatory-parameter' }                                  // §3.3.10.7
  | { type: 'unrecognized-parameters'; params: Uint8Array }                  // §3.3.10.8: the TLVs as received
  | { type: 'no-user-data'; tsn: number }                                    // §3.3.10.9
  | { type: 'cookie-while-shutting-down' }                                   // §3.3.10.10
  | { type: 'restart-with-new-addresses'; addresses: Uint8Array }            // §3.3.10.11: address TLVs
  | { type: 'user-initiated-abort'; reason: Uint8Array }                     // §3.3.10.12
  | { type: 'protocol-violation'; info: Uint8Array }                         // §3.3.10.13
  | { type: 'unknown'; code: number; value: Uint8Array };

/** What to do with an unrecognized chunk or parameter type: its upper two bits (RFC 9260 §3.2, §3.2.1). */
export type SctpUnrecognizedAction = 'stop' | 'stop-report' | 'skip' | 'skip-report';
/**
 * Upper-two-bits rule for an unrecognized chunk type (8 bits) or parameter type (16 bits):
 * 00 stop (chunks: discard the packet; parameters: ignore the rest of the chunk's parameters),
 * 01 the same and report, 10 skip it and continue, 11 skip, continue and report.
 */
export function sctpUnrecognizedAction(typeNumber: number, bits: 8 | 16): SctpUnrecognizedAction {
  switch ((typeNumber >>> (bits - 2)) & 3) {
    case 0: return 'stop';
    case 1: return 'stop-report';
    case 2: return 'skip';
    default: return 'skip-report';
  }
}

// ---- helpers ----

/** Round up to a multiple of 4. */
export const pad4 = (n: number): number => (n + 3) & ~3;

/** Parse errors a chunk body can produce. */
export type SctpChunkError = 'bad-chunk' | 'bad-parameter' | 'bad-cause';

const u16list = (dv: DataView, s: number, e: number): number[] => {
  const out: number[] = [];
  for (let i = s; i < e; i += 2) out.push(dv.getUint16(i));
  return out;
};
const u8list = (b: Uint8Array, s: number, e: number): number[] => Array.from(b.subarray(s, e));

/**
 * Walk the TLVs in b[s..e): each has type(16) length(16) value, padded to 4 bytes; the padding
 * after the last may be absent (§3.2). Calls `each(type, valueStart, valueEnd)`. Returns false
 * if a TLV is shorter than 4, overruns `e`, or 1..3 stray bytes remain.
 */
function walkTlvs(dv: DataView, s: number, e: number, each: (type: number, vs: number, ve: number) => void): boolean {
  let i = s;
  while (i < e) {
    if (e - i < 4) return false;
    const t = dv.getUint16(i), len = dv.getUint16(i + 2);
    if (len < 4 || i + len > e) return false;
    each(t, i + 4, i + len);
    i = Math.min(i + pad4(len), e);
  }
  return true;
}

/** Parse the parameter TLVs in b[s..e); null when the framing is broken. */
export function parseSctpParams(b: Uint8Array, dv: DataView, s: number, e: number): SctpParam[] | null {
  const out: SctpParam[] = [];
  const good = walkTlvs(dv, s, e, (t, vs, ve) => out.push(parseParam(b, dv, t, vs, ve)));
  return good ? out : null;
}

function parseParam(b: Uint8Array, dv: DataView, t: number, vs: number, ve: number): SctpParam {
  const n = ve - vs;
  switch (t) {
    case 1: return { type: 'heartbeat-info', info: b.slice(vs, ve) };
    case 5: if (n === 4) return { type: 'ipv4-address', addr: v4ToString(b, vs) }; break;
    case 6: if (n === 16) return { type: 'ipv6-address', addr: v6ToString(b, vs) }; break;
    case 7: return { type: 'state-cookie', cookie: b.slice(vs, ve) };
    case 8: return { type: 'unrecognized-parameter', param: b.slice(vs, ve) };
    case 9: if (n === 4) return { type: 'cookie-preservative', increment: dv.getUint32(vs) }; break;
    case 11: return { type: 'host-name-address', hostName: b.slice(vs, ve) };
    case 12: if (n % 2 === 0) return { type: 'supported-address-types', addressTypes: u16list(dv, vs, ve) }; break;
    case 0x8000: if (n === 0) return { type: 'ecn-capable' }; break;
    case 0x8002: return { type: 'random', random: b.slice(vs, ve) };
    case 0x8003: return { type: 'chunk-list', chunkTypes: u8list(b, vs, ve) };
    case 0x8004: if (n % 2 === 0) return { type: 'hmac-algo', hmacIds: u16list(dv, vs, ve) }; break;
    case 0x8005: return { type: 'padding', padding: b.slice(vs, ve) };
    case 0x8008: return { type: 'supported-extensions', chunkTypes: u8list(b, vs, ve) };
    case 0xc000: if (n === 0) return { type: 'forward-tsn-supported' }; break;
    case 0xc006: if (n === 4) return { type: 'adaptation-layer-indication', indication: dv.getUint32(vs) }; break;
  }
  return { type: 'unknown', paramType: t, value: b.slice(vs, ve) };
}

/** Parse the error-cause TLVs in b[s..e); null when the framing is broken. */
export function parseSctpCauses(b: Uint8Array, dv: DataView, s: number, e: number): SctpErrorCause[] | null {
  const out: SctpErrorCause[] = [];
  const good = walkTlvs(dv, s, e, (t, vs, ve) => out.push(parseCause(b, dv, t, vs, ve)));
  return good ? out : null;
}

function parseCause(b: Uint8Array, dv: DataView, t: number, vs: number, ve: number): SctpErrorCause {
  const n = ve - vs;
  switch (t) {
    case 1: if (n === 4) return { type: 'invalid-stream-identifier', streamId: dv.getUint16(vs), reserved: dv.getUint16(vs + 2) }; break;
    case 2:
      if (n >= 4 && n === 4 + 2 * dv.getUint32(vs)) return { type: 'missing-mandatory-parameter', paramTypes: u16list(dv, vs + 4, ve) };
      break;
    case 3: if (n === 4) return { type: 'stale-cookie', staleness: dv.getUint32(vs) }; break;
    case 4: if (n === 0) return { type: 'out-of-resource' }; break;
    case 5: return { type: 'unresolvable-address', address: b.slice(vs, ve) };
    case 6: return { type: 'unrecognized-chunk-type', chunk: b.slice(vs, ve) };
    case 7: if (n === 0) return { type: 'invalid-mandatory-parameter' }; break;
    case 8: return { type: 'unrecognized-parameters', params: b.slice(vs, ve) };
    case 9: if (n === 4) return { type: 'no-user-data', tsn: dv.getUint32(vs) }; break;
    case 10: if (n === 0) return { type: 'cookie-while-shutting-down' }; break;
    case 11: return { type: 'restart-with-new-addresses', addresses: b.slice(vs, ve) };
    case 12: return { type: 'user-initiated-abort', reason: b.slice(vs, ve) };
    case 13: return { type: 'protocol-violation', info: b.slice(vs, ve) };
  }
  return { type: 'unknown', code: t, value: b.slice(vs, ve) };
}

/** Value length (without the 4-byte TLV header and padding) of a parameter. */
function paramValueLen(p: SctpParam): number {
  switch (p.type) {
    case 'heartbeat-info': return p.info.length;
    case 'ipv4-address': return 4;
    case 'ipv6-address': return 16;
    case 'state-cookie': return p.cookie.length;
    case 'unrecognized-parameter': return p.param.length;
    case 'cookie-preservative': return 4;
    case 'host-name-address': return p.hostName.length;
    case 'supported-address-types': return 2 * p.addressTypes.length;
    case 'ecn-capable': return 0;
    case 'random': return p.random.length;
    case 'chunk-list': return p.chunkTypes.length;
    case 'hmac-algo': return 2 * p.hmacIds.length;
    case 'padding': return p.padding.length;
    case 'supported-extensions': return p.chunkTypes.length;
    case 'forward-tsn-supported': return 0;
    case 'adaptation-layer-indication': return 4;
    case 'unknown': return p.value.length;
  }
}

/** Length field of a parameter TLV (header + value, without padding). */
export const sctpParamLen = (p: SctpParam): number => 4 + paramValueLen(p);

function addrBytes(a: IpAddr, len: 4 | 16): Uint8Array {
  const b = ipToBytes(a);
  if (b === null || b.length !== len) throw new RangeError(`SCTP address parameter: bad address ${a}`);
  return b;
}

/** Write one parameter at out[off..]; returns the offset after it (unpadded). */
function emitParam(p: SctpParam, out: Uint8Array, dv: DataView, off: number): number {
  const len = sctpParamLen(p);
  dv.setUint16(off, p.type === 'unknown' ? p.paramType : SCTP_PARAM_TYPE[p.type]);
  dv.setUint16(off + 2, len);
  const v = off + 4;
  switch (p.type) {
    case 'heartbeat-info': out.set(p.info, v); break;
    case 'ipv4-address': out.set(addrBytes(p.addr, 4), v); break;
    case 'ipv6-address': out.set(addrBytes(p.addr, 16), v); break;
    case 'state-cookie': out.set(p.cookie, v); break;
    case 'unrecognized-parameter': out.set(p.param, v); break;
    case 'cookie-preservative': dv.setUint32(v, p.increment >>> 0); break;
    case 'host-name-address': out.set(p.hostName, v); break;
    case 'supported-address-types': p.addressTypes.forEach((x, k) => dv.setUint16(v + 2 * k, x)); break;
    case 'ecn-capable': break;
    case 'random': out.set(p.random, v); break;
    case 'chunk-list': out.set(p.chunkTypes, v); break;
    case 'hmac-algo': p.hmacIds.forEach((x, k) => dv.setUint16(v + 2 * k, x)); break;
    case 'padding': out.set(p.padding, v); break;
    case 'supported-extensions': out.set(p.chunkTypes, v); break;
    case 'forward-tsn-supported': break;
    case 'adaptation-layer-indication': dv.setUint32(v, p.indication >>> 0); break;
    case 'unknown': out.set(p.value, v); break;
  }
  return off + len;
}

function causeValueLen(c: SctpErrorCause): number {
  switch (c.type) {
    case 'invalid-stream-identifier': return 4;
    case 'missing-mandatory-parameter': return 4 + 2 * c.paramTypes.length;
    case 'stale-cookie': return 4;
    case 'out-of-resource': return 0;
    case 'unresolvable-address': return c.address.length;
    case 'unrecognized-chunk-type': return c.chunk.length;
    case 'invalid-mandatory-parameter': return 0;
    case 'unrecognized-parameters': return c.params.length;
    case 'no-user-data': return 4;
    case 'cookie-while-shutting-down': return 0;
    case 'restart-with-new-addresses': return c.addresses.length;
    case 'user-initiated-abort': return c.reason.length;
    case 'protocol-violation': return c.info.length;
    case 'unknown': return c.value.length;
  }
}

/** Length field of an error cause TLV (header + value, without padding). */
export const sctpCauseLen = (c: SctpErrorCause): number => 4 + causeValueLen(c);

function emitCause(c: SctpErrorCause, out: Uint8Array, dv: DataView, off: number): number {
  const len = sctpCauseLen(c);
  dv.setUint16(off, c.type === 'unknown' ? c.code : SCTP_CAUSE_CODE[c.type]);
  dv.setUint16(off + 2, len);
  const v = off + 4;
  switch (c.type) {
    case 'invalid-stream-identifier': dv.setUint16(v, c.streamId); dv.setUint16(v + 2, c.reserved); break;
    case 'missing-mandatory-parameter':
      dv.setUint32(v, c.paramTypes.length);
      c.paramTypes.forEach((x, k) => dv.setUint16(v + 4 + 2 * k, x));
      break;
    case 'stale-cookie': dv.setUint32(v, c.staleness >>> 0); break;
    case 'unresolvable-address': out.set(c.address, v); break;
    case 'unrecognized-chunk-type': out.set(c.chunk, v); break;
    case 'unrecognized-parameters': out.set(c.params, v); break;
    case 'no-user-data': dv.setUint32(v, c.tsn >>> 0); break;
    case 'restart-with-new-addresses': out.set(c.addresses, v); break;
    case 'user-initiated-abort': out.set(c.reason, v); break;
    case 'protocol-violation': out.set(c.info, v); break;
    case 'unknown': out.set(c.value, v); break;
    case 'out-of-resource': case 'invalid-mandatory-parameter': case 'cookie-while-shutting-down': break;
  }
  return off + len;
}

/** Bytes a TLV list occupies inside a chunk: every TLV padded except the last (§3.2). */
function tlvListLen<T>(xs: readonly T[], lenOf: (x: T) => number): number {
  let n = 0;
  for (let k = 0; k < xs.length; k++) {
    const l = lenOf(xs[k]!);
    n += k === xs.length - 1 ? l : pad4(l);
  }
  return n;
}

function emitTlvList<T>(xs: readonly T[], out: Uint8Array, dv: DataView, off: number,
  emitOne: (x: T, out: Uint8Array, dv: DataView, off: number) => number): number {
  let i = off;
  for (let k = 0; k < xs.length; k++) {
    const end = emitOne(xs[k]!, out, dv, i);
    if (k === xs.length - 1) return end;
    const p = pad4(end - i) + i;
    out.fill(0, end, p);
    i = p;
  }
  return i;
}

/** Bytes of a parameter list inside a chunk (last parameter unpadded). */
export const sctpParamsLen = (ps: readonly SctpParam[]): number => tlvListLen(ps, sctpParamLen);
/** Bytes of a cause list inside a chunk (last cause unpadded). */
export const sctpCausesLen = (cs: readonly SctpErrorCause[]): number => tlvListLen(cs, sctpCauseLen);

/** One parameter as standalone TLV bytes (unpadded), e.g. to echo it in an 'unrecognized-parameter'. */
export function sctpParamBytes(p: SctpParam): Uint8Array {
  const out = new Uint8Array(sctpParamLen(p));
  emitParam(p, out, new DataView(out.buffer), 0);
  return out;
}

// ---- chunks ----

/** Chunk Length field of a chunk: header + value, without the trailing padding (§3.2). */
export function sctpChunkLen(c: SctpChunk): number {
  switch (c.type) {
    case 'DATA': return 16 + c.userData.length;
    case 'I-DATA': return 20 + c.userData.length;
    case 'INIT': case 'INIT-ACK': return 20 + sctpParamsLen(c.params);
    case 'SACK': return 16 + 4 * c.gapAckBlocks.length + 4 * c.dupTsns.length;
    case 'HEARTBEAT': case 'HEARTBEAT-ACK': case 'RE-CONFIG': return 4 + sctpParamsLen(c.params);
    case 'ABORT': case 'ERROR': return 4 + sctpCausesLen(c.causes);
    case 'SHUTDOWN': return 8;
    case 'SHUTDOWN-ACK': case 'COOKIE-ACK': case 'SHUTDOWN-COMPLETE': return 4;
    case 'COOKIE-ECHO': return 4 + c.cookie.length;
    case 'FORWARD-TSN': return 8 + 4 * c.streams.length;
    case 'I-FORWARD-TSN': return 8 + 8 * c.streams.length;
    case 'AUTH': return 8 + c.hmac.length;
    case 'ASCONF': case 'ASCONF-ACK': return 8 + sctpParamsLen(c.params);
    case 'PAD': return 4 + c.padding.length;
    case 'unknown': return 4 + c.value.length;
  }
}

/**
 * Parse one chunk whose header is at `o` and whose Chunk Length is `len` (already checked to
 * be >= 4 and within the buffer). Returns the chunk or an error code.
 */
export function parseSctpChunk(b: Uint8Array, dv: DataView, o: number, len: number): SctpChunk | SctpChunkError {
  const t = b[o]!, flags = b[o + 1]!, e = o + len;
  switch (t) {
    case 0: // DATA, RFC 9260 §3.3.1: 16-byte header; zero-length user data is for the endpoint to reject (§6.2).
      if (len < 16) return 'bad-chunk';
      return { type: 'DATA', flags, tsn: dv.getUint32(o + 4), streamId: dv.getUint16(o + 8), ssn: dv.getUint16(o + 10),
        ppid: dv.getUint32(o + 12), userData: b.subarray(o + 16, e) };
    case 1: case 2: { // INIT / INIT ACK, §3.3.2 / §3.3.3
      if (len < 20) return 'bad-chunk';
      const params = parseSctpParams(b, dv, o + 20, e);
      if (params === null) return 'bad-parameter';
      return { type: t === 1 ? 'INIT' : 'INIT-ACK', flags, initiateTag: dv.getUint32(o + 4), aRwnd: dv.getUint32(o + 8),
        outboundStreams: dv.getUint16(o + 12), inboundStreams: dv.getUint16(o + 14), initialTsn: dv.getUint32(o + 16), params };
    }
    case 3: { // SACK, §3.3.4: the block counts fix the length exactly.
      if (len < 16) return 'bad-chunk';
      const ng = dv.getUint16(o + 12), nd = dv.getUint16(o + 14);
      if (len !== 16 + 4 * ng + 4 * nd) return 'bad-chunk';
      const gapAckBlocks: SctpGapAckBlock[] = [];
      for (let k = 0, i = o + 16; k < ng; k++, i += 4) gapAckBlocks.push({ start: dv.getUint16(i), end: dv.getUint16(i + 2) });
      const dupTsns: number[] = [];
      for (let k = 0, i = o + 16 + 4 * ng; k < nd; k++, i += 4) dupTsns.push(dv.getUint32(i));
      return { type: 'SACK', flags, cumTsnAck: dv.getUint32(o + 4), aRwnd: dv.getUint32(o + 8), gapAckBlocks, dupTsns };
    }
    case 4: case 5: case 0x82: { // HEARTBEAT(-ACK) §3.3.5-6, RE-CONFIG (RFC 6525 §3.1)
      const params = parseSctpParams(b, dv, o + 4, e);
      if (params === null) return 'bad-parameter';
      return t === 4 ? { type: 'HEARTBEAT', flags, params } : t === 5 ? { type: 'HEARTBEAT-ACK', flags, params } : { type: 'RE-CONFIG', flags, params };
    }
    case 6: case 9: { // ABORT §3.3.7, ERROR §3.3.10
      const causes = parseSctpCauses(b, dv, o + 4, e);
      if (causes === null) return 'bad-cause';
      return t === 6 ? { type: 'ABORT', flags, causes } : { type: 'ERROR', flags, causes };
    }
    case 7: // SHUTDOWN, §3.3.8: length 8
      if (len !== 8) return 'bad-chunk';
      return { type: 'SHUTDOWN', flags, cumTsnAck: dv.getUint32(o + 4) };
    case 8: case 11: case 14: // SHUTDOWN ACK §3.3.9, COOKIE ACK §3.3.12, SHUTDOWN COMPLETE §3.3.13: length 4
      if (len !== 4) return 'bad-chunk';
      return t === 8 ? { type: 'SHUTDOWN-ACK', flags } : t === 11 ? { type: 'COOKIE-ACK', flags } : { type: 'SHUTDOWN-COMPLETE', flags };
    case 10: // COOKIE ECHO, §3.3.11
      return { type: 'COOKIE-ECHO', flags, cookie: b.slice(o + 4, e) };
    case 0x0f: // AUTH, RFC 4895 §4.1
      if (len < 8) return 'bad-chunk';
      return { type: 'AUTH', flags, sharedKeyId: dv.getUint16(o + 4), hmacId: dv.getUint16(o + 6), hmac: b.slice(o + 8, e) };
    case 0x40: // I-DATA, RFC 8260 §2.1
      if (len < 20) return 'bad-chunk';
      return { type: 'I-DATA', flags, tsn: dv.getUint32(o + 4), streamId: dv.getUint16(o + 8), reserved: dv.getUint16(o + 10),
        mid: dv.getUint32(o + 12), ppidOrFsn: dv.getUint32(o + 16), userData: b.subarray(o + 20, e) };
    case 0x80: case 0xc1: { // ASCONF-ACK / ASCONF, RFC 5061 §4.1
      if (len < 8) return 'bad-chunk';
      const params = parseSctpParams(b, dv, o + 8, e);
      if (params === null) return 'bad-parameter';
      const serial = dv.getUint32(o + 4);
      return t === 0xc1 ? { type: 'ASCONF', flags, serial, params } : { type: 'ASCONF-ACK', flags, serial, params };
    }
    case 0x84: // PAD, RFC 4820 §3
      return { type: 'PAD', flags, padding: b.slice(o + 4, e) };
    case 0xc0: { // FORWARD TSN, RFC 3758 §3.2
      if (len < 8 || (len - 8) % 4 !== 0) return 'bad-chunk';
      const streams: SctpForwardTsnStream[] = [];
      for (let i = o + 8; i < e; i += 4) streams.push({ streamId: dv.getUint16(i), ssn: dv.getUint16(i + 2) });
      return { type: 'FORWARD-TSN', flags, newCumTsn: dv.getUint32(o + 4), streams };
    }
    case 0xc2: { // I-FORWARD-TSN, RFC 8260 §2.3.1
      if (len < 8 || (len - 8) % 8 !== 0) return 'bad-chunk';
      const streams: SctpIForwardTsnStream[] = [];
      for (let i = o + 8; i < e; i += 8) streams.push({ streamId: dv.getUint16(i), flags: dv.getUint16(i + 2), mid: dv.getUint32(i + 4) });
      return { type: 'I-FORWARD-TSN', flags, newCumTsn: dv.getUint32(o + 4), streams };
    }
    default:
      return { type: 'unknown', chunkType: t, flags, value: b.slice(o + 4, e) };
  }
}

/** Write one chunk at out[off..] (header and value, no trailing padding); returns the end offset. */
export function emitSctpChunk(c: SctpChunk, out: Uint8Array, dv: DataView, off: number): number {
  const len = sctpChunkLen(c);
  if (len > 0xffff) throw new RangeError(`SCTP ${c.type} chunk of ${len} bytes exceeds the 16-bit length`);
  out[off] = c.type === 'unknown' ? c.chunkType : SCTP_CHUNK_TYPE[c.type];
  out[off + 1] = c.flags;
  dv.setUint16(off + 2, len);
  const v = off + 4;
  switch (c.type) {
    case 'DATA':
      dv.setUint32(v, c.tsn >>> 0); dv.setUint16(v + 4, c.streamId); dv.setUint16(v + 6, c.ssn); dv.setUint32(v + 8, c.ppid >>> 0);
      out.set(c.userData, v + 12);
      break;
    case 'I-DATA':
      dv.setUint32(v, c.tsn >>> 0); dv.setUint16(v + 4, c.streamId); dv.setUint16(v + 6, c.reserved);
      dv.setUint32(v + 8, c.mid >>> 0); dv.setUint32(v + 12, c.ppidOrFsn >>> 0);
      out.set(c.userData, v + 16);
      break;
    case 'INIT': case 'INIT-ACK':
      dv.setUint32(v, c.initiateTag >>> 0); dv.setUint32(v + 4, c.aRwnd >>> 0);
      dv.setUint16(v + 8, c.outboundStreams); dv.setUint16(v + 10, c.inboundStreams); dv.setUint32(v + 12, c.initialTsn >>> 0);
      emitTlvList(c.params, out, dv, v + 16, emitParam);
      break;
    case 'SACK': {
      dv.setUint32(v, c.cumTsnAck >>> 0); dv.setUint32(v + 4, c.aRwnd >>> 0);
      dv.setUint16(v + 8, c.gapAckBlocks.length); dv.setUint16(v + 10, c.dupTsns.length);
      let i = v + 12;
      for (const g of c.gapAckBlocks) { dv.setUint16(i, g.start); dv.setUint16(i + 2, g.end); i += 4; }
      for (const d of c.dupTsns) { dv.setUint32(i, d >>> 0); i += 4; }
      break;
    }
    case 'HEARTBEAT': case 'HEARTBEAT-ACK': case 'RE-CONFIG':
      emitTlvList(c.params, out, dv, v, emitParam);
      break;
    case 'ABORT': case 'ERROR':
      emitTlvList(c.causes, out, dv, v, emitCause);
      break;
    case 'SHUTDOWN':
      dv.setUint32(v, c.cumTsnAck >>> 0);
      break;
    case 'SHUTDOWN-ACK': case 'COOKIE-ACK': case 'SHUTDOWN-COMPLETE':
      break;
    case 'COOKIE-ECHO':
      out.set(c.cookie, v);
      break;
    case 'FORWARD-TSN': {
      dv.setUint32(v, c.newCumTsn >>> 0);
      let i = v + 4;
      for (const s of c.streams) { dv.setUint16(i, s.streamId); dv.setUint16(i + 2, s.ssn); i += 4; }
      break;
    }
    case 'I-FORWARD-TSN': {
      dv.setUint32(v, c.newCumTsn >>> 0);
      let i = v + 4;
      for (const s of c.streams) { dv.setUint16(i, s.streamId); dv.setUint16(i + 2, s.flags); dv.setUint32(i + 4, s.mid >>> 0); i += 8; }
      break;
    }
    case 'AUTH':
      dv.setUint16(v, c.sharedKeyId); dv.setUint16(v + 2, c.hmacId);
      out.set(c.hmac, v + 4);
      break;
    case 'ASCONF': case 'ASCONF-ACK':
      dv.setUint32(v, c.serial >>> 0);
      emitTlvList(c.params, out, dv, v + 4, emitParam);
      break;
    case 'PAD':
      out.set(c.padding, v);
      break;
    case 'unknown':
      out.set(c.value, v);
      break;
  }
  return off + len;
}

/** One chunk as standalone bytes (Chunk Length bytes, no padding), e.g. for an 'unrecognized-chunk-type' cause. */
export function sctpChunkBytes(c: SctpChunk): Uint8Array {
  const out = new Uint8Array(sctpChunkLen(c));
  emitSctpChunk(c, out, new DataView(out.buffer), 0);
  return out;
}

// ---- builders: chunks ----

/** DATA chunk; flags from the booleans, B and E default to true (unfragmented) (RFC 9260 §3.3.1, RFC 7053). `userData` is referenced, not copied. */
export function dataChunk(f: {
  tsn: number; streamId: number; ssn: number; ppid: number; userData: Uint8Array;
  unordered?: boolean; beginning?: boolean; ending?: boolean; immediate?: boolean;
}): SctpDataChunk {
  const flags = (f.unordered ? DATA_U : 0) | (f.beginning ?? true ? DATA_B : 0) | (f.ending ?? true ? DATA_E : 0) | (f.immediate ? DATA_I : 0);
  return { type: 'DATA', flags, tsn: f.tsn >>> 0, streamId: f.streamId, ssn: f.ssn, ppid: f.ppid >>> 0, userData: f.userData };
}

/** I-DATA chunk (RFC 8260 §2.1); `ppidOrFsn` is the PPID on the first fragment (B set), else the FSN; B and E default to true. */
export function iDataChunk(f: {
  tsn: number; streamId: number; mid: number; ppidOrFsn: number; userData: Uint8Array;
  unordered?: boolean; beginning?: boolean; ending?: boolean; immediate?: boolean;
}): SctpIDataChunk {
  const flags = (f.unordered ? DATA_U : 0) | (f.beginning ?? true ? DATA_B : 0) | (f.ending ?? true ? DATA_E : 0) | (f.immediate ? DATA_I : 0);
  return { type: 'I-DATA', flags, tsn: f.tsn >>> 0, streamId: f.streamId, reserved: 0, mid: f.mid >>> 0, ppidOrFsn: f.ppidOrFsn >>> 0, userData: f.userData };
}

/** Fields of INIT / INIT ACK. */
export interface SctpInitFields {
  initiateTag: number; aRwnd: number; outboundStreams: number; inboundStreams: number; initialTsn: number; params?: SctpParam[];
}
/** INIT chunk (RFC 9260 §3.3.2). */
export const initChunk = (f: SctpInitFields): SctpInitChunk => ({
  type: 'INIT', flags: 0, initiateTag: f.initiateTag >>> 0, aRwnd: f.aRwnd >>> 0, outboundStreams: f.outboundStreams,
  inboundStreams: f.inboundStreams, initialTsn: f.initialTsn >>> 0, params: f.params ?? [],
});
/** INIT ACK chunk (RFC 9260 §3.3.3); include a 'state-cookie' parameter. */
export const initAckChunk = (f: SctpInitFields): SctpInitAckChunk => ({ ...initChunk(f), type: 'INIT-ACK' });
/** SACK chunk (RFC 9260 §3.3.4). */
export const sackChunk = (cumTsnAck: number, aRwnd: number, gapAckBlocks: SctpGapAckBlock[] = [], dupTsns: number[] = []): SctpSackChunk =>
  ({ type: 'SACK', flags: 0, cumTsnAck: cumTsnAck >>> 0, aRwnd: aRwnd >>> 0, gapAckBlocks, dupTsns });
/** HEARTBEAT carrying one Heartbeat Info parameter (RFC 9260 §3.3.5). */
export const heartbeatChunk = (info: Uint8Array): SctpHeartbeatChunk => ({ type: 'HEARTBEAT', flags: 0, params: [heartbeatInfoParam(info)] });
/** HEARTBEAT ACK echoing a HEARTBEAT's parameters (RFC 9260 §8.3). */
export const heartbeatAckChunk = (params: SctpParam[]): SctpHeartbeatAckChunk => ({ type: 'HEARTBEAT-ACK', flags: 0, params });
/** ABORT; `tBit` set when the verification tag is reflected (RFC 9260 §3.3.7, §8.4). */
export const abortChunk = (causes: SctpErrorCause[] = [], tBit = false): SctpAbortChunk => ({ type: 'ABORT', flags: tBit ? CHUNK_T : 0, causes });
/** ERROR chunk (RFC 9260 §3.3.10). */
export const errorChunk = (causes: SctpErrorCause[]): SctpErrorChunk => ({ type: 'ERROR', flags: 0, causes });
/** SHUTDOWN (RFC 9260 §3.3.8). */
export const shutdownChunk = (cumTsnAck: number): SctpShutdownChunk => ({ type: 'SHUTDOWN', flags: 0, cumTsnAck: cumTsnAck >>> 0 });
/** SHUTDOWN ACK (RFC 9260 §3.3.9). */
export const shutdownAckChunk = (): SctpShutdownAckChunk => ({ type: 'SHUTDOWN-ACK', flags: 0 });
/** COOKIE ECHO carrying the state cookie from the INIT ACK (RFC 9260 §3.3.11). */
export const cookieEchoChunk = (cookie: Uint8Array): SctpCookieEchoChunk => ({ type: 'COOKIE-ECHO', flags: 0, cookie });
/** COOKIE ACK (RFC 9260 §3.3.12). */
export const cookieAckChunk = (): SctpCookieAckChunk => ({ type: 'COOKIE-ACK', flags: 0 });
/** SHUTDOWN COMPLETE; `tBit` as for ABORT (RFC 9260 §3.3.13). */
export const shutdownCompleteChunk = (tBit = false): SctpShutdownCompleteChunk => ({ type: 'SHUTDOWN-COMPLETE', flags: tBit ? CHUNK_T : 0 });
/** FORWARD TSN (RFC 3758 §3.2). */
export const forwardTsnChunk = (newCumTsn: number, streams: SctpForwardTsnStream[] = []): SctpForwardTsnChunk =>
  ({ type: 'FORWARD-TSN', flags: 0, newCumTsn: newCumTsn >>> 0, streams });
/** I-FORWARD-TSN (RFC 8260 §2.3.1). */
export const iForwardTsnChunk = (newCumTsn: number, streams: SctpIForwardTsnStream[] = []): SctpIForwardTsnChunk =>
  ({ type: 'I-FORWARD-TSN', flags: 0, newCumTsn: newCumTsn >>> 0, streams });
/** PAD chunk of `length` bytes in total (Chunk Length, >= 4), zero-filled (RFC 4820 §3). */
export const padChunk = (length: number): SctpPadChunk => ({ type: 'PAD', flags: 0, padding: new Uint8Array(Math.max(0, length - 4)) });

// ---- builders: parameters ----

/** Heartbeat Info parameter (RFC 9260 §3.3.5). */
export const heartbeatInfoParam = (info: Uint8Array): SctpParam => ({ type: 'heartbeat-info', info });
/** IPv4 or IPv6 Address parameter for `addr` (text; RFC 9260 §3.3.2.1). */
export const ipAddressParam = (addr: IpAddr): SctpParam =>
  addr.includes(':') ? { type: 'ipv6-address', addr } : { type: 'ipv4-address', addr };
/** State Cookie parameter (RFC 9260 §3.3.3.1). */
export const stateCookieParam = (cookie: Uint8Array): SctpParam => ({ type: 'state-cookie', cookie });
/** Unrecognized Parameter parameter wrapping the offending TLV bytes (RFC 9260 §3.3.3.1). */
export const unrecognizedParameterParam = (param: Uint8Array): SctpParam => ({ type: 'unrecognized-parameter', param });
/** Cookie Preservative parameter, suggested lifespan increment in ms (RFC 9260 §3.3.2.1). */
export const cookiePreservativeParam = (increment: number): SctpParam => ({ type: 'cookie-preservative', increment });
/** Supported Address Types parameter, e.g. [5, 6] (RFC 9260 §3.3.2.1). */
export const supportedAddressTypesParam = (addressTypes: number[]): SctpParam => ({ type: 'supported-address-types', addressTypes });
/** ECN Capable parameter (RFC 9260 Appendix A). */
export const ecnCapableParam = (): SctpParam => ({ type: 'ecn-capable' });
/** Forward-TSN-Supported parameter (RFC 3758 §3.1). */
export const forwardTsnSupportedParam = (): SctpParam => ({ type: 'forward-tsn-supported' });
/** Supported Extensions parameter listing chunk types (RFC 5061 §4.2.7). */
export const supportedExtensionsParam = (chunkTypes: number[]): SctpParam => ({ type: 'supported-extensions', chunkTypes });
/** Adaptation Layer Indication parameter (RFC 5061 §4.2.6). */
export const adaptationLayerParam = (indication: number): SctpParam => ({ type: 'adaptation-layer-indication', indication });
/** RANDOM parameter (RFC 4895 §3.1). */
export const randomParam = (random: Uint8Array): SctpParam => ({ type: 'random', random });
/** Chunk List parameter (RFC 4895 §3.2). */
export const chunkListParam = (chunkTypes: number[]): SctpParam => ({ type: 'chunk-list', chunkTypes });
/** Requested HMAC Algorithm parameter (RFC 4895 §3.3). */
export const hmacAlgoParam = (hmacIds: number[]): SctpParam => ({ type: 'hmac-algo', hmacIds });
/** Padding parameter of `length` bytes in total (>= 4) (RFC 4820 §4). */
export const paddingParam = (length: number): SctpParam => ({ type: 'padding', padding: new Uint8Array(Math.max(0, length - 4)) });

// ---- builders: error causes ----

/** Invalid Stream Identifier (RFC 9260 §3.3.10.1). */
export const invalidStreamCause = (streamId: number): SctpErrorCause => ({ type: 'invalid-stream-identifier', streamId, reserved: 0 });
/** Missing Mandatory Parameter (§3.3.10.2). */
export const missingMandatoryParameterCause = (paramTypes: number[]): SctpErrorCause => ({ type: 'missing-mandatory-parameter', paramTypes });
/** Stale Cookie, staleness in microseconds (§3.3.10.3). */
export const staleCookieCause = (staleness: number): SctpErrorCause => ({ type: 'stale-cookie', staleness });
/** Out of Resource (§3.3.10.4). */
export const outOfResourceCause = (): SctpErrorCause => ({ type: 'out-of-resource' });
/** Unresolvable Address, wrapping the address TLV (§3.3.10.5). */
export const unresolvableAddressCause = (address: Uint8Array): SctpErrorCause => ({ type: 'unresolvable-address', address });
/** Unrecognized Chunk Type, wrapping the chunk as received (§3.3.10.6); see sctpChunkBytes. */
export const unrecognizedChunkCause = (chunk: Uint8Array): SctpErrorCause => ({ type: 'unrecognized-chunk-type', chunk });
/** Invalid Mandatory Parameter (§3.3.10.7). */
export const invalidMandatoryParameterCause = (): SctpErrorCause => ({ type: 'invalid-mandatory-parameter' });
/** Unrecognized Parameters, wrapping the TLVs as received (§3.3.10.8); see sctpParamBytes. */
export const unrecognizedParametersCause = (params: Uint8Array): SctpErrorCause => ({ type: 'unrecognized-parameters', params });
/** No User Data (§3.3.10.9). */
export const noUserDataCause = (tsn: number): SctpErrorCause => ({ type: 'no-user-data', tsn: tsn >>> 0 });
/** Cookie Received While Shutting Down (§3.3.10.10). */
export const cookieWhileShuttingDownCause = (): SctpErrorCause => ({ type: 'cookie-while-shutting-down' });
/** Restart of an Association with New Addresses (§3.3.10.11). */
export const restartWithNewAddressesCause = (addresses: Uint8Array): SctpErrorCause => ({ type: 'restart-with-new-addresses', addresses });
/** User-Initiated Abort (§3.3.10.12). */
export const userInitiatedAbortCause = (reason: Uint8Array = new Uint8Array(0)): SctpErrorCause => ({ type: 'user-initiated-abort', reason });
/** Protocol Violation (§3.3.10.13). */
export const protocolViolationCause = (info: Uint8Array = new Uint8Array(0)): SctpErrorCause => ({ type: 'protocol-violation', info });
