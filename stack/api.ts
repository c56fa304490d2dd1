// The contract between the pure stack and everything above it (the net-compatible
// Socket/Server, the driver loop, packetdrill, migration). Types only, plus re-exports of
// the few functions that drive a stack. Keep this file stable: add fields, never rename.
//
// Model (STYLE.md §2): the driver owns one `StackState` (plain data) and feeds it events
// with `stackStep(state, event, now)`. Each step may mutate `state` in place and returns the
// IP packets to write, the application events that happened, and the result of a user call.
// After every step the driver arms one timer at `stackNextDeadline(state)` and feeds
// `{ type: 'tick' }` when it fires. `now` is milliseconds on the driver's monotonic clock.
//
// Data flow is a pull model on the receive side: arriving bytes stay in the connection's
// receive buffer until `recv` takes them, so the advertised window shrinks while the
// application does not read (backpressure reaches the peer). On the send side `send`
// accepts at most the free space of the send buffer; when it accepted less than offered, a
// 'writable' event follows once ACKs free space.

export type Ms = number;

/** A TCP connection id: `${localAddr}|${localPort}|${remoteAddr}|${remotePort}` (addresses in canonical text). */
export type ConnId = string;
/** A listener id: `${localAddr or '*'}|${localPort}`. */
export type ListenerId = string;

export type CcAlgo = 'newreno' | 'cubic';

/** RFC 9293 §3.3.2 state names, spelt as in the RFC. */
export type TcpStateName =
  | 'CLOSED' | 'LISTEN' | 'SYN-SENT' | 'SYN-RECEIVED' | 'ESTABLISHED' | 'FIN-WAIT-1' | 'FIN-WAIT-2'
  | 'CLOSE-WAIT' | 'CLOSING' | 'LAST-ACK' | 'TIME-WAIT';

/** Error codes reported to the application (Node's `err.code` spelling). */
export type ErrorCode =
  | 'ECONNRESET' | 'ECONNREFUSED' | 'ETIMEDOUT' | 'EPIPE' | 'EADDRINUSE' | 'EADDRNOTAVAIL'
  | 'EHOSTUNREACH' | 'ENETUNREACH' | 'ENOTCONN' | 'EINVAL' | 'EBADF' | 'ECONNABORTED' | 'EMSGSIZE';

/** Keepalive settings (RFC 9293 §3.8.4; times in ms). */
export interface KeepAliveConfig {
  enabled: boolean;
  /** Idle time before the first probe (Linux tcp_keepalive_time 7200 s). */
  idle: Ms;
  /** Time between unanswered probes (Linux tcp_keepalive_intvl 75 s). */
  interval: Ms;
  /** Unanswered probes before the connection is dropped with ETIMEDOUT (Linux 9). */
  count: number;
}

/**
 * Per-socket settings. `StackConfig.tcp` holds the defaults every new socket (active or
 * passive) starts with; `connect` and `set-option` override them per socket.
 */
