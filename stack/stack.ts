// The host-level stack (see api.ts for the contract): IP input and demultiplexing to TCP
// connections and listeners, ICMP errors (RFC 5927, path MTU: RFC 1191 / RFC 8201), the
// connection and listener tables, user calls, timers. All state is plain data in StackState.
import type {
  AcceptResult, AppEvent, ConnId, ConnInfo, ConnectResult, ListenResult, ListenerId, Ms, ResultOf, StackConfig,
  StackEvent, StepResult, TcpSocketConfig, VoidResult,
} from './api.ts';
import { keyedHash32 } from './crypto.ts';
import { newDeadlineIndex, peekDeadline, prune, schedule, shiftDeadlines, takeDue, unschedule, type DeadlineIndex } from './deadlines.ts';
import { holdFrozen, newFrozenTable, type FrozenTable } from './freeze.ts';
import { connKey, listenerKey } from './demux.ts';
import { addrSum } from './wire/addr-write.ts';
import { plainBytes } from './wire/bytes.ts';
import { canonicalIp } from './wire/addr.ts';
import { parseIcmpv4, parseIcmpv6 } from './wire/icmp.ts';
import { fragExpire, fragInit, fragInput, fragmentOf, fragNextDeadline, type FragTable } from './wire/frag.ts';
import { ipPseudoSum, isFragment, parseIp, parseQuoted } from './wire/ip.ts';
import { seqGe, seqLt } from './wire/seq.ts';
import { parseTcp, tcpOptionsInfo, FIN, RST, SYN } from './wire/tcp.ts';
import { parseUdp, UDP_HEADER_LEN } from './wire/udp.ts';
import { ipToBytes } from './wire/addr.ts';
import { md5Check } from './tcp/md5sig.ts';
import { dropConn, resetFor, segmentArrives } from './tcp/arrive.ts';
import { listenArrives, type Listener } from './tcp/listen.ts';
import { count, type Io, type StackShared } from './tcp/output.ts';
import { initialSeq, tsOffsetFor, updateMss } from './tcp/options.ts';
import { rcvWnd } from './tcp/receive.ts';
import { markAllLost, output, sendSyn } from './tcp/send.ts';
import { newTcb, type Tcb } from './tcp/tcb.ts';
import { rebaseTcb, refreshDeadline, tcpTick } from './tcp/timers.ts';
import { userAbort, userClose, userRecv, userSend, userSetOption, userShutdown } from './tcp/user.ts';

export type { Listener } from './tcp/listen.ts';
export type { Tcb } from './tcp/tcb.ts';

/** Everything the stack knows, as plain data (STYLE.md §2). */
export interface StackState extends StackShared {
  readonly v: 1;
  config: StackConfig;
  /** Per-stack secret (RFC 6528 ISS, SYN cookies, timestamp offsets), injected by the driver at boot. */
  secret: Uint8Array;
  tcp: Record<ConnId, Tcb>;
  listeners: Record<ListenerId, Listener>;
  /** Next ephemeral port offset (RFC 6056 §3.3.3-style: hashed start, then sequential). */
  nextPort: number;
  challenge: { at: Ms; count: number };
  /** IP fragment reassembly (RFC 791 §3.2, RFC 8200 §4.5; stack/wire/frag.ts). */
  frag: FragTable;
  /** Counters by name: drops by reason ('bad-checksum', 'out-of-window', ...), events ('rto', ...). */
  counters: Record<string, number>;
  /** Connections and listeners frozen for migration: their packets are held, not answered (stack/freeze.ts). */
  frozen: FrozenTable;
  /** When each connection's next timer is due: a min-heap, so ticks and nextDeadline never walk the table (deadlines.ts). */
  deadlines: DeadlineIndex;
}

/** Defaults a user should get (Linux-like where RFCs leave a choice). packetdrill profiles override them. */
export function defaultTcpConfig(): TcpSocketConfig {
  return {
    mtu: 1500,
    mss: null,
    rcvBuf: 256 * 1024,
    sndBuf: 256 * 1024,
    wscale: true,
    wscaleShift: null,
    sack: true,
    timestamps: true,
    cc: 'cubic',
    initialCwnd: 10,
    delayedAck: true,
    delayedAckMs: 40,
    ackEvery: 2,
    initialRto: 1000,
    // RFC 6298 §2.4 says 1 s; Linux uses 200 ms (TCP_RTO_MIN), which the RFC's own §2.4 note
    // and RFC 8961 §4 allow. We take Linux's value as default; the freebsd profile uses 30 ms.
    minRto: 200,
    maxRto: 120000,
    synRetries: 6,
    synAckRetries: 5,
    maxRetries: 15,
    msl: 30000,
    finWait2Timeout: 60000,
    noDelay: false,
    keepAlive: { enabled: false, idle: 7200000, interval: 75000, count: 9 },
    userTimeout: 0,
    persistMin: 200,
    persistMax: 60000,
    dupThresh: 3,
    optionLayout: 'linux',
    rcvWndPolicy: 'free-space',
    sockBufRoundToMss: false,
    delAckSegments: false,
    rtoSlop: 0,
    ackRepeatsFin: false,
    connectTimeout: null,
    noOptions: false,
    ttl: null,
    tos: 0,
    ecn: 'off',
    ecnSynRetries: 1,
  };
}

