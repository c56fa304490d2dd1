// The SCTP dispatcher: packets in (RFC 9260 §8.4 out-of-the-blue packets, §8.5 verification
// tags, §3.2 chunk processing with the upper-two-bits rules, §6.10 bundling rules), timers, and
// the user primitives of §10.1 (ASSOCIATE, SEND, RECEIVE, SHUTDOWN, ABORT, SET PRIMARY).
import { canonicalIp } from '../wire/addr.ts';
import {
  CHUNK_T, SCTP_CHUNK_TYPE, abortChunk, noUserDataCause, parseSctp, sctpChunkBytes, sctpUnrecognizedAction,
  shutdownCompleteChunk, errorChunk, heartbeatAckChunk, unrecognizedChunkCause,
  type SctpChunk, type SctpErrorCause, type SctpPacket,
} from '../wire/sctp.ts';
import { keyedHash32 } from '../crypto.ts';
import { plainBytes } from '../wire/bytes.ts';
import { defaultSctpAssocConfig, type Assoc } from './assoc.ts';
import { decodeCookie } from './cookie.ts';
import { afterRead, onData, onForwardTsn, ourRwnd, sackTiming } from './data.ts';
import type {
  AssocId, Ms, SctpAssocInfo, SctpEvent, SctpResultOf, SctpStackConfig, SctpStepResult, SctpErrorCode,
} from './events.ts';
import {
  assocConfig, failAssoc, onCookieAck, onCookieEchoListen, onCookieEchoWithTcb, onInitAck, onInitListen,
  onInitWithTcb, onStaleCookie, readInitParams, sendRaw, startAssociation,
} from './init.ts';
import { ccOnPmtu } from './cc.ts';
import { onHeartbeatAck, pathIndex } from './path.ts';
import { onSack } from './sack.ts';
import { output, queueMessage } from './send.ts';
import {
  abortAssoc, eofCheck, onAbort, onShutdown, onShutdownAck, onShutdownComplete, shutdownProgress, shutdownSentData,
  userAbort, userShutdown,
} from './shutdown.ts';
import { count, deriveCookieKey, emitEvent, remoteKey, type SctpIo, type SctpListener, type SctpStackState } from './state.ts';
import { assocTimers, refreshDeadline, shiftAssocTimes } from './timers.ts';

/** Stack-wide defaults for the given addresses. */
export function defaultSctpStackConfig(addresses: string[]): SctpStackConfig {
  return { addresses, assoc: defaultSctpAssocConfig(), udpEncapPort: 9899, ephemeralPorts: [49152, 65535], abortOotb: true };
}

/** A new SCTP stack. `secret` (>= 16 random bytes) comes from the driver; it is copied. */
export function createSctpStack(config: SctpStackConfig, secret: Uint8Array, now: Ms): SctpStackState {
  void now;
  const addresses: string[] = [];
  for (const a of config.addresses) {
    const c = canonicalIp(a);
    if (c === null) throw new RangeError(`createSctpStack: bad address ${a}`);
    addresses.push(c);
  }
  const span = config.ephemeralPorts[1] - config.ephemeralPorts[0] + 1;
  return {
    v: 1,
    config: { ...config, addresses, assoc: { ...config.assoc }, ephemeralPorts: [config.ephemeralPorts[0], config.ephemeralPorts[1]] },
    secret: secret.slice(),
    cookieKey: deriveCookieKey(secret),
    rand: 0,
    assocs: {},
    byRemote: {},
    listeners: {},
    nextPort: keyedHash32(secret, new Uint8Array([0x53, 0x70])) % span,
    counters: {},
  };
}

/** The one entry point: feed an event, get SCTP packets to send, application events and the call's result. */
export function sctpStackStep<E extends SctpEvent>(st: SctpStackState, ev: E, now: Ms): SctpStepResult<SctpResultOf<E>> {
  const io: SctpIo = { out: [], events: [], st };
  const result = dispatch(st, ev, io, now) as SctpResultOf<E>;
  return { out: io.out, events: io.events, result };
}

