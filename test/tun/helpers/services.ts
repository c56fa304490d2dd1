// Helpers for the kernel tests: run `ferry <service>` as a child process (its device in a test
// namespace), kernel-side clients as node scripts inside the namespace, and what they need.
import { execFile, execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { nsSpawn } from '../../../tun/netns.ts';
import { TSHARK_CHECK_PREFS, TSHARK_PROBLEM_FILTER } from '../../helpers/tshark.ts';
import { readCaptureFile } from '../../../tun/pcap.ts';

export const FERRY_JS = fileURLToPath(new URL('../../../bin/ferry.js', import.meta.url));

/** What this machine lacks for the kernel tests (each with how to get it), or null. */
export function missingForKernelTests(): string | null {
  const miss: string[] = [];
  if (process.getuid?.() !== 0) miss.push('root (CAP_NET_ADMIN): run the tests as root');
  if (!existsSync('/dev/net/tun')) miss.push('/dev/net/tun: modprobe tun');
  const need: Array<[string, string]> = [['curl', 'curl'], ['tshark', 'tshark'], ['mergecap', 'tshark'], ['ip', 'iproute2'], ['ping', 'iputils-ping']];
  const pkgs = new Set<string>();
  for (const [cmd, pkg] of need) if (!onPath(cmd)) pkgs.add(pkg);
  if (pkgs.size > 0) miss.push(`commands missing: apt-get install -y ${[...pkgs].join(' ')}`);
  if (!existsSync(fileURLToPath(new URL('../../../build/Release/ferry_tun.node', import.meta.url)))) miss.push('the native addon: run npm install');
  return miss.length === 0 ? null : `kernel tests cannot run: ${miss.join('; ')}`;
}

function onPath(cmd: string): boolean {
  try { execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }); return true; } catch { return false; }
}

/** A running `ferry` service process. */
export interface Service {
  proc: ChildProcess;
  pid: number;
  /** The line containing `listening`. */
  line: string;
  /** Device name from that line. */
  dev: string;
  out(): string;
  err(): string;
  /** SIGTERM, wait for exit; resolves with the exit code (null: killed by a signal). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Start `ferry <args>` and wait for its `listening` line; rejects with its stderr if it exits or stalls. */
export function startService(args: readonly string[], timeoutMs = 20_000): Promise<Service> {
  const proc = spawn(process.execPath, [FERRY_JS, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  proc.stdout!.setEncoding('utf8').on('data', (s: string) => { out += s; });
  proc.stderr!.setEncoding('utf8').on('data', (s: string) => { err += s; });
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  return new Promise<Service>((resolve, reject) => {
    const t = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`ferry ${args.join(' ')}: no 'listening' after ${timeoutMs} ms\n${out}${err}`)); }, timeoutMs);
    const check = (): void => {
      const line = out.split('\n').find((l) => l.includes('listening'));
      if (line === undefined) return;
      clearTimeout(t);
      proc.stdout!.off('data', check);
      const dev = /\((?:tun|tap) (\S+)/.exec(line)?.[1] ?? '';
      resolve({
        proc, pid: proc.pid!, line, dev, out: () => out, err: () => err,
        stop: async (signal = 'SIGTERM') => {
          if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
          return exited;
        },
      });
    };
    proc.stdout!.on('data', check);
    void exited.then((code) => { clearTimeout(t); reject(new Error(`ferry ${args.join(' ')} exited (${code}) before listening:\n${out}${err}`)); });
  });
}

/** Run `ferry <args>` to completion. */
export function runFerry(args: readonly string[], opts: { wrapper?: string[]; timeoutMs?: number } = {}): Promise<{ code: number | null; out: string; err: string; ms: number }> {
  const argv = [...(opts.wrapper ?? []), process.execPath, FERRY_JS, ...args];
  const t0 = performance.now();
  const proc = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  proc.stdout.setEncoding('utf8').on('data', (s: string) => { out += s; });
  proc.stderr.setEncoding('utf8').on('data', (s: string) => { err += s; });
  const t = setTimeout(() => proc.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
  return new Promise((resolve) => proc.on('close', (code) => { clearTimeout(t); resolve({ code, out, err, ms: performance.now() - t0 }); }));
}

/** Run a node script (CommonJS source) inside namespace `ns` with `args`; resolves with its stdout parsed as JSON (last line). */
export function nsNode(ns: string, script: string, args: readonly (string | number)[], timeoutMs = 60_000): Promise<{ json: Record<string, unknown>; stderr: string; ms: number }> {
  const t0 = performance.now();
  const child = nsSpawn(ns, process.execPath, ['-e', script, ...args.map(String)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => { out += s; });
  child.stderr!.setEncoding('utf8').on('data', (s: string) => { err += s; });
  const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve, reject) => {
    child.on('close', (code) => {
      clearTimeout(t);
      const last = out.trim().split('\n').pop() ?? '';
      try {
        resolve({ json: JSON.parse(last) as Record<string, unknown>, stderr: err, ms: performance.now() - t0 });
      } catch {
        reject(new Error(`node script in ${ns} exited ${code}: ${out}${err}`));
      }
    });
  });
}

