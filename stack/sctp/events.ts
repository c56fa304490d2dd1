// Events into the SCTP stack, application events and packets out of it, and call results.
// Same model as the TCP stack (stack/api.ts): one `sctpStackStep(state, event, now)` entry,
// state mutated in place, output returned; receive side is a pull model (`recv`).
import type { SctpAssocConfig, SctpAssocStats, SctpStateName } from './assoc.ts';

export type Ms = number;
/** An association id: `${localAddr}|${localPort}|${remoteAddr}|${remotePort}` of its first path (plus `#n` if reused). */
export type AssocId = string;
/** A listener id: `${port}`. */
export type SctpListenerId = string;

/** Error codes reported to the application (Node's `err.code` spelling). */
export type SctpErrorCode =
  | 'ECONNREFUSED'   // ABORT during the handshake, or no listener (OOTB ABORT)
  | 'ECONNRESET'     // the peer aborted an established association
  | 'ETIMEDOUT'      // Max.Init.Retransmits / Association.Max.Retrans exceeded, or T5-shutdown-guard
  | 'ECONNABORTED'   // we aborted (application abort, protocol violation)
  | 'EPIPE'          // send after shutdown
  | 'ENOTCONN'       // send/recv on an association that is closed
  | 'EBADF'          // unknown or released id
  | 'EINVAL'         // bad argument (stream out of range, empty message, ...)
  | 'EAGAIN'         // send buffer full: wait for 'writable'
  | 'EADDRINUSE'     // listen on a port already listened on / connect to an existing association
  | 'EADDRNOTAVAIL'; // no usable local address

/** Settings of the SCTP side of a stack. */
export interface SctpStackConfig {
  /** Addresses this stack answers for (canonical text). */
  addresses: string[];
  /** Defaults for every new association. */
  assoc: SctpAssocConfig;
  /** Our UDP port for RFC 6951 encapsulation (9899); packets arriving over UDP must be sent to it. */
  udpEncapPort: number;
  /** Ephemeral port range for connect without a local port. */
  ephemeralPorts: [number, number];
  /** Answer out-of-the-blue packets with ABORT (§8.4 rule 8). */
  abortOotb: boolean;
}

/** RFC 6951 encapsulation of one packet: UDP source and destination ports. */
export interface SctpEncap { srcPort: number; dstPort: number }

/** An SCTP packet to send: the host wraps it in IP (protocol 132), or in UDP when `encap` is set. */
export interface SctpOut {
  src: string;
  dst: string;
  /** The SCTP packet (common header, chunks, CRC32c), a fresh buffer owned by the caller. */
  sctp: Uint8Array;
  encap: SctpEncap | null;
}

/** Options of one `send` (a message). */
export interface SctpSendOptions {
  stream: number;
  ppid: number;
  unordered: boolean;
  /** PR-SCTP timed reliability (RFC 3758 §3.5): abandon if not acknowledged within ttl ms; null = reliable. */
  ttl: Ms | null;
  /** PR-SCTP limited retransmissions: abandon after this many retransmissions; null = unlimited. */
  maxRetransmits: number | null;
}

/** Events the host feeds into sctpStackStep. */
export type SctpEvent =
  /** An SCTP packet (its IP addresses; `encap` = the UDP ports when it came over RFC 6951 UDP). The stack copies what it keeps. */
  | { type: 'packet'; src: string; dst: string; sctp: Uint8Array; encap: SctpEncap | null }
  /** The deadline from sctpNextDeadline has passed (spurious ticks are harmless). */
  | { type: 'tick' }
  /** Passive open on `port`; addresses null = every address of the stack. */
  | { type: 'listen'; port: number; addresses: string[] | null; backlog: number; options?: Partial<SctpAssocConfig> }
  | { type: 'unlisten'; listener: SctpListenerId }
  /** Take one established association from the accept queue (result id null: none). */
  | { type: 'accept'; listener: SctpListenerId }
  /**
   * Active open (§5.1 ASSOCIATE): `remote` lists the peer's addresses (the first is the
   * primary), `local` ours (null: every stack address of the same family). `udpEncap`: the
   * peer's UDP encapsulation port (RFC 6951), null for raw IP.
   */
  | { type: 'connect'; local: string[] | null; localPort: number | null; remote: string[]; port: number; udpEncap?: number | null; options?: Partial<SctpAssocConfig> }
  /** Queue one message (§10.1 SEND). Accepted whole or refused (EAGAIN while the send buffer is full). */
  | ({ type: 'send'; id: AssocId; data: Uint8Array } & Partial<SctpSendOptions>)
  /** Take the next whole message (§10.1 RECEIVE); opens the receive window. */
  | { type: 'recv'; id: AssocId }
  /** Graceful shutdown (§9.2) after the queued data. */
  | { type: 'shutdown'; id: AssocId }
  /** ABORT (§9.1) with a User-Initiated Abort cause carrying `reason`. */
  | { type: 'abort'; id: AssocId; reason?: Uint8Array }
  /** Release the id (after 'closed'; on a live association this aborts it). */
  | { type: 'close'; id: AssocId }
  /** §10.1 SET PRIMARY. */
  | { type: 'set-primary'; id: AssocId; addr: string }
  /** Path MTU learned for a peer address (RFC 9260 §7.3 / RFC 8201), set by the application. */
  | { type: 'pmtu'; id: AssocId; addr: string; mtu: number }
  /**
   * An ICMP error about one of our packets (RFC 9260 Appendix C), from our address `local` to
   * `remote`: `quoted` is the quoted SCTP packet (at least its first 8 bytes: ports and
   * verification tag). 'frag-needed' (ICMPv4 3/4, ICMPv6 Packet Too Big) carries the MTU;
   * 'unreachable' (protocol/port unreachable, or an ICMP port unreachable for UDP encapsulation).
   */
  | { type: 'icmp'; local: string; remote: string; quoted: Uint8Array; kind: 'frag-needed' | 'unreachable'; mtu: number | null };

