// The snapshot codec: a versioned, self-describing, compact binary format for one TCP
// connection or one TCP listener (with its not-yet-accepted connections), as exported by
// stack/freeze.ts in snapshot time (the clock reads 0 at the moment of freezing), plus an
// opaque application-state blob.
//
// Layout (all multi-byte fixed fields big-endian; varints as in wire-io.ts):
//   'F' 'R' 'Y'   magic
//   u8 version    SNAPSHOT_VERSION (1)
//   u8 kind       1 tcp-conn, 2 tcp-listener (3 reserved: sctp-assoc)
//   num takenAt   the source stack's clock at the freeze (information only: nothing depends on it)
//   sections      tag u8, uvarint length, body; tags strictly increasing; each known tag
//                 appears at most once (except CONN in a listener); required tags must appear
//   u32 crc32c    of everything before it (catches corruption; authenticity is the envelope's job)
//
// Section tags (conn body: 1-13; snapshot level: 14 APP; listener: 20 LISTENER, 21 CONN):
//   1 IDENT   v6 flag and listener form, addresses, ports, state, app view       required
//   2 SEQ     ISS, IRS as u32; every other sequence number relative to an anchor   required
//   3 OPTS    negotiated options, MSS, path MTU                                    required
//   4 TIME    TSval at the snapshot (tsOffset), TS.Recent, RTT estimator, instants required
//   5 CC      congestion control (zero CUBIC fields omitted by a presence mask)    required
//   6 MISC    flags, recovery counters, probe counters, errors, statistics         required
//   7 TIMERS  armed deadlines relative to the snapshot                             if any armed
//   8 SNDQ    send queue: unacknowledged and unsent bytes (chunks as the stack holds them)
//   9 RCVQ    unread in-order bytes
//  10 OOO     out-of-order segments held for reassembly
//  11 SACK    SACK scoreboard, recent out-of-order arrivals, pending D-SACK
//  12 CONFIG  per-socket options that differ from a versioned table of defaults
//  13 HELD    packets that arrived while frozen (raw IP), replayed on resume
//  14 APP     opaque application state
//
// Fields that follow from others are not stored: the connection id, v6, the pseudo-header
// sum, queue byte counts, SACKed byte count, the cached deadline. Decoding rebuilds them and
// then validates the whole connection (validateTcb): types, ranges, lengths, and internal
// consistency (SND.UNA <= SND.NXT, the queue against the sequence space, out-of-order data
// inside the advertised window, scoreboard inside the flight, buffers within their limits...).
// Any failure refuses the whole snapshot with a message naming the field; nothing is applied.
import type { CcAlgo, ErrorCode, TcpSocketConfig, TcpStateName } from '../stack/api.ts';
import type { AssocExport, ConnExport, ListenerExport, SctpHeldPacket } from '../stack/freeze.ts';
import type { Assoc, SctpAssocConfig } from '../stack/sctp/assoc.ts';
import { defaultSctpAssocConfig } from '../stack/sctp/assoc.ts';
import { decodeState, encodeState, CodecError } from './codec.ts';
import type { Listener } from '../stack/tcp/listen.ts';
import type { Tcb } from '../stack/tcp/tcb.ts';
import { connKey, listenerKey } from '../stack/demux.ts';
import { addrSum, writeIp } from '../stack/wire/addr-write.ts';
import { canonicalIp, v4ToString, v6ToString } from '../stack/wire/addr.ts';
import type { Parsed } from '../stack/wire/bytes.ts';
import { crc32c } from '../stack/wire/crc32c.ts';
import { seqDiff, seqGt, seqLt } from '../stack/wire/seq.ts';
import { Reader, WireError, Writer } from './wire-io.ts';

export const SNAPSHOT_VERSION = 1;
const MAGIC = [0x46, 0x52, 0x59] as const; // 'FRY'

export type SnapshotKind = 'tcp-conn' | 'tcp-listener' | 'sctp-assoc';

export interface TcpConnSnapshot {
  kind: 'tcp-conn';
  /** Source clock at the freeze (ms); informational. */
  takenAt: number;
  conn: ConnExport;
  /** Opaque application state, or null. */
  app: Uint8Array | null;
}

export interface TcpListenerSnapshot {
  kind: 'tcp-listener';
  takenAt: number;
  listener: ListenerExport;
  app: Uint8Array | null;
}

export interface SctpAssocSnapshot {
  kind: 'sctp-assoc';
  takenAt: number;
  assoc: AssocExport;
  app: Uint8Array | null;
}

export type Snapshot = TcpConnSnapshot | TcpListenerSnapshot | SctpAssocSnapshot;

/** Limits the decoder enforces beyond what the input length bounds anyway. */
export const LIMITS = {
  /** Largest buffer a connection may carry (TCP's largest window, RFC 7323 §2.3). */
  maxBuf: 2 ** 30,
  /** Packets held while frozen, per entry, and the size of one. */
  maxHeld: 65536,
  maxPacket: 65535 + 40,
  /** Connections in one listener snapshot. */
  maxQueued: 65536,
  /** Application blob. */
  maxApp: 64 * 1024 * 1024,
} as const;

// ---------------------------------------------------------------------------------- tables

export const TCP_STATES: readonly TcpStateName[] = [
  'CLOSED', 'LISTEN', 'SYN-SENT', 'SYN-RECEIVED', 'ESTABLISHED', 'FIN-WAIT-1', 'FIN-WAIT-2',
  'CLOSE-WAIT', 'CLOSING', 'LAST-ACK', 'TIME-WAIT',
];
const APP_VIEWS = ['pending', 'open', 'closed'] as const;
const ERROR_CODES: readonly ErrorCode[] = [
  'ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EADDRINUSE', 'EADDRNOTAVAIL', 'EHOSTUNREACH',
  'ENETUNREACH', 'ENOTCONN', 'EINVAL', 'EBADF', 'ECONNABORTED', 'EMSGSIZE',
];
const CC_ALGOS: readonly CcAlgo[] = ['newreno', 'cubic'];

/**
 * Socket-option defaults, by version. A snapshot stores which table it diffed against, so a
 * later change of the stack's defaults cannot change the meaning of an old snapshot: add a new
 * table (and bump CONFIG_DEFAULTS_VERSION) when stack/stack.ts defaultTcpConfig() changes
 * (test/migrate/snapshot.test.ts checks that the newest table equals it). A new option gets a
 * new field at the end of CFG_FIELDS, and its default (the behaviour before it existed) in
 * every older table.
 */
export const CONFIG_DEFAULTS: Readonly<Record<number, TcpSocketConfig>> = {
  1: {
    mtu: 1500, mss: null, rcvBuf: 262144, sndBuf: 262144, wscale: true, wscaleShift: null, sack: true, timestamps: true,
    cc: 'cubic', initialCwnd: 10, delayedAck: true, delayedAckMs: 40, ackEvery: 2, initialRto: 1000, minRto: 200,
    maxRto: 120000, synRetries: 6, synAckRetries: 5, maxRetries: 15, msl: 30000, finWait2Timeout: 60000, noDelay: false,
    keepAlive: { enabled: false, idle: 7200000, interval: 75000, count: 9 }, userTimeout: 0, persistMin: 200,
    persistMax: 60000, dupThresh: 3, optionLayout: 'linux', rcvWndPolicy: 'free-space',
    sockBufRoundToMss: false, delAckSegments: false, rtoSlop: 0, ackRepeatsFin: false, connectTimeout: null, noOptions: false,
    ttl: null, tos: 0, ecn: 'off', ecnSynRetries: 1,
  },
};
export const CONFIG_DEFAULTS_VERSION = 1;

type FieldKind = 'int' | 'int?' | 'ms' | 'ms?' | 'bool' | 'enum';
interface CfgField {
  name: string; kind: FieldKind; min: number; max: number;
  /** For 'enum': the values, encoded as their index. */
  values: readonly string[];
  get(c: TcpSocketConfig): unknown; set(c: TcpSocketConfig, v: unknown): void;
}

const MAXMS = 2 ** 31; // Node timers take at most 2^31-1 ms; nothing sane waits longer
function field(name: keyof TcpSocketConfig, kind: FieldKind, min = 0, max = MAXMS, values: readonly string[] = []): CfgField {
  return {
    name, kind, min, max, values,
    get: (c) => c[name],
    set: (c, v) => { (c as unknown as Record<string, unknown>)[name] = v; },
  };
}
function kaField(name: 'enabled' | 'idle' | 'interval' | 'count', kind: FieldKind, min = 0, max = MAXMS): CfgField {
  return {
    name: `keepAlive.${name}`, kind, min, max, values: [],
    get: (c) => c.keepAlive[name],
    set: (c, v) => { (c.keepAlive as unknown as Record<string, unknown>)[name] = v; },
  };
}

/** Config fields in encoding order (bit i of the CONFIG mask is field i). Append only. */
const CFG_FIELDS: readonly CfgField[] = [
  field('mtu', 'int', 68, 65535), field('mss', 'int?', 1, 65535), field('rcvBuf', 'int', 1, LIMITS.maxBuf),
  field('sndBuf', 'int', 1, LIMITS.maxBuf), field('wscale', 'bool'), field('wscaleShift', 'int?', 0, 14), field('sack', 'bool'),
  field('timestamps', 'bool'), field('cc', 'enum', 0, 0, CC_ALGOS), field('initialCwnd', 'int', 1, 100000), field('delayedAck', 'bool'),
  field('delayedAckMs', 'ms'), field('ackEvery', 'int', 1, 100000), field('initialRto', 'ms'), field('minRto', 'ms'),
  field('maxRto', 'ms'), field('synRetries', 'int', 0, 1000), field('synAckRetries', 'int', 0, 1000),
  field('maxRetries', 'int', 0, 1000), field('msl', 'ms'), field('finWait2Timeout', 'ms?'), field('noDelay', 'bool'),
  kaField('enabled', 'bool'), kaField('idle', 'ms'), kaField('interval', 'ms'), kaField('count', 'int', 0, 100000),
  field('userTimeout', 'ms'), field('persistMin', 'ms'), field('persistMax', 'ms'), field('dupThresh', 'int', 1, 100000),
  field('optionLayout', 'enum', 0, 0, ['linux', 'freebsd']), field('rcvWndPolicy', 'enum', 0, 0, ['free-space', 'right-edge']),
  field('sockBufRoundToMss', 'bool'), field('delAckSegments', 'bool'), field('rtoSlop', 'ms'), field('ackRepeatsFin', 'bool'),
  field('connectTimeout', 'ms?'), field('noOptions', 'bool'), field('ttl', 'int?', 0, 255), field('tos', 'int', 0, 255),
  field('ecn', 'enum', 0, 0, ['off', 'accept', 'on']), field('ecnSynRetries', 'int', 0, 1000),
];

