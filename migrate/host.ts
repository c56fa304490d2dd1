// Migration at the Host/socket level: freeze a live tun/net.ts Socket on one Host and resume
// it on another Host as a live Socket the application keeps using.
//
//   const m = freezeSocket(hostA, socket, key, { app: myState });   // socket A is now inert
//   expectSocket(hostB, m.id);          // hostB holds the connection's packets from now on
//   ... switch the route; ship m.envelope (e.g. over the hand-over link) ...
//   const { socket, app } = resumeSocket(hostB, m.envelope, key, guard);
//   ... forward takeHeldPackets(hostA, m.id) to hostB for a while, then releaseFrozen(hostA, m.id).
//
// Built on public pieces only: Host.state/call/input/flush/unwatchConn, Socket.accepted,
// Readable.read/unshift. What that cannot reach (see report): bytes the application wrote that
// still sit in the Socket's Writable buffer (not yet accepted by the stack) cannot be taken
// out, so freezeSocket refuses a socket whose writableLength is not 0 (wait for 'drain'); and a
// connection still in its handshake resumes without a 'connect' event.
//
// Snapshot payload: a tcp-conn snapshot whose application blob is a small frame
//   u32 length of the unread bytes | unread bytes | the application's own blob
// where "unread" are bytes the Socket had already pulled from the stack into its readable
// buffer but the application had not consumed: they are put back in front on resume.
import type { ConnId } from '../stack/api.ts';
import { exportConn, freezeConn, importConn, releaseConn, reserve, takeHeld, thawConn, unreserve } from '../stack/freeze.ts';
import type { Host } from '../tun/driver.ts';
import { Socket, type Server } from '../tun/net.ts';
import { openSnapshot, sealSnapshot, type ClusterKey, type EnvelopeError, type ReplayGuard } from './envelope.ts';
import { decodeSnapshot, encodeSnapshot } from './snapshot.ts';

export class MigrateError extends Error {
  override name = 'MigrateError';
}

export interface FrozenSocket {
  id: ConnId;
  /** The sealed snapshot to ship. */
  envelope: Uint8Array;
  /** Snapshot size (bytes, before the envelope). */
  snapshotBytes: number;
}

/**
 * Freeze `socket`'s connection on `host` and seal it. The Socket object is left inert (the
 * application drops it); the stack holds the connection's packets until releaseFrozen.
 */
export function freezeSocket(host: Host, socket: Socket, key: ClusterKey, o: { app?: Uint8Array } = {}): FrozenSocket {
  const id = socket.id;
  if (id === null) throw new MigrateError('freezeSocket: the socket has no connection');
  if (socket.connecting) throw new MigrateError('freezeSocket: the socket is still connecting');
  if (socket.writableLength > 0) {
    throw new MigrateError(`freezeSocket: ${socket.writableLength} bytes are still in the socket's stream buffer (not yet accepted by the stack): wait for 'drain'`);
  }
  socket.pause();
  // Bytes already pulled into the readable buffer go back in front on the other side. read()
  // would hand them to the application's 'data' listeners as well: this socket is done for, so
  // its listeners go first.
  socket.removeAllListeners('data');
  socket.removeAllListeners('readable');
  const unread: Uint8Array[] = [];
  for (let c = socket.read() as Buffer | null; c !== null; c = socket.read() as Buffer | null) unread.push(new Uint8Array(c));
  const now = host.now();
  const f = freezeConn(host.state, id, now);
  if (!f.ok) throw new MigrateError(`freezeSocket: ${f.error}`);
  host.unwatchConn(id);
  // The old Socket lets go quietly: close/abort of a frozen id is EBADF in the stack (no RST, no FIN).
  socket.destroy();
  host.flush();
  const e = exportConn(host.state, id);
  if (!e.ok) throw new MigrateError(`freezeSocket: ${e.error}`);
  const app = packBlob(concat(unread), o.app ?? new Uint8Array(0));
  const bytes = encodeSnapshot({ kind: 'tcp-conn', takenAt: now, conn: e.value, app });
  return { id, envelope: sealSnapshot(bytes, key), snapshotBytes: bytes.length };
}

