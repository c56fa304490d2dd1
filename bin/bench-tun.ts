// TUN benchmark (issue #5 item 5): ferry on a real TUN device against the Linux kernel's TCP,
// every number next to a ceiling measured in the same run.
//   - single-connection throughput kernel→ferry and ferry→kernel (ferry's Host runs in this
//     process on a TUN in namespace fk-b-<pid>; the kernel side is a node script inside it),
//     plain (MTU-sized packets) and with TUN offload (TSO/GSO: 64 KB segments through the device),
//     against the raw TUN packet ceiling (tun/raw-ceiling.ts: the device layer with no stack)
//     and against kernel-to-kernel TCP over a veth pair (the same node scripts, two namespaces);
//   - connections per second (kernel clients to a ferry echo server), against the same client
//     on a kernel echo server over the veth pair;
//   - heap and RSS per idle established connection at 10k and 100k connections (stack state
//     only: connections are accepted through the stack API, no net.Socket objects; and at 10k
//     with net.Socket objects too), and the CPU this process uses while they sit idle.
// Run alone with `node --import tsx bin/bench-tun.ts` (root); `npm run bench` calls tunBenchRows().
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { ConnId } from '../stack/api.ts';
import type { Socket } from '../tun/net.ts';
import { addNetns, addVeth, delNetns, sysctl } from '../tun/netns.ts';
import { measureRawCeiling } from '../tun/raw-ceiling.ts';
import { openTunHost } from '../tun/tun-host.ts';
import type { TunHost } from '../tun/tun-host.ts';
import type { Row } from './bench.ts';

const NS = `fk-b-${process.pid}`;
const NSA = `fk-b-${process.pid}-a`, NSB = `fk-b-${process.pid}-b`;
const KERNEL = '10.90.0.1', FERRY = '10.90.0.2';
/** The same with TUN offload (TSO/GSO, 64 KB segments through the device). */
const KERNEL_O = '10.93.0.1', FERRY_O = '10.93.0.2';
const VA = '10.91.0.1', VB = '10.91.0.2';
/** Warm-up and measured time of each throughput run (ms). */
const WARM_MS = 500, MEASURE_MS = Number(process.env.FERRY_BENCH_TUN_MS ?? 2000);
/** Stack-only idle-connection counts to measure (10k is always measured with net.Socket objects); 100k takes ~10-20 s. */
const IDLE_COUNTS = (process.env.FERRY_BENCH_TUN_IDLE ?? '100000').split(',').map(Number);
/** TCP buffers of the ferry side (as bin/services.ts). */
const TCP = { rcvBuf: 1 << 20, sndBuf: 1 << 20 };

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ------------------------------------------------------------------------------ kernel-side scripts

/** Connects to argv[1]:argv[2], reads; prints {MBps} over [warm, warm+measure] ms from the first byte. */
const SINK_CLIENT = `
const net = require('net'); const [host, port, warm, measure] = process.argv.slice(1);
let bytes = 0, t0 = null, b0 = 0, done = false;
const s = net.connect(+port, host);
s.on('data', (c) => {
  const now = performance.now(); bytes += c.length;
  if (t0 === null) t0 = now;
  if (b0 === 0 && now - t0 >= +warm) { b0 = bytes; t0 = now; }
  if (b0 > 0 && now - t0 >= +measure && !done) { done = true; console.log(JSON.stringify({ MBps: (bytes - b0) / (now - t0) / 1000 })); s.destroy(); process.exit(0); }
});
s.on('error', (e) => { console.log(JSON.stringify({ error: e.code })); process.exit(1); });
`;

/** Connects to argv[1]:argv[2] and writes as fast as the socket takes it for argv[3] ms. */
const SOURCE_CLIENT = `
const net = require('net'); const [host, port, ms] = process.argv.slice(1);
const buf = Buffer.alloc(1 << 20, 0x5a); const end = performance.now() + +ms;
const s = net.connect(+port, host, () => {
  const pump = () => { while (performance.now() < end) { if (!s.write(buf)) { s.once('drain', pump); return; } } s.destroy(); process.exit(0); };
  pump();
});
s.on('error', (e) => { console.log(JSON.stringify({ error: e.code })); process.exit(1); });
`;