/** The earliest deadline over every association, or null. */
export function sctpNextDeadline(st: SctpStackState): Ms | null {
  let d: Ms | null = null;
  for (const id in st.assocs) {
    const x = st.assocs[id]!.deadline;
    if (x !== null && (d === null || x < d)) d = x;
  }
  return d;
}

function dispatch(st: SctpStackState, ev: SctpEvent, io: SctpIo, now: Ms): unknown {
  switch (ev.type) {
    // plainBytes: a caller's Node Buffer becomes a plain Uint8Array view, so the `.slice()`
    // copies taken to own bytes are real copies (Buffer#slice is a view).
    case 'packet': packetIn(st, { ...ev, sctp: plainBytes(ev.sctp) }, io, now); return null;
    case 'tick': tick(st, io, now); return null;
    case 'listen': return listen(st, ev);
    case 'unlisten': return unlisten(st, ev.listener, io, now);
    case 'accept': return accept(st, ev.listener);
    case 'connect': return connect(st, ev, io, now);
    case 'icmp': icmpIn(st, ev, io, now); return null;
    default: break;
  }
  const a = st.assocs[ev.id];
  if (a === undefined || a.app === 'closed') return fail('EBADF');
  let r: unknown;
  switch (ev.type) {
    case 'send': r = userSend(a, { ...ev, data: plainBytes(ev.data) }, io, now); break;
    case 'recv': r = userRecv(a, io); break;
    case 'shutdown':
      if (a.state === 'CLOSED') { r = fail(a.closedCode ?? 'ENOTCONN'); break; }
      userShutdown(a);
      r = { ok: true };
      break;
    case 'abort':
      userAbort(a, io, ev.reason ?? new Uint8Array(0));
      release(st, a);
      return { ok: true };
    case 'close':
      if (a.state !== 'CLOSED') userAbort(a, io, new Uint8Array(0));
      release(st, a);
      return { ok: true };
    case 'set-primary': {
      const i = pathIndex(a, canonicalIp(ev.addr) ?? ev.addr);
      if (i < 0) { r = fail('EINVAL'); break; }
      a.primary = i;
      r = { ok: true };
      break;
    }
    case 'pmtu': {
      const i = pathIndex(a, canonicalIp(ev.addr) ?? ev.addr);
      if (i < 0) { r = fail('EINVAL'); break; }
      const p = a.paths[i]!;
      ccOnPmtu(p, Math.max(p.addr.includes(':') ? 1280 : 576, Math.min(ev.mtu, a.cfg.mtu)));
      r = { ok: true };
      break;
    }
  }
  finish(a, io, now);
  return r;
}

const fail = (code: SctpErrorCode) => ({ ok: false as const, code });

/** Forget an association the application is done with. */
function release(st: SctpStackState, a: Assoc): void {
  a.app = 'closed';
  if (a.state === 'CLOSED') delete st.assocs[a.id];
}

/** After anything happened to `a`: shutdown progress, eof, send, refresh its deadline. */
function finish(a: Assoc, io: SctpIo, now: Ms, fastRtx = false): void {
  if (a.state !== 'CLOSED') {
    shutdownProgress(a, now);
    output(a, io, now, fastRtx);
  }
  eofCheck(a, io);
  refreshDeadline(a);
}

// ------------------------------------------------------------------------------ timers

function tick(st: SctpStackState, io: SctpIo, now: Ms): void {
  for (const id of Object.keys(st.assocs)) {
    const a = st.assocs[id];
    if (a === undefined || a.deadline === null || a.deadline > now) continue;
    assocTimers(a, io, now);
    finish(a, io, now);
  }
}

// ------------------------------------------------------------------------------ user calls