/** True when `cfg` has exactly the newest defaults (and no other keys). */
function isDefaultConfig(cfg: TcpSocketConfig): boolean {
  const base = CONFIG_DEFAULTS[CONFIG_DEFAULTS_VERSION]!;
  for (const f of CFG_FIELDS) if (!Object.is(f.get(cfg), f.get(base))) return false;
  let n = 0;
  for (const _ in cfg) n++;
  return n === CONFIG_KEYS.length;
}

/** Top-level config keys the table covers (keepAlive as one). */
export const CONFIG_KEYS: readonly string[] = [...new Set(CFG_FIELDS.map((f) => f.name.split('.')[0]!))];
const CONFIG_KEY_SET = new Set(CONFIG_KEYS);

// ---------------------------------------------------------------------------------- errors

/** A snapshot that cannot be encoded (the state is invalid) or decoded. */
export class SnapshotError extends WireError {
  override name = 'SnapshotError';
}
const bad = (msg: string): never => { throw new SnapshotError(msg); };

// ---------------------------------------------------------------------------------- encode

const T = { IDENT: 1, SEQ: 2, OPTS: 3, TIME: 4, CC: 5, MISC: 6, TIMERS: 7, SNDQ: 8, RCVQ: 9, OOO: 10, SACK: 11, CONFIG: 12, HELD: 13, APP: 14, LISTENER: 20, CONN: 21, ASSOC: 30, SCTP_HELD: 31 } as const;
const TAG_NAMES: Record<number, string> = Object.fromEntries(Object.entries(T).map(([k, v]) => [v, k]));

/** Write one section: tag, length, body. The body is written in place after a one-byte length, moved on if the length needs more. */
function section(w: Writer, tag: number, body: (s: Writer) => void): void {
  w.u8(tag);
  const at = w.len;
  w.u8(0);
  body(w);
  const n = w.len - at - 1;
  if (n < 0x80) { w.buf[at] = n; return; }
  let k = 1;
  for (let x = n; x >= 0x80; x = Math.floor(x / 0x80)) k++;
  w.ensure(k - 1);
  w.buf.copyWithin(at + k, at + 1, w.len);
  const end = w.len + k - 1;
  w.len = at;
  w.uvarint(n);
  w.len = end;
}

/** An optional sequence number relative to an anchor: 0 for null, else zigzag(offset) + 1. */
function optRel(w: Writer, x: number | null, anchor: number): void {
  if (x === null) { w.uvarint(0); return; }
  const d = seqDiff(x, anchor);
  w.uvarint((d >= 0 ? 2 * d : -2 * d - 1) + 1);
}
const rel = (w: Writer, x: number, anchor: number) => w.svarint(seqDiff(x, anchor));
const isZero = (v: number) => Object.is(v, 0);

function writeAddr(w: Writer, a: string, v6: boolean, what: string): void {
  const b = new Uint8Array(v6 ? 16 : 4);
  if (writeIp(a, b, 0) !== b.length) bad(`${what}: bad address ${a}`);
  w.raw(b);
}

function writeChunks(s: Writer, off: number, q: readonly Uint8Array[]): void {
  s.uvarint(off);
  s.uvarint(q.length);
  for (const c of q) s.bytes(c);
}

/** The sections of one connection (no header, no CRC): shared by conn and listener snapshots. */
function writeConnBody(w: Writer, tcb: Tcb, held: readonly Uint8Array[]): void {
  validateTcb(tcb);
  const v6 = tcb.localAddr.includes(':');
  let lmode = 0;
  if (tcb.listener !== null) {
    if (tcb.listener === listenerKey(tcb.localAddr, tcb.localPort)) lmode = 1;
    else if (tcb.listener === listenerKey(null, tcb.localPort)) lmode = 2;
    else lmode = 3;
  }
  section(w, T.IDENT, (s) => {
    s.u8((v6 ? 1 : 0) | (lmode << 1));
    writeAddr(s, tcb.localAddr, v6, 'localAddr');
    s.u16(tcb.localPort);
    writeAddr(s, tcb.remoteAddr, v6, 'remoteAddr');
    s.u16(tcb.remotePort);
    if (lmode === 3) s.bytes(new TextEncoder().encode(tcb.listener!));
    s.u8(TCP_STATES.indexOf(tcb.state));
    s.u8(APP_VIEWS.indexOf(tcb.app));
  });
  section(w, T.SEQ, (s) => {
    s.u32(tcb.iss); s.u32(tcb.irs);
    s.uvarint((tcb.sndUna - tcb.iss) >>> 0);
    s.uvarint((tcb.sndNxt - tcb.sndUna) >>> 0);
    s.uvarint((tcb.rcvNxt - tcb.irs) >>> 0);
    rel(s, tcb.rcvAdv, tcb.rcvNxt);
    rel(s, tcb.lastAckSent, tcb.rcvNxt);
    rel(s, tcb.sndWl1, tcb.rcvNxt);
    rel(s, tcb.sndWl2, tcb.sndUna);
    s.uvarint(tcb.sndWnd, 'sndWnd');
    s.uvarint(tcb.maxSndWnd, 'maxSndWnd');
    rel(s, tcb.recover, tcb.sndUna);
    rel(s, tcb.highRxt, tcb.sndUna);
    rel(s, tcb.lostHigh, tcb.sndUna);
    rel(s, tcb.sndQSeq, tcb.sndUna);
    optRel(s, tcb.finSeq, tcb.sndUna);
    optRel(s, tcb.oooFin, tcb.rcvNxt);
    optRel(s, tcb.rttSeq, tcb.sndUna);
  });
  section(w, T.OPTS, (s) => {
    s.u8((tcb.wsOk ? 1 : 0) | (tcb.sackOk ? 2 : 0) | (tcb.tsOk ? 4 : 0));
    s.u8((tcb.sndShift << 4) | tcb.rcvShift);
    s.uvarint(tcb.peerMss, 'peerMss'); s.uvarint(tcb.advMss, 'advMss'); s.uvarint(tcb.pmtu, 'pmtu');
    s.uvarint(tcb.mss, 'mss'); s.uvarint(tcb.rcvMss, 'rcvMss');
  });
  section(w, T.TIME, (s) => {
    s.u32(tcb.tsOffset >>> 0);
    s.u32(tcb.tsRecent);
    s.num(tcb.tsRecentAt); s.num(tcb.srtt); s.num(tcb.rttvar); s.num(tcb.rto);
    s.num(tcb.rttAt); s.num(tcb.lastRcvAt); s.num(tcb.firstRtxAt);
  });
  section(w, T.CC, (s) => {
    const cc = tcb.cc;
    s.u8(CC_ALGOS.indexOf(cc.algo));
    s.num(cc.cwnd); s.num(cc.ssthresh);
    const mask = (isZero(cc.bytesAcked) ? 0 : 1) | (isZero(cc.wMax) ? 0 : 2) | (isZero(cc.k) ? 0 : 4)
      | (cc.epochStart === null ? 0 : 8) | (isZero(cc.cwndEpoch) ? 0 : 16) | (isZero(cc.wEst) ? 0 : 32);
    s.u8(mask);
    if (mask & 1) s.num(cc.bytesAcked);
    if (mask & 2) s.num(cc.wMax);
    if (mask & 4) s.num(cc.k);
    if (mask & 8) s.num(cc.epochStart);
    if (mask & 16) s.num(cc.cwndEpoch);
    if (mask & 32) s.num(cc.wEst);
  });
  section(w, T.MISC, (s) => {
    const flags = [tcb.rdShut, tcb.wrShut, tcb.finRcvd, tcb.inRecovery, tcb.forceRxt, tcb.cwndLimited, tcb.ackNow,
      tcb.wantWrite, tcb.eofSent, tcb.drainedSent, tcb.closedSent];
    let f = 0;
    for (let i = 0; i < flags.length; i++) if (flags[i]) f += 2 ** i;
    s.uvarint(f);
    s.uvarint(tcb.dupAcks, 'dupAcks'); s.uvarint(tcb.renoSacked, 'renoSacked'); s.uvarint(tcb.ackPending, 'ackPending');
    s.uvarint(tcb.persistShift, 'persistShift'); s.uvarint(tcb.persistProbes, 'persistProbes');
    s.uvarint(tcb.keepProbes, 'keepProbes'); s.uvarint(tcb.retries, 'retries');
    s.u8(tcb.error === null ? 0 : ERROR_CODES.indexOf(tcb.error) + 1);
    s.u8(tcb.softError === null ? 0 : ERROR_CODES.indexOf(tcb.softError) + 1);
    s.uvarint(tcb.bytesRead, 'bytesRead'); s.uvarint(tcb.bytesWritten, 'bytesWritten'); s.uvarint(tcb.retransmits, 'retransmits');
    // RFC 3168 ECN state (null when not negotiated).
    const e = tcb.ecn;
    s.u8(e === null ? 0 : 1 | (e.ece ? 2 : 0) | (e.cwr ? 4 : 0));
    if (e !== null) rel(s, e.recover, tcb.sndUna);
  });
  const t = tcb.timers;
  const tmask = (t.rtx === null ? 0 : 1) | (t.persist === null ? 0 : 2) | (t.delack === null ? 0 : 4) | (t.keepalive === null ? 0 : 8) | (t.close === null ? 0 : 16);
  if (tmask !== 0) {
    section(w, T.TIMERS, (s) => {
      s.u8(tmask);
      for (const v of [t.rtx, t.persist, t.delack, t.keepalive, t.close]) if (v !== null) s.num(v);
    });
  }
  if (tcb.sndQ.length > 0 || tcb.sndQOff !== 0) section(w, T.SNDQ, (s) => writeChunks(s, tcb.sndQOff, tcb.sndQ));
  if (tcb.rcvQ.length > 0 || tcb.rcvQOff !== 0) section(w, T.RCVQ, (s) => writeChunks(s, tcb.rcvQOff, tcb.rcvQ));
  if (tcb.ooo.length > 0) {
    section(w, T.OOO, (s) => {
      s.uvarint(tcb.ooo.length);
      for (const o of tcb.ooo) { rel(s, o.seq, tcb.rcvNxt); s.bytes(o.data); }
    });
  }
  if (tcb.sacked.length > 0 || tcb.sackRecent.length > 0 || tcb.dsack !== null) {
    section(w, T.SACK, (s) => {
      s.uvarint(tcb.sacked.length / 2);
      for (let i = 0; i < tcb.sacked.length; i += 2) {
        rel(s, tcb.sacked[i]!, tcb.sndUna);
        s.uvarint((tcb.sacked[i + 1]! - tcb.sacked[i]!) >>> 0);
      }
      s.uvarint(tcb.sackRecent.length);
      for (const x of tcb.sackRecent) rel(s, x, tcb.rcvNxt);
      s.u8(tcb.dsack === null ? 0 : 1);
      if (tcb.dsack !== null) { rel(s, tcb.dsack[0]!, tcb.rcvNxt); rel(s, tcb.dsack[1]!, tcb.rcvNxt); }
    });
  }
  writeConfig(w, tcb.cfg);
  writeHeld(w, held);
}

