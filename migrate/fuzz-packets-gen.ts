// Packet generators of the packet fuzzer (`ferry fuzz-packets`, migrate/fuzz-packets.ts). Each
// generator draws one raw IP packet from a seeded PRNG and a view of the target host (its
// addresses, ports and the live connections' sequence state), so a run is reproducible from
// its seed. Structure-aware packets are built with stack/wire emitters and carry VALID
// checksums (IPv4 header, TCP/UDP/ICMPv6 pseudo-header sums, SCTP CRC32c) after every field
// overwrite, so they get past the parsers and into the protocol logic.
//
// Forgery rules for the live connections' real 4-tuples and verification tags (what keeps the
// live transfers' byte-exact check meaningful). A blind attacker who guesses everything right
// can legitimately damage a connection: an in-window RST at exactly RCV.NXT (RFC 5961 §3.2
// accepts it), an acceptable ACK above SND.UNA (RFC 5961 §5.2 accepts SND.UNA < SEG.ACK =<
// SND.NXT), in-window data with wrong bytes, an in-window FIN, a TSval ahead of TS.Recent (it
// becomes TS.Recent and the real peer's later segments fail PAWS, RFC 7323 §5.3), SACK blocks
// over unacknowledged data, and for SCTP any chunk that carries the real tag and changes the
// association (ABORT, SHUTDOWN*, DATA inside the window, FORWARD-TSN). Those are "passes the RFC's
// checks" by construction, not bugs, so the live-tuple generator never forges them: it keeps the
// fields at the exact edges (RCV.NXT-1, RCV.NXT+RCV.WND, SND.UNA-1, SND.NXT+1, ...) and, where a
// segment could be accepted, makes it harmless (data bytes equal to the real stream's bytes at
// that sequence number and already sent by the peer — correct bytes from its future would be
// acknowledged beyond its SND.NXT, and it drops every segment carrying such an ACK — ACK at or
// below SND.UNA, TSval = TS.Recent or older). safeLiveTcp()
// states the rule; the unit tests check every generated live segment against it.
import { crc32c } from '../stack/wire/crc32c.ts';
import { finish, sum16 } from '../stack/wire/checksum.ts';
import { buildIp, ipPseudoSum } from '../stack/wire/ip.ts';
import { emitTcp, tcpBufferLen, ACK, FIN, RST, SYN, type TcpOption, type TcpSegment } from '../stack/wire/tcp.ts';
import { emitSctp, sctpBufferLen, sctpPacket, type SctpChunk, type SctpParam } from '../stack/wire/sctp.ts';
import { emitUdp } from '../stack/wire/udp.ts';
import { emitIcmpv4, emitIcmpv6, icmpv4BufferLen, icmpv6BufferLen, type Icmpv4Message, type Icmpv6Message } from '../stack/wire/icmp.ts';
import { seqGt, seqLe, seqLt } from '../stack/wire/seq.ts';
import { chance, nextInt, nextU32, type PrngState } from '../tun/prng.ts';

/** The generators, in the order the driver cycles through them. */
export const GENERATORS = ['random', 'fixture', 'ip', 'frag', 'tcp', 'tcp-live', 'sctp', 'sctp-live', 'udp-encap', 'icmp'] as const;
export type GenName = typeof GENERATORS[number];

/** A live TCP connection as the host sees it (fields named after RFC 9293). */
export interface LiveTcp {
  local: string; localPort: number; remote: string; remotePort: number;
  irs: number; rcvNxt: number; rcvWnd: number;
  sndUna: number; sndNxt: number; maxSndWnd: number;
  tsOk: boolean; tsRecent: number; sackOk: boolean;
  /** The real bytes the peer sends at stream offset `off` (len bytes), or null beyond what it has sent so far. */
  truth: (off: number, len: number) => Uint8Array | null;
}

/** A live SCTP association as the host sees it. */
export interface LiveSctp {
  local: string; localPort: number; remote: string; remotePort: number;
  myVtag: number; peerVtag: number; cumTsn: number; nextTsn: number; cumAck: number;
  /** RFC 6951 UDP port of the peer, or null for raw SCTP. */
  encap: number | null;
}

/** What the generators aim at. */
export interface Targets {
  hostV4: string; hostV6: string; peerV4: string; peerV6: string;
  tcpPorts: number[]; sctpPorts: number[]; closedPort: number; encapPort: number;
  tcp: LiveTcp[]; sctp: LiveSctp[];
  /** Fixture packets (raw IP), mutated by 'fixture'. */
  fixtures: Uint8Array[];
}

/** One generated packet. `valid`: every checksum in it is correct (structure-aware generators). */
export interface FuzzPacket { gen: GenName; data: Uint8Array; valid: boolean; what: string }

// ------------------------------------------------------------------------------ helpers

const u32 = (r: PrngState): number => nextU32(r);
const pick = <T>(r: PrngState, xs: readonly T[]): T => xs[nextInt(r, 0, xs.length)]!;
const rand = (r: PrngState, n: number): Uint8Array => {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = nextU32(r) & 0xff;
  return b;
};
const isV6 = (a: string): boolean => a.includes(':');

/** Recompute the IPv4 header checksum of `p` in place (over the IHL it declares, bounded by the buffer). */
export function fixIpv4Checksum(p: Uint8Array): void {
  if (p.length < 20 || p[0]! >> 4 !== 4) return;
  const hl = Math.min(p.length, Math.max(20, (p[0]! & 0x0f) * 4));
  p[10] = 0; p[11] = 0;
  const c = finish(sum16(p.subarray(0, hl)));
  p[10] = c >> 8; p[11] = c & 0xff;
}

