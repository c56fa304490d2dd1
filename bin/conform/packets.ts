// Packets between the script and the stack: build the IP packets that `<` lines inject (TCP
// and ICMP errors, checksums filled), and decode what the stack sends so `>` lines can be
// checked field by field. Sequence numbers are translated as packetdrill does:
//   - the remote side (the script's peer) uses the script's numbers unchanged;
//   - our side is relative to the first SYN or SYN|ACK we sent: live = script + (ISN - script ISN);
//   - TSecr on `<` lines is mapped from the script TSval of a `>` line to the live TSval it stood for;
//     TSval on `>` lines is compared on a clock that starts at the first live TSval seen.
import type { IcmpSpec, IpInfo, OptSpec, TcpSpec } from './ast.ts';
import { buildIp, parseIp } from '../../stack/wire/ip.ts';
import { ipToBytes } from '../../stack/wire/addr.ts';
import { finish, sum16 } from '../../stack/wire/checksum.ts';
import { parseUdp } from '../../stack/wire/udp.ts';
import { md5Check, md5Offset, signTcp, TCPOPT_MD5SIG } from '../../stack/tcp/md5sig.ts';
import { ipPseudoSum } from '../../stack/wire/ip.ts';
import { emitIcmpv4, emitIcmpv6, icmpv4BufferLen, icmpv6BufferLen, type Icmpv4Message, type Icmpv6Message } from '../../stack/wire/icmp.ts';
import {
  ACK, CWR, ECE, FIN, PSH, RST, SYN, URG, emitTcp, parseTcp, tcpBufferLen, tcpPseudoSum,
  type TcpOption, type TcpSegment,
} from '../../stack/wire/tcp.ts';

export { ACK, FIN, RST, SYN };

/** What the runner knows about the connection under test, for sequence-number translation. */
export interface SeqMap {
  /** Our ISN on the wire and in the script (null until our first SYN or SYN|ACK was seen). */
  localIsnLive: number | null;
  localIsnScript: number;
  /** TSval clock: the first script TSval and the live TSval it matched. */
  tsFirst: { script: number; live: number } | null;
  /** script TSval -> live TSval for every `>` line with a timestamp. */
  tsMap: Record<string, number>;
}

export const newSeqMap = (): SeqMap => ({ localIsnLive: null, localIsnScript: 0, tsFirst: null, tsMap: {} });

/** live = script + offset for numbers in our sequence space. */
export const localOffset = (m: SeqMap): number => (m.localIsnLive === null ? 0 : (m.localIsnLive - m.localIsnScript) >>> 0);

export function flagBits(letters: string): number {
  let f = 0;
  for (const c of letters) {
    switch (c) {
      case 'S': f |= SYN; break;
      case 'F': f |= FIN; break;
      case 'R': f |= RST; break;
      case 'P': f |= PSH; break;
      case '.': case 'A': f |= ACK; break;
      case 'U': f |= URG; break;
      case 'E': f |= ECE; break;
      case 'W': f |= CWR; break;
      default: break;
    }
  }
  return f;
}

export function flagLetters(f: number): string {
  let s = '';
  if (f & SYN) s += 'S';
  if (f & FIN) s += 'F';
  if (f & RST) s += 'R';
  if (f & PSH) s += 'P';
  if (f & URG) s += 'U';
  if (f & ECE) s += 'E';
  if (f & CWR) s += 'W';
  if (f & ACK) s += '.';
  return s === '' ? '-' : s;
}

/** Why an inbound line cannot be injected (features ferry or the runner lack), or null. */
export function inboundUnsupported(tcp: TcpSpec | null, ip: IpInfo): string | null {
  // ECN marks on inbound packets are injected as written (ferry's RFC 3168 receiver reads CE marks).
  void ip;
  if (tcp === null) return null;
  if (tcp.options !== null && tcp.options !== 'any') {
    for (const o of tcp.options) {
      if (o.kind === 'fo') return 'TCP Fast Open (RFC 7413) is not implemented in ferry';
    }
  } else if (tcp.options === 'any') {
    return "an inbound '<...>' option list does not say what to send";
  }
  return null;
}

export interface Endpoints {
  local: string; remote: string;
  localPort: number; remotePort: number;
}