/** Stack-wide defaults for the given addresses. */
export function defaultStackConfig(addresses: string[]): StackConfig {
  return {
    addresses,
    tcp: defaultTcpConfig(),
    synQueue: 1024,
    syncookies: 'overflow',
    rfc5961: true,
    rfc5961Rst: true,
    rfc5961Syn: true,
    dropSynFin: false,
    icmpHardErrors: true,
    challengeAckLimit: 1000,
    rstForClosedPorts: true,
    ephemeralPorts: [49152, 65535],
    ttl: 64,
    minPmtuV4: 552,
    tsoSegments: 1,
    softErrorsAbortConnecting: 'none',
    tcpOverUdp: null,
  };
}

/** A new stack. `secret` (≥ 16 random bytes) comes from the driver; it is copied. */
export function createStack(config: StackConfig, secret: Uint8Array, now: Ms): StackState {
  void now;
  const addresses: string[] = [];
  for (const a of config.addresses) {
    const c = canonicalIp(a);
    if (c === null) throw new RangeError(`createStack: bad address ${a}`);
    addresses.push(c);
  }
  return {
    v: 1,
    config: { ...config, addresses, tcp: { ...config.tcp, keepAlive: { ...config.tcp.keepAlive } } },
    secret: secret.slice(),
    tcp: {},
    listeners: {},
    nextPort: keyedHash32(secret, new Uint8Array([0x70])) % (config.ephemeralPorts[1] - config.ephemeralPorts[0] + 1),
    challenge: { at: 0, count: 0 },
    frag: fragInit(),
    counters: {},
    frozen: newFrozenTable(),
    deadlines: newDeadlineIndex(),
  };
}

const psumFor = (a: string, b: string) => addrSum(a) + addrSum(b) + 6;

/** The one entry point: feed an event, get packets, app events and the call's result. */
export function stackStep<E extends StackEvent>(state: StackState, ev: E, now: Ms): StepResult<ResultOf<E>> {
  const io: Io = { out: [], events: [], shared: state };
  const result = dispatch(state, ev, io, now) as ResultOf<E>;
  prune(state.deadlines, state.tcp);
  return { out: io.out, events: io.events, result };
}

function dispatch(st: StackState, ev: StackEvent, io: Io, now: Ms): unknown {
  switch (ev.type) {
    // plainBytes: a caller's Buffer becomes a plain Uint8Array view, so every `.slice()` the
    // stack takes to own bytes is a real copy (Buffer#slice would alias the caller's memory).
    case 'packet': packetIn(st, plainBytes(ev.data), io, now); return null;
    case 'tick': tick(st, io, now); return null;
    case 'listen': return listen(st, ev.addr, ev.port, ev.backlog, ev.options ?? null);
    case 'unlisten': return unlisten(st, ev.listener, io, now);
    case 'accept': return accept(st, ev.listener);
    case 'connect': return connect(st, ev, io, now);
    default: break;
  }
  const tcb = st.tcp[ev.id];
  if (tcb === undefined || (tcb.app === 'closed' && ev.type !== 'abort' && ev.type !== 'close')) return { ok: false, code: 'EBADF' };
  let r: unknown;
  switch (ev.type) {
    case 'send': r = userSend(tcb, io, now, plainBytes(ev.data), sndMemRoom(st, tcb)); break;
    case 'recv': r = userRecv(tcb, io, now, ev.max); break;
    case 'shutdown': r = userShutdown(tcb, io, now); break;
    case 'close': r = userClose(tcb, io, now); break;
    case 'abort': r = userAbort(tcb, io, now); break;
    case 'set-option': r = userSetOption(tcb, io, now, ev.options); break;
  }
  settle(st, tcb, io);
  return r;
}

/** StackConfig.sndBufFloor when unset. */
const SND_BUF_FLOOR = 8192;

/**
 * How many more bytes `tcb` may queue under StackConfig.sndBufTotal (Infinity without one): what
 * is left of the total, but never less than what its floor leaves it. RFC 9293 leaves buffer
 * sizes to the implementation (§3.10.2 SEND: "insufficient resources"); RFC 4987 §2 names the
 * memory a remote peer can pin as the resource an attacker exhausts, and a peer that advertises
 * a zero window and never reads pins the whole send queue (RFC 9293 §3.8.6.1 persists forever).
 */
function sndMemRoom(st: StackState, tcb: Tcb): number {
  const total = st.config.sndBufTotal ?? null;
  if (total === null) return Infinity;
  let used = 0;
  for (const id in st.tcp) used += st.tcp[id]!.sndQLen;
  const floor = Math.min(tcb.cfg.sndBuf, st.config.sndBufFloor ?? SND_BUF_FLOOR);
  return Math.max(0, total - used, floor - tcb.sndQLen);
}

