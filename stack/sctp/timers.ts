// SCTP timers as deadlines in state (STYLE.md §2): T1-init / T1-cookie (§5.1), T2-shutdown
// and T5-shutdown-guard (§9.2), T3-rtx per path (§6.3), HEARTBEAT per path (§8.3) and the
// delayed SACK (§6.2). The driver ticks at min(deadline); `assocTimers` runs what is due.
import type { Assoc } from './assoc.ts';
import type { Ms } from './events.ts';
import { failAssoc, sendCookieEcho, sendInit } from './init.ts';
import { backoff, hbTimer } from './path.ts';
import { onT3 } from './sack.ts';
import { abortAssoc, onT2, onT5 } from './shutdown.ts';
import type { SctpIo } from './state.ts';

const minD = (a: Ms | null, b: Ms | null): Ms | null => (a === null ? b : b === null ? a : a < b ? a : b);

/** The earliest deadline of the association (cached in a.deadline). */
export function refreshDeadline(a: Assoc): void {
  if (a.state === 'CLOSED') { a.deadline = null; return; }
  let d = minD(minD(a.t1, a.t2), minD(a.t5, a.sackAt));
  for (const p of a.paths) d = minD(d, minD(p.t3, p.hbAt));
  a.deadline = d;
}

/** Run every timer of `a` that is due at `now`. The caller then sends (output) and refreshes the deadline. */
export function assocTimers(a: Assoc, io: SctpIo, now: Ms): void {
  if (a.t1 !== null && a.t1 <= now) {
    a.t1 = null;
    // §5.1 / §6.3.3-style backoff: each INIT / COOKIE ECHO retransmission doubles the RTO; after
    // Max.Init.Retransmits the association cannot start (§5.1: report to the upper layer).
    if (++a.initRetrans > a.cfg.maxInitRetrans) { failAssoc(a, io, 'ETIMEDOUT'); return; }
    backoff(a, a.paths[a.primary]!);
    if (a.state === 'COOKIE-WAIT') sendInit(a, io, now);
    else if (a.state === 'COOKIE-ECHOED') sendCookieEcho(a, io, now);
  }
  if (a.t5 !== null && a.t5 <= now) { onT5(a, io); return; }
  if (a.t2 !== null && a.t2 <= now) { onT2(a, io, now); if (a.state === 'CLOSED') return; }
  for (let i = 0; i < a.paths.length; i++) {
    const p = a.paths[i]!;
    if (p.t3 !== null && p.t3 <= now) {
      if (onT3(a, i, io, now)) { abortAssoc(a, io, 'ETIMEDOUT', []); return; }
    }
    if (p.hbAt !== null && p.hbAt <= now) {
      if (hbTimer(a, i, io, now)) { abortAssoc(a, io, 'ETIMEDOUT', []); return; }
    }
  }
  if (a.sackAt !== null && a.sackAt <= now) a.sackNow = true;
}

const shift = (t: Ms | null, d: Ms): Ms | null => (t === null ? null : t + d);

/**
 * Move every absolute time of an association by `d` ms: for resuming a snapshot on a host
 * whose clock reads `d` more than the one it was taken on (STYLE.md §2, issue #7). Deadlines,
 * send times and PR-SCTP lifetimes all move together, so nothing fires early or late.
 */
export function shiftAssocTimes(a: Assoc, d: Ms): void {
  a.t1 = shift(a.t1, d); a.t2 = shift(a.t2, d); a.t5 = shift(a.t5, d); a.sackAt = shift(a.sackAt, d);
  a.deadline = shift(a.deadline, d);
  for (const p of a.paths) {
    p.t3 = shift(p.t3, d); p.hbAt = shift(p.hbAt, d);
    p.hbSentAt += d; p.rttAt += d; p.lastSend += d;
  }
  for (const c of a.sent) if (c.expires !== null) c.expires += d;
  for (const c of a.pending) if (c.expires !== null) c.expires += d;
}
