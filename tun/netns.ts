// Network namespaces, veth pairs and commands inside them: the scaffolding of every real-peer
// test and benchmark. Everything is created under a name the caller chooses (always with the
// caller's prefix, e.g. `fx-…`, `rc-…`) and deleted by that name; nothing here touches a
// namespace or device it did not get the name of.
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';

const NETNS_DIR = '/run/netns';
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** Linux interface names: 1..15 bytes, no '/', ':' or whitespace. */
const IFNAME_RE = /^[A-Za-z0-9_.-]{1,15}$/;

let counter = 0;

/** A name unique to this process: `${prefix}-${pid}-${n}` (for namespaces; device names must stay ≤ 15 bytes). */
export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid}-${++counter}`;
}

function checkNs(name: string): void {
  if (!NAME_RE.test(name)) throw new TypeError(`bad network namespace name ${JSON.stringify(name)} (letters, digits, '_', '.', '-')`);
}

export function checkIfName(name: string): void {
  if (!IFNAME_RE.test(name)) throw new TypeError(`bad interface name ${JSON.stringify(name)} (1..15 of letters, digits, '_', '.', '-')`);
}

/** stderr of a failed child_process call, trimmed, or its message. */
function why(e: unknown): string {
  const x = e as { stderr?: Buffer | string; message?: string; code?: string };
  if (x.code === 'ENOENT') return 'command not found';
  const s = x.stderr ? String(x.stderr).trim() : '';
  return s || String(x.message ?? e);
}

/**
 * Run `ip [-n ns] ...args` and return its stdout. Throws `ip <args>: <ip's stderr>` on failure
 * (and says to install iproute2 when `ip` is missing).
 */
export function ip(args: readonly string[], ns: string | null = null): string {
  const full = ns === null ? [...args] : ['-n', ns, ...args];
  try {
    return execFileSync('ip', full, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') throw new Error('`ip` not found: install iproute2');
    throw new Error(`ip ${full.join(' ')}: ${why(e)}`, { cause: e });
  }
}

/** Whether network namespace `name` exists. */
export const netnsExists = (name: string): boolean => NAME_RE.test(name) && existsSync(`${NETNS_DIR}/${name}`);

/** Names of the existing network namespaces that start with `prefix`. */
export function listNetns(prefix: string): string[] {
  if (!existsSync(NETNS_DIR)) return [];
  return readdirSync(NETNS_DIR).filter((n) => n.startsWith(prefix)).sort();
}

/** Create network namespace `name` with its loopback up. Throws if it already exists. */
export function addNetns(name: string): void {
  checkNs(name);
  if (netnsExists(name)) throw new Error(`network namespace ${name} already exists`);
  ip(['netns', 'add', name]);
  try {
    ip(['link', 'set', 'lo', 'up'], name);
  } catch (e) {
    delNetns(name);
    throw e;
  }
}

/** pids of the processes running in namespace `name`. */
export function netnsPids(name: string): number[] {
  if (!netnsExists(name)) return [];
  try {
    return ip(['netns', 'pids', name]).split(/\s+/).filter(Boolean).map(Number).filter((p) => p > 0 && p !== process.pid);
  } catch {
    return [];
  }
}

/**
 * Delete namespace `name`: first SIGKILL every process inside it (`ip netns del` alone leaves
 * them running, PEERS.md §2), then delete it. Devices inside it go with it. No error if absent.
 */
export function delNetns(name: string): void {
  checkNs(name);
  if (!netnsExists(name)) return;
  for (const pid of netnsPids(name)) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
  }
  try {
    ip(['netns', 'del', name]);
  } catch (e) {
    if (netnsExists(name)) throw e;
  }
}

/** Delete every namespace whose name starts with `prefix` (leftovers of a crashed run). Returns their names. */
export function delNetnsByPrefix(prefix: string): string[] {
  if (prefix.length < 3) throw new TypeError(`prefix ${JSON.stringify(prefix)} too short to delete by`);
  const names = listNetns(prefix);
  for (const n of names) delNetns(n);
  return names;
}

