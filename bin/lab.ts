// The HA lab: the topology `ferry demo`, the HA tests and the HA benchmark share (PEERS.md §2).
//
//        client namespace C                          (curl, usrsctp client, Node clients)
//    10.210.1.1 ──veth── 10.210.1.2        10.210.2.1 ──veth── 10.210.2.2
//                          node A namespace                       node B namespace
//                          TUN 10.200.1.1/24 → ferry node a       TUN 10.200.2.1/24 → ferry node b
//                          10.211.0.1 ─────────── veth (hand-over link, heartbeats) ─────────── 10.211.0.2
//
// Every node answers as the service address 10.200.0.10; C's route to it points at the active
// node. The nodes move it with hooks (`ip -n C route replace ...`), as keepalived's notify
// scripts would. Each node is a real `ferry node --config` process in its namespace; the lab
// talks to it through its control socket. Everything is named `<prefix>-…` and removed by close().
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { controlRequest } from '../migrate/control.ts';
import type { NodeStatus, SwitchoverProgress, SwitchoverSummary } from '../migrate/node-types.ts';
import { addVeth, buildMoveTopology, delNetns, ip, netnsPids, sysctl } from '../tun/netns.ts';

export const SERVICE_IP = '10.200.0.10';
const FERRY_JS = fileURLToPath(new URL('./ferry.js', import.meta.url));
/** The kernel-side client the HA tests and benchmark run in the client namespace. */
const CLIENT = fileURLToPath(new URL('../test/ha/client.ts', import.meta.url));

export interface LabNodeSpec {
  name: 'a' | 'b';
  priority: number;
  /** Extra config (merged over the lab's). */
  extra?: Record<string, unknown>;
}

export interface LabOptions {
  /** Namespace/device prefix, e.g. `ha-<pid>` (<= 8 chars keeps veth names short). */
  prefix: string;
  services: Record<string, unknown>[];
  /** Directory served by http services (`root`), created by the caller; default none. */
  heartbeat?: { intervalMs?: number; timeoutMs?: number; hangMs?: number };
  move?: Record<string, unknown>;
  /** Record each node's device to <dir>/<node>.pcap. */
  pcap?: boolean;
  /** Log lines as they come (the demo prints its own timeline instead). */
  onLog?: (node: string, line: string) => void;
  /**
   * 'tap': each node's device is a TAP that the lab moves into the client namespace's bridge
   * (10.200.0.1/24 on it, the service address on-link): ferry answers ARP for the service
   * address while active and moves it by gratuitous ARP (ipMove mode 'arp'). Default 'tun'.
   */
  mode?: 'tun' | 'tap';
}

export class LabNode {
  readonly logLines: string[] = [];
  proc: ChildProcess | null = null;
  exited: Promise<number | null> = Promise.resolve(null);
  constructor(readonly name: string, readonly ns: string, readonly configPath: string, readonly socket: string, readonly logPath: string) {}

  async status(): Promise<NodeStatus> {
    const r = await controlRequest(this.socket, { id: 1, cmd: 'status' });
    if (!('status' in r)) throw new Error(`status of ${this.name}: ${'error' in r ? r.error : 'bad reply'}`);
    return r.status;
  }

  async switchover(to: string, onProgress?: (p: SwitchoverProgress) => void): Promise<SwitchoverSummary> {
    const r = await controlRequest(this.socket, { id: 2, cmd: 'switchover', to }, onProgress);
    if ('summary' in r) return r.summary;
    throw new Error(`switchover from ${this.name}: ${'error' in r ? r.error : 'bad reply'}`);
  }

  /** The node's log file (what `ferry node` wrote). */
  log(): string { return existsSync(this.logPath) ? readFileSync(this.logPath, 'utf8') : ''; }

