// The discard service (RFC 863 in spirit), TCP and SCTP: reads everything and drops it,
// counting bytes and messages. It has no onMove: it holds no bytes of its own, so a moved
// connection loses nothing (unread bytes travel with the snapshot); its counters stay with
// the node that counted them.
import type { Association, Message } from '../../tun/sctp-socket.ts';
import type { AppConn, FerryService, ServiceConfig, ServiceContext } from '../node-types.ts';
import { errText, guarded } from './common.ts';
import { destroyConn, sctpLive } from './echo.ts';

export interface DiscardStats {
  /** Connections/associations open now. */
  open: number;
  /** Taken in total (new and resumed). */
  accepted: number;
  resumed: number;
  /** Payload bytes dropped (TCP and SCTP) and SCTP messages dropped. */
  bytes: number;
  messages: number;
}

export interface DiscardService extends FerryService {
  onConnection(conn: AppConn): void;
  close(): void;
  stats(): DiscardStats;
}

/** A discard service for `cfg.proto` connections. */
export function discardService(cfg: ServiceConfig, ctx: ServiceContext): DiscardService {
  const conns = new Map<string, AppConn>();
  const st: DiscardStats = { open: 0, accepted: 0, resumed: 0, bytes: 0, messages: 0 };
  const log = ctx.log;
  const forget = (c: AppConn): void => { if (conns.get(c.id) === c) { conns.delete(c.id); st.open--; } };
  const prune = (): void => { for (const c of [...conns.values()]) if (c.proto === 'sctp' && !sctpLive(c.assoc)) forget(c); };

  return {
    onConnection(conn: AppConn): void {
      try {
        if (conn.proto !== cfg.proto) throw new Error(`a ${conn.proto} connection for a ${cfg.proto} service`);
        const kill = (): void => destroyConn(conn);
        if (conn.proto === 'tcp') {
          const s = conn.socket;
          s.allowHalfOpen = true;
          s.on('data', guarded(log, cfg.name, conn.id, kill, (d: Buffer) => { st.bytes += d.length; }));
          s.on('end', guarded(log, cfg.name, conn.id, kill, () => { s.end(); }));
          s.on('error', (e: Error) => log('conn-error', { service: cfg.name, id: conn.id, error: e.message }));
          s.once('close', () => forget(conn));
        } else {
          const a: Association = conn.assoc;
          a.on('message', guarded(log, cfg.name, conn.id, kill, (m: Message) => { st.bytes += m.data.length; st.messages++; }));
          a.on('end', guarded(log, cfg.name, conn.id, kill, () => a.shutdown()));
          a.on('error', (e: Error) => log('conn-error', { service: cfg.name, id: conn.id, error: e.message }));
          a.once('close', () => forget(conn));
        }
        conns.set(conn.id, conn);
        st.open++; st.accepted++;
        if (conn.resumed) st.resumed++;
      } catch (e) {
        log('error', { service: cfg.name, id: conn.id, error: errText(e) });
        destroyConn(conn);
      }
    },
    close(): void {
      prune();
      for (const c of [...conns.values()]) destroyConn(c);
      conns.clear();
      st.open = 0;
    },
    stats: () => { prune(); return { ...st }; },
  };
}
