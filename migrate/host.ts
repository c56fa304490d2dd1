// Migration at the Host/socket level: freeze a live tun/net.ts Socket on one Host and resume
// it on another Host as a live Socket the application keeps using.
//
//   const m = freezeSocket(hostA, socket, key, { app: myState });   // socket A is now inert
//   expectSocket(hostB, m.id);          // hostB holds the connection's packets from now on
//   ... switch the route; ship m.envelope (e.g. over the hand-over link) ...
//   const { socket, app } = resumeSocket(hostB, m.envelope, key, guard);
//   ... forward takeHeldPackets(hostA, m.id) to hostB for a while, then releaseFrozen(hostA, m.id).
//
// Built on Host.state/call/input/flush/unwatchConn, Socket.accepted/takeUnsent,
// Readable.read/unshift. A connection still in its handshake resumes without a 'connect' event.
//
// Snapshot payload: a tcp-conn snapshot whose application blob is a small frame
//   u32 n | n unread bytes | u32 m | m unsent bytes | u8 flags (1: end() pending) | the application's own blob
// "unread" are bytes the Socket had already pulled from the stack into its readable buffer but
// the application had not consumed: they are put back in front on resume. "unsent" are bytes
// the application wrote that the stack had not accepted yet (the Socket's Writable buffer):
// they are written first on resume, and end() follows them if the application had called it.
import type { ConnId } from '../stack/api.ts';
import { exportConn, freezeConn, importConn, releaseConn, reserve, takeHeld, thawConn, unreserve } from '../stack/freeze.ts';
import type { Host } from '../tun/driver.ts';
import { Socket, type Server } from '../tun/net.ts';
import { openSnapshot, sealSnapshot, type ClusterKey, type EnvelopeError, type ReplayGuard } from './envelope.ts';
import { decodeSnapshot, encodeSnapshot, type TcpConnSnapshot } from './snapshot.ts';

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
  socket.pause();
  // Bytes already pulled into the readable buffer go back in front on the other side. read()
  // would hand them to the application's 'data' listeners as well: this socket is done for, so
  // its listeners go first.
  socket.removeAllListeners('data');
  socket.removeAllListeners('readable');
  const unread: Uint8Array[] = [];
  for (let c = socket.read() as Buffer | null; c !== null; c = socket.read() as Buffer | null) unread.push(new Uint8Array(c));
  const now = host.now();
  const unsent = socket.takeUnsent();
  const f = freezeConn(host.state, id, now);
  if (!f.ok) throw new MigrateError(`freezeSocket: ${f.error}`);
  host.unwatchConn(id);
  // The old Socket lets go quietly: close/abort of a frozen id is EBADF in the stack (no RST, no FIN).
  socket.destroy();
  host.flush();
  const e = exportConn(host.state, id);
  if (!e.ok) throw new MigrateError(`freezeSocket: ${e.error}`);
  const app = packBlob(concat(unread), unsent.data, unsent.ended, o.app ?? new Uint8Array(0));
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
  return resumeDecoded(host, s);
}

/** resumeSocket for a snapshot already opened and decoded (the caller checked its envelope). */
export function resumeDecoded(host: Host, s: TcpConnSnapshot): Resumed {
  const blob = unpackBlob(s.app ?? new Uint8Array(9));
  if (blob === null) throw new MigrateError('resumeSocket: malformed application blob');
  const r = importConn(host.state, s.conn, host.now());
  if (!r.ok) throw new MigrateError(`resumeSocket: install refused: ${r.error}`);
  const id = r.value.id;
  const socket = adopt(host, id);
  if (blob.unread.length > 0) socket.unshift(Buffer.from(blob.unread.buffer, blob.unread.byteOffset, blob.unread.length));
  // Bytes written on the old node that its stack had not taken yet go first, then a pending end().
  if (blob.unsent.length > 0) socket.write(Buffer.from(blob.unsent.buffer, blob.unsent.byteOffset, blob.unsent.length));
  // The application had ended its side: keep the stream's writable state in step with the stack's.
  if (s.conn.tcb.wrShut || blob.ended) socket.end();
  host.input(r.value.replay);
  host.flush();
  return { socket, app: blob.app, id };
}

/** A Socket over an existing connection id (the accepted-socket constructor, with no Server). */
function adopt(host: Host, id: ConnId): Socket {
  return Socket.accepted(host, id, null as unknown as Server, { allowHalfOpen: true });
}

function packBlob(unread: Uint8Array, unsent: Uint8Array, ended: boolean, app: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + unread.length + 4 + unsent.length + 1 + app.length);
  const dv = new DataView(out.buffer);
  let o = 0;
  dv.setUint32(o, unread.length); o += 4;
  out.set(unread, o); o += unread.length;
  dv.setUint32(o, unsent.length); o += 4;
  out.set(unsent, o); o += unsent.length;
  out[o++] = ended ? 1 : 0;
  out.set(app, o);
  return out;
}

function unpackBlob(b: Uint8Array): { unread: Uint8Array; unsent: Uint8Array; ended: boolean; app: Uint8Array } | null {
  const dv = new DataView(b.buffer, b.byteOffset, b.length);
  if (b.length < 4) return null;
  const n = dv.getUint32(0);
  if (n > b.length - 9) return null;
  const m = dv.getUint32(4 + n);
  if (m > b.length - 9 - n) return null;
  const flags = b[8 + n + m]!;
  if (flags > 1) return null;
  return { unread: b.slice(4, 4 + n), unsent: b.slice(8 + n, 8 + n + m), ended: flags === 1, app: b.slice(9 + n + m) };
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}
