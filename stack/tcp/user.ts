// User calls on one connection (RFC 9293 §3.10.2-§3.10.6: SEND, RECEIVE, CLOSE, ABORT), in
// the pull model of api.ts: recv takes bytes out of the receive queue, which reopens the window.
import type { Ms, RecvResult, SendResult, TcpSocketConfig, VoidResult } from '../api.ts';
import { RST } from '../wire/tcp.ts';
import { dropConn } from './arrive.ts';
import { count, emitEvent, type Io } from './output.ts';
import { updateMss } from './options.ts';
import { windowUpdateDue } from './receive.ts';
import { bareSeq, dataEnd, output, sendAck, xmit } from './send.ts';
import { rcvQTake, sndQAppend, synchronized, type Tcb } from './tcb.ts';

/**
 * RFC 9293 §3.10.2 SEND: queue up to the free send buffer, and at most `room` bytes (the
 * stack-wide bound, StackConfig.sndBufTotal: "insufficient resources" is the RFC's answer when
 * there is no queue space; we take what fits and say so, as send(2) does).
 */
export function userSend(tcb: Tcb, io: Io, now: Ms, data: Uint8Array, room = Infinity): SendResult {
  if (tcb.error !== null) return { ok: false, code: tcb.error };
  if (tcb.wrShut || tcb.state === 'CLOSED' || tcb.state === 'TIME-WAIT' || tcb.state === 'CLOSING'
    || tcb.state === 'LAST-ACK' || tcb.state === 'FIN-WAIT-1' || tcb.state === 'FIN-WAIT-2') {
    // RFC 9293 §3.10.2: "connection closing"; Node reports EPIPE for writes after end().
    return { ok: false, code: 'EPIPE' };
  }
  const free = Math.max(0, Math.min(tcb.cfg.sndBuf - tcb.sndQLen, room));
  if (room < tcb.cfg.sndBuf - tcb.sndQLen && room < data.length) count(io, 'snd-mem-limited');
  const n = Math.min(free, data.length);
  if (n < data.length) tcb.wantWrite = true;
  if (n > 0) {
    sndQAppend(tcb, n === data.length ? data : data.subarray(0, n));
    tcb.bytesWritten += n;
    if (synchronized(tcb.state)) output(tcb, io, now);
  }
  return { ok: true, bytes: n };
}

/** RFC 9293 §3.10.3 RECEIVE: take up to `max` bytes; may send a window update (§3.8.6.2.2). */
export function userRecv(tcb: Tcb, io: Io, now: Ms, max: number): RecvResult {
  if (tcb.error !== null && tcb.rcvQLen === 0) return { ok: false, code: tcb.error };
  const data = rcvQTake(tcb, Math.max(0, max));
  tcb.bytesRead += data.length;
  const eof = tcb.finRcvd && tcb.rcvQLen === 0;
  if (eof && !tcb.eofSent && tcb.app === 'open') { tcb.eofSent = true; emitEvent(io, { type: 'eof', id: tcb.id }); }
  if (data.length > 0 && synchronized(tcb.state) && !tcb.finRcvd && windowUpdateDue(tcb)) {
    count(io, 'window-update');
    sendAck(tcb, io, now);
  }
  return { ok: true, data, eof };
}

/** shutdown(SHUT_WR): RFC 9293 §3.10.4 CLOSE for the sending direction; FIN after queued data. */
export function userShutdown(tcb: Tcb, io: Io, now: Ms): VoidResult {
  if (tcb.error !== null) return { ok: false, code: tcb.error };
  if (tcb.wrShut) return { ok: true };
  switch (tcb.state) {
    case 'SYN-SENT':
      // RFC 9293 §3.10.4 SYN-SENT would delete the TCB; for a half-close we queue the FIN until ESTABLISHED, as Linux does for data.
      tcb.wrShut = true;
      tcb.finSeq = dataEnd(tcb);
      return { ok: true };
    case 'SYN-RECEIVED':
      tcb.wrShut = true;
      tcb.finSeq = dataEnd(tcb);
      return { ok: true };
    case 'ESTABLISHED':
      tcb.state = 'FIN-WAIT-1';
      break;
    case 'CLOSE-WAIT':
      tcb.state = 'LAST-ACK';
      break;
    default:
      return { ok: false, code: 'ENOTCONN' };
  }
  tcb.wrShut = true;
  tcb.finSeq = dataEnd(tcb);
  output(tcb, io, now);
  return { ok: true };
}

/**
 * close(): the application is done with the connection. With unread data (or in a state where
 * a graceful close is impossible) the connection is aborted with a RST (RFC 9293 §3.10.4,
 * RFC 2525 §2.17, RFC 1122 §4.2.2.13); otherwise a FIN follows the queued data and the TCB
 * lives on (orphaned) until the close handshake and TIME-WAIT finish.
 */