function writeConfig(w: Writer, cfg: TcpSocketConfig): void {
  const base = CONFIG_DEFAULTS[CONFIG_DEFAULTS_VERSION]!;
  let mask = 0;
  const differs: CfgField[] = [];
  for (let i = 0; i < CFG_FIELDS.length; i++) {
    const f = CFG_FIELDS[i]!;
    if (!Object.is(f.get(cfg), f.get(base))) { mask += 2 ** i; differs.push(f); }
  }
  if (mask === 0) return;
  section(w, T.CONFIG, (s) => {
    s.uvarint(CONFIG_DEFAULTS_VERSION);
    s.uvarint(mask);
    for (const f of differs) {
      const v = f.get(cfg);
      switch (f.kind) {
        case 'bool': s.u8(v ? 1 : 0); break;
        case 'enum': s.u8(f.values.indexOf(v as string)); break;
        default: s.num(v as number | null);
      }
    }
  });
}

function writeHeld(w: Writer, held: readonly Uint8Array[]): void {
  if (held.length === 0) return;
  section(w, T.HELD, (s) => {
    s.uvarint(held.length);
    for (const p of held) s.bytes(p);
  });
}

function writeApp(w: Writer, app: Uint8Array | null): void {
  if (app === null) return;
  if (app.length > LIMITS.maxApp) bad(`app state of ${app.length} bytes exceeds ${LIMITS.maxApp}`);
  section(w, T.APP, (b) => b.raw(app));
}

function header(w: Writer, kind: number, takenAt: number): void {
  w.raw(new Uint8Array(MAGIC));
  w.u8(SNAPSHOT_VERSION);
  w.u8(kind);
  w.num(takenAt);
}

function trailer(w: Writer): Uint8Array {
  w.u32(crc32c(w.buf.subarray(0, w.len)));
  return w.finish();
}

/**
 * Encode a snapshot. Throws SnapshotError when the state is not valid (the decoder would
 * refuse it): a snapshot that encodes always decodes.
 */
export function encodeSnapshot(s: Snapshot): Uint8Array {
  if (!Number.isFinite(s.takenAt)) bad('takenAt is not finite');
  const w = new Writer(512);
  if (s.kind === 'tcp-conn') {
    header(w, 1, s.takenAt);
    writeConnBody(w, s.conn.tcb, s.conn.held);
  } else if (s.kind === 'sctp-assoc') {
    header(w, 3, s.takenAt);
    writeApp(w, s.app);
    writeAssoc(w, s.assoc);
    return trailer(w);
  } else {
    // Listener snapshots: CONFIG, HELD, APP, LISTENER, then one CONN per queued connection.
    header(w, 2, s.takenAt);
    const l = s.listener.listener;
    checkListenerQueues(s.listener);
    writeConfig(w, l.cfg);
    writeHeld(w, s.listener.held);
    writeApp(w, s.app);
    section(w, T.LISTENER, (b) => {
      const v6 = l.addr !== null && l.addr.includes(':');
      b.u8(l.addr === null ? 2 : v6 ? 1 : 0);
      if (l.addr !== null) writeAddr(b, l.addr, v6, 'listener addr');
      b.u16(l.port);
      b.uvarint(l.backlog, 'backlog');
    });
    for (const c of s.listener.conns) section(w, T.CONN, (b) => writeConnBody(b, c.tcb, c.held));
    return trailer(w);
  }
  writeApp(w, s.app);
  return trailer(w);
}

// ---------------------------------------------------------------------------------- decode

interface Sections { tags: number[]; bodies: Reader[] }

/** Split [start, end) into sections; tags strictly increasing except repeated CONN. */
function readSections(r: Reader, allowed: readonly number[], required: readonly number[]): Sections {
  const tags: number[] = [];
  const bodies: Reader[] = [];
  let last = 0;
  while (r.left > 0) {
    const tag = r.u8('section tag');
    const name = TAG_NAMES[tag] ?? `#${tag}`;
    if (!allowed.includes(tag)) bad(`unknown or misplaced section ${name}`);
    if (tag < last || (tag === last && tag !== T.CONN)) bad(`section ${name} out of order or repeated`);
    last = tag;
    const len = r.uvarint(`section ${name} length`);
    r.need(len, `section ${name}`);
    bodies.push(new Reader(r.buf, r.pos, r.pos + len, `section ${name}`));
    tags.push(tag);
    r.pos += len;
  }
  for (const t of required) if (!tags.includes(t)) bad(`missing section ${TAG_NAMES[t]}`);
  return { tags, bodies };
}

const get = (s: Sections, tag: number): Reader | null => {
  const i = s.tags.indexOf(tag);
  return i < 0 ? null : s.bodies[i]!;
};

function readAddr(r: Reader, v6: boolean, what: string): string {
  const b = r.raw(v6 ? 16 : 4, what);
  return v6 ? v6ToString(b) : v4ToString(b);
}

function readRel(r: Reader, anchor: number, what: string): number {
  const d = r.svarint(what);
  if (d < -(2 ** 31) || d >= 2 ** 31) bad(`${what}: offset ${d} out of range`);
  return (anchor + d) >>> 0;
}

function readOptRel(r: Reader, anchor: number, what: string): number | null {
  const z = r.uvarint(what);
  if (z === 0) return null;
  const d = (z - 1) % 2 === 0 ? (z - 1) / 2 : -(z / 2);
  if (d < -(2 ** 31) || d >= 2 ** 31) bad(`${what}: offset ${d} out of range`);
  return (anchor + d) >>> 0;
}

function readChunks(r: Reader, what: string): { off: number; q: Uint8Array[]; len: number } {
  const off = r.uvarint(`${what} offset`);
  const n = r.count(`${what} chunks`, 1);
  const q: Uint8Array[] = [];
  let len = 0;
  for (let i = 0; i < n; i++) {
    const c = r.bytes(`${what} chunk`, LIMITS.maxBuf);
    if (c.length === 0) bad(`${what}: empty chunk`);
    q.push(c);
    len += c.length;
  }
  if (n === 0 ? off !== 0 : off >= q[0]!.length) bad(`${what}: offset ${off} outside the first chunk`);
  return { off, q, len: len - off };
}

const enumAt = <X>(list: readonly X[], i: number, what: string): X => {
  const v = list[i];
  if (v === undefined) bad(`${what}: unknown value ${i}`);
  return v as X;
};

function readConfig(r: Reader | null): TcpSocketConfig {
  if (r === null) return cloneConfig(CONFIG_DEFAULTS[CONFIG_DEFAULTS_VERSION]!);
  const ver = r.uvarint('defaults version');
  const base = CONFIG_DEFAULTS[ver];
  if (base === undefined) bad(`config: unknown defaults version ${ver}`);
  const cfg = cloneConfig(base!);
  const mask = r.uvarint('config mask');
  if (mask >= 2 ** CFG_FIELDS.length) bad(`config: unknown fields in mask ${mask}`);
  for (let i = 0; i < CFG_FIELDS.length; i++) {
    if (Math.floor(mask / 2 ** i) % 2 === 0) continue;
    const f = CFG_FIELDS[i]!;
    let v: unknown;
    switch (f.kind) {
      case 'bool': { const b = r.u8(f.name); if (b > 1) bad(`config ${f.name}: not a boolean`); v = b === 1; break; }
      case 'enum': v = enumAt(f.values, r.u8(f.name), `config ${f.name}`); break;
      default: v = r.num(`config ${f.name}`);
    }
    f.set(cfg, v);
  }
  r.done();
  validateConfig(cfg);
  return cfg;
}

function cloneConfig(c: TcpSocketConfig): TcpSocketConfig {
  return { ...c, keepAlive: { ...c.keepAlive } };
}

