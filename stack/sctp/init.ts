// Association initialization (RFC 9260 §5): the four-way handshake with a stateless State
// Cookie (§5.1, §5.1.3, §5.1.5), INIT parameters and the upper-two-bits rules for unknown ones
// (§3.2.1), stream negotiation (§5.1.1), address lists and path confirmation (§5.1.2, §5.4),
// and the collision and restart cases with tie-tags (§5.2.1-§5.2.6, Table 8).
import {
  abortChunk, cookieAckChunk, cookieEchoChunk, cookieWhileShuttingDownCause, emitSctp, errorChunk,
  forwardTsnSupportedParam, initAckChunk, initChunk, invalidMandatoryParameterCause, ipAddressParam,
  missingMandatoryParameterCause, outOfResourceCause, restartWithNewAddressesCause, sctpBufferLen,
  sctpParamBytes, sctpUnrecognizedAction, shutdownAckChunk, staleCookieCause, stateCookieParam,
  supportedAddressTypesParam, supportedExtensionsParam, unrecognizedParameterParam, unrecognizedParametersCause,
  unresolvableAddressCause, cookiePreservativeParam, SCTP_PARAM_TYPE,
  type SctpChunk, type SctpCookieEchoChunk, type SctpErrorCause, type SctpInitAckChunk, type SctpInitChunk, type SctpParam,
} from '../wire/sctp.ts';
import { concatBytes } from '../wire/bytes.ts';
import { ipToBytes } from '../wire/addr.ts';
import { defaultSctpAssocConfig, newPath, newStats, type Assoc, type SctpAssocConfig } from './assoc.ts';
import { decodeCookie, encodeCookie, type CookieData } from './cookie.ts';
import type { AssocId, Ms, SctpEncap, SctpErrorCode } from './events.ts';
import { hbSchedule, pathIndex, pickLocal } from './path.ts';
import { dropInvalidStreams, emitPacket } from './send.ts';
import { count, emitEvent, rand32, randNonZero, remoteKey, type SctpIo, type SctpListener, type SctpStackState } from './state.ts';

/** Chunk types we implement beyond RFC 9260, announced in Supported Extensions (RFC 5061 §4.2.7): FORWARD TSN. */
const OUR_EXTENSIONS = [0xc0];

/** Send a packet that belongs to no association (INIT ACK, OOTB answers): from `src` to `dst`. */
export function sendRaw(io: SctpIo, src: string, dst: string, srcPort: number, dstPort: number, vtag: number, chunks: SctpChunk[], encap: SctpEncap | null): void {
  const pkt = { srcPort, dstPort, verificationTag: vtag >>> 0, chunks };
  const buf = new Uint8Array(sctpBufferLen(pkt));
  emitSctp(pkt, buf);
  // A reply to an encapsulated packet goes back over UDP to the port it came from (RFC 6951 §5.4).
  io.out.push({ src, dst, sctp: buf, encap: encap === null ? null : { srcPort: io.st.config.udpEncapPort, dstPort: encap.srcPort } });
}

/** What the parameters of an INIT or INIT ACK say (§3.3.2.1, §3.3.3.1, RFC 3758 §3.1, RFC 5061 §4.2.7). */
export interface InitInfo {
  addrs: string[];
  prSctp: boolean;
  cookie: Uint8Array | null;
  cookiePreservative: number;
  /** Address families the peer supports (null: all, §3.3.2.1). */
  addrTypes: number[] | null;
  /** Unrecognized parameters to report (TLV bytes, §3.2.1 upper bits x1). */
  unrecognized: Uint8Array[];
  /** A Host Name Address parameter (deprecated; §3.3.2.1: answered with ABORT "Unresolvable Address"). */
  hostName: Uint8Array | null;
}

/** Parameters we understand; anything else follows its type bits (§3.2.1). AUTH (RFC 4895) and ECN are not implemented. */
const UNDERSTOOD = new Set<string>([
  'ipv4-address', 'ipv6-address', 'state-cookie', 'unrecognized-parameter', 'cookie-preservative',
  'host-name-address', 'supported-address-types', 'forward-tsn-supported', 'supported-extensions',
  'adaptation-layer-indication',
]);

