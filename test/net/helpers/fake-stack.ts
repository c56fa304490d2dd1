// A stand-in for stack/stack.ts with the same contract (stack/api.ts) and a trivial wire
// format instead of IP/TCP: reliable in-order links only (memlink), flow control by an
// advertised window that follows unread data, send buffer limits, FIN/RST semantics as
// documented in api.ts. It lets the socket layer (tun/net.ts) be tested on its own, so a
// failure in test/net points at the socket layer or at the real stack, not both at once.

import type {
  AppEvent, ConnId, ConnInfo, ErrorCode, Ms, StackConfig, StackEvent, StepResult,
} from '../../../stack/api.ts';

interface Conn {
  id: ConnId; state: ConnInfo['state'];
  local: string; lport: number; remote: string; rport: number;
  listener: string | null;
  unread: Uint8Array[]; unreadLen: number;
  unsent: Uint8Array[]; unsentLen: number; inflight: number;
  peerWnd: number; advWnd: number;
  finQueued: boolean; finSent: boolean; finAcked: boolean; peerFin: boolean; eofSent: boolean;
  wantWritable: boolean; appClosed: boolean; over: boolean;
  bytesRead: number; bytesWritten: number;
  rcvBuf: number; sndBuf: number; noDelay: boolean;
}

export interface FakeState {
  cfg: StackConfig;
  conns: Record<ConnId, Conn>;
  listeners: Record<string, { backlog: number; queue: ConnId[]; rcvBuf: number; sndBuf: number }>;
  nextPort: number;
}

type Msg = { k: 'syn' | 'synack' | 'data' | 'ack' | 'fin' | 'rst'; src: string; sp: number; dst: string; dp: number; wnd: number; ack: number };

const enc = new TextEncoder(), dec = new TextDecoder();
function pkt(m: Msg, payload?: Uint8Array): Uint8Array {
  const h = enc.encode(JSON.stringify(m));
  const out = new Uint8Array(2 + h.length + (payload?.length ?? 0));
  out[0] = h.length >> 8; out[1] = h.length & 0xff;
  out.set(h, 2);
  if (payload) out.set(payload, 2 + h.length);
  return out;
}
function unpkt(b: Uint8Array): { m: Msg; payload: Uint8Array } {
  const n = (b[0]! << 8) | b[1]!;
  return { m: JSON.parse(dec.decode(b.subarray(2, 2 + n))) as Msg, payload: b.subarray(2 + n) };
}

const MSS = 1400;

export function fakeCreateStack(cfg: StackConfig, _secret: Uint8Array, _now: Ms): FakeState {
  return { cfg, conns: {}, listeners: {}, nextPort: cfg.ephemeralPorts[0] };
}

export function fakeNextDeadline(_s: FakeState): Ms | null { return null; }

export function fakeConnInfo(s: FakeState, id: ConnId): ConnInfo | null {
  const c = s.conns[id];
  if (!c) return null;
  return {
    id, state: c.state, localAddr: c.local, localPort: c.lport, remoteAddr: c.remote, remotePort: c.rport,
    bytesInFlight: c.inflight, cwnd: 0, ssthresh: 0, srtt: null, rto: 1000, mss: MSS, sndWnd: c.peerWnd,
    rcvWnd: c.advWnd, sndBufUsed: c.unsentLen + c.inflight, sndBufSize: c.sndBuf, rcvBufUsed: c.unreadLen,
    rcvOooBytes: 0, rcvBufSize: c.rcvBuf, bytesRead: c.bytesRead, bytesWritten: c.bytesWritten, retransmits: 0,
    sackOk: false, tsOk: false, sndWscale: 0, rcvWscale: 0, cc: 'newreno', noDelay: c.noDelay,
  };
}