/** Recompute an Internet checksum at `at` inside `l4` with the pseudo-header of (src, dst, proto). */
export function fixL4Checksum(l4: Uint8Array, at: number, src: string, dst: string, proto: number): void {
  if (l4.length < at + 2) return;
  l4[at] = 0; l4[at + 1] = 0;
  let c = finish(sum16(l4, ipPseudoSum(src, dst, proto, l4.length)));
  if (c === 0 && proto === 17) c = 0xffff; // RFC 768: a computed zero is sent as all ones
  l4[at] = c >> 8; l4[at + 1] = c & 0xff;
}

/** Recompute the CRC32c of an SCTP packet in place (RFC 9260 §6.8; stored little-endian). */
export function fixSctpChecksum(s: Uint8Array): void {
  if (s.length < 12) return;
  s[8] = s[9] = s[10] = s[11] = 0;
  const c = crc32c(s);
  s[8] = c & 0xff; s[9] = (c >>> 8) & 0xff; s[10] = (c >>> 16) & 0xff; s[11] = c >>> 24;
}

/** The transport header offset of a well-formed IP packet (IPv4 IHL, or 40 for IPv6 without extension headers). */
const l4Off = (p: Uint8Array): number => (p[0]! >> 4 === 4 ? (p[0]! & 0x0f) * 4 : 40);

/** Fix every checksum of a raw IP packet we can (IPv4 header, then TCP/UDP/ICMP/SCTP at its transport offset). */
export function fixChecksums(p: Uint8Array, src: string, dst: string): void {
  if (p.length < 20) return;
  const v4 = p[0]! >> 4 === 4;
  const proto = v4 ? p[9]! : p[6]!;
  const off = l4Off(p);
  if (off < 20 || off > p.length) { if (v4) fixIpv4Checksum(p); return; }
  const l4 = p.subarray(off);
  if (proto === 6) fixL4Checksum(l4, 16, src, dst, 6);
  else if (proto === 17) fixL4Checksum(l4, 6, src, dst, 17);
  else if (proto === 58) fixL4Checksum(l4, 2, src, dst, 58);
  else if (proto === 1 && l4.length >= 4) { l4[2] = l4[3] = 0; const c = finish(sum16(l4)); l4[2] = c >> 8; l4[3] = c & 0xff; }
  else if (proto === 132) fixSctpChecksum(l4);
  if (v4) fixIpv4Checksum(p);
}

/** An IP packet from `src` to `dst` carrying `l4` (protocol `proto`). */
const ip = (src: string, dst: string, proto: number, l4: Uint8Array, ident = 0): Uint8Array =>
  buildIp(src, dst, proto, l4, { ttl: 64, hopLimit: 64, ident, df: ident === 0 });

/** A TCP segment (emitted by emitTcp, valid checksum for src→dst). */
export function tcpBytes(seg: TcpSegment, src: string, dst: string): Uint8Array {
  const out = new Uint8Array(tcpBufferLen(seg));
  emitTcp(seg, out, ipPseudoSum(src, dst, 6, out.length));
  return out;
}

/** An SCTP packet (emitted by emitSctp, valid CRC32c). */
export function sctpBytes(srcPort: number, dstPort: number, vtag: number, chunks: SctpChunk[]): Uint8Array {
  const p = sctpPacket(srcPort, dstPort, vtag, chunks);
  const out = new Uint8Array(sctpBufferLen(p));
  emitSctp(p, out);
  return out;
}

/** A UDP datagram src→dst (valid checksum). */
export function udpBytes(srcPort: number, dstPort: number, payload: Uint8Array, src: string, dst: string): Uint8Array {
  const out = new Uint8Array(8 + payload.length);
  emitUdp({ srcPort, dstPort, noChecksum: false, payload }, out, ipPseudoSum(src, dst, 17, out.length));
  return out;
}

// ------------------------------------------------------------------------------ TCP

/** Every flag combination is drawn with some weight on the interesting ones (SYN|FIN|RST|URG and friends). */
function tcpFlags(r: PrngState): number {
  return chance(r, 0.5) ? nextInt(r, 0, 256) : pick(r, [SYN, SYN | ACK, ACK, RST, RST | ACK, FIN | ACK, SYN | FIN, SYN | RST, SYN | FIN | RST | 0x20, 0xff, 0, FIN, 0x20 | ACK]);
}

/** Options: valid ones, SACK blocks at edges, and raw option bytes with lengths 0, 1 or overlong. */
function tcpOptions(r: PrngState, base: number, tsval: number | null): { opts: TcpOption[]; raw: Uint8Array | null } {
  const opts: TcpOption[] = [];
  if (tsval !== null) opts.push({ kind: 'nop' }, { kind: 'nop' }, { kind: 'timestamp', tsval, tsecr: chance(r, 0.5) ? 0 : u32(r) });
  const k = nextInt(r, 0, 6);
  if (k === 1) opts.push({ kind: 'mss', mss: pick(r, [0, 1, 536, 1460, 65535]) });
  if (k === 2) opts.push({ kind: 'wscale', shift: pick(r, [0, 14, 15, 255]) });
  if (k === 3) opts.push({ kind: 'sack-permitted' });
  if (k === 4) {
    const n = nextInt(r, 1, tsval !== null ? 4 : 5);
    const blocks = [];
    for (let i = 0; i < n; i++) {
      // RFC 2018 §3: at the window edges, empty, wrapped (left > right) and 2^31 apart.
      const left = (base + pick(r, [-1, 0, 1, 0x7fffffff, 0x80000000, u32(r)])) >>> 0;
      const right = (left + pick(r, [0, 1, -1, 0x7fffffff, 65535, u32(r)])) >>> 0;
      blocks.push({ left, right });
    }
    opts.push({ kind: 'sack', blocks });
  }
  if (k === 5) {
    // Raw option bytes: a kind with length 0, 1, or longer than what is left (RFC 9293 §3.1, MUST-64/68).
    const raw = new Uint8Array(nextInt(r, 1, 5) * 4);
    for (let i = 0; i < raw.length; i++) raw[i] = nextU32(r) & 0xff;
    raw[0] = pick(r, [2, 3, 4, 5, 8, 19, 29, 30, 34, 253, nextInt(r, 0, 256)]);
    raw[1] = pick(r, [0, 1, 2, raw.length, raw.length + 1, 255, 10, 18]);
    return { opts, raw };
  }
  return { opts, raw: null };
}