function listen(st: SctpStackState, ev: Extract<SctpEvent, { type: 'listen' }>): unknown {
  const id = String(ev.port);
  if (id in st.listeners || ev.port <= 0 || ev.port > 65535) return fail(ev.port <= 0 || ev.port > 65535 ? 'EINVAL' : 'EADDRINUSE');
  let addrs: string[] | null = null;
  if (ev.addresses !== null) {
    addrs = [];
    for (const x of ev.addresses) {
      const c = canonicalIp(x);
      if (c === null || !st.config.addresses.includes(c)) return fail('EADDRNOTAVAIL');
      addrs.push(c);
    }
  }
  const l: SctpListener = { id, port: ev.port, addresses: addrs, backlog: Math.max(1, ev.backlog), acceptQ: [], options: { ...(ev.options ?? {}) } };
  st.listeners[id] = l;
  return { ok: true, listener: id };
}

function unlisten(st: SctpStackState, id: string, io: SctpIo, now: Ms): unknown {
  const l = st.listeners[id];
  if (l === undefined) return fail('EBADF');
  delete st.listeners[id];
  // Associations nobody accepted are aborted.
  for (const aid of l.acceptQ) {
    const a = st.assocs[aid];
    if (a === undefined) continue;
    a.app = 'closed';
    userAbort(a, io, new Uint8Array(0));
    finish(a, io, now);
    delete st.assocs[aid];
  }
  l.acceptQ = [];
  return { ok: true };
}

function accept(st: SctpStackState, id: string): unknown {
  const l = st.listeners[id];
  if (l === undefined) return fail('EBADF');
  const aid = l.acceptQ.shift();
  if (aid === undefined) return { ok: true, id: null };
  const a = st.assocs[aid];
  if (a !== undefined) a.app = 'open';
  return { ok: true, id: aid };
}

function connect(st: SctpStackState, ev: Extract<SctpEvent, { type: 'connect' }>, io: SctpIo, now: Ms): unknown {
  const remote: string[] = [];
  for (const r of ev.remote) {
    const c = canonicalIp(r);
    if (c === null) return fail('EINVAL');
    remote.push(c);
  }
  if (remote.length === 0 || ev.port <= 0 || ev.port > 65535) return fail('EINVAL');
  let locals: string[];
  if (ev.local === null) {
    locals = st.config.addresses;
  } else {
    locals = [];
    for (const x of ev.local) {
      const c = canonicalIp(x);
      if (c === null || !st.config.addresses.includes(c)) return fail('EADDRNOTAVAIL');
      locals.push(c);
    }
  }
  let port = ev.localPort;
  const taken = (p: number) => remote.some((r) => remoteKey(p, r, ev.port) in st.byRemote);
  if (port === null) {
    const [lo, hi] = st.config.ephemeralPorts;
    const span = hi - lo + 1;
    for (let k = 0; k < span; k++) {
      const cand = lo + ((st.nextPort + k) % span);
      if (!taken(cand) && !(String(cand) in st.listeners)) { port = cand; st.nextPort = (st.nextPort + k + 1) % span; break; }
    }
    if (port === null) return fail('EADDRINUSE');
  } else if (taken(port)) {
    return fail('EADDRINUSE');
  }
  const cfg = assocConfig(st.config.assoc, ev.options);
  const a = startAssociation(st, { localAddrs: locals, localPort: port, remote, port: ev.port, udpEncap: ev.udpEncap ?? null, cfg }, io, now);
  if (a === null) return fail('EADDRNOTAVAIL');
  refreshDeadline(a);
  return { ok: true, id: a.id };
}