/** Walk INIT / INIT ACK parameters (§3.2.1: unknown types by their upper two bits). */
export function readInitParams(params: SctpParam[]): InitInfo {
  const info: InitInfo = { addrs: [], prSctp: false, cookie: null, cookiePreservative: 0, addrTypes: null, unrecognized: [], hostName: null };
  for (const p of params) {
    if (!UNDERSTOOD.has(p.type)) {
      const t = p.type === 'unknown' ? p.paramType : SCTP_PARAM_TYPE[p.type];
      const act = sctpUnrecognizedAction(t, 16);
      if (act === 'stop-report' || act === 'skip-report') info.unrecognized.push(sctpParamBytes(p));
      if (act === 'stop' || act === 'stop-report') break; // §3.2.1 00/01: no further parameters are processed
      continue;
    }
    switch (p.type) {
      case 'ipv4-address': case 'ipv6-address': info.addrs.push(p.addr); break;
      case 'state-cookie': info.cookie = p.cookie; break;
      case 'cookie-preservative': info.cookiePreservative = p.increment; break;
      case 'host-name-address': info.hostName = sctpParamBytes(p); break;
      case 'supported-address-types': info.addrTypes = p.addressTypes; break;
      case 'forward-tsn-supported': info.prSctp = true; break;
      case 'supported-extensions': if (p.chunkTypes.includes(0xc0)) info.prSctp = true; break;
      default: break; // unrecognized-parameter reports (INIT ACK), adaptation layer indication: nothing to do
    }
  }
  return info;
}

/** §5.1.2: whether a peer address may be used: not unspecified, multicast or broadcast; loopback/link-local only from such a source. */
function usableAddr(a: string, src: string): boolean {
  const b = ipToBytes(a);
  if (b === null) return false;
  if (b.length === 4) {
    if (b[0] === 0 || b[0]! >= 224) return false;
    if (b[0] === 127) return src.startsWith('127.');
    return true;
  }
  if (b.every((x) => x === 0) || b[0] === 0xff) return false;
  const loop = b.slice(0, 15).every((x) => x === 0) && b[15] === 1;
  if (loop) return src === '::1';
  if (b[0] === 0xfe && (b[1]! & 0xc0) === 0x80) return src.startsWith('fe80:'); // link-local: scope unknown
  return true;
}

/** Our address list for INIT / INIT ACK (§3.3.2.1): every local address when multi-homed, filtered by the peer's supported types. */
function ourAddrParams(locals: string[], peerTypes: number[] | null): SctpParam[] {
  const ok = locals.filter((l) => peerTypes === null || peerTypes.includes(l.includes(':') ? 6 : 5));
  return ok.length > 1 ? ok.map(ipAddressParam) : [];
}

/** The INIT / INIT ACK parameters we always send. */
function ourParams(locals: string[], cfg: SctpAssocConfig, peerTypes: number[] | null, forInit: boolean): SctpParam[] {
  const ps = ourAddrParams(locals, peerTypes);
  // §3.3.2.1: Supported Address Types belongs to INIT only (it is not an INIT ACK parameter, §3.3.3).
  if (forInit) ps.push(supportedAddressTypesParam([...new Set(locals.map((l) => (l.includes(':') ? 6 : 5)))].sort()));
  if (cfg.prSctp) ps.push(forwardTsnSupportedParam(), supportedExtensionsParam(OUR_EXTENSIONS));
  return ps;
}

/** The local addresses of a listener's associations. */
export function listenerAddrs(st: SctpStackState, l: SctpListener): string[] {
  return l.addresses ?? st.config.addresses;
}

/** Peer paths from the INIT source and listed addresses: usable, with a local address of the same family. */
function peerPaths(src: string, listed: string[], locals: string[]): { addr: string; local: string }[] {
  const out: { addr: string; local: string }[] = [];
  for (const addr of [src, ...listed]) {
    if (out.some((x) => x.addr === addr)) continue;
    if (addr !== src && !usableAddr(addr, src)) continue;
    const local = pickLocal(locals, addr);
    if (local !== null) out.push({ addr, local });
  }
  return out;
}

/** A fresh association in `state` (no peer information yet unless given). */
export function newAssoc(st: SctpStackState, o: {
  id: AssocId; state: Assoc['state']; listener: string | null; localPort: number; remotePort: number; localAddrs: string[];
  cfg: SctpAssocConfig; myVtag: number; myInitialTsn: number; now: Ms;
}): Assoc {
  return {
    v: 1, id: o.id, state: o.state, app: o.listener === null ? 'open' : 'pending', listener: o.listener,
    localPort: o.localPort, remotePort: o.remotePort, localAddrs: o.localAddrs,
    myVtag: o.myVtag, peerVtag: 0, myTieTag: randNonZero(st), peerTieTag: randNonZero(st),
    cfg: o.cfg, paths: [], primary: 0, replyPath: 0,
    t1: null, initRetrans: 0, myInitialTsn: o.myInitialTsn, initParams: [], cookie: null, cookieCauses: [],
    outStreams: 0, inStreams: 0, peerPrSctp: false,
    peerRwnd: 0, peerArwnd: 0, nextTsn: o.myInitialTsn, cumAck: (o.myInitialTsn - 1) >>> 0,
    advPeerAckPoint: (o.myInitialTsn - 1) >>> 0, fwdTsn: false, outSsn: [], fragSsn: 0,
    pending: [], sent: [], rtxCount: 0, sndBufUsed: 0, nextMsg: 0, wantWritable: false,
    fastRecoveryExit: null, errors: 0, sackSeen: false,
    peerInitialTsn: 0, cumTsn: 0, rcvRanges: [], highestTsn: 0, dupTsns: [], reasm: [], held: [], readQ: [],
    inSsn: {}, rcvBufUsed: 0, lastArwnd: o.cfg.rcvBuf, sackAt: null, pktsUnacked: 0, sackNow: false,
    t2: null, t2Path: 0, t5: null, shutdownWanted: false, peerShutdown: false, eofSignalled: false, closedCode: null,
    deadline: null, ctrl: [], stats: newStats(),
  };
}