/**
 * How segments travel besides plain TCP (packetdrill's --udp_encapsulation=tcp and
 * --tcp_md5_secret): inside UDP between these ports unless a line says `/udp(a > b)`, and the
 * key that `md5 valid` signatures are made and checked with.
 */
export interface Wrap {
  udp: { localPort: number; remotePort: number } | null;
  md5Key: Uint8Array | null;
}

export const NO_WRAP: Wrap = { udp: null, md5Key: null };

/** Raw address bytes of a src/dst pair (text form). */
function addrBytes(src: string, dst: string): [Uint8Array, Uint8Array] {
  const a = ipToBytes(src), b = ipToBytes(dst);
  if (a === null || b === null) throw new Error(`bad addresses ${src} ${dst}`);
  return [a, b];
}

/** Build the IP packet for a `<` TCP line. */
export function buildInboundTcp(spec: TcpSpec, ip: IpInfo, ep: Endpoints, map: SeqMap, wrap: Wrap = NO_WRAP): Uint8Array | string {
  const off = localOffset(map);
  const options: TcpOption[] = [];
  for (const o of (spec.options === null || spec.options === 'any') ? [] : spec.options) {
    switch (o.kind) {
      case 'nop': options.push({ kind: 'nop' }); break;
      case 'eol': options.push({ kind: 'eol', pad: 0 }); break;
      case 'mss': options.push({ kind: 'mss', mss: o.mss }); break;
      case 'wscale': options.push({ kind: 'wscale', shift: o.shift }); break;
      case 'sackOK': options.push({ kind: 'sack-permitted' }); break;
      case 'sack': options.push({ kind: 'sack', blocks: o.blocks.map(([l, r]) => ({ left: (l + off) >>> 0, right: (r + off) >>> 0 })) }); break;
      case 'ts': options.push({ kind: 'timestamp', tsval: o.val >>> 0, tsecr: mapEcr(map, o.ecr) }); break;
      case 'raw': options.push({ kind: 'unknown', type: o.type, data: new Uint8Array(o.data) }); break;
      // RFC 2385 §3.0: kind 19, length 18; the digest is filled in once the segment is built.
      case 'md5': options.push({ kind: 'unknown', type: TCPOPT_MD5SIG, data: new Uint8Array(16) }); break;
      default: throw new Error(`unsupported inbound option ${o.kind}`);
    }
  }
  const md5 = spec.options === null || spec.options === 'any' ? undefined : spec.options.find((o) => o.kind === 'md5');
  if (md5 !== undefined && wrap.md5Key === null) return 'an md5 option without --tcp_md5_secret';
  const flags = flagBits(spec.flags);
  const seg: TcpSegment = {
    srcPort: ep.remotePort,
    dstPort: ep.localPort,
    seq: (spec.seq ?? 0) >>> 0,
    ack: spec.ack === null ? 0 : (spec.ack + off) >>> 0,
    flags,
    reserved: 0,
    window: spec.win ?? 0,
    urgent: 0,
    options,
    payload: new Uint8Array(spec.len),
  };
  const len = tcpBufferLen(seg);
  const l4 = new Uint8Array(len);
  const psum = tcpPseudoSum(ep.remote, ep.local, len);
  emitTcp(seg, l4, psum);
  if (md5 !== undefined && wrap.md5Key !== null) {
    const [src, dst] = addrBytes(ep.remote, ep.local);
    signTcp(src, dst, l4, wrap.md5Key);
    // `md5 invalid`: a signature that does not verify.
    if (md5.kind === 'md5' && md5.what === 'invalid') { const off = md5Offset(l4); l4[off] = l4[off]! ^ 0xff; }
    l4[16] = 0; l4[17] = 0;
    const c = finish(sum16(l4, psum));
    l4[16] = c >> 8; l4[17] = c & 0xff;
  }
  const udp = spec.udp ?? (wrap.udp === null ? null : { sport: wrap.udp.remotePort, dport: wrap.udp.localPort });
  if (udp === null) return buildIp(ep.remote, ep.local, 6, l4, ipOpts(ip));
  return buildIp(ep.remote, ep.local, 17, udpWrap(ep.remote, ep.local, udp.sport, udp.dport, l4), ipOpts(ip));
}

/**
 * A TCP segment inside UDP as FreeBSD sends it (tcp_output with t_port, packetdrill's
 * --udp_encapsulation=tcp): TCP checksum 0, the UDP checksum over the whole datagram.
 */