function userSend(a: Assoc, ev: Extract<SctpEvent, { type: 'send' }>, io: SctpIo, now: Ms): unknown {
  if (a.state === 'CLOSED') return fail(a.closedCode ?? 'ENOTCONN');
  if (a.shutdownWanted || a.state === 'SHUTDOWN-PENDING' || a.state === 'SHUTDOWN-SENT' || a.state === 'SHUTDOWN-RECEIVED' || a.state === 'SHUTDOWN-ACK-SENT') return fail('EPIPE');
  const stream = ev.stream ?? 0;
  const maxStreams = a.outStreams > 0 ? a.outStreams : a.cfg.outStreams;
  if (ev.data.length === 0 || !Number.isInteger(stream) || stream < 0 || stream >= maxStreams) return fail('EINVAL');
  // Messages are taken whole: one that does not fit waits for 'writable' (an empty buffer takes any size).
  if (a.sndBufUsed > 0 && a.sndBufUsed + ev.data.length > a.cfg.sndBuf) {
    a.wantWritable = true;
    return fail('EAGAIN');
  }
  const msg = queueMessage(a, ev.data, {
    stream, ppid: ev.ppid ?? 0, unordered: ev.unordered ?? false, ttl: ev.ttl ?? null, maxRetransmits: ev.maxRetransmits ?? null,
  }, now);
  void io;
  return { ok: true, msg };
}

function userRecv(a: Assoc, io: SctpIo): unknown {
  const m = a.readQ.shift();
  if (m === undefined) {
    const eof = a.peerShutdown || a.state === 'CLOSED';
    return { ok: true, message: null, eof };
  }
  a.rcvBufUsed -= m.data.length;
  if (a.state !== 'CLOSED') afterRead(a);
  void io;
  return { ok: true, message: { data: m.data, stream: m.stream, ppid: m.ppid, unordered: m.unordered }, eof: false };
}

// ------------------------------------------------------------------------------ input

function packetIn(st: SctpStackState, ev: Extract<SctpEvent, { type: 'packet' }>, io: SctpIo, now: Ms): void {
  count(io, 'sctp-in');
  if (!st.config.addresses.includes(ev.dst)) { count(io, 'sctp-not-local'); return; }
  // RFC 6951 §5.3: encapsulated packets must be addressed to our encapsulation port.
  if (ev.encap !== null && ev.encap.dstPort !== st.config.udpEncapPort) { count(io, 'sctp-bad-encap-port'); return; }
  const p = parseSctp(ev.sctp, { verifyChecksum: true });
  if (!p.ok) { count(io, `sctp-${p.error}`); return; }
  const pkt = p.value;
  // §6.10: INIT, INIT ACK and SHUTDOWN COMPLETE are never bundled; such a packet is discarded.
  if (pkt.chunks.length > 1 && pkt.chunks.some((c) => c.type === 'INIT' || c.type === 'INIT-ACK' || c.type === 'SHUTDOWN-COMPLETE')) {
    count(io, 'sctp-bad-bundle');
    return;
  }
  if (pkt.srcPort === 0 || pkt.dstPort === 0) { count(io, 'sctp-port-zero'); return; }
  // §8.5.1 A: a packet with Verification Tag 0 may carry only an INIT.
  if (pkt.verificationTag === 0 && pkt.chunks[0]!.type !== 'INIT') { count(io, 'sctp-zero-vtag'); return; }
  const a = findAssoc(st, pkt, ev.src);
  if (a !== null) {
    assocPacket(a, pkt, ev, io, now);
    return;
  }
  noAssoc(st, pkt, ev, io, now);
}

/** The association a packet belongs to: by source address, or for INIT / INIT ACK / COOKIE ECHO by the addresses they list (§5.2). */
function findAssoc(st: SctpStackState, pkt: SctpPacket, src: string): Assoc | null {
  const a = byRemote(st, pkt, src);
  if (a !== null) return a;
  const first = pkt.chunks[0]!;
  // An INIT ACK may come from another of the peer's addresses than the one our INIT went to
  // (usrsctp picks its source among all its addresses); it lists that one (§5.1.2 C), so it
  // is found the way Linux finds it (__sctp_rcv_init_ack_lookup). Its tag is checked later.
  if (first.type === 'INIT' || first.type === 'INIT-ACK') {
    for (const x of readInitParams(first.params).addrs) { const b = byRemote(st, pkt, x); if (b !== null) return b; }
  } else if (first.type === 'COOKIE-ECHO') {
    const ck = decodeCookie(first.cookie, st.cookieKey);
    if (typeof ck !== 'string') for (const x of [ck.src, ...ck.peerAddrs]) { const b = byRemote(st, pkt, x); if (b !== null) return b; }
  }
  return null;
}