function readHeld(r: Reader | null): Uint8Array[] {
  if (r === null) return [];
  const n = r.count('held packets', 1, LIMITS.maxHeld);
  const out: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const p = r.bytes('held packet', LIMITS.maxPacket);
    if (p.length < 20) bad('held packet: shorter than an IP header');
    out.push(p);
  }
  r.done();
  return out;
}

const CONN_TAGS = [T.IDENT, T.SEQ, T.OPTS, T.TIME, T.CC, T.MISC, T.TIMERS, T.SNDQ, T.RCVQ, T.OOO, T.SACK, T.CONFIG, T.HELD] as const;
const CONN_REQUIRED = [T.IDENT, T.SEQ, T.OPTS, T.TIME, T.CC, T.MISC] as const;

function readConnBody(secs: Sections): ConnExport {
  // IDENT
  const id = get(secs, T.IDENT)!;
  const flags = id.u8('flags');
  if (flags > 7) bad('IDENT: unknown flags');
  const v6 = (flags & 1) === 1;
  const lmode = flags >> 1;
  const localAddr = readAddr(id, v6, 'localAddr');
  const localPort = id.u16('localPort');
  const remoteAddr = readAddr(id, v6, 'remoteAddr');
  const remotePort = id.u16('remotePort');
  if (localPort === 0 || remotePort === 0) bad('IDENT: port 0');
  let listener: string | null = null;
  if (lmode === 1) listener = listenerKey(localAddr, localPort);
  else if (lmode === 2) listener = listenerKey(null, localPort);
  else if (lmode === 3) {
    try { listener = new TextDecoder('utf-8', { fatal: true }).decode(id.bytes('listener id', 256)); } catch (e) {
      if (e instanceof WireError) throw e;
      bad('IDENT: listener id is not UTF-8');
    }
  }
  const state = enumAt(TCP_STATES, id.u8('state'), 'state');
  if (state === 'LISTEN') bad('IDENT: a connection cannot be in LISTEN');
  const app = enumAt(APP_VIEWS, id.u8('app'), 'app');
  id.done();
  // SEQ
  const sq = get(secs, T.SEQ)!;
  const iss = sq.u32('iss'), irs = sq.u32('irs');
  const sndUna = (iss + sq.uvarint('sndUna')) >>> 0;
  const nxtOff = sq.uvarint('sndNxt');
  if (nxtOff > LIMITS.maxBuf + 2) bad(`SEQ: ${nxtOff} bytes in flight exceeds the largest window`);
  const sndNxt = (sndUna + nxtOff) >>> 0;
  const rcvNxt = (irs + sq.uvarint('rcvNxt')) >>> 0;
  const rcvAdv = readRel(sq, rcvNxt, 'rcvAdv');
  const lastAckSent = readRel(sq, rcvNxt, 'lastAckSent');
  const sndWl1 = readRel(sq, rcvNxt, 'sndWl1');
  const sndWl2 = readRel(sq, sndUna, 'sndWl2');
  const sndWnd = sq.uvarint('sndWnd'), maxSndWnd = sq.uvarint('maxSndWnd');
  const recover = readRel(sq, sndUna, 'recover');
  const highRxt = readRel(sq, sndUna, 'highRxt');
  const lostHigh = readRel(sq, sndUna, 'lostHigh');
  const sndQSeq = readRel(sq, sndUna, 'sndQSeq');
  const finSeq = readOptRel(sq, sndUna, 'finSeq');
  const oooFin = readOptRel(sq, rcvNxt, 'oooFin');
  const rttSeq = readOptRel(sq, sndUna, 'rttSeq');
  sq.done();
  // OPTS
  const op = get(secs, T.OPTS)!;
  const of = op.u8('option flags');
  if (of > 7) bad('OPTS: unknown flags');
  const shifts = op.u8('shifts');
  const peerMss = op.uvarint('peerMss'), advMss = op.uvarint('advMss'), pmtu = op.uvarint('pmtu');
  const mss = op.uvarint('mss'), rcvMss = op.uvarint('rcvMss');
  op.done();
  // TIME
  const ti = get(secs, T.TIME)!;
  const tsOffset = ti.u32('tsOffset') | 0;
  const tsRecent = ti.u32('tsRecent');
  const tsRecentAt = ti.num('tsRecentAt');
  const srtt = ti.num('srtt');
  const rttvar = ti.numNN('rttvar'), rto = ti.numNN('rto'), rttAt = ti.numNN('rttAt'), lastRcvAt = ti.numNN('lastRcvAt');
  const firstRtxAt = ti.num('firstRtxAt');
  ti.done();
  // CC
  const c = get(secs, T.CC)!;
  const algo = enumAt(CC_ALGOS, c.u8('cc algo'), 'cc algo');
  const cwnd = c.numNN('cwnd'), ssthresh = c.numNN('ssthresh');
  const m = c.u8('cc mask');
  if (m > 63) bad('CC: unknown mask bits');
  const cc = {
    algo, cwnd, ssthresh,
    bytesAcked: m & 1 ? c.numNN('bytesAcked') : 0,
    wMax: m & 2 ? c.numNN('wMax') : 0,
    k: m & 4 ? c.numNN('k') : 0,
    epochStart: m & 8 ? c.numNN('epochStart') : null,
    cwndEpoch: m & 16 ? c.numNN('cwndEpoch') : 0,
    wEst: m & 32 ? c.numNN('wEst') : 0,
  };
  c.done();
  // MISC
  const mi = get(secs, T.MISC)!;
  const fl = mi.uvarint('flags');
  if (fl >= 2 ** 11) bad('MISC: unknown flags');
  const bit = (i: number) => Math.floor(fl / 2 ** i) % 2 === 1;
  const dupAcks = mi.uvarint('dupAcks'), renoSacked = mi.uvarint('renoSacked'), ackPending = mi.uvarint('ackPending');
  const persistShift = mi.uvarint('persistShift'), persistProbes = mi.uvarint('persistProbes');
  const keepProbes = mi.uvarint('keepProbes'), retries = mi.uvarint('retries');
  const e1 = mi.u8('error'), e2 = mi.u8('softError');
  const error = e1 === 0 ? null : enumAt(ERROR_CODES, e1 - 1, 'error');
  const softError = e2 === 0 ? null : enumAt(ERROR_CODES, e2 - 1, 'softError');
  const bytesRead = mi.uvarint('bytesRead'), bytesWritten = mi.uvarint('bytesWritten'), retransmits = mi.uvarint('retransmits');
  const ef = mi.u8('ecn');
  if (ef > 7 || (ef !== 0 && (ef & 1) === 0)) bad('MISC: bad ECN flags');
  const ecn = ef === 0 ? null : { ece: (ef & 2) !== 0, cwr: (ef & 4) !== 0, recover: readRel(mi, sndUna, 'ecn recover') };
  mi.done();
  // TIMERS
  const timers = { rtx: null as number | null, persist: null as number | null, delack: null as number | null, keepalive: null as number | null, close: null as number | null };
  const tr = get(secs, T.TIMERS);
  if (tr !== null) {
    const tm = tr.u8('timer mask');
    if (tm === 0 || tm > 31) bad('TIMERS: bad mask');
    if (tm & 1) timers.rtx = tr.numNN('rtx');
    if (tm & 2) timers.persist = tr.numNN('persist');
    if (tm & 4) timers.delack = tr.numNN('delack');
    if (tm & 8) timers.keepalive = tr.numNN('keepalive');
    if (tm & 16) timers.close = tr.numNN('close');
    tr.done();
  }
  // Queues
  const sr = get(secs, T.SNDQ);
  const snd = sr === null ? { off: 0, q: [], len: 0 } : readChunks(sr, 'SNDQ');
  sr?.done();
  const rr = get(secs, T.RCVQ);
  const rcv = rr === null ? { off: 0, q: [], len: 0 } : readChunks(rr, 'RCVQ');
  rr?.done();
  const ooo: { seq: number; data: Uint8Array }[] = [];
  let oooLen = 0;
  const orr = get(secs, T.OOO);
  if (orr !== null) {
    const n = orr.count('OOO segments', 2);
    for (let i = 0; i < n; i++) {
      const seq = readRel(orr, rcvNxt, 'OOO seq');
      const data = orr.bytes('OOO data', LIMITS.maxBuf);
      if (data.length === 0) bad('OOO: empty segment');
      ooo.push({ seq, data });
      oooLen += data.length;
    }
    orr.done();
  }
  const sacked: number[] = [];
  let sackedBytes = 0;
  const sackRecent: number[] = [];
  let dsack: number[] | null = null;
  const sk = get(secs, T.SACK);
  if (sk !== null) {
    const n = sk.count('SACK blocks', 2);
    for (let i = 0; i < n; i++) {
      const l = readRel(sk, sndUna, 'SACK left');
      const len = sk.uvarint('SACK length');
      if (len === 0 || len > LIMITS.maxBuf) bad('SACK: bad block length');
      sacked.push(l, (l + len) >>> 0);
      sackedBytes += len;
    }
    const k = sk.count('sackRecent', 1, 64);
    for (let i = 0; i < k; i++) sackRecent.push(readRel(sk, rcvNxt, 'sackRecent'));
    const d = sk.u8('dsack flag');
    if (d > 1) bad('SACK: bad D-SACK flag');
    if (d === 1) dsack = [readRel(sk, rcvNxt, 'dsack left'), readRel(sk, rcvNxt, 'dsack right')];
    sk.done();
  }
  const cfg = readConfig(get(secs, T.CONFIG));
  const held = readHeld(get(secs, T.HELD));

  const la = canonicalIp(localAddr)!, ra = canonicalIp(remoteAddr)!;
  const tcb: Tcb = {
    v: 1,
    id: connKey(la, localPort, ra, remotePort),
    state,
    localAddr: la, localPort, remoteAddr: ra, remotePort,
    v6,
    psum: addrSum(la) + addrSum(ra) + 6,
    listener, app,
    rdShut: bit(0), wrShut: bit(1),
    cfg,
    iss, sndUna, sndNxt, sndWnd, sndWl1, sndWl2, maxSndWnd,
    irs, rcvNxt, rcvAdv,
    sndShift: shifts >> 4, rcvShift: shifts & 15, wsOk: (of & 1) === 1, sackOk: (of & 2) === 2, tsOk: (of & 4) === 4,
    peerMss, advMss, pmtu, mss, rcvMss,
    tsOffset, tsRecent, tsRecentAt, lastAckSent,
    srtt, rttvar, rto, rttSeq, rttAt,
    cc,
    ecn,
    cwndLimited: bit(5),
    inRecovery: bit(3), recover, highRxt, lostHigh, dupAcks, renoSacked, forceRxt: bit(4),
    sacked, sackedBytes,
    sndQ: snd.q, sndQOff: snd.off, sndQLen: snd.len, sndQSeq, finSeq,
    rcvQ: rcv.q, rcvQOff: rcv.off, rcvQLen: rcv.len,
    ooo, oooLen, oooFin, finRcvd: bit(2), sackRecent, dsack,
    ackNow: bit(6), ackPending,
    timers,
    deadline: null,
    persistShift, persistProbes, keepProbes, retries, firstRtxAt, lastRcvAt,
    wantWrite: bit(7), eofSent: bit(8), drainedSent: bit(9), closedSent: bit(10), error, softError,
    bytesRead, bytesWritten, retransmits,
  };
  tcb.deadline = minDeadline(tcb);
  validateTcb(tcb);
  return { tcb, held };
}

