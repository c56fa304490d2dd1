// The raw TUN packet ceiling: how many packets per second ferry's device layer can move through
// a TUN with no stack behind it. The "ceiling" column of `npm run bench`.
//
//   rx (kernel → ferry): a C UDP flood (build/Release/ferry_udpflood, sendmmsg) in a temporary
//      namespace sends to an address routed into the TUN; we count what TunDevice.onPackets
//      delivers (the same readiness-driven, batched path the driver uses).
//   tx (ferry → kernel): we write UDP datagrams into the TUN as fast as the kernel takes them,
//      addressed to a bound socket nobody reads (accepted then dropped at its receive buffer,
//      no ICMP), and count what the kernel received (the TUN's rx counter).
// Generator and reader are pinned to different cores (PEERS.md §1) when there are two.
//
// Usage: node --import tsx tun/raw-ceiling.ts [--seconds 2] [--runs 1] [--size 1428,92] [--writer array|batch|one|fs]
//          [--txqueuelen 1000] [--c]   (--c adds the C blocking-read reference)
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, writeSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { openTun } from './device.ts';
import type { TunDevice } from './device.ts';
import { loadAddon, UDPFLOOD_PATH } from './native/addon.ts';
import { addNetns, delNetns, ip } from './netns.ts';

/** How ferry writes in the tx measurement: one native call per batch, per array, per packet, or fs.writeSync. */
export type WriterKind = 'batch' | 'array' | 'one' | 'fs';

export interface CeilingOptions {
  /** Measurement time per direction (default 2 s; a 0.3 s warm-up comes first). */
  seconds?: number;
  /** IP packet size in bytes, 29..1500 (default 1428). */
  pktSize?: number;
  /** tx writer (default 'array': TunDevice.writeMany, the path the driver uses). */
  writer?: WriterKind;
  /** TUN txqueuelen (default 1000). */
  txqueuelen?: number;
  /** Pin reader to CPU 0 and generator to CPU 1 (default true when there are ≥ 2 CPUs). */
  pin?: boolean;
  /** Packets per native read call (TunDevice batch, default 64). */
  batch?: number;
}