/** A TCP segment with raw options spliced in, data offset possibly overwritten, checksum valid. */
function tcpRaw(r: PrngState, seg: TcpSegment, raw: Uint8Array | null, src: string, dst: string, badOffset: boolean): Uint8Array {
  let b = tcpBytes(seg, src, dst);
  if (raw !== null) {
    const hl = (b[12]! >> 4) * 4;
    const room = 60 - hl;
    const add = raw.subarray(0, Math.min(raw.length, room - (room % 4)));
    const n = new Uint8Array(b.length + add.length);
    n.set(b.subarray(0, hl));
    n.set(add, hl);
    n.set(b.subarray(hl), hl + add.length);
    n[12] = (((hl + add.length) / 4) << 4) | (n[12]! & 0x0f);
    b = n;
  }
  // RFC 9293 §3.1: data offset out of range (< 5 or past the segment's end).
  if (badOffset) b[12] = (pick(r, [0, 1, 4, 15, nextInt(r, 0, 16)]) << 4) | (b[12]! & 0x0f);
  fixL4Checksum(b, 16, src, dst, 6);
  return b;
}

/** TCP to the host's listening, closed and random ports, from the peer's and random addresses. */
function genTcp(r: PrngState, t: Targets): FuzzPacket {
  const v6 = chance(r, 0.3);
  const dst = v6 ? t.hostV6 : t.hostV4;
  const src = chance(r, 0.5) ? (v6 ? t.peerV6 : t.peerV4) : (v6 ? `fd09::${(u32(r) & 0xffff).toString(16)}` : `10.${nextInt(r, 0, 256)}.${nextInt(r, 0, 256)}.${nextInt(r, 1, 255)}`);
  const dstPort = chance(r, 0.6) ? pick(r, t.tcpPorts) : chance(r, 0.5) ? t.closedPort : nextInt(r, 0, 65536);
  const seq = u32(r), ack = u32(r);
  const { opts, raw } = tcpOptions(r, ack, chance(r, 0.5) ? u32(r) : null);
  const flags = tcpFlags(r);
  // Unconstrained segments never use a live 4-tuple (that is genTcpLive's job, under its rule).
  let srcPort = nextInt(r, 0, 65536);
  while (t.tcp.some((c) => c.remote === src && c.remotePort === srcPort && c.localPort === dstPort)) srcPort = (srcPort + 1) & 0xffff;
  const payload = chance(r, 0.7) ? new Uint8Array(0) : rand(r, nextInt(r, 1, 1400));
  const seg: TcpSegment = {
    srcPort, dstPort, seq, ack, flags, reserved: chance(r, 0.1) ? nextInt(r, 0, 16) : 0,
    window: pick(r, [0, 1, 65535, nextInt(r, 0, 65536)]), urgent: chance(r, 0.2) ? nextInt(r, 0, 65536) : 0, options: opts, payload,
  };
  const bad = chance(r, 0.15);
  return { gen: 'tcp', data: ip(src, dst, 6, tcpRaw(r, seg, raw, src, dst, bad)), valid: true, what: `tcp flags ${flags.toString(16)}${bad ? ' bad-doff' : ''}${raw ? ' raw-opt' : ''}` };
}

/** RFC 5961 §5.2 acceptable ACK range [SND.UNA - MAX.SND.WND, SND.NXT]. */
const ackAcceptable = (c: LiveTcp, ack: number): boolean => !seqGt(ack, c.sndNxt) && !seqLt(ack, (c.sndUna - Math.max(c.maxSndWnd, 1)) >>> 0);

/**
 * Whether a forged segment on live connection `c` is one the fuzzer may send (see the file
 * comment): it must not be able to reset, end, acknowledge, or inject wrong data into `c`.
 */
export function safeLiveTcp(c: LiveTcp, seg: TcpSegment, tsval: number | null): boolean {
  const f = seg.flags;
  if (f & RST) return seg.seq !== c.rcvNxt;
  if (f & SYN) return true;                 // RFC 5961 §4.2: a challenge ACK, whatever SEG.SEQ
  if (!(f & ACK)) return true;              // dropped (RFC 9293 §3.10.7.4 fifth: no ACK bit)
  if (c.tsOk && tsval === null) return true;   // no TSopt: dropped (RFC 7323 §3.2)
  if (!ackAcceptable(c, seg.ack)) return true; // challenge ACK (RFC 5961 §5.2), whatever else it carries
  if (c.tsOk && tsval !== null && seqGt(tsval, c.tsRecent)) return false; // would become TS.Recent (PAWS for the real peer)
  if (seqGt(seg.ack, c.sndUna)) return false;  // would acknowledge unsent-to-peer data
  if (f & FIN) return false;
  if (seg.payload.length > 0) {
    const off = (seg.seq - c.irs - 1) | 0;
    const want = off >= 0 ? c.truth(off, seg.payload.length) : null;
    if (want === null) return false;
    for (let i = 0; i < want.length; i++) if (want[i] !== seg.payload[i]) return false;
  }
  return true;
}