/** Kernel servers on argv[1]:argv[2]: 'source' writes forever, 'echo' echoes. Prints 'ready'. */
const KERNEL_SERVER = `
const net = require('net'); const [kind, host, port] = process.argv.slice(1);
const buf = Buffer.alloc(1 << 20, 0x5a);
net.createServer({ allowHalfOpen: true }, (s) => {
  s.on('error', () => {});
  if (kind === 'echo') { s.pipe(s); return; }
  const pump = () => { while (!s.destroyed) { if (!s.write(buf)) { s.once('drain', pump); return; } } };
  pump();
}).listen(+port, host, () => console.log('ready'));
`;

/** argv[4] workers, each: connect, send 8 bytes, read them back, close; for argv[3] ms. Prints {cps, errors}. */
const CPS_CLIENT = `
const net = require('net'); const [host, port, ms, conc] = process.argv.slice(1);
let n = 0, errors = 0; const t0 = performance.now(), end = t0 + +ms; let running = +conc;
const one = () => {
  if (performance.now() >= end) { if (--running === 0) console.log(JSON.stringify({ cps: n / ((performance.now() - t0) / 1000), errors })); return; }
  const s = net.connect(+port, host, () => s.end('12345678')); let got = 0;
  s.on('data', (c) => { got += c.length; });
  s.on('close', () => { if (got === 8) n++; else errors++; one(); });
  s.on('error', () => {});
};
for (let i = 0; i < +conc; i++) one();
`;

/** Opens argv[3] connections to argv[1] on ports argv[2] (comma list), argv[4] at a time; prints 'ready {json}' and holds them. */
const HOLD_CLIENT = `
const net = require('net'); const [host, portList, total, conc] = process.argv.slice(1);
const ports = portList.split(',').map(Number); const N = +total; const socks = [];
let started = 0, ok = 0, failed = 0; const t0 = performance.now();
const next = () => {
  if (started >= N) { if (ok + failed === N) console.log('ready ' + JSON.stringify({ ok, failed, ms: performance.now() - t0 })); return; }
  const s = net.connect(ports[started % ports.length], host); started++;
  s.on('connect', () => { ok++; socks.push(s); next(); });
  s.on('error', () => { failed++; next(); });
};
for (let i = 0; i < +conc; i++) next();
process.on('SIGTERM', () => { for (const s of socks) s.destroy(); process.exit(0); });
`;

/** Spawn a node script in `ns`; `ready`: resolve on a line containing 'ready' (else on exit). */
function nsScript(ns: string, script: string, args: readonly (string | number)[]): { proc: ChildProcess; done: Promise<string>; ready: Promise<string> } {
  const proc = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script, ...args.map(String)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.setEncoding('utf8').on('data', (s: string) => { out += s; });
  proc.stderr!.setEncoding('utf8').on('data', (s: string) => { out += s; });
  const done = new Promise<string>((r) => proc.on('close', () => r(out)));
  const ready = new Promise<string>((resolve, reject) => {
    proc.stdout!.on('data', () => { const l = out.split('\n').find((x) => x.includes('ready')); if (l !== undefined) resolve(l); });
    void done.then(() => reject(new Error(`script in ${ns} exited: ${out.slice(0, 500)}`)));
  });
  ready.catch(() => {});
  return { proc, done, ready };
}

/** The last JSON line a finished script printed. */
async function jsonOf(p: Promise<string>): Promise<Record<string, number>> {
  const out = await p;
  const line = out.trim().split('\n').reverse().find((l) => l.startsWith('{'));
  if (line === undefined) throw new Error(`no result: ${out.slice(0, 500)}`);
  const j = JSON.parse(line) as Record<string, number>;
  if ('error' in j) throw new Error(`kernel script: ${JSON.stringify(j)}`);
  return j;
}

// ------------------------------------------------------------------------------ measurements

/** kernel→ferry: ferry discards on port 9 and measures what it read in the window. */
async function kernelToFerry(th: TunHost, addr = FERRY): Promise<number> {
  let bytes = 0, t0 = -1, b0 = -1, result = -1;
  const server = th.host.createServer((s: Socket) => {
    s.on('error', () => {});
    s.on('data', (c: Buffer) => {
      const now = performance.now();
      bytes += c.length;
      if (t0 < 0) t0 = now;
      if (b0 < 0 && now - t0 >= WARM_MS) { b0 = bytes; t0 = now; }
      if (b0 >= 0 && result < 0 && now - t0 >= MEASURE_MS) { result = (bytes - b0) / (now - t0) / 1000; s.destroy(); }
    });
  });
  server.listen(9, addr);
  const c = nsScript(NS, SOURCE_CLIENT, [addr, 9, WARM_MS + MEASURE_MS + 1500]);
  await c.done;
  server.destroyAll();
  server.close();
  if (result < 0) throw new Error(`kernel→ferry: measurement incomplete (${bytes} bytes read)`);
  return result;
}