/** An association id not in use. */
export function freshId(st: SctpStackState, local: string, localPort: number, remote: string, remotePort: number): AssocId {
  const base = `${local}|${localPort}|${remote}|${remotePort}`;
  if (!(base in st.assocs)) return base;
  for (let n = 2; ; n++) if (!(`${base}#${n}` in st.assocs)) return `${base}#${n}`;
}

/** Register every peer address of `a` in the demux index. */
export function indexAssoc(st: SctpStackState, a: Assoc): void {
  for (const p of a.paths) st.byRemote[remoteKey(a.localPort, p.addr, a.remotePort)] = a.id;
}

/** Remove `a` from the demux index. */
export function unindexAssoc(st: SctpStackState, a: Assoc): void {
  for (const p of a.paths) {
    const k = remoteKey(a.localPort, p.addr, a.remotePort);
    if (st.byRemote[k] === a.id) delete st.byRemote[k];
  }
}

/** Fill in the peer side of `a` from INIT / INIT ACK / cookie fields (§5.1.1 stream negotiation). */
function setPeer(a: Assoc, f: { vtag: number; rwnd: number; os: number; mis: number; initialTsn: number; prSctp: boolean }): void {
  a.peerVtag = f.vtag;
  a.peerRwnd = f.rwnd;
  a.peerArwnd = f.rwnd;
  // §5.1.1: each side uses min(its requested OS, the peer's MIS) outbound streams.
  a.outStreams = Math.min(a.cfg.outStreams, f.mis);
  a.inStreams = Math.min(a.cfg.inStreams, f.os);
  a.outSsn = new Array<number>(a.outStreams).fill(0);
  a.peerPrSctp = f.prSctp && a.cfg.prSctp;
  a.peerInitialTsn = f.initialTsn;
  a.cumTsn = (f.initialTsn - 1) >>> 0;
  a.highestTsn = a.cumTsn;
}

// ---------------------------------------------------------------- active open (§5.1 A)

/** ASSOCIATE: create the association in COOKIE-WAIT and send INIT to the first remote address. */
export function startAssociation(st: SctpStackState, o: {
  localAddrs: string[]; localPort: number; remote: string[]; port: number; udpEncap: number | null; cfg: SctpAssocConfig;
}, io: SctpIo, now: Ms): Assoc | null {
  const primaryLocal = pickLocal(o.localAddrs, o.remote[0]!);
  if (primaryLocal === null) return null;
  const id = freshId(st, primaryLocal, o.localPort, o.remote[0]!, o.port);
  const a = newAssoc(st, {
    id, state: 'COOKIE-WAIT', listener: null, localPort: o.localPort, remotePort: o.port,
    localAddrs: [primaryLocal, ...o.localAddrs.filter((x) => x !== primaryLocal)], cfg: o.cfg,
    myVtag: randNonZero(st), myInitialTsn: rand32(st), now,
  });
  for (const r of o.remote) {
    const local = pickLocal(a.localAddrs, r);
    // Addresses given by the upper layer are trusted (confirmed, §5.4).
    if (local !== null && pathIndex(a, r) < 0) a.paths.push(newPath(r, local, o.udpEncap, o.cfg, true, now));
  }
  a.initParams = ourParams(a.localAddrs, o.cfg, null, true);
  st.assocs[a.id] = a;
  indexAssoc(st, a);
  sendInit(a, io, now);
  return a;
}

/** (Re)send our INIT (§5.1 A) and arm T1-init. */
export function sendInit(a: Assoc, io: SctpIo, now: Ms): void {
  const init = initChunk({
    initiateTag: a.myVtag, aRwnd: a.cfg.rcvBuf, outboundStreams: a.cfg.outStreams, inboundStreams: a.cfg.inStreams,
    initialTsn: a.myInitialTsn, params: a.initParams,
  });
  const p = a.paths[a.primary]!;
  // §8.5.1 A: the packet carrying INIT has Verification Tag 0.
  emitPacket(io, a, p, [init], 0);
  a.t1 = now + p.rto;
}