/** After processing a TCB: refresh its deadline, move it between listener queues, drop it when dead. */
function settle(st: StackState, tcb: Tcb, io: Io): void {
  if (tcb.listener !== null) {
    const l = st.listeners[tcb.listener];
    if (l === undefined) {
      tcb.listener = null;
    } else if (tcb.app === 'pending' && tcb.state !== 'SYN-RECEIVED' && tcb.state !== 'CLOSED') {
      // Handshake done: from the SYN queue to the accept queue.
      const i = l.synQ.indexOf(tcb.id);
      if (i >= 0) l.synQ.splice(i, 1);
      if (!l.acceptQ.includes(tcb.id)) {
        l.acceptQ.push(tcb.id);
        io.events.push({ type: 'accept-ready', listener: l.id, id: tcb.id });
      }
    }
  }
  if (tcb.state === 'CLOSED' && tcb.app !== 'open') {
    removeTcb(st, tcb);
    return;
  }
  schedule(st.deadlines, tcb.id, refreshDeadline(tcb));
}

/**
 * File a connection that was put into `st.tcp` other than by stackStep (resume after a freeze
 * or migration) in the deadline index, so its timers fire. Idempotent.
 */
export function scheduleConn(st: StackState, tcb: Tcb): void {
  schedule(st.deadlines, tcb.id, refreshDeadline(tcb));
}

function removeTcb(st: StackState, tcb: Tcb): void {
  if (tcb.listener !== null) {
    const l = st.listeners[tcb.listener];
    if (l !== undefined) {
      let i = l.synQ.indexOf(tcb.id);
      if (i >= 0) l.synQ.splice(i, 1);
      i = l.acceptQ.indexOf(tcb.id);
      if (i >= 0) l.acceptQ.splice(i, 1);
    }
  }
  delete st.tcp[tcb.id];
  unschedule(st.deadlines, tcb.id);
}

// ------------------------------------------------------------------------------ input

function packetIn(st: StackState, data: Uint8Array, io: Io, now: Ms, reassembled = false): void {
  count(io, reassembled ? 'ip-reassembled' : 'ip-in');
  const p = parseIp(data);
  if (!p.ok) { count(io, `ip-${p.error}`); return; }
  const pkt = p.value;
  if (!st.config.addresses.includes(pkt.dst)) { count(io, 'ip-not-local'); return; }
  if (isFragment(pkt)) {
    if (reassembled) { count(io, 'ip-frag-bad'); return; }
    const f = fragmentOf(pkt, data);
    if (f === null) { count(io, 'ip-frag-bad'); return; }
    const r = fragInput(st.frag, f, now);
    if (r.dropped !== null) count(io, `ip-frag-${r.dropped}`);
    // Held until its datagram is complete or times out (RFC 791 §3.2): counted, so every fragment lands somewhere.
    else if (r.complete === null) count(io, 'ip-frag-held');
    if (r.complete !== null) packetIn(st, r.complete, io, now, true);
    return;
  }
  // Frozen connections (stack/freeze.ts): hold the packet, never answer it.
  if (pkt.protocol === 6 && st.frozen.n > 0 && holdFrozen(st, pkt.src, pkt.dst, pkt.payload, data)) return;
  if (pkt.protocol === 6) tcpIn(st, pkt.src, pkt.dst, pkt.payload, pkt.version === 4 ? pkt.ecn : pkt.trafficClass & 3, io, now, null);
  else if (pkt.protocol === 17) udpIn(st, pkt.src, pkt.dst, pkt.payload, pkt.version, pkt.version === 4 ? pkt.ecn : pkt.trafficClass & 3, io, now, data);
  else if (pkt.version === 4 && pkt.protocol === 1) icmpIn(st, pkt.src, pkt.dst, pkt.payload, 4, io, now);
  else if (pkt.version === 6 && pkt.protocol === 58) icmpIn(st, pkt.src, pkt.dst, pkt.payload, 6, io, now);
  else count(io, 'ip-unknown-protocol');
}

/**
 * A UDP datagram. The only UDP the stack speaks is TCP over UDP (StackConfig.tcpOverUdp, as
 * FreeBSD's net.inet.tcp.udp_tunneling_port): a datagram to the tunnelling port carries one
 * TCP segment right after the UDP header. Everything else is counted and dropped.
 */