/** The association of `pkt`'s ports with peer address `addr` (a module function: no closure per packet). */
function byRemote(st: SctpStackState, pkt: SctpPacket, addr: string): Assoc | null {
  const id = st.byRemote[remoteKey(pkt.dstPort, addr, pkt.srcPort)];
  return id === undefined ? null : st.assocs[id] ?? null;
}

type PacketEv = Extract<SctpEvent, { type: 'packet' }>;

/** §8.4: a packet for no association (or a listener's INIT / COOKIE ECHO). */
function noAssoc(st: SctpStackState, pkt: SctpPacket, ev: PacketEv, io: SctpIo, now: Ms): void {
  const first = pkt.chunks[0]!;
  const l = st.listeners[String(pkt.dstPort)];
  const listening = l !== undefined && (l.addresses === null || l.addresses.includes(ev.dst));
  const reply = (vtag: number, chunks: SctpChunk[]) => sendRaw(io, ev.dst, ev.src, pkt.dstPort, pkt.srcPort, vtag, chunks, ev.encap);
  switch (first.type) {
    case 'INIT':
      // §8.5.1 A: the packet carrying INIT has Verification Tag 0.
      if (pkt.verificationTag !== 0) { count(io, 'sctp-init-bad-vtag'); return; }
      if (listening) { onInitListen(st, l, first, ev.src, ev.dst, pkt.srcPort, ev.encap, io, now); return; }
      // §8.4 rule 3: an INIT we cannot accept: ABORT with the Initiate Tag, T bit clear.
      count(io, 'sctp-ootb-init');
      if (st.config.abortOotb && first.initiateTag !== 0) reply(first.initiateTag, [abortChunk([], false)]);
      return;
    case 'COOKIE-ECHO':
      if (listening) {
        const a = onCookieEchoListen(st, l, first, pkt.verificationTag, ev.src, ev.dst, pkt.srcPort, ev.encap, io, now);
        if (a !== null) {
          chunkLoop(a, pkt, ev, 1, io, now);
        }
        return;
      }
      break;
    case 'ABORT': count(io, 'sctp-ootb-abort'); return;           // rule 2
    case 'SHUTDOWN-COMPLETE': count(io, 'sctp-ootb-sc'); return;  // rule 6
    case 'COOKIE-ACK': count(io, 'sctp-ootb'); return;            // rule 7
    case 'SHUTDOWN-ACK':
      // Rule 5: SHUTDOWN COMPLETE with the T bit, reflecting the packet's tag.
      count(io, 'sctp-ootb-shutdown-ack');
      reply(pkt.verificationTag, [shutdownCompleteChunk(true)]);
      return;
    case 'ERROR':
      if (first.causes.some((c) => c.type === 'stale-cookie')) { count(io, 'sctp-ootb'); return; } // rule 7
      break;
    default: break;
  }
  // Rule 2: never answer a packet containing an ABORT. Rule 8: otherwise ABORT with the T bit.
  count(io, 'sctp-ootb');
  if (pkt.chunks.some((c) => c.type === 'ABORT')) return;
  if (st.config.abortOotb) reply(pkt.verificationTag, [abortChunk([], true)]);
}

/** §8.5.1 B, C: ABORT and SHUTDOWN COMPLETE carry our tag, or (T bit set) the peer's. */
const reflectedTagOk = (a: Assoc, c: { flags: number }, vtag: number): boolean =>
  (c.flags & CHUNK_T) ? vtag === a.peerVtag && a.peerVtag !== 0 : vtag === a.myVtag;