function minDeadline(tcb: Tcb): number | null {
  let d: number | null = null;
  for (const v of [tcb.timers.rtx, tcb.timers.persist, tcb.timers.delack, tcb.timers.keepalive, tcb.timers.close]) {
    if (v !== null && (d === null || v < d)) d = v;
  }
  return d;
}

/** Decode and validate a snapshot; refuses anything malformed, with a message naming what. */
export function decodeSnapshot(bytes: Uint8Array): Parsed<Snapshot> {
  try {
    return { ok: true, value: decodeOrThrow(bytes) };
  } catch (e) {
    if (e instanceof WireError) return { ok: false, error: e.message };
    throw e;
  }
}

function decodeOrThrow(bytes: Uint8Array): Snapshot {
  if (bytes.length < MAGIC.length + 2 + 1 + 4) bad(`truncated: ${bytes.length} bytes is shorter than any snapshot`);
  for (let i = 0; i < MAGIC.length; i++) if (bytes[i] !== MAGIC[i]) bad('bad magic: not a ferry snapshot');
  const version = bytes[3]!;
  if (version !== SNAPSHOT_VERSION) bad(`unsupported snapshot version ${version} (this build reads version ${SNAPSHOT_VERSION})`);
  const end = bytes.length - 4;
  const r0 = new Reader(bytes, end, bytes.length);
  const crc = r0.u32();
  if (crc32c(bytes.subarray(0, end)) !== crc) bad('bad checksum: the snapshot is truncated or corrupted');
  const r = new Reader(bytes, 4, end);
  const kind = r.u8('kind');
  const takenAt = r.numNN('takenAt');
  if (!Number.isFinite(takenAt)) bad('takenAt is not finite');
  if (kind === 1) {
    const secs = readSections(r, [...CONN_TAGS, T.APP], CONN_REQUIRED);
    const conn = readConnBody(secs);
    return { kind: 'tcp-conn', takenAt, conn, app: readApp(get(secs, T.APP)) };
  }
  if (kind === 2) {
    const secs = readSections(r, [T.CONFIG, T.HELD, T.APP, T.LISTENER, T.CONN], [T.LISTENER]);
    const lr = get(secs, T.LISTENER)!;
    const fam = lr.u8('address family');
    if (fam > 2) bad('LISTENER: unknown address family');
    const addr = fam === 2 ? null : canonicalIp(readAddr(lr, fam === 1, 'listener addr'));
    const port = lr.u16('port');
    if (port === 0) bad('LISTENER: port 0');
    const backlog = lr.uvarint('backlog');
    if (backlog < 1 || backlog > LIMITS.maxQueued) bad(`LISTENER: backlog ${backlog} out of range`);
    lr.done();
    const id = listenerKey(addr, port);
    const conns: ConnExport[] = [];
    for (let i = 0; i < secs.tags.length; i++) {
      if (secs.tags[i] !== T.CONN) continue;
      if (conns.length >= LIMITS.maxQueued) bad('too many queued connections');
      const body = secs.bodies[i]!;
      conns.push(readConnBody(readSections(body, CONN_TAGS, CONN_REQUIRED)));
    }
    const listener: Listener = {
      id, addr, port, backlog, cfg: readConfig(get(secs, T.CONFIG)),
      synQ: conns.filter((c) => c.tcb.state === 'SYN-RECEIVED').map((c) => c.tcb.id),
      acceptQ: conns.filter((c) => c.tcb.state !== 'SYN-RECEIVED').map((c) => c.tcb.id),
    };
    const exp: ListenerExport = { listener, conns, held: readHeld(get(secs, T.HELD)) };
    checkListenerQueues(exp);
    return { kind: 'tcp-listener', takenAt, listener: exp, app: readApp(get(secs, T.APP)) };
  }
  if (kind === 3) {
    const secs = readSections(r, [T.APP, T.ASSOC, T.SCTP_HELD], [T.ASSOC]);
    return { kind: 'sctp-assoc', takenAt, assoc: readAssoc(get(secs, T.ASSOC)!, get(secs, T.SCTP_HELD)), app: readApp(get(secs, T.APP)) };
  }
  return bad(`unknown snapshot kind ${kind}`);
}

function readApp(r: Reader | null): Uint8Array | null {
  if (r === null) return null;
  if (r.left > LIMITS.maxApp) bad('APP: application state too large');
  return r.raw(r.left).slice();
}

// ---------------------------------------------------------------------------------- validation

const finite = (v: number, what: string): void => { if (!Number.isFinite(v)) bad(`${what} is not finite`); };
const intIn = (v: number, lo: number, hi: number, what: string): void => {
  if (!Number.isInteger(v) || v < lo || v > hi) bad(`${what} = ${v} is out of range [${lo}, ${hi}]`);
};
const u32 = (v: number, what: string): void => intIn(v, 0, 0xffffffff, what);
/** Instants in snapshot time: finite and within ±2^45 ms (a millennium) of the snapshot. */
const instant = (v: number | null, what: string): void => {
  if (v === null) return;
  finite(v, what);
  if (Math.abs(v) > 2 ** 45) bad(`${what} = ${v} is implausibly far from the snapshot time`);
};

function validateConfig(cfg: TcpSocketConfig): void {
  // A field this codec does not know would be lost on the way: refuse rather than drop it.
  let n = 0;
  for (const k in cfg) { if (!CONFIG_KEY_SET.has(k)) bad(`config field ${k} is unknown to this snapshot codec`); n++; }
  for (const k in cfg.keepAlive) if (k !== 'enabled' && k !== 'idle' && k !== 'interval' && k !== 'count') bad(`config field keepAlive.${k} is unknown to this snapshot codec`);
  void n;
  for (const f of CFG_FIELDS) {
    const v = f.get(cfg);
    switch (f.kind) {
      case 'bool': if (typeof v !== 'boolean') bad(`config ${f.name} is not a boolean`); break;
      case 'enum': if (!f.values.includes(v as string)) bad(`config ${f.name}: unknown value ${String(v)}`); break;
      case 'int?': case 'int':
        if (f.kind === 'int' || v !== null) intIn(v as number, f.min, f.max, `config ${f.name}`);
        break;
      case 'ms?': case 'ms':
        if (f.kind === 'ms' || v !== null) {
          if (typeof v !== 'number' || !(v >= f.min && v <= f.max)) bad(`config ${f.name} = ${String(v)} is out of range [${f.min}, ${f.max}]`);
        }
        break;
    }
  }
  if (cfg.maxRto < cfg.minRto) bad('config: maxRto < minRto');
  if (cfg.persistMax < cfg.persistMin) bad('config: persistMax < persistMin');
}

const CC_NUMS = ['cwnd', 'ssthresh', 'bytesAcked', 'wMax', 'k', 'cwndEpoch', 'wEst'] as const;
const COUNTERS = ['dupAcks', 'renoSacked', 'ackPending', 'persistShift', 'persistProbes', 'keepProbes', 'retries',
  'bytesRead', 'bytesWritten', 'retransmits'] as const;
const AFTER_FIN: readonly TcpStateName[] = ['CLOSE-WAIT', 'LAST-ACK', 'CLOSING', 'TIME-WAIT', 'CLOSED'];
/** TIME-WAIT 2*MSL, the orphaned FIN-WAIT-2 timeout, the connection-establishment timeout. */
const CLOSE_TIMER_STATES: readonly TcpStateName[] = ['TIME-WAIT', 'FIN-WAIT-2', 'SYN-SENT', 'SYN-RECEIVED'];

/**
 * Everything a connection's state must satisfy to be installed. Run by the encoder (a state
 * that fails cannot be snapshot) and by the decoder (a snapshot that fails is refused).
 */