/** Segments on the live connections' real 4-tuples with fields at the exact window edges. */
function genTcpLive(r: PrngState, t: Targets): FuzzPacket {
  if (t.tcp.length === 0) return genTcp(r, t);
  const c = pick(r, t.tcp);
  const wnd = c.rcvWnd;
  const seq = (c.rcvNxt + pick(r, [-1, 0, wnd, wnd - 1, wnd + 1, 1, -65536, 0x80000000, u32(r)])) >>> 0;
  let ack = (pick(r, [c.sndUna - 1, c.sndUna, c.sndNxt + 1, c.sndNxt + 2, c.sndUna - Math.max(c.maxSndWnd, 1), c.sndUna - Math.max(c.maxSndWnd, 1) - 1, u32(r)])) >>> 0;
  let flags = tcpFlags(r);
  if (chance(r, 0.4)) flags = ACK | (flags & (FIN | 0x08 | 0x20));
  const tsval = c.tsOk && chance(r, 0.9) ? (c.tsRecent - pick(r, [0, 0, 1, 1000, 0x7fffffff])) >>> 0 : (chance(r, 0.2) ? u32(r) : null);
  const { opts, raw } = tcpOptions(r, pick(r, [c.sndUna, c.sndNxt, (c.sndNxt + 1) >>> 0]), tsval);
  // SACK blocks on an acceptable ACK only where they cannot cover unacknowledged data (file comment).
  for (const o of opts) if (o.kind === 'sack') for (const b of o.blocks) if (seqLt(c.sndUna, b.right) && seqLe(b.right, c.sndNxt)) b.right = (c.sndNxt + 1) >>> 0;
  let len = pick(r, [0, 0, 1, nextInt(r, 1, 1400)]);
  let payload: Uint8Array = new Uint8Array(0);
  if (len > 0) {
    const off = (seq - c.irs - 1) | 0;
    payload = (off >= 0 ? c.truth(off, len) : null) ?? rand(r, len);
  }
  const seg: TcpSegment = {
    srcPort: c.remotePort, dstPort: c.localPort, seq, ack, flags, reserved: 0,
    window: pick(r, [0, 1, 65535, nextInt(r, 0, 65536)]), urgent: flags & 0x20 ? nextInt(r, 0, 65536) : 0, options: opts, payload,
  };
  if (!safeLiveTcp(c, seg, tsval)) {
    // Make it harmless: an ACK just past SND.NXT is challenged and dropped (RFC 5961 §5.2).
    ack = (c.sndNxt + 1) >>> 0;
    seg.ack = ack;
    if (seg.flags & RST) seg.seq = (seg.seq + 1) >>> 0;
    if (!safeLiveTcp(c, seg, tsval)) { seg.flags = ACK; seg.payload = new Uint8Array(0); len = 0; }
    if (!safeLiveTcp(c, seg, tsval)) throw new Error('genTcpLive: could not make the segment safe');
  }
  // Options and data offset stay valid on live tuples; raw options only when the TSopt is not needed.
  const useRaw = raw !== null && !c.tsOk;
  return { gen: 'tcp-live', data: ip(c.remote, c.local, 6, tcpRaw(r, seg, useRaw ? raw : null, c.remote, c.local, false)), valid: true, what: `tcp-live ${c.localPort} flags ${seg.flags.toString(16)} seq ${(seg.seq - c.rcvNxt) | 0} ack ${(seg.ack - c.sndUna) | 0}` };
}

// ------------------------------------------------------------------------------ IP

/** A valid inner packet for the host (used by the IP and fragment generators). */
function innerL4(r: PrngState, t: Targets, v6: boolean): { src: string; dst: string; proto: number; l4: Uint8Array } {
  const dst = v6 ? t.hostV6 : t.hostV4, src = v6 ? t.peerV6 : t.peerV4;
  const k = nextInt(r, 0, 3);
  if (k === 0) {
    const seg: TcpSegment = { srcPort: nextInt(r, 1024, 65536), dstPort: pick(r, t.tcpPorts), seq: u32(r), ack: u32(r), flags: tcpFlags(r), reserved: 0, window: 1000, urgent: 0, options: [], payload: rand(r, nextInt(r, 0, 3000)) };
    return { src, dst, proto: 6, l4: tcpBytes(seg, src, dst) };
  }
  if (k === 1) return { src, dst, proto: 132, l4: sctpBytes(nextInt(r, 1, 65536), pick(r, t.sctpPorts), u32(r), [{ type: 'DATA', flags: 3, tsn: u32(r), streamId: 0, ssn: 0, ppid: 0, userData: rand(r, nextInt(r, 1, 2000)) }]) };
  return { src, dst, proto: 17, l4: udpBytes(nextInt(r, 1, 65536), pick(r, [t.encapPort, nextInt(r, 0, 65536)]), rand(r, nextInt(r, 0, 2000)), src, dst) };
}

/** IPv4/IPv6 headers with wrong total length, IHL, version, options, TTL 0, unknown protocols; checksums valid. */
function genIp(r: PrngState, t: Targets): FuzzPacket {
  const v6 = chance(r, 0.3);
  const { src, dst, proto, l4 } = innerL4(r, t, v6);
  const p = ip(src, dst, chance(r, 0.1) ? nextInt(r, 0, 256) : proto, l4);
  const dv = new DataView(p.buffer);
  const k = nextInt(r, 0, 5);
  let what = '';
  if (!v6) {
    if (k === 0) { dv.setUint16(2, pick(r, [0, 19, 20, 21, p.length - 1, p.length + 1, 65535, nextInt(r, 0, 65536)])); what = 'total-length'; }
    else if (k === 1) { p[0] = 0x40 | nextInt(r, 0, 16); what = 'ihl'; }
    else if (k === 2) { p[0] = (nextInt(r, 0, 16) << 4) | (p[0]! & 0x0f); what = 'version'; }
    else if (k === 3) { p[8] = 0; p[1] = nextInt(r, 0, 256); what = 'ttl0-tos'; }
    else { dv.setUint16(6, nextInt(r, 0, 65536)); what = 'flags-offset'; }
    fixIpv4Checksum(p);
  } else {
    if (k === 0 || k === 1) { dv.setUint16(4, pick(r, [0, 1, p.length - 40 - 1, p.length - 40 + 1, 65535, nextInt(r, 0, 65536)])); what = 'payload-length'; }
    else if (k === 2) { p[0] = (nextInt(r, 0, 16) << 4) | (p[0]! & 0x0f); what = 'version'; }
    else { p[6] = pick(r, [0, 43, 44, 50, 51, 59, 60, nextInt(r, 0, 256)]); what = 'next-header'; }
  }
  return { gen: 'ip', data: p, valid: true, what: `ip${v6 ? 6 : 4} ${what}` };
}