function udpIn(st: StackState, src: string, dst: string, body: Uint8Array, ver: 4 | 6, ipEcn: number, io: Io, now: Ms, data: Uint8Array): void {
  const tun = st.config.tcpOverUdp;
  if (tun === null || body.length < UDP_HEADER_LEN || ((body[2]! << 8) | body[3]!) !== tun.port) { count(io, 'udp-no-port'); return; }
  const u = parseUdp(body, ipPseudoSum(src, dst, 17, body.length), ver);
  if (!u.ok) { count(io, `udp-${u.error}`); return; }
  const d = u.value;
  count(io, 'tcp-over-udp-in');
  // Frozen connections (stack/freeze.ts) hold the whole datagram, as for plain TCP.
  if (st.frozen.n > 0 && holdFrozen(st, src, dst, d.payload, data)) return;
  // With a UDP checksum the TCP checksum is not looked at (FreeBSD tcp_input_with_port: its
  // sender leaves it 0, the UDP checksum covers the segment); without one (IPv4 only) it must hold.
  tcpIn(st, src, dst, d.payload, ipEcn, io, now, { port: d.srcPort, covered: !d.noChecksum });
}

/** How an arriving segment was carried: null for plain TCP, else inside UDP from `port`. */
type Carrier = { port: number; covered: boolean } | null;

/** The config `cfg` with the UDP encapsulation of an arriving segment (a copy only when it differs). */
function withEncap(cfg: TcpSocketConfig, port: number | null, overhead: number): TcpSocketConfig {
  if ((cfg.udpEncapPort ?? null) === port) return cfg;
  const c: TcpSocketConfig = { ...cfg, keepAlive: { ...cfg.keepAlive } };
  if (port === null) { delete c.udpEncapPort; return c; }
  c.udpEncapPort = port;
  // Inside UDP the link carries `overhead` bytes less of TCP (RFC 9293 §3.7.1: MSS from MMS_R).
  c.mtu = Math.max(68, cfg.mtu - overhead);
  return c;
}

/** RFC 2385 §3.0 check of an arriving segment against `key` (null: not configured, anything goes). */
function md5Ok(key: Uint8Array | null | undefined, src: string, dst: string, l4: Uint8Array, io: Io): boolean {
  if (key === null || key === undefined) return true;
  const s = ipToBytes(src), d = ipToBytes(dst);
  if (s === null || d === null) return false;
  const r = md5Check(s, d, l4, key);
  if (r === 'ok') return true;
  // "A failing comparison MUST result in the segment being dropped and MUST NOT produce any
  // response back to the sender"; an unsigned segment on a connection that expects signatures
  // is dropped the same way.
  count(io, r === 'missing' ? 'tcp-md5-missing' : 'tcp-md5-bad');
  return false;
}

/** A TCP segment from `src` to `dst`; `ipEcn` is the ECN field of its IP header (RFC 3168 §5). */
function tcpIn(st: StackState, src: string, dst: string, l4: Uint8Array, ipEcn: number, io: Io, now: Ms, carrier: Carrier): void {
  const psum = psumFor(dst, src);
  const r = parseTcp(l4, carrier !== null && carrier.covered ? null : psum + (l4.length >>> 16) + (l4.length & 0xffff));
  if (!r.ok) { count(io, `tcp-${r.error}`); return; }
  const seg = r.value;
  count(io, 'tcp-in');
  const info = tcpOptionsInfo(seg.options);
  const id = connKey(dst, seg.dstPort, src, seg.srcPort);
  let tcb = st.tcp[id];
  const encPort = carrier === null ? null : carrier.port;
  const overhead = st.config.tcpOverUdp?.mtuOverhead ?? 0;
  if (tcb !== undefined && tcb.state !== 'CLOSED') {
    if (!md5Ok(tcb.cfg.md5Key, src, dst, l4, io)) return;
    // A segment that arrives over another UDP port than the connection's (or with or without UDP
    // when the connection is the other way) is not part of it: answered as in CLOSED (RFC 9293
    // §3.10.7.1), over the way it came, with the connection's own IP settings and signature
    // (FreeBSD tcp_input: t_port differs -> dropwithreset). The connection is untouched.
    if ((tcb.cfg.udpEncapPort ?? null) !== encPort) {
      count(io, 'tcp-udp-port-mismatch');
      if (seg.flags & RST) return;
      const t = newTcb({
        id, localAddr: dst, localPort: seg.dstPort, remoteAddr: src, remotePort: seg.srcPort, psum,
        cfg: withEncap(tcb.cfg, encPort, 0), iss: 0, tsOffset: 0, listener: null, now,
      });
      resetFor(t, io, now, seg);
      return;
    }
  }
  // RFC 9293 §3.10.7.4 TIME-WAIT / RFC 6191: a new SYN above the old connection's sequence space may reuse the 4-tuple.
  if (tcb !== undefined && tcb.state === 'TIME-WAIT' && (seg.flags & (SYN | RST)) === SYN && tcb.app !== 'open'
    && seqGe(seg.seq, tcb.rcvNxt) && findListener(st, dst, seg.dstPort) !== undefined) {
    count(io, 'time-wait-reuse');
    removeTcb(st, tcb);
    tcb = undefined;
  }
  // config.dropSynFin (FreeBSD's drop_synfin): a SYN+FIN (no legitimate segment carries both) is
  // dropped unanswered by a listener or a connection; TIME-WAIT and closed ports answer as usual,
  // as in FreeBSD, where both are handled before its check.
  const synFinDrop = st.config.dropSynFin && (seg.flags & (SYN | FIN)) === (SYN | FIN);
  if (tcb !== undefined && tcb.state !== 'CLOSED') {
    if (synFinDrop && tcb.state !== 'TIME-WAIT') { count(io, 'syn-fin-dropped'); return; }
    // Linux keeps the final ACK from completing a handshake while the accept queue is full.
    if (tcb.state === 'SYN-RECEIVED' && tcb.listener !== null) {
      const l = st.listeners[tcb.listener];
      if (l !== undefined && l.acceptQ.length >= l.backlog) { count(io, 'accept-queue-full'); return; }
    }
    segmentArrives(tcb, seg, info, io, now, ipEcn);
    settle(st, tcb, io);
    return;
  }
  // A CLOSED TCB the application still holds behaves like no TCB (RFC 9293 §3.10.7.1), except
  // that it keeps its 4-tuple: a new connection on it has to wait until the application closes.
  const l = findListener(st, dst, seg.dstPort);
  if (tcb !== undefined && l !== undefined && (seg.flags & (SYN | RST)) === SYN) { count(io, 'tuple-busy'); return; }
  if (l !== undefined && tcb === undefined) {
    if (synFinDrop) { count(io, 'syn-fin-dropped'); return; }
    if (!md5Ok(l.cfg.md5Key, src, dst, l4, io)) return;
    // A passive connection over UDP answers to the port the SYN (or cookie ACK) came from.
    const lc = withEncap(l.cfg, encPort, overhead);
    const created = listenArrives(lc === l.cfg ? l : { ...l, cfg: lc }, { id, localAddr: dst, localPort: seg.dstPort, remoteAddr: src, remotePort: seg.srcPort, psum }, seg, info, io, now);
    if (created !== null) {
      st.tcp[id] = created;
      if (created.state === 'SYN-RECEIVED') l.synQ.push(id);
      else segmentArrives(created, seg, info, io, now, ipEcn);
      settle(st, created, io);
    }
    return;
  }
  // RFC 9293 §3.10.7.1 CLOSED: anything but a RST draws a RST.
  count(io, 'tcp-no-socket');
  if (seg.flags & RST || !st.config.rstForClosedPorts) return;
  const t = newTcb({
    id, localAddr: dst, localPort: seg.dstPort, remoteAddr: src, remotePort: seg.srcPort, psum,
    cfg: withEncap(st.config.tcp, encPort, 0), iss: 0, tsOffset: 0, listener: null, now,
  });
  resetFor(t, io, now, seg);
}