export interface TcpSocketConfig {
  /** Link MTU used to derive the MSS we advertise and the initial path MTU (bytes). */
  mtu: number;
  /** Upper bound on the MSS we advertise (null: derived from `mtu` only). RFC 9293 §3.7.1. */
  mss: number | null;
  /** Receive buffer limit (bytes): unread + out-of-order data never exceeds it. */
  rcvBuf: number;
  /** Send buffer limit (bytes): unacknowledged + unsent data never exceeds it. */
  sndBuf: number;
  /** Offer RFC 7323 window scaling. */
  wscale: boolean;
  /** Our window shift when scaling is offered; null: the smallest shift that covers rcvBuf. */
  wscaleShift: number | null;
  /** Offer RFC 2018 SACK. */
  sack: boolean;
  /** Offer RFC 7323 timestamps. */
  timestamps: boolean;
  cc: CcAlgo;
  /** RFC 6928 initial window in segments (RFC 5681 allows 2-4; Linux and RFC 6928 use 10). */
  initialCwnd: number;
  /** Delayed ACKs (RFC 9293 §3.8.6.3 / RFC 5681 §4.2). false: ACK every segment. */
  delayedAck: boolean;
  /** Bound on the ACK delay (Linux 40 ms, FreeBSD 100 ms; RFC 5681 caps it at 500 ms). */
  delayedAckMs: Ms;
  /** Full-sized segments received before an ACK is forced (RFC 5681 §4.2: at least every 2nd). */
  ackEvery: number;
  /** RFC 6298 §2.1 initial RTO (1 s). */
  initialRto: Ms;
  /** RFC 6298 §2.4 lower bound (RFC: 1 s; Linux 200 ms; FreeBSD 30 ms). */
  minRto: Ms;
  /** RFC 6298 §2.5 upper bound (at least 60 s). */
  maxRto: Ms;
  /** SYN retransmissions before connect fails with ETIMEDOUT (Linux tcp_syn_retries 6). */
  synRetries: number;
  /** SYN|ACK retransmissions before a half-open connection is dropped (Linux 5). */
  synAckRetries: number;
  /** Data retransmissions before the connection ends with ETIMEDOUT (Linux tcp_retries2 15). */
  maxRetries: number;
  /** Maximum segment lifetime; TIME-WAIT lasts 2*MSL (RFC 9293 §3.4.2: 2 min; Linux TIME-WAIT 60 s → msl 30 s). */
  msl: Ms;
  /** FIN-WAIT-2 timeout for connections the application has closed (Linux tcp_fin_timeout 60 s; null: none). */
  finWait2Timeout: Ms | null;
  /** Disable Nagle (RFC 9293 §3.7.4). */
  noDelay: boolean;
  keepAlive: KeepAliveConfig;
  /** RFC 5482 user timeout: unacknowledged data older than this ends the connection (0: off, use maxRetries). */
  userTimeout: Ms;
  /** Persist-timer probe interval bounds (ms); the probe backs off exponentially between them. */
  persistMin: Ms;
  persistMax: Ms;
  /** RFC 6675 DupThresh. */
  dupThresh: number;
  /** Layout of options on SYN and SYN|ACK: Linux's or FreeBSD's order (for packetdrill profiles). */
  optionLayout: 'linux' | 'freebsd';
  /**
   * Receiver silly-window avoidance (RFC 9293 §3.8.6.2.2, RFC 1122 §4.2.3.3: MUST have one; the
   * algorithm is ours to choose). 'free-space' (Linux, BSD): every segment offers the free receive
   * buffer, except that a window smaller than min(rcvBuf/4, MSS) is never newly offered.
   * 'right-edge': RFC 9293's suggested algorithm, RCV.NXT+RCV.WND stays fixed until it can move by
   * min(rcvBuf/2, MSS). Both never shrink the window.
   */
  rcvWndPolicy: 'free-space' | 'right-edge';
  /**
   * Round rcvBuf and sndBuf up to a multiple of the MSS once the peer's MSS is known (FreeBSD's
   * tcp_mss_update sizes its socket buffers so; e.g. 65536 becomes 65700 with MSS 1460). For the
   * freebsd packetdrill profile; off by default.
   */
  sockBufRoundToMss: boolean;
  /**
   * Delayed ACKs count data segments of any size: every second one is ACKed at once (FreeBSD).
   * false: every `ackEvery` full-sized segments' worth of bytes (Linux). RFC 5681 §4.2 asks for an
   * ACK for "at least every second full-sized segment"; ACKing more often is allowed.
   */
  delAckSegments: boolean;
  /**
   * Added to every retransmission timeout except the very first (before any RTT sample or
   * backoff), as FreeBSD adds net.inet.tcp.rexmit_slop (200 ms). RFC 6298 gives lower bounds
   * for the RTO; a larger one is always allowed. 0 by default.
   */
  rtoSlop: Ms;
  /**
   * While our FIN is sent and unacknowledged (and everything before it acknowledged), an ACK the
   * transmit loop owes repeats the FIN: <SEQ=FIN's><CTL=FIN,ACK> in place of a bare ACK at
   * SND.NXT (BSD tcp_output backs snd_nxt up onto an unacknowledged FIN). The FIN is a copy of
   * unacknowledged sequence space, which a receiver trims and acknowledges like any duplicate
   * (RFC 9293 §3.10.7.4); RFC 9293 Figure 13 shows a bare ACK. Challenge ACKs (RFC 5961 §7) stay
   * bare. For the freebsd packetdrill profile; off by default.
   */
  ackRepeatsFin: boolean;
  /**
   * Connection-establishment timeout (ms): an active open that has not reached ESTABLISHED this
   * long after connect fails with ETIMEDOUT (BSD TCP_KEEPINIT). RFC 1122 §4.2.3.5 wants SYN
   * retransmission to go on for at least 3 minutes by default, "the application can close the
   * connection (i.e., give up on the open attempt) sooner"; null: only synRetries bounds it.
   */
  connectTimeout: Ms | null;
  /**
   * Send no TCP options at all (BSD TCP_NOOPT): SYNs carry no MSS, window-scale, SACK-permitted or
   * timestamp option, so none is negotiated and the peer assumes an MSS of 536 (IPv4) / 1220 (IPv6).
   * RFC 9293 §3.7.1 SHLD-5 asks for the MSS option; this is for applications that opt out.
   */
  noOptions: boolean;
  /** TTL (IPv4) / Hop Limit (IPv6) of this socket's packets (IP_TTL / IPV6_UNICAST_HOPS); null: StackConfig.ttl. */
  ttl: number | null;
  /**
   * IPv4 TOS / IPv6 Traffic Class byte of this socket's packets (IP_TOS / IPV6_TCLASS): the DSCP in
   * the upper 6 bits (RFC 2474). The low 2 bits, the ECN field, are set by ECN (RFC 3168 §5) only.
   */
  tos: number;
  /**
   * Explicit Congestion Notification (RFC 3168): 'off'; 'accept' (use it when the peer's SYN asks
   * for it, never ask); 'on' (also send ECN-setup SYNs). Linux and FreeBSD default to 'accept'.
   */
  ecn: 'off' | 'accept' | 'on';
  /**
   * Retransmissions of an ECN-setup SYN before the SYN is resent without ECE|CWR (RFC 3168 §6.1.1.1
   * MAY: a middlebox may drop ECN-setup SYNs). FreeBSD net.inet.tcp.ecn.maxretries (1).
   */
  ecnSynRetries: number;
  /**
   * TCP-MD5 signature key (RFC 2385; Linux/BSD TCP_MD5SIG): every segment this socket sends
   * carries the MD5 signature option (kind 19), and every arriving segment without a valid one
   * is dropped and counted (RFC 2385 §3: 'tcp-md5-missing', 'tcp-md5-bad'). Absent or null: off.
   * Optional (unlike the fields above) so that sockets without it keep the snapshot format of
   * migrate/snapshot.ts unchanged; that codec refuses to snapshot a socket that sets it.
   */
  md5Key?: Uint8Array | null;
  /**
   * TCP over UDP (FreeBSD's TCP_REMOTE_UDP_ENCAPS_PORT; the SCTP pattern of RFC 6951): the peer's
   * UDP port. Segments go out inside UDP from StackConfig.tcpOverUdp.port to this port; a
   * passive connection takes it from the UDP source port of the SYN. Absent or null: plain TCP.
   * Optional for the same snapshot reason as md5Key.
   */
  udpEncapPort?: number | null;
}