/** Start a long-running node script in `ns`; resolves once it printed a line containing `ready`. */
export function nsNodeServer(ns: string, script: string, args: readonly (string | number)[]): Promise<{ proc: ChildProcess; stop(): Promise<void> }> {
  const child = nsSpawn(ns, process.execPath, ['-e', script, ...args.map(String)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => { out += s; });
  child.stderr!.setEncoding('utf8').on('data', (s: string) => { out += s; });
  const exited = new Promise<void>((r) => child.on('close', () => r()));
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`server in ${ns} not ready: ${out}`)); }, 10_000);
    const check = (): void => {
      if (!out.includes('ready')) return;
      clearTimeout(t);
      resolve({ proc: child, stop: async () => { child.kill('SIGTERM'); await exited; } });
    };
    child.stdout!.on('data', check);
    void exited.then(() => { clearTimeout(t); reject(new Error(`server in ${ns} exited: ${out}`)); });
  });
}

/** sha256 (hex) of a file, streamed. */
export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path, { highWaterMark: 1 << 20 }).on('data', (c) => h.update(c)).on('end', () => resolve(h.digest('hex'))).on('error', reject);
  });
}

/** CPU time (user + system) of process `pid` in seconds, from /proc/<pid>/stat (clock ticks of 10 ms). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) start after the last ')'.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(f[11]) + Number(f[12]); // utime, stime: fields 14 and 15 of proc(5)
  return ticks / 100;
}

// ------------------------------------------------------------------------------ client scripts

/**
 * Echo client: sends argv[1] pseudo-random bytes to argv[2]:argv[3] while reading the echo;
 * prints {sent, got, equal, firstEchoMs, sentAllMs, ms}. Both directions flow when the first
 * echoed byte arrives before the last byte was written.
 */
export const ECHO_CLIENT = `
const net = require('net'), crypto = require('crypto');
const N = +process.argv[1], host = process.argv[2], port = +process.argv[3];
const data = crypto.randomBytes(N), want = crypto.createHash('sha256').update(data).digest('hex');
const h = crypto.createHash('sha256'); let got = 0, firstEchoMs = null, sentAllMs = null; const t0 = Date.now();
const s = net.connect(port, host, () => {
  let off = 0;
  const pump = () => {
    while (off < N) { const ok = s.write(data.subarray(off, off + 65536)); off += 65536; if (!ok) { s.once('drain', pump); return; } }
    sentAllMs = Date.now() - t0; s.end();
  };
  pump();
});
s.on('data', (c) => { if (firstEchoMs === null) firstEchoMs = Date.now() - t0; h.update(c); got += c.length; });
s.on('end', () => console.log(JSON.stringify({ sent: N, got, equal: h.digest('hex') === want, firstEchoMs, sentAllMs, ms: Date.now() - t0 })));
s.on('error', (e) => { console.log(JSON.stringify({ error: e.code || e.message, got })); process.exit(1); });
`;

/**
 * N concurrent connections: all connect first (a barrier), then each sends its own message,
 * half-closes and must read exactly that message back. Prints {ok, bad, errors, maxOpen, ms}.
 */
export const MANY_CLIENT = `
const net = require('net');
const N = +process.argv[1], host = process.argv[2], port = +process.argv[3];
let connected = 0, failed = 0, ok = 0, bad = 0, open = 0, maxOpen = 0, closed = 0; const errors = {}; const t0 = Date.now();
const socks = [];
const go = () => { if (connected + failed === N) for (const s of socks) if (s.ready) s.end(s.msg); };
for (let i = 0; i < N; i++) {
  const s = net.connect(port, host); socks.push(s);
  s.msg = 'message ' + i + ' ' + 'z'.repeat(i % 300); s.buf = ''; s.ready = false; s.setEncoding('utf8');
  s.on('connect', () => { s.ready = true; open++; if (open > maxOpen) maxOpen = open; connected++; go(); });
  s.on('data', (c) => { s.buf += c; });
  s.on('end', () => { if (s.buf === s.msg) ok++; else bad++; });
  s.on('error', (e) => { errors[e.code] = (errors[e.code] || 0) + 1; if (!s.ready) { failed++; go(); } });
  s.on('close', () => { if (s.ready) open--; if (++closed === N) console.log(JSON.stringify({ ok, bad, errors, maxOpen, ms: Date.now() - t0 })); });
}
`;