export function validateTcb(t: Tcb): void {
  if (t.v !== 1) bad(`TCB schema v${String(t.v)} is not supported`);
  if (!TCP_STATES.includes(t.state) || t.state === 'LISTEN') bad(`state ${String(t.state)} is not a connection state`);
  if (!APP_VIEWS.includes(t.app)) bad(`app view ${String(t.app)} unknown`);
  const la = canonicalIp(t.localAddr), ra = canonicalIp(t.remoteAddr);
  if (la === null || ra === null) bad('bad address');
  if (la!.includes(':') !== ra!.includes(':')) bad('local and remote addresses of different families');
  intIn(t.localPort, 1, 65535, 'localPort');
  intIn(t.remotePort, 1, 65535, 'remotePort');
  u32(t.iss, 'iss'); u32(t.irs, 'irs'); u32(t.sndUna, 'sndUna'); u32(t.sndNxt, 'sndNxt'); u32(t.sndWl1, 'sndWl1');
  u32(t.sndWl2, 'sndWl2'); u32(t.rcvNxt, 'rcvNxt'); u32(t.rcvAdv, 'rcvAdv'); u32(t.lastAckSent, 'lastAckSent');
  u32(t.recover, 'recover'); u32(t.highRxt, 'highRxt'); u32(t.lostHigh, 'lostHigh'); u32(t.sndQSeq, 'sndQSeq'); u32(t.tsRecent, 'tsRecent');
  if (t.finSeq !== null) u32(t.finSeq, 'finSeq');
  if (t.oooFin !== null) u32(t.oooFin, 'oooFin');
  if (t.rttSeq !== null) u32(t.rttSeq, 'rttSeq');
  intIn(t.tsOffset, -(2 ** 31), 2 ** 31 - 1, 'tsOffset');
  // The defaults are valid (checked once below); only a config that differs needs the full check.
  if (!isDefaultConfig(t.cfg)) validateConfig(t.cfg);
  // Options.
  intIn(t.sndShift, 0, 14, 'sndShift');
  intIn(t.rcvShift, 0, 14, 'rcvShift');
  if (!t.wsOk && (t.sndShift !== 0 || t.rcvShift !== 0)) bad('window shifts without window scaling');
  intIn(t.peerMss, 1, 65535, 'peerMss');
  intIn(t.advMss, 1, 65535, 'advMss');
  intIn(t.pmtu, 68, 65535, 'pmtu');
  intIn(t.mss, 1, 65535, 'mss');
  intIn(t.rcvMss, 1, 65535, 'rcvMss');
  // Windows.
  const maxWnd = 65535 * 2 ** 14;
  intIn(t.sndWnd, 0, maxWnd, 'sndWnd');
  intIn(t.maxSndWnd, 0, maxWnd, 'maxSndWnd');
  // Send sequence space (RFC 9293 §3.3.1): SND.UNA <= SND.NXT, the flight within the largest window.
  if (seqGt(t.sndUna, t.sndNxt)) bad('SND.UNA is beyond SND.NXT');
  const flight = seqDiff(t.sndNxt, t.sndUna);
  if (flight > LIMITS.maxBuf + 2) bad('flight larger than the largest window');
  // The queue starts at SND.UNA (or one before it once our FIN is acknowledged, or one after it while our SYN is not).
  const qd = seqDiff(t.sndQSeq, t.sndUna);
  if (qd < -1 || qd > 1) bad(`send queue starts ${qd} from SND.UNA`);
  // HighRxt and the loss mark never pass SND.NXT (below SND.UNA they count as SND.UNA).
  for (const [k, v] of [['highRxt', t.highRxt], ['lostHigh', t.lostHigh]] as const) {
    if (seqGt(v, t.sndNxt) || seqDiff(t.sndUna, v) > LIMITS.maxBuf) bad(`${k} outside the send sequence space`);
  }
  if (t.rttSeq !== null && (seqLt(t.rttSeq, t.sndUna) || seqGt(t.rttSeq, t.sndNxt))) bad('rttSeq outside [SND.UNA, SND.NXT]');
  // Queues.
  checkChunks(t.sndQ, t.sndQOff, t.sndQLen, 'send queue');
  checkChunks(t.rcvQ, t.rcvQOff, t.rcvQLen, 'receive queue');
  if (t.state !== 'CLOSED') {
    const end = (t.sndQSeq + t.sndQLen) >>> 0;
    if (t.finSeq !== null && t.finSeq !== end) bad('our FIN is not right after the queued data');
    if (t.finSeq !== null && !t.wrShut) bad('a FIN is queued but the application did not shut down');
    if (seqGt(t.sndNxt, (end + (t.finSeq !== null ? 1 : 0)) >>> 0)) bad('SND.NXT is beyond the queued data');
  }
  // Buffers within their limits (the stack never accepts more than the buffer; a window
  // rounded up to the scale unit may let one unit more in).
  if (t.sndQLen > t.cfg.sndBuf) bad(`send queue of ${t.sndQLen} bytes exceeds sndBuf ${t.cfg.sndBuf}`);
  let oooLen = 0;
  let prevEnd: number | null = null;
  for (const o of t.ooo) {
    if (!(o.data instanceof Uint8Array) || o.data.length === 0) bad('empty out-of-order segment');
    u32(o.seq, 'out-of-order seq');
    if (!seqGt(o.seq, t.rcvNxt)) bad('out-of-order segment at or before RCV.NXT');
    const e = (o.seq + o.data.length) >>> 0;
    if (seqGt(e, t.rcvAdv)) bad('out-of-order segment beyond the advertised window');
    if (prevEnd !== null && seqLt(o.seq, prevEnd)) bad('out-of-order segments overlap or are unsorted');
    prevEnd = e;
    oooLen += o.data.length;
  }
  if (oooLen !== t.oooLen) bad('out-of-order byte count mismatch');
  if (t.rcvQLen + t.oooLen > t.cfg.rcvBuf + 2 ** t.rcvShift) bad(`receive buffers (${t.rcvQLen} + ${t.oooLen} bytes) exceed rcvBuf ${t.cfg.rcvBuf}`);
  // SACK scoreboard: sorted, disjoint blocks within [SND.UNA, SND.NXT].
  if (t.sacked.length % 2 !== 0) bad('odd scoreboard');
  let sb = 0;
  for (let i = 0; i < t.sacked.length; i += 2) {
    const l = t.sacked[i]!, r = t.sacked[i + 1]!;
    u32(l, 'SACK left'); u32(r, 'SACK right');
    if (!seqLt(l, r)) bad('empty or inverted SACK block');
    // Not above SND.NXT. (A block can lie below SND.UNA: the stack takes SACK blocks of an
    // old, reordered ACK against that ACK's own cumulative ACK, and trims them on the next new
    // ACK; the transmit loop clamps them. Such states are real, so they must move.)
    if (seqGt(r, t.sndNxt) || seqDiff(t.sndUna, l) > LIMITS.maxBuf) bad(`SACK block [${l}, ${r}) outside the flight (SND.UNA ${t.sndUna}, SND.NXT ${t.sndNxt})`);
    if (i > 0 && !seqGt(l, t.sacked[i - 1]!)) bad('SACK blocks unsorted or touching');
    sb += seqDiff(r, l);
  }
  if (sb !== t.sackedBytes) bad('SACKed byte count mismatch');
  if (t.sackRecent.length > 64) bad('too many recent SACK entries');
  for (const x of t.sackRecent) u32(x, 'sackRecent');
  if (t.dsack !== null) {
    if (t.dsack.length !== 2) bad('D-SACK is not a pair');
    u32(t.dsack[0]!, 'dsack'); u32(t.dsack[1]!, 'dsack');
  }
  // Timing.
  instant(t.tsRecentAt, 'tsRecentAt');
  instant(t.rttAt, 'rttAt');
  instant(t.lastRcvAt, 'lastRcvAt');
  instant(t.firstRtxAt, 'firstRtxAt');
  instant(t.cc.epochStart, 'cc.epochStart');
  const tm = t.timers;
  instant(tm.rtx, 'timer rtx'); instant(tm.persist, 'timer persist'); instant(tm.delack, 'timer delack');
  instant(tm.keepalive, 'timer keepalive'); instant(tm.close, 'timer close');
  if (t.srtt !== null && !(t.srtt >= 0 && t.srtt < 2 ** 31)) bad('srtt out of range');
  if (!(t.rttvar >= 0 && t.rttvar < 2 ** 31)) bad('rttvar out of range');
  if (!(t.rto >= 0 && t.rto <= 2 ** 31)) bad('rto out of range');
  if (t.timers.close !== null && !CLOSE_TIMER_STATES.includes(t.state)) bad(`close timer armed in ${t.state}`);
  if (t.ecn !== null) u32(t.ecn.recover, 'ecn recover');
  // Congestion control.
  if (!CC_ALGOS.includes(t.cc.algo)) bad('unknown congestion control');
  for (const k of CC_NUMS) {
    const v = t.cc[k];
    if (!(v >= 0 && v <= 2 ** 40)) bad(`cc.${k} = ${v} out of range`);
  }
  // Counters and codes.
  for (const k of COUNTERS) intIn(t[k], 0, Number.MAX_SAFE_INTEGER, k);
  if (t.error !== null && !ERROR_CODES.includes(t.error)) bad('unknown error code');
  if (t.softError !== null && !ERROR_CODES.includes(t.softError)) bad('unknown soft error code');
  if (t.finRcvd && !AFTER_FIN.includes(t.state)) bad(`FIN received but state is ${t.state}`);
  const d = minDeadline(t);
  if (d !== t.deadline) bad('cached deadline does not match the timers');
}

function checkChunks(q: readonly Uint8Array[], off: number, len: number, what: string): void {
  let n = 0;
  for (const c of q) {
    if (!(c instanceof Uint8Array) || c.length === 0) bad(`${what}: empty or non-byte chunk`);
    n += c.length;
  }
  if (!Number.isInteger(off) || off < 0 || (q.length === 0 ? off !== 0 : off >= q[0]!.length)) bad(`${what}: bad head offset`);
  if (n - off !== len) bad(`${what}: byte count mismatch`);
  if (len > LIMITS.maxBuf) bad(`${what}: larger than the largest window`);
}

