// The counter service (TCP): a line protocol whose state moves with the connection. Each
// received line (terminated by \n) is answered with `<n> <line>\n`, n counting the lines of
// this connection from 1. onMove hands over the count and any partial line held, so the
// count goes on from there on the standby: the issue's "service that passes its own state
// through a move".
//
// State blob (common.ts packState): meta {v:1, n} and the partial line as the raw bytes.
import type { Socket } from '../../tun/net.ts';
import type { AppConn, FerryService, ServiceConfig, ServiceContext } from '../node-types.ts';
import { ReadGate, asRecord, concatBytes, errText, guarded, natField, packState, unpackState } from './common.ts';
import { destroyConn } from './echo.ts';

/** A line longer than this (bytes, without its \n) ends the connection. Option `maxLine`. */
export const COUNTER_MAX_LINE = 64 * 1024;

export interface CounterState { n: number; partial: Uint8Array }

/** The state blob onMove returns. */
export function encodeCounterState(s: CounterState): Uint8Array {
  return packState({ v: 1, n: s.n }, s.partial);
}

/** A blob from encodeCounterState, or null when malformed. */
export function decodeCounterState(b: Uint8Array): CounterState | null {
  const u = unpackState(b);
  const m = u === null ? null : asRecord(u.meta);
  if (u === null || m === null || m.v !== 1) return null;
  const n = natField(m, 'n');
  return n === null ? null : { n, partial: u.raw };
}

export interface CounterService extends FerryService {
  onConnection(conn: AppConn): void;
  onSwitchover(info: { to: string }): void;
  onMove(conn: AppConn): Uint8Array;
  onMoveCancelled(conn: AppConn): void;
  onCheckpoint(conn: AppConn): Uint8Array;
  close(): void;
  /** Lines answered on this node, connections open now. */
  stats(): { lines: number; open: number };
}

interface Entry { conn: AppConn & { proto: 'tcp' }; st: CounterState; gate: ReadGate; stop(): void }

const NL = 0x0a;

export function counterService(cfg: ServiceConfig, ctx: ServiceContext): CounterService {
  const log = ctx.log;
  const conns = new Map<string, Entry>();
  /** Given away by onMove, kept only until the old socket closes, in case the move is called off. */
  const moving = new Map<string, { st: CounterState }>();
  const maxLine = typeof cfg.options.maxLine === 'number' && cfg.options.maxLine > 0 ? cfg.options.maxLine : COUNTER_MAX_LINE;
  let lines = 0;
  const enc = new TextEncoder();

  const start = (conn: AppConn & { proto: 'tcp' }, st: CounterState): void => {
    const s: Socket = conn.socket;
    s.allowHalfOpen = true;
    const gate = new ReadGate(() => s.pause(), () => s.resume());
    const kill = (): void => { s.destroy(); };
    const onData = guarded(log, cfg.name, conn.id, kill, (d: Buffer) => {
      let buf = concatBytes(st.partial, new Uint8Array(d.buffer, d.byteOffset, d.length));
      let from = 0;
      const out: Uint8Array[] = [];
      for (let i = buf.indexOf(NL); i >= 0; i = buf.indexOf(NL, from)) {
        st.n++;
        lines++;
        out.push(enc.encode(`${st.n} `), buf.subarray(from, i + 1));
        from = i + 1;
      }
      buf = buf.slice(from);
      st.partial = buf;
      if (out.length > 0) {
        const total = out.reduce((k, p) => k + p.length, 0);
        const o = new Uint8Array(total);
        let at = 0;
        for (const p of out) { o.set(p, at); at += p.length; }
        if (!s.write(o)) gate.block();
      }
      if (st.partial.length > maxLine) {
        log('counter.line-too-long', { service: cfg.name, id: conn.id, bytes: st.partial.length });
        s.destroy();
      }
    });
    const onDrain = guarded(log, cfg.name, conn.id, kill, () => gate.unblock());
    // The client finished: a last unterminated line is dropped, as a line reader would.
    const onEnd = guarded(log, cfg.name, conn.id, kill, () => { s.end(); });
    s.on('data', onData);
    s.on('drain', onDrain);
    s.on('end', onEnd);
    const e: Entry = { conn, st, gate, stop: () => { s.off('data', onData); s.off('drain', onDrain); s.off('end', onEnd); } };
    s.on('error', (err: Error) => log('conn-error', { service: cfg.name, id: conn.id, error: err.message }));
    s.once('close', () => {
      if (conns.get(conn.id) === e) conns.delete(conn.id);
      if (moving.get(conn.id)?.st === st) moving.delete(conn.id);
    });
    conns.set(conn.id, e);
  };

  return {
    onConnection(conn: AppConn): void {
      try {
        if (conn.proto !== 'tcp') throw new Error('counter is a TCP service');
        let st: CounterState = { n: 0, partial: new Uint8Array(0) };
        if (conn.resumed && conn.state !== null && conn.state.length > 0) {
          const d = decodeCounterState(conn.state);
          if (d === null) throw new Error('malformed counter state');
          st = d;
        }
        start(conn, st);
      } catch (e) {
        log('error', { service: cfg.name, id: conn.id, error: errText(e) });
        destroyConn(conn);
      }
    },
    onSwitchover(): void { for (const e of conns.values()) e.gate.hold(); },
    onMove(conn: AppConn): Uint8Array {
      const e = conns.get(conn.id);
      if (e === undefined) return encodeCounterState({ n: 0, partial: new Uint8Array(0) });
      // From here on the connection belongs to the other node: no more writes, no references.
      e.stop();
      conns.delete(conn.id);
      moving.set(conn.id, { st: e.st });
      return encodeCounterState(e.st);
    },
    onMoveCancelled(conn: AppConn): void {
      const e = conns.get(conn.id);
      if (e !== undefined) { e.gate.release(); return; }
      // onMove already let it go: take it back (conn.socket may be a new Socket) where it was.
      const m = moving.get(conn.id);
      if (m === undefined || conn.proto !== 'tcp') return;
      moving.delete(conn.id);
      try { start(conn, m.st); conn.socket.resume(); } catch (err) { log('error', { service: cfg.name, id: conn.id, error: errText(err) }); }
    },
    // Replication (issue #9): the count and partial line as they are now; the bytes behind them
    // are exactly those taken from the socket, and every answer is already written.
    onCheckpoint(conn: AppConn): Uint8Array {
      const e = conns.get(conn.id);
      return encodeCounterState(e === undefined ? { n: 0, partial: new Uint8Array(0) } : e.st);
    },
    close(): void {
      for (const e of [...conns.values()]) { e.stop(); destroyConn(e.conn); }
      conns.clear();
    },
    stats: () => ({ lines, open: conns.size }),
  };
}
