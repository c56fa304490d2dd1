// Association termination (RFC 9260 §9): ABORT (§9.1) and the graceful SHUTDOWN sequence
// (§9.2) through SHUTDOWN-PENDING, SHUTDOWN-SENT, SHUTDOWN-RECEIVED and SHUTDOWN-ACK-SENT, with
// T2-shutdown and the T5-shutdown-guard.
import {
  abortChunk, sackChunk, shutdownAckChunk, shutdownChunk, shutdownCompleteChunk, userInitiatedAbortCause,
  type SctpErrorCause,
} from '../wire/sctp.ts';
import type { Assoc } from './assoc.ts';
import type { Ms, SctpErrorCode } from './events.ts';
import { failAssoc } from './init.ts';
import { altPath, backoff, countError, dataPath } from './path.ts';
import { allAcked, onSack } from './sack.ts';
import { emitPacket } from './send.ts';
import { emitEvent, type SctpIo } from './state.ts';

/** Send an ABORT (§9.1; vtag = the peer's tag, T bit clear) and close the association with `code`. */
export function abortAssoc(a: Assoc, io: SctpIo, code: SctpErrorCode | null, causes: SctpErrorCause[]): void {
  // Without the peer's tag (COOKIE-WAIT) no ABORT it would accept can be built: just close.
  if (a.state !== 'CLOSED' && a.peerVtag !== 0) emitPacket(io, a, a.paths[dataPath(a)]!, [abortChunk(causes)]);
  failAssoc(a, io, code);
}

/** ABORT primitive (§10.1): User-Initiated Abort cause carrying the reason. */
export function userAbort(a: Assoc, io: SctpIo, reason: Uint8Array): void {
  abortAssoc(a, io, null, [userInitiatedAbortCause(reason.slice())]);
}

/** An ABORT from the peer (tag already checked, §8.5.1 B): the association is gone. */
export function onAbort(a: Assoc, io: SctpIo): void {
  const code: SctpErrorCode = a.state === 'COOKIE-WAIT' || a.state === 'COOKIE-ECHOED' ? 'ECONNREFUSED' : 'ECONNRESET';
  failAssoc(a, io, code);
}

/** SHUTDOWN primitive (§9.2): no more sends; SHUTDOWN once everything sent has been acknowledged. */
export function userShutdown(a: Assoc): void {
  a.shutdownWanted = true;
}

/** Move the shutdown sequence on when its conditions hold (called after every step of the association). */
export function shutdownProgress(a: Assoc, now: Ms): void {
  if (a.state === 'ESTABLISHED' && a.shutdownWanted) a.state = 'SHUTDOWN-PENDING';
  if (a.state === 'SHUTDOWN-PENDING' && allAcked(a)) {
    // §9.2: all outstanding data acknowledged: SHUTDOWN with our Cumulative TSN Ack, T2-shutdown,
    // and the T5-shutdown-guard bounding the whole sequence (5 * RTO.Max).
    a.state = 'SHUTDOWN-SENT';
    sendShutdown(a, now);
    a.t5 = now + 5 * a.cfg.rtoMax;
  } else if (a.state === 'SHUTDOWN-RECEIVED' && allAcked(a)) {
    a.state = 'SHUTDOWN-ACK-SENT';
    sendShutdownAck(a, now);
  }
}

function sendShutdown(a: Assoc, now: Ms, pi = dataPath(a)): void {
  a.ctrl.push({ path: pi, chunk: shutdownChunk(a.cumTsn) });
  // The SHUTDOWN carries the cumulative TSN: a pending delayed SACK is no longer needed unless there are gaps.
  if (a.rcvRanges.length === 0 && a.dupTsns.length === 0) { a.sackAt = null; a.sackNow = false; a.pktsUnacked = 0; }
  a.t2 = now + a.paths[pi]!.rto;
  a.t2Path = pi;
}

/** SHUTDOWN ACK, by default to where the SHUTDOWN came from (§6.4 replies). */
function sendShutdownAck(a: Assoc, now: Ms, pi = replyPath(a)): void {
  a.ctrl.push({ path: pi, chunk: shutdownAckChunk() });
  a.t2 = now + a.paths[pi]!.rto;
  a.t2Path = pi;
}

/** Where a reply goes: the path the last packet came from if it is active, else the data path. */
const replyPath = (a: Assoc): number => (a.paths[a.replyPath]?.active ? a.replyPath : dataPath(a));