/** ferry→kernel: ferry writes on port 19; the kernel client measures. */
async function ferryToKernel(th: TunHost, addr = FERRY): Promise<number> {
  const buf = Buffer.alloc(1 << 20, 0x5a);
  const server = th.host.createServer((s: Socket) => {
    s.on('error', () => {});
    const pump = (): void => { while (!s.destroyed) { if (!s.write(buf)) { s.once('drain', pump); return; } } };
    pump();
  });
  server.listen(19, addr);
  const r = await jsonOf(nsScript(NS, SINK_CLIENT, [addr, 19, WARM_MS, MEASURE_MS]).done);
  server.destroyAll();
  server.close();
  return r.MBps!;
}

/** Kernel-to-kernel over a veth pair: SINK_CLIENT in A reads from a kernel source in B. */
async function vethThroughput(): Promise<number> {
  const srv = nsScript(NSB, KERNEL_SERVER, ['source', VB, 5001]);
  await srv.ready;
  try {
    return (await jsonOf(nsScript(NSA, SINK_CLIENT, [VB, 5001, WARM_MS, MEASURE_MS]).done)).MBps!;
  } finally {
    srv.proc.kill('SIGTERM');
    await srv.done;
  }
}

async function cpsFerry(th: TunHost): Promise<number> {
  const server = th.host.createServer({ allowHalfOpen: true }, (s: Socket) => { s.on('error', () => {}); s.pipe(s); });
  server.listen(7, FERRY);
  const r = await jsonOf(nsScript(NS, CPS_CLIENT, [FERRY, 7, 2000, 32]).done);
  server.close();
  return r.cps!;
}

async function cpsVeth(): Promise<number> {
  const srv = nsScript(NSB, KERNEL_SERVER, ['echo', VB, 7]);
  await srv.ready;
  try {
    return (await jsonOf(nsScript(NSA, CPS_CLIENT, [VB, 7, 2000, 32]).done)).cps!;
  } finally {
    srv.proc.kill('SIGTERM');
    await srv.done;
  }
}

let gcFn: (() => void) | null = null;
function gc(): void {
  if (gcFn === null) {
    setFlagsFromString('--expose-gc');
    gcFn = runInNewContext('gc') as () => void;
  }
  gcFn();
  gcFn();
}

interface IdleResult { n: number; heapPerConn: number; rssPerConn: number; setupS: number; idleCpuPct: number; cps: number; idleTicks: number; idleSteps: number }

/**
 * `n` idle established connections from the kernel to ferry, accepted through the stack API
 * (sockets: false) or as net.Socket objects (sockets: true). Memory deltas after a full GC.
 */
