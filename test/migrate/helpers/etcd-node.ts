// One EtcdMembership in a child process (so a test can SIGKILL it), and the parent's handle.
// Child: `node --import tsx etcd-node.ts '<EtcdMembershipOptions JSON>'`; it loads, says
// 'loaded', starts the membership on the command 'start', and reports over the
// IPC channel every event with a CLOCK_MONOTONIC timestamp (process.hrtime: one clock for every
// process on the machine), and takes commands yield/assume/stop/stats.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { EtcdMembership, type EtcdMembershipOptions } from '../../../migrate/etcd-membership.ts';

/** ms on CLOCK_MONOTONIC, comparable across processes. */
export const mono = () => Number(process.hrtime.bigint()) / 1e6;

export type NodeEvent =
  | { t: 'loaded'; at: number }
  | { t: 'ready'; at: number }
  | { t: 'error'; message: string; at: number }
  | { t: 'role'; role: string; reason: string; epoch: number; at: number }
  | { t: 'peer'; name: string; alive: boolean; at: number }
  | { t: 'stats'; stats: unknown; peers: unknown; at: number }
  | { t: 'stopped'; at: number }
  | { t: 'exit'; at: number };

export type NodeCommand = { t: 'start' } | { t: 'yield'; to: string } | { t: 'assume' } | { t: 'stop' } | { t: 'stats' };

const SELF = fileURLToPath(import.meta.url);

if (process.argv[1] === SELF && process.send !== undefined) {
  const send = (e: NodeEvent) => { try { process.send!(e); } catch { /* parent gone */ } };
  const o = JSON.parse(process.argv[2] ?? '{}') as EtcdMembershipOptions;
  // FX_ETCD_LOG=1: the membership's own log on stderr, for debugging a failing run.
  if (process.env['FX_ETCD_LOG']) o.log = (ev, f) => process.stderr.write(`${mono().toFixed(1)} ${o.name} ${ev} ${JSON.stringify(f ?? {})}\n`);
  const m = new EtcdMembership(o);
  m.on('role', (role: string, reason: string, epoch: number) => send({ t: 'role', role, reason, epoch, at: mono() }));
  m.on('peer', (p: { name: string; alive: boolean }) => send({ t: 'peer', name: p.name, alive: p.alive, at: mono() }));
  process.on('message', (c: NodeCommand) => {
    try {
      if (c.t === 'start') {
        m.start().then(() => send({ t: 'ready', at: mono() }), (e: Error) => {
          send({ t: 'error', message: e.message, at: mono() });
          setTimeout(() => process.exit(1), 50);
        });
      } else if (c.t === 'yield') m.yieldTo(c.to);
      else if (c.t === 'assume') m.assume();
      else if (c.t === 'stats') send({ t: 'stats', stats: m.stats(), peers: m.peers(), at: mono() });
      else if (c.t === 'stop') void m.stop().then(() => { send({ t: 'stopped', at: mono() }); process.exit(0); });
    } catch (e) {
      send({ t: 'error', message: (e as Error).message, at: mono() });
    }
  });
  process.on('disconnect', () => process.exit(0));
  // Loading (tsx, gRPC) is the slow part of a child's start, and how long it takes varies with
  // the machine's load: the parent starts every node's membership at once after all loaded.
  send({ t: 'loaded', at: mono() });
}

export interface NodeHandle {
  name: string;
  proc: ChildProcess;
  events: NodeEvent[];
  send(c: NodeCommand): void;
  /** The first event (already seen or future) matching `pred`; rejects after `ms`. */
  waitFor(pred: (e: NodeEvent) => boolean, ms: number, what?: string): Promise<NodeEvent>;
  /** SIGKILL; returns the CLOCK_MONOTONIC time just before the signal. */
  kill(): number;
  /** The role events so far. */
  roles(): Extract<NodeEvent, { t: 'role' }>[];
}

export function spawnNode(o: EtcdMembershipOptions): NodeHandle {
  const proc = fork(SELF, [JSON.stringify(o)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const events: NodeEvent[] = [];
  const waiters: { pred: (e: NodeEvent) => boolean; resolve: (e: NodeEvent) => void }[] = [];
  const push = (e: NodeEvent) => {
    events.push(e);
    for (const w of [...waiters]) if (w.pred(e)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(e); }
  };
  proc.on('message', (e: NodeEvent) => push(e));
  proc.on('exit', () => push({ t: 'exit', at: mono() }));
  proc.on('error', () => {});
  return {
    name: o.name,
    proc,
    events,
    send(c) { if (proc.connected) proc.send(c); },
    waitFor(pred, ms, what) {
      const seen = events.find(pred);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const w = { pred, resolve: (e: NodeEvent) => { clearTimeout(t); resolve(e); } };
        const t = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`${o.name}: no ${what ?? 'matching event'} within ${ms} ms; events: ${JSON.stringify(events)}`));
        }, ms);
        waiters.push(w);
      });
    },
    kill() {
      const at = mono();
      if (proc.exitCode === null && proc.signalCode === null && proc.pid !== undefined) {
        try { process.kill(proc.pid, 'SIGKILL'); } catch { /* exited meanwhile */ }
      }
      return at;
    },
    roles() { return events.filter((e): e is Extract<NodeEvent, { t: 'role' }> => e.t === 'role'); },
  };
}

/** Each node's active intervals [from, to] on CLOCK_MONOTONIC; an interval still open ends at `end` (or the node's exit). */
export function activeIntervals(n: NodeHandle, end: number): [number, number][] {
  const out: [number, number][] = [];
  let from: number | null = null;
  for (const e of n.events) {
    if (e.t === 'role') {
      if (e.role === 'active' && from === null) from = e.at;
      else if (e.role !== 'active' && from !== null) { out.push([from, e.at]); from = null; }
    } else if (e.t === 'exit' && from !== null) { out.push([from, e.at]); from = null; }
  }
  if (from !== null) out.push([from, end]);
  return out;
}

/** Pairs of overlapping active intervals between different nodes (empty: never two actives). */
export function overlaps(nodes: NodeHandle[], end: number, killedAt: Record<string, number> = {}): string[] {
  const iv = nodes.map((n) => ({ n: n.name, iv: activeIntervals(n, killedAt[n.name] ?? end).map(([a, b]) => [a, Math.min(b, killedAt[n.name] ?? b)] as const) }));
  const bad: string[] = [];
  for (let i = 0; i < iv.length; i++) {
    for (let j = i + 1; j < iv.length; j++) {
      for (const [a0, a1] of iv[i]!.iv) {
        for (const [b0, b1] of iv[j]!.iv) if (a0 < b1 && b0 < a1) bad.push(`${iv[i]!.n} [${a0.toFixed(1)}, ${a1.toFixed(1)}] and ${iv[j]!.n} [${b0.toFixed(1)}, ${b1.toFixed(1)}]`);
      }
    }
  }
  return bad;
}