/** Settings of the whole stack. */
export interface StackConfig {
  /** Addresses this stack answers for (canonical text). Packets to other addresses are dropped. */
  addresses: string[];
  /** Defaults for every new socket. */
  tcp: TcpSocketConfig;
  /** Bound on half-open connections per listener (the SYN queue, RFC 4987 §3.1). */
  synQueue: number;
  /** SYN cookies (RFC 4987 §3.6): 'overflow' only when the SYN queue is full, 'always', or 'off' (then drop). */
  syncookies: 'off' | 'overflow' | 'always';
  /** RFC 5961 blind-injection defences (exact-match RST, challenge ACKs, ACK range check); false turns all of them off. */
  rfc5961: boolean;
  /** RFC 5961 §3 for RSTs (with rfc5961): false takes any in-window RST (RFC 793). */
  rfc5961Rst: boolean;
  /** RFC 5961 §4 for SYNs (with rfc5961): false resets the connection on an in-window SYN (RFC 793). */
  rfc5961Syn: boolean;
  /** Silently drop every segment with both SYN and FIN set (FreeBSD net.inet.tcp.drop_synfin). */
  dropSynFin: boolean;
  /** ICMP hard errors (protocol/port unreachable) end a connection attempt in SYN-SENT (RFC 1122 §4.2.3.9 SHOULD); false: they are soft errors (FreeBSD icmp_may_rst=0). */
  icmpHardErrors: boolean;
  /** Challenge ACKs sent per second, stack-wide (RFC 5961 §7; Linux tcp_challenge_ack_limit 1000). */
  challengeAckLimit: number;
  /** Send RST for segments to closed ports (RFC 9293 §3.10.7.1). */
  rstForClosedPorts: boolean;
  /** Ephemeral port range for connect without a local port (IANA 49152-65535; Linux 32768-60999). */
  ephemeralPorts: [number, number];
  /** TTL / hop limit of packets we send. */
  ttl: number;
  /**
   * Segmentation offload (TSO/GSO), a property of the link as in Linux: new data may leave as one
   * super-segment of up to this many MSS-sized segments, which the link cuts into MSS-sized
   * segments on the wire (a TUN with virtio-net GSO, tun/tun-link.ts). 1: off (the default).
   * Retransmissions, window probes and Nagle-held tails are never super-segments.
   */
  tsoSegments: number;
  /**
   * ICMP soft errors (RFC 1122 §4.2.3.9: net/host unreachable, source route failed, Time Exceeded,
   * Parameter Problem) that end our connection attempt in SYN-SENT, the "non-standard, but widely
   * implemented" reaction RFC 5461 describes (§4.1). 'none' (default: RFC 1122 says TCP MUST NOT
   * abort on them); 'time-exceeded': only Time Exceeded in transit (ICMPv4 11/0, ICMPv6 3/0), as
   * FreeBSD with icmp_may_rst=1; 'all': every soft error. The error reported is EHOSTUNREACH
   * (ENETUNREACH for network unreachable).
   */
  softErrorsAbortConnecting: 'none' | 'time-exceeded' | 'all';
  /**
   * TCP over UDP (FreeBSD net.inet.tcp.udp_tunneling_port): the local UDP port that carries
   * encapsulated TCP segments (UDP header, then the TCP segment), or null: off (UDP to any port
   * is ignored). `mtuOverhead` is taken off the path MTU for the MSS of encapsulated
   * connections (8: the UDP header; FreeBSD udp_tunneling_overhead).
   */
  tcpOverUdp: { port: number; mtuOverhead: number } | null;
  /** Floor for path-MTU decreases from ICMP (RFC 1191 §3: 68; Linux min_pmtu 552). IPv6 is always ≥ 1280 (RFC 8200 §5). */
  minPmtuV4: number;
  /**
   * Bound on the bytes queued for sending over all connections together (Linux tcp_mem's role):
   * `send` accepts no more once the sum of every send queue reaches it, except that each
   * connection may always queue up to `sndBufFloor` (so none starves and every one still gets
   * 'writable' from its own ACKs). Peers that advertise a zero window and never read can then
   * pin at most sndBufTotal + connections * sndBufFloor bytes, instead of connections * sndBuf.
   * Absent or null: no total bound (each connection is still bounded by its sndBuf). Checking it
   * costs one pass over the connection table per `send`.
   */
  sndBufTotal?: number | null;
  /** Bytes every connection may queue whatever sndBufTotal says (default 8192, capped by its sndBuf; Linux tcp_wmem[0] is 4096). */
  sndBufFloor?: number;
}