async function idleConnections(th: TunHost, n: number, sockets: boolean): Promise<IdleResult> {
  const ports = [8001, 8002, 8003, 8004];
  const keep: Socket[] = [];
  let established = 0;
  const listeners: string[] = [];
  const servers: ReturnType<TunHost['host']['createServer']>[] = [];
  const prev = th.host.onEvent;
  if (sockets) {
    for (const p of ports) {
      const s = th.host.createServer((sock: Socket) => { sock.on('error', () => {}); keep.push(sock); established++; });
      s.listen(p, FERRY, 4096);
      servers.push(s);
    }
  } else {
    for (const p of ports) {
      const r = th.host.call({ type: 'listen', addr: FERRY, port: p, backlog: 4096 });
      if (!r.ok) throw new Error(`listen ${p}: ${r.code}`);
      listeners.push(r.listener);
    }
    th.host.onEvent = (ev) => {
      if (ev.type !== 'accept-ready') return;
      for (;;) {
        const a = th.host.call({ type: 'accept', listener: ev.listener });
        if (!a.ok || a.id === null) break;
        established++;
      }
    };
  }
  await sleep(100);
  gc();
  const m0 = process.memoryUsage();
  const t0 = performance.now();
  // This sandbox caps open files at 20000 per process (no CAP_SYS_RESOURCE to raise it): the
  // kernel side is split over several client processes. Ferry itself needs no fd per connection.
  const per = 18_000;
  const clients = Array.from({ length: Math.ceil(n / per) }, (_, i) =>
    nsScript(NS, HOLD_CLIENT, [FERRY, ports.join(','), Math.min(per, n - i * per), 128]));
  try {
    const lines = await Promise.all(clients.map((c) => c.ready));
    const setupS = (performance.now() - t0) / 1000;
    const j = { ok: 0, failed: 0 };
    for (const line of lines) {
      const x = JSON.parse(line.slice(line.indexOf('{'))) as { ok: number; failed: number };
      j.ok += x.ok;
      j.failed += x.failed;
    }
    // The last ACKs may still be in flight: wait until the stack has accepted them all.
    const until = performance.now() + 10_000;
    while (established < j.ok && performance.now() < until) await sleep(20);
    if (j.failed > 0 || established < n) throw new Error(`idle ${n}: ${j.ok} connected, ${j.failed} failed, ${established} accepted`);
    await sleep(200);
    gc();
    const m1 = process.memoryUsage();
    await sleep(1000); // V8's concurrent sweeping after the full GC is not ferry's idle cost
    const c0 = process.cpuUsage(), w0 = performance.now(), s0 = { ...th.host.stats };
    await sleep(2000);
    const c = process.cpuUsage(c0), w = performance.now() - w0;
    const idleTicks = th.host.stats.ticks - s0.ticks, idleSteps = th.host.stats.steps - s0.steps;
    return {
      n, heapPerConn: (m1.heapUsed - m0.heapUsed) / n, rssPerConn: (m1.rss - m0.rss) / n, setupS,
      idleCpuPct: ((c.user + c.system) / 1000 / w) * 100, cps: n / setupS, idleTicks, idleSteps,
    };
  } finally {
    // Reset everything from ferry's side (no FIN exchanges, no TIME-WAIT): the table is empty at once.
    for (const s of keep) s.resetAndDestroy();
    for (const s of servers) s.close();
    for (const l of listeners) th.host.call({ type: 'unlisten', listener: l });
    th.host.onEvent = prev;
    abortAll(th);
    for (const c of clients) c.proc.kill('SIGTERM');
    await Promise.all(clients.map((c) => c.done));
  }
}

/** Abort whatever connections are left (accepted through the API, never closed by an app). */
function abortAll(th: TunHost): void {
  for (const id of Object.keys(th.host.state.tcp) as ConnId[]) th.host.call({ type: 'abort', id });
}

function missing(): string | null {
  if (process.getuid?.() !== 0) return 'the TUN bench needs root (CAP_NET_ADMIN)';
  if (!existsSync('/dev/net/tun')) return 'the TUN bench needs /dev/net/tun (modprobe tun)';
  return null;
}