function udpWrap(src: string, dst: string, sport: number, dport: number, l4: Uint8Array): Uint8Array {
  const d = new Uint8Array(8 + l4.length);
  d.set(l4, 8);
  d[8 + 16] = 0; d[8 + 17] = 0;
  d[0] = sport >> 8; d[1] = sport & 0xff; d[2] = dport >> 8; d[3] = dport & 0xff;
  d[4] = d.length >> 8; d[5] = d.length & 0xff;
  const [a, b] = addrBytes(src, dst);
  let ps = sum16(a) + sum16(b) + 17 + d.length;
  if (a.length === 16) ps = sum16(a) + sum16(b) + 17 + (d.length >>> 16) + (d.length & 0xffff);
  const c = finish(sum16(d, ps));
  const cc = c === 0 ? 0xffff : c;
  d[6] = cc >> 8; d[7] = cc & 0xff;
  return d;
}

/** TSecr of an inbound segment: the live TSval the script's value stood for (packetdrill's ts_val_map). */
function mapEcr(map: SeqMap, ecr: number): number {
  const exact = map.tsMap[String(ecr)];
  if (exact !== undefined) return exact;
  if (ecr === 0 || map.tsFirst === null) return ecr >>> 0;
  // Not an echo of a TSval the script saw: keep its distance from the first one.
  return (map.tsFirst.live + (ecr - map.tsFirst.script)) >>> 0;
}

function ipOpts(ip: IpInfo) {
  const ecn = ip.ecn === 'ect0' ? 2 : ip.ecn === 'ect1' ? 1 : ip.ecn === 'ce' ? 3 : 0;
  const o: { ttl?: number; hopLimit?: number; dscp?: number; ecn?: number; trafficClass?: number } = {};
  if (ip.ttl !== null) o.ttl = ip.ttl;
  if (ip.hlim !== null) o.hopLimit = ip.hlim;
  if (ip.tos !== null) { o.dscp = ip.tos >> 2; o.ecn = ip.tos & 3; } else o.ecn = ecn;
  if (ip.tclass !== null) o.trafficClass = ip.tclass;
  else if (ecn !== 0) o.trafficClass = ecn;
  return o;
}

// ------------------------------------------------------------------------------ ICMP

const V4_UNREACH: Record<string, number> = {
  net_unreachable: 0, host_unreachable: 1, protocol_unreachable: 2, port_unreachable: 3, frag_needed: 4,
  source_route_failed: 5, net_unknown: 6, host_unknown: 7, source_host_isolated: 8, net_prohibited: 9,
  host_prohibited: 10, net_unreachable_for_tos: 11, host_unreachable_for_tos: 12, packet_filtered: 13,
  precedence_violation: 14, precedence_cutoff: 15,
};
const V6_UNREACH: Record<string, number> = {
  no_route: 0, admin_prohibited: 1, not_neighbour: 2, beyond_scope: 2, address_unreachable: 3, port_unreachable: 4,
  source_address_failed: 5, reject_route: 6,
};
const TIME_EXCEEDED: Record<string, number> = {
  ttl_exceeded_in_transit: 0, exceeded_hop_limit: 0, frag_reass_exceeded: 1, exceeded_frag_time: 1,
};
const V6_PARAM: Record<string, number> = { header_field: 0, unknown_next_header: 1, unknown_option: 2 };