function findListener(st: StackState, addr: string, port: number): Listener | undefined {
  return st.listeners[listenerKey(addr, port)] ?? st.listeners[listenerKey(null, port)];
}

/**
 * ICMP errors about our TCP segments (RFC 5927; RFC 1122 §4.2.3.9). The quoted segment must
 * belong to a connection and carry a sequence number in [SND.UNA, SND.NXT) (RFC 5927 §4.1 /
 * §5.2), else the message is ignored.
 *   - Fragmentation needed (ICMPv4 3/4, RFC 1191) / Packet Too Big (ICMPv6 2, RFC 8201): lower
 *     the path MTU (floors: config minPmtuV4, RFC 1191 §3 allows 68; IPv6 1280, RFC 8200 §5),
 *     recompute the MSS and retransmit what was in flight at the new size, without a
 *     congestion response (RFC 1191 §6.5 / Linux tcp_simple_retransmit).
 *   - Protocol/port unreachable and administratively prohibited in SYN-SENT: hard error,
 *     ECONNREFUSED (RFC 1122 §4.2.3.9), unless config.icmpHardErrors is off.
 *   - Other unreachables, Time Exceeded and Parameter Problem: soft errors, reported only if the
 *     connection then times out.
 */
function icmpIn(st: StackState, src: string, dst: string, body: Uint8Array, ver: 4 | 6, io: Io, now: Ms): void {
  let original: Uint8Array, mtu: number | null = null, hard = false, soft: 'EHOSTUNREACH' | 'ENETUNREACH' | null = null;
  /** Time Exceeded in transit (ICMPv4 11/0, ICMPv6 3/0), for config.softErrorsAbortConnecting. */
  let ttlExceeded = false;
  if (ver === 4) {
    const m = parseIcmpv4(body);
    if (!m.ok) { count(io, 'icmp-ignored'); return; }
    const mv = m.value;
    if (mv.kind === 'time-exceeded' || mv.kind === 'parameter-problem') {
      // RFC 1122 §4.2.3.9: Time Exceeded and Parameter Problem are handled as the soft
      // unreachables: never abort, tell the application if the connection then times out.
      original = mv.original;
      soft = 'EHOSTUNREACH';
      ttlExceeded = mv.kind === 'time-exceeded' && mv.code === 0;
    } else if (mv.kind === 'dest-unreachable') {
      original = mv.original;
      const code = mv.code;
      if (code === 4) mtu = mv.mtu;
      // RFC 1122 §4.2.3.9: codes 2-4 are hard errors. The administratively-prohibited codes (9, 10,
      // RFC 1812 §5.2.7.1's 13) are not among the soft ones (0, 1, 5) either: a filter that
      // forbids the connection is as final as a refusal, so they are hard too (Linux's
      // icmp_err_convert marks them fatal, FreeBSD aborts on them).
      else if (code === 2 || code === 3 || code === 9 || code === 10 || code === 13) hard = true;
      else soft = code === 0 || code === 6 ? 'ENETUNREACH' : 'EHOSTUNREACH';
    } else { count(io, 'icmp-ignored'); return; }
  } else {
    const m = parseIcmpv6(body, ipPseudoSum(src, dst, 58, body.length));
    if (!m.ok) { count(io, 'icmp-ignored'); return; }
    const v = m.value;
    if (v.kind === 'packet-too-big') { original = v.original; mtu = v.mtu; }
    // RFC 4443 §3.1: code 4 (port unreachable) is hard, as is code 1 (communication administratively
    // prohibited, as for ICMPv4 above); 0 (no route) and 3 (address unreachable) are soft.
    else if (v.kind === 'dest-unreachable') { original = v.original; if (v.code === 4 || v.code === 1) hard = true; else soft = v.code === 0 ? 'ENETUNREACH' : 'EHOSTUNREACH'; }
    // Parameter Problem code 1, "unrecognized Next Header type encountered" (RFC 4443 §3.4) for our
    // TCP segment: the host does not speak TCP, IPv6's Protocol Unreachable (hard, RFC 1122 §4.2.3.9).
    else if (v.kind === 'parameter-problem' && v.code === 1) { original = v.original; hard = true; }
    // RFC 1122 §4.2.3.9 (RFC 4443 for the ICMPv6 types): soft errors.
    else if (v.kind === 'time-exceeded' || v.kind === 'parameter-problem') {
      original = v.original;
      soft = 'EHOSTUNREACH';
      ttlExceeded = v.kind === 'time-exceeded' && v.code === 0;
    }
    else { count(io, 'icmp-ignored'); return; }
  }
  const q = parseQuoted(original);
  if (!q.ok || q.value.protocol !== 6 || q.value.payload.length < 8) { count(io, 'icmp-bad-quote'); return; }
  const qp = q.value.payload;
  const sport = (qp[0]! << 8) | qp[1]!, dport = (qp[2]! << 8) | qp[3]!;
  const seq = ((qp[4]! * 0x1000000) + (qp[5]! << 16) + (qp[6]! << 8) + qp[7]!) >>> 0;
  const tcb = st.tcp[connKey(q.value.src, sport, q.value.dst, dport)];
  if (tcb === undefined) { count(io, 'icmp-no-conn'); return; }
  // RFC 5927 §4.1: the quoted sequence number must be in flight.
  const inFlight = seqGe(seq, tcb.sndUna) && seqLt(seq, tcb.sndNxt) || (tcb.state === 'SYN-SENT' && seq === tcb.iss);
  if (!inFlight) { count(io, 'icmp-bad-seq'); return; }
  count(io, 'icmp-accepted');
  if (mtu !== null) {
    const floor = tcb.v6 ? 1280 : st.config.minPmtuV4;
    const newMtu = Math.max(floor, Math.min(mtu === 0 ? tcb.pmtu - 1 : mtu, tcb.cfg.mtu));
    if (newMtu >= tcb.pmtu) return;
    tcb.pmtu = newMtu;
    const before = tcb.mss;
    updateMss(tcb);
    count(io, 'pmtu-decrease');
    if (tcb.mss < before && tcb.sndNxt !== tcb.sndUna && tcb.state !== 'SYN-SENT') {
      markAllLost(tcb);
      output(tcb, io, now);
    }
    settle(st, tcb, io);
    return;
  }
  if (hard && tcb.state === 'SYN-SENT' && st.config.icmpHardErrors) {
    dropConn(tcb, io, 'ECONNREFUSED');
    settle(st, tcb, io);
    return;
  }
  // config.softErrorsAbortConnecting ('none' by default): a soft error ends our pending connection
  // request (SYN-SENT), the "non-standard, but widely implemented" reaction RFC 5461 describes
  // (Abstract, §4.1): it spares a client the whole connection timeout when, e.g., one address of
  // a dual-stack host is unreachable. 'time-exceeded' limits it to Time Exceeded in transit
  // (FreeBSD icmp_may_rst=1, tcp_ctlinput); 'all' takes every soft error. RFC 1122 §4.2.3.9
  // (RFC 9293 MUST-56) says not to abort on soft errors, which is the default.
  const abortOn = st.config.softErrorsAbortConnecting;
  if (!hard && tcb.state === 'SYN-SENT' && (abortOn === 'all' || (abortOn === 'time-exceeded' && ttlExceeded))) {
    count(io, 'icmp-soft-error-abort');
    dropConn(tcb, io, soft ?? 'EHOSTUNREACH');
    settle(st, tcb, io);
    return;
  }
  tcb.softError = soft ?? 'EHOSTUNREACH';
}