/** A SHUTDOWN from the peer (§9.2). */
export function onShutdown(a: Assoc, cumTsnAck: number, io: SctpIo, now: Ms): void {
  switch (a.state) {
    case 'ESTABLISHED': case 'SHUTDOWN-PENDING': case 'SHUTDOWN-RECEIVED':
      // §9.2: its Cumulative TSN Ack acknowledges our data like a SACK's; then SHUTDOWN-RECEIVED:
      // no new data from the application, retransmit what is outstanding, SHUTDOWN ACK when done.
      onSack(a, sackChunk(cumTsnAck, a.peerArwnd), io, now);
      a.state = 'SHUTDOWN-RECEIVED';
      a.peerShutdown = true;
      // The peer sends SHUTDOWN only once all its data was acknowledged: no SACK is owed any more.
      a.sackAt = null; a.sackNow = false; a.pktsUnacked = 0; a.dupTsns = [];
      return;
    case 'SHUTDOWN-SENT':
      // §9.2: both sides shut down at once: SHUTDOWN ACK at once, SHUTDOWN-ACK-SENT, T2 restarted.
      onSack(a, sackChunk(cumTsnAck, a.peerArwnd), io, now);
      a.peerShutdown = true;
      a.state = 'SHUTDOWN-ACK-SENT';
      sendShutdownAck(a, now);
      return;
    case 'SHUTDOWN-ACK-SENT':
      // Our SHUTDOWN ACK was lost: send it again.
      a.ctrl.push({ path: replyPath(a), chunk: shutdownAckChunk() });
      return;
    default:
      return;
  }
}

/** A SHUTDOWN ACK in SHUTDOWN-SENT or SHUTDOWN-ACK-SENT (§9.2): SHUTDOWN COMPLETE, CLOSED. */
export function onShutdownAck(a: Assoc, io: SctpIo): void {
  if (a.state !== 'SHUTDOWN-SENT' && a.state !== 'SHUTDOWN-ACK-SENT') return;
  emitPacket(io, a, a.paths[replyPath(a)]!, [shutdownCompleteChunk(false)]);
  a.peerShutdown = true;
  failAssoc(a, io, null);
}

/** A SHUTDOWN COMPLETE (tag checked, §8.5.1 C): only in SHUTDOWN-ACK-SENT, where it ends the association. */
export function onShutdownComplete(a: Assoc, io: SctpIo): void {
  if (a.state !== 'SHUTDOWN-ACK-SENT') return;
  failAssoc(a, io, null);
}

/**
 * T2-shutdown expired (§9.2): SHUTDOWN or SHUTDOWN ACK again, on an alternate path if there
 * is one; each counts as a retransmission for Association.Max.Retrans.
 */
export function onT2(a: Assoc, io: SctpIo, now: Ms): void {
  a.t2 = null;
  const last = Math.min(a.t2Path, a.paths.length - 1);
  backoff(a, a.paths[last]!);
  // §8.1, §8.2: an unanswered SHUTDOWN / SHUTDOWN ACK counts on its path and the association.
  if (countError(a, last, io, true)) { abortAssoc(a, io, 'ETIMEDOUT', []); return; }
  const pi = altPath(a, last);
  if (a.state === 'SHUTDOWN-SENT') sendShutdown(a, now, pi);
  else if (a.state === 'SHUTDOWN-ACK-SENT') sendShutdownAck(a, now, pi);
}

/** T5-shutdown-guard expired (§9.2): ABORT. */
export function onT5(a: Assoc, io: SctpIo): void {
  a.t5 = null;
  abortAssoc(a, io, 'ETIMEDOUT', []);
}

/** After a DATA packet in SHUTDOWN-SENT (§9.2): answer with SHUTDOWN at once and restart T2. */
export function shutdownSentData(a: Assoc, now: Ms): void {
  if (a.state !== 'SHUTDOWN-SENT') return;
  a.sackNow = a.rcvRanges.length > 0 || a.dupTsns.length > 0;
  sendShutdown(a, now, replyPath(a));
}

/** The peer shut down and the application has read everything: 'eof', once. */
export function eofCheck(a: Assoc, io: SctpIo): void {
  if (a.peerShutdown && !a.eofSignalled && a.readQ.length === 0 && a.app !== 'pending') {
    a.eofSignalled = true;
    emitEvent(io, { type: 'eof', id: a.id });
  }
}
