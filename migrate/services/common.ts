// Pieces the built-in services share: the state blob format, a guard that turns a throw in an
// event handler into a log record (a service never throws at the event loop), and the
// backpressure flag logic that keeps a connection the node is moving paused.
import type { LogFn } from '../node-types.ts';

/**
 * A service's move state: `u32 length of meta | meta (JSON, UTF-8) | raw bytes`. The meta is
 * small (counters, offsets, flags); the raw part carries bytes the service held (a partial
 * line, unparsed request bytes) without base64.
 */
export function packState(meta: unknown, raw: Uint8Array = new Uint8Array(0)): Uint8Array {
  const m = new TextEncoder().encode(JSON.stringify(meta));
  const out = new Uint8Array(4 + m.length + raw.length);
  new DataView(out.buffer).setUint32(0, m.length);
  out.set(m, 4);
  out.set(raw, 4 + m.length);
  return out;
}

/** The inverse of packState; null when the blob is malformed (never throws). */
export function unpackState(b: Uint8Array): { meta: unknown; raw: Uint8Array } | null {
  if (b.length < 4) return null;
  const n = new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(0);
  if (n > b.length - 4) return null;
  try {
    const meta: unknown = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(b.subarray(4, 4 + n)));
    return { meta, raw: b.slice(4 + n) };
  } catch {
    return null;
  }
}

/** A plain-object view of `v`, or null. */
export function asRecord(v: unknown): Record<string, unknown> | null {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}

/** A non-negative safe integer field, or null. */
export function natField(r: Record<string, unknown>, k: string): number | null {
  const v = r[k];
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : null;
}

export function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b.slice();
  if (b.length === 0) return a;
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

export function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Wrap an event handler: a throw inside it is logged as `error` and handed to
 * `onError` (typically: destroy the connection) instead of reaching the event loop.
 */
export function guarded<A extends unknown[]>(log: LogFn, service: string, id: string, onError: (e: unknown) => void, fn: (...a: A) => void): (...a: A) => void {
  return (...a: A) => {
    try {
      fn(...a);
    } catch (e) {
      log('error', { service, id, error: errText(e) });
      try { onError(e); } catch { /* already failing: nothing more to do */ }
    }
  };
}

/**
 * Read-side flow control of one connection, shared by the services that pause their input
 * while their own output is backed up. The node also pauses a connection it is about to move;
 * a 'drain' arriving after that must not resume it (bytes read then would be taken from the
 * stack, where the snapshot would have carried them). So once a switch-over is announced
 * (`hold`), the service never resumes reading on its own.
 */
export class ReadGate {
  /** The service paused reading because a write returned false / the send queue filled. */
  blocked = false;
  /** A switch-over is under way: reading stays as the node leaves it. */
  held = false;
  constructor(private readonly pauseFn: () => void, private readonly resumeFn: () => void) {}

  block(): void {
    if (this.blocked) return;
    this.blocked = true;
    this.pauseFn();
  }

  /** The output drained: read again unless a move is coming. */
  unblock(): void {
    if (!this.blocked) return;
    this.blocked = false;
    if (!this.held) this.resumeFn();
  }

  hold(): void { this.held = true; }

  /** The move was called off: read again unless our own output is still backed up. */
  release(): void {
    this.held = false;
    if (!this.blocked) this.resumeFn();
  }
}
