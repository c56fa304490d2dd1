// The authenticated envelope a snapshot travels in between nodes: HMAC-SHA-256 with a key
// derived from the cluster key, and a random snapshot id so that a snapshot accepted once is
// never accepted again (replay). Layout:
//
//   'F' 'R' 'Y' 'E'   magic
//   u8  version       1
//   16  id            random snapshot id
//   f64 createdAt     sender's wall clock (ms since the epoch, big-endian float64)
//   u32 length        snapshot bytes that follow
//   ... snapshot      (migrate/snapshot.ts)
//   32  mac           HMAC-SHA-256(K, everything above), K = HMAC-SHA-256(clusterKey, 'ferry snapshot envelope v1')
//
// The receiver checks, in order: length and magic, the MAC (constant time; nothing else of an
// unauthenticated envelope is looked at), then freshness (createdAt within maxAgeMs of its own
// wall clock, allowing maxSkewMs of clock difference), then the replay cache. Ids are
// remembered until they would be too old anyway, so memory stays bounded by the rate of
// migrations times maxAgeMs (and by a hard cap, beyond which new envelopes are refused).
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Parsed } from '../stack/wire/bytes.ts';

const MAGIC = [0x46, 0x52, 0x59, 0x45]; // 'FRYE'
export const ENVELOPE_VERSION = 1;
const HEAD = 4 + 1 + 16 + 8 + 4;
const MAC_LEN = 32;
/** Envelope bytes around the snapshot. */
export const ENVELOPE_OVERHEAD = HEAD + MAC_LEN;

/** A cluster key: at least 16 bytes shared by every node of the cluster. */
export type ClusterKey = Uint8Array;

const derived = new WeakMap<Uint8Array, Uint8Array>();

/** The envelope's MAC key for a cluster key (domain-separated from the hand-over link's keys). */
function envelopeKey(clusterKey: ClusterKey): Uint8Array {
  let k = derived.get(clusterKey);
  if (k === undefined) {
    if (clusterKey.length < 16) throw new RangeError(`cluster key must be at least 16 bytes, got ${clusterKey.length}`);
    k = new Uint8Array(createHmac('sha256', clusterKey).update('ferry snapshot envelope v1').digest());
    derived.set(clusterKey, k);
  }
  return k;
}

/** HMAC-SHA-256 of `parts` under `key`. */
export function hmac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const h = createHmac('sha256', key);
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

/** Constant-time equality of two MACs. */
export function macEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export interface SealOptions {
  /** 16-byte id (default: random). */
  id?: Uint8Array;
  /** Wall-clock ms (default Date.now()). */
  createdAt?: number;
}

/** Wrap snapshot bytes in an authenticated envelope. */
export function sealSnapshot(snapshot: Uint8Array, clusterKey: ClusterKey, o: SealOptions = {}): Uint8Array {
  const id = o.id ?? new Uint8Array(randomBytes(16));
  if (id.length !== 16) throw new RangeError('snapshot id must be 16 bytes');
  const out = new Uint8Array(HEAD + snapshot.length + MAC_LEN);
  const dv = new DataView(out.buffer);
  out.set(MAGIC, 0);
  out[4] = ENVELOPE_VERSION;
  out.set(id, 5);
  dv.setFloat64(21, o.createdAt ?? Date.now());
  dv.setUint32(29, snapshot.length);
  out.set(snapshot, HEAD);
  out.set(hmac(envelopeKey(clusterKey), out.subarray(0, HEAD + snapshot.length)), HEAD + snapshot.length);
  return out;
}

export interface Opened {
  id: Uint8Array;
  /** Hex of the id (the replay cache key). */
  idHex: string;
  createdAt: number;
  /** The snapshot bytes (a copy): decode them with decodeSnapshot. */
  snapshot: Uint8Array;
}

export type EnvelopeError =
  | 'truncated' | 'bad-magic' | 'unsupported-version' | 'bad-length' | 'bad-mac' | 'expired' | 'from-the-future'
  | 'replayed' | 'replay-cache-full';

/**
 * Remembers the ids of accepted envelopes for as long as they could still pass the freshness
 * check, so none is accepted twice. One guard per receiving node.
 */
