// Option negotiation (RFC 9293 §3.7.1 MSS, RFC 7323 window scale and timestamps, RFC 2018
// SACK-permitted), the options we put on SYN and SYN|ACK (Linux or FreeBSD layout) and on
// every other segment, and the per-connection secrets: RFC 6528 ISS and the RFC 7323 §7.1
// timestamp offset, both keyed hashes of the 4-tuple with the stack secret.
import type { Ms, TcpSocketConfig } from '../api.ts';
import { keyedHash32 } from '../crypto.ts';
import { buildTcpOptions, type SackBlock, type TcpOption, type TcpOptionsInfo } from '../wire/tcp.ts';
import { MD5_OPTION_SPACE } from './md5sig.ts';
import { headerOverhead, shiftFor, type Tcb } from './tcb.ts';

function textBytes(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i) & 0xff;
  return b;
}

/**
 * RFC 6528 §3: ISN = M + F(localip, localport, remoteip, remoteport, secretkey), M a 4 µs
 * timer. F is HMAC-SHA-256 truncated to 32 bits, keyed with the stack secret.
 */
export function initialSeq(secret: Uint8Array, id: string, now: Ms): number {
  const m = Math.floor(now * 250);
  return (m + keyedHash32(secret, textBytes(`iss|${id}`))) >>> 0;
}

/** RFC 7323 §7.1 / §5.4: a per-connection random offset for TSval, so TSval leaks no host clock. */
export function tsOffsetFor(secret: Uint8Array, id: string): number {
  return keyedHash32(secret, textBytes(`ts|${id}`));
}

/** Our window shift for a config (RFC 7323 §2.3, at most 14). */
export function ourShift(cfg: TcpSocketConfig): number {
  return Math.min(14, cfg.wscaleShift ?? shiftFor(cfg.rcvBuf));
}

/** TSval for a segment sent at `now` (RFC 7323 §4: a clock that ticks every ms, offset per connection). */
export const tsNow = (tcb: Tcb, now: Ms): number => (now + tcb.tsOffset) >>> 0;

/**
 * Record what the peer's SYN (or SYN|ACK) offered and fix the negotiated options.
 * `weOffered`: for an active open, the options our SYN carried; for a passive open, our config.
 */
export function negotiate(tcb: Tcb, o: TcpOptionsInfo, now: Ms): void {
  const cfg = tcb.cfg;
  // cfg.noOptions: our SYN offered nothing, so nothing is agreed (the peer's MSS still counts).
  const offer = !cfg.noOptions;
  // RFC 9293 §3.7.1: without an MSS option assume 536 (IPv4) / 1220 (IPv6, RFC 8200 §8.3).
  if (o.mss !== null) tcb.peerMss = o.mss;
  // RFC 7323 §2.2: scaling only if both sides sent the option; a shift > 14 is taken as 14 (§2.3).
  if (offer && cfg.wscale && o.wscale !== null) {
    tcb.wsOk = true;
    tcb.sndShift = Math.min(14, o.wscale);
    tcb.rcvShift = ourShift(cfg);
  } else {
    tcb.wsOk = false;
    tcb.sndShift = 0;
    tcb.rcvShift = 0;
  }
  // RFC 2018 §2: SACK only if both sides sent SACK-permitted.
  tcb.sackOk = offer && cfg.sack && o.sackPermitted;
  // RFC 7323 §3.2: timestamps only if both sides sent TSopt on the SYNs.
  tcb.tsOk = offer && cfg.timestamps && o.ts !== null;
  if (tcb.tsOk && o.ts !== null) {
    tcb.tsRecent = o.ts.tsval;
    tcb.tsRecentAt = now;
  }
  updateMss(tcb);
  roundBuffers(tcb);
}

/**
 * cfg.sockBufRoundToMss: once the MSS is known, round the socket buffers up to a multiple of it
 * (FreeBSD tcp_mss_update: min(peer's MSS, our MTU-derived MSS), before option overhead).
 */