  /** SIGKILL (a crash) or SIGTERM (a clean stop); resolves when it is gone. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const p = this.proc;
    if (p === null || p.exitCode !== null || p.signalCode !== null) return;
    p.kill(signal);
    await this.exited;
  }
}

export class Lab {
  readonly dir: string;
  readonly nsC: string;
  readonly nodes: Record<string, LabNode> = {};
  private readonly key = randomBytes(32).toString('hex');
  private closed = false;

  constructor(readonly o: LabOptions) {
    this.dir = mkdtempSync(join(tmpdir(), `${o.prefix}-`));
    this.nsC = `${o.prefix}-c`;
  }

  nsOf(node: string): string { return `${this.o.prefix}-${node}`; }

  /** Namespaces, veths, addresses, routes. */
  build(): void {
    const P = this.o.prefix, C = this.nsC, A = this.nsOf('a'), B = this.nsOf('b');
    // Each node reaches the client's other address through C (replies of moved connections).
    buildMoveTopology({ c: C, a: A, b: B, net: '10.210', ifp: P.slice(-13) });
    addVeth({ ns: A, name: `${P}ab`.slice(-15), addr: '10.211.0.1/24' }, { ns: B, name: `${P}ba`.slice(-15), addr: '10.211.0.2/24' });
    for (const n of [C, A, B]) { sysctl(n, 'net.ipv4.conf.all.rp_filter', 0); sysctl(n, 'net.ipv4.conf.default.rp_filter', 0); }
    if (this.o.mode === 'tap') {
      ip(['link', 'add', 'br0', 'type', 'bridge'], C);
      ip(['addr', 'add', '10.200.0.1/24', 'dev', 'br0'], C);
      ip(['link', 'set', 'br0', 'up'], C);
    }
  }

  /** The device name of `node` (TAP mode: it is moved into the client namespace's bridge). */
  devName(node: string): string { return `${this.o.prefix}t${node}`.slice(-15); }

  /** The route hook that points C's service route at `node`. */
  private upHook(node: string): string {
    const via = node === 'a' ? '10.210.1.2' : '10.210.2.2';
    return `ip -n ${this.nsC} route replace ${SERVICE_IP}/32 via ${via}`;
  }

