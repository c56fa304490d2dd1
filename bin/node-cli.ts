// `ferry node`, `ferry status`, `ferry switchover` (issue #8 items 1, 4, 6): run one HA node from
// its configuration file, and talk to a running one over its control socket.
// Bad arguments or a bad configuration end with `ferry <cmd>: <reason>` on stderr and exit 2;
// runtime failures (no node listening, a failed switch-over) exit 1; never a stack trace.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Argv } from 'yargs';
import { ControlError, controlRequest, serveControl } from '../migrate/control.ts';
import type { ControlServer } from '../migrate/control.ts';
import { serveMetrics } from '../migrate/metrics.ts';
import { ConfigError, formatEndpoint, loadNodeConfig, parseEndpoint } from '../migrate/node-config.ts';
import { makeLogger } from '../migrate/node-log.ts';
import type { NodeLogger } from '../migrate/node-log.ts';
import type {
  ControlReply, ControlRequest, Endpoint, LogFn, NodeApi, NodeConfig, NodeStatus, SwitchoverProgress, SwitchoverSummary,
} from '../migrate/node-types.ts';

/** What migrate/node.ts exports as `startNode`. */
export type StartNode = (cfg: NodeConfig, opts: { log: LogFn }) => Promise<NodeApi>;

/** Injected parts (tests run `ferry node` on a fake node). */
export interface NodeCommandDeps {
  startNode?: StartNode;
}

/** A user error: printed as `ferry <cmd>: message`, exit `code`. */
class UsageError extends Error {
  constructor(message: string, readonly code = 2) { super(message); }
}

/** Run `body`, turning errors into one line on stderr and an exit code. */
async function run(cmd: string, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (e) {
    const code = e instanceof UsageError ? e.code : e instanceof ConfigError ? 2 : 1;
    process.stderr.write(`ferry ${cmd}: ${(e as Error).message}\n`);
    process.exit(code);
  }
}

function config(path: string): NodeConfig {
  try {
    return loadNodeConfig(path);
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(e.message, 2);
    throw e;
  }
}

/** The control socket to talk to: --socket, else --config's `control`, else the only socket in /run/ferry. */
export function resolveSocket(a: { config?: string | undefined; socket?: string | undefined }): string {
  if (a.socket !== undefined && a.config !== undefined) throw new UsageError('give --socket or --config, not both');
  if (a.socket !== undefined) {
    if (a.socket === '') throw new UsageError('--socket needs a path');
    return a.socket;
  }
  if (a.config !== undefined) return config(a.config).control;
  let socks: string[] = [];
  try {
    socks = readdirSync('/run/ferry').filter((f) => f.endsWith('.sock')).map((f) => join('/run/ferry', f))
      .filter((p) => { try { return statSync(p).isSocket(); } catch { return false; } });
  } catch { /* no /run/ferry */ }
  if (socks.length === 1) return socks[0]!;
  throw new UsageError(socks.length === 0
    ? 'which node? give --config <file> or --socket <path> (no socket in /run/ferry)'
    : `which node? give --config <file> or --socket <path> (several in /run/ferry: ${socks.join(', ')})`);
}

async function ask(path: string, req: ControlRequest, onProgress?: (p: SwitchoverProgress) => void, timeoutMs?: number): Promise<ControlReply> {
  try {
    return await controlRequest(path, req, onProgress, timeoutMs === undefined ? {} : { timeoutMs });
  } catch (e) {
    if (e instanceof ControlError) throw new UsageError(e.message, 1);
    throw e;
  }
}

// ------------------------------------------------------------------------------- formatting

const ms = (n: number): string => (n < 10 ? `${n.toFixed(2)} ms` : n < 1000 ? `${Math.round(n)} ms` : `${(n / 1000).toFixed(2)} s`);

function duration(msTotal: number): string {
  const s = Math.floor(msTotal / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60), h = Math.floor(m / 60), d = Math.floor(h / 24);
  if (d > 0) return `${d}d${h % 24}h`;
  if (h > 0) return `${h}h${String(m % 60).padStart(2, '0')}m`;
  return `${m}m${String(s % 60).padStart(2, '0')}s`;
}

const countsLine = (c: Record<string, number>): string => {
  const e = Object.entries(c).filter(([, n]) => n > 0).sort(([a], [b]) => (a < b ? -1 : 1));
  return e.length === 0 ? 'none' : e.map(([k, n]) => `${k} ${n}`).join(', ');
};

function progressText(p: SwitchoverProgress): string {
  const extra = [p.reset > 0 ? `${p.reset} reset` : '', p.failed > 0 ? `${p.failed} failed` : ''].filter(Boolean).join(', ');
  return `to ${p.to}: ${p.phase}, ${p.moved}/${p.total} moved${extra ? ` (${extra})` : ''}, ${ms(p.elapsedMs)}`;
}

