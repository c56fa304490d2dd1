// The HA node's move sequence for one connection, as migrate/node.ts runs it, for service
// tests: announce the switch-over, pause, onMove (await the state), wait until everything
// written reached the stack, freeze, ship, switch the client's route, resume on the other
// Host, forward packets that still reached the old Host for a while, and hand the live
// connection with its state to the other node's service (onConnection, resumed: true).
import { once } from 'node:events';
import type { Host } from '../../../tun/driver.ts';
import type { SctpHost } from '../../../tun/sctp-socket.ts';
import { ReplayGuard, openSnapshot, sealSnapshot } from '../../../migrate/envelope.ts';
import { expectSocket, freezeSocket, releaseFrozen, resumeSocket, takeHeldPackets } from '../../../migrate/host.ts';
import type { FerryService, SctpAppConn, TcpAppConn } from '../../../migrate/node-types.ts';
import { decodeSnapshot, encodeSnapshot } from '../../../migrate/snapshot.ts';

export const MOVE_KEY = new Uint8Array(32).fill(0x5a);

export interface MoveOptions<C, H> {
  from: H;
  to: H;
  svcFrom: FerryService;
  svcTo: FerryService;
  conn: C;
  /** Switch the client's route (link) from `from` to `to`. */
  reroute: () => void;
  /** One per receiving host (a snapshot is accepted once). */
  guard: ReplayGuard;
  key?: Uint8Array;
  /** Runs after the freeze, before the resume (tests change the world here). */
  beforeResume?: () => void | Promise<void>;
  /** How long the old host forwards packets still held for the connection (ms). */
  forwardMs?: number;
  /** Name of the node moved to (onSwitchover). */
  toName?: string;
}

export interface Moved<C> {
  /** The connection as the new node's service got it. */
  conn: C;
  /** The state onMove returned (empty without onMove). */
  state: Uint8Array;
  snapshotBytes: number;
  /** Resolves once the old host has forwarded and let go of the connection. */
  released: Promise<void>;
}

async function waitUntil(cond: () => boolean, next: () => Promise<unknown>, ms: number, what: string): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`move: timed out waiting for ${what}`);
    await Promise.race([next(), new Promise((r) => setTimeout(r, 20))]);
  }
}

function forward(take: () => Uint8Array[], release: () => Uint8Array[], input: (p: Uint8Array[]) => void, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const t = setInterval(() => { const h = take(); if (h.length > 0) input(h); }, 5);
    setTimeout(() => { clearInterval(t); const h = release(); if (h.length > 0) input(h); resolve(); }, ms);
  });
}

/** Move one TCP connection of `svcFrom` on `from` to `svcTo` on `to`. */
export async function moveTcpConn(o: MoveOptions<TcpAppConn, Host>): Promise<Moved<TcpAppConn>> {
  const key = o.key ?? MOVE_KEY;
  const s = o.conn.socket;
  o.svcFrom.onSwitchover?.({ to: o.toName ?? 'b' });
  s.pause();
  s.unpipe();
  const state = o.svcFrom.onMove ? await o.svcFrom.onMove(o.conn) : new Uint8Array(0);
  await waitUntil(() => s.writableLength === 0, () => once(s, 'drain'), 10_000, `'drain' (${s.writableLength} bytes in the stream buffer)`);
  const f = freezeSocket(o.from, s, key, { app: state });
  expectSocket(o.to, f.id);
  o.reroute();
  await o.beforeResume?.();
  const r = resumeSocket(o.to, f.envelope, key, o.guard);
  const conn: TcpAppConn = { ...o.conn, socket: r.socket, resumed: true, state: r.app };
  o.svcTo.onConnection(conn);
  const released = forward(() => takeHeldPackets(o.from, f.id), () => releaseFrozen(o.from, f.id), (p) => o.to.input(p), o.forwardMs ?? 60);
  return { conn, state, snapshotBytes: f.snapshotBytes, released };
}

/** Move one SCTP association of `svcFrom` on `from` to `svcTo` on `to`. */
export async function moveSctpAssoc(o: MoveOptions<SctpAppConn, SctpHost>): Promise<Moved<SctpAppConn>> {
  const key = o.key ?? MOVE_KEY;
  const a = o.conn.assoc;
  const id = a.id;
  if (id === null) throw new Error('move: association has no id');
  o.svcFrom.onSwitchover?.({ to: o.toName ?? 'b' });
  a.pause();
  const state = o.svcFrom.onMove ? await o.svcFrom.onMove(o.conn) : new Uint8Array(0);
  await waitUntil(() => a.queued === 0, () => once(a, 'drain'), 10_000, 'the association queue to empty');
  const fr = o.from.freeze(id);
  if (!fr.ok) throw new Error(`move: freeze: ${fr.error}`);
  const ex = o.from.exportAssoc(id);
  if (!ex.ok) throw new Error(`move: export: ${ex.error}`);
  const snapshot = encodeSnapshot({ kind: 'sctp-assoc', takenAt: o.from.now(), assoc: ex.value, app: state });
  const env = sealSnapshot(snapshot, key);
  await o.beforeResume?.();
  const op = openSnapshot(env, key, o.guard);
  if (!op.ok) throw new Error(`move: envelope: ${op.error}`);
  const d = decodeSnapshot(op.value.snapshot);
  if (!d.ok || d.value.kind !== 'sctp-assoc') throw new Error('move: bad snapshot');
  const na = o.to.adopt(d.value.assoc);
  o.reroute();
  const conn: SctpAppConn = { ...o.conn, assoc: na, resumed: true, state: d.value.app ?? new Uint8Array(0) };
  o.svcTo.onConnection(conn);
  const released = forward(() => o.from.takeHeld(id), () => o.from.release(id), (p) => o.to.input(p), o.forwardMs ?? 60);
  return { conn, state, snapshotBytes: snapshot.length, released };
}
