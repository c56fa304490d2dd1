// Failure-detection benchmark for the heartbeat transport (heartbeat.ts), and the child-process
// heartbeat node it (and test/migrate/heartbeat.test.ts) kill with SIGKILL.
//
//   benchFailureDetection(): a child process runs the active node, this process the standby;
//   the child is killed with SIGKILL and the time from the kill to the standby's 'role active'
//   event is measured, N times.
//
// Run as a program (`node --import tsx migrate/heartbeat-bench.ts child '<json>'`) this file is
// the child node: it speaks JSON lines — events on stdout, commands on stdin (see ChildCommand).
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Heartbeats, type HeartbeatStats } from './heartbeat.ts';
import type { HeartbeatConfig, PeerConfig, PeerStatus } from './node-types.ts';

/** What a child node is started with. */
export interface ChildNodeOptions {
  name: string;
  priority: number;
  /** Cluster key as hex. */
  keyHex: string;
  host: string;
  port: number;
  peers: PeerConfig[];
  cfg: HeartbeatConfig;
  nice?: number | null;
  /** Load, report 'loaded', and start heartbeating only on a 'start' command (tests time start-up). */
  hold?: boolean;
}

/** Child → parent (stdout, one JSON object per line). `at` is the child's wall clock (ms). */
export type ChildEvent =
  | { ev: 'loaded'; at: number }
  | { ev: 'ready'; at: number }
  | { ev: 'error'; message: string }
  | { ev: 'role'; role: string; reason: string; epoch: number; at: number }
  | { ev: 'peer'; peer: PeerStatus; at: number }
  | { ev: 'blocking'; ms: number; at: number }
  | { ev: 'unblocked'; at: number }
  | { ev: 'stats'; stats: HeartbeatStats; role: string; epoch: number };

/** Parent → child (stdin, one JSON object per line). */
export type ChildCommand =
  | { cmd: 'start' }               // with `hold`: start heartbeating now
  | { cmd: 'block'; ms: number }   // block the main event loop synchronously for ms
  | { cmd: 'yield'; to: string }
  | { cmd: 'assume'; epoch?: number }
  | { cmd: 'stats' }
  | { cmd: 'stop' };

const here = fileURLToPath(import.meta.url);
/** tsx's loader as an absolute URL, so children start from any cwd. */
const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/** A heartbeat node in a child process. */
export class ChildNode {
  readonly events: ChildEvent[] = [];
  private waiters: { pred: (e: ChildEvent) => boolean; resolve: (e: ChildEvent) => void }[] = [];
  private buf = '';
  exited = false;

  constructor(readonly proc: ChildProcess) {
    proc.stdout!.setEncoding('utf8');
    proc.stdout!.on('data', (chunk: string) => {
      this.buf += chunk;
      let i;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 1);
        let e: ChildEvent;
        try { e = JSON.parse(line) as ChildEvent; } catch { continue; }
        this.events.push(e);
        for (const w of this.waiters.slice()) if (w.pred(e)) { this.waiters.splice(this.waiters.indexOf(w), 1); w.resolve(e); }
      }
    });
    proc.on('exit', () => { this.exited = true; });
    proc.stdin!.on('error', () => {}); // writes after a kill
  }

  get pid(): number { return this.proc.pid!; }

  send(c: ChildCommand): void { if (!this.exited) this.proc.stdin!.write(JSON.stringify(c) + '\n'); }

  /** The first event (already seen or future) matching `pred`; rejects after timeoutMs. */
  waitFor(pred: (e: ChildEvent) => boolean, timeoutMs: number, what = 'event'): Promise<ChildEvent> {
    const seen = this.events.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(new Error(`child ${this.pid}: no ${what} within ${timeoutMs} ms; events: ${JSON.stringify(this.events).slice(0, 800)}`));
      }, timeoutMs);
      const done = (e: ChildEvent) => { clearTimeout(t); resolve(e); };
      this.waiters.push({ pred, resolve: done });
    });
  }

  /** SIGKILL, and wait for the exit. */
  async kill(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((r) => this.proc.once('exit', () => r()));
    this.proc.kill('SIGKILL');
    await gone;
  }
}

/**
 * Start a child heartbeat node; resolves when its socket is bound (with `hold`: when it has
 * loaded and waits for {cmd:'start'}); rejects on its start error.
 */