/** Build the IP packet for a `< icmp ...` line quoting our segment [seq:end(len)] (in script space). */
export function buildInboundIcmp(spec: IcmpSpec, ip: IpInfo, ep: Endpoints, map: SeqMap, v6: boolean): Uint8Array | string {
  // The quoted packet: the IP header of a segment we sent and its full TCP header.
  const seq = ((spec.echoed?.seq ?? 0) + localOffset(map)) >>> 0;
  const quotedSeg: TcpSegment = {
    srcPort: ep.localPort, dstPort: ep.remotePort, seq, ack: 0, flags: ACK, reserved: 0, window: 0, urgent: 0,
    options: [], payload: new Uint8Array(spec.echoed?.len ?? 0),
  };
  const qlen = tcpBufferLen(quotedSeg);
  const ql4 = new Uint8Array(qlen);
  emitTcp(quotedSeg, ql4, tcpPseudoSum(ep.local, ep.remote, qlen));
  const quoted = buildIp(ep.local, ep.remote, 6, ql4).slice(0, (v6 ? 40 : 20) + 20);
  const code = (table: Record<string, number>): number | null => {
    if (spec.code === null) return 0;
    const m = /^code_(\d+)$/.exec(spec.code);
    if (m) return Number(m[1]);
    return table[spec.code] ?? null;
  };
  if (!v6) {
    let msg: Icmpv4Message;
    switch (spec.type) {
      case 'unreachable': {
        const c = code(V4_UNREACH);
        if (c === null) return `unknown ICMP unreachable code ${spec.code}`;
        msg = { kind: 'dest-unreachable', code: c, unused: 0, mtu: spec.mtu ?? 0, original: quoted };
        break;
      }
      case 'time_exceeded': {
        const c = code(TIME_EXCEEDED);
        if (c === null) return `unknown ICMP time_exceeded code ${spec.code}`;
        msg = { kind: 'time-exceeded', code: c, unused: 0, original: quoted };
        break;
      }
      case 'parameter_problem': {
        const c = code({});
        if (c === null) return `unknown ICMP parameter_problem code ${spec.code}`;
        msg = { kind: 'parameter-problem', code: c, pointer: 0, unused: 0, original: quoted };
        break;
      }
      case 'source_quench': msg = { kind: 'other', type: 4, code: code({}) ?? 0, rest: 0, body: quoted }; break;
      case 'redirect': msg = { kind: 'other', type: 5, code: code({}) ?? 0, rest: 0, body: quoted }; break;
      default: return `unknown ICMP type ${spec.type}`;
    }
    const body = new Uint8Array(icmpv4BufferLen(msg));
    emitIcmpv4(msg, body);
    return buildIp(ep.remote, ep.local, 1, body, ipOpts(ip));
  }
  let msg: Icmpv6Message;
  switch (spec.type) {
    case 'unreachable': {
      const c = code(V6_UNREACH);
      if (c === null) return `unknown ICMPv6 unreachable code ${spec.code}`;
      msg = { kind: 'dest-unreachable', code: c, unused: 0, original: quoted };
      break;
    }
    case 'packet_too_big': msg = { kind: 'packet-too-big', code: 0, mtu: spec.mtu ?? 1280, original: quoted }; break;
    case 'time_exceeded': {
      const c = code(TIME_EXCEEDED);
      if (c === null) return `unknown ICMPv6 time_exceeded code ${spec.code}`;
      msg = { kind: 'time-exceeded', code: c, unused: 0, original: quoted };
      break;
    }
    case 'parameter_problem': {
      const c = code(V6_PARAM);
      if (c === null) return `unknown ICMPv6 parameter_problem code ${spec.code}`;
      msg = { kind: 'parameter-problem', code: c, pointer: 0, original: quoted };
      break;
    }
    default: return `unknown ICMPv6 type ${spec.type}`;
  }
  const len = icmpv6BufferLen(msg);
  const body = new Uint8Array(len);
  emitIcmpv6(msg, body, ipPseudoSum(ep.remote, ep.local, 58, len));
  return buildIp(ep.remote, ep.local, 58, body, ipOpts(ip));
}

// ------------------------------------------------------------------------------ outbound

/** A packet the stack sent, decoded. */
export interface Outbound {
  /** Virtual time it was sent (µs). */
  time: number;
  version: 4 | 6;
  src: string; dst: string;
  ttl: number;
  /** TOS / traffic class byte. */
  tos: number;
  protocol: number;
  tcp: TcpSegment | null;
  /** The TCP segment's bytes (for signature checks). */
  tcpRaw: Uint8Array | null;
  /** The UDP ports when the segment came inside UDP. */
  udp: { sport: number; dport: number } | null;
  /** Why it could not be decoded (bad checksum, not TCP...). */
  error: string | null;
}