/** (Re)send the COOKIE ECHO (§5.1 D), followed by an ERROR with unrecognized parameters (§3.2.1), and arm T1-cookie. */
export function sendCookieEcho(a: Assoc, io: SctpIo, now: Ms): void {
  const chunks: SctpChunk[] = [cookieEchoChunk(a.cookie!)];
  if (a.cookieCauses.length > 0) chunks.push(errorChunk(a.cookieCauses));
  const p = a.paths[a.primary]!;
  emitPacket(io, a, p, chunks);
  a.t1 = now + p.rto;
}

/** An INIT ACK in COOKIE-WAIT (§5.1 C). `vtagOk` was checked by the caller (§8.5). */
export function onInitAck(a: Assoc, c: SctpInitAckChunk, src: string, io: SctpIo, now: Ms): void {
  if (a.state !== 'COOKIE-WAIT') { count(io, 'sctp-unexpected-init-ack'); return; } // §5.2.3
  // §3.3.3: an Initiate Tag of 0 destroys the association (an ABORT is optional; we send none).
  if (c.initiateTag === 0) { failAssoc(a, io, 'ECONNREFUSED'); return; }
  const info = readInitParams(c.params);
  const abortWith = (cause: SctpErrorCause) => {
    // §5.1: the ABORT carries the peer's Initiate Tag.
    emitPacket(io, a, a.paths[a.primary]!, [abortChunk([cause])], c.initiateTag);
    failAssoc(a, io, 'ECONNREFUSED');
  };
  if (c.outboundStreams === 0 || c.inboundStreams === 0) return abortWith(invalidMandatoryParameterCause());
  if (info.hostName !== null) return abortWith(unresolvableAddressCause(info.hostName));
  // §5.1 C: no State Cookie in the INIT ACK: ABORT with Missing Mandatory Parameter (State Cookie, 7).
  if (info.cookie === null) return abortWith(missingMandatoryParameterCause([7]));
  setPeer(a, { vtag: c.initiateTag, rwnd: c.aRwnd, os: c.outboundStreams, mis: c.inboundStreams, initialTsn: c.initialTsn, prSctp: info.prSctp });
  // §5.1.2 / §5.4: addresses listed by the peer become (unconfirmed) paths; the one our INIT
  // reached is confirmed by the INIT ACK itself.
  for (const { addr, local } of peerPaths(src, info.addrs, a.localAddrs)) {
    if (pathIndex(a, addr) >= 0) continue;
    a.paths.push(newPath(addr, local, a.paths[a.primary]!.udpPort, a.cfg, false, now));
  }
  indexAssoc(io.st, a);
  a.cookie = info.cookie.slice();
  a.cookieCauses = info.unrecognized.length > 0 ? [unrecognizedParametersCause(padConcat(info.unrecognized))] : [];
  a.state = 'COOKIE-ECHOED';
  a.initRetrans = 0;
  a.paths[a.primary]!.rto = a.cfg.rtoInitial;
  sendCookieEcho(a, io, now);
}

/** TLVs concatenated with 4-byte padding between them (§3.2.1 reports). */
function padConcat(tlvs: Uint8Array[]): Uint8Array {
  const parts: Uint8Array[] = [];
  tlvs.forEach((t, i) => {
    parts.push(t);
    if (i < tlvs.length - 1 && t.length % 4 !== 0) parts.push(new Uint8Array(4 - (t.length % 4)));
  });
  return concatBytes(parts);
}

/** COOKIE ACK in COOKIE-ECHOED (§5.1 E): ESTABLISHED, COMMUNICATION UP. */
export function onCookieAck(a: Assoc, io: SctpIo, now: Ms): void {
  if (a.state !== 'COOKIE-ECHOED') return;
  established(a, io, now);
}

/** Enter ESTABLISHED: stop T1, arm heartbeats, tell the application. */
function established(a: Assoc, io: SctpIo, now: Ms): void {
  a.state = 'ESTABLISHED';
  a.t1 = null;
  a.cookie = null;
  a.cookieCauses = [];
  a.initParams = [];
  a.initRetrans = 0;
  for (const p of a.paths) hbSchedule(a, p, io, now);
  dropInvalidStreams(a, io);
  if (a.listener === null) emitEvent(io, { type: 'connected', id: a.id });
}

// ---------------------------------------------------------------- passive open (§5.1 B)

/**
 * An INIT for a listener and no association (§5.1 B): answer with an INIT ACK carrying a State
 * Cookie. No state is kept (§5.1: "the receiver ... MUST NOT allocate any resources").
 */