export class ReplayGuard {
  private seen = new Map<string, number>();
  constructor(
    /** Envelopes older than this are refused (ms). */
    readonly maxAgeMs = 120_000,
    /** Tolerated clock difference between nodes (ms). */
    readonly maxSkewMs = 5_000,
    /** Hard bound on remembered ids. */
    readonly maxEntries = 1_000_000,
  ) {}

  get size(): number { return this.seen.size; }

  /** Accept (and remember) an id, or say why not. */
  admit(idHex: string, createdAt: number, now: number): EnvelopeError | null {
    this.prune(now);
    if (!(createdAt >= now - this.maxAgeMs)) return 'expired';
    if (createdAt > now + this.maxSkewMs) return 'from-the-future';
    if (this.seen.has(idHex)) return 'replayed';
    if (this.seen.size >= this.maxEntries) return 'replay-cache-full';
    // Forgettable once it would fail the age check anyway.
    this.seen.set(idHex, createdAt + this.maxAgeMs);
    return null;
  }

  private prune(now: number): void {
    // Map iteration is insertion order, which is close to expiry order (senders' clocks agree within maxSkewMs).
    for (const [k, exp] of this.seen) {
      if (exp >= now - this.maxSkewMs) break;
      this.seen.delete(k);
    }
  }
}

const hex = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.length).toString('hex');

/**
 * Authenticate an envelope and admit it through `guard` (at wall-clock `now`, default
 * Date.now()). Never throws on bad input.
 */
export function openSnapshot(env: Uint8Array, clusterKey: ClusterKey, guard: ReplayGuard, now = Date.now()): Parsed<Opened, EnvelopeError> {
  if (env.length < HEAD + MAC_LEN) return { ok: false, error: 'truncated' };
  for (let i = 0; i < 4; i++) if (env[i] !== MAGIC[i]) return { ok: false, error: 'bad-magic' };
  const dv = new DataView(env.buffer, env.byteOffset, env.byteLength);
  const len = dv.getUint32(29);
  if (len !== env.length - HEAD - MAC_LEN) return { ok: false, error: env.length - HEAD - MAC_LEN < len ? 'truncated' : 'bad-length' };
  const mac = hmac(envelopeKey(clusterKey), env.subarray(0, HEAD + len));
  if (!macEqual(mac, env.subarray(HEAD + len))) return { ok: false, error: 'bad-mac' };
  // Authenticated from here on.
  if (env[4] !== ENVELOPE_VERSION) return { ok: false, error: 'unsupported-version' };
  const id = env.slice(5, 21);
  const createdAt = dv.getFloat64(21);
  const idHex = hex(id);
  const why = guard.admit(idHex, createdAt, now);
  if (why !== null) return { ok: false, error: why };
  return { ok: true, value: { id, idHex, createdAt, snapshot: env.slice(HEAD, HEAD + len) } };
}

// ------------------------------------------------------------------------------ batches

const BATCH_MAGIC = [0x46, 0x52, 0x59, 0x42]; // 'FRYB'

/**
 * Many snapshots as one payload (one envelope, one MAC, one replay-cache entry for a mass
 * migration): 'FRYB', u32 count, then per snapshot a u32 length and its bytes.
 */
export function packBatch(snapshots: readonly Uint8Array[]): Uint8Array {
  let n = 8;
  for (const s of snapshots) n += 4 + s.length;
  const out = new Uint8Array(n);
  const dv = new DataView(out.buffer);
  out.set(BATCH_MAGIC, 0);
  dv.setUint32(4, snapshots.length);
  let o = 8;
  for (const s of snapshots) { dv.setUint32(o, s.length); out.set(s, o + 4); o += 4 + s.length; }
  return out;
}

/** The snapshots of a batch (views into `b`), or null when `b` is not a well-formed batch. */
export function unpackBatch(b: Uint8Array): Uint8Array[] | null {
  if (b.length < 8) return null;
  for (let i = 0; i < 4; i++) if (b[i] !== BATCH_MAGIC[i]) return null;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const count = dv.getUint32(4);
  if (count > (b.length - 8) / 4) return null;
  const out: Uint8Array[] = [];
  let o = 8;
  for (let i = 0; i < count; i++) {
    if (o + 4 > b.length) return null;
    const len = dv.getUint32(o);
    if (len > b.length - o - 4) return null;
    out.push(b.subarray(o + 4, o + 4 + len));
    o += 4 + len;
  }
  return o === b.length ? out : null;
}