  /** Write the node's config and start `ferry node` in its namespace; resolves when it says `ready`. */
  async start(spec: LabNodeSpec, timeoutMs = 20_000): Promise<LabNode> {
    const { name } = spec;
    const other = name === 'a' ? 'b' : 'a';
    const ns = this.nsOf(name);
    const socket = join(this.dir, `${name}.sock`);
    const logPath = join(this.dir, `${name}.log`);
    const cfg: Record<string, unknown> = {
      name, priority: spec.priority,
      device: {
        mode: this.o.mode ?? 'tun', cidr: name === 'a' ? '10.200.1.1/24' : '10.200.2.1/24',
        ...(this.o.mode === 'tap' ? { name: this.devName(name) } : {}),
        ...(this.o.pcap ? { pcap: join(this.dir, `${name}.pcap`) } : {}),
      },
      serviceIps: [SERVICE_IP],
      handover: `${name === 'a' ? '10.211.0.1' : '10.211.0.2'}:7400`,
      peers: [{ name: other, handover: `${other === 'a' ? '10.211.0.1' : '10.211.0.2'}:7400` }],
      heartbeat: { intervalMs: 50, timeoutMs: 300, ...(this.o.heartbeat ?? {}) },
      key: { hex: this.key },
      services: this.o.services,
      move: { ackTimeoutMs: 2000, onTimeout: 'move', graceMs: 2000, ...(this.o.move ?? {}) },
      ipMove: this.o.mode === 'tap' ? { mode: 'arp' } : { mode: 'hooks', up: [this.upHook(name)], down: [] },
      control: socket,
      log: logPath,
      ...(spec.extra ?? {}),
    };
    const configPath = join(this.dir, `${name}.json`);
    writeFileSync(configPath, JSON.stringify(cfg, null, 2), { mode: 0o600 });
    const n = new LabNode(name, ns, configPath, socket, logPath);
    this.nodes[name] = n;
    // `ip netns exec` execs node itself: the child's pid is the node's.
    // FERRY_LAB_NODE_ARGS: extra arguments for the node processes' `node` (e.g. --cpu-prof).
    const extra = (process.env.FERRY_LAB_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const proc = spawn('ip', ['netns', 'exec', ns, process.execPath, ...extra, FERRY_JS, 'node', '--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    n.proc = proc;
    n.exited = new Promise((r) => proc.on('exit', (code) => r(code)));
    let out = '', err = '';
    proc.stderr!.setEncoding('utf8').on('data', (s: string) => { err += s; });
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`node ${name}: no 'ready' within ${timeoutMs} ms\n${out}${err}`)), timeoutMs);
      proc.stdout!.setEncoding('utf8').on('data', (s: string) => {
        out += s;
        if (out.includes('ready')) { clearTimeout(t); resolve(); }
      });
      proc.once('exit', (code) => { clearTimeout(t); reject(new Error(`node ${name} exited (${code}) before it was ready:\n${out}${err}`)); });
    });
    if (this.o.mode === 'tap') {
      // The TAP's file descriptor stays the node's; the interface joins the client's bridge.
      const dev = this.devName(name);
      ip(['link', 'set', dev, 'netns', this.nsC], ns);
      ip(['link', 'set', dev, 'master', 'br0'], this.nsC);
      ip(['link', 'set', dev, 'up'], this.nsC);
    }
    return n;
  }

  /**
   * The usual start: node a (priority 200) and b (100), each with `extra` config, until a is
   * active holding the address and b is linked to it. Returns both.
   */
  async startPair(extra: Record<string, unknown> = {}): Promise<{ a: LabNode; b: LabNode }> {
    const a = await this.start({ name: 'a', priority: 200, extra });
    const b = await this.start({ name: 'b', priority: 100, extra });
    await this.waitFor('a', (s) => s.role === 'active' && s.holdsServiceIps, 15_000, 'a active');
    await this.waitFor('b', (s) => s.peers.some((p) => p.linked && p.alive), 15_000, 'b linked');
    return { a, b };
  }

  /** Wait until `pred(status of node)` holds (polling the control socket). */
  async waitFor(node: string, pred: (s: NodeStatus) => boolean, timeoutMs = 10_000, what = 'condition'): Promise<NodeStatus> {
    const t0 = performance.now();
    let last: NodeStatus | null = null;
    while (performance.now() - t0 < timeoutMs) {
      try {
        last = await this.nodes[node]!.status();
        if (pred(last)) return last;
      } catch { /* not up yet */ }
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`node ${node}: ${what} not reached within ${timeoutMs} ms (last status: ${JSON.stringify(last)})`);
  }

  /** Stop every node (SIGTERM, then SIGKILL), delete the namespaces and the directory. Idempotent. */
  async close(keepDir = false): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(Object.values(this.nodes).map(async (n) => {
      const p = n.proc;
      if (p === null || p.exitCode !== null || p.signalCode !== null) return;
      p.kill('SIGTERM');
      const t = setTimeout(() => p.kill('SIGKILL'), 3000);
      await n.exited;
      clearTimeout(t);
    }));
    for (const ns of [this.nsC, this.nsOf('a'), this.nsOf('b')]) {
      for (const pid of netnsPids(ns)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
      delNetns(ns);
    }
    if (!keepDir) rmSync(this.dir, { recursive: true, force: true });
  }
}