export function onInitListen(st: SctpStackState, l: SctpListener, c: SctpInitChunk, src: string, dst: string, srcPort: number, encap: SctpEncap | null, io: SctpIo, now: Ms): void {
  // RFC 9260 §3.3.2: an Initiate Tag of 0: silently discard.
  if (c.initiateTag === 0) { count(io, 'sctp-init-zero-tag'); return; }
  const cfg = { ...st.config.assoc, ...l.options };
  const info = readInitParams(c.params);
  // §3.3.2: OS or MIS of 0: ABORT (vtag = the Initiate Tag, T bit clear, §8.4 rule 3).
  if (c.outboundStreams === 0 || c.inboundStreams === 0) {
    count(io, 'sctp-init-bad-streams');
    sendRaw(io, dst, src, l.port, srcPort, c.initiateTag, [abortChunk([invalidMandatoryParameterCause()])], encap);
    return;
  }
  if (info.hostName !== null) {
    count(io, 'sctp-init-hostname');
    sendRaw(io, dst, src, l.port, srcPort, c.initiateTag, [abortChunk([unresolvableAddressCause(info.hostName)])], encap);
    return;
  }
  const locals = listenerAddrs(st, l);
  const cookie: CookieData = {
    created: now, life: cfg.validCookieLife + Math.min(info.cookiePreservative, cfg.validCookieLife),
    myVtag: randNonZero(st), myInitialTsn: rand32(st), myTieTag: 0, peerTieTag: 0,
    localPort: l.port, remotePort: srcPort, udpPort: encap === null ? null : encap.srcPort,
    peerVtag: c.initiateTag, peerRwnd: c.aRwnd, peerOS: c.outboundStreams, peerMIS: c.inboundStreams,
    peerInitialTsn: c.initialTsn, peerPrSctp: info.prSctp, ourOS: Math.min(cfg.outStreams, c.inboundStreams), ourMIS: cfg.inStreams,
    src, dst, peerAddrs: info.addrs.filter((x) => x !== src && usableAddr(x, src)),
  };
  sendInitAck(io, cookie, cfg, locals, info, c.initiateTag, encap);
}

/** Build and send an INIT ACK for `cookie` (to the INIT's source, from its destination, §5.1 B). */
function sendInitAck(io: SctpIo, ck: CookieData, cfg: SctpAssocConfig, locals: string[], info: InitInfo, vtag: number, encap: SctpEncap | null, extra: SctpParam[] | null = null): void {
  const params: SctpParam[] = [stateCookieParam(encodeCookie(ck, io.st.cookieKey))];
  params.push(...(extra ?? ourParams(locals, cfg, info.addrTypes, false)));
  // §3.2.1: parameters whose type says "report" go back in Unrecognized Parameter parameters.
  for (const u of info.unrecognized) params.push(unrecognizedParameterParam(u));
  const ack = initAckChunk({
    initiateTag: ck.myVtag, aRwnd: cfg.rcvBuf, outboundStreams: ck.ourOS, inboundStreams: ck.ourMIS,
    initialTsn: ck.myInitialTsn, params,
  });
  sendRaw(io, ck.dst, ck.src, ck.localPort, ck.remotePort, vtag, [ack], encap);
  count(io, 'sctp-init-ack-sent');
}

/** Check a COOKIE ECHO's cookie (§5.1.5 steps 1-3). Returns the cookie, 'stale' with the staleness, or null (discard). */
function checkCookie(io: SctpIo, c: SctpCookieEchoChunk, vtag: number, srcPort: number, dstPort: number, now: Ms): CookieData | { stale: number; ck: CookieData } | null {
  const ck = decodeCookie(c.cookie, io.st.cookieKey);
  if (typeof ck === 'string') { count(io, `sctp-cookie-${ck}`); return null; }
  // Step 3: ports and Verification Tag of the packet must be those in the cookie.
  if (ck.myVtag !== vtag || ck.localPort !== dstPort || ck.remotePort !== srcPort) { count(io, 'sctp-cookie-mismatch'); return null; }
  const age = now - ck.created;
  if (age > ck.life) return { stale: age - ck.life, ck };
  return ck;
}

/** §5.2.6: tell the peer its cookie was stale (staleness in microseconds). */
function sendStale(io: SctpIo, ck: CookieData, src: string, dst: string, encap: SctpEncap | null, staleMs: number): void {
  sendRaw(io, dst, src, ck.localPort, ck.remotePort, ck.peerVtag, [errorChunk([staleCookieCause(Math.min(0xffffffff, Math.round(staleMs * 1000)))])], encap);
  count(io, 'sctp-cookie-stale');
}

/**
 * A COOKIE ECHO for a listener with no association (§5.1.5): verify it and create the
 * association in ESTABLISHED, queueing the COOKIE ACK. Returns the association (the caller
 * processes the rest of the packet) or null.
 */