/** Fragments: split a valid packet with random, overlapping, unaligned or oversized offsets (RFC 791 §3.2, RFC 8200 §4.5, RFC 5722). */
function genFrag(r: PrngState, t: Targets): FuzzPacket {
  const v6 = chance(r, 0.3);
  const { src, dst, proto, l4 } = innerL4(r, t, v6);
  const ident = nextInt(r, 1, chance(r, 0.5) ? 8 : 65536); // a few idents often, so pieces meet
  const start = pick(r, [0, 0, 8, 16, nextInt(r, 0, l4.length + 8) & ~7, nextInt(r, 0, 8192) * 8, nextInt(r, 0, l4.length + 1)]);
  const end = Math.min(l4.length, start + pick(r, [8, 16, 1480, nextInt(r, 1, 2000)]));
  const piece = start < l4.length ? l4.subarray(start, Math.max(start, end)) : rand(r, nextInt(r, 0, 64));
  const more = chance(r, 0.6);
  if (!v6) {
    const p = ip(src, dst, proto, piece, ident);
    const off = Math.min(0x1fff, start >> 3);
    p[6] = (more ? 0x20 : 0) | (chance(r, 0.05) ? 0x80 : 0) | (off >> 8); p[7] = off & 0xff;
    fixIpv4Checksum(p);
    return { gen: 'frag', data: p, valid: true, what: `frag4 off ${start} len ${piece.length} mf ${more}` };
  }
  const fh = new Uint8Array(8 + piece.length);
  fh[0] = proto;
  const off = Math.min(0x1fff, start >> 3);
  fh[2] = off >> 5; fh[3] = ((off & 0x1f) << 3) | (more ? 1 : 0);
  new DataView(fh.buffer).setUint32(4, ident);
  fh.set(piece, 8);
  const p = ip(src, dst, 44, fh);
  return { gen: 'frag', data: p, valid: true, what: `frag6 off ${start} len ${piece.length} mf ${more}` };
}

// ------------------------------------------------------------------------------ SCTP

function initChunk(r: PrngState, type: 'INIT' | 'INIT-ACK'): SctpChunk {
  const params: SctpParam[] = [];
  const n = nextInt(r, 0, 4);
  for (let i = 0; i < n; i++) {
    // RFC 9260 §3.3.2.1: addresses (ours, the peer's, wildcard, multicast), a cookie in an INIT, a host name
    // (deprecated: ABORT), supported address types, unknown types with each of the four upper-bit actions (§3.2.1).
    const k = nextInt(r, 0, 8);
    if (k === 0) params.push({ type: 'ipv4-address', addr: pick(r, ['0.0.0.0', '255.255.255.255', '224.0.0.1', '10.9.0.1', '10.9.0.2', `10.${nextInt(r, 0, 256)}.0.${nextInt(r, 0, 256)}`]) });
    else if (k === 1) params.push({ type: 'ipv6-address', addr: pick(r, ['::', '::1', 'ff02::1', 'fe80::1', 'fd09::1', 'fd09::9']) });
    else if (k === 2) params.push({ type: 'state-cookie', cookie: rand(r, nextInt(r, 0, 64)) });
    else if (k === 3) params.push({ type: 'forward-tsn-supported' });
    else if (k === 4) params.push({ type: 'host-name-address', hostName: rand(r, nextInt(r, 0, 20)) });
    else if (k === 5) params.push({ type: 'supported-address-types', addressTypes: [pick(r, [5, 6, 11, 0, 0xffff])] });
    else params.push({ type: 'unknown', paramType: pick(r, [0x0001, 0x4001, 0x8001, 0xc001, nextInt(r, 0, 65536)]), value: rand(r, nextInt(r, 0, 12)) });
  }
  return {
    type, flags: chance(r, 0.1) ? nextInt(r, 0, 256) : 0,
    initiateTag: chance(r, 0.2) ? 0 : u32(r), aRwnd: pick(r, [0, 1, 1500, 0xffffffff, u32(r)]),
    outboundStreams: pick(r, [0, 1, 10, 65535]), inboundStreams: pick(r, [0, 1, 10, 65535]), initialTsn: u32(r), params,
  };
}

/** A chunk of any kind with random fields. */
function anyChunk(r: PrngState, tsnBase: number): SctpChunk {
  switch (nextInt(r, 0, 14)) {
    case 0: return { type: 'DATA', flags: nextInt(r, 0, 16), tsn: (tsnBase + pick(r, [0, 1, -1, 0x40000000, u32(r)])) >>> 0, streamId: pick(r, [0, 1, 9, 65535]), ssn: nextInt(r, 0, 65536), ppid: u32(r), userData: rand(r, nextInt(r, 0, 1200)) };
    case 1: return initChunk(r, 'INIT');
    case 2: return initChunk(r, 'INIT-ACK');
    case 3: return { type: 'SACK', flags: 0, cumTsnAck: (tsnBase + pick(r, [0, -1, 1, u32(r)])) >>> 0, aRwnd: u32(r), gapAckBlocks: [{ start: nextInt(r, 0, 65536), end: nextInt(r, 0, 65536) }], dupTsns: chance(r, 0.5) ? [u32(r)] : [] };
    case 4: return { type: 'HEARTBEAT', flags: 0, params: [{ type: 'heartbeat-info', info: rand(r, nextInt(r, 0, 40)) }] };
    case 5: return { type: 'HEARTBEAT-ACK', flags: 0, params: [{ type: 'heartbeat-info', info: rand(r, nextInt(r, 0, 40)) }] };
    case 6: return { type: 'ABORT', flags: nextInt(r, 0, 2), causes: [] };
    case 7: return { type: 'SHUTDOWN', flags: 0, cumTsnAck: (tsnBase + nextInt(r, -2, 3)) >>> 0 };
    case 8: return { type: 'SHUTDOWN-ACK', flags: 0 };
    case 9: return { type: 'COOKIE-ECHO', flags: 0, cookie: rand(r, nextInt(r, 0, 300)) };
    case 10: return { type: 'COOKIE-ACK', flags: 0 };
    case 11: return { type: 'SHUTDOWN-COMPLETE', flags: nextInt(r, 0, 2) };
    case 12: return { type: 'FORWARD-TSN', flags: 0, newCumTsn: (tsnBase + nextInt(r, -2, 100)) >>> 0, streams: [{ streamId: nextInt(r, 0, 4), ssn: nextInt(r, 0, 65536) }] };
    default: return { type: 'unknown', chunkType: pick(r, [0x3f, 0x7f, 0xbf, 0xff, nextInt(r, 15, 256)]), flags: nextInt(r, 0, 256), value: rand(r, nextInt(r, 0, 40)) };
  }
}