export function decodeOutbound(data: Uint8Array, time: number): Outbound {
  const p = parseIp(data);
  if (!p.ok) return { time, version: 4, src: '?', dst: '?', ttl: 0, tos: 0, protocol: 0, tcp: null, tcpRaw: null, udp: null, error: `bad IP packet: ${p.error}` };
  const ipk = p.value;
  const base = {
    time, version: ipk.version, src: ipk.src, dst: ipk.dst, protocol: ipk.protocol,
    ttl: ipk.version === 4 ? ipk.ttl : ipk.hopLimit,
    tos: ipk.version === 4 ? (ipk.dscp << 2) | ipk.ecn : ipk.trafficClass,
  };
  if (ipk.protocol === 17) {
    // TCP inside UDP: the UDP checksum must hold; the TCP checksum field must be 0 (FreeBSD's
    // sender rule) or correct.
    const [a, b] = addrBytes(ipk.src, ipk.dst);
    const n = ipk.payload.length;
    const ps = a.length === 16 ? sum16(a) + sum16(b) + 17 + (n >>> 16) + (n & 0xffff) : sum16(a) + sum16(b) + 17 + n;
    const u = parseUdp(ipk.payload, ps, ipk.version);
    if (!u.ok) return { ...base, tcp: null, tcpRaw: null, udp: null, error: `bad UDP datagram: ${u.error}` };
    const raw = u.value.payload;
    const zero = raw.length >= 18 && raw[16] === 0 && raw[17] === 0;
    const t = parseTcp(raw, zero ? null : tcpPseudoSum(ipk.src, ipk.dst, raw.length));
    const udp = { sport: u.value.srcPort, dport: u.value.dstPort };
    if (!t.ok) return { ...base, tcp: null, tcpRaw: null, udp, error: `bad TCP segment in UDP: ${t.error}` };
    return { ...base, tcp: t.value, tcpRaw: raw, udp, error: null };
  }
  if (ipk.protocol !== 6) return { ...base, tcp: null, tcpRaw: null, udp: null, error: `IP protocol ${ipk.protocol}, not TCP` };
  const t = parseTcp(ipk.payload, tcpPseudoSum(ipk.src, ipk.dst, ipk.payload.length));
  if (!t.ok) return { ...base, tcp: null, tcpRaw: null, udp: null, error: `bad TCP segment: ${t.error}` };
  return { ...base, tcp: t.value, tcpRaw: ipk.payload, udp: null, error: null };
}

/** EOL with padding becomes one 'eol' per zero byte, as the script writes them. */
function expandOptions(opts: readonly TcpOption[]): TcpOption[] {
  const out: TcpOption[] = [];
  for (const o of opts) {
    if (o.kind === 'eol') for (let i = 0; i <= o.pad; i++) out.push({ kind: 'eol', pad: 0 });
    else out.push(o);
  }
  return out;
}

/** An outbound segment in script space, in packetdrill syntax (for reports). */
export function describeOutbound(o: Outbound, map: SeqMap): string {
  if (o.tcp === null) return o.error ?? 'not a TCP segment';
  const s = o.tcp;
  const off = localOffset(map);
  const seq = (s.seq - off) >>> 0;
  const len = s.payload.length;
  let txt = `${flagLetters(s.flags)} ${seq}:${(seq + len) >>> 0}(${len})`;
  if (s.flags & ACK) txt += ` ack ${s.ack}`;
  txt += ` win ${s.window}`;
  const opts = expandOptions(s.options);
  if (opts.length > 0) txt += ` <${opts.map((x) => optText(x, map)).join(',')}>`;
  if (o.udp !== null) txt += `/udp(${o.udp.sport} > ${o.udp.dport})`;
  return txt;
}

function optText(o: TcpOption, map: SeqMap): string {
  switch (o.kind) {
    case 'eol': return 'eol';
    case 'nop': return 'nop';
    case 'mss': return `mss ${o.mss}`;
    case 'wscale': return `wscale ${o.shift}`;
    case 'sack-permitted': return 'sackOK';
    case 'sack': return `sack ${o.blocks.map((b) => `${b.left}:${b.right}`).join(' ')}`;
    case 'timestamp': return `TS val ${scriptTsval(map, o.tsval)} ecr ${o.tsecr}`;
    case 'unknown': return o.type === TCPOPT_MD5SIG && o.data.length === 16 ? 'md5' : `kind ${o.type} len ${o.data.length + 2}`;
  }
}

/** A live TSval on the script's clock (first TSval seen = first TSval expected). */
function scriptTsval(map: SeqMap, live: number): number {
  if (map.tsFirst === null) return live;
  return (map.tsFirst.script + (live - map.tsFirst.live)) >>> 0;
}

