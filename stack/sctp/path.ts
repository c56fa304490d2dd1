// Paths (RFC 9260 §6.3 RTO per destination, §6.4 multi-homing, §8.2 path failure detection,
// §8.3 HEARTBEAT, §5.4 path verification): choosing where data goes, counting errors, and the
// heartbeat exchange. Heartbeat jitter and nonces come from the stack secret (state.ts).
import { ipToBytes, v4ToString, v6ToString } from '../wire/addr.ts';
import { heartbeatChunk, type SctpParam } from '../wire/sctp.ts';
import type { Assoc, SctpPath } from './assoc.ts';
import type { Ms } from './events.ts';
import { emitEvent, rand32, type SctpIo } from './state.ts';

/** Clock granularity G of §6.3.1 C4 (ms). */
const G = 1;

/** §6.3.1 C2-C7: one RTT measurement `r` (ms) on path `p`. */
export function rttSample(a: Assoc, p: SctpPath, r: number): void {
  if (r < 0) return;
  if (p.srtt === null) {
    // C2: first measurement.
    p.srtt = r;
    p.rttvar = r / 2;
  } else {
    // C3: RTO.Alpha = 1/8, RTO.Beta = 1/4; RTTVAR first, with the old SRTT.
    p.rttvar = 0.75 * p.rttvar + 0.25 * Math.abs(p.srtt - r);
    p.srtt = 0.875 * p.srtt + 0.125 * r;
  }
  // C4: a zero RTTVAR becomes the clock granularity.
  if (p.rttvar === 0) p.rttvar = G;
  // C6, C7: clamp to [RTO.Min, RTO.Max].
  p.rto = Math.min(a.cfg.rtoMax, Math.max(a.cfg.rtoMin, Math.round(p.srtt + 4 * p.rttvar)));
}

/** §6.3.3 E2: back the RTO off (also for unanswered heartbeats, §8.3). */
export function backoff(a: Assoc, p: SctpPath): void {
  p.rto = Math.min(a.cfg.rtoMax, p.rto * 2);
}

const usable = (p: SctpPath): boolean => p.active && p.confirmed;

/**
 * §6.4: new data goes to the primary path unless it is inactive (or not yet confirmed, §5.4),
 * then to an active confirmed alternate; with none, to the primary anyway.
 */
export function dataPath(a: Assoc): number {
  const pr = a.paths[a.primary];
  if (pr !== undefined && usable(pr)) return a.primary;
  for (let i = 0; i < a.paths.length; i++) if (usable(a.paths[i]!)) return i;
  // No usable path: fall back to any confirmed one, then the primary (§8.2: keep trying).
  for (let i = 0; i < a.paths.length; i++) if (a.paths[i]!.confirmed) return i;
  return a.primary;
}

/** §6.4.1: a retransmission after a T3 expiry goes to an active destination other than `from` if there is one. */
export function altPath(a: Assoc, from: number): number {
  if (from !== a.primary) {
    const pr = a.paths[a.primary];
    if (pr !== undefined && usable(pr)) return a.primary;
  }
  for (let k = 1; k <= a.paths.length; k++) {
    const i = (from + k) % a.paths.length;
    if (i !== from && usable(a.paths[i]!)) return i;
  }
  const f = a.paths[from];
  return f !== undefined && usable(f) ? from : dataPath(a);
}

/** Index of the path to `addr`, or -1. */
export function pathIndex(a: Assoc, addr: string): number {
  for (let i = 0; i < a.paths.length; i++) if (a.paths[i]!.addr === addr) return i;
  return -1;
}

/** Our source address for a peer address: same family, longest common prefix; null if none. */
export function pickLocal(locals: readonly string[], remote: string): string | null {
  const rb = ipToBytes(remote);
  if (rb === null) return null;
  let best: string | null = null, bestLen = -1;
  for (const l of locals) {
    const lb = ipToBytes(l);
    if (lb === null || lb.length !== rb.length) continue;
    let n = 0;
    for (let i = 0; i < lb.length; i++) {
      const x = lb[i]! ^ rb[i]!;
      if (x === 0) { n += 8; continue; }
      n += Math.clz32(x) - 24;
      break;
    }
    if (n > bestLen) { best = l; bestLen = n; }
  }
  return best;
}

/**
 * §8.2 (path) and §8.1 (association) error counting for one unanswered retransmission or
 * heartbeat on path `pi`. `assocToo`: counts for the association as well (§8.1: heartbeats on
 * paths not used for data do not). Returns true when Association.Max.Retrans is exceeded.
 */
export function countError(a: Assoc, pi: number, io: SctpIo, assocToo: boolean): boolean {
  const p = a.paths[pi]!;
  p.errors++;
  if (p.active && p.errors > a.cfg.pathMaxRetrans) {
    // §8.2: the destination is marked inactive and the upper layer told (§10.2 E).
    p.active = false;
    emitEvent(io, { type: 'path', id: a.id, addr: p.addr, state: 'inactive', primary: pi === a.primary });
  }
  if (assocToo) a.errors++;
  return a.errors > a.cfg.assocMaxRetrans;
}