/** What the lab needs on this machine (each with how to get it), or null. */
export function labMissing(extra: { usrsctp?: boolean; tshark?: boolean; curl?: boolean } = {}): string | null {
  const miss: string[] = [];
  if (process.getuid?.() !== 0) miss.push('root (CAP_NET_ADMIN): run as root');
  if (!existsSync('/dev/net/tun')) miss.push('/dev/net/tun: modprobe tun');
  if (!existsSync(fileURLToPath(new URL('../build/Release/ferry_tun.node', import.meta.url)))) miss.push('the native addon: run npm install');
  if (extra.usrsctp && !existsSync('/usr/lib/usrsctp/client')) miss.push("usrsctp's example client: apt-get install -y libusrsctp-examples");
  if (extra.tshark && !onPath('dumpcap')) miss.push('dumpcap/tshark: apt-get install -y tshark');
  if (extra.curl && !onPath('curl')) miss.push('curl: apt-get install -y curl');
  return miss.length === 0 ? null : miss.join('; ');
}

/**
 * What `ferry demo` needs from Debian (curl, usrsctp's examples, iproute2), installed when
 * missing and running as root with apt-get (the README's quick start is one command on a fresh
 * machine); otherwise nothing happens and labMissing() names them. Returns what it installed.
 */
export function ensureDemoPackages(log: (s: string) => void): string[] {
  const need: string[] = [];
  if (!onPath('curl')) need.push('curl');
  if (!existsSync('/usr/lib/usrsctp/client')) need.push('libusrsctp-examples');
  if (!onPath('ip')) need.push('iproute2');
  if (need.length === 0 || process.getuid?.() !== 0 || !onPath('apt-get')) return [];
  log(`installing ${need.join(' ')} (apt-get)…`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  try {
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'ignore', env, timeout: 300_000 });
    execFileSync('apt-get', ['install', '-y', '-qq', ...need], { stdio: 'ignore', env, timeout: 300_000 });
  } catch (e) {
    log(`apt-get install ${need.join(' ')} failed: ${(e as Error).message.split('\n')[0]}`);
    return [];
  }
  return need;
}

function onPath(cmd: string): boolean {
  for (const d of (process.env.PATH ?? '/usr/bin:/bin').split(':')) if (existsSync(join(d, cmd))) return true;
  return false;
}

// ------------------------------------------------------------------ the lab's client

/** test/ha/client.ts running in namespace `ns` (see its header for options and commands), read by JSON line. */
export interface HaClient {
  /** The next JSON line whose `ev` is `ev` (earlier ones of other kinds are kept). */
  next(ev: string, timeoutMs?: number): Promise<Record<string, unknown> & { [k: string]: any }>;
  send(cmd: string): void;
  kill(): void;
  stderr(): string;
}

export function startClient(ns: string, opts: Record<string, unknown>): Promise<HaClient> {
  const p = spawn('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', CLIENT, JSON.stringify(opts)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  p.stderr!.setEncoding('utf8').on('data', (s: string) => { err += s; });
  const lines: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];
  createInterface({ input: p.stdout! }).on('line', (l) => {
    try { lines.push(JSON.parse(l) as Record<string, unknown>); } catch { lines.push({ ev: 'text', text: l }); }
    for (const w of waiters.splice(0)) w();
  });
  let exited = false;
  p.on('exit', () => { exited = true; for (const w of waiters.splice(0)) w(); });
  const c: HaClient = {
    async next(ev, timeoutMs = 30_000) {
      const t0 = performance.now();
      for (;;) {
        const i = lines.findIndex((l) => l.ev === ev || l.ev === 'fatal');
        if (i >= 0) {
          const l = lines.splice(i, 1)[0]!;
          if (l.ev === 'fatal') throw new Error(`client: ${String(l.error)}\n${err}`);
          return l as Record<string, any>;
        }
        if (exited) throw new Error(`client exited before '${ev}': ${err}`);
        const left = timeoutMs - (performance.now() - t0);
        if (left <= 0) throw new Error(`client: no '${ev}' within ${timeoutMs} ms\n${err}`);
        await new Promise<void>((r) => { const t = setTimeout(r, left); waiters.push(() => { clearTimeout(t); r(); }); });
      }
    },
    send(cmd) { p.stdin!.write(`${cmd}\n`); },
    kill() { if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL'); },
    stderr: () => err,
  };
  return Promise.resolve(c);
}