/** Context for checking one `>` line. */
export interface CheckCtx {
  map: SeqMap;
  ep: Endpoints;
  v6: boolean;
  /** Tolerance (µs) for TSval checks, and the TS clock tick (µs per TSval unit). */
  toleranceUsecs: number;
  tsTickUsecs: number;
  wrap: Wrap;
}

/**
 * Compare an outbound segment with a `>` line. Returns the differences (empty when it matches).
 * Side effect on success of the SYN check: learns our ISN (when `learnIsn`), and records TSval mappings.
 */
export function checkOutbound(spec: TcpSpec, ip: IpInfo, o: Outbound, ctx: CheckCtx, learnIsn: boolean): string[] {
  const diffs: string[] = [];
  if (o.tcp === null) return [o.error ?? 'not a TCP segment'];
  const s = o.tcp;
  const map = ctx.map;
  if (o.version !== (ctx.v6 ? 6 : 4)) diffs.push(`IP version ${o.version}`);
  if (o.src !== ctx.ep.local || o.dst !== ctx.ep.remote) diffs.push(`addresses ${o.src} > ${o.dst}`);
  if (s.srcPort !== ctx.ep.localPort && ctx.ep.localPort !== 0) diffs.push(`source port ${s.srcPort} (expected ${ctx.ep.localPort})`);
  if (s.dstPort !== ctx.ep.remotePort) diffs.push(`destination port ${s.dstPort} (expected ${ctx.ep.remotePort})`);
  const want = flagBits(spec.flags);
  if (s.flags !== want) diffs.push(`flags ${flagLetters(s.flags)} (expected ${flagLetters(want)})`);
  if ((s.flags & SYN) && learnIsn && spec.seq !== null && !spec.seqBang) {
    map.localIsnLive = s.seq;
    map.localIsnScript = spec.seq;
  }
  const off = localOffset(map);
  if (spec.seq !== null && !spec.seqBang) {
    const seq = (s.seq - off) >>> 0;
    if (seq !== spec.seq) diffs.push(`seq ${seq} (expected ${spec.seq})`);
  }
  if (s.payload.length !== spec.len) diffs.push(`payload length ${s.payload.length} (expected ${spec.len})`);
  else if (s.payload.some((b) => b !== 0)) diffs.push('payload bytes differ from what the application wrote');
  if (spec.ack !== null && s.ack !== (spec.ack >>> 0)) diffs.push(`ack ${s.ack} (expected ${spec.ack})`);
  if (spec.win !== null && s.window !== spec.win) diffs.push(`win ${s.window} (expected ${spec.win})`);
  if (s.urgent !== 0 && !(want & URG)) diffs.push(`urgent pointer ${s.urgent}`);
  // IP fields the line names.
  if (ip.ttl !== null && o.version === 4 && o.ttl !== ip.ttl) diffs.push(`ttl ${o.ttl} (expected ${ip.ttl})`);
  if (ip.hlim !== null && o.version === 6 && o.ttl !== ip.hlim) diffs.push(`hop limit ${o.ttl} (expected ${ip.hlim})`);
  if (ip.tos !== null && o.tos !== ip.tos) diffs.push(`tos 0x${o.tos.toString(16)} (expected 0x${ip.tos.toString(16)})`);
  if (ip.tclass !== null && o.tos !== ip.tclass) diffs.push(`traffic class 0x${o.tos.toString(16)} (expected 0x${ip.tclass.toString(16)})`);
  if (ip.ecn !== null) {
    const e = o.tos & 3;
    const ok = ip.ecn === 'noecn' ? e === 0 : ip.ecn === 'ect0' ? e === 2 : ip.ecn === 'ect1' ? e === 1 : ip.ecn === 'ce' ? e === 3 : (e === 1 || e === 2);
    if (!ok) diffs.push(`ECN bits ${e} (expected [${ip.ecn}])`);
  }
  // Inside UDP between the expected ports (the line's `/udp(a > b)` or the script's defaults), or not.
  const wantUdp = spec.udp ?? (ctx.wrap.udp === null ? null : { sport: ctx.wrap.udp.localPort, dport: ctx.wrap.udp.remotePort });
  if (wantUdp === null && o.udp !== null) diffs.push(`sent inside UDP (${o.udp.sport} > ${o.udp.dport})`);
  else if (wantUdp !== null && o.udp === null) diffs.push(`not inside UDP (expected /udp(${wantUdp.sport} > ${wantUdp.dport}))`);
  else if (wantUdp !== null && o.udp !== null && (o.udp.sport !== wantUdp.sport || o.udp.dport !== wantUdp.dport)) {
    diffs.push(`UDP ports ${o.udp.sport} > ${o.udp.dport} (expected ${wantUdp.sport} > ${wantUdp.dport})`);
  }
  if (spec.options !== 'any') diffs.push(...checkOptions(spec.options ?? [], s.options, ctx, o));
  return diffs;
}

