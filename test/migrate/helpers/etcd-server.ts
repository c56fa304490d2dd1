// Real etcd servers for the membership tests: one member, or a cluster of n members on
// loopback, each a child process with random free ports and a temporary data directory.
// Killed by pid, data removed by close().
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ETCD_BIN = '/usr/bin/etcd';

/** Throws (failing the test) when etcd is missing: tests never pass silently without it. */
export function requireEtcd(): void {
  if (!existsSync(ETCD_BIN)) throw new Error(`etcd not found at ${ETCD_BIN}: install it with apt-get install -y etcd-server`);
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export interface EtcdMember {
  name: string;
  client: string;
  proc: ChildProcess;
  dir: string;
  /** The last few KB of its stderr (for failure messages). */
  log: () => string;
}

export interface EtcdCluster {
  endpoints: string[];
  members: EtcdMember[];
  /** SIGKILL member i. */
  kill(i: number): void;
  /** Index of the raft leader, as the members report it. */
  leaderIndex(): Promise<number>;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Whatever happens to the test process (a crash, an early exit), its etcd servers and their
// data go with it.
const live = new Set<EtcdMember>();
process.on('exit', () => {
  for (const m of live) {
    try { if (m.proc.pid !== undefined && m.proc.exitCode === null && m.proc.signalCode === null) process.kill(m.proc.pid, 'SIGKILL'); } catch { /* gone */ }
    try { rmSync(m.dir, { recursive: true, force: true }); } catch { /* best effort */ }
  }
});

async function healthy(url: string): Promise<boolean> {
  try {
    const r = await fetch(`${url}/health`, { signal: AbortSignal.timeout(500) });
    const j = await r.json() as { health?: string };
    return j.health === 'true';
  } catch {
    return false;
  }
}

/**
 * Start an n-member etcd cluster on 127.0.0.1. Raft heartbeat 50 ms / election 500 ms, so
 * etcd's minimum lease TTL (1.5 × election timeout, rounded up to seconds) is 1 s.
 */
export async function startEtcd(n: number, tag = 'fx'): Promise<EtcdCluster> {
  requireEtcd();
  const spec = [];
  for (let i = 0; i < n; i++) spec.push({ name: `${tag}-etcd${i}`, client: await freePort(), peer: await freePort() });
  const initial = spec.map((s) => `${s.name}=http://127.0.0.1:${s.peer}`).join(',');
  const token = `${tag}-${process.pid}-${Date.now()}`;
  const members: EtcdMember[] = spec.map((s) => {
    const dir = mkdtempSync(join(tmpdir(), 'fx-etcd-'));
    const client = `http://127.0.0.1:${s.client}`;
    const proc = spawn(ETCD_BIN, [
      '--name', s.name, '--data-dir', dir,
      '--listen-client-urls', client, '--advertise-client-urls', client,
      '--listen-peer-urls', `http://127.0.0.1:${s.peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${s.peer}`,
      '--initial-cluster', initial, '--initial-cluster-state', 'new', '--initial-cluster-token', token,
      '--heartbeat-interval', '50', '--election-timeout', '500',
      '--logger', 'zap', '--log-level', 'warn',
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    proc.stderr!.on('data', (d: Buffer) => { log = (log + d.toString()).slice(-4000); });
    proc.on('error', () => {});
    const m: EtcdMember = { name: s.name, client, proc, dir, log: () => log };
    live.add(m);
    return m;
  });
  const cluster: EtcdCluster = {
    endpoints: members.map((m) => m.client),
    members,
    kill(i) {
      const m = members[i]!;
      if (m.proc.exitCode === null && m.proc.signalCode === null && m.proc.pid !== undefined) {
        try { process.kill(m.proc.pid, 'SIGKILL'); } catch { /* exited meanwhile */ }
      }
    },
    async leaderIndex() {
      for (let i = 0; i < members.length; i++) {
        const m = members[i]!;
        if (m.proc.exitCode !== null || m.proc.signalCode !== null) continue;
        try {
          const r = await fetch(`${m.client}/v3/maintenance/status`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(1000) });
          const j = await r.json() as { header?: { member_id?: string }; leader?: string };
          if (j.leader !== undefined && j.leader === j.header?.member_id) return i;
        } catch { /* try the next */ }
      }
      return -1;
    },
    async close() {
      for (let i = 0; i < members.length; i++) cluster.kill(i);
      await Promise.all(members.map((m) => (m.proc.exitCode !== null || m.proc.signalCode !== null
        ? Promise.resolve() : new Promise<void>((r) => { m.proc.once('exit', () => r()); setTimeout(r, 2000); }))));
      for (const m of members) { rmSync(m.dir, { recursive: true, force: true }); live.delete(m); }
    },
  };
  const until = Date.now() + 15000;
  for (;;) {
    const ok = await Promise.all(members.map((m) => healthy(m.client)));
    if (ok.every(Boolean)) return cluster;
    const dead = members.find((m) => m.proc.exitCode !== null);
    if (dead !== undefined || Date.now() > until) {
      await cluster.close();
      throw new Error(`etcd did not become healthy${dead ? ` (${dead.name} exited)` : ''}: ${(dead ?? members[0]!).log()}`);
    }
    await sleep(50);
  }
}