/**
 * Raw chunk framing mutations of a valid SCTP packet, CRC fixed afterwards (RFC 9260 §3.2,
 * §6.10): chunk length 0..3, longer than the packet, an unpadded chunk followed by another.
 */
function sctpFrame(r: PrngState, s: Uint8Array): { data: Uint8Array; what: string } {
  const k = nextInt(r, 0, 4);
  let out = s;
  let what = 'bundle';
  if (k === 0 && s.length >= 16) { new DataView(s.buffer, s.byteOffset).setUint16(14, nextInt(r, 0, 4)); what = 'chunk-len-0..3'; }
  else if (k === 1 && s.length >= 16) { new DataView(s.buffer, s.byteOffset).setUint16(14, pick(r, [s.length - 12 + 1, s.length, 65535])); what = 'chunk-len-long'; }
  else if (k === 2 && s.length >= 20) {
    // Unpadded: drop 1..3 bytes of the first chunk's padding/value, keep what follows.
    const cut = nextInt(r, 1, 4);
    out = new Uint8Array(s.length - cut);
    out.set(s.subarray(0, 16));
    out.set(s.subarray(16 + cut), 16);
    what = 'unpadded';
  } else if (k === 3) { out = s.subarray(0, nextInt(r, 12, s.length + 1)).slice(); what = 'truncated'; }
  fixSctpChecksum(out);
  return { data: out, what };
}

/** SCTP to the host: INITs with bad parameters, illegal bundles, bad framing, wrong tags; raw or over UDP. */
function genSctp(r: PrngState, t: Targets, encap: boolean): FuzzPacket {
  const v6 = chance(r, 0.2);
  const dst = v6 ? t.hostV6 : t.hostV4;
  const src = chance(r, 0.5) ? (v6 ? t.peerV6 : t.peerV4) : (v6 ? 'fd09::77' : `10.${nextInt(r, 0, 256)}.9.${nextInt(r, 1, 255)}`);
  const chunks: SctpChunk[] = [];
  const n = pick(r, [1, 1, 2, 3, nextInt(r, 1, 8)]);
  for (let i = 0; i < n; i++) chunks.push(anyChunk(r, u32(r)));
  const vtag = chunks[0]!.type === 'INIT' && chance(r, 0.7) ? 0 : u32(r);
  let s = sctpBytes(nextInt(r, 0, 65536), chance(r, 0.8) ? pick(r, t.sctpPorts) : nextInt(r, 0, 65536), vtag, chunks);
  let what = chunks.map((c) => c.type).join('+');
  if (chance(r, 0.35)) { const f = sctpFrame(r, s); s = f.data; what += ` ${f.what}`; }
  return wrapSctp(r, s, src, dst, encap, t.encapPort, 'sctp', what);
}

function wrapSctp(r: PrngState, s: Uint8Array, src: string, dst: string, encap: boolean, encapPort: number, gen: GenName, what: string): FuzzPacket {
  if (!encap) return { gen, data: ip(src, dst, 132, s), valid: true, what };
  const u = udpBytes(nextInt(r, 1, 65536), encapPort, s, src, dst);
  const k = nextInt(r, 0, 5);
  // RFC 6951 §5.4 / RFC 768: UDP length short or long (checksum fixed after), checksum zero (IPv4: none).
  if (k === 0) { new DataView(u.buffer).setUint16(4, pick(r, [0, 7, 8, u.length - 1, u.length + 1, 65535])); fixL4Checksum(u, 6, src, dst, 17); what += ' udp-len'; }
  else if (k === 1) { u[6] = u[7] = 0; what += ' udp-no-csum'; }
  return { gen: gen === 'sctp' ? 'udp-encap' : gen, data: ip(src, dst, 17, u), valid: k !== 1 || !isV6(src), what: `udp ${what}` };
}

/**
 * Chunks with the live associations' real tags and ports. Only chunks that cannot change an
 * association legitimately (file comment): SACKs outside [cumAck, nextTsn), DATA at or below
 * the cumulative TSN or 2^30 beyond it, HEARTBEAT, unknown types, INIT (tag 0: a restart attempt
 * without the cookie that would complete it), forged COOKIE ECHO, ERROR; plus every chunk with a
 * wrong tag, and bad framing with the real tag.
 */