// ------------------------------------------------------------------------------ timers

function tick(st: StackState, io: Io, now: Ms): void {
  // Abandoned reassemblies (no ICMP Time Exceeded is sent: RFC 1122 §3.3.2 makes it optional).
  if (st.frag.count > 0) {
    const { expired } = fragExpire(st.frag, now);
    if (expired.length > 0) count(io, 'ip-frag-timeout', expired.length);
  }
  // Only the connections whose deadline has come (O(due + log n)). A timer re-armed at or
  // before `now` waits for the next tick, as each connection fires at most once per tick.
  for (const id of takeDue(st.deadlines, now)) {
    const tcb = st.tcp[id];
    if (tcb === undefined) continue;
    if (tcb.deadline === null || tcb.deadline > now) { schedule(st.deadlines, id, tcb.deadline); continue; }
    tcpTick(tcb, io, now);
    settle(st, tcb, io);
  }
}

/** Earliest deadline over all connections (and IP reassembly), or null. O(1) for the connections. */
export function stackNextDeadline(st: StackState): Ms | null {
  const d: Ms | null = st.frag.count > 0 ? fragNextDeadline(st.frag) : null;
  const t = peekDeadline(st.deadlines);
  return t !== null && (d === null || t < d) ? t : d;
}

// ------------------------------------------------------------------------------ user calls