function checkOptions(want: readonly OptSpec[], got: readonly TcpOption[], ctx: CheckCtx, o: Outbound): string[] {
  const actual = expandOptions(got);
  const map = ctx.map;
  const diffs: string[] = [];
  const show = () => `<${actual.map((x) => optText(x, map)).join(',')}>`;
  if (actual.length !== want.length) return [`options ${actual.length === 0 ? 'none' : show()} (expected ${want.length} options)`];
  for (let i = 0; i < want.length; i++) {
    const w = want[i]!, a = actual[i]!;
    const bad = (what: string) => diffs.push(`option ${i + 1}: ${what} (options ${show()})`);
    switch (w.kind) {
      case 'nop': if (a.kind !== 'nop') bad(`${optText(a, map)} instead of nop`); break;
      case 'eol': if (a.kind !== 'eol') bad(`${optText(a, map)} instead of eol`); break;
      case 'mss': if (a.kind !== 'mss' || a.mss !== w.mss) bad(`${optText(a, map)} instead of mss ${w.mss}`); break;
      case 'wscale': if (a.kind !== 'wscale' || a.shift !== w.shift) bad(`${optText(a, map)} instead of wscale ${w.shift}`); break;
      case 'sackOK': if (a.kind !== 'sack-permitted') bad(`${optText(a, map)} instead of sackOK`); break;
      case 'sack': {
        const txt = `sack ${w.blocks.map(([l, r]) => `${l}:${r}`).join(' ')}`;
        if (a.kind !== 'sack' || a.blocks.length !== w.blocks.length || a.blocks.some((b, k) => b.left !== w.blocks[k]![0] >>> 0 || b.right !== w.blocks[k]![1] >>> 0)) {
          bad(`${optText(a, map)} instead of ${txt}`);
        }
        break;
      }
      case 'ts': {
        if (a.kind !== 'timestamp') { bad(`${optText(a, map)} instead of TS`); break; }
        // The first TSval fixes the clock; later ones must keep pace with virtual time.
        if (map.tsFirst === null) map.tsFirst = { script: w.val, live: a.tsval };
        map.tsMap[String(w.val)] = a.tsval;
        const onScriptClock = scriptTsval(map, a.tsval);
        const drift = Math.abs(((onScriptClock - w.val) | 0)) * ctx.tsTickUsecs;
        if (drift > ctx.toleranceUsecs) bad(`TS val ${onScriptClock} instead of ${w.val} (tolerance ${ctx.toleranceUsecs / 1000} ms)`);
        if (a.tsecr !== (w.ecr >>> 0)) bad(`TS ecr ${a.tsecr} instead of ${w.ecr}`);
        break;
      }
      case 'md5': {
        if (a.kind !== 'unknown' || a.type !== TCPOPT_MD5SIG || a.data.length !== 16) { bad(`${optText(a, map)} instead of md5`); break; }
        const key = ctx.wrap.md5Key;
        if (key === null || o.tcpRaw === null) { bad('md5 option, but the script gives no --tcp_md5_secret'); break; }
        // Stricter than a format check: the signature must verify with the script's key (RFC 2385 §2.0).
        const [src, dst] = addrBytes(o.src, o.dst);
        const valid = md5Check(src, dst, o.tcpRaw, key) === 'ok';
        if (valid !== (w.what !== 'invalid')) bad(`md5 signature ${valid ? 'valid' : 'invalid'} (expected ${w.what || 'valid'})`);
        break;
      }
      case 'fo': bad('TCP Fast Open is not implemented'); break;
      case 'raw': if (a.kind !== 'unknown' || a.type !== w.type) bad(`${optText(a, map)} instead of kind ${w.type}`); break;
    }
  }
  return diffs;
}
