// ICMP echo (ping) answering, outside the TCP stack: a pure function from one received IP
// packet to the reply the host should send, or null. The link calls it for every packet
// before the stack sees it (tun/tun-link.ts); everything that is not an echo request to one of
// our addresses is left alone (null), so ICMP errors still reach the stack for PMTU discovery.
import { ICMPV4_ECHO_REQUEST, ICMPV6_ECHO_REQUEST, emitIcmpv4, emitIcmpv6, icmpv4BufferLen, icmpv6BufferLen, parseIcmpv4, parseIcmpv6 } from './wire/icmp.ts';
import type { IcmpEcho } from './wire/icmp.ts';
import { ipPseudoSum, isFragment, parseIp } from './wire/ip.ts';
import { buildIpv4 } from './wire/ipv4.ts';
import { buildIpv6 } from './wire/ipv6.ts';

/** IP protocol numbers of ICMP (RFC 792) and ICMPv6 (RFC 4443). */
const PROTO_ICMP = 1, PROTO_ICMPV6 = 58;

/**
 * Cheap pre-check on the raw bytes: could `pkt` be an ICMP or ICMPv6 packet at all? (IPv4
 * protocol byte 9; IPv6 Next Header byte 6, so an echo behind extension headers is missed
 * here and goes to the stack, which ignores it.) Lets the link skip the parse for TCP.
 */
export function maybeIcmp(pkt: Uint8Array): boolean {
  if (pkt.length < 20) return false;
  const v = pkt[0]! >> 4;
  return (v === 4 && pkt[9] === PROTO_ICMP) || (v === 6 && pkt.length >= 48 && pkt[6] === PROTO_ICMPV6);
}

/**
 * The Echo Reply answering `pkt`, or null when `pkt` is not a well-formed, unfragmented Echo
 * Request addressed to one of `addresses` (canonical text).
 *   - RFC 792 / RFC 1122 §3.2.2.6: addresses swapped, type 0, identifier, sequence number and
 *     data returned unchanged. Requests to broadcast or multicast addresses are never ours
 *     (the stack's addresses are unicast), which §3.2.2.6 allows us to discard silently.
 *   - RFC 4443 §4.2: the reply's source is the unicast address the request was sent to.
 * A bad checksum drops the request (RFC 1122 §3.2.2: silently discarded). Fragmented requests
 * are not reassembled here (not answered).
 */
export function echoReply(pkt: Uint8Array, addresses: readonly string[], ttl = 64): Uint8Array | null {
  if (!maybeIcmp(pkt)) return null;
  const p = parseIp(pkt);
  if (!p.ok) return null;
  const ip = p.value;
  if (isFragment(ip) || !addresses.includes(ip.dst)) return null;
  if (ip.version === 4) {
    if (ip.protocol !== PROTO_ICMP || ip.payload.length < 8 || ip.payload[0] !== ICMPV4_ECHO_REQUEST) return null;
    const m = parseIcmpv4(ip.payload);
    if (!m.ok || m.value.kind !== 'echo-request') return null;
    const reply: IcmpEcho = { kind: 'echo-reply', code: 0, id: m.value.id, seq: m.value.seq, data: m.value.data };
    const body = new Uint8Array(icmpv4BufferLen(reply));
    emitIcmpv4(reply, body);
    return buildIpv4(ip.dst, ip.src, PROTO_ICMP, body, { ttl });
  }
  if (ip.protocol !== PROTO_ICMPV6 || ip.payload.length < 8 || ip.payload[0] !== ICMPV6_ECHO_REQUEST) return null;
  const m = parseIcmpv6(ip.payload, ipPseudoSum(ip.src, ip.dst, PROTO_ICMPV6, ip.payload.length));
  if (!m.ok || m.value.kind !== 'echo-request') return null;
  const reply: IcmpEcho = { kind: 'echo-reply', code: 0, id: m.value.id, seq: m.value.seq, data: m.value.data };
  const len = icmpv6BufferLen(reply);
  const body = new Uint8Array(len);
  // RFC 4443 §2.3: the checksum covers the pseudo-header of the reply (src and dst swapped: same sum).
  emitIcmpv6(reply, body, ipPseudoSum(ip.dst, ip.src, PROTO_ICMPV6, len));
  return buildIpv6(ip.dst, ip.src, PROTO_ICMPV6, body, { hopLimit: ttl });
}