function genSctpLive(r: PrngState, t: Targets): FuzzPacket {
  if (t.sctp.length === 0) return genSctp(r, t, false);
  const a = pick(r, t.sctp);
  const real = chance(r, 0.6);
  const chunks: SctpChunk[] = [];
  const n = pick(r, [1, 1, 2, 3]);
  for (let i = 0; i < n; i++) {
    if (!real) { chunks.push(anyChunk(r, pick(r, [a.cumTsn, a.cumAck, a.nextTsn]))); continue; }
    switch (nextInt(r, 0, 7)) {
      case 0: chunks.push({ type: 'SACK', flags: 0, cumTsnAck: (pick(r, [a.cumAck - 1, a.nextTsn, a.nextTsn + 1, a.cumAck - 0x7fffffff])) >>> 0, aRwnd: u32(r), gapAckBlocks: chance(r, 0.5) ? [{ start: 1, end: 65535 }, { start: 0, end: 0 }] : [], dupTsns: [] }); break;
      case 1: chunks.push({ type: 'DATA', flags: nextInt(r, 0, 16), tsn: (a.cumTsn - pick(r, [0, 1, 100])) >>> 0, streamId: nextInt(r, 0, 6), ssn: nextInt(r, 0, 65536), ppid: u32(r), userData: rand(r, nextInt(r, 0, 1000)) }); break;
      case 2: chunks.push({ type: 'DATA', flags: 3, tsn: (a.cumTsn + 0x40000000 + nextInt(r, 0, 1000)) >>> 0, streamId: 0, ssn: 0, ppid: 0, userData: rand(r, nextInt(r, 1, 1000)) }); break;
      case 3: chunks.push({ type: 'HEARTBEAT', flags: 0, params: [{ type: 'heartbeat-info', info: rand(r, nextInt(r, 0, 40)) }] }); break;
      case 4: chunks.push({ type: 'unknown', chunkType: pick(r, [0x3f, 0x7f, 0xbf, 0xff, 0x4a]), flags: 0, value: rand(r, nextInt(r, 0, 30)) }); break;
      case 5: chunks.push({ type: 'COOKIE-ECHO', flags: 0, cookie: rand(r, nextInt(r, 0, 200)) }); break;
      default: chunks.push({ type: 'ERROR', flags: 0, causes: [] }); break;
    }
  }
  let vtag = real ? a.myVtag : u32(r);
  if (!real) while (vtag === a.myVtag || vtag === a.peerVtag) vtag = u32(r);
  let what = `${real ? 'real' : 'wrong'}-tag ${chunks.map((c) => c.type).join('+')}`;
  if (real && chance(r, 0.15)) {
    // RFC 9260 §8.5.1: an INIT from the peer's tuple (tag 0) during the association: an INIT ACK with tie-tags answers it.
    chunks.length = 0;
    chunks.push(initChunk(r, 'INIT'));
    vtag = 0;
    what = 'real-tuple INIT';
  }
  let s = sctpBytes(a.remotePort, a.localPort, vtag, chunks);
  if (chance(r, 0.25)) { const f = sctpFrame(r, s); s = f.data; what += ` ${f.what}`; }
  if (a.encap !== null) {
    const u = udpBytes(a.encap, t.encapPort, s, a.remote, a.local);
    return { gen: 'sctp-live', data: ip(a.remote, a.local, 17, u), valid: true, what: `udp ${what}` };
  }
  return { gen: 'sctp-live', data: ip(a.remote, a.local, 132, s), valid: true, what };
}

// ------------------------------------------------------------------------------ ICMP

/** ICMP errors quoting the live connections (in-flight and stale sequence numbers), associations and random packets. */
function genIcmp(r: PrngState, t: Targets): FuzzPacket {
  const c = t.tcp.length > 0 && chance(r, 0.7) ? pick(r, t.tcp) : null;
  const v6 = c !== null ? isV6(c.local) : chance(r, 0.3);
  const host = v6 ? t.hostV6 : t.hostV4, peer = v6 ? t.peerV6 : t.peerV4;
  let quoted: Uint8Array;
  let what: string;
  if (c !== null) {
    // The quoted segment is one we sent: our address and port first (RFC 5927 §4.1 checks the 4-tuple and SEQ).
    const seq = (pick(r, [c.sndUna, c.sndUna - 1, c.sndNxt, c.sndNxt - 1, u32(r)])) >>> 0;
    const seg: TcpSegment = { srcPort: c.localPort, dstPort: c.remotePort, seq, ack: c.rcvNxt, flags: ACK, reserved: 0, window: 1000, urgent: 0, options: [], payload: new Uint8Array(0) };
    quoted = ip(c.local, c.remote, 6, tcpBytes(seg, c.local, c.remote));
    what = `quote tcp ${c.localPort} seq ${(seq - c.sndUna) | 0}`;
  } else if (t.sctp.length > 0 && chance(r, 0.5)) {
    const a = pick(r, t.sctp);
    quoted = ip(a.local, a.remote, 132, sctpBytes(a.localPort, a.remotePort, chance(r, 0.7) ? a.peerVtag : u32(r), [{ type: 'HEARTBEAT', flags: 0, params: [] }]));
    what = 'quote sctp';
  } else {
    quoted = rand(r, nextInt(r, 0, 80));
    if (quoted.length > 0) quoted[0] = (v6 ? 0x60 : 0x45);
    what = 'quote random';
  }
  quoted = quoted.subarray(0, pick(r, [quoted.length, 28, 48, 8, nextInt(r, 0, quoted.length + 1)]));
  if (!v6) {
    const kind = nextInt(r, 0, 4);
    const m: Icmpv4Message = kind === 0
      ? { kind: 'dest-unreachable', code: 4, unused: 0, mtu: pick(r, [0, 68, 100, 552, 576, 1280, 1400, 65535]), original: quoted }
      : kind === 1 ? { kind: 'dest-unreachable', code: nextInt(r, 0, 16), unused: 0, mtu: 0, original: quoted }
      : kind === 2 ? { kind: 'time-exceeded', code: nextInt(r, 0, 2), unused: 0, original: quoted }
      : { kind: 'parameter-problem', code: 0, pointer: nextInt(r, 0, 256), unused: 0, original: quoted };
    const b = new Uint8Array(icmpv4BufferLen(m));
    emitIcmpv4(m, b);
    return { gen: 'icmp', data: ip(peer, host, 1, b), valid: true, what: `icmp4 ${m.kind} ${what}` };
  }
  const kind = nextInt(r, 0, 4);
  const m: Icmpv6Message = kind === 0
    ? { kind: 'packet-too-big', code: 0, mtu: pick(r, [0, 1279, 1280, 1500, 0xffffffff]), original: quoted }
    : kind === 1 ? { kind: 'dest-unreachable', code: nextInt(r, 0, 8), unused: 0, original: quoted }
    : kind === 2 ? { kind: 'time-exceeded', code: nextInt(r, 0, 2), unused: 0, original: quoted }
    : { kind: 'parameter-problem', code: nextInt(r, 0, 4), pointer: nextInt(r, 0, 100), original: quoted };
  const b = new Uint8Array(icmpv6BufferLen(m));
  emitIcmpv6(m, b, ipPseudoSum(peer, host, 58, b.length));
  return { gen: 'icmp', data: ip(peer, host, 58, b), valid: true, what: `icmp6 ${m.kind} ${what}` };
}