export function roundBuffers(tcb: Tcb): void {
  const cfg = tcb.cfg;
  if (!cfg.sockBufRoundToMss) return;
  const mss = Math.min(tcb.peerMss, tcb.advMss);
  const up = (b: number) => (b > mss ? Math.ceil(b / mss) * mss : b);
  const rcvBuf = up(cfg.rcvBuf), sndBuf = up(cfg.sndBuf);
  // The config object may be shared (listener, stack default): give this socket its own copy.
  if (rcvBuf !== cfg.rcvBuf || sndBuf !== cfg.sndBuf) tcb.cfg = { ...cfg, keepAlive: { ...cfg.keepAlive }, rcvBuf, sndBuf };
}

/**
 * Effective send MSS (RFC 6691 §3, RFC 9293 §3.7.1 "Eff.snd.MSS"): the peer's MSS and the path
 * MTU less headers, less the timestamp option that rides on every segment. A tiny peer MSS is
 * raised to 64 bytes (Linux clamps at 48 since CVE-2019-11479: it must not make us spray
 * segments), but never above what our own path MTU carries.
 */
export function updateMss(tcb: Tcb): void {
  const fromPmtu = tcb.pmtu - headerOverhead(tcb.v6);
  // Options on every segment: timestamps (12 bytes with NOPs) and an RFC 2385 signature (20,
  // RFC 2385 §4.3: "the MSS ... must be decreased" by the option's size).
  const ts = (tcb.tsOk ? 12 : 0) + ((tcb.cfg.md5Key ?? null) !== null ? MD5_OPTION_SPACE : 0);
  const base = Math.min(tcb.peerMss, fromPmtu);
  tcb.mss = Math.max(1, Math.min(64, fromPmtu - ts), base - ts);
}

/** Options of our SYN (active open) or SYN|ACK (passive open; only what the peer offered). */
export function synOptions(tcb: Tcb, now: Ms, synAck: boolean): TcpOption[] {
  const cfg = tcb.cfg;
  // cfg.noOptions (BSD TCP_NOOPT): not even the MSS option (RFC 9293 §3.7.1 SHLD-5, waived by the application).
  if (cfg.noOptions) return [];
  const ws = synAck ? tcb.wsOk : cfg.wscale;
  const sack = synAck ? tcb.sackOk : cfg.sack;
  const ts = synAck ? tcb.tsOk : cfg.timestamps;
  const shift = ourShift(cfg);
  const tsOpt = ts ? { tsval: tsNow(tcb, now), tsecr: synAck ? tcb.tsRecent : 0 } : null;
  if (cfg.optionLayout === 'freebsd') {
    // FreeBSD's tcp_addoptions order: MSS, NOP+wscale, SACK-permitted, then NOPs until the
    // timestamp option starts 2 bytes past a 4-byte boundary (so its 32-bit fields are aligned),
    // timestamps; EOL padding to the 4-byte boundary.
    const opts: TcpOption[] = [{ kind: 'mss', mss: tcb.advMss }];
    let len = 4;
    if (ws) { opts.push({ kind: 'nop' }, { kind: 'wscale', shift }); len += 4; }
    if (sack) { opts.push({ kind: 'sack-permitted' }); len += 2; }
    if (tsOpt !== null) {
      for (; len % 4 !== 2; len++) opts.push({ kind: 'nop' });
      opts.push({ kind: 'timestamp', tsval: tsOpt.tsval, tsecr: tsOpt.tsecr });
    }
    return opts;
  }
  return buildTcpOptions({ mss: tcb.advMss, wscale: ws ? shift : null, sackPermitted: sack, ts: tsOpt });
}

/** Options of a non-SYN segment: timestamps (RFC 7323 §3.2 "on every segment") and SACK blocks (RFC 2018 §4). */
export function segOptions(tcb: Tcb, now: Ms, blocks: SackBlock[] | null): TcpOption[] {
  if (!tcb.tsOk && blocks === null) return [];
  return buildTcpOptions({ ts: tcb.tsOk ? { tsval: tsNow(tcb, now), tsecr: tcb.tsRecent } : null, sack: blocks });
}
