// The transmission control block (RFC 9293 §3.3.1): every bit of one connection's state as
// plain data (STYLE.md §2), so a connection can be snapshot with migrate/codec.ts in any state.
// Field names follow the RFC (sndUna, sndNxt, rcvNxt, ...). Bytes kept here are owned copies.
//
// Sequence-space layout of the send side:
//   iss                SYN (occupies one sequence number)
//   sndQSeq ..         first byte still in the send queue (acked bytes are dropped)
//   sndQSeq+sndQLen    end of queued data; our FIN sits here (finSeq) once the app shut down
//   sndUna <= sndNxt   sndNxt is the highest sequence number sent + 1 (BSD's snd_max): it never
//                      moves back; retransmissions are sent from the queue at explicit offsets.
import type { ConnId, ErrorCode, ListenerId, Ms, TcpSocketConfig, TcpStateName, CcAlgo } from '../api.ts';
import type { Seq } from '../wire/seq.ts';

/** Congestion-control state (RFC 5681 / RFC 6582 NewReno, RFC 9438 CUBIC). All sizes in bytes. */
export interface CcState {
  algo: CcAlgo;
  cwnd: number;
  ssthresh: number;
  /** RFC 5681 §3.1 / RFC 3465 appropriate byte counting in congestion avoidance. */
  bytesAcked: number;
  /** CUBIC (RFC 9438 §4): W_max in bytes, K in seconds, epoch start (null: none), cwnd at epoch start, W_est in bytes. */
  wMax: number;
  k: number;
  epochStart: Ms | null;
  cwndEpoch: number;
  wEst: number;
}

/** Timer deadlines (absolute ms on the stack clock), null when not armed (STYLE.md §2). */
export interface Timers {
  /** RFC 6298 retransmission timer (also SYN and SYN|ACK retransmission). */
  rtx: Ms | null;
  /** RFC 9293 §3.8.6.1 persist timer (zero-window probes) and the SWS override timeout. */
  persist: Ms | null;
  /** RFC 9293 §3.8.6.3 delayed ACK. */
  delack: Ms | null;
  /** RFC 9293 §3.8.4 keepalive. */
  keepalive: Ms | null;
  /**
   * TIME-WAIT 2*MSL (RFC 9293 §3.3.2), the FIN-WAIT-2 timeout of an orphaned connection, or the
   * connection-establishment timeout of an active open (cfg.connectTimeout, SYN-SENT/SYN-RECEIVED).
   */
  close: Ms | null;
}

/** RFC 3168 ECN state of a connection that negotiated it. */
export interface EcnState {
  /** Receiver: a CE-marked segment arrived; every ACK carries ECE until the peer's CWR (§6.1.3). */
  ece: boolean;
  /** Sender: cwnd was reduced for an ECE; the next new data segment carries CWR (§6.1.2). */
  cwr: boolean;
  /** Sender: ECE is acted on only for an ACK beyond this (at most once per window of data, §6.1.2). */
  recover: Seq;
}

/** An out-of-order segment held for reassembly (RFC 9293 §3.10.7.4 seventh). Non-overlapping, sorted by seq. */
export interface OooSeg { seq: Seq; data: Uint8Array }

export interface Tcb {
  readonly v: 1;
  id: ConnId;
  state: TcpStateName;
  localAddr: string; localPort: number; remoteAddr: string; remotePort: number;
  v6: boolean;
  /** Pseudo-header sum of both addresses + protocol 6 (RFC 9293 §3.1); add the TCP length. Symmetric in src/dst. */
  psum: number;
  /** Passive opens: the listener until the connection is accepted; null for active opens. */
  listener: ListenerId | null;
  /** Application view: 'pending' (in a SYN/accept queue), 'open', 'closed' (closed/aborted or told 'closed'). */
  app: 'pending' | 'open' | 'closed';
  /** Application called close(): it reads no more; new data then draws a RST (RFC 1122 §4.2.2.13). */
  rdShut: boolean;
  /** Application called shutdown()/close(): no more sends; FIN follows the queued data. */
  wrShut: boolean;
  /**
   * Per-socket settings. Shared by reference with the listener (and its other connections) or
   * the stack default until a set-option gives this socket its own copy: never mutate in place.
   */
  cfg: TcpSocketConfig;

  // Send sequence variables (RFC 9293 §3.3.1)
  iss: Seq; sndUna: Seq; sndNxt: Seq; sndWnd: number; sndWl1: Seq; sndWl2: Seq;
  /** Largest window the peer has offered (RFC 9293 §3.8.6.2.1 sender SWS; RFC 5961 §5.2 MAX.SND.WND). */
  maxSndWnd: number;
  // Receive sequence variables
  irs: Seq; rcvNxt: Seq;
  /** Right edge of the window we last advertised (RCV.NXT + RCV.WND at that time); never moves left. */
  rcvAdv: Seq;

