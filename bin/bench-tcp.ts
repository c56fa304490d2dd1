// TCP bulk-transfer benchmark (issue #3 item 5), every number next to a ceiling measured in
// the same run:
//   (a) two ferry stacks on the simulated network (tun/sim.ts, virtual clock, no impairment),
//       driven through the stack API with no sockets: wall-clock MB/s and CPU µs per data
//       segment (both stacks' work, since both run on this one thread);
//   (b) the same transfer between two Hosts over tun/memlink.ts with Node stream sockets
//       (tun/net.ts) on the real clock;
//   (c) the ceiling: the same transfer between two kernel sockets on loopback (node:net).
// Run alone with `node --import tsx bin/bench-tcp.ts`; `npm run bench` calls tcpBenchRows().

import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import type { ConnId } from '../stack/api.ts';
import { Host, addSimHost } from '../tun/driver.ts';
import { memLinkPair } from '../tun/memlink.ts';
import { Sim } from '../tun/sim.ts';
import type { Row } from './bench.ts';

const MB = 1024 * 1024;
const A = '10.77.0.1', B = '10.77.0.2', PORT = 5001;
/** Transfer size (MB) of each measured run; FERRY_BENCH_TCP_MB overrides it. */
const SIZE_MB = Number(process.env.FERRY_BENCH_TCP_MB ?? 64);
/** Give up on a run after this long (ms of wall time): a stalled stack must not hang the bench. */
const LIMIT_MS = 20_000;

/** One buffer of pattern bytes that every run sends slices of (the stack copies what it keeps). */
const SOURCE = new Uint8Array(MB).map((_, i) => (i * 131 + (i >>> 8)) & 0xff);

interface Measured { bytes: number; wallMs: number; cpuUs: number; segments: number }

const secret = (n: number) => new Uint8Array(32).fill(n);

/** (a) Two stacks on the simulator, sockets-free: A sends `bytes` to B as fast as the stacks allow. */
export function simTransfer(bytes: number): Measured {
  const sim = new Sim({ seed: 1 });
  const a = addSimHost(sim, 'a', { addresses: [A], secret: secret(1) });
  const b = addSimHost(sim, 'b', { addresses: [B], secret: secret(2) });
  sim.addLink('ab', 'a:eth0', 'b:eth0', {});
  let sent = 0, received = 0, conn: ConnId | null = null;
  const fill = () => {
    while (conn !== null && sent < bytes) {
      const n = Math.min(SOURCE.length, bytes - sent);
      const r = a.call({ type: 'send', id: conn, data: SOURCE.subarray(0, n) });
      if (!r.ok) throw new Error(`bench: send failed: ${r.code}`);
      sent += r.bytes;
      if (r.bytes < n) return; // 'writable' resumes
    }
  };
  a.onEvent = (ev) => {
    if (ev.type === 'connected' || ev.type === 'writable') fill();
    else if (ev.type === 'error') throw new Error(`bench: sender error ${ev.code}`);
  };
  let server: ConnId | null = null;
  b.onEvent = (ev) => {
    if (ev.type === 'accept-ready') {
      const r = b.call({ type: 'accept', listener: ev.listener });
      if (r.ok && r.id !== null) server = r.id;
    } else if (ev.type === 'readable' && ev.id === server) {
      for (;;) {
        const r = b.call({ type: 'recv', id: ev.id, max: 1 << 20 });
        if (!r.ok || r.data.length === 0) break;
        received += r.data.length;
      }
    } else if (ev.type === 'error') throw new Error(`bench: receiver error ${ev.code}`);
  };
  const l = b.call({ type: 'listen', addr: null, port: PORT, backlog: 16 });
  if (!l.ok) throw new Error(`bench: listen failed: ${l.code}`);
  const c = a.call({ type: 'connect', local: null, localPort: null, remote: B, port: PORT });
  if (!c.ok) throw new Error(`bench: connect failed: ${c.code}`);
  conn = c.id;
  sim.touch();
  const cpu0 = process.cpuUsage(), t0 = performance.now();
  const deadline = t0 + LIMIT_MS;
  let checks = 0;
  const r = sim.run({ stopWhen: () => received >= bytes || ((++checks & 1023) === 0 && performance.now() > deadline) });
  const wallMs = performance.now() - t0, cpu = process.cpuUsage(cpu0);
  if (received < bytes) throw new Error(`bench: sim transfer stalled at ${received}/${bytes} bytes (${r.reason}, t=${r.now} ms virtual)`);
  return { bytes, wallMs, cpuUs: cpu.user + cpu.system, segments: sim.counters('ab').ab.sent };
}