// --------------------------------------------------------------------------------- events in

/** Events the driver feeds into `stackStep`. User calls carry a `result` in the StepResult. */
export type StackEvent =
  /** A raw IP packet (v4 or v6) from the link. The stack copies what it keeps. */
  | { type: 'packet'; data: Uint8Array }
  /** The deadline from stackNextDeadline has passed (spurious ticks are harmless). */
  | { type: 'tick' }
  /** Passive open (RFC 9293 §3.10.1 with passive). addr null: every address of the stack. */
  | { type: 'listen'; addr: string | null; port: number; backlog: number; options?: Partial<TcpSocketConfig> }
  /** Stop listening: pending not-yet-accepted connections are reset. */
  | { type: 'unlisten'; listener: ListenerId }
  /** Take one established connection from a listener's accept queue (result id null: none). */
  | { type: 'accept'; listener: ListenerId }
  /** Active open. local/localPort null: chosen by the stack (first address of the family; ephemeral port). */
  | { type: 'connect'; local: string | null; localPort: number | null; remote: string; port: number; options?: Partial<TcpSocketConfig> }
  /** Queue bytes for sending; result.bytes says how many were accepted (bounded by free send buffer). */
  | { type: 'send'; id: ConnId; data: Uint8Array }
  /** Take up to `max` bytes of in-order received data; opens the window (may emit a window update). */
  | { type: 'recv'; id: ConnId; max: number }
  /** Half-close: FIN after the queued data (RFC 9293 §3.10.4 CLOSE while data may still arrive). */
  | { type: 'shutdown'; id: ConnId }
  /** Full close: as shutdown, but the app reads no more; unread or later-arriving data → RST (RFC 9293 §3.10.4, RFC 2525 §2.17). */
  | { type: 'close'; id: ConnId }
  /** ABORT (RFC 9293 §3.10.5): RST now, connection gone. */
  | { type: 'abort'; id: ConnId }
  /** Change per-socket settings (noDelay, keepAlive, userTimeout, cc, rcvBuf, sndBuf, ...). */
  | { type: 'set-option'; id: ConnId; options: Partial<TcpSocketConfig> };