  // Negotiated options
  /** Peer's window shift (applied to windows it sends) and ours (RFC 7323 §2). 0 when scaling is off. */
  sndShift: number; rcvShift: number;
  /** Both SYNs carried the window-scale option. */
  wsOk: boolean;
  sackOk: boolean;
  tsOk: boolean;
  /** MSS option the peer sent (RFC 9293 §3.7.1 default 536 / RFC 8200 §8.3 1220 when absent). */
  peerMss: number;
  /** MSS we advertised. */
  advMss: number;
  /** Path MTU (RFC 1191 / RFC 8201). */
  pmtu: number;
  /** Effective send MSS: payload bytes of a full segment (RFC 6691: peer MSS and PMTU less option overhead). */
  mss: number;
  /** Largest segment payload received (Linux's rcv_mss), for the "every second full-sized segment" rule. */
  rcvMss: number;

  // RFC 7323 timestamps: TSval = now + tsOffset
  tsOffset: number;
  tsRecent: number;
  /** When tsRecent was set (null: no valid tsRecent), for the PAWS 24-day rule (RFC 7323 §5.5). */
  tsRecentAt: Ms | null;
  /** RCV.NXT carried by the last ACK we sent (RFC 7323 §4.3 Last.ACK.sent). */
  lastAckSent: Seq;

  // RFC 6298 RTT estimation
  srtt: number | null; rttvar: number; rto: Ms;
  /** Karn timing without timestamps: the sequence number being timed and when it was sent. */
  rttSeq: Seq | null; rttAt: Ms;

  cc: CcState;
  /** RFC 3168 ECN, once both SYNs agreed on it; null: not in use. */
  ecn: EcnState | null;
  /** Whether the last transmit attempt was limited by cwnd (RFC 7661 spirit: do not grow cwnd when app-limited). */
  cwndLimited: boolean;

  // Loss recovery (RFC 5681 §3.2, RFC 6582, RFC 6675)
  inRecovery: boolean;
  /** RFC 6582 "recover" / RFC 6675 RecoveryPoint. */
  recover: Seq;
  /** RFC 6675 HighRxt: retransmissions so far cover [sndUna, highRxt). */
  highRxt: Seq;
  /** Everything unSACKed below lostHigh is deemed lost (set by RTO, fast retransmit, partial ACKs, PMTU drops). */
  lostHigh: Seq;
  dupAcks: number;
  /** Without SACK: bytes known to have left the network through duplicate ACKs (Linux's Reno SACK emulation). */
  renoSacked: number;
  /** Send one retransmission even if pipe >= cwnd (RFC 6675 §5 step 4.3, RFC 6298 §5.4). */
  forceRxt: boolean;
  /** RFC 6675 scoreboard: SACKed ranges above sndUna as flat [left0, right0, left1, right1, ...], sorted. */
  sacked: number[];
  sackedBytes: number;

  // Send queue (owned chunks; the first has sndQOff bytes already acknowledged)
  sndQ: Uint8Array[]; sndQOff: number; sndQLen: number; sndQSeq: Seq;
  /** Sequence number of our FIN once the application shut down its side, else null. */
  finSeq: Seq | null;

  // Receive queue (in-order data not yet read; owned chunks)
  rcvQ: Uint8Array[]; rcvQOff: number; rcvQLen: number;
  ooo: OooSeg[]; oooLen: number;
  /** Sequence number of a FIN seen beyond a hole (processed when rcvNxt reaches it). */
  oooFin: Seq | null;
  /** The peer's FIN has been processed (in order). */
  finRcvd: boolean;
  /** Sequence numbers of the most recent out-of-order arrivals, newest first (RFC 2018 §4 block order). */
  sackRecent: Seq[];
  /** A D-SACK block to report on the next ACK (RFC 2883 §4): [left, right] or null. */
  dsack: number[] | null;

  // ACK generation (RFC 9293 §3.8.6.3, RFC 5681 §4.2)
  ackNow: boolean;
  /** Bytes received since the last ACK we sent. */
  ackPending: number;

  timers: Timers;
  /** Cached min of timers (kept current by the stack after each step on this TCB). */
  deadline: Ms | null;
  /** Exponential backoff count of the persist timer. */
  persistShift: number;
  /** Unanswered zero-window probes, keepalive probes, consecutive RTOs (reset by progress). */
  persistProbes: number; keepProbes: number; retries: number;
  /** When the oldest unacknowledged data was first retransmitted (RFC 5482 user timeout). */
  firstRtxAt: Ms | null;
  lastRcvAt: Ms;