/**
 * On the destination, before the route switches: hold packets for connection `id` until its
 * snapshot is resumed here (resumeSocket replays them). Without it, a packet that arrives
 * first would find no connection and draw a RST.
 */
export function expectSocket(host: Host, id: ConnId): void {
  const r = reserve(host.state, id);
  if (!r.ok) throw new MigrateError(`expectSocket: ${r.error}`);
}

/** Give up waiting for `id` (the migration was called off); returns what was held. */
export function unexpectSocket(host: Host, id: ConnId): Uint8Array[] {
  return unreserve(host.state, id);
}

/** Packets that arrived for a frozen connection since the export (forward them to where it went). */
export function takeHeldPackets(host: Host, id: ConnId): Uint8Array[] {
  return takeHeld(host.state, id);
}

/** The connection lives elsewhere now: forget it here (returns packets still held). */
export function releaseFrozen(host: Host, id: ConnId): Uint8Array[] {
  return releaseConn(host.state, id);
}

/** Call a migration off: the connection goes live again on `host` (a new Socket for it). */
export function thawSocket(host: Host, id: ConnId): Socket {
  const r = thawConn(host.state, id, host.now());
  if (!r.ok) throw new MigrateError(`thawSocket: ${r.error}`);
  const s = adopt(host, id);
  host.input(r.value.replay);
  host.flush();
  return s;
}

export interface Resumed {
  socket: Socket;
  /** The application's blob given to freezeSocket. */
  app: Uint8Array;
  id: ConnId;
}

export type ResumeError = EnvelopeError | `snapshot: ${string}` | `install: ${string}`;

/** Install a shipped socket on `host` and hand back a live Socket. Throws MigrateError with the reason. */
export function resumeSocket(host: Host, envelope: Uint8Array, key: ClusterKey, guard: ReplayGuard): Resumed {
  const o = openSnapshot(envelope, key, guard);
  if (!o.ok) throw new MigrateError(`resumeSocket: envelope refused: ${o.error}`);
  const d = decodeSnapshot(o.value.snapshot);
  if (!d.ok) throw new MigrateError(`resumeSocket: snapshot refused: ${d.error}`);
  const s = d.value;
  if (s.kind !== 'tcp-conn') throw new MigrateError(`resumeSocket: a ${s.kind} snapshot is not a socket`);
  const blob = unpackBlob(s.app ?? new Uint8Array(4));
  if (blob === null) throw new MigrateError('resumeSocket: malformed application blob');
  const r = importConn(host.state, s.conn, host.now());
  if (!r.ok) throw new MigrateError(`resumeSocket: install refused: ${r.error}`);
  const id = r.value.id;
  const socket = adopt(host, id);
  if (blob.unread.length > 0) socket.unshift(Buffer.from(blob.unread.buffer, blob.unread.byteOffset, blob.unread.length));
  // The application had ended its side: keep the stream's writable state in step with the stack's.
  if (s.conn.tcb.wrShut) socket.end();
  host.input(r.value.replay);
  host.flush();
  return { socket, app: blob.app, id };
}

/** A Socket over an existing connection id (the accepted-socket constructor, with no Server). */
function adopt(host: Host, id: ConnId): Socket {
  return Socket.accepted(host, id, null as unknown as Server, { allowHalfOpen: true });
}

function packBlob(unread: Uint8Array, app: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + unread.length + app.length);
  new DataView(out.buffer).setUint32(0, unread.length);
  out.set(unread, 4);
  out.set(app, 4 + unread.length);
  return out;
}

function unpackBlob(b: Uint8Array): { unread: Uint8Array; app: Uint8Array } | null {
  if (b.length < 4) return null;
  const n = new DataView(b.buffer, b.byteOffset, b.length).getUint32(0);
  if (n > b.length - 4) return null;
  return { unread: b.slice(4, 4 + n), app: b.slice(4 + n) };
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}