function checkListenerQueues(e: ListenerExport): void {
  const l = e.listener;
  validateConfig(l.cfg);
  intIn(l.port, 1, 65535, 'listener port');
  intIn(l.backlog, 1, LIMITS.maxQueued, 'backlog');
  const id = listenerKey(l.addr, l.port);
  if (l.id !== id) bad('listener id does not match its address and port');
  const ids = e.conns.map((c) => c.tcb.id);
  if (new Set(ids).size !== ids.length) bad('a queued connection appears twice');
  const syn = e.conns.filter((c) => c.tcb.state === 'SYN-RECEIVED').map((c) => c.tcb.id);
  const acc = e.conns.filter((c) => c.tcb.state !== 'SYN-RECEIVED').map((c) => c.tcb.id);
  if (syn.join() !== l.synQ.join() || acc.join() !== l.acceptQ.join()) bad('listener queues do not match the queued connections');
  for (const c of e.conns) {
    const t = c.tcb;
    if (t.app !== 'pending' || t.listener !== id) bad('a queued connection does not belong to the listener');
    if (t.localPort !== l.port || (l.addr !== null && t.localAddr !== l.addr)) bad('a queued connection is not on the listener\'s address');
  }
}

// ---------------------------------------------------------------------------------- helpers

/** Fields the codec stores or rebuilds for a TCB: a test compares it against a real TCB's keys. */
export const TCB_FIELDS: readonly string[] = [
  'v', 'id', 'state', 'localAddr', 'localPort', 'remoteAddr', 'remotePort', 'v6', 'psum', 'listener', 'app', 'rdShut', 'wrShut',
  'cfg', 'iss', 'sndUna', 'sndNxt', 'sndWnd', 'sndWl1', 'sndWl2', 'maxSndWnd', 'irs', 'rcvNxt', 'rcvAdv', 'sndShift', 'rcvShift',
  'wsOk', 'sackOk', 'tsOk', 'peerMss', 'advMss', 'pmtu', 'mss', 'rcvMss', 'tsOffset', 'tsRecent', 'tsRecentAt', 'lastAckSent',
  'srtt', 'rttvar', 'rto', 'rttSeq', 'rttAt', 'cc', 'ecn', 'cwndLimited', 'inRecovery', 'recover', 'highRxt', 'lostHigh', 'dupAcks',
  'renoSacked', 'forceRxt', 'sacked', 'sackedBytes', 'sndQ', 'sndQOff', 'sndQLen', 'sndQSeq', 'finSeq', 'rcvQ', 'rcvQOff',
  'rcvQLen', 'ooo', 'oooLen', 'oooFin', 'finRcvd', 'sackRecent', 'dsack', 'ackNow', 'ackPending', 'timers', 'deadline',
  'persistShift', 'persistProbes', 'keepProbes', 'retries', 'firstRtxAt', 'lastRcvAt', 'wantWrite', 'eofSent', 'drainedSent',
  'closedSent', 'error', 'softError', 'bytesRead', 'bytesWritten', 'retransmits',
];

/** Which snapshot kind a byte string claims to be (without validating it), or null. */
export function peekKind(bytes: Uint8Array): SnapshotKind | null {
  if (bytes.length < 5 || bytes[0] !== MAGIC[0] || bytes[1] !== MAGIC[1] || bytes[2] !== MAGIC[2]) return null;
  return bytes[4] === 1 ? 'tcp-conn' : bytes[4] === 2 ? 'tcp-listener' : bytes[4] === 3 ? 'sctp-assoc' : null;
}

// ---------------------------------------------------------------------------------- SCTP

// An SCTP association goes through the generic plain-data codec (migrate/codec.ts: tagged,
// self-describing values), with its configuration reduced to the fields that differ from
// defaultSctpAssocConfig(). The shape is then checked against a schema (every field present,
// of its type, nothing else) and the association against its invariants (validateAssoc).

function writeAssoc(w: Writer, e: AssocExport): void {
  validateAssoc(e.assoc);
  const base = defaultSctpAssocConfig() as unknown as Record<string, unknown>;
  const cfg: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(e.assoc.cfg)) if (!Object.is(v, base[k])) cfg[k] = v;
  // Schema order, no field names: the shape below says what each value is.
  section(w, T.ASSOC, (b) => writeShaped(b, { ...e.assoc, cfg } as unknown as Record<string, unknown>, ASSOC_SHAPE, 'association'));
  if (e.held.length > 0) {
    section(w, T.SCTP_HELD, (b) => {
      b.uvarint(e.held.length);
      for (const h of e.held) {
        const v6 = h.src.includes(':');
        b.u8((v6 ? 1 : 0) | (h.encap === null ? 0 : 2));
        writeAddr(b, h.src, v6, 'held src');
        writeAddr(b, h.dst, v6, 'held dst');
        if (h.encap !== null) { b.u16(h.encap.srcPort); b.u16(h.encap.dstPort); }
        b.bytes(h.sctp);
      }
    });
  }
}

function readAssoc(r: Reader, hr: Reader | null): AssocExport {
  const v = readShaped(r, ASSOC_SHAPE, 'association') as Record<string, unknown>;
  r.done();
  const cfg = { ...defaultSctpAssocConfig() } as unknown as Record<string, unknown>;
  if (!isRec(v.cfg)) bad('ASSOC: config is not a record');
  for (const [k, x] of Object.entries(v.cfg as Record<string, unknown>)) {
    if (!(k in cfg)) bad(`ASSOC: unknown config field ${k}`);
    if (typeof x !== typeof cfg[k]) bad(`ASSOC: config field ${k} has the wrong type`);
    cfg[k] = x;
  }
  const assoc = { ...v, cfg } as unknown as Assoc;
  checkShape(assoc, ASSOC_SHAPE, 'association');
  validateAssoc(assoc);
  const held: SctpHeldPacket[] = [];
  if (hr !== null) {
    const n = hr.count('held packets', 8, LIMITS.maxHeld);
    for (let i = 0; i < n; i++) {
      const f = hr.u8('held flags');
      if (f > 3) bad('SCTP_HELD: unknown flags');
      const v6 = (f & 1) === 1;
      const src = readAddr(hr, v6, 'held src'), dst = readAddr(hr, v6, 'held dst');
      const encap = f & 2 ? { srcPort: hr.u16('encap src'), dstPort: hr.u16('encap dst') } : null;
      const sctp = hr.bytes('held packet', LIMITS.maxPacket);
      if (sctp.length < 12) bad('SCTP_HELD: shorter than an SCTP common header');
      held.push({ src, dst, sctp, encap });
    }
    hr.done();
  }
  return { assoc, held };
}

const isRec = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);

/** A field's type: n number, n? number|null, s string, s? string|null, b boolean, u8 bytes, u8? bytes|null, any plain, or a nested shape / array of one. */
type Shape = { [k: string]: string | Shape | [Shape] | ['n'] | ['s'] };

const PATH_SHAPE: Shape = {
  addr: 's', local: 's', udpPort: 'n?', active: 'b', confirmed: 'b', errors: 'n', pmtu: 'n', cwnd: 'n', ssthresh: 'n', pba: 'n',
  flight: 'n', srtt: 'n?', rttvar: 'n', rto: 'n', rttTsn: 'n?', rttAt: 'n', t3: 'n?', hbAt: 'n?', hbPending: 'b', hbNonce: ['n'],
  hbSentAt: 'n', lastSend: 'n',
};
const OUT_SHAPE: Shape = {
  tsn: 'n', stream: 'n', ssn: 'n', ppid: 'n', flags: 'n', data: 'u8', len: 'n', msg: 'n', expires: 'n?', maxRtx: 'n?', st: 's',
  path: 'n', alt: 'b', tx: 'n', miss: 'n', fastRtx: 'b',
};
const IN_SHAPE: Shape = { tsn: 'n', stream: 'n', ssn: 'n', ppid: 'n', flags: 'n', data: 'u8' };
const MSG_SHAPE: Shape = { stream: 'n', ssn: 'n', ppid: 'n', unordered: 'b', data: 'u8' };
const ASSOC_SHAPE: Shape = {
  v: 'n', id: 's', state: 's', app: 's', listener: 's?', localPort: 'n', remotePort: 'n', localAddrs: ['s'], myVtag: 'n', peerVtag: 'n',
  myTieTag: 'n', peerTieTag: 'n', cfg: 'any', paths: [PATH_SHAPE], primary: 'n', replyPath: 'n', t1: 'n?', initRetrans: 'n',
  myInitialTsn: 'n', initParams: 'any', cookie: 'u8?', cookieCauses: 'any', outStreams: 'n', inStreams: 'n', peerPrSctp: 'b',
  peerRwnd: 'n', peerArwnd: 'n', nextTsn: 'n', cumAck: 'n', advPeerAckPoint: 'n', fwdTsn: 'b', outSsn: ['n'], fragSsn: 'n',
  pending: [OUT_SHAPE], sent: [OUT_SHAPE], rtxCount: 'n', sndBufUsed: 'n', nextMsg: 'n', wantWritable: 'b', fastRecoveryExit: 'n?',
  errors: 'n', sackSeen: 'b', peerInitialTsn: 'n', cumTsn: 'n', rcvRanges: ['n'], highestTsn: 'n', dupTsns: ['n'], reasm: [IN_SHAPE],
  held: [MSG_SHAPE], readQ: [MSG_SHAPE], inSsn: 'any', rcvBufUsed: 'n', lastArwnd: 'n', sackAt: 'n?', pktsUnacked: 'n', sackNow: 'b',
  t2: 'n?', t2Path: 'n', t5: 'n?', shutdownWanted: 'b', peerShutdown: 'b', eofSignalled: 'b', closedCode: 's?', deadline: 'n?',
  ctrl: 'any', stats: {
    dataSent: 'n', dataRetransmitted: 'n', fastRetransmits: 'n', t3Expiries: 'n', packetsSent: 'n', packetsReceived: 'n',
    sacksSent: 'n', dupTsnsReceived: 'n', msgsSent: 'n', msgsReceived: 'n', bytesSent: 'n', bytesReceived: 'n',
    abandoned: 'n', fwdTsnSent: 'n', fwdTsnReceived: 'n', hbSent: 'n',
  },
};