function assocPacket(a: Assoc, pkt: SctpPacket, ev: PacketEv, io: SctpIo, now: Ms): void {
  const first = pkt.chunks[0]!;
  const vtag = pkt.verificationTag;
  a.stats.packetsReceived++;
  let start = 0;
  switch (first.type) {
    case 'INIT':
      if (vtag !== 0) { count(io, 'sctp-init-bad-vtag'); return; }
      count(io, 'sctp-init-with-tcb');
      onInitWithTcb(a, first, ev.src, ev.dst, ev.encap, io, now);
      finish(a, io, now);
      return;
    case 'COOKIE-ECHO':
      // §8.5.1 D: the cookie decides (§5.2.4).
      if (!onCookieEchoWithTcb(a, first, vtag, ev.src, ev.dst, pkt.srcPort, ev.encap, io, now)) { finish(a, io, now); return; }
      start = 1;
      break;
    case 'ABORT':
      if (!reflectedTagOk(a, first, vtag)) { count(io, 'sctp-bad-vtag'); return; }
      count(io, 'sctp-abort-rcvd');
      onAbort(a, io);
      finish(a, io, now);
      return;
    case 'SHUTDOWN-COMPLETE':
      if (!reflectedTagOk(a, first, vtag)) { count(io, 'sctp-bad-vtag'); return; }
      count(io, 'sctp-shutdown-complete-rcvd');
      onShutdownComplete(a, io);
      finish(a, io, now);
      return;
    case 'SHUTDOWN-ACK':
      // §8.5.1 E: in COOKIE-WAIT / COOKIE-ECHOED, a SHUTDOWN ACK is out of the blue (§8.4 rule 5).
      if (a.state === 'COOKIE-WAIT' || a.state === 'COOKIE-ECHOED') {
        count(io, 'sctp-ootb-shutdown-ack');
        sendRaw(io, ev.dst, ev.src, pkt.dstPort, pkt.srcPort, vtag, [shutdownCompleteChunk(true)], ev.encap);
        return;
      }
      break;
    default: break;
  }
  // §8.5: every other packet must carry our tag.
  if (start === 0 && vtag !== a.myVtag) { count(io, 'sctp-bad-vtag'); return; }
  chunkLoop(a, pkt, ev, start, io, now);
}