/** All rows of the TUN section. Throws (saying what is missing) without root or /dev/net/tun. */
export async function tunBenchRows(): Promise<Row[]> {
  const m = missing();
  if (m !== null) throw new Error(m);
  const rows: Row[] = [];
  const t0 = performance.now();
  const log = (s: string): void => { if (process.env.FERRY_BENCH_VERBOSE) process.stderr.write(`bench-tun +${((performance.now() - t0) / 1000).toFixed(1)}s: ${s}\n`); };
  const ceiling = await measureRawCeiling({ seconds: 1.5 });
  log(`ceiling ${JSON.stringify(ceiling)}`);
  for (const ns of [NS, NSA, NSB]) delNetns(ns);
  addNetns(NS);
  addNetns(NSA);
  addNetns(NSB);
  let th: TunHost | null = null, tho: TunHost | null = null;
  try {
    addVeth({ ns: NSA, name: 'fkb0', addr: `${VA}/24` }, { ns: NSB, name: 'fkb1', addr: `${VB}/24` });
    for (const ns of [NS, NSA, NSB]) sysctl(ns, 'net.ipv4.ip_local_port_range', '1024 65535');
    th = openTunHost({ tun: `${KERNEL}/24`, ip: FERRY, netns: NS, config: { tcp: TCP, synQueue: 4096 } });
    const veth = await vethThroughput();
    log(`veth ${veth.toFixed(1)} MB/s`);
    const k2f = await kernelToFerry(th);
    log(`kernel→ferry ${k2f.toFixed(1)} MB/s`);
    const f2k = await ferryToKernel(th);
    log(`ferry→kernel ${f2k.toFixed(1)} MB/s`);
    tho = openTunHost({ tun: `${KERNEL_O}/24`, ip: FERRY_O, netns: NS, offload: true, config: { tcp: TCP } });
    const k2fO = await kernelToFerry(tho, FERRY_O);
    log(`kernel→ferry offload ${k2fO.toFixed(1)} MB/s`);
    const f2kO = await ferryToKernel(tho, FERRY_O);
    log(`ferry→kernel offload ${f2kO.toFixed(1)} MB/s`);
    tho.close();
    tho = null;
    const rx = `raw TUN rx, ${ceiling.pktSize} B packets`, tx = `raw TUN tx, ${ceiling.pktSize} B packets`, k = 'kernel→kernel TCP over veth (node)';
    rows.push(
      { what: 'TUN: one TCP connection kernel→ferry', value: k2f, unit: 'MB/s', ceiling: rx, ceilingValue: ceiling.rxMBps },
      { what: 'TUN: one TCP connection ferry→kernel', value: f2k, unit: 'MB/s', ceiling: tx, ceilingValue: ceiling.txMBps },
      { what: 'TUN offload (TSO/GSO): kernel→ferry', value: k2fO, unit: 'MB/s', ceiling: rx, ceilingValue: ceiling.rxMBps },
      { what: 'TUN offload (TSO/GSO): ferry→kernel', value: f2kO, unit: 'MB/s', ceiling: tx, ceilingValue: ceiling.txMBps },
      { what: 'TUN: kernel→ferry vs kernel TCP', value: k2f, unit: 'MB/s', ceiling: k, ceilingValue: veth },
      { what: 'TUN: ferry→kernel vs kernel TCP', value: f2k, unit: 'MB/s', ceiling: k, ceilingValue: veth },
      { what: 'TUN offload: kernel→ferry vs kernel TCP', value: k2fO, unit: 'MB/s', ceiling: k, ceilingValue: veth },
      { what: 'TUN offload: ferry→kernel vs kernel TCP', value: f2kO, unit: 'MB/s', ceiling: k, ceilingValue: veth },
    );
    const cps = await cpsFerry(th);
    const cpsK = await cpsVeth();
    log(`cps ferry ${cps.toFixed(0)} kernel ${cpsK.toFixed(0)}`);
    rows.push({ what: 'TUN: connections/s (kernel clients → ferry echo, 32 at a time)', value: cps, unit: 'conn/s', ceiling: 'same clients → kernel echo over veth', ceilingValue: cpsK });
    abortAll(th);
    const s10 = await idleConnections(th, 10_000, true);
    log(`idle 10k with sockets ${JSON.stringify(s10)}`);
    rows.push({ what: 'TUN: heap per idle connection, 10k, with net.Socket', value: s10.heapPerConn / 1024, unit: 'KiB', ceiling: `RSS ${(s10.rssPerConn / 1024).toFixed(1)} KiB per connection`, ceilingValue: null });
    for (const n of IDLE_COUNTS) {
      const r = await idleConnections(th, n, false);
      log(`idle ${n} ${JSON.stringify(r)}`);
      const k = `${n / 1000}k`;
      rows.push(
        { what: `TUN: heap per idle connection, ${k}, stack only`, value: r.heapPerConn / 1024, unit: 'KiB', ceiling: `RSS ${(r.rssPerConn / 1024).toFixed(1)} KiB per connection`, ceilingValue: null },
        { what: `TUN: ${k} idle connections established`, value: r.setupS, unit: 's', ceiling: `${r.cps.toFixed(0)} conn/s; CPU while idle ${r.idleCpuPct.toFixed(2)}% of a core`, ceilingValue: null },
      );
    }
  } finally {
    th?.close();
    tho?.close();
    for (const ns of [NS, NSA, NSB]) delNetns(ns);
  }
  log(`total ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return rows;
}

// Standalone: print the rows.
if (process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url) {
  const rows = await tunBenchRows();
  const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
  for (const r of rows) {
    const ratio = r.ceilingValue ? ` (${((r.value / r.ceilingValue) * 100).toFixed(1)}%)` : '';
    console.log(`${r.what}: ${fmt(r.value)} ${r.unit} | ${r.ceiling}${r.ceilingValue === null ? '' : `: ${fmt(r.ceilingValue)} ${r.unit}`}${ratio}`);
  }
}
