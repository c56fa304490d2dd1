// LISTEN (RFC 9293 §3.10.7.2): a listener is not a TCB but a small record with a bounded SYN
// queue (half-open connections, oldest first) and an accept queue (established, not yet
// accepted), both arrays of connection ids in arrival order (no Map: plain data).
//
// When the SYN queue is full (or always, by config) the listener answers with a SYN cookie
// (RFC 4987 §3.6) and keeps no state:
//   ISS = t(5 bits, 64 s ticks) | MSS index (3 bits) | MAC24(secret; 4-tuple, peer ISS, t, index)
// The MSS index picks the largest table entry not above the peer's MSS. With timestamps on,
// the low 6 bits of our TSval carry the peer's window shift (4 bits, 15 = none) and
// SACK-permitted (1 bit) and ECN (1 bit), as Linux does (cookie_init_timestamp), so the
// returning ACK's TSecr restores them. Without timestamps, window scaling and SACK offered on a
// cookie'd SYN are lost: the connection runs without them (RFC 4987 §3.6 names this
// limitation), and ECN is declined (RFC 3168: a receiver that agreed must echo CE marks).
import type { ConnId, ListenerId, Ms, TcpSocketConfig } from '../api.ts';
import { keyedHash32 } from '../crypto.ts';
import { seqGt } from '../wire/seq.ts';
import { ACK, RST, SYN, type TcpOptionsInfo, type TcpSegment } from '../wire/tcp.ts';
import { ecnOnPeerSyn, ecnStart } from './ecn.ts';
import { count, type Io } from './output.ts';
import { initialSeq, negotiate, ourShift, roundBuffers, tsOffsetFor, updateMss } from './options.ts';
import { sendSynAck, xmit } from './send.ts';
import { newTcb, type Tcb } from './tcb.ts';

export interface Listener {
  id: ListenerId;
  /** Local address, or null for every address of the stack. */
  addr: string | null;
  port: number;
  /** Accept-queue bound (listen(2) backlog). */
  backlog: number;
  /** Settings every accepted connection starts with. */
  cfg: TcpSocketConfig;
  /** Half-open connections (SYN-RECEIVED), oldest first. */
  synQ: ConnId[];
  /** Established connections waiting for accept(), oldest first. */
  acceptQ: ConnId[];
}

/** Everything listenArrives needs about the packet. */
export interface Arrival {
  id: ConnId;
  localAddr: string; localPort: number; remoteAddr: string; remotePort: number;
  psum: number;
}

const MSS_V4 = [536, 1200, 1300, 1380, 1400, 1440, 1452, 1460];
const MSS_V6 = [1220, 1280, 1300, 1380, 1400, 1420, 1432, 1440];
/** Cookie clock: 64 s ticks; a cookie is honoured for the tick it was made in and the next (RFC 4987 §3.6 "t"). */
const COOKIE_TICK = 64000;

function cookieMac(secret: Uint8Array, id: string, irs: number, t: number, idx: number): number {
  const s = `cookie|${id}|${irs}|${t}|${idx}`;
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i) & 0xff;
  return keyedHash32(secret, b) & 0xffffff;
}

function makeCookie(secret: Uint8Array, id: string, irs: number, peerMss: number, v6: boolean, now: Ms): number {
  const table = v6 ? MSS_V6 : MSS_V4;
  let idx = 0;
  for (let i = 0; i < table.length; i++) if (table[i]! <= peerMss) idx = i;
  const t = Math.floor(now / COOKIE_TICK) & 0x1f;
  return ((t * 2 ** 27) + (idx << 24) + cookieMac(secret, id, irs, t, idx)) >>> 0;
}

/** Validate a cookie echoed as ACK-1; returns the MSS index, or -1. */
function checkCookie(secret: Uint8Array, id: string, irs: number, cookie: number, now: Ms): number {
  const t = cookie >>> 27;
  const idx = (cookie >>> 24) & 7;
  const cur = Math.floor(now / COOKIE_TICK) & 0x1f;
  const age = (cur - t + 32) & 0x1f;
  if (age > 1) return -1;
  return cookieMac(secret, id, irs, t, idx) === (cookie & 0xffffff) ? idx : -1;
}

/**
 * A segment for a listener with no TCB of its own. Returns a new TCB to insert into the
 * connection table (SYN-RECEIVED from a SYN, or ESTABLISHED from a valid cookie ACK), or null.
 */