// ------------------------------------------------------------------------------ unstructured

/** Random bytes, 0..2000 long (sometimes with a plausible IP version nibble). */
function genRandom(r: PrngState): FuzzPacket {
  const b = rand(r, nextInt(r, 0, 2001));
  if (b.length > 0 && chance(r, 0.5)) b[0] = (chance(r, 0.7) ? 0x45 : 0x60) | (b[0]! & (chance(r, 0.5) ? 0 : 0x0f));
  return { gen: 'random', data: b, valid: false, what: `random ${b.length}` };
}

/**
 * A fixture packet, usually readdressed to the host first (checksums fixed), then mutated:
 * bit flips, truncation, extension, a splice from another fixture, a field overwrite with the
 * checksums recomputed (so the mutation reaches the protocol code), or none.
 */
function genFixture(r: PrngState, t: Targets): FuzzPacket {
  if (t.fixtures.length === 0) return genRandom(r);
  const fi = nextInt(r, 0, t.fixtures.length);
  let p: Uint8Array = t.fixtures[fi]!.slice();
  const v4 = p.length >= 20 && p[0]! >> 4 === 4;
  // From a neighbour of the peer, not the peer itself: a recorded 4-tuple must not land on a live connection.
  const src = v4 ? FIXTURE_SRC_V4 : FIXTURE_SRC_V6, dst = v4 ? t.hostV4 : t.hostV6;
  if (chance(r, 0.7) && p.length >= (v4 ? 20 : 40)) {
    // Readdress: peer → host, so the packet meets the host's sockets rather than 'not local'.
    if (v4) { p.set(v4Bytes(src), 12); p.set(v4Bytes(dst), 16); }
    else { p.set(v6Bytes(src), 8); p.set(v6Bytes(dst), 24); }
    fixChecksums(p, src, dst);
  }
  const k = nextInt(r, 0, 6);
  let what = `fixture ${fi}`;
  let valid = false;
  if (k === 0) { const n = nextInt(r, 1, 9); for (let i = 0; i < n && p.length > 0; i++) { const bit = nextInt(r, 0, p.length * 8); p[bit >> 3]! ^= 1 << (bit & 7); } what += ` flip ${n}`; }
  else if (k === 1) { p = p.subarray(0, nextInt(r, 0, p.length + 1)).slice(); what += ' truncate'; }
  else if (k === 2) { const e = rand(r, nextInt(r, 1, 200)); const n = new Uint8Array(p.length + e.length); n.set(p); n.set(e, p.length); p = n; what += ' extend'; }
  else if (k === 3) {
    const o = t.fixtures[nextInt(r, 0, t.fixtures.length)]!;
    const at = nextInt(r, 0, p.length + 1), from = nextInt(r, 0, o.length + 1), len = nextInt(r, 0, Math.min(64, o.length - from) + 1);
    const n = new Uint8Array(Math.max(p.length, at + len)); n.set(p); n.set(o.subarray(from, from + len), at); p = n; what += ' splice';
  } else if (k === 4) {
    // Field overwrite with every checksum recomputed: a byte of the IP or transport header.
    if (p.length > 0) {
      const at = nextInt(r, 0, Math.min(p.length, 80));
      p[at] = pick(r, [0, 0xff, 0x80, 0x7f, nextInt(r, 0, 256)]);
      fixChecksums(p, src, dst);
      valid = true;
    }
    what += ' overwrite';
  } else { valid = true; what += ' intact'; }
  return { gen: 'fixture', data: p, valid, what };
}

const FIXTURE_SRC_V4 = '10.9.0.3', FIXTURE_SRC_V6 = 'fd09::3';
const v4Bytes = (a: string): number[] => a.split('.').map(Number);

/** IPv6 address text to 16 bytes (fd09::N forms used here only). */
function v6Bytes(a: string): Uint8Array {
  const b = new Uint8Array(16);
  const [hi, lo] = a.split('::') as [string, string | undefined];
  const hs = hi === '' ? [] : hi.split(':'), ls = lo === undefined || lo === '' ? [] : lo.split(':');
  hs.forEach((h, i) => { const v = parseInt(h, 16); b[i * 2] = v >> 8; b[i * 2 + 1] = v & 0xff; });
  ls.forEach((h, i) => { const v = parseInt(h, 16); const j = 8 - ls.length + i; b[j * 2] = v >> 8; b[j * 2 + 1] = v & 0xff; });
  return b;
}

/** Draw one packet from generator `g`. */
export function generate(g: GenName, r: PrngState, t: Targets): FuzzPacket {
  switch (g) {
    case 'random': return genRandom(r);
    case 'fixture': return genFixture(r, t);
    case 'ip': return genIp(r, t);
    case 'frag': return genFrag(r, t);
    case 'tcp': return genTcp(r, t);
    case 'tcp-live': return genTcpLive(r, t);
    case 'sctp': return genSctp(r, t, false);
    case 'sctp-live': return genSctpLive(r, t);
    case 'udp-encap': return genSctp(r, t, true);
    case 'icmp': return genIcmp(r, t);
  }
}
