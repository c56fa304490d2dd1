// The echo service (RFC 862 in spirit), TCP and SCTP. It has no onMove: it is the "does
// nothing special" case of the application API. It still loses nothing when the node moves
// one of its connections, because it never holds bytes of its own: every byte it took from a
// connection it has already handed to write()/send() (the node waits for those to reach the
// stack before freezing), and everything else is still in the socket or the stack, which the
// snapshot carries.
//
// TCP: an explicit 'data' handler writes each chunk back; write() returning false pauses
// reading until 'drain'. The peer's FIN is answered with end() once everything was echoed.
// SCTP: each message goes back on the same stream with the same PPID and unordered flag;
// send() returning false (queued in the Association) pauses until 'drain'. The peer's
// SHUTDOWN is answered with our own.
import type { Association, Message } from '../../tun/sctp-socket.ts';
import type { Socket } from '../../tun/net.ts';
import type { AppConn, FerryService, ServiceConfig, ServiceContext } from '../node-types.ts';
import { ReadGate, errText, guarded } from './common.ts';

export interface EchoStats {
  /** Connections/associations open now. */
  open: number;
  /** Taken in total (new and resumed). */
  accepted: number;
  resumed: number;
  /** Bytes (TCP and SCTP payload) and SCTP messages echoed. */
  bytes: number;
  messages: number;
  /** Times reading paused because the output backed up (write()/send() returned false). */
  blocked: number;
}

export interface EchoService extends FerryService {
  onConnection(conn: AppConn): void;
  onSwitchover(info: { to: string }): void;
  onMoveCancelled(conn: AppConn): void;
  close(): void;
  stats(): EchoStats;
}

interface Entry { conn: AppConn; gate: ReadGate; stop(): void }

/** An echo service for `cfg.proto` connections. */
export function echoService(cfg: ServiceConfig, ctx: ServiceContext): EchoService {
  const conns = new Map<string, Entry>();
  const st: EchoStats = { open: 0, accepted: 0, resumed: 0, bytes: 0, messages: 0, blocked: 0 };
  const log = ctx.log;
  // A frozen association gets no event on its old Association object (SctpHost.freeze only
  // unwatches it): entries whose association left the stack are dropped here.
  const prune = (): void => {
    for (const [id, e] of conns) if (e.conn.proto === 'sctp' && !sctpLive(e.conn.assoc)) { e.stop(); conns.delete(id); st.open--; }
  };

  const tcp = (conn: AppConn & { proto: 'tcp' }): Entry => {
    const s: Socket = conn.socket;
    // The peer's FIN ends only its direction: we finish echoing, then end ours.
    s.allowHalfOpen = true;
    const gate = new ReadGate(() => s.pause(), () => s.resume());
    const kill = (): void => { s.destroy(); };
    const onData = guarded(log, cfg.name, conn.id, kill, (d: Buffer) => {
      st.bytes += d.length;
      if (!s.write(d)) { st.blocked++; gate.block(); }
    });
    const onDrain = guarded(log, cfg.name, conn.id, kill, () => gate.unblock());
    const onEnd = guarded(log, cfg.name, conn.id, kill, () => { s.end(); });
    s.on('data', onData);
    s.on('drain', onDrain);
    s.on('end', onEnd);
    const stop = (): void => {
      s.off('data', onData); s.off('drain', onDrain); s.off('end', onEnd);
    };
    return { conn, gate, stop };
  };

  const sctp = (conn: AppConn & { proto: 'sctp' }): Entry => {
    const a: Association = conn.assoc;
    const gate = new ReadGate(() => a.pause(), () => a.resume());
    const kill = (): void => { a.abort('echo: internal error'); };
    const onMessage = guarded(log, cfg.name, conn.id, kill, (m: Message) => {
      st.bytes += m.data.length;
      st.messages++;
      // RFC 9260 §6.6: ordered delivery is per stream, so the reply keeps stream and flag.
      if (!a.send(m.data, { stream: m.stream, ppid: m.ppid, unordered: m.unordered })) { st.blocked++; gate.block(); }
    });
    const onDrain = guarded(log, cfg.name, conn.id, kill, () => gate.unblock());
    const onEnd = guarded(log, cfg.name, conn.id, kill, () => a.shutdown());
    a.on('message', onMessage);
    a.on('drain', onDrain);
    a.on('end', onEnd);
    const stop = (): void => { a.off('message', onMessage); a.off('drain', onDrain); a.off('end', onEnd); };
    return { conn, gate, stop };
  };

  return {
    onConnection(conn: AppConn): void {
      try {
        if (conn.proto !== cfg.proto) throw new Error(`a ${conn.proto} connection for a ${cfg.proto} service`);
        const e = conn.proto === 'tcp' ? tcp(conn) : sctp(conn);
        conns.set(conn.id, e);
        st.open++; st.accepted++;
        if (conn.resumed) st.resumed++;
        const em = conn.proto === 'tcp' ? conn.socket : conn.assoc;
        em.on('error', (err: Error) => log('conn-error', { service: cfg.name, id: conn.id, error: err.message }));
        em.once('close', () => {
          if (conns.get(conn.id) === e) { conns.delete(conn.id); st.open--; }
        });
      } catch (err) {
        log('error', { service: cfg.name, id: conn.id, error: errText(err) });
        destroyConn(conn);
      }
    },
    onSwitchover(): void {
      for (const e of conns.values()) e.gate.hold();
    },
    onMoveCancelled(conn: AppConn): void {
      conns.get(conn.id)?.gate.release();
    },
    close(): void {
      prune();
      for (const e of [...conns.values()]) { e.stop(); destroyConn(e.conn); }
      conns.clear();
      st.open = 0;
    },
    stats: () => { prune(); return { ...st }; },
  };
}

/** The association still lives in its host's stack (false once frozen or gone). */
export function sctpLive(a: Association): boolean {
  return !a.closed && a.id !== null && a.host.state.assocs[a.id] !== undefined;
}

/** Destroy (TCP) or abort (SCTP) a connection, whatever state it is in; never throws. */
export function destroyConn(conn: AppConn): void {
  try {
    if (conn.proto === 'tcp') conn.socket.destroy();
    else if (sctpLive(conn.assoc)) conn.assoc.abort();
  } catch { /* already gone */ }
}