/** Run `cmd args` inside namespace `ns` and return stdout; throws with the command's stderr. */
export function nsExec(ns: string, cmd: string, args: readonly string[] = [], opts: { timeoutMs?: number; input?: string } = {}): string {
  checkNs(ns);
  try {
    return execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], {
      encoding: 'utf8',
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      input: opts.input,
      timeout: opts.timeoutMs,
    });
  } catch (e) {
    throw new Error(`[netns ${ns}] ${cmd} ${args.join(' ')}: ${why(e)}`, { cause: e });
  }
}

/** Spawn `cmd args` inside namespace `ns` (via `ip netns exec`; delNetns kills it if still running). */
export function nsSpawn(ns: string, cmd: string, args: readonly string[] = [], opts: SpawnOptions = {}): ChildProcess {
  checkNs(ns);
  return spawn('ip', ['netns', 'exec', ns, cmd, ...args], opts);
}

/** Result of nsRun. */
export interface RunResult { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; ms: number }

/**
 * Run `cmd args` inside `ns` without blocking the event loop (the process can keep serving its
 * devices meanwhile); resolves when it exits, or kills it after `timeoutMs` (default 10 s).
 */
export function nsRun(ns: string, cmd: string, args: readonly string[] = [], opts: { timeoutMs?: number } = {}): Promise<RunResult> {
  const t0 = performance.now();
  const child = nsSpawn(ns, cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 10_000);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: performance.now() - t0 });
    });
  });
}

/** Set a sysctl (`net.ipv4.ip_forward`, or slash form for names with dots) inside `ns` (null: this namespace). */
export function sysctl(ns: string | null, key: string, value: string | number): void {
  const arg = `${key}=${value}`;
  if (ns === null) {
    try {
      execFileSync('sysctl', ['-qw', arg], { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      throw new Error(`sysctl -w ${arg}: ${why(e)}`, { cause: e });
    }
  } else nsExec(ns, 'sysctl', ['-qw', arg]);
}

/** One end of a veth pair: its namespace (null: this one), name, optional CIDR address. */
export interface VethEnd { ns: string | null; name: string; addr?: string }

/**
 * Create a veth pair between two namespaces, address both ends (if given) and bring them up.
 * Delete with `ip link del` on one end, or by deleting either namespace.
 */
export function addVeth(a: VethEnd, b: VethEnd): void {
  checkIfName(a.name);
  checkIfName(b.name);
  const peer = ['peer', 'name', b.name, ...(b.ns === null ? [] : ['netns', b.ns])];
  ip(['link', 'add', a.name, 'type', 'veth', ...peer], a.ns);
  try {
    for (const end of [a, b]) {
      if (end.addr) ip(['addr', 'add', end.addr, 'dev', end.name], end.ns);
      ip(['link', 'set', 'dev', end.name, 'up'], end.ns);
    }
  } catch (e) {
    try { ip(['link', 'del', a.name], a.ns); } catch { /* gone with a namespace */ }
    throw e;
  }
}

/**
 * The shape of every migration setup (PEERS.md §2): namespaces `c` (client), `a`, `b` created
 * afresh; veths c↔a on `${net}.1.0/24` (.1 in c, .2 in a) and c↔b on `${net}.2.0/24`; a and
 * b forward, and each reaches the client's address on the other link through c, so either
 * node can answer a connection that started on the other. Interfaces are named `${ifp}ca`,
 * `${ifp}ac`, `${ifp}cb`, `${ifp}bc`.
 */
export function buildMoveTopology(o: { c: string; a: string; b: string; net: string; ifp: string }): void {
  for (const n of [o.c, o.a, o.b]) { delNetns(n); addNetns(n); }
  addVeth({ ns: o.c, name: `${o.ifp}ca`, addr: `${o.net}.1.1/24` }, { ns: o.a, name: `${o.ifp}ac`, addr: `${o.net}.1.2/24` });
  addVeth({ ns: o.c, name: `${o.ifp}cb`, addr: `${o.net}.2.1/24` }, { ns: o.b, name: `${o.ifp}bc`, addr: `${o.net}.2.2/24` });
  for (const n of [o.a, o.b]) sysctl(n, 'net.ipv4.ip_forward', 1);
  ip(['route', 'add', `${o.net}.2.0/24`, 'via', `${o.net}.1.1`], o.a);
  ip(['route', 'add', `${o.net}.1.0/24`, 'via', `${o.net}.2.1`], o.b);
}
