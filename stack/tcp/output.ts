// Turning a segment into IP bytes, and the per-step output context. The IP header is written
// here directly (20-byte IPv4 with DF, or 40-byte IPv6, no options) into the same buffer as the
// TCP segment, so each data byte is copied once on its way out.
import type { AppEvent, Ms, StackConfig } from '../api.ts';
import { writeIp } from '../wire/addr-write.ts';
import { finish, fold, sum16 } from '../wire/checksum.ts';
import { UDP_HEADER_LEN } from '../wire/udp.ts';
import { signTcp } from './md5sig.ts';
import { emitTcp, tcpOptionsLen, type TcpOption, type TcpSegment } from '../wire/tcp.ts';

/** Stack-wide state a connection's processing may touch. */
export interface StackShared {
  config: StackConfig;
  secret: Uint8Array;
  /** RFC 5961 §7 challenge-ACK rate limit: count within the current 1 s window starting at `at`. */
  challenge: { at: Ms; count: number };
  counters: Record<string, number>;
}

/** Output of one step: IP packets and application events. */
export interface Io {
  out: Uint8Array[];
  events: AppEvent[];
  shared: StackShared;
}

/** Bump a named counter. */
export function count(io: Io, name: string, n = 1): void {
  const c = io.shared.counters;
  c[name] = (c[name] ?? 0) + n;
}

/** Queue an application event unless an identical (type, id) event is already queued in this step. */
export function emitEvent(io: Io, ev: AppEvent): void {
  const evs = io.events;
  for (let i = 0; i < evs.length; i++) {
    const e = evs[i]!;
    if (e.type === ev.type && ('id' in e ? e.id : null) === ('id' in ev ? ev.id : null)) return;
  }
  evs.push(ev);
}

const EMPTY = new Uint8Array(0);

/**
 * Addressing of one packet; `tos` is the IPv4 TOS / IPv6 Traffic Class byte (DSCP and ECN field;
 * default 0). `udp`: send the segment inside UDP between these ports (TCP over UDP,
 * StackConfig.tcpOverUdp). `md5Key`: sign it (RFC 2385; the options must hold a zeroed
 * signature option, md5sig.ts withMd5Option).
 */
export interface Route {
  src: string; dst: string; v6: boolean; psum: number; ttl: number; tos?: number;
  udp?: { srcPort: number; dstPort: number } | null;
  md5Key?: Uint8Array | null;
}

/**
 * Build IP+TCP bytes for one segment. `psum` is the address part of the pseudo-header sum
 * (both addresses + protocol); the TCP length is added here.
 */
export function buildSegment(r: Route, seg: TcpSegment): Uint8Array {
  const optLen = seg.options.length === 0 ? 0 : tcpOptionsLen(seg.options);
  const tcpLen = 20 + ((optLen + 3) & ~3) + seg.payload.length;
  const ipLen = r.v6 ? 40 : 20;
  const udp = r.udp ?? null;
  const l4Len = udp === null ? tcpLen : tcpLen + UDP_HEADER_LEN;
  const proto = udp === null ? 6 : 17;
  const pkt = new Uint8Array(ipLen + l4Len);
  const dv = new DataView(pkt.buffer);
  const tos = r.tos ?? 0;
  if (r.v6) {
    pkt[0] = 0x60 | (tos >> 4);
    pkt[1] = (tos & 0x0f) << 4;
    dv.setUint16(4, l4Len);
    pkt[6] = proto;
    pkt[7] = r.ttl;
    writeIp(r.src, pkt, 8);
    writeIp(r.dst, pkt, 24);
  } else {
    pkt[0] = 0x45;
    pkt[1] = tos;
    dv.setUint16(2, ipLen + l4Len);
    // RFC 6864 §4.1: an atomic datagram (DF set, RFC 1191 PMTUD) may carry any ID; we use 0.
    dv.setUint16(6, 0x4000);
    pkt[8] = r.ttl;
    pkt[9] = proto;
    writeIp(r.src, pkt, 12);
    writeIp(r.dst, pkt, 16);
    dv.setUint16(10, (~fold(sum16(pkt.subarray(0, 20)))) & 0xffff);
  }
  const tcp = pkt.subarray(ipLen + l4Len - tcpLen);
  const tcpSum = r.psum + (tcpLen >>> 16) + (tcpLen & 0xffff);
  emitTcp(seg, tcp, tcpSum);
  const key = r.md5Key ?? null;
  if (key !== null) {
    // RFC 2385 §2.0: the digest covers the header with checksum zero and no options, so it can be
    // taken from the built segment; the checksum, which covers the option, is computed again after.
    const src = r.v6 ? pkt.subarray(8, 24) : pkt.subarray(12, 16);
    const dst = r.v6 ? pkt.subarray(24, 40) : pkt.subarray(16, 20);
    signTcp(src, dst, tcp, key);
    tcp[16] = 0; tcp[17] = 0;
    if (udp === null) dv.setUint16(ipLen + 16, finish(sum16(tcp, tcpSum)));
  }
  if (udp !== null) {
    // TCP over UDP as FreeBSD sends it (tcp_output with t_port): the TCP checksum field is 0 and
    // the UDP checksum (RFC 768; mandatory over IPv6, RFC 8200 §8.1) covers the whole segment.
    tcp[16] = 0; tcp[17] = 0;
    const u = ipLen;
    dv.setUint16(u, udp.srcPort);
    dv.setUint16(u + 2, udp.dstPort);
    dv.setUint16(u + 4, l4Len);
    dv.setUint16(u + 6, 0);
    const usum = r.psum - 6 + 17 + (l4Len >>> 16) + (l4Len & 0xffff);
    const c = finish(sum16(pkt.subarray(u), usum));
    // RFC 768: a computed checksum of zero is sent as all ones (zero means "none").
    dv.setUint16(u + 6, c === 0 ? 0xffff : c);
  }
  return pkt;
}

/** A segment with the usual defaults. */
export function segment(srcPort: number, dstPort: number, seq: number, ack: number, flags: number, window: number,
  options: TcpOption[], payload: Uint8Array = EMPTY): TcpSegment {
  return { srcPort, dstPort, seq: seq >>> 0, ack: ack >>> 0, flags, reserved: 0, window, urgent: 0, options, payload };
}