function listen(st: StackState, addr: string | null, port: number, backlog: number, o: Partial<TcpSocketConfig> | null): ListenResult {
  const a = addr === null ? null : canonicalIp(addr);
  if (addr !== null && (a === null || !st.config.addresses.includes(a))) return { ok: false, code: 'EADDRNOTAVAIL' };
  if (!Number.isInteger(port) || port < 1 || port > 65535) return { ok: false, code: 'EINVAL' };
  const id = listenerKey(a, port);
  if (st.listeners[id] !== undefined) return { ok: false, code: 'EADDRINUSE' };
  // A wildcard and a specific listener on one port conflict, as bind(2) without SO_REUSEADDR.
  if (a === null ? Object.values(st.listeners).some((l) => l.port === port) : st.listeners[listenerKey(null, port)] !== undefined) {
    return { ok: false, code: 'EADDRINUSE' };
  }
  const base = st.config.tcp;
  const cfg: TcpSocketConfig = tidyOptional({ ...base, ...(o ?? {}), keepAlive: { ...base.keepAlive, ...(o?.keepAlive ?? {}) } });
  // A listener's connections take their UDP encapsulation from each SYN (withEncap), not from it.
  delete cfg.udpEncapPort;
  st.listeners[id] = { id, addr: a, port, backlog: Math.max(1, backlog | 0), cfg, synQ: [], acceptQ: [] };
  return { ok: true, listener: id };
}

function unlisten(st: StackState, id: ListenerId, io: Io, now: Ms): VoidResult {
  const l = st.listeners[id];
  if (l === undefined) return { ok: false, code: 'EBADF' };
  delete st.listeners[id];
  for (const cid of [...l.synQ, ...l.acceptQ]) {
    const tcb = st.tcp[cid];
    if (tcb === undefined) continue;
    tcb.listener = null;
    userAbort(tcb, io, now);
    settle(st, tcb, io);
  }
  return { ok: true };
}

function accept(st: StackState, id: ListenerId): AcceptResult {
  const l = st.listeners[id];
  if (l === undefined) return { ok: false, code: 'EBADF' };
  for (;;) {
    const cid = l.acceptQ.shift();
    if (cid === undefined) return { ok: true, id: null };
    const tcb = st.tcp[cid];
    if (tcb === undefined) continue;
    tcb.app = 'open';
    tcb.listener = null;
    return { ok: true, id: cid };
  }
}

