// The SCTP side of a stack as plain data: listeners, associations and the index that maps
// an arriving packet to its association; plus the per-step output context (SctpIo).
import { hmacSha256, keyedHash32 } from '../crypto.ts';
import type { Assoc, SctpAssocConfig } from './assoc.ts';
import type { AssocId, SctpAppEvent, SctpListenerId, SctpOut, SctpStackConfig } from './events.ts';

/** A passive open (§5.1: the endpoint that receives INIT keeps no state until COOKIE ECHO). */
export interface SctpListener {
  id: SctpListenerId;
  port: number;
  /** Addresses the listener answers on (null: every stack address). */
  addresses: string[] | null;
  backlog: number;
  acceptQ: AssocId[];
  options: Partial<SctpAssocConfig>;
}

export interface SctpStackState {
  readonly v: 1;
  config: SctpStackConfig;
  /** Per-stack secret from the driver; cookie MACs, tags, TSNs and jitter are derived from it. */
  secret: Uint8Array;
  /** HMAC key for State Cookies (§5.1.3), derived from the secret. */
  cookieKey: Uint8Array;
  /** Counter mixed with the secret for each random value (§5.3.1 tags, initial TSNs, nonces). */
  rand: number;
  assocs: Record<AssocId, Assoc>;
  /** `${localPort}|${remoteAddr}|${remotePort}` for every peer address of every live association. */
  byRemote: Record<string, AssocId>;
  listeners: Record<SctpListenerId, SctpListener>;
  nextPort: number;
  /** Counters by name (drops by reason, OOTB answers, ...). */
  counters: Record<string, number>;
}

/** Output of one step. */
export interface SctpIo {
  out: SctpOut[];
  events: SctpAppEvent[];
  st: SctpStackState;
}

/** Bump a named counter. */
export function count(io: SctpIo, name: string, n = 1): void {
  const c = io.st.counters;
  c[name] = (c[name] ?? 0) + n;
}

/** Queue an application event; readable/writable/eof at most once per id and step. */
export function emitEvent(io: SctpIo, ev: SctpAppEvent): void {
  if (ev.type === 'readable' || ev.type === 'writable' || ev.type === 'eof') {
    for (const e of io.events) if (e.type === ev.type && e.id === ev.id) return;
  }
  io.events.push(ev);
}

/** A 32-bit value derived from the stack secret and a counter (RFC 9260 §5.3.1: tags must be unpredictable). */
export function rand32(st: SctpStackState): number {
  const b = new Uint8Array(9);
  b[0] = 0x53;
  new DataView(b.buffer).setFloat64(1, st.rand++);
  return keyedHash32(st.secret, b);
}

/** A non-zero random 32-bit value (verification tags, tie-tags, §3.3.2). */
export function randNonZero(st: SctpStackState): number {
  for (;;) {
    const r = rand32(st);
    if (r !== 0) return r;
  }
}

/** The demux key of one peer address of an association. */
export const remoteKey = (localPort: number, remoteAddr: string, remotePort: number): string => `${localPort}|${remoteAddr}|${remotePort}`;

/** Derive the cookie key from the secret. */
export const deriveCookieKey = (secret: Uint8Array): Uint8Array =>
  hmacSha256(secret, new Uint8Array([0x73, 0x63, 0x74, 0x70, 0x2d, 0x63, 0x6f, 0x6f, 0x6b, 0x69, 0x65])); // "sctp-cookie"