export interface CeilingResult {
  pktSize: number;
  /** Packets/s and MB/s (10^6 bytes of IP packet) that ferry's reader received. */
  rxPps: number; rxMBps: number;
  /** What the generator offered, and what the kernel dropped because the reader fell behind. */
  rxOfferedPps: number; rxKernelDropped: number;
  /** Packets/s and MB/s that the kernel accepted from ferry's writer. */
  txPps: number; txMBps: number;
  /** Packets the kernel rejected (should be 0). */
  txErrors: number;
  /**
   * CPU time (user + system) of this process per packet, in ns: robust against a shared,
   * noisy machine (1e9 / this = the rate one whole core would give).
   */
  rxCpuNsPerPkt: number; txCpuNsPerPkt: number;
  writer: WriterKind;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function needFlood(): void {
  if (!existsSync(UDPFLOOD_PATH)) throw new Error(`${UDPFLOOD_PATH} missing: run \`npm install\` (node-gyp builds it with the addon)`);
}

/** Run `fn` with this process's main thread pinned to `cpu` (restores the old mask). */
async function pinned<T>(cpu: number | null, fn: () => Promise<T>): Promise<T> {
  if (cpu === null) return fn();
  const old = /mask:\s*([0-9a-f]+)/.exec(execFileSync('taskset', ['-p', String(process.pid)], { encoding: 'utf8' }))?.[1];
  execFileSync('taskset', ['-p', '-c', String(cpu), String(process.pid)], { stdio: 'ignore' });
  try {
    return await fn();
  } finally {
    if (old) execFileSync('taskset', ['-p', old, String(process.pid)], { stdio: 'ignore' });
  }
}

function nsChild(ns: string, cpu: number | null, args: string[]): ChildProcess {
  const cmd = cpu === null ? [UDPFLOOD_PATH, ...args] : ['taskset', '-c', String(cpu), UDPFLOOD_PATH, ...args];
  return spawn('ip', ['netns', 'exec', ns, ...cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
}

function collect(c: ChildProcess): { out: () => string; exited: Promise<number | null> } {
  let out = '';
  c.stdout?.setEncoding('utf8').on('data', (s: string) => { out += s; });
  c.stderr?.setEncoding('utf8').on('data', (s: string) => { out += s; });
  return { out: () => out, exited: new Promise((r) => c.on('close', r)) };
}

async function waitFor(get: () => string, re: RegExp, ms: number): Promise<void> {
  const end = performance.now() + ms;
  while (!re.test(get())) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${re}: ${get()}`);
    await sleep(5);
  }
}

/** An IPv4/UDP datagram of `size` bytes from 10.77.0.2:1234 to 10.77.0.1:9999, UDP checksum 0 (RFC 768: none). */
function udpPacket(size: number): Uint8Array {
  const p = new Uint8Array(size);
  p.set([0x45, 0, size >> 8, size & 0xff, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 77, 0, 2, 10, 77, 0, 1]);
  let s = 0;
  for (let i = 0; i < 20; i += 2) s += p[i]! * 256 + p[i + 1]!;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  s = ~s & 0xffff;
  p[10] = s >> 8; p[11] = s & 0xff;
  const ulen = size - 20;
  p.set([1234 >> 8, 1234 & 0xff, 9999 >> 8, 9999 & 0xff, ulen >> 8, ulen & 0xff, 0, 0], 20);
  return p;
}

async function measureRx(d: TunDevice, ns: string, o: Required<CeilingOptions>, genCpu: number | null) {
  const payload = o.pktSize - 28;
  const warm = 0.3;
  const gen = nsChild(ns, genCpu, ['flood', '10.77.0.2', '9', String(payload), String(o.seconds + warm + 0.5)]);
  const g = collect(gen);
  let count = 0;
  d.onPackets((pkts) => { count += pkts.length; });
  await sleep(warm * 1000);
  const k0 = d.stats().kernel;
  const c0 = count, t0 = performance.now(), u0 = process.cpuUsage();
  await sleep(o.seconds * 1000);
  const c1 = count, t1 = performance.now(), u = process.cpuUsage(u0);
  const k1 = d.stats().kernel;
  d.onPackets(null);
  gen.kill('SIGTERM');
  await g.exited;
  const sent = Number(/sent (\d+)/.exec(g.out())?.[1] ?? NaN);
  const secs = (t1 - t0) / 1000;
  const rxPps = (c1 - c0) / secs;
  const dropped = k0 && k1 ? k1.txDropped - k0.txDropped : NaN;
  const offered = k0 && k1 ? (k1.txPackets - k0.txPackets + dropped) / secs : sent / (o.seconds + warm);
  return { rxPps, rxOfferedPps: offered, rxKernelDropped: dropped, rxCpuNsPerPkt: ((u.user + u.system) * 1000) / Math.max(1, c1 - c0) };
}

async function measureTx(d: TunDevice, ns: string, o: Required<CeilingOptions>, sinkCpu: number | null) {
  const sink = nsChild(ns, sinkCpu, ['sink', '10.77.0.1', '9999', String(o.seconds + 5)]);
  const s = collect(sink);
  await waitFor(s.out, /ready/, 3000);
  const addon = loadAddon();
  const pkt = udpPacket(o.pktSize);
  const B = 64;
  const arena = new Uint8Array(B * pkt.length);
  for (let i = 0; i < B; i++) arena.set(pkt, i * pkt.length);
  const lens = new Uint32Array(B).fill(pkt.length);
  const arr = Array.from({ length: B }, (_, i) => arena.subarray(i * pkt.length, (i + 1) * pkt.length));
  const errs = new Int32Array(2);
  const fd = d.fd;
  const burst = (): number => {
    switch (o.writer) {
      case 'batch': return addon.writeBatch(fd, arena, lens, B, errs);
      case 'array': d.writeMany(arr); return B; // the device's own batched path (writeArray)
      case 'one': { for (let i = 0; i < B; i++) addon.writeOne(fd, arr[i]!); return B; }
      case 'fs': { for (let i = 0; i < B; i++) writeSync(fd, arr[i]!); return B; }
    }
  };
  // Warm up, then write flat out for `seconds` (this blocks the event loop: benchmark only).
  let end = performance.now() + 300;
  while (performance.now() < end) burst();
  const k0 = d.stats().kernel!;
  const t0 = performance.now(), u0 = process.cpuUsage();
  end = t0 + o.seconds * 1000;
  while (performance.now() < end) for (let i = 0; i < 16; i++) burst();
  const t1 = performance.now(), u = process.cpuUsage(u0);
  const k1 = d.stats().kernel!;
  sink.kill('SIGTERM');
  await s.exited;
  const n = k1.rxPackets - k0.rxPackets;
  return { txPps: n / ((t1 - t0) / 1000), txErrors: errs[0]! + d.stats().writeErrors, txCpuNsPerPkt: ((u.user + u.system) * 1000) / Math.max(1, n) };
}

/** Measure the raw TUN ceiling in a temporary namespace `rc-<pid>` (root needed). */
export async function measureRawCeiling(opts: CeilingOptions = {}): Promise<CeilingResult> {
  const o: Required<CeilingOptions> = {
    seconds: opts.seconds ?? 2,
    pktSize: opts.pktSize ?? 1428,
    writer: opts.writer ?? 'array',
    txqueuelen: opts.txqueuelen ?? 1000,
    pin: opts.pin ?? availableParallelism() >= 2,
    batch: opts.batch ?? 64,
  };
  if (!(o.pktSize >= 29 && o.pktSize <= 1500)) throw new RangeError(`pktSize ${o.pktSize}: 29..1500`);
  if (!(o.seconds > 0 && o.seconds <= 60)) throw new RangeError(`seconds ${o.seconds}: (0, 60]`);
  needFlood();
  const ns = `rc-${process.pid}`;
  delNetns(ns);
  addNetns(ns);
  let d: TunDevice | null = null;
  try {
    d = openTun({ mode: 'tun', addr: '10.77.0.1/24', netns: ns, txqueuelen: o.txqueuelen, batch: o.batch });
    const dev = d;
    const rx = await pinned(o.pin ? 0 : null, () => measureRx(dev, ns, o, o.pin ? 1 : null));
    const tx = await pinned(o.pin ? 0 : null, () => measureTx(dev, ns, o, o.pin ? 1 : null));
    const mb = (pps: number) => (pps * o.pktSize) / 1e6;
    return {
      pktSize: o.pktSize,
      rxPps: Math.round(rx.rxPps), rxMBps: Math.round(mb(rx.rxPps)),
      rxOfferedPps: Math.round(rx.rxOfferedPps), rxKernelDropped: rx.rxKernelDropped,
      txPps: Math.round(tx.txPps), txMBps: Math.round(mb(tx.txPps)), txErrors: tx.txErrors,
      rxCpuNsPerPkt: Math.round(rx.rxCpuNsPerPkt), txCpuNsPerPkt: Math.round(tx.txCpuNsPerPkt),
      writer: o.writer,
    };
  } finally {
    d?.close();
    delNetns(ns);
  }
}

/**
 * Reference: the same flood read by a C blocking read() loop on its own TUN (ferry_udpflood
 * tunread), i.e. the device's rate without Node. Returns packets/s.
 */
export async function measureCReadCeiling(opts: { seconds?: number; pktSize?: number; pin?: boolean } = {}): Promise<{ rxPps: number; rxMBps: number }> {
  const seconds = opts.seconds ?? 2, size = opts.pktSize ?? 1428, pin = opts.pin ?? availableParallelism() >= 2;
  needFlood();
  const ns = `rc-${process.pid}-c`;
  delNetns(ns);
  addNetns(ns);
  try {
    const reader = nsChild(ns, pin ? 0 : null, ['tunread', 'rcc0', String(seconds + 0.2)]);
    const r = collect(reader);
    await waitFor(r.out, /ready rcc0/, 3000);
    ip(['addr', 'add', '10.78.0.1/24', 'dev', 'rcc0'], ns);
    ip(['link', 'set', 'dev', 'rcc0', 'up'], ns);
    const gen = nsChild(ns, pin ? 1 : null, ['flood', '10.78.0.2', '9', String(size - 28), String(seconds + 1)]);
    const g = collect(gen);
    await r.exited;
    gen.kill('SIGTERM');
    await g.exited;
    const m = /read (\d+)/.exec(r.out());
    if (!m) throw new Error(`tunread: ${r.out()}`);
    const pps = Number(m[1]) / (seconds + 0.2);
    return { rxPps: Math.round(pps), rxMBps: Math.round((pps * size) / 1e6) };
  } finally {
    delNetns(ns);
  }
}

/** Median of measureRawCeiling over `runs` runs (field by field); the environment is shared and noisy. */
export async function medianRawCeiling(runs: number, opts: CeilingOptions = {}): Promise<CeilingResult & { runs: CeilingResult[] }> {
  const all: CeilingResult[] = [];
  for (let i = 0; i < runs; i++) all.push(await measureRawCeiling(opts));
  const med = (f: (r: CeilingResult) => number): number => {
    const v = all.map(f).sort((x, y) => x - y);
    return v.length % 2 ? v[(v.length - 1) / 2]! : Math.round((v[v.length / 2 - 1]! + v[v.length / 2]!) / 2);
  };
  const first = all[0]!;
  return {
    pktSize: first.pktSize, writer: first.writer,
    rxPps: med((r) => r.rxPps), rxMBps: med((r) => r.rxMBps), rxOfferedPps: med((r) => r.rxOfferedPps),
    rxKernelDropped: med((r) => r.rxKernelDropped), txPps: med((r) => r.txPps), txMBps: med((r) => r.txMBps),
    txErrors: all.reduce((n, r) => n + r.txErrors, 0),
    rxCpuNsPerPkt: med((r) => r.rxCpuNsPerPkt), txCpuNsPerPkt: med((r) => r.txCpuNsPerPkt), runs: all,
  };
}

// CLI
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const arg = (k: string): string | undefined => {
    const i = process.argv.indexOf(`--${k}`);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const seconds = Number(arg('seconds') ?? 2);
  const runs = Number(arg('runs') ?? 1);
  const sizes = (arg('size') ?? '1428,92').split(',').map(Number);
  const writer = (arg('writer') ?? 'array') as WriterKind;
  const txqueuelen = Number(arg('txqueuelen') ?? 1000);
  for (const pktSize of sizes) {
    const r = await medianRawCeiling(runs, { seconds, pktSize, writer, txqueuelen });
    console.log(
      `raw TUN ceiling @${pktSize} B${runs > 1 ? ` (median of ${runs})` : ''}: rx ${r.rxPps} pkt/s ${r.rxMBps} MB/s` +
      ` (offered ${r.rxOfferedPps}, kernel dropped ${r.rxKernelDropped})` +
      ` | tx[${r.writer}] ${r.txPps} pkt/s ${r.txMBps} MB/s${r.txErrors ? ` (${r.txErrors} rejected)` : ''}` +
      ` | CPU/pkt rx ${r.rxCpuNsPerPkt} ns tx ${r.txCpuNsPerPkt} ns`,
    );
    if (runs > 1) console.log(`  runs: rx ${r.runs.map((x) => x.rxPps).join(' ')} | tx ${r.runs.map((x) => x.txPps).join(' ')}`);
    if (process.argv.includes('--c')) {
      const c = await measureCReadCeiling({ seconds, pktSize });
      console.log(`C blocking read() @${pktSize} B: rx ${c.rxPps} pkt/s ${c.rxMBps} MB/s`);
    }
  }
}