/** An acknowledgment for data last sent on `pi` (§8.2): clear the path's error counter, reactivate it. */
export function pathAcked(a: Assoc, pi: number, io: SctpIo): void {
  const p = a.paths[pi]!;
  p.errors = 0;
  if (!p.active) {
    p.active = true;
    emitEvent(io, { type: 'path', id: a.id, addr: p.addr, state: 'active', primary: pi === a.primary });
  }
}

// ---- heartbeats (§8.3) ----

/**
 * Arm the heartbeat of `p`: confirmed paths every RTO + HB.interval, jittered by ±50% of the
 * RTO (§8.3); unconfirmed ones every RTO (§5.4 probing, backed off with the RTO).
 */
export function hbSchedule(a: Assoc, p: SctpPath, io: SctpIo, now: Ms): void {
  if (p.confirmed && a.cfg.hbInterval <= 0) { p.hbAt = null; return; }
  const jitter = Math.floor(((rand32(io.st) / 0x100000000) - 0.5) * p.rto);
  p.hbAt = now + p.rto + jitter + (p.confirmed ? a.cfg.hbInterval : 0);
}

/** Heartbeat Info: nonce (8 bytes), send time (f64), address (family byte + 4/16 bytes). */
function hbInfo(p: SctpPath): Uint8Array {
  const ab = ipToBytes(p.addr)!;
  const b = new Uint8Array(17 + ab.length);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, p.hbNonce[0]); dv.setUint32(4, p.hbNonce[1]);
  dv.setFloat64(8, p.hbSentAt);
  b[16] = ab.length === 4 ? 4 : 6;
  b.set(ab, 17);
  return b;
}

function parseHbInfo(params: SctpParam[]): { nonce: [number, number]; sentAt: number; addr: string } | null {
  for (const q of params) {
    if (q.type !== 'heartbeat-info') continue;
    const b = q.info;
    if (b.length !== 21 && b.length !== 33) return null;
    const dv = new DataView(b.buffer, b.byteOffset, b.length);
    const fam = b[16];
    if ((fam === 4 && b.length !== 21) || (fam === 6 && b.length !== 33) || (fam !== 4 && fam !== 6)) return null;
    return { nonce: [dv.getUint32(0), dv.getUint32(4)], sentAt: dv.getFloat64(8), addr: fam === 4 ? v4ToString(b, 17) : v6ToString(b, 17) };
  }
  return null;
}

/**
 * The heartbeat timer of path `pi` fired. Returns true when the association failed
 * (Association.Max.Retrans exceeded).
 */
export function hbTimer(a: Assoc, pi: number, io: SctpIo, now: Ms): boolean {
  const p = a.paths[pi]!;
  // Once SHUTDOWN or SHUTDOWN ACK is out, T2-shutdown watches the peer; a HEARTBEAT that
  // crosses the peer's close would only draw an ABORT (§8.4 rule 8).
  if (a.state === 'SHUTDOWN-SENT' || a.state === 'SHUTDOWN-ACK-SENT') { p.hbAt = null; p.hbPending = false; return false; }
  if (p.hbPending) {
    // §8.3: an unanswered HEARTBEAT counts as an error on the path (and, on the path used
    // for data, on the association, §8.1), and backs the RTO off.
    p.hbPending = false;
    backoff(a, p);
    if (countError(a, pi, io, p.confirmed && pi === dataPath(a))) return true;
  }
  // §8.3: only idle destinations are heartbeated; one carrying data is monitored by T3-rtx.
  const idle = !p.confirmed || !p.active || (p.flight === 0 && now - p.lastSend >= a.cfg.hbInterval);
  if (idle) sendHeartbeat(a, pi, io, now);
  hbSchedule(a, p, io, now);
  return false;
}

/** Send a HEARTBEAT on `pi` with a fresh nonce (§8.3: a 64-bit random nonce in the Heartbeat Info). */
export function sendHeartbeat(a: Assoc, pi: number, io: SctpIo, now: Ms): void {
  const p = a.paths[pi]!;
  p.hbNonce = [rand32(io.st), rand32(io.st)];
  p.hbSentAt = now;
  p.hbPending = true;
  a.ctrl.push({ path: pi, chunk: heartbeatChunk(hbInfo(p)) });
  a.stats.hbSent++;
}

/** §8.3: a HEARTBEAT ACK. Confirms and reactivates the path whose nonce it echoes, and measures the RTT. */
export function onHeartbeatAck(a: Assoc, params: SctpParam[], io: SctpIo, now: Ms): void {
  const info = parseHbInfo(params);
  if (info === null) return;
  const pi = pathIndex(a, info.addr);
  if (pi < 0) return;
  const p = a.paths[pi]!;
  // §8.3 / §5.4: the nonce must be the one we sent (a HEARTBEAT ACK without it proves nothing).
  if (!p.hbPending || info.nonce[0] !== p.hbNonce[0] || info.nonce[1] !== p.hbNonce[1]) return;
  p.hbPending = false;
  a.errors = 0; // §8.1: a HEARTBEAT ACK resets the association error counter.
  if (!p.confirmed) {
    p.confirmed = true;
    emitEvent(io, { type: 'path', id: a.id, addr: p.addr, state: 'confirmed', primary: pi === a.primary });
  }
  pathAcked(a, pi, io);
  rttSample(a, p, now - info.sentAt);
  hbSchedule(a, p, io, now);
}
