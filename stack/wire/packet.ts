// A whole IP packet decoded down to its transport layer, and encoded back to the exact
// bytes. Used by the fixture round-trip tests, pcap replay and the packet fuzzer: every
// layer's parser in one place, untrusted bytes in, a typed result out, never a throw.
import { err, ok, type Parsed } from './bytes.ts';
import { parseIp, ipPseudoSum, type IpPacket } from './ip.ts';
import { emitIpv4Header, ipv4HeaderLen } from './ipv4.ts';
import { emitIpv6Header, IPV6_HEADER_LEN } from './ipv6.ts';
import { parseTcp, emitTcp, tcpBufferLen, type TcpSegment } from './tcp.ts';
import { parseUdp, emitUdp, udpBufferLen, UDP_PORT_SCTP_TUNNELING, type UdpDatagram } from './udp.ts';
import { parseIcmpv4, emitIcmpv4, icmpv4BufferLen, parseIcmpv6, emitIcmpv6, icmpv6BufferLen, type Icmpv4Message, type Icmpv6Message } from './icmp.ts';
import { parseSctp, emitSctp, sctpBufferLen, type SctpPacket } from './sctp.ts';

/** The transport layer of a decoded packet. */
export type Transport =
  | { proto: 'tcp'; tcp: TcpSegment }
  /** UDP; `sctp` is the RFC 6951 encapsulated SCTP packet when either port is 9899 and it parses. */
  | { proto: 'udp'; udp: UdpDatagram; sctp: SctpPacket | null }
  | { proto: 'icmp'; icmp: Icmpv4Message }
  | { proto: 'icmpv6'; icmp: Icmpv6Message }
  | { proto: 'sctp'; sctp: SctpPacket }
  /** A fragment, ESP, or a protocol we do not decode: payload kept as bytes. */
  | { proto: 'raw'; protocol: number };

export interface DecodedPacket { ip: IpPacket; transport: Transport }

export type DecodeError = `ip:${string}` | `tcp:${string}` | `udp:${string}` | `icmp:${string}` | `sctp:${string}`;

const IPPROTO_ICMP = 1, IPPROTO_TCP = 6, IPPROTO_UDP = 17, IPPROTO_ICMPV6 = 58, IPPROTO_SCTP = 132;

/** True when the IPv4 packet is a fragment whose payload is not a whole transport message. */
const isPartial = (ip: IpPacket): boolean =>
  ip.version === 4 ? ip.mf || ip.fragOffset !== 0 : ip.protocol === 44;

/** Decode an IP packet and its transport layer, verifying every checksum. */
export function decodePacket(bytes: Uint8Array): Parsed<DecodedPacket, DecodeError> {
  const ipr = parseIp(bytes);
  if (!ipr.ok) return err(`ip:${ipr.error}`);
  const ip = ipr.value;
  const len = ip.payload.length;
  if (isPartial(ip)) return ok({ ip, transport: { proto: 'raw', protocol: ip.protocol } });
  switch (ip.protocol) {
    case IPPROTO_TCP: {
      const r = parseTcp(ip.payload, ipPseudoSum(ip.src, ip.dst, IPPROTO_TCP, len));
      return r.ok ? ok({ ip, transport: { proto: 'tcp', tcp: r.value } }) : err(`tcp:${r.error}`);
    }
    case IPPROTO_UDP: {
      const r = parseUdp(ip.payload, ipPseudoSum(ip.src, ip.dst, IPPROTO_UDP, len), ip.version);
      if (!r.ok) return err(`udp:${r.error}`);
      let sctp: SctpPacket | null = null;
      if (r.value.srcPort === UDP_PORT_SCTP_TUNNELING || r.value.dstPort === UDP_PORT_SCTP_TUNNELING) {
        const s = parseSctp(r.value.payload, { verifyChecksum: true });
        if (s.ok) sctp = s.value;
      }
      return ok({ ip, transport: { proto: 'udp', udp: r.value, sctp } });
    }
    case IPPROTO_ICMP: {
      if (ip.version !== 4) break;
      const r = parseIcmpv4(ip.payload);
      return r.ok ? ok({ ip, transport: { proto: 'icmp', icmp: r.value } }) : err(`icmp:${r.error}`);
    }
    case IPPROTO_ICMPV6: {
      if (ip.version !== 6) break;
      const r = parseIcmpv6(ip.payload, ipPseudoSum(ip.src, ip.dst, IPPROTO_ICMPV6, len));
      return r.ok ? ok({ ip, transport: { proto: 'icmpv6', icmp: r.value } }) : err(`icmp:${r.error}`);
    }
    case IPPROTO_SCTP: {
      const r = parseSctp(ip.payload, { verifyChecksum: true });
      return r.ok ? ok({ ip, transport: { proto: 'sctp', sctp: r.value } }) : err(`sctp:${r.error}`);
    }
  }
  return ok({ ip, transport: { proto: 'raw', protocol: ip.protocol } });
}

/** Encode a decoded packet back to bytes: IP header re-emitted, transport re-emitted from its fields. */
export function encodePacket(d: DecodedPacket): Uint8Array {
  const { ip, transport: t } = d;
  let body: Uint8Array;
  switch (t.proto) {
    case 'tcp': {
      body = new Uint8Array(tcpBufferLen(t.tcp));
      emitTcp(t.tcp, body, ipPseudoSum(ip.src, ip.dst, IPPROTO_TCP, body.length));
      break;
    }
    case 'udp': {
      let inner = t.udp;
      if (t.sctp) {
        const s = new Uint8Array(sctpBufferLen(t.sctp));
        emitSctp(t.sctp, s);
        inner = { ...t.udp, payload: s };
      }
      body = new Uint8Array(udpBufferLen(inner));
      emitUdp(inner, body, ipPseudoSum(ip.src, ip.dst, IPPROTO_UDP, body.length));
      break;
    }
    case 'icmp': body = new Uint8Array(icmpv4BufferLen(t.icmp)); emitIcmpv4(t.icmp, body); break;
    case 'icmpv6': {
      body = new Uint8Array(icmpv6BufferLen(t.icmp));
      emitIcmpv6(t.icmp, body, ipPseudoSum(ip.src, ip.dst, IPPROTO_ICMPV6, body.length));
      break;
    }
    case 'sctp': body = new Uint8Array(sctpBufferLen(t.sctp)); emitSctp(t.sctp, body); break;
    case 'raw': body = ip.payload; break;
  }
  if (ip.version === 4) {
    const hl = ipv4HeaderLen(ip);
    const out = new Uint8Array(hl + body.length);
    emitIpv4Header(ip, out, body.length);
    out.set(body, hl);
    return out;
  }
  const hl = IPV6_HEADER_LEN + ip.extHeaders.length;
  const out = new Uint8Array(hl + body.length);
  emitIpv6Header(ip, out, hl - IPV6_HEADER_LEN + body.length);
  out.set(ip.extHeaders, IPV6_HEADER_LEN);
  out.set(body, hl);
  return out;
}