/** §3.2: process the chunks of a packet for `a` in order, from index `start`. */
function chunkLoop(a: Assoc, pkt: SctpPacket, ev: PacketEv, start: number, io: SctpIo, now: Ms): void {
  const vtag = pkt.verificationTag;
  count(io, 'sctp-to-assoc');
  const from = pathIndex(a, ev.src);
  if (from >= 0) {
    const p = a.paths[from]!;
    // RFC 6951 §5.4: follow the peer's UDP source port.
    p.udpPort = ev.encap === null ? null : ev.encap.srcPort;
    a.replyPath = from;
  }
  const replyTo = from >= 0 ? from : a.primary;
  // §6.2/§6.7: while there are gaps, and for the packet that fills the last one, SACK at once.
  const hadGaps = a.rcvRanges.length > 0;
  let hadData = false, fastRtx = false;
  const report: SctpErrorCause[] = [];
  loop: for (let i = start; i < pkt.chunks.length; i++) {
    const c = pkt.chunks[i]!;
    if (a.state === 'CLOSED') break;
    switch (c.type) {
      case 'DATA': {
        // §9.2: after the peer's SHUTDOWN no new DATA may come; before COOKIE ACK none can.
        if (!(a.state === 'ESTABLISHED' || a.state === 'SHUTDOWN-PENDING' || a.state === 'SHUTDOWN-SENT')) { count(io, 'sctp-data-bad-state'); break; }
        hadData = true;
        const r = onData(a, c, replyTo, io, now);
        if (r === 'abort') {
          // §6.2: "No User Data" ABORT.
          abortAssoc(a, io, 'ECONNABORTED', [noUserDataCause(c.tsn)]);
          break loop;
        }
        break;
      }
      case 'SACK':
        if (a.state === 'COOKIE-WAIT' || a.state === 'COOKIE-ECHOED') break;
        if (onSack(a, c, io, now)) fastRtx = true;
        break;
      case 'HEARTBEAT':
        // §8.3: answered to the address it came from, parameters unchanged.
        if (from >= 0) a.ctrl.push({ path: from, chunk: heartbeatAckChunk(c.params) });
        else sendRaw(io, ev.dst, ev.src, pkt.dstPort, pkt.srcPort, a.peerVtag, [heartbeatAckChunk(c.params)], ev.encap);
        break;
      case 'HEARTBEAT-ACK':
        onHeartbeatAck(a, c.params, io, now);
        break;
      case 'ABORT':
        if (!reflectedTagOk(a, c, vtag)) break;
        onAbort(a, io);
        break loop;
      case 'SHUTDOWN':
        onShutdown(a, c.cumTsnAck, io, now);
        break;
      case 'SHUTDOWN-ACK':
        onShutdownAck(a, io); // ends the association in SHUTDOWN-SENT / SHUTDOWN-ACK-SENT, else ignored
        break;
      case 'ERROR': {
        const names = c.causes.map((x) => (x.type === 'unknown' ? `cause-${x.code}` : x.type));
        const stale = c.causes.find((x) => x.type === 'stale-cookie');
        if (stale !== undefined && stale.type === 'stale-cookie' && a.state === 'COOKIE-ECHOED') { onStaleCookie(a, stale.staleness, io, now); break; }
        // An unrecognized FORWARD TSN means the peer has no PR-SCTP after all (RFC 3758 §3.3).
        if (c.causes.some((x) => x.type === 'unrecognized-chunk-type' && x.chunk[0] === 0xc0)) a.peerPrSctp = false;
        emitEvent(io, { type: 'remote-error', id: a.id, causes: names });
        break;
      }
      case 'COOKIE-ACK':
        onCookieAck(a, io, now);
        break;
      case 'INIT-ACK':
        if (a.state === 'COOKIE-WAIT' && vtag === a.myVtag) onInitAck(a, c, ev.src, io, now);
        else count(io, 'sctp-unexpected-init-ack'); // §5.2.3
        break;
      case 'FORWARD-TSN':
        if (!(a.state === 'ESTABLISHED' || a.state === 'SHUTDOWN-PENDING' || a.state === 'SHUTDOWN-SENT')) break;
        hadData = true;
        onForwardTsn(a, c, io);
        break;
      case 'INIT': case 'COOKIE-ECHO': case 'SHUTDOWN-COMPLETE':
        break; // only meaningful first / alone; handled above
      default: {
        // §3.2: chunk types we do not implement (including I-DATA, AUTH, ASCONF, RE-CONFIG,
        // I-FORWARD-TSN, PAD), by their upper two bits.
        const t = c.type === 'unknown' ? c.chunkType : SCTP_CHUNK_TYPE[c.type];
        const act = sctpUnrecognizedAction(t, 8);
        count(io, `sctp-unrecognized-chunk-${t}`);
        if (act === 'stop-report' || act === 'skip-report') report.push(unrecognizedChunkCause(sctpChunkBytes(c)));
        if (act === 'stop' || act === 'stop-report') break loop;
        break;
      }
    }
  }
  if (a.state !== 'CLOSED') {
    if (report.length > 0) a.ctrl.push({ path: replyTo, chunk: errorChunk(report) });
    if (hadData) {
      a.pktsUnacked++;
      if (hadGaps) a.sackNow = true;
      sackTiming(a, now);
      shutdownSentData(a, now);
    }
  }
  finish(a, io, now, fastRtx);
}

