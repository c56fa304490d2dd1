// Where drivers get `now` (ms) from. The stack never reads a clock; the driver does, through
// one of these, so the same driver code runs against wall time or a simulated/test time.

/** A monotonic millisecond clock. */
export interface Clock {
  /** Current time in milliseconds (monotonic; the origin is the clock's own). */
  now(): number;
}

/** Wall-clock monotonic time: `performance.now()` (ms since process start, sub-ms resolution). */
export const realClock: Clock = { now: () => performance.now() };

/** A clock that moves only when told to. Never goes backwards (throws: programmer error). */
export class VirtualClock implements Clock {
  private t: number;

  constructor(start = 0) {
    if (!Number.isFinite(start)) throw new RangeError(`VirtualClock: bad start ${start}`);
    this.t = start;
  }

  now(): number { return this.t; }

  /** Move forward by `ms` ≥ 0; returns the new time. */
  advance(ms: number): number {
    if (!(ms >= 0) || !Number.isFinite(ms)) throw new RangeError(`VirtualClock.advance: bad step ${ms}`);
    this.t += ms;
    return this.t;
  }

  /** Jump to absolute time `t` ≥ now(); returns it. */
  set(t: number): number {
    if (!(t >= this.t) || !Number.isFinite(t)) throw new RangeError(`VirtualClock.set: ${t} is before ${this.t}`);
    this.t = t;
    return t;
  }
}