export function userClose(tcb: Tcb, io: Io, now: Ms): VoidResult {
  tcb.app = 'closed';
  tcb.rdShut = true;
  switch (tcb.state) {
    case 'CLOSED': case 'TIME-WAIT': case 'LAST-ACK': case 'CLOSING': case 'FIN-WAIT-2':
      if (tcb.state === 'FIN-WAIT-2' && tcb.cfg.finWait2Timeout !== null && tcb.timers.close === null) {
        tcb.timers.close = now + tcb.cfg.finWait2Timeout;
      }
      return { ok: true };
    case 'SYN-SENT': case 'LISTEN':
      // RFC 9293 §3.10.4 SYN-SENT: delete the TCB.
      tcb.state = 'CLOSED';
      return { ok: true };
    default: break;
  }
  if (tcb.rcvQLen > 0) {
    count(io, 'close-unread-rst');
    xmit(tcb, io, now, RST, bareSeq(tcb));
    dropConn(tcb, io, null);
    return { ok: true };
  }
  return userShutdown(tcb, io, now);
}

/** RFC 9293 §3.10.5 ABORT: <SEQ=SND.NXT><CTL=RST> in synchronized states (and SYN-RECEIVED); TCB gone. */
export function userAbort(tcb: Tcb, io: Io, now: Ms): VoidResult {
  tcb.app = 'closed';
  const s = tcb.state;
  if (s === 'SYN-RECEIVED' || s === 'ESTABLISHED' || s === 'FIN-WAIT-1' || s === 'FIN-WAIT-2' || s === 'CLOSE-WAIT') {
    xmit(tcb, io, now, RST, bareSeq(tcb));
    count(io, 'abort-rst');
  }
  dropConn(tcb, io, null);
  return { ok: true };
}

/** Change per-socket settings; buffer changes take effect on the next window/queue decision. */
export function userSetOption(tcb: Tcb, io: Io, now: Ms, o: Partial<TcpSocketConfig>): VoidResult {
  // The UDP encapsulation is fixed when the connection is opened (FreeBSD's
  // TCP_REMOTE_UDP_ENCAPS_PORT: "You can't change after you are connected").
  if (o.udpEncapPort !== undefined && (o.udpEncapPort ?? null) !== (tcb.cfg.udpEncapPort ?? null)) return { ok: false, code: 'EINVAL' };
  // Copy on write: the config object may be shared with the listener and its other connections
  // (or the stack default), so this socket's change must not reach them.
  const cfg: TcpSocketConfig = { ...tcb.cfg, keepAlive: { ...tcb.cfg.keepAlive } };
  tcb.cfg = cfg;
  for (const k of Object.keys(o) as (keyof TcpSocketConfig)[]) {
    const v = o[k];
    if (v === undefined) continue;
    if (k === 'keepAlive') cfg.keepAlive = { ...cfg.keepAlive, ...(v as Partial<TcpSocketConfig['keepAlive']>) };
    else (cfg as unknown as Record<string, unknown>)[k] = v;
  }
  // Optional settings turned off are left out, not kept as null (api.ts md5Key, udpEncapPort).
  if (cfg.md5Key === null) delete cfg.md5Key;
  if (cfg.udpEncapPort === null) delete cfg.udpEncapPort;
  if (o.cc !== undefined && o.cc !== tcb.cc.algo) {
    tcb.cc.algo = o.cc;
    tcb.cc.epochStart = null;
  }
  if (o.mss !== undefined || o.mtu !== undefined || o.md5Key !== undefined) updateMss(tcb);
  if (o.keepAlive !== undefined) {
    tcb.timers.keepalive = cfg.keepAlive.enabled && synchronized(tcb.state) ? now + cfg.keepAlive.idle : null;
    tcb.keepProbes = 0;
  }
  // A new connection-establishment timeout runs from now (as BSD's TCP_KEEPINIT re-arms its timer).
  if (o.connectTimeout !== undefined && tcb.listener === null && (tcb.state === 'SYN-SENT' || tcb.state === 'SYN-RECEIVED')) {
    tcb.timers.close = cfg.connectTimeout === null ? null : now + cfg.connectTimeout;
  }
  if (o.noDelay === true && synchronized(tcb.state)) output(tcb, io, now);
  if (o.rcvBuf !== undefined && synchronized(tcb.state) && windowUpdateDue(tcb)) sendAck(tcb, io, now);
  if (o.sndBuf !== undefined && tcb.wantWrite && tcb.sndQLen < cfg.sndBuf && tcb.app === 'open') {
    tcb.wantWrite = false;
    emitEvent(io, { type: 'writable', id: tcb.id });
  }
  return { ok: true };
}