// ------------------------------------------------------------------------------ ICMP

/** RFC 9260 Appendix C: an ICMP error quoting one of our packets. */
function icmpIn(st: SctpStackState, ev: Extract<SctpEvent, { type: 'icmp' }>, io: SctpIo, now: Ms): void {
  const q = ev.quoted;
  if (q.length < 8) { count(io, 'sctp-icmp-short'); return; }
  const dv = new DataView(q.buffer, q.byteOffset, q.length);
  const srcPort = dv.getUint16(0), dstPort = dv.getUint16(2), vtag = dv.getUint32(4);
  const id = st.byRemote[remoteKey(srcPort, canonicalIp(ev.remote) ?? ev.remote, dstPort)];
  const a = id === undefined ? undefined : st.assocs[id];
  if (a === undefined) { count(io, 'sctp-icmp-no-assoc'); return; }
  // ICMP5: the quoted tag must be the peer's; a quoted INIT (tag 0) must carry our Initiate Tag.
  const initQuoted = vtag === 0 && q.length >= 20 && q[12] === 1 && dv.getUint32(16) === a.myVtag;
  if (vtag !== a.peerVtag && !initQuoted) { count(io, 'sctp-icmp-bad-vtag'); return; }
  if (ev.kind === 'frag-needed') {
    // ICMP3/§7.3: a smaller path MTU; later DATA is fragmented to fit (the RFC lets chunks
    // already carrying a TSN go out as they are).
    const pi = pathIndex(a, canonicalIp(ev.remote) ?? ev.remote);
    if (pi < 0 || ev.mtu === null) return;
    const p = a.paths[pi]!;
    const floor = p.addr.includes(':') ? 1280 : 576;
    if (ev.mtu < p.pmtu) ccOnPmtu(p, Math.max(floor, ev.mtu));
    count(io, 'sctp-icmp-pmtu');
    return;
  }
  // ICMP7 (and RFC 6951 §5.5 for UDP): unreachable while our INIT is out: treat it as an ABORT.
  if (a.state === 'COOKIE-WAIT' && initQuoted) {
    failAssoc(a, io, 'ECONNREFUSED');
    finish(a, io, now);
    return;
  }
  count(io, 'sctp-icmp-ignored'); // ICMP6: otherwise ignored (heartbeats and T3 find dead paths)
}

// ------------------------------------------------------------------------------ diagnostics

/** A snapshot of one association (null when unknown). */
export function sctpAssocInfo(st: SctpStackState, id: AssocId): SctpAssocInfo | null {
  const a = st.assocs[id];
  if (a === undefined) return null;
  return {
    id: a.id, state: a.state, localAddrs: [...a.localAddrs], localPort: a.localPort, remotePort: a.remotePort,
    paths: a.paths.map((p) => ({ addr: p.addr, local: p.local, active: p.active, confirmed: p.confirmed, cwnd: p.cwnd, ssthresh: p.ssthresh, flight: p.flight, srtt: p.srtt, rto: p.rto, pmtu: p.pmtu, udpPort: p.udpPort })),
    primary: a.paths[a.primary]?.addr ?? '',
    outStreams: a.outStreams, inStreams: a.inStreams, peerRwnd: a.peerRwnd, ourRwnd: ourRwnd(a),
    sndBufUsed: a.sndBufUsed, rcvBufUsed: a.rcvBufUsed, unread: a.readQ.length, peerPrSctp: a.peerPrSctp,
    stats: { ...a.stats },
  };
}

/** Shift every time in the stack by `d` ms (resume on a host whose clock differs; see shiftAssocTimes). */
export function sctpShiftClock(st: SctpStackState, d: Ms): void {
  for (const id in st.assocs) shiftAssocTimes(st.assocs[id]!, d);
}

/** Ids of every association (for diagnostics and the socket layer). */
export const sctpAssocIds = (st: SctpStackState): AssocId[] => Object.keys(st.assocs);