/** A kernel HTTP server (Node's own http) serving argv[1] at any path on argv[2]:argv[3]; prints 'ready'. */
export const KERNEL_HTTP_SERVER = `
const http = require('http'), fs = require('fs');
const file = process.argv[1], host = process.argv[2], port = +process.argv[3];
http.createServer((req, res) => {
  const st = fs.statSync(file);
  res.writeHead(200, { 'content-length': st.size, 'content-type': 'application/octet-stream' });
  fs.createReadStream(file, { highWaterMark: 256 * 1024 }).pipe(res);
}).listen(port, host, () => console.log('ready'));
`;

// ------------------------------------------------------------------------------ tshark

/**
 * tshark preferences for big captures of bulk TCP: the checksum checks of test/helpers/tshark.ts,
 * plus no TCP reassembly and the service ports decoded as plain data. With the defaults, tshark
 * reassembles a 200 MB HTTP body (400+ s) and, with reassembly off, heuristic dissectors (HTTP,
 * Thrift) read random payload as broken messages and mark it malformed. The judgement of IP and
 * TCP (headers, options, checksums) is unchanged.
 */
export function bulkPrefs(ports: readonly number[]): string[] {
  return [...TSHARK_CHECK_PREFS, '-o', 'tcp.desegment_tcp_streams:FALSE', ...ports.flatMap((p) => ['-d', `tcp.port==${p},data`])];
}

function tshark(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('tshark', args, { maxBuffer: 256 << 20, env: { ...process.env, LC_ALL: 'C' } }, (e, stdout, stderr) => {
      const errText = stderr.split('\n').filter((l) => l.trim() !== '' && !/^Running as user/.test(l)).join('\n');
      if (e || errText !== '') reject(new Error(`tshark ${args.join(' ')}: ${errText || e?.message}`));
      else resolve(stdout);
    });
  });
}

/**
 * The tshark judge of PEERS.md §4 (TSHARK_PROBLEM_FILTER) over the packets sent from `from`
 * (ferry's address) in `pcap`: one line per offending frame, none when all are clean.
 */
export async function judgeCapture(pcap: string, from: string, ports: readonly number[]): Promise<string[]> {
  const src = from.includes(':') ? 'ipv6.src' : 'ip.src';
  const out = await tshark(['-n', '-r', pcap, ...bulkPrefs(ports), '-Y', `${src} == ${from} && (${TSHARK_PROBLEM_FILTER})`,
    '-T', 'fields', '-e', 'frame.number', '-e', '_ws.expert.message']);
  return out.split('\n').filter((l) => l !== '').map((l) => `frame ${l.replace('\t', ': ')}`);
}

/** Count the packets of `pcap` matching `filter` (bulk prefs). */
export async function countPackets(pcap: string, filter: string, ports: readonly number[], maxRead?: number): Promise<number> {
  const out = await tshark(['-n', '-r', pcap, ...(maxRead ? ['-c', String(maxRead)] : []), ...bulkPrefs(ports), '-Y', filter, '-T', 'fields', '-e', 'frame.number']);
  return out.split('\n').filter((l) => l !== '').length;
}

/**
 * Fields of the packets of `pcap` matching `filter` (bulk prefs): one row per packet ('' when
 * absent, repeats joined by ','). `maxRead`: read only that many packets from the start.
 */
export async function fieldsOf(pcap: string, fields: readonly string[], filter: string, ports: readonly number[], maxRead?: number): Promise<string[][]> {
  const out = await tshark(['-n', '-r', pcap, ...(maxRead ? ['-c', String(maxRead)] : []), ...bulkPrefs(ports), '-Y', filter, '-T', 'fields', '-E', 'separator=\t', '-E', 'occurrence=a',
    '-E', 'aggregator=,', ...fields.flatMap((f) => ['-e', f])]);
  return out.split('\n').filter((l) => l !== '').map((l) => { const c = l.split('\t'); return fields.map((_, i) => c[i] ?? ''); });
}

/** Packets in `pcap` (raw IP) sent from IPv4 address `from`, counted without tshark. */
export function packetsFrom(pcap: string, from: string): number {
  const r = readCaptureFile(pcap);
  if (!r.ok) throw new Error(`${pcap}: ${r.error}`);
  const want = from.split('.').map(Number);
  let n = 0;
  for (const p of r.value.packets) {
    const d = p.data;
    if (d.length >= 20 && d[0]! >> 4 === 4 && d[12] === want[0] && d[13] === want[1] && d[14] === want[2] && d[15] === want[3]) n++;
  }
  return n;
}