export function onCookieEchoListen(st: SctpStackState, l: SctpListener, c: SctpCookieEchoChunk, vtag: number, src: string, dst: string, srcPort: number, encap: SctpEncap | null, io: SctpIo, now: Ms): Assoc | null {
  const r = checkCookie(io, c, vtag, srcPort, l.port, now);
  if (r === null) return null;
  if ('stale' in r) { sendStale(io, r.ck, src, dst, encap, r.stale); return null; }
  const ck = r;
  if (l.acceptQ.length >= l.backlog) {
    // No room to accept it: refuse rather than keep a half-accepted association.
    sendRaw(io, dst, src, l.port, srcPort, ck.peerVtag, [abortChunk([outOfResourceCause()])], encap);
    count(io, 'sctp-backlog-full');
    return null;
  }
  const cfg = { ...st.config.assoc, ...l.options };
  const locals = listenerAddrs(st, l);
  const a = newAssoc(st, {
    id: freshId(st, ck.dst, l.port, ck.src, ck.remotePort), state: 'ESTABLISHED', listener: l.id, localPort: l.port,
    remotePort: ck.remotePort, localAddrs: [ck.dst, ...locals.filter((x) => x !== ck.dst)],
    cfg, myVtag: ck.myVtag, myInitialTsn: ck.myInitialTsn, now,
  });
  buildFromCookie(a, ck, src, encap, now);
  st.assocs[a.id] = a;
  indexAssoc(st, a);
  for (const p of a.paths) hbSchedule(a, p, io, now);
  l.acceptQ.push(a.id);
  a.ctrl.push({ path: a.replyPath, chunk: cookieAckChunk() });
  emitEvent(io, { type: 'accept-ready', listener: l.id, id: a.id });
  return a;
}

/** Peer information and paths of `a` from a cookie; `src` is where the COOKIE ECHO came from (confirmed, §5.4). */
function buildFromCookie(a: Assoc, ck: CookieData, src: string, encap: SctpEncap | null, now: Ms): void {
  setPeer(a, { vtag: ck.peerVtag, rwnd: ck.peerRwnd, os: ck.peerOS, mis: ck.peerMIS, initialTsn: ck.peerInitialTsn, prSctp: ck.peerPrSctp });
  // §5.1.1: the OS we announced in the INIT ACK (already at most the peer's MIS), and our MIS.
  a.outStreams = Math.min(ck.ourOS, ck.peerMIS);
  a.outSsn = new Array<number>(a.outStreams).fill(0);
  a.inStreams = Math.min(ck.ourMIS, ck.peerOS);
  a.myInitialTsn = ck.myInitialTsn;
  a.nextTsn = ck.myInitialTsn;
  a.cumAck = (ck.myInitialTsn - 1) >>> 0;
  a.advPeerAckPoint = a.cumAck;
  const udp = encap !== null ? encap.srcPort : ck.udpPort;
  const existing = new Set(a.paths.map((p) => p.addr));
  for (const { addr, local } of peerPaths(ck.src, ck.peerAddrs, a.localAddrs)) {
    if (existing.has(addr)) continue;
    // §5.4: the INIT's source (where our INIT ACK went) and the COOKIE ECHO's source are confirmed.
    const p = newPath(addr, addr === ck.src ? ck.dst : local, udp, a.cfg, addr === ck.src || addr === src, now);
    a.paths.push(p);
  }
  const ri = pathIndex(a, src);
  a.primary = Math.max(0, pathIndex(a, ck.src));
  a.replyPath = ri >= 0 ? ri : a.primary;
}

// ---------------------------------------------------------------- collisions and restarts (§5.2)

/**
 * An INIT for an existing association (§5.2.1 in COOKIE-WAIT / COOKIE-ECHOED, §5.2.2 in the
 * other states, §9.2 in SHUTDOWN-ACK-SENT).
 */