export type SctpFail = { ok: false; code: SctpErrorCode };
export type SctpListenResult = { ok: true; listener: SctpListenerId } | SctpFail;
export type SctpConnectResult = { ok: true; id: AssocId } | SctpFail;
export type SctpAcceptResult = { ok: true; id: AssocId | null } | SctpFail;
/** `msg`: the message number, as reported in 'abandoned' events. */
export type SctpSendResult = { ok: true; msg: number } | SctpFail;
/** A received message. */
export interface SctpMessage { data: Uint8Array; stream: number; ppid: number; unordered: boolean }
/** `message` null: nothing to read now; `eof`: the peer shut down and everything has been read. */
export type SctpRecvResult = { ok: true; message: SctpMessage | null; eof: boolean } | SctpFail;
export type SctpVoidResult = { ok: true } | SctpFail;

export interface SctpResultMap {
  packet: null; tick: null; listen: SctpListenResult; unlisten: SctpVoidResult; accept: SctpAcceptResult;
  connect: SctpConnectResult; send: SctpSendResult; recv: SctpRecvResult; shutdown: SctpVoidResult;
  abort: SctpVoidResult; close: SctpVoidResult; 'set-primary': SctpVoidResult; pmtu: SctpVoidResult; icmp: null;
}
export type SctpResultOf<E extends SctpEvent> = SctpResultMap[E['type']];

/** What happened, for the application (RFC 9260 §10.2 notifications). */
export type SctpAppEvent =
  /** An association completed its handshake (passive side) and waits in the accept queue. */
  | { type: 'accept-ready'; listener: SctpListenerId; id: AssocId }
  /** COMMUNICATION UP on the active side. */
  | { type: 'connected'; id: AssocId }
  /** Messages can be taken with recv. */
  | { type: 'readable'; id: AssocId }
  /** The send buffer has room again after an EAGAIN. */
  | { type: 'writable'; id: AssocId }
  /** The peer shut down and every message has been read. */
  | { type: 'eof'; id: AssocId }
  /** PR-SCTP gave a message up (RFC 3758): `sent` false when no byte of it was ever sent. */
  | { type: 'abandoned'; id: AssocId; msg: number; stream: number; ppid: number; sent: boolean }
  /** NETWORK STATUS CHANGE (§10.2 E): a path became active/inactive, or confirmed. */
  | { type: 'path'; id: AssocId; addr: string; state: 'active' | 'inactive' | 'confirmed'; primary: boolean }
  /** RESTART (§5.2.4 A): the peer restarted; queued data was kept, TSNs were reset. */
  | { type: 'restart'; id: AssocId }
  /** An ERROR chunk from the peer (§3.3.10), cause names. */
  | { type: 'remote-error'; id: AssocId; causes: string[] }
  /** COMMUNICATION LOST / CANNOT START: 'closed' follows. */
  | { type: 'error'; id: AssocId; code: SctpErrorCode }
  /** The association is over (SHUTDOWN COMPLETE, ABORT or failure). The id stays valid until 'close'. */
  | { type: 'closed'; id: AssocId };

/** What one step produced. */
export interface SctpStepResult<R = unknown> {
  out: SctpOut[];
  events: SctpAppEvent[];
  result: R;
}

/** A snapshot of one association for the application and diagnostics. */
export interface SctpAssocInfo {
  id: AssocId;
  state: SctpStateName;
  localAddrs: string[];
  localPort: number;
  remotePort: number;
  paths: { addr: string; local: string; active: boolean; confirmed: boolean; cwnd: number; ssthresh: number; flight: number; srtt: number | null; rto: Ms; pmtu: number; udpPort: number | null }[];
  primary: string;
  outStreams: number;
  inStreams: number;
  peerRwnd: number;
  ourRwnd: number;
  sndBufUsed: number;
  rcvBufUsed: number;
  unread: number;
  peerPrSctp: boolean;
  stats: SctpAssocStats;
}