/** `ferry status` as text. */
export function formatStatus(s: NodeStatus): string {
  const out: string[] = [];
  out.push(`node ${s.name}: ${s.role} (priority ${s.priority}, epoch ${s.epoch}, up ${duration(s.uptimeMs)})`);
  out.push(`service IPs: ${s.serviceIps.join(', ') || 'none'} (${s.holdsServiceIps ? 'held here' : 'not held here'})`);
  if (s.peers.length === 0) out.push('peers: none');
  else {
    out.push('peers:');
    const w = Math.max(...s.peers.map((p) => p.name.length));
    for (const p of s.peers) {
      out.push(`  ${p.name.padEnd(w)}  ${p.alive ? 'alive' : 'DOWN '}  ${(p.role ?? '-').padEnd(8)}  prio ${String(p.priority ?? '-').padStart(3)}  ` +
        `rtt ${p.rttMs === null ? '-' : ms(p.rttMs)}  heard ${p.lastHeardMs === null ? 'never' : `${ms(p.lastHeardMs)} ago`}  ` +
        `link ${p.linked ? 'up' : 'down'}  (${p.handover})`);
    }
  }
  out.push('connections:');
  out.push(`  tcp   ${countsLine(s.connections.tcp)}`);
  out.push(`  sctp  ${countsLine(s.connections.sctp)}`);
  out.push(`services: ${s.services.length === 0 ? 'none' : s.services.map((x) => `${x.name} (${x.type}, ${x.proto}/${x.port})`).join(', ')}`);
  out.push(`switch-over: ${s.migration === null ? 'none in progress' : progressText(s.migration)}`);
  const c = s.counters;
  out.push(`counters: switchovers ${c.switchovers}, takeovers ${c.takeovers}, moved out ${c.movedOut}, moved in ${c.movedIn}, ` +
    `redirected out ${c.redirectedOut}, redirected in ${c.redirectedIn}, tickles ${c.tickles}, hook failures ${c.hookFailures}`);
  return out.join('\n') + '\n';
}

/** `ferry switchover`'s summary as text. */
export function formatSummary(s: SwitchoverSummary): string {
  const head = s.ok
    ? `switch-over to ${s.to}: done in ${ms(s.elapsedMs)}`
    : `switch-over to ${s.to}: FAILED after ${ms(s.elapsedMs)} in phase ${s.phase}: ${s.error ?? 'unknown error'}`;
  const lines = [head, `  connections: ${s.moved}/${s.total} moved, ${s.reset} reset, ${s.failed} failed; longest move ${ms(s.maxMoveMs)}`];
  const steps = Object.entries(s.steps).sort(([, a], [, b]) => a - b);
  if (steps.length > 0) lines.push(`  steps: ${steps.map(([k, t]) => `${k} ${ms(t)}`).join(', ')}`);
  return lines.join('\n') + '\n';
}

/** One progress-bar frame (no newline), `width` columns of bar. */
export function progressBar(p: SwitchoverProgress, width = 30): string {
  const frac = p.total === 0 ? (p.phase === 'done' ? 1 : 0) : Math.min(1, (p.moved + p.reset + p.failed) / p.total);
  const n = Math.round(frac * width);
  return `[${'#'.repeat(n)}${'.'.repeat(width - n)}] ${progressText(p)}`;
}

// ------------------------------------------------------------------------------- commands

interface NodeArgs { config: string; metrics?: string | undefined }

