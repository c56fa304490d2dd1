// The IP level around the SCTP stack: raw IPv4/IPv6 protocol 132, or UDP encapsulation
// (RFC 6951) to our encapsulation port. For hosts (and the simulator) that feed whole IP
// packets; a host that demultiplexes IP itself calls sctpStackStep with 'packet' events and
// wraps SctpOut with sctpOutToIp.
import { IPPROTO_SCTP } from '../wire/sctp.ts';
import { ipPseudoSum, isFragment, parseIp, buildIp } from '../wire/ip.ts';
import { emitUdp, parseUdp, UDP_HEADER_LEN } from '../wire/udp.ts';
import type { Ms, SctpEvent, SctpOut, SctpResultOf, SctpAppEvent } from './events.ts';
import type { SctpStackState } from './state.ts';
import { sctpStackStep } from './step.ts';

const IPPROTO_UDP = 17;

/**
 * The SCTP packet inside an IP packet, if it is one for this stack: protocol 132, or UDP to
 * the stack's encapsulation port (RFC 6951 §5.3). Null otherwise (not SCTP, malformed, fragment).
 */
export function sctpEventFromIp(st: SctpStackState, data: Uint8Array): Extract<SctpEvent, { type: 'packet' }> | null {
  const p = parseIp(data);
  if (!p.ok) return null;
  const ip = p.value;
  if (isFragment(ip)) return null;
  if (ip.protocol === IPPROTO_SCTP) return { type: 'packet', src: ip.src, dst: ip.dst, sctp: ip.payload, encap: null };
  if (ip.protocol !== IPPROTO_UDP) return null;
  const u = parseUdp(ip.payload, ipPseudoSum(ip.src, ip.dst, IPPROTO_UDP, ip.payload.length), ip.version);
  if (!u.ok || u.value.dstPort !== st.config.udpEncapPort) return null;
  return { type: 'packet', src: ip.src, dst: ip.dst, sctp: u.value.payload, encap: { srcPort: u.value.srcPort, dstPort: u.value.dstPort } };
}

/** Why sctpEventFromIp found no SCTP packet for us in `data` (a counter name; the rare path, so it parses again). */
function ipDropReason(data: Uint8Array): string {
  const p = parseIp(data);
  if (!p.ok) return `sctp-ip-${p.error}`;
  if (isFragment(p.value)) return 'sctp-ip-fragment';
  if (p.value.protocol !== IPPROTO_UDP) return 'sctp-ip-not-sctp';
  const u = parseUdp(p.value.payload, ipPseudoSum(p.value.src, p.value.dst, IPPROTO_UDP, p.value.payload.length), p.value.version);
  return u.ok ? 'sctp-udp-not-encap-port' : `sctp-udp-${u.error}`;
}

/** Wrap an SCTP packet from the stack in IP (and UDP when encapsulated). */
export function sctpOutToIp(o: SctpOut, ttl = 64): Uint8Array {
  if (o.encap === null) return buildIp(o.src, o.dst, IPPROTO_SCTP, o.sctp, { ttl, hopLimit: ttl });
  const len = UDP_HEADER_LEN + o.sctp.length;
  const udp = new Uint8Array(len);
  emitUdp({ srcPort: o.encap.srcPort, dstPort: o.encap.dstPort, noChecksum: false, payload: o.sctp }, udp, ipPseudoSum(o.src, o.dst, IPPROTO_UDP, len));
  return buildIp(o.src, o.dst, IPPROTO_UDP, udp, { ttl, hopLimit: ttl });
}

/** An event at the IP level: a raw IP packet, or any SctpEvent. */
export type SctpIpEvent = { type: 'ip'; data: Uint8Array } | SctpEvent;

/** sctpStackStep over IP packets: IP in (ignored unless SCTP for us), IP packets out. */
export function sctpIpStep<E extends SctpIpEvent>(st: SctpStackState, ev: E, now: Ms, ttl = 64): {
  out: Uint8Array[]; events: SctpAppEvent[]; result: E extends SctpEvent ? SctpResultOf<E> : null;
} {
  let r;
  if (ev.type === 'ip') {
    const pe = sctpEventFromIp(st, ev.data);
    if (pe === null) { const k = ipDropReason(ev.data); st.counters[k] = (st.counters[k] ?? 0) + 1; return { out: [], events: [], result: null as never }; }
    r = sctpStackStep(st, pe, now);
  } else {
    r = sctpStackStep(st, ev as SctpEvent, now);
  }
  return { out: r.out.map((o) => sctpOutToIp(o, ttl)), events: r.events, result: r.result as never };
}