export async function spawnHeartbeatNode(o: ChildNodeOptions): Promise<ChildNode> {
  const proc = spawn(process.execPath, ['--import', tsxLoader, here, 'child', JSON.stringify(o)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const c = new ChildNode(proc);
  const e = await Promise.race([
    c.waitFor((x) => x.ev === (o.hold === true ? 'loaded' : 'ready') || x.ev === 'error', 30000, 'ready'),
    new Promise<ChildEvent>((resolve) => proc.once('exit', (code) => resolve({ ev: 'error', message: `exited with ${code}` }))),
  ]);
  if (e.ev === 'error') { await c.kill(); throw new Error(`child heartbeat node: ${e.message}`); }
  return c;
}

/** A UDP port on `host` that is free right now. */
export async function freeUdpPort(host = '127.0.0.1'): Promise<number> {
  const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  await new Promise<void>((resolve, reject) => { s.once('error', reject); s.bind(0, host, () => resolve()); });
  const { port } = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Resolves with the first 'role' event of `h` for which pred holds; rejects after timeoutMs. */
export function waitRole(h: Heartbeats, pred: (role: string, reason: string, epoch: number) => boolean, timeoutMs: number): Promise<{ role: string; reason: string; epoch: number; at: number }> {
  return new Promise((resolve, reject) => {
    const on = (role: string, reason: string, epoch: number) => {
      if (!pred(role, reason, epoch)) return;
      clearTimeout(t);
      h.off('role', on);
      resolve({ role, reason, epoch, at: performance.now() });
    };
    const t = setTimeout(() => { h.off('role', on); reject(new Error(`${h.name}: role event not seen within ${timeoutMs} ms (role ${h.role})`)); }, timeoutMs);
    h.on('role', on);
  });
}

export interface BenchFailureOptions {
  /** Kills to measure (default 5). */
  runs?: number;
  intervalMs?: number;
  timeoutMs?: number;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

/**
 * Kill -9 a child active node `runs` times; each time measure from the kill to the in-process
 * standby's 'role active' event (the main thread receiving it, i.e. what a node would act on).
 */
export async function benchFailureDetection(o: BenchFailureOptions = {}): Promise<{ detectMs: number[] }> {
  const runs = o.runs ?? 5;
  const cfg: HeartbeatConfig = { intervalMs: o.intervalMs ?? 50, timeoutMs: o.timeoutMs ?? 300, hangMs: 5000 };
  const key = new Uint8Array(32).map((_, i) => (i * 7 + 3) & 0xff);
  const keyHex = Buffer.from(key).toString('hex');
  const detectMs: number[] = [];
  for (let r = 0; r < runs; r++) {
    const [pa, pb] = [await freeUdpPort(), await freeUdpPort()];
    const child = await spawnHeartbeatNode({
      name: 'bench-a', priority: 200, keyHex, host: '127.0.0.1', port: pa, cfg,
      peers: [{ name: 'bench-b', handover: { host: '127.0.0.1', port: pb } }],
    });
    const b = new Heartbeats({
      name: 'bench-b', priority: 100, key, bind: { host: '127.0.0.1', port: pb }, cfg,
      peers: [{ name: 'bench-a', handover: { host: '127.0.0.1', port: pa } }],
    });
    try {
      await child.waitFor((e) => e.ev === 'role' && e.role === 'active', 10000, 'active role');
      const standby = waitRole(b, (role) => role === 'standby', 10000);
      await b.start();
      await standby;
      await new Promise((res) => setTimeout(res, 200 + r * 17)); // steady state; vary the kill's phase
      const takeover = waitRole(b, (role, reason) => role === 'active' && reason === 'peer-dead', cfg.timeoutMs * 10);
      const t0 = performance.now();
      child.proc.kill('SIGKILL');
      const got = await takeover;
      detectMs.push(got.at - t0);
      o.log?.(`failure detection run ${r + 1}/${runs}: ${(got.at - t0).toFixed(1)} ms`);
    } finally {
      await child.kill();
      await b.stop();
    }
  }
  return { detectMs };
}

// ------------------------------------------------------------------------------ child mode

async function childMain(json: string): Promise<void> {
  const o = JSON.parse(json) as ChildNodeOptions;
  const out = (e: ChildEvent) => { process.stdout.write(JSON.stringify(e) + '\n'); };
  const wall = () => performance.timeOrigin + performance.now();
  const h = new Heartbeats({
    name: o.name, priority: o.priority, key: new Uint8Array(Buffer.from(o.keyHex, 'hex')),
    bind: { host: o.host, port: o.port }, peers: o.peers, cfg: o.cfg, nice: o.nice,
  });
  h.on('role', (role: string, reason: string, epoch: number) => out({ ev: 'role', role, reason, epoch, at: wall() }));
  h.on('peer', (peer: PeerStatus) => out({ ev: 'peer', peer, at: wall() }));
  const start = async () => {
    try {
      await h.start();
    } catch (e) {
      out({ ev: 'error', message: (e as Error).message });
      process.exit(1);
    }
    out({ ev: 'ready', at: wall() });
  };
  if (o.hold === true) out({ ev: 'loaded', at: wall() });
  else await start();
  let buf = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk: string) => {
    buf += chunk;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const c = JSON.parse(buf.slice(0, i)) as ChildCommand;
      buf = buf.slice(i + 1);
      if (c.cmd === 'start') void start();
      else if (c.cmd === 'block') {
        // A long synchronous job on the main thread (like freezing 10,000 connections).
        out({ ev: 'blocking', ms: c.ms, at: wall() });
        const until = performance.now() + c.ms;
        let x = 0;
        while (performance.now() < until) x = (x + 1) | 0;
        out({ ev: 'unblocked', at: wall() });
      } else if (c.cmd === 'yield') h.yieldTo(c.to);
      else if (c.cmd === 'assume') h.assume(c.epoch);
      else if (c.cmd === 'stats') out({ ev: 'stats', stats: h.stats(), role: h.role, epoch: h.epoch });
      else if (c.cmd === 'stop') void h.stop().then(() => process.exit(0));
    }
  });
  process.stdin.on('end', () => { void h.stop().then(() => process.exit(0)); });
}

if (process.argv[1] === here && process.argv[2] === 'child') {
  void childMain(process.argv[3] ?? '{}');
}
