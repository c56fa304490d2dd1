// The SCTP association (RFC 9260 §2.6 "Transmission Control Block", §14 "Parameters
// Necessary for the SCTP Instance"): every bit of one association's state as plain data
// (STYLE.md §2), so it can be snapshot with migrate/codec.ts in any state and resumed in
// another process. Timers are deadlines (absolute ms on the stack clock, null = not armed).
// Bytes kept here are owned copies (never views into a packet buffer).
//
// Send side (TSN space, RFC 9260 §6):
//   pending   messages split into DATA chunks (§6.9) not yet given a TSN (FIFO, all streams);
//             the SSN of an ordered message is assigned when its first fragment is sent, so a
//             message abandoned before it was sent (PR-SCTP) leaves no SSN hole.
//   sent      chunks that have a TSN and are not yet covered by the peer's Cumulative TSN Ack,
//             in TSN order: in flight, gap-acked, marked for retransmission, or abandoned.
//   cumAck    the peer's Cumulative TSN Ack point; nextTsn the TSN of the next new chunk.
// Receive side:
//   cumTsn    highest TSN received in sequence ("Cumulative TSN Ack" we report); rcvRanges the
//             TSNs received above it, as flat [start, end, start, end, ...] inclusive ranges.
//   reasm     fragments waiting for the rest of their message (§6.9), in TSN order.
//   held      complete ordered messages waiting for an earlier SSN of their stream (§6.6).
//   readQ     messages deliverable to the application (pull model: `recv` takes them).
import type { SctpChunk, SctpErrorCause, SctpParam } from '../wire/sctp.ts';
import type { Ms, SctpErrorCode } from './events.ts';

/** RFC 9260 §4 state names, spelt as in the RFC. CLOSED associations linger until the application releases them. */
export type SctpStateName =
  | 'CLOSED' | 'COOKIE-WAIT' | 'COOKIE-ECHOED' | 'ESTABLISHED' | 'SHUTDOWN-PENDING' | 'SHUTDOWN-SENT'
  | 'SHUTDOWN-RECEIVED' | 'SHUTDOWN-ACK-SENT';

/** Per-association settings ("protocol parameters", RFC 9260 §16); defaults in defaultSctpAssocConfig. */
export interface SctpAssocConfig {
  /** RTO.Initial, RTO.Min, RTO.Max (§6.3.1, §16: 1 s, 1 s, 60 s). */
  rtoInitial: Ms;
  rtoMin: Ms;
  rtoMax: Ms;
  /** Max.Burst (§6.1, §16: 4): new-data packets sent at once in response to one event. */
  maxBurst: number;
  /** Valid.Cookie.Life (§5.1.3, §16: 60 s). */
  validCookieLife: Ms;
  /** Association.Max.Retrans (§8.1, §16: 10). */
  assocMaxRetrans: number;
  /** Path.Max.Retrans (§8.2, §16: 5). */
  pathMaxRetrans: number;
  /** Max.Init.Retransmits (§5.1, §16: 8). */
  maxInitRetrans: number;
  /** HB.interval (§8.3, §16: 30 s); 0 disables heartbeats on confirmed paths. */
  hbInterval: Ms;
  /** Delayed SACK bound (§6.2: at most 200 ms) and packets per SACK (§6.2: at least every second packet). */
  sackDelay: Ms;
  sackFreq: number;
  /** Default IP MTU of a path (bytes); DATA chunks are sized so packets fit it (§6.9). */
  mtu: number;
  /** Receive buffer: unread + held bytes never exceed it for long; a_rwnd is what is left (§6.2). */
  rcvBuf: number;
  /** Send buffer: queued + unacknowledged payload bytes; `send` fails with EAGAIN beyond it. */
  sndBuf: number;
  /** OS we request and MIS we accept (§5.1.1). */
  outStreams: number;
  inStreams: number;
  /** Offer PR-SCTP (RFC 3758 §3.1 Forward-TSN-Supported). */
  prSctp: boolean;
  /** Miss indications before fast retransmit (§7.2.4: 3). */
  fastRtxThresh: number;
}

/** A path: one peer transport address, with its own RTO, congestion window and timers (§6.3, §7.2, §8.2). */
export interface SctpPath {
  /** Peer address (canonical text). */
  addr: string;
  /** Our source address for this path. */
  local: string;
  /** Peer's UDP port when the path is UDP-encapsulated (RFC 6951 §5.4), else null (raw IP protocol 132). */
  udpPort: number | null;
  /** §8.2 active/inactive; §5.4 confirmed once a HEARTBEAT ACK (or the handshake) proved the address. */
  active: boolean;
  confirmed: boolean;
  /** Path error counter (§8.2). */
  errors: number;
  /** IP MTU of the path (bytes). */
  pmtu: number;
  /** §7.2: congestion window, slow-start threshold, partial_bytes_acked; bytes in flight (sent, not acked, not marked). */
  cwnd: number;
  ssthresh: number;
  pba: number;
  flight: number;
  /** §6.3.1 RTT estimator; srtt null before the first measurement. */
  srtt: number | null;
  rttvar: number;
  rto: Ms;
  /** Karn (§6.3.1 C5): the TSN being timed on this path and when it was sent; null when none. */
  rttTsn: number | null;
  rttAt: Ms;
  /** T3-rtx (§6.3.2). */
  t3: Ms | null;
  /** Next HEARTBEAT (§8.3); null when heartbeats are off for this path. */
  hbAt: Ms | null;
  /** A HEARTBEAT is unanswered: its nonce (two 32-bit halves) and send time. */
  hbPending: boolean;
  hbNonce: [number, number];
  hbSentAt: Ms;
  /** Last time a DATA chunk was sent on the path (idle detection for heartbeats, §8.3). */
  lastSend: Ms;
}