async function nodeCommand(a: NodeArgs, deps: NodeCommandDeps): Promise<void> {
  const cfg = config(a.config);
  if (a.metrics !== undefined) {
    const ep = parseEndpoint(a.metrics, true);
    if (typeof ep === 'string') throw new UsageError(`--metrics: ${ep}`);
    cfg.metrics = ep;
  }
  let log: NodeLogger;
  try {
    log = makeLogger(cfg.name, cfg.log);
  } catch (e) {
    throw new UsageError(`log ${cfg.log}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 1);
  }
  // The control socket goes up first: a second node on the same socket fails before touching
  // any device. Until the node is up, its commands answer "starting".
  let node: NodeApi | null = null;
  let stopping: Promise<void> | null = null;
  const starting = (): never => { throw new Error('the node is still starting'); };
  const api: NodeApi = {
    status: () => (node ?? starting()).status(),
    switchover: (to, onProgress) => (node ?? starting()).switchover(to, onProgress),
    stop: async () => { await shutdown('control'); },
  };
  let control: ControlServer;
  try {
    control = await serveControl(cfg.control, api, log);
  } catch (e) {
    log.close();
    throw new UsageError((e as Error).message, 1);
  }
  let metrics: { close(): Promise<void>; port: number } | null = null;
  const closeAll = async (): Promise<void> => {
    await metrics?.close().catch(() => {});
    await control.close().catch(() => {});
  };
  // Stop the node (once); the process exits after the control reply went out.
  const shutdown = (why: string): Promise<void> => {
    stopping ??= (async () => {
      log('shutdown', { reason: why });
      try {
        if (node !== null) await node.stop();
      } catch (e) {
        log('shutdown.stop-failed', { error: (e as Error).message });
        process.exitCode = 1;
      }
      setImmediate(() => {
        void closeAll().finally(() => { log('exit', { code: process.exitCode ?? 0 }); log.close(); process.exit(process.exitCode ?? 0); });
      });
    })();
    return stopping;
  };
  const onSignal = (sig: string) => (): void => {
    if (stopping !== null) { process.stderr.write(`ferry node: ${sig} again, exiting now\n`); process.exit(1); }
    void shutdown(sig);
  };
  process.on('SIGINT', onSignal('SIGINT'));
  process.on('SIGTERM', onSignal('SIGTERM'));

  try {
    let startNode = deps.startNode;
    if (startNode === undefined) {
      // migrate/node.ts (FerryNode) is loaded only when a node actually runs.
      const mod = await import('../migrate/node.ts');
      startNode = mod.startNode;
    }
    node = await startNode(cfg, { log });
    if (cfg.metrics !== null) {
      const n = node;
      metrics = await serveMetrics(cfg.metrics, () => n.status());
      log('metrics.listening', { address: formatEndpoint({ ...cfg.metrics, port: metrics.port }) });
    }
  } catch (e) {
    log('node.start-failed', { error: (e as Error).message });
    if (node !== null) await node.stop().catch(() => {});
    await closeAll();
    log.close();
    throw new UsageError((e as Error).message, 1);
  }
  const st = node.status();
  const m = cfg.metrics === null || metrics === null ? '' : `, metrics http://${formatEndpoint({ ...cfg.metrics, port: metrics.port } as Endpoint)}/metrics`;
  log('node.ready', { role: st.role, control: cfg.control });
  process.stdout.write(`ferry node ${cfg.name} ready: ${st.role}, control ${cfg.control}${m}\n`);
}

interface StatusArgs { config?: string; socket?: string; json: boolean }

async function statusCommand(a: StatusArgs): Promise<void> {
  const path = resolveSocket(a);
  const r = await ask(path, { id: 1, cmd: 'status' });
  if (!('ok' in r) || !r.ok) throw new UsageError('error' in r ? r.error : 'unexpected reply', 1);
  if (!('status' in r)) throw new UsageError('the node sent no status', 1);
  process.stdout.write(a.json ? JSON.stringify(r.status, null, 2) + '\n' : formatStatus(r.status));
}

interface SwitchoverArgs { to: string; config?: string; socket?: string; json: boolean }

async function switchoverCommand(a: SwitchoverArgs): Promise<void> {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(a.to)) throw new UsageError(`--to ${JSON.stringify(a.to)}: not a node name`);
  const path = resolveSocket(a);
  const tty = process.stderr.isTTY === true;
  let drawn = false;
  const onProgress = (p: SwitchoverProgress): void => {
    if (!tty) return;
    const cols = process.stderr.columns ?? 80;
    process.stderr.write(`\r${progressBar(p, Math.max(10, Math.min(30, cols - 60))).slice(0, cols - 1)}\x1b[K`);
    drawn = true;
  };
  // The node sends progress at least once a second while it works; 30 s of silence is a hung node.
  const r = await ask(path, { id: 1, cmd: 'switchover', to: a.to }, onProgress, 30_000).finally(() => {
    if (drawn) process.stderr.write('\r\x1b[K');
  });
  if (!('ok' in r) || !r.ok) throw new UsageError('error' in r ? r.error : 'unexpected reply', 1);
  if (!('summary' in r)) throw new UsageError('the node sent no summary', 1);
  const s = r.summary;
  process.stdout.write(a.json ? JSON.stringify(s, null, 2) + '\n' : formatSummary(s));
  if (!s.ok) {
    process.stderr.write(`ferry switchover: ${s.error ?? 'failed'}\n`);
    process.exitCode = 1;
  }
}

const socketOptions = <T>(y: Argv<T>) => y
  .option('config', { type: 'string', describe: "the node's configuration file (its control socket)" })
  .option('socket', { type: 'string', describe: 'the control socket (default: the only one in /run/ferry)' })
  .conflicts('config', 'socket')
  .option('json', { type: 'boolean', default: false, describe: 'machine-readable output' });

/** Add `ferry node`, `ferry status` and `ferry switchover` to a yargs instance. */
export function registerNodeCommands(y: Argv, deps: NodeCommandDeps = {}): Argv {
  return y
    .command(
      'node',
      'run one HA node (service IPs, hand-over link, heartbeats, services) from its configuration file',
      (c) => c
        .option('config', { type: 'string', demandOption: true, describe: 'configuration file (.json, .yaml)' })
        .option('metrics', { type: 'string', describe: 'serve Prometheus metrics on addr:port (overrides the file)' })
        .example('$0 node --config /etc/ferry/a.yaml --metrics 127.0.0.1:9100', ''),
      (a) => run('node', () => nodeCommand(a as unknown as NodeArgs, deps)),
    )
    .command(
      'status',
      "a running node's role, peers, connections and switch-over in progress",
      (c) => socketOptions(c),
      (a) => run('status', () => statusCommand(a as unknown as StatusArgs)),
    )
    .command(
      'switchover',
      'move every live connection, then the service IPs, to another node',
      (c) => socketOptions(c)
        .option('to', { type: 'string', demandOption: true, describe: 'the node to hand over to' })
        .example('$0 switchover --to b --config /etc/ferry/a.yaml', ''),
      (a) => run('switchover', () => switchoverCommand(a as unknown as SwitchoverArgs)),
    );
}