  // Application-facing flags
  wantWrite: boolean;
  eofSent: boolean;
  drainedSent: boolean;
  /** The 'closed' event has been emitted. */
  closedSent: boolean;
  /** Error to report to user calls once the connection has died (ECONNRESET, ETIMEDOUT, ...). */
  error: ErrorCode | null;
  /** RFC 1122 §4.2.3.9 soft error from ICMP, reported if the connection later times out. */
  softError: ErrorCode | null;

  // Statistics
  bytesRead: number; bytesWritten: number; retransmits: number;
}

/** The pieces of a new TCB that the caller must decide. */
export interface TcbInit {
  id: ConnId;
  localAddr: string; localPort: number; remoteAddr: string; remotePort: number;
  psum: number;
  cfg: TcpSocketConfig;
  iss: Seq;
  tsOffset: number;
  listener: ListenerId | null;
  now: Ms;
}

/** IP + TCP header bytes of this connection's segments without options. */
export const headerOverhead = (v6: boolean): number => (v6 ? 40 : 20) + 20;

/**
 * The MSS we advertise: MTU less the fixed IP and TCP headers (RFC 9293 §3.7.1 "equal to the
 * effective MTU minus the fixed IP and TCP headers", RFC 6691), capped by cfg.mss. No floor: on a
 * tiny link (IPv4 allows an MTU of 68) a larger value would invite packets the link cannot carry.
 */
export function advertisedMss(cfg: TcpSocketConfig, v6: boolean): number {
  const fromMtu = cfg.mtu - headerOverhead(v6);
  return Math.max(1, cfg.mss === null ? fromMtu : Math.min(cfg.mss, fromMtu));
}

/** Smallest window shift whose 16-bit window covers `buf` (RFC 7323 §2.3, at most 14). */
export function shiftFor(buf: number): number {
  let s = 0;
  while (s < 14 && 65535 * 2 ** s < buf) s++;
  return s;
}

/** A fresh TCB in CLOSED state; the caller sets state and sends. */
export function newTcb(init: TcbInit): Tcb {
  const v6 = init.remoteAddr.includes(':');
  const cfg = init.cfg;
  const advMss = advertisedMss(cfg, v6);
  // RFC 9293 §3.7.1: without an MSS option the peer is assumed to take 536 (IPv4) / RFC 8200 §8.3 1220 (IPv6).
  const peerMss = v6 ? 1220 : 536;
  const mss = Math.min(peerMss, advMss);
  return {
    v: 1,
    id: init.id,
    state: 'CLOSED',
    localAddr: init.localAddr, localPort: init.localPort, remoteAddr: init.remoteAddr, remotePort: init.remotePort,
    v6,
    psum: init.psum,
    listener: init.listener,
    app: init.listener === null ? 'open' : 'pending',
    rdShut: false, wrShut: false,
    cfg,
    iss: init.iss, sndUna: init.iss, sndNxt: init.iss, sndWnd: 0, sndWl1: 0, sndWl2: 0, maxSndWnd: 0,
    irs: 0, rcvNxt: 0, rcvAdv: 0,
    sndShift: 0, rcvShift: 0, wsOk: false, sackOk: false, tsOk: false,
    peerMss, advMss, pmtu: cfg.mtu, mss, rcvMss: Math.min(536, advMss),
    tsOffset: init.tsOffset, tsRecent: 0, tsRecentAt: null, lastAckSent: 0,
    srtt: null, rttvar: 0, rto: cfg.initialRto, rttSeq: null, rttAt: 0,
    cc: {
      algo: cfg.cc, cwnd: cfg.initialCwnd * mss, ssthresh: 0x7fffffff, bytesAcked: 0,
      wMax: 0, k: 0, epochStart: null, cwndEpoch: 0, wEst: 0,
    },
    ecn: null,
    cwndLimited: false,
    inRecovery: false, recover: init.iss, highRxt: init.iss, lostHigh: init.iss, dupAcks: 0, renoSacked: 0, forceRxt: false,
    sacked: [], sackedBytes: 0,
    sndQ: [], sndQOff: 0, sndQLen: 0, sndQSeq: (init.iss + 1) >>> 0, finSeq: null,
    rcvQ: [], rcvQOff: 0, rcvQLen: 0, ooo: [], oooLen: 0, oooFin: null, finRcvd: false, sackRecent: [], dsack: null,
    ackNow: false, ackPending: 0,
    timers: { rtx: null, persist: null, delack: null, keepalive: null, close: null },
    deadline: null,
    persistShift: 0, persistProbes: 0, keepProbes: 0, retries: 0, firstRtxAt: null, lastRcvAt: init.now,
    wantWrite: false, eofSent: false, drainedSent: false, closedSent: false, error: null, softError: null,
    bytesRead: 0, bytesWritten: 0, retransmits: 0,
  };
}