/** A DATA chunk of ours: pending (tsn -1) or sent. */
export interface OutChunk {
  /** -1 until first transmission. */
  tsn: number;
  stream: number;
  /** -1 for an ordered chunk whose SSN is not yet assigned; 0 for unordered ones. */
  ssn: number;
  ppid: number;
  /** DATA flags: B, E, U (wire/sctp-chunks.ts DATA_*). */
  flags: number;
  data: Uint8Array;
  /** Payload length (kept when `data` is released after abandonment). */
  len: number;
  /** Application message number (send result), for abandonment reports. */
  msg: number;
  /** PR-SCTP (RFC 3758 §3.5 A2/A3): abandon at this time / after this many retransmissions; null = reliable. */
  expires: Ms | null;
  maxRtx: number | null;
  /**
   * 'flight': outstanding on `path`; 'acked': gap-acked; 'rtx': marked for retransmission (not in
   * flight); 'abandoned': PR-SCTP abandoned (RFC 3758 §3.5), waits for the ack point to pass it.
   */
  st: 'flight' | 'acked' | 'rtx' | 'abandoned';
  /** Last path sent on (-1 pending). */
  path: number;
  /** Retransmit on another path than `path` (T3 expiry, §6.4). */
  alt: boolean;
  /** Transmissions so far. */
  tx: number;
  /** Miss indications (§7.2.4); fastRtx: already fast-retransmitted once (it is not again). */
  miss: number;
  fastRtx: boolean;
}

/** A received fragment waiting for reassembly (§6.9). */
export interface InChunk { tsn: number; stream: number; ssn: number; ppid: number; flags: number; data: Uint8Array }

/** A whole received message. */
export interface InMsg { stream: number; ssn: number; ppid: number; unordered: boolean; data: Uint8Array }

/** Application-visible statistics of an association. */
export interface SctpAssocStats {
  dataSent: number; dataRetransmitted: number; fastRetransmits: number; t3Expiries: number;
  packetsSent: number; packetsReceived: number; sacksSent: number; dupTsnsReceived: number;
  msgsSent: number; msgsReceived: number; bytesSent: number; bytesReceived: number;
  abandoned: number; fwdTsnSent: number; fwdTsnReceived: number; hbSent: number;
}

export interface Assoc {
  readonly v: 1;
  id: string;
  state: SctpStateName;
  /** 'pending' while in a listener's accept queue; 'closed' once the application released it. */
  app: 'pending' | 'open' | 'closed';
  listener: string | null;
  localPort: number;
  remotePort: number;
  /** Our addresses in this association (the first is the primary source). */
  localAddrs: string[];
  /** §8.5: the tag we require in packets to us, and the tag we put in ours. */
  myVtag: number;
  peerVtag: number;
  /** §5.2.2 Tie-Tags: random nonces that link a restart's cookie to this association. */
  myTieTag: number;
  peerTieTag: number;
  cfg: SctpAssocConfig;
  paths: SctpPath[];
  /** Index of the primary path (§6.4). */
  primary: number;
  /** Path the last DATA (or the last packet) came from: SACKs and replies go there (§6.4). */
  replyPath: number;

  // ---- handshake (§5.1) ----
  /** T1-init / T1-cookie (one timer: only one runs at a time). */
  t1: Ms | null;
  initRetrans: number;
  /** Our INIT fields and parameters (for retransmission and for §5.2.1 INIT ACKs). */
  myInitialTsn: number;
  initParams: SctpParam[];
  /** The State Cookie to echo, and ERROR causes to bundle after the COOKIE ECHO (§3.2.1 unrecognized parameters). */
  cookie: Uint8Array | null;
  cookieCauses: SctpErrorCause[];

  // ---- negotiated ----
  outStreams: number;
  inStreams: number;
  peerPrSctp: boolean;