// --------------------------------------------------------------------------------- results

export type Fail = { ok: false; code: ErrorCode };
export type ListenResult = { ok: true; listener: ListenerId } | Fail;
export type ConnectResult = { ok: true; id: ConnId } | Fail;
export type AcceptResult = { ok: true; id: ConnId | null } | Fail;
export type SendResult = { ok: true; bytes: number } | Fail;
/** `eof`: the peer's FIN has been reached (no more data will ever come). */
export type RecvResult = { ok: true; data: Uint8Array; eof: boolean } | Fail;
export type VoidResult = { ok: true } | Fail;

/** Result type of each event type (ticks and packets have no result: null). */
export interface ResultMap {
  packet: null; tick: null;
  listen: ListenResult; unlisten: VoidResult; accept: AcceptResult; connect: ConnectResult;
  send: SendResult; recv: RecvResult; shutdown: VoidResult; close: VoidResult; abort: VoidResult;
  'set-option': VoidResult;
}
export type ResultOf<E extends StackEvent> = ResultMap[E['type']];

// --------------------------------------------------------------------------------- events out

/** What happened, for the application layer. Emitted at most once per kind and id per step. */
export type AppEvent =
  /** A connection finished its handshake and waits in the listener's accept queue. */
  | { type: 'accept-ready'; listener: ListenerId; id: ConnId }
  /** An active open completed (ESTABLISHED). */
  | { type: 'connected'; id: ConnId }
  /** New in-order data can be taken with recv (or the FIN was reached: recv reports eof). */
  | { type: 'readable'; id: ConnId }
  /** The send buffer is at least half free again after a send that was cut short. */
  | { type: 'writable'; id: ConnId }
  /** The peer's FIN has been reached and every byte before it has been read by recv. */
  | { type: 'eof'; id: ConnId }
  /** All data we sent (and our FIN, if any) has been acknowledged. Emitted when the send side drains after a shutdown/close. */
  | { type: 'drained'; id: ConnId }
  /** The connection ended with an error; 'closed' follows. */
  | { type: 'error'; id: ConnId; code: ErrorCode }
  /**
   * The connection is over: both FINs exchanged (TIME-WAIT or CLOSED), reset or timed out.
   * The id stays valid like a file descriptor until the application calls close or abort:
   * recv still returns data received before a graceful end (then eof), send fails (EPIPE or
   * the error code). After close/abort every call on the id fails with EBADF.
   */
  | { type: 'closed'; id: ConnId };

/** What one step produced. */
export interface StepResult<R = unknown> {
  /** IP packets to write to the link, in order. Fresh buffers owned by the caller. */
  out: Uint8Array[];
  events: AppEvent[];
  result: R;
}

/** A snapshot of one connection for the application and for diagnostics. */
export interface ConnInfo {
  id: ConnId;
  state: TcpStateName;
  localAddr: string; localPort: number; remoteAddr: string; remotePort: number;
  /** Bytes sent and not yet acknowledged. */
  bytesInFlight: number;
  cwnd: number;
  ssthresh: number;
  /** Smoothed RTT and RTO (ms); srtt null before the first sample. */
  srtt: number | null;
  rto: Ms;
  /** Effective send MSS. */
  mss: number;
  /** Peer's current window (bytes, scaled). */
  sndWnd: number;
  /** Our currently advertised window (bytes). */
  rcvWnd: number;
  /** Bytes in the send buffer (unacked + unsent) and its limit. */
  sndBufUsed: number; sndBufSize: number;
  /** Unread in-order bytes, out-of-order bytes, and the receive buffer limit. */
  rcvBufUsed: number; rcvOooBytes: number; rcvBufSize: number;
  /** Total payload bytes taken by recv / accepted by send. */
  bytesRead: number; bytesWritten: number;
  retransmits: number;
  /** Negotiated options. */
  sackOk: boolean; tsOk: boolean; sndWscale: number; rcvWscale: number;
  cc: CcAlgo;
  noDelay: boolean;
}

export type { StackState } from './stack.ts';
export {
  createStack, defaultStackConfig, defaultTcpConfig, stackStep, stackNextDeadline, connInfo, listConnections, rebaseStack,
} from './stack.ts';