/** True in the states where both SYNs have been exchanged (RFC 9293 §3.3.2 "synchronized"). */
export function synchronized(s: TcpStateName): boolean {
  return s !== 'CLOSED' && s !== 'LISTEN' && s !== 'SYN-SENT' && s !== 'SYN-RECEIVED';
}

/** Earliest armed timer of `tcb`, or null. */
export function tcbDeadline(tcb: Tcb): Ms | null {
  const t = tcb.timers;
  let d: Ms | null = null;
  if (t.rtx !== null) d = t.rtx;
  if (t.persist !== null && (d === null || t.persist < d)) d = t.persist;
  if (t.delack !== null && (d === null || t.delack < d)) d = t.delack;
  if (t.keepalive !== null && (d === null || t.keepalive < d)) d = t.keepalive;
  if (t.close !== null && (d === null || t.close < d)) d = t.close;
  return d;
}

// ------------------------------------------------------------------------------ send queue

/** Append an owned copy of `data` to the send queue. Small tails are coalesced so tiny writes do not make long chunk lists. */
export function sndQAppend(tcb: Tcb, data: Uint8Array): void {
  if (data.length === 0) return;
  const q = tcb.sndQ;
  const last = q.length > 0 ? q[q.length - 1]! : null;
  if (last !== null && last.length < 4096 && last.length + data.length <= 65536) {
    const m = new Uint8Array(last.length + data.length);
    m.set(last, 0);
    m.set(data, last.length);
    q[q.length - 1] = m;
  } else {
    q.push(data.slice());
  }
  tcb.sndQLen += data.length;
}

/** Drop `n` acknowledged bytes from the front of the send queue. */
export function sndQDrop(tcb: Tcb, n: number): void {
  if (n <= 0) return;
  tcb.sndQLen -= n;
  tcb.sndQSeq = (tcb.sndQSeq + n) >>> 0;
  let off = tcb.sndQOff + n;
  const q = tcb.sndQ;
  let i = 0;
  while (i < q.length && off >= q[i]!.length) { off -= q[i]!.length; i++; }
  if (i > 0) q.splice(0, i);
  tcb.sndQOff = q.length === 0 ? 0 : off;
}

/**
 * `len` bytes starting `offset` bytes past the queue head: a view into the chunk when the range
 * lies in one chunk (the caller copies it into a packet at once and keeps nothing), else a new array.
 */
export function sndQRead(tcb: Tcb, offset: number, len: number): Uint8Array {
  const q = tcb.sndQ;
  let off = tcb.sndQOff + offset;
  let i = 0;
  while (i < q.length && off >= q[i]!.length) { off -= q[i]!.length; i++; }
  const first = q[i];
  if (first === undefined) return new Uint8Array(0);
  if (off + len <= first.length) return first.subarray(off, off + len);
  const out = new Uint8Array(len);
  let w = 0;
  while (w < len && i < q.length) {
    const c = q[i]!;
    const take = Math.min(c.length - off, len - w);
    out.set(c.subarray(off, off + take), w);
    w += take; off = 0; i++;
  }
  return out;
}

// --------------------------------------------------------------------------- receive queue

/** Take up to `max` in-order bytes from the receive queue (a new owned array). */
export function rcvQTake(tcb: Tcb, max: number): Uint8Array {
  const n = Math.min(max, tcb.rcvQLen);
  if (n <= 0) return new Uint8Array(0);
  const q = tcb.rcvQ;
  const first = q[0]!;
  let out: Uint8Array;
  if (tcb.rcvQOff === 0 && first.length === n) {
    out = first;
    q.shift();
    tcb.rcvQOff = 0;
  } else {
    out = new Uint8Array(n);
    let w = 0;
    while (w < n) {
      const c = q[0]!;
      const take = Math.min(c.length - tcb.rcvQOff, n - w);
      out.set(c.subarray(tcb.rcvQOff, tcb.rcvQOff + take), w);
      w += take;
      tcb.rcvQOff += take;
      if (tcb.rcvQOff === c.length) { q.shift(); tcb.rcvQOff = 0; }
    }
  }
  tcb.rcvQLen -= n;
  return out;
}