  // ---- send side ----
  peerRwnd: number;
  /** Last a_rwnd the peer advertised. */
  peerArwnd: number;
  nextTsn: number;
  cumAck: number;
  /** RFC 3758 §3.5 Advanced.Peer.Ack.Point; fwdTsn: a FORWARD TSN must go out. */
  advPeerAckPoint: number;
  fwdTsn: boolean;
  /** Next SSN per outbound stream; SSN of the message whose fragments are being sent. */
  outSsn: number[];
  fragSsn: number;
  pending: OutChunk[];
  sent: OutChunk[];
  /** Chunks in `sent` with st 'rtx'. */
  rtxCount: number;
  /** Payload bytes in pending + sent (not abandoned). */
  sndBufUsed: number;
  nextMsg: number;
  /** A send was refused for lack of buffer: emit 'writable' when room returns. */
  wantWritable: boolean;
  /** §7.2.4 Fast Recovery exit point (highest TSN outstanding when it began), null when not in it. */
  fastRecoveryExit: number | null;
  /** Association error counter (§8.1). */
  errors: number;
  /** A SACK arrived since the last T3 expiry (zero-window probing does not count errors, §6.1 A). */
  sackSeen: boolean;

  // ---- receive side ----
  peerInitialTsn: number;
  cumTsn: number;
  rcvRanges: number[];
  highestTsn: number;
  dupTsns: number[];
  reasm: InChunk[];
  held: InMsg[];
  readQ: InMsg[];
  /** Next expected SSN per inbound stream (sparse: absent = 0). */
  inSsn: Record<string, number>;
  /** Bytes in reasm + held + readQ (a_rwnd = rcvBuf - this, §6.2). */
  rcvBufUsed: number;
  lastArwnd: number;
  /** Delayed SACK (§6.2): deadline, DATA packets not yet acknowledged, ack at once. */
  sackAt: Ms | null;
  pktsUnacked: number;
  sackNow: boolean;

  // ---- shutdown (§9.2) ----
  t2: Ms | null;
  /** Path the last SHUTDOWN / SHUTDOWN ACK went to (T2 retransmissions move to an alternate, §6.4). */
  t2Path: number;
  t5: Ms | null;
  /** The application asked for shutdown (SHUTDOWN-PENDING once data drains). */
  shutdownWanted: boolean;
  /** The peer sent SHUTDOWN: no more data will come. */
  peerShutdown: boolean;
  eofSignalled: boolean;
  /** How the association ended (null while open or after a graceful end). */
  closedCode: SctpErrorCode | null;

  /** Cached min of every deadline (refreshed after each step). */
  deadline: Ms | null;
  /** Control chunks to send this step, with their path (always empty between steps). */
  ctrl: { path: number; chunk: SctpChunk }[];
  stats: SctpAssocStats;
}

/** Defaults: RFC 9260 §16 protocol parameters, Linux/usrsctp-like buffers. */
export function defaultSctpAssocConfig(): SctpAssocConfig {
  return {
    rtoInitial: 1000,
    rtoMin: 1000,
    rtoMax: 60000,
    maxBurst: 4,
    validCookieLife: 60000,
    assocMaxRetrans: 10,
    pathMaxRetrans: 5,
    maxInitRetrans: 8,
    hbInterval: 30000,
    sackDelay: 200,
    sackFreq: 2,
    mtu: 1500,
    rcvBuf: 256 * 1024,
    sndBuf: 256 * 1024,
    outStreams: 10,
    inStreams: 2048,
    prSctp: true,
    fastRtxThresh: 3,
  };
}

export const newStats = (): SctpAssocStats => ({
  dataSent: 0, dataRetransmitted: 0, fastRetransmits: 0, t3Expiries: 0, packetsSent: 0, packetsReceived: 0,
  sacksSent: 0, dupTsnsReceived: 0, msgsSent: 0, msgsReceived: 0, bytesSent: 0, bytesReceived: 0,
  abandoned: 0, fwdTsnSent: 0, fwdTsnReceived: 0, hbSent: 0,
});

/** IP + (UDP) + SCTP common header bytes in front of the chunks on `p`. */
export function pathOverhead(p: SctpPath): number {
  return (p.addr.includes(':') ? 40 : 20) + (p.udpPort !== null ? 8 : 0) + 12;
}

/** Largest chunk bytes (sum of padded chunks) that fit one packet on `p`. */
export const pathRoom = (p: SctpPath): number => p.pmtu - pathOverhead(p);

/** §7.2.1 initial cwnd: min(4*MTU, max(2*MTU, 4404)). MTU here is the SCTP-visible MTU. */
export const initialCwnd = (pmtu: number): number => Math.min(4 * pmtu, Math.max(2 * pmtu, 4404));

/** A new path to `addr` from `local`. */
export function newPath(addr: string, local: string, udpPort: number | null, cfg: SctpAssocConfig, confirmed: boolean, now: Ms): SctpPath {
  return {
    addr, local, udpPort, active: true, confirmed, errors: 0, pmtu: cfg.mtu,
    cwnd: initialCwnd(cfg.mtu), ssthresh: 0x7fffffff, pba: 0, flight: 0,
    srtt: null, rttvar: 0, rto: cfg.rtoInitial, rttTsn: null, rttAt: 0,
    t3: null, hbAt: null, hbPending: false, hbNonce: [0, 0], hbSentAt: 0, lastSend: now,
  };
}