/** Send `bytes` through a Duplex with backpressure, then end it. */
function pumpInto(w: NodeJS.WritableStream & { once(ev: 'drain', f: () => void): unknown }, bytes: number): void {
  let sent = 0;
  const go = () => {
    while (sent < bytes) {
      const n = Math.min(SOURCE.length, bytes - sent);
      sent += n;
      if (!w.write(SOURCE.subarray(0, n))) { w.once('drain', go); return; }
    }
    w.end();
  };
  go();
}

function timed<T>(p: Promise<T>, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([p, new Promise<never>((_, rej) => { t = setTimeout(() => rej(new Error(`bench: ${what} took over ${LIMIT_MS} ms`)), LIMIT_MS); })])
    .finally(() => clearTimeout(t));
}

/** (b) Two Hosts over memlink with Node stream sockets, real clock. */
export async function memlinkTransfer(bytes: number): Promise<Measured> {
  const [la, lb] = memLinkPair();
  const a = new Host({ addresses: [A], link: la });
  const b = new Host({ addresses: [B], link: lb });
  try {
    let received = 0;
    const done = new Promise<void>((resolve, reject) => {
      const srv = b.createServer((s) => {
        s.on('data', (c: Buffer) => { received += c.length; });
        s.on('end', () => { s.end(); resolve(); });
        s.on('error', reject);
      });
      srv.on('error', reject);
      srv.listen(PORT, () => {
        const c = a.connect(PORT, B);
        c.on('error', reject);
        c.resume();
        c.once('connect', () => pumpInto(c, bytes));
      });
    });
    const cpu0 = process.cpuUsage(), t0 = performance.now();
    await timed(done, 'memlink transfer');
    const wallMs = performance.now() - t0, cpu = process.cpuUsage(cpu0);
    if (received !== bytes) throw new Error(`bench: memlink transfer got ${received}/${bytes} bytes`);
    return { bytes, wallMs, cpuUs: cpu.user + cpu.system, segments: la.sent };
  } finally {
    a.close(); b.close();
  }
}

/** (c) Two kernel sockets on loopback in this process. */
export async function kernelTransfer(bytes: number): Promise<Measured> {
  const server = net.createServer();
  try {
    let received = 0;
    const done = new Promise<void>((resolve, reject) => {
      server.on('connection', (s) => {
        s.on('data', (c: Buffer) => { received += c.length; });
        s.on('end', () => { s.end(); resolve(); });
        s.on('error', reject);
      });
      server.on('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const c = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
        c.on('error', reject);
        c.resume();
        c.once('connect', () => pumpInto(c, bytes));
      });
    });
    const cpu0 = process.cpuUsage(), t0 = performance.now();
    await timed(done, 'kernel loopback transfer');
    const wallMs = performance.now() - t0, cpu = process.cpuUsage(cpu0);
    if (received !== bytes) throw new Error(`bench: kernel transfer got ${received}/${bytes} bytes`);
    return { bytes, wallMs, cpuUs: cpu.user + cpu.system, segments: 0 };
  } finally {
    server.close();
  }
}

const mbps = (m: Measured) => m.bytes / MB / (m.wallMs / 1000);

/** The rows `npm run bench` prints (bin/bench.ts). */
export async function tcpBenchRows(): Promise<Row[]> {
  const bytes = Math.round(SIZE_MB * MB);
  // Warm-up (JIT) on a small transfer of each kind; not reported.
  simTransfer(4 * MB);
  await memlinkTransfer(4 * MB);
  await kernelTransfer(16 * MB);
  // The kernel is ~10x faster: move 4x the bytes so its run is long enough to time well.
  const kernel = await kernelTransfer(4 * bytes);
  const sim = simTransfer(bytes);
  const mem = await memlinkTransfer(bytes);
  const ceiling = 'kernel loopback TCP (node:net)';
  return [
    { what: `TCP bulk ${SIZE_MB} MB, ferry↔ferry in-process (sim, no sockets)`, value: mbps(sim), unit: 'MB/s', ceiling, ceilingValue: mbps(kernel) },
    { what: 'TCP bulk (sim): CPU per data segment, both stacks', value: sim.cpuUs / sim.segments, unit: 'µs/segment', ceiling: `${sim.segments} data segments, ${(sim.cpuUs / 1000).toFixed(0)} ms CPU`, ceilingValue: null },
    { what: `TCP bulk ${SIZE_MB} MB, ferry↔ferry over memlink, Node sockets`, value: mbps(mem), unit: 'MB/s', ceiling, ceilingValue: mbps(kernel) },
  ];
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rows = await tcpBenchRows();
  for (const r of rows) {
    const c = r.ceilingValue === null ? r.ceiling : `${r.ceiling}: ${r.ceilingValue.toFixed(1)} ${r.unit} (${((r.value / r.ceilingValue) * 100).toFixed(1)}%)`;
    process.stdout.write(`${r.what}: ${r.value.toFixed(2)} ${r.unit} | ${c}\n`);
  }
}