function connect(st: StackState, ev: Extract<StackEvent, { type: 'connect' }>, io: Io, now: Ms): ConnectResult {
  const remote = canonicalIp(ev.remote);
  if (remote === null) return { ok: false, code: 'EINVAL' };
  if (!Number.isInteger(ev.port) || ev.port < 1 || ev.port > 65535) return { ok: false, code: 'EINVAL' };
  const v6 = remote.includes(':');
  let local: string | null;
  if (ev.local !== null) {
    local = canonicalIp(ev.local);
    if (local === null || !st.config.addresses.includes(local)) return { ok: false, code: 'EADDRNOTAVAIL' };
  } else {
    local = st.config.addresses.find((a) => a.includes(':') === v6) ?? null;
    if (local === null) return { ok: false, code: 'ENETUNREACH' };
  }
  if (local.includes(':') !== v6) return { ok: false, code: 'EINVAL' };
  let port = ev.localPort;
  if (port === null) {
    const [lo, hi] = st.config.ephemeralPorts;
    const n = hi - lo + 1;
    for (let i = 0; i < n; i++) {
      const cand = lo + ((st.nextPort + i) % n);
      if (st.tcp[connKey(local, cand, remote, ev.port)] === undefined && st.listeners[listenerKey(local, cand)] === undefined
        && st.listeners[listenerKey(null, cand)] === undefined) {
        port = cand;
        st.nextPort = (st.nextPort + i + 1) % n;
        break;
      }
    }
    if (port === null) return { ok: false, code: 'EADDRINUSE' };
  }
  const id = connKey(local, port, remote, ev.port);
  if (st.tcp[id] !== undefined) return { ok: false, code: 'EADDRINUSE' };
  const base = st.config.tcp;
  const o = ev.options ?? null;
  // Without per-socket options the connection shares the stack default (copied on set-option).
  let cfg: TcpSocketConfig = o === null ? base : { ...base, ...o, keepAlive: { ...base.keepAlive, ...(o.keepAlive ?? {}) } };
  cfg = tidyOptional(cfg);
  // TCP over UDP needs the stack's tunnelling port (FreeBSD refuses TCP_REMOTE_UDP_ENCAPS_PORT without one).
  const encap = cfg.udpEncapPort ?? null;
  if (encap !== null) {
    const tun = st.config.tcpOverUdp;
    if (tun === null || !Number.isInteger(encap) || encap < 1 || encap > 65535) return { ok: false, code: 'EINVAL' };
    cfg = { ...cfg, keepAlive: { ...cfg.keepAlive }, mtu: Math.max(68, cfg.mtu - tun.mtuOverhead) };
  }
  const tcb = newTcb({
    id, localAddr: local, localPort: port, remoteAddr: remote, remotePort: ev.port, psum: psumFor(local, remote),
    cfg, iss: initialSeq(st.secret, id, now), tsOffset: tsOffsetFor(st.secret, id), listener: null, now,
  });
  // RFC 9293 §3.10.1 OPEN (active): send <SEQ=ISS><CTL=SYN>, enter SYN-SENT.
  tcb.state = 'SYN-SENT';
  st.tcp[id] = tcb;
  sendSyn(tcb, io, now);
  tcb.timers.rtx = now + tcb.rto;
  // cfg.connectTimeout: the whole handshake must be over by then (BSD TCP_KEEPINIT).
  if (cfg.connectTimeout !== null) tcb.timers.close = now + cfg.connectTimeout;
  settle(st, tcb, io);
  return { ok: true, id };
}

/**
 * The optional per-socket settings (md5Key, udpEncapPort) are left out rather than kept as null, so
 * a socket that does not use them has exactly the fields the snapshot codec knows.
 */
export function tidyOptional(cfg: TcpSocketConfig): TcpSocketConfig {
  if (cfg.md5Key !== null && cfg.udpEncapPort !== null) return cfg;
  const c = { ...cfg };
  if (c.md5Key === null) delete c.md5Key;
  if (c.udpEncapPort === null) delete c.udpEncapPort;
  return c;
}

// ------------------------------------------------------------------------------ queries

/** A snapshot of one connection, or null if unknown. */
export function connInfo(st: StackState, id: ConnId): ConnInfo | null {
  const t = st.tcp[id];
  if (t === undefined) return null;
  return {
    id, state: t.state,
    localAddr: t.localAddr, localPort: t.localPort, remoteAddr: t.remoteAddr, remotePort: t.remotePort,
    bytesInFlight: (t.sndNxt - t.sndUna) >>> 0,
    cwnd: Math.floor(t.cc.cwnd), ssthresh: Math.min(t.cc.ssthresh, 0x7fffffff),
    srtt: t.srtt, rto: t.rto, mss: t.mss,
    sndWnd: t.sndWnd, rcvWnd: rcvWnd(t),
    sndBufUsed: t.sndQLen, sndBufSize: t.cfg.sndBuf,
    rcvBufUsed: t.rcvQLen, rcvOooBytes: t.oooLen, rcvBufSize: t.cfg.rcvBuf,
    bytesRead: t.bytesRead, bytesWritten: t.bytesWritten, retransmits: t.retransmits,
    sackOk: t.sackOk, tsOk: t.tsOk, sndWscale: t.sndShift, rcvWscale: t.rcvShift,
    cc: t.cc.algo, noDelay: t.cfg.noDelay,
  };
}

/**
 * Shift the whole stack onto a clock reading `delta` ms more (resume after a snapshot taken at
 * `takenAt` on another clock: delta = now - takenAt). Deadlines, stored instants and timestamp
 * offsets all move, so timers keep their remaining time and TSval continues monotonically.
 */
export function rebaseStack(st: StackState, delta: number): void {
  for (const id in st.tcp) rebaseTcb(st.tcp[id]!, delta);
  shiftDeadlines(st.deadlines, delta);
  for (const key in st.frag.entries) st.frag.entries[key]!.deadline += delta;
  st.challenge.at += delta;
}

/** Ids of every connection in the table. */
export function listConnections(st: StackState): ConnId[] {
  return Object.keys(st.tcp);
}

export type { AppEvent };