export function listenArrives(l: Listener, a: Arrival, seg: TcpSegment, info: TcpOptionsInfo, io: Io, now: Ms): Tcb | null {
  const f = seg.flags;
  const cfgS = io.shared.config;
  const secret = io.shared.secret;
  // first: an incoming RST is ignored.
  if (f & RST) { count(io, 'listen-rst'); return null; }
  // Every connection of the listener shares its config object until a set-option copies it
  // (userSetOption): an idle TCB then holds a reference, not ~30 fields of its own.
  const fresh = (iss: number): Tcb => newTcb({
    id: a.id, localAddr: a.localAddr, localPort: a.localPort, remoteAddr: a.remoteAddr, remotePort: a.remotePort,
    psum: a.psum, cfg: l.cfg, iss, tsOffset: tsOffsetFor(secret, a.id), listener: l.id, now,
  });
  // second: an ACK. A SYN cookie, if cookies may have been sent; else <SEQ=SEG.ACK><CTL=RST>.
  if (f & ACK) {
    if (!(f & SYN) && cfgS.syncookies !== 'off') {
      const irs = (seg.seq - 1) >>> 0;
      const cookie = (seg.ack - 1) >>> 0;
      const idx = checkCookie(secret, a.id, irs, cookie, now);
      if (idx >= 0) {
        if (l.acceptQ.length >= l.backlog) { count(io, 'accept-queue-full'); return null; }
        count(io, 'syncookie-accepted');
        return fromCookie(fresh(cookie), seg, info, idx, now);
      }
      count(io, 'syncookie-invalid');
    }
    const t = fresh(0);
    xmit(t, io, now, RST, seg.ack);
    count(io, 'rst-listen-ack');
    return null;
  }
  // fourth: SYN (third, security, is not implemented). "Any other control or text-bearing segment
  // (not containing SYN) must have an ACK and thus would be discarded by the ACK processing."
  if (!(f & SYN)) { count(io, 'listen-no-syn'); return null; }
  if (l.acceptQ.length >= l.backlog && cfgS.syncookies === 'off') { count(io, 'accept-queue-full'); return null; }
  const full = l.synQ.length >= cfgS.synQueue;
  if (cfgS.syncookies === 'always' || (full && cfgS.syncookies === 'overflow')) {
    // RFC 4987 §3.6: answer statelessly.
    const v6 = a.remoteAddr.includes(':');
    const peerMss = info.mss ?? (v6 ? 1220 : 536);
    const cookie = makeCookie(secret, a.id, seg.seq, peerMss, v6, now);
    const t = fresh(cookie);
    t.irs = seg.seq;
    t.rcvNxt = (seg.seq + 1) >>> 0;
    negotiate(t, info, now);
    if (t.tsOk) ecnOnPeerSyn(t, f);
    if (t.tsOk) {
      // Our TSval's low 6 bits carry wscale (15 = none), SACK-permitted and ECN, never ahead of our clock.
      const base = (now + t.tsOffset) >>> 0;
      const bits = (t.wsOk ? Math.min(14, info.wscale ?? 0) : 15) | (t.sackOk ? 0x10 : 0) | (t.ecn !== null ? 0x20 : 0);
      let ts = ((base & ~0x3f) | bits) >>> 0;
      if (seqGt(ts, base)) ts = (ts - 64) >>> 0;
      t.tsOffset = (t.tsOffset + (ts - base)) | 0;
    }
    sendSynAck(t, io, now);
    count(io, 'syncookie-sent');
    return null;
  }
  if (full) { count(io, 'syn-queue-full'); return null; }
  count(io, 'listen-syn');
  const tcb = fresh(initialSeq(secret, a.id, now));
  tcb.irs = seg.seq;
  tcb.rcvNxt = (seg.seq + 1) >>> 0;
  negotiate(tcb, info, now);
  // RFC 3168 §6.1.1: an ECN-setup SYN (ECE|CWR) is answered with an ECN-setup SYN|ACK if we accept.
  ecnOnPeerSyn(tcb, f);
  tcb.state = 'SYN-RECEIVED';
  // The SYN's window is never scaled (RFC 7323 §2.2).
  tcb.sndWnd = seg.window;
  tcb.maxSndWnd = seg.window;
  tcb.sndWl1 = seg.seq;
  tcb.sndWl2 = tcb.iss;
  // Data on a SYN is not queued (RFC 9293 §3.10.7.2 allows either); the peer retransmits it.
  sendSynAck(tcb, io, now);
  tcb.timers.rtx = now + tcb.rto;
  return tcb;
}

/** Rebuild a connection from a valid cookie ACK (RFC 4987 §3.6). */
function fromCookie(tcb: Tcb, seg: TcpSegment, info: TcpOptionsInfo, idx: number, now: Ms): Tcb {
  const table = tcb.v6 ? MSS_V6 : MSS_V4;
  tcb.irs = (seg.seq - 1) >>> 0;
  tcb.rcvNxt = seg.seq;
  tcb.lastAckSent = seg.seq;
  tcb.sndUna = tcb.sndNxt = (tcb.iss + 1) >>> 0;
  tcb.sndQSeq = tcb.sndUna;
  tcb.highRxt = tcb.lostHigh = tcb.sndUna;
  const cfg = tcb.cfg;
  tcb.peerMss = table[idx]!;
  if (cfg.timestamps && !cfg.noOptions && info.ts !== null) {
    const bits = info.ts.tsecr & 0x3f;
    const ws = bits & 0x0f;
    tcb.tsOk = true;
    tcb.tsRecent = info.ts.tsval;
    tcb.tsRecentAt = now;
    tcb.wsOk = cfg.wscale && ws !== 15;
    tcb.sndShift = tcb.wsOk ? Math.min(14, ws) : 0;
    tcb.rcvShift = tcb.wsOk ? ourShift(cfg) : 0;
    tcb.sackOk = cfg.sack && (bits & 0x10) !== 0;
    if (cfg.ecn !== 'off' && (bits & 0x20) !== 0) ecnStart(tcb);
  }
  updateMss(tcb);
  roundBuffers(tcb);
  tcb.state = 'ESTABLISHED';
  tcb.sndWnd = seg.window * 2 ** tcb.sndShift;
  tcb.maxSndWnd = tcb.sndWnd;
  tcb.sndWl1 = seg.seq;
  tcb.sndWl2 = seg.ack;
  tcb.rcvAdv = (tcb.rcvNxt + Math.min(65535, cfg.rcvBuf)) >>> 0;
  tcb.cc.cwnd = cfg.initialCwnd * tcb.mss;
  tcb.recover = tcb.iss;
  if (cfg.keepAlive.enabled) tcb.timers.keepalive = now + cfg.keepAlive.idle;
  return tcb;
}