export function onInitWithTcb(a: Assoc, c: SctpInitChunk, src: string, dst: string, encap: SctpEncap | null, io: SctpIo, now: Ms): void {
  if (c.initiateTag === 0) { count(io, 'sctp-init-zero-tag'); return; }
  if (a.state === 'SHUTDOWN-ACK-SENT') {
    // §9.2: discard the INIT and retransmit the SHUTDOWN ACK.
    const pi = pathIndex(a, src);
    a.ctrl.push({ path: pi >= 0 ? pi : a.primary, chunk: shutdownAckChunk() });
    return;
  }
  const info = readInitParams(c.params);
  if (a.state !== 'COOKIE-WAIT' && a.state !== 'COOKIE-ECHOED') {
    // §5.2.2: an INIT that adds addresses to a live association is a restart with new
    // addresses: ABORT it with that cause (vtag = its Initiate Tag) and keep the association.
    const known = new Set(a.paths.map((p) => p.addr));
    const fresh = [src, ...info.addrs].filter((x) => !known.has(x) && usableAddr(x, src) && pickLocal(a.localAddrs, x) !== null);
    if (fresh.length > 0) {
      const tlvs = padConcat(fresh.map((x) => sctpParamBytes(ipAddressParam(x))));
      sendRaw(io, dst, src, a.localPort, a.remotePort, c.initiateTag, [abortChunk([restartWithNewAddressesCause(tlvs)])], encap);
      return;
    }
  }
  // §5.2.1: in COOKIE-WAIT/COOKIE-ECHOED, answer with our original Initiate Tag and TSN; tie-tags
  // only in COOKIE-ECHOED. §5.2.2: otherwise a new Initiate Tag, and our tie-tags in the cookie.
  const waiting = a.state === 'COOKIE-WAIT' || a.state === 'COOKIE-ECHOED';
  const ties = a.state === 'COOKIE-WAIT' ? [0, 0] : [a.myTieTag, a.peerTieTag];
  const os = waiting ? Math.min(a.cfg.outStreams, c.inboundStreams) : Math.min(a.outStreams, c.inboundStreams);
  const ck: CookieData = {
    created: now, life: a.cfg.validCookieLife + Math.min(info.cookiePreservative, a.cfg.validCookieLife),
    myVtag: waiting ? a.myVtag : randNonZero(io.st), myInitialTsn: waiting ? a.myInitialTsn : rand32(io.st),
    myTieTag: ties[0]!, peerTieTag: ties[1]!,
    localPort: a.localPort, remotePort: a.remotePort, udpPort: encap === null ? null : encap.srcPort,
    peerVtag: c.initiateTag, peerRwnd: c.aRwnd, peerOS: c.outboundStreams, peerMIS: c.inboundStreams,
    peerInitialTsn: c.initialTsn, peerPrSctp: info.prSctp, ourOS: os, ourMIS: a.cfg.inStreams,
    src, dst, peerAddrs: info.addrs.filter((x) => x !== src && usableAddr(x, src)),
  };
  // §5.2.1: "the same parameters it sent in its original INIT" (those that belong in an INIT ACK).
  const orig = a.initParams.filter((q) => q.type !== 'supported-address-types' && q.type !== 'cookie-preservative');
  sendInitAck(io, ck, a.cfg, a.localAddrs, info, c.initiateTag, encap, waiting && a.initParams.length > 0 ? orig : null);
  // The association, its state and timers are left as they are (§5.2.1, §5.2.2).
}

/**
 * A COOKIE ECHO for an existing association (§5.2.4, Table 8). Returns true when the rest of
 * the packet may be processed (the cookie was accepted).
 */
export function onCookieEchoWithTcb(a: Assoc, c: SctpCookieEchoChunk, vtag: number, src: string, dst: string, srcPort: number, encap: SctpEncap | null, io: SctpIo, now: Ms): boolean {
  const r = checkCookie(io, c, vtag, srcPort, a.localPort, now);
  if (r === null) return false;
  let ck: CookieData;
  if ('stale' in r) {
    // §5.2.4 step 3: a stale cookie is still valid when both tags match the association (case D).
    if (r.ck.myVtag !== a.myVtag || r.ck.peerVtag !== a.peerVtag) { sendStale(io, r.ck, src, dst, encap, r.stale); return false; }
    ck = r.ck;
  } else {
    ck = r;
  }
  const localM = ck.myVtag === a.myVtag, peerM = ck.peerVtag === a.peerVtag;
  const tiesM = ck.myTieTag === a.myTieTag && ck.peerTieTag === a.peerTieTag;
  const pi = pathIndex(a, src);
  const reply = pi >= 0 ? pi : a.primary;
  if (!localM && !peerM && tiesM && ck.myTieTag !== 0) {
    // (A) the peer restarted.
    if (a.state === 'SHUTDOWN-ACK-SENT') {
      // §5.2.4 A: no new association while shutting down: SHUTDOWN ACK again and an ERROR.
      a.ctrl.push({ path: reply, chunk: shutdownAckChunk() }, { path: reply, chunk: errorChunk([cookieWhileShuttingDownCause()]) });
      return false;
    }
    restart(a, ck, src, encap, io, now);
    a.ctrl.push({ path: a.replyPath, chunk: cookieAckChunk() });
    emitEvent(io, { type: 'restart', id: a.id });
    return true;
  }
  if (localM && (!peerM || a.peerVtag === 0)) {
    // (B) collision: take the peer's tag (and, if nothing arrived yet, its TSN space and
    // parameters) from the cookie; stop T1; ESTABLISHED; COOKIE ACK.
    const fresh = a.state === 'COOKIE-WAIT' || a.state === 'COOKIE-ECHOED';
    if (fresh) {
      unindexAssoc(io.st, a);
      buildFromCookie(a, ck, src, encap, now);
      indexAssoc(io.st, a);
    } else {
      a.peerVtag = ck.peerVtag;
    }
    a.ctrl.push({ path: reply, chunk: cookieAckChunk() });
    if (fresh) established(a, io, now);
    return true;
  }
  if (!localM && peerM && ck.myTieTag === 0 && ck.peerTieTag === 0) {
    // (C) a late cookie of ours: discard it, change nothing.
    count(io, 'sctp-cookie-late');
    return false;
  }
  if (localM && peerM) {
    // (D) both tags match: ESTABLISHED if we were not yet; COOKIE ACK (again).
    a.ctrl.push({ path: reply, chunk: cookieAckChunk() });
    if (a.state === 'COOKIE-ECHOED' || a.state === 'COOKIE-WAIT') established(a, io, now);
    return true;
  }
  // (E) no match: silently discard.
  count(io, 'sctp-cookie-nomatch');
  return false;
}

