// An in-memory link pair: two Hosts in one process talk over it on the real clock. What one
// side sends during an event-loop turn reaches the other side as one batch on the next
// `setImmediate`, so a burst of segments costs one wake-up and the receiver steps them all
// before it flushes its own output (the batching the driver is built for).
//
// Packets are handed over as they are, without copying: the stack's output buffers are
// fresh and owned by the caller (stack/api.ts StepResult.out), and the link never touches
// them again after `send`.

import type { Link } from './driver.ts';

export interface MemLinkOptions {
  /**
   * Called for every packet just before it is queued for the peer; return false to drop it
   * (tests use this for loss, and as a tap). `from` is 0 or 1: the index of the sending end.
   */
  readonly filter?: (pkt: Uint8Array, from: 0 | 1) => boolean;
}

/** One end of the pair (also usable on its own by tests that want to see raw packets). */
export class MemLinkEnd implements Link {
  /** Packets this end has sent (after the filter) / delivered to its receiver. */
  sent = 0;
  received = 0;
  peer: MemLinkEnd | null = null;
  private cb: ((pkts: Uint8Array[]) => void) | null = null;
  private inbox: Uint8Array[] = [];
  private scheduled: NodeJS.Immediate | null = null;
  private closed = false;

  constructor(private readonly index: 0 | 1, private readonly opts: MemLinkOptions) {}

  send(pkts: Uint8Array[]): void {
    const peer = this.peer;
    if (this.closed || peer === null || peer.closed) return;
    const filter = this.opts.filter;
    for (const p of pkts) {
      if (filter !== undefined && !filter(p, this.index)) continue;
      peer.inbox.push(p);
      this.sent++;
    }
    if (peer.inbox.length > 0) peer.schedule();
  }

  onReceive(cb: (pkts: Uint8Array[]) => void): void {
    this.cb = cb;
    if (this.inbox.length > 0) this.schedule();
  }

  close(): void {
    this.closed = true;
    this.inbox = [];
    if (this.scheduled !== null) { clearImmediate(this.scheduled); this.scheduled = null; }
  }

  private schedule(): void {
    if (this.scheduled !== null || this.cb === null || this.closed) return;
    this.scheduled = setImmediate(() => this.deliver());
  }

  private deliver(): void {
    this.scheduled = null;
    const cb = this.cb;
    if (this.closed || cb === null || this.inbox.length === 0) return;
    const batch = this.inbox;
    this.inbox = [];
    this.received += batch.length;
    cb(batch);
  }
}

/** Two connected link ends: what end 0 sends, end 1 receives, and the other way round. */
export function memLinkPair(opts: MemLinkOptions = {}): [MemLinkEnd, MemLinkEnd] {
  const a = new MemLinkEnd(0, opts), b = new MemLinkEnd(1, opts);
  a.peer = b; b.peer = a;
  return [a, b];
}
