// The stack's deadline index: when is the next connection timer due, and which connections are
// due now, without walking every TCB (a driver asks once per read batch; 100,000 idle
// connections must cost nothing per ask). Plain data (STYLE.md §2): a binary min-heap kept as
// two parallel arrays, plus the time each connection is scheduled at.
//
// Entries are lower bounds with lazy deletion:
//   - `sched[id]` is the time of the one live entry of connection `id`; other entries for `id`
//     (superseded by an earlier push, or left by a connection that went away) are stale and are
//     skipped when they surface. `stale` counts them so the heap is rebuilt once they are the
//     majority (amortised O(1) per push).
//   - A connection's deadline only ever gets a new entry when it moves EARLIER than its live
//     entry. When it moves later (an RTO restarted by every ACK, a keepalive pushed back by
//     every segment) the live entry stays; when it surfaces early it is re-filed at the real
//     deadline. So a busy connection costs no heap operation per segment.
//   - `prune` (run after every stack step) drops stale entries and re-files early ones at the
//     top, so the top is exact and nextDeadline is O(1).
// Invariant: every connection in the table with a deadline d has sched[id] <= d and a heap
// entry (sched[id], id). Code that installs a TCB into the table by other means (resume after
// migration) calls scheduleConn in stack.ts.
import type { ConnId, Ms } from './api.ts';

export interface DeadlineIndex {
  /** Heap keys (deadline, ms on the stack clock); heap order: at[i] <= at[2i+1], at[2i+2]. */
  at: Ms[];
  /** Connection of each heap entry. */
  id: ConnId[];
  /** Time of each connection's live entry. */
  sched: Record<ConnId, Ms>;
  /** Entries in the heap that are no longer live (a rebuild threshold, not exact). */
  stale: number;
}

/** Anything with a cached deadline (a Tcb). */
interface HasDeadline { deadline: Ms | null }

export function newDeadlineIndex(): DeadlineIndex {
  return { at: [], id: [], sched: {}, stale: 0 };
}

function push(ix: DeadlineIndex, at: Ms, id: ConnId): void {
  const a = ix.at, d = ix.id;
  let i = a.length;
  a.push(at);
  d.push(id);
  while (i > 0) {
    const p = (i - 1) >> 1;
    const pa = a[p]!;
    if (pa <= at) break;
    a[i] = pa;
    d[i] = d[p]!;
    i = p;
  }
  a[i] = at;
  d[i] = id;
}

/** Remove the top entry. */
function pop(ix: DeadlineIndex): void {
  const a = ix.at, d = ix.id;
  const lastAt = a.pop()!, lastId = d.pop()!;
  const n = a.length;
  if (n === 0) return;
  let i = 0;
  for (;;) {
    const l = 2 * i + 1;
    if (l >= n) break;
    const r = l + 1;
    const c = r < n && a[r]! < a[l]! ? r : l;
    if (a[c]! >= lastAt) break;
    a[i] = a[c]!;
    d[i] = d[c]!;
    i = c;
  }
  a[i] = lastAt;
  d[i] = lastId;
}

/** File connection `id` whose deadline is now `deadline` (after any change to its timers). */
export function schedule(ix: DeadlineIndex, id: ConnId, deadline: Ms | null): void {
  if (deadline === null) return;
  const s = ix.sched[id];
  if (s !== undefined && s <= deadline) return;
  if (s !== undefined) ix.stale++;
  ix.sched[id] = deadline;
  push(ix, deadline, id);
}

/** Connection `id` left the table: its entries are stale. */
export function unschedule(ix: DeadlineIndex, id: ConnId): void {
  if (ix.sched[id] === undefined) return;
  delete ix.sched[id];
  ix.stale++;
}

/**
 * Take every live entry due at `now`: the connections to look at (their live entry is gone;
 * the caller fires their timers and files them again, or re-files one whose deadline moved).
 */
export function takeDue(ix: DeadlineIndex, now: Ms): ConnId[] {
  const due: ConnId[] = [];
  while (ix.at.length > 0 && ix.at[0]! <= now) {
    const at = ix.at[0]!, id = ix.id[0]!;
    pop(ix);
    if (ix.sched[id] !== at) { if (ix.stale > 0) ix.stale--; continue; }
    delete ix.sched[id];
    due.push(id);
  }
  return due;
}

/**
 * Make the top exact: drop stale entries, and re-file a top entry whose connection's deadline
 * moved (later, cleared, or the connection is gone). Rebuilds the heap when stale entries
 * dominate. Run after every step.
 */
export function prune(ix: DeadlineIndex, tcp: Record<ConnId, HasDeadline>): void {
  if (ix.stale > 1024 && ix.stale * 2 > ix.at.length) { rebuild(ix, tcp); return; }
  while (ix.at.length > 0) {
    const at = ix.at[0]!, id = ix.id[0]!;
    if (ix.sched[id] !== at) { pop(ix); if (ix.stale > 0) ix.stale--; continue; }
    const t = tcp[id];
    const d = t === undefined ? null : t.deadline;
    if (d === at) return;
    pop(ix);
    delete ix.sched[id];
    if (d !== null) { ix.sched[id] = d; push(ix, d, id); }
  }
}

/** Earliest live deadline (exact after prune), or null. O(1). */
export function peekDeadline(ix: DeadlineIndex): Ms | null {
  return ix.at.length > 0 ? ix.at[0]! : null;
}

/** Rebuild from the connection table: one entry per connection with a deadline. O(n). */
export function rebuild(ix: DeadlineIndex, tcp: Record<ConnId, HasDeadline>): void {
  ix.at = [];
  ix.id = [];
  ix.sched = {};
  ix.stale = 0;
  for (const id in tcp) {
    const d = tcp[id]!.deadline;
    if (d !== null) { ix.sched[id] = d; push(ix, d, id); }
  }
}

/** Move every entry by `delta` ms (resume on another clock). A uniform shift keeps heap order. */
export function shiftDeadlines(ix: DeadlineIndex, delta: number): void {
  const a = ix.at;
  for (let i = 0; i < a.length; i++) a[i] = a[i]! + delta;
  for (const id in ix.sched) ix.sched[id] = ix.sched[id]! + delta;
}