export function fakeStep(s: FakeState, ev: StackEvent, _now: Ms): StepResult<unknown> {
  const out: Uint8Array[] = [];
  const events: AppEvent[] = [];
  const msg = (c: Conn, k: Msg['k'], payload?: Uint8Array, ack = 0) =>
    out.push(pkt({ k, src: c.local, sp: c.lport, dst: c.remote, dp: c.rport, wnd: c.advWnd = c.rcvBuf - c.unreadLen, ack }, payload));
  const fail = (code: ErrorCode) => ({ ok: false as const, code });
  const end = (c: Conn, err: ErrorCode | null) => {
    if (c.over) return;
    c.over = true; c.state = 'CLOSED';
    if (err) events.push({ type: 'error', id: c.id, code: err });
    events.push({ type: 'closed', id: c.id });
  };
  const pump = (c: Conn) => {
    while (c.unsentLen > 0 && c.peerWnd - c.inflight > 0) {
      const room = Math.min(MSS, c.peerWnd - c.inflight);
      const first = c.unsent[0]!;
      const n = Math.min(room, first.length);
      const chunk = first.subarray(0, n);
      if (n === first.length) c.unsent.shift(); else c.unsent[0] = first.subarray(n);
      c.unsentLen -= n; c.inflight += n;
      msg(c, 'data', chunk);
    }
    if (c.finQueued && !c.finSent && c.unsentLen === 0) {
      c.finSent = true;
      c.state = c.peerFin ? 'LAST-ACK' : 'FIN-WAIT-1';
      msg(c, 'fin');
    }
  };
  const maybeClosed = (c: Conn) => {
    if (c.finAcked && c.peerFin && c.unreadLen === 0 && !c.appClosed) { /* wait for the app to read eof */ }
    if (c.finAcked && c.peerFin) end(c, null);
  };
  let result: unknown = null;
  switch (ev.type) {
    case 'tick': break;
    case 'listen': {
      const lid = `${ev.addr ?? '*'}|${ev.port}`;
      const clash = Object.keys(s.listeners).some((k) => k.endsWith(`|${ev.port}`));
      if (clash) { result = fail('EADDRINUSE'); break; }
      s.listeners[lid] = { backlog: ev.backlog, queue: [], rcvBuf: ev.options?.rcvBuf ?? s.cfg.tcp.rcvBuf, sndBuf: ev.options?.sndBuf ?? s.cfg.tcp.sndBuf };
      result = { ok: true, listener: lid };
      break;
    }
    case 'unlisten': delete s.listeners[ev.listener]; result = { ok: true }; break;
    case 'accept': {
      const l = s.listeners[ev.listener];
      result = l ? { ok: true, id: l.queue.shift() ?? null } : fail('EINVAL');
      break;
    }
    case 'connect': {
      const local = ev.local ?? s.cfg.addresses[0]!;
      const lport = ev.localPort ?? s.nextPort++;
      const id = `${local}|${lport}|${ev.remote}|${ev.port}`;
      const c = newConn(s, id, local, lport, ev.remote, ev.port, null, ev.options?.rcvBuf ?? s.cfg.tcp.rcvBuf, ev.options?.sndBuf ?? s.cfg.tcp.sndBuf);
      c.state = 'SYN-SENT';
      msg(c, 'syn');
      result = { ok: true, id };
      break;
    }
    case 'send': {
      const c = s.conns[ev.id];
      if (!c || c.over) { result = fail('EPIPE'); break; }
      if (c.finQueued) { result = fail('EPIPE'); break; }
      const room = Math.max(0, c.sndBuf - c.unsentLen - c.inflight);
      const n = Math.min(room, ev.data.length);
      if (n > 0) { c.unsent.push(ev.data.slice(0, n)); c.unsentLen += n; c.bytesWritten += n; }
      if (n < ev.data.length) c.wantWritable = true;
      if (c.state !== 'SYN-SENT') pump(c);
      result = { ok: true, bytes: n };
      break;
    }
    case 'recv': {
      const c = s.conns[ev.id];
      // After 'closed' the unread bytes can still be taken (what api.ts leaves open).
      if (!c || (c.over && c.unreadLen === 0)) { result = fail('ENOTCONN'); break; }
      const parts: Uint8Array[] = [];
      let n = 0;
      while (c.unread.length > 0 && n < ev.max) {
        const f = c.unread[0]!;
        const take = Math.min(f.length, ev.max - n);
        parts.push(f.subarray(0, take));
        if (take === f.length) c.unread.shift(); else c.unread[0] = f.subarray(take);
        n += take;
      }
      const data = new Uint8Array(n);
      let o = 0;
      for (const p of parts) { data.set(p, o); o += p.length; }
      const wasZero = c.advWnd < MSS;
      c.unreadLen -= n; c.bytesRead += n;
      const eof = c.peerFin && c.unreadLen === 0;
      if (n > 0 && wasZero) msg(c, 'ack');
      if (eof && !c.eofSent && n > 0) { c.eofSent = true; }
      result = { ok: true, data, eof };
      break;
    }
    case 'shutdown': case 'close': {
      const c = s.conns[ev.id];
      if (!c || c.over) { result = fail('ENOTCONN'); break; }
      if (ev.type === 'close') {
        c.appClosed = true;
        if (c.unreadLen > 0) { msg(c, 'rst'); end(c, null); delete s.conns[c.id]; result = { ok: true }; break; }
      }
      c.finQueued = true;
      if (c.state !== 'SYN-SENT') pump(c);
      result = { ok: true };
      break;
    }
    case 'abort': {
      const c = s.conns[ev.id];
      if (!c || c.over) { result = fail('ENOTCONN'); break; }
      msg(c, 'rst'); end(c, null); delete s.conns[c.id];
      result = { ok: true };
      break;
    }
    case 'set-option': {
      const c = s.conns[ev.id];
      if (!c) { result = fail('ENOTCONN'); break; }
      if (ev.options.noDelay !== undefined) c.noDelay = ev.options.noDelay;
      result = { ok: true };
      break;
    }
    case 'packet': {
      const { m, payload } = unpkt(ev.data);
      const id = `${m.dst}|${m.dp}|${m.src}|${m.sp}`;
      let c = s.conns[id];
      if (m.k === 'syn') {
        const lid = Object.keys(s.listeners).find((k) => k.endsWith(`|${m.dp}`));
        const l = lid ? s.listeners[lid] : undefined;
        if (!l || !lid) { out.push(pkt({ k: 'rst', src: m.dst, sp: m.dp, dst: m.src, dp: m.sp, wnd: 0, ack: 0 })); break; }
        c = newConn(s, id, m.dst, m.dp, m.src, m.sp, lid, l.rcvBuf, l.sndBuf);
        c.peerWnd = m.wnd; c.state = 'ESTABLISHED';
        msg(c, 'synack');
        l.queue.push(id);
        events.push({ type: 'accept-ready', listener: lid, id });
        break;
      }
      if (!c || c.over) { if (m.k !== 'rst') out.push(pkt({ k: 'rst', src: m.dst, sp: m.dp, dst: m.src, dp: m.sp, wnd: 0, ack: 0 })); break; }
      if (m.k === 'rst') {
        const refused = c.state === 'SYN-SENT';
        end(c, refused ? 'ECONNREFUSED' : 'ECONNRESET');
        delete s.conns[c.id];
        break;
      }
      c.peerWnd = m.wnd;
      if (m.k === 'synack') { c.state = 'ESTABLISHED'; events.push({ type: 'connected', id }); pump(c); break; }
      if (m.k === 'data') {
        if (c.appClosed) { msg(c, 'rst'); end(c, null); delete s.conns[c.id]; break; }
        c.unread.push(payload.slice()); c.unreadLen += payload.length;
        msg(c, 'ack', undefined, payload.length);
        events.push({ type: 'readable', id });
        break;
      }
      if (m.k === 'ack') {
        c.inflight -= m.ack;
        if (m.ack === -1) { c.finAcked = true; if (c.state === 'FIN-WAIT-1') c.state = 'FIN-WAIT-2'; }
        pump(c);
        if (c.wantWritable && c.unsentLen + c.inflight < c.sndBuf) { c.wantWritable = false; events.push({ type: 'writable', id }); }
        if (c.finAcked && c.inflight === 0 && c.unsentLen === 0) events.push({ type: 'drained', id });
        maybeClosed(c);
        break;
      }
      if (m.k === 'fin') {
        c.peerFin = true;
        if (c.state === 'ESTABLISHED') c.state = 'CLOSE-WAIT';
        msg(c, 'ack', undefined, -1);
        events.push({ type: 'readable', id });
        maybeClosed(c);
        break;
      }
      break;
    }
  }
  return { out, events, result };
}

function newConn(s: FakeState, id: ConnId, local: string, lport: number, remote: string, rport: number, listener: string | null, rcvBuf: number, sndBuf: number): Conn {
  const c: Conn = {
    id, state: 'CLOSED', local, lport, remote, rport, listener, unread: [], unreadLen: 0, unsent: [], unsentLen: 0,
    inflight: 0, peerWnd: 0, advWnd: rcvBuf, finQueued: false, finSent: false, finAcked: false, peerFin: false,
    eofSent: false, wantWritable: false, appClosed: false, over: false, bytesRead: 0, bytesWritten: 0, rcvBuf, sndBuf, noDelay: false,
  };
  s.conns[id] = c;
  return c;
}