/** Write `v` field by field in the order of `shape` (no names). */
function writeShaped(w: Writer, v: Record<string, unknown>, shape: Shape, where: string): void {
  for (const [k, t] of Object.entries(shape)) {
    const x = v[k];
    if (x === undefined) bad(`${where}: missing field ${k}`);
    writeTyped(w, x, t, `${where}.${k}`);
  }
}

function writeTyped(w: Writer, x: unknown, t: Shape[string], where: string): void {
  if (Array.isArray(t)) {
    if (!Array.isArray(x)) bad(`${where}: not an array`);
    const arr = x as unknown[];
    w.uvarint(arr.length);
    const el = t[0];
    for (const e of arr) writeTyped(w, e, el === 'n' || el === 's' ? el : el as Shape, where);
    return;
  }
  if (typeof t === 'object') { if (!isRec(x)) bad(`${where}: not a record`); writeShaped(w, x as Record<string, unknown>, t, where); return; }
  switch (t) {
    case 'n': if (typeof x !== 'number') bad(`${where}: not a number`); w.num(x as number); return;
    case 'n?': if (x !== null && typeof x !== 'number') bad(`${where}: not a number`); w.num(x as number | null); return;
    case 's': if (typeof x !== 'string') bad(`${where}: not a string`); w.bytes(new TextEncoder().encode(x as string)); return;
    case 's?':
      if (x === null) { w.u8(0); return; }
      if (typeof x !== 'string') bad(`${where}: not a string`);
      w.u8(1); w.bytes(new TextEncoder().encode(x as string)); return;
    case 'b': if (typeof x !== 'boolean') bad(`${where}: not a boolean`); w.u8(x ? 1 : 0); return;
    case 'u8': if (!(x instanceof Uint8Array)) bad(`${where}: not bytes`); w.bytes(x as Uint8Array); return;
    case 'u8?':
      if (x === null) { w.u8(0); return; }
      if (!(x instanceof Uint8Array)) bad(`${where}: not bytes`);
      w.u8(1); w.bytes(x as Uint8Array); return;
    default: {
      let b: Uint8Array;
      try { b = encodeState(x); } catch (e) { return bad(`${where}: ${(e as Error).message}`); }
      w.bytes(b);
    }
  }
}

function readShaped(r: Reader, shape: Shape, where: string): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [k, t] of Object.entries(shape)) o[k] = readTyped(r, t, `${where}.${k}`);
  return o;
}

const td = new TextDecoder('utf-8', { fatal: true });
function readString(r: Reader, where: string): string {
  const b = r.bytes(where, 4096);
  try { return td.decode(b); } catch { return bad(`${where}: not UTF-8`); }
}

function readTyped(r: Reader, t: Shape[string], where: string): unknown {
  if (Array.isArray(t)) {
    const el = t[0];
    const n = r.count(where, 1);
    const out: unknown[] = [];
    for (let i = 0; i < n; i++) out.push(readTyped(r, el === 'n' || el === 's' ? el : el as Shape, where));
    return out;
  }
  if (typeof t === 'object') return readShaped(r, t, where);
  switch (t) {
    case 'n': return r.numNN(where);
    case 'n?': return r.num(where);
    case 's': return readString(r, where);
    case 's?': { const f = r.u8(where); if (f > 1) bad(`${where}: bad flag`); return f === 0 ? null : readString(r, where); }
    case 'b': { const f = r.u8(where); if (f > 1) bad(`${where}: not a boolean`); return f === 1; }
    case 'u8': return r.bytes(where, LIMITS.maxBuf);
    case 'u8?': { const f = r.u8(where); if (f > 1) bad(`${where}: bad flag`); return f === 0 ? null : r.bytes(where, LIMITS.maxBuf); }
    default: {
      const b = r.bytes(where, LIMITS.maxBuf);
      try { return decodeState(b); } catch (e) {
        if (e instanceof CodecError) return bad(`${where}: ${e.message}`);
        throw e;
      }
    }
  }
}

/** Fields the codec expects of an association (a test compares it with a real one's keys). */
export const ASSOC_FIELDS: readonly string[] = Object.keys(ASSOC_SHAPE);

function checkShape(v: unknown, shape: Shape, where: string): void {
  if (!isRec(v)) bad(`${where}: not a record`);
  const o = v as Record<string, unknown>;
  for (const k in o) if (!(k in shape)) bad(`${where}: unexpected field ${k}`);
  for (const [k, t] of Object.entries(shape)) {
    if (!(k in o)) bad(`${where}: missing field ${k}`);
    const x = o[k];
    const w = `${where}.${k}`;
    if (Array.isArray(t)) {
      if (!Array.isArray(x)) bad(`${w}: not an array`);
      const el = t[0];
      for (const e of x as unknown[]) {
        if (el === 'n') { if (typeof e !== 'number') bad(`${w}: not numbers`); } else if (el === 's') { if (typeof e !== 'string') bad(`${w}: not strings`); } else checkShape(e, el as Shape, w);
      }
    } else if (typeof t === 'object') checkShape(x, t, w);
    else {
      const ok = t === 'any' ? true
        : t === 'n' ? typeof x === 'number' : t === 'n?' ? x === null || typeof x === 'number'
          : t === 's' ? typeof x === 'string' : t === 's?' ? x === null || typeof x === 'string'
            : t === 'b' ? typeof x === 'boolean' : t === 'u8' ? x instanceof Uint8Array : x === null || x instanceof Uint8Array;
      if (!ok) bad(`${w}: wrong type`);
    }
  }
}

const SCTP_STATES = ['CLOSED', 'COOKIE-WAIT', 'COOKIE-ECHOED', 'ESTABLISHED', 'SHUTDOWN-PENDING', 'SHUTDOWN-SENT', 'SHUTDOWN-RECEIVED', 'SHUTDOWN-ACK-SENT'];
const tsnLt = (a: number, b: number) => ((a - b) | 0) < 0;

/** Invariants an association must satisfy to be installed (run by the encoder and the decoder). */
export function validateAssoc(a: Assoc): void {
  if (a.v !== 1) bad(`association schema v${String(a.v)} is not supported`);
  if (!SCTP_STATES.includes(a.state)) bad(`association state ${String(a.state)} unknown`);
  if (!APP_VIEWS.includes(a.app)) bad('association app view unknown');
  intIn(a.localPort, 1, 65535, 'localPort');
  intIn(a.remotePort, 1, 65535, 'remotePort');
  if (a.localAddrs.length === 0 || a.localAddrs.some((x) => canonicalIp(x) !== x)) bad('association local addresses');
  for (const k of ['myVtag', 'peerVtag', 'myTieTag', 'peerTieTag', 'myInitialTsn', 'nextTsn', 'cumAck', 'advPeerAckPoint',
    'peerInitialTsn', 'cumTsn', 'highestTsn'] as const) u32(a[k], k);
  if (a.paths.length === 0) bad('association without a path');
  for (const p of a.paths) {
    if (canonicalIp(p.addr) !== p.addr || canonicalIp(p.local) !== p.local) bad('path address');
    intIn(p.pmtu, 68, 65535, 'path pmtu');
    for (const k of ['cwnd', 'ssthresh', 'pba', 'flight', 'rttvar', 'rto', 'errors'] as const) if (!(p[k] >= 0 && Number.isFinite(p[k]))) bad(`path ${k} out of range`);
    for (const k of ['t3', 'hbAt', 'rttAt', 'hbSentAt', 'lastSend'] as const) instant(p[k], `path ${k}`);
    if (p.udpPort !== null) intIn(p.udpPort, 1, 65535, 'path udpPort');
  }
  intIn(a.primary, 0, a.paths.length - 1, 'primary');
  intIn(a.replyPath, 0, a.paths.length - 1, 'replyPath');
  intIn(a.t2Path, 0, a.paths.length - 1, 't2Path');
  for (const k of ['t1', 't2', 't5', 'sackAt', 'deadline'] as const) instant(a[k], k);
  intIn(a.outStreams, 0, 65535, 'outStreams');
  intIn(a.inStreams, 0, 65535, 'inStreams');
  if (a.outSsn.length > 65536) bad('outSsn too long');
  // Send side: sent chunks in TSN order, above the cumulative ack and below the next TSN.
  let prev = a.cumAck, snd = 0, rtx = 0;
  for (const c of a.sent) {
    u32(c.tsn, 'sent tsn');
    if (!tsnLt(prev, c.tsn) || !tsnLt(c.tsn, a.nextTsn)) bad('sent chunks out of TSN order or outside (cumAck, nextTsn)');
    prev = c.tsn;
    if (!['flight', 'acked', 'rtx', 'abandoned'].includes(c.st)) bad('sent chunk state');
    if (c.st === 'rtx') rtx++;
    if (c.st !== 'abandoned') snd += c.len;
    instant(c.expires, 'chunk expires');
  }
  for (const c of a.pending) { if (c.tsn !== -1) bad('pending chunk with a TSN'); snd += c.len; instant(c.expires, 'chunk expires'); }
  for (const c of [...a.pending, ...a.sent]) if (c.st !== 'abandoned' && c.data.length !== c.len) bad('chunk length mismatch');
  if (rtx !== a.rtxCount) bad('rtxCount mismatch');
  if (snd !== a.sndBufUsed) bad('sndBufUsed mismatch');
  // Receive side.
  if (a.rcvRanges.length % 2 !== 0) bad('odd rcvRanges');
  let rb = 0;
  for (const c of a.reasm) rb += c.data.length;
  for (const m of a.held) rb += m.data.length;
  for (const m of a.readQ) rb += m.data.length;
  if (rb !== a.rcvBufUsed) bad('rcvBufUsed mismatch');
  if (a.cfg.rcvBuf > LIMITS.maxBuf || a.cfg.sndBuf > LIMITS.maxBuf) bad('buffer limits out of range');
}

// The defaults tables themselves must pass validation (the fast path above relies on it).
for (const v of Object.values(CONFIG_DEFAULTS)) validateConfig(v);
