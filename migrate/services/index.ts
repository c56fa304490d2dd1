// The HA node's built-in movable services (issue #8 item 3), chosen by ServiceConfig.type:
//
//   http     (tcp)       HTTP/1.1 GET/HEAD: /bytes/<n> and files under cfg.root; bodies move mid-way
//   echo     (tcp|sctp)  every byte / message back; no onMove (the "does nothing special" case)
//   discard  (tcp|sctp)  reads and drops, counts
//   counter  (tcp)       `<n> <line>` per line; the count moves with the connection
//   module   (any)       cfg.module's default export, a ServiceFactory
//
// Every service returned here is wrapped so that a throw from any of its hooks is logged and
// contained (onMove's becomes a rejected promise the node handles) instead of reaching the
// event loop.
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AppConn, FerryService, ServiceConfig, ServiceContext, ServiceFactory } from '../node-types.ts';
import { errText } from './common.ts';
import { counterService } from './counter.ts';
import { discardService } from './discard.ts';
import { destroyConn, echoService } from './echo.ts';
import { httpService } from './http.ts';

export { counterService, decodeCounterState, encodeCounterState, type CounterService, type CounterState } from './counter.ts';
export { discardService, type DiscardService, type DiscardStats } from './discard.ts';
export { echoService, type EchoService, type EchoStats } from './echo.ts';
export {
  HTTP_CHUNK, HTTP_MAX_HEADER, decodeHttpState, encodeHttpState, httpService, parseRequestHead, patternBytes, resolveTarget,
  type HttpBodyState, type HttpMoveState, type HttpService, type HttpStats,
} from './http.ts';

/** Why a service could not be created (the message names the service and the cause). */
export class ServiceError extends Error {
  override name = 'ServiceError';
}

const PROTOS: Record<Exclude<ServiceConfig['type'], 'module'>, readonly ('tcp' | 'sctp')[]> = {
  http: ['tcp'], echo: ['tcp', 'sctp'], discard: ['tcp', 'sctp'], counter: ['tcp'],
};

/**
 * Create the service `cfg` describes. Rejects with a ServiceError (never throws
 * synchronously, never crashes the process) when the type/proto pair is not supported, the
 * http root is missing, or a module cannot be loaded: no such file, no default export, not a
 * function, the factory threw, or it returned something without onConnection.
 */
export async function builtinService(cfg: ServiceConfig, ctx: ServiceContext): Promise<FerryService> {
  let svc: FerryService;
  try {
    if (cfg.type === 'module') {
      svc = await loadModuleService(cfg, ctx);
    } else {
      const protos = PROTOS[cfg.type];
      if (protos === undefined) throw new ServiceError(`service ${cfg.name}: unknown type '${String(cfg.type)}'`);
      if (!protos.includes(cfg.proto)) throw new ServiceError(`service ${cfg.name}: ${cfg.type} does not run over ${cfg.proto} (only ${protos.join(', ')})`);
      switch (cfg.type) {
        case 'http': svc = await httpService(cfg, ctx); break;
        case 'echo': svc = echoService(cfg, ctx); break;
        case 'discard': svc = discardService(cfg, ctx); break;
        case 'counter': svc = counterService(cfg, ctx); break;
      }
    }
  } catch (e) {
    throw e instanceof ServiceError ? e : new ServiceError(`service ${cfg.name}: ${errText(e)}`);
  }
  return guardService(svc, cfg, ctx);
}

/** Import `cfg.module` (resolved against the working directory) and call its default export. */
async function loadModuleService(cfg: ServiceConfig, ctx: ServiceContext): Promise<FerryService> {
  if (cfg.module === null || cfg.module === '') throw new ServiceError(`service ${cfg.name}: type module needs a module path`);
  const abs = resolve(cfg.module);
  try {
    const st = await stat(abs);
    if (!st.isFile()) throw new ServiceError(`service ${cfg.name}: module ${abs} is not a file`);
  } catch (e) {
    if (e instanceof ServiceError) throw e;
    throw new ServiceError(`service ${cfg.name}: no such module file: ${abs}`);
  }
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(abs).href)) as Record<string, unknown>;
  } catch (e) {
    throw new ServiceError(`service ${cfg.name}: module ${abs} failed to load: ${errText(e)}`);
  }
  const factory = mod.default;
  if (factory === undefined) throw new ServiceError(`service ${cfg.name}: module ${abs} has no default export (a ServiceFactory)`);
  if (typeof factory !== 'function') throw new ServiceError(`service ${cfg.name}: module ${abs}: default export is a ${typeof factory}, not a ServiceFactory function`);
  let svc: unknown;
  try {
    svc = await (factory as ServiceFactory)(cfg, ctx);
  } catch (e) {
    throw new ServiceError(`service ${cfg.name}: module ${abs}: factory threw: ${errText(e)}`);
  }
  if (typeof svc !== 'object' || svc === null || typeof (svc as FerryService).onConnection !== 'function') {
    throw new ServiceError(`service ${cfg.name}: module ${abs}: the factory returned no service (an object with onConnection)`);
  }
  return svc as FerryService;
}

/**
 * The same service, with every hook contained: a throw from onConnection is logged and the
 * connection destroyed; from onSwitchover/onMoveCancelled/close it is logged; onMove's becomes
 * a rejected promise (the node applies move.onTimeout's policy). Optional hooks stay absent
 * when the service has none, and other members (stats()) are kept.
 */
export function guardService(svc: FerryService, cfg: ServiceConfig, ctx: ServiceContext): FerryService {
  const fail = (hook: string, e: unknown, id?: string): void => {
    try { ctx.log('error', { service: cfg.name, hook, ...(id === undefined ? {} : { id }), error: errText(e) }); } catch { /* a broken logger too */ }
  };
  const g: FerryService = Object.create(svc) as FerryService;
  g.onConnection = (conn: AppConn): void => {
    try { svc.onConnection(conn); } catch (e) { fail('onConnection', e, conn.id); destroyConn(conn); }
  };
  if (svc.onSwitchover) {
    const f = svc.onSwitchover.bind(svc);
    g.onSwitchover = (info) => { try { f(info); } catch (e) { fail('onSwitchover', e); } };
  }
  if (svc.onMove) {
    const f = svc.onMove.bind(svc);
    g.onMove = async (conn) => {
      try {
        const r = await f(conn);
        if (!(r instanceof Uint8Array)) throw new TypeError(`onMove returned ${typeof r}, not a Uint8Array`);
        return r;
      } catch (e) { fail('onMove', e, conn.id); throw e; }
    };
  }
  if (svc.onMoveCancelled) {
    const f = svc.onMoveCancelled.bind(svc);
    g.onMoveCancelled = (conn) => { try { f(conn); } catch (e) { fail('onMoveCancelled', e, conn.id); } };
  }
  if (svc.close) {
    const f = svc.close.bind(svc);
    g.close = () => { try { f(); } catch (e) { fail('close', e); } };
  }
  return g;
}