/**
 * §5.2.4 A: treat the association as aborted and re-created from the cookie, keeping queued
 * (unsent) messages; congestion state back to initial values; ESTABLISHED.
 */
function restart(a: Assoc, ck: CookieData, src: string, encap: SctpEncap | null, io: SctpIo, now: Ms): void {
  unindexAssoc(io.st, a);
  // Unsent whole messages survive; anything already given a TSN belonged to the old association.
  let first = 0;
  while (first < a.pending.length && !(a.pending[first]!.flags & 0x02)) first++;
  const keep = a.pending.slice(first);
  const fresh = newAssoc(io.st, {
    id: a.id, state: 'ESTABLISHED', listener: a.listener, localPort: a.localPort, remotePort: a.remotePort,
    localAddrs: a.localAddrs, cfg: a.cfg, myVtag: ck.myVtag, myInitialTsn: ck.myInitialTsn, now,
  });
  fresh.app = a.app;
  fresh.stats = a.stats;
  fresh.nextMsg = a.nextMsg;
  fresh.readQ = a.readQ; // already delivered messages stay readable
  fresh.rcvBufUsed = a.readQ.reduce((n, m) => n + m.data.length, 0);
  for (const c of keep) { c.ssn = (c.flags & 0x04) ? 0 : -1; fresh.sndBufUsed += c.len; }
  fresh.pending = keep;
  buildFromCookie(fresh, ck, src, encap, now);
  Object.assign(a, fresh);
  indexAssoc(io.st, a);
  for (const p of a.paths) hbSchedule(a, p, io, now);
}

/**
 * §5.2.6: an ERROR with a Stale Cookie cause in COOKIE-ECHOED: send a new INIT with a Cookie
 * Preservative asking for twice the staleness more, back in COOKIE-WAIT (bounded by Max.Init.Retransmits).
 */
export function onStaleCookie(a: Assoc, stalenessUs: number, io: SctpIo, now: Ms): void {
  if (a.state !== 'COOKIE-ECHOED') return;
  if (++a.initRetrans > a.cfg.maxInitRetrans) { failAssoc(a, io, 'ETIMEDOUT'); return; }
  const inc = Math.min(0xffffffff, Math.max(1, Math.ceil((2 * stalenessUs) / 1000)));
  a.initParams = [...a.initParams.filter((p) => p.type !== 'cookie-preservative'), cookiePreservativeParam(inc)];
  a.state = 'COOKIE-WAIT';
  a.cookie = null;
  a.peerVtag = 0;
  sendInit(a, io, now);
}

/**
 * The association cannot go on: state CLOSED, timers off, out of the demux index, the
 * application told (`code` null for a graceful end). Unaccepted ones disappear entirely.
 */
export function failAssoc(a: Assoc, io: SctpIo, code: SctpErrorCode | null): void {
  const st = io.st;
  unindexAssoc(st, a);
  a.state = 'CLOSED';
  a.closedCode = code;
  a.t1 = a.t2 = a.t5 = a.sackAt = null;
  a.sackNow = false;
  for (const p of a.paths) { p.t3 = null; p.hbAt = null; }
  a.ctrl = [];
  a.pending = [];
  a.sent = [];
  a.rtxCount = 0;
  a.sndBufUsed = 0;
  a.deadline = null;
  if (a.app === 'pending') {
    const l = a.listener === null ? undefined : st.listeners[a.listener];
    if (l !== undefined) l.acceptQ = l.acceptQ.filter((x) => x !== a.id);
    delete st.assocs[a.id];
    return;
  }
  if (a.app === 'closed') { delete st.assocs[a.id]; return; }
  if (code !== null) emitEvent(io, { type: 'error', id: a.id, code });
  emitEvent(io, { type: 'closed', id: a.id });
}

/** Defaults merged with per-association overrides. */
export const assocConfig = (base: SctpAssocConfig | undefined, o: Partial<SctpAssocConfig> | undefined): SctpAssocConfig =>
  ({ ...(base ?? defaultSctpAssocConfig()), ...(o ?? {}) });
