// SCTP bulk-transfer benchmark (issue #6 item 6): usrsctp's `tsctp` sending to ferry through a
// TUN, next to `tsctp` sending to `tsctp` over a veth pair, in the same run, over raw IP and
// over UDP encapsulation (RFC 6951).
//
// Both rows measure at the receiver, the same way: bytes of whole messages received from the
// first message to the sender's end of data (SHUTDOWN), divided by that time. tsctp's receiver
// reports exactly that per association ("len, messages, calls, bytes, seconds, B/s, notes");
// ferry's is counted here. The runs go ferry, veth, veth, ferry for each of raw IP and UDP, so
// on a shared, noisy machine both means see the same drift.
//
// The Debian build of usrsctp has its debug output compiled in and tsctp switches all of it on
// (SCTP_DEBUG_ALL): a tsctp writes hundreds of thousands of lines per second of transfer. The
// sender's go to /dev/null and the receiver's to a file, straight from the kernel, never
// through this process (which runs ferry). That cost is part of usrsctp as Debian ships it.
//
// Needs root, /dev/net/tun and /usr/lib/usrsctp/tsctp (apt-get install libusrsctp-examples).
// Run alone with `node --import tsx bin/bench-sctp.ts`; `npm run bench` calls sctpBenchRows().
import { closeSync, existsSync, mkdtempSync, openSync, readSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { addNetns, addVeth, delNetns, nsSpawn } from '../tun/netns.ts';
import { createServer } from '../tun/sctp-socket.ts';
import type { Message } from '../tun/sctp-socket.ts';
import { openSctpTun } from '../tun/sctp-tun.ts';
import type { SctpTun } from '../tun/sctp-tun.ts';
import type { Row } from './bench.ts';

const TSCTP = '/usr/lib/usrsctp/tsctp';
const PORT = 5001;
/** Seconds each tsctp sends for; FERRY_BENCH_SCTP_SECONDS overrides it. */
const SECONDS = Number(process.env.FERRY_BENCH_SCTP_SECONDS ?? 2);
/** Message length: one DATA chunk per packet at MTU 1500 (1500 - 20 IP - 8 UDP - 12 common - 16 DATA = 1444). */
const LENGTH = Number(process.env.FERRY_BENCH_SCTP_LENGTH ?? 1400);
/** Give up on one transfer after this long. */
const LIMIT_MS = (SECONDS + 15) * 1000;
const MB = 1e6;

/** What is missing to run this section (with what to install), or null. */
export function sctpBenchMissing(): string | null {
  const miss: string[] = [];
  if (process.getuid?.() !== 0) miss.push('root');
  if (!existsSync('/dev/net/tun')) miss.push('/dev/net/tun (modprobe tun)');
  if (!existsSync(TSCTP)) miss.push(`${TSCTP} (apt-get install -y libusrsctp-examples)`);
  return miss.length === 0 ? null : `the SCTP bench needs ${miss.join(', ')}`;
}

/**
 * Run a tsctp sender in `ns` to `dst` for SECONDS (its output discarded) until `until` resolves
 * (the receiver has seen the association end); then it is stopped (its remaining time would
 * be spent in usrsctp_finish's one-second sleeps). Rejects if it exits on its own with an error.
 */
async function tsctpSend(ns: string, dst: string, udp: boolean, until: Promise<void>): Promise<void> {
  const args = ['-T', String(SECONDS), '-l', String(LENGTH), '-p', String(PORT), ...(udp ? ['-U', '9899'] : []), dst];
  const child = nsSpawn(ns, TSCTP, args, { stdio: 'ignore' });
  const exited = new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<'limit'>((r) => { timer = setTimeout(() => r('limit'), LIMIT_MS); });
  const first = await Promise.race([until.then(() => 'done' as const), exited, limit]);
  clearTimeout(timer);
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await exited;
  if (first === 'limit') throw new Error(`tsctp ${args.join(' ')} in ${ns}: no end of data after ${LIMIT_MS} ms`);
  if (first !== 'done' && first !== 0) throw new Error(`tsctp ${args.join(' ')} in ${ns} exited ${first}`);
  // Exited 0 on its own: the receiver reports by now or the caller's check fails.
  if (first === 0) await Promise.race([until, new Promise((r) => setTimeout(r, 2000))]);
}

/** One measured transfer. */
interface Measured { bytes: number; seconds: number; mbps: number; cpu: number | null }

/** ferry on a TUN in `ns`, counting what every association delivers. */
class FerryReceiver {
  private current: { bytes: number; messages: number; first: number; last: number; done: () => void; failed: string | null } | null = null;

  constructor(readonly tun: SctpTun) {
    createServer(tun.host, { port: PORT }, (a) => {
      const c = this.current;
      if (c === null) { a.abort('not measuring'); return; }
      a.on('error', (e: Error) => { c.failed = e.message; c.done(); });
      a.on('message', (m: Message) => {
        if (c.messages === 0) c.first = performance.now();
        c.messages++;
        c.bytes += m.data.length;
      });
      // 'end': the peer's SHUTDOWN arrived and every message before it was read; 'close': the
      // SHUTDOWN COMPLETE, after which the sender has nothing left to do.
      a.on('end', () => { c.last = performance.now(); });
      a.on('close', () => c.done());
    });
  }

  /** tsctp in `ns` → ferry at `dst`. */
  async measure(ns: string, dst: string, udp: boolean): Promise<Measured> {
    let done!: () => void;
    const ended = new Promise<void>((r) => { done = r; });
    const c = { bytes: 0, messages: 0, first: 0, last: 0, done, failed: null as string | null };
    this.current = c;
    const cpu0 = process.cpuUsage(), t0 = performance.now();
    await tsctpSend(ns, dst, udp, ended);
    const used = process.cpuUsage(cpu0);
    this.current = null;
    if (c.failed !== null) throw new Error(`ferry's association failed: ${c.failed}`);
    if (c.last === 0) throw new Error(`ferry saw no end of data (${c.messages} messages received)`);
    if (c.bytes !== c.messages * LENGTH) throw new Error(`ferry received ${c.bytes} bytes in ${c.messages} messages of ${LENGTH}`);
    const seconds = (c.last - c.first) / 1000;
    // The share of one core this process (ferry) used while tsctp ran: headroom, or the bottleneck.
    return { bytes: c.bytes, seconds, mbps: c.bytes / seconds / MB, cpu: (used.user + used.system) / 1e3 / (performance.now() - t0) };
  }
}

/** A tsctp receiver in `ns`, its output (debug and reports) appended to `log`. */
class TsctpReceiver {
  private readonly child;
  private readonly exited: Promise<void>;

  constructor(ns: string, readonly log: string) {
    const fd = openSync(log, 'a'); // O_APPEND: the file can be truncated between runs
    this.child = nsSpawn(ns, TSCTP, ['-p', String(PORT)], { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    this.exited = new Promise<void>((r) => this.child.on('close', () => r()));
  }

  /** tsctp in `ns` → this receiver at `dst`: its report of the association (it fflush()es it). */
  async measure(ns: string, dst: string, udp: boolean): Promise<Measured> {
    truncateSync(this.log, 0);
    const re = /^(\d+), (\d+), (\d+), (\d+), ([\d.]+), ([\d.]+), (\d+)$/m;
    let m: RegExpExecArray | null = null;
    // Watch what the receiver appends (debug lines and, at the end, the report) as it comes,
    // searching the bytes for the report's start ("\n<length>, ") without decoding them all.
    const fd = openSync(this.log, 'r');
    const mark = Buffer.from(`\n${LENGTH}, `);
    const buf = Buffer.alloc(4 << 20);
    let pos = 0, stop = false;
    const reported = new Promise<void>((resolve) => {
      const poll = (): void => {
        if (stop) return resolve();
        for (;;) {
          // Re-read the last bytes of the previous chunk: a report split across reads is still found.
          const from = Math.max(0, pos - 256);
          const n = readSync(fd, buf, 0, buf.length, from);
          if (n <= pos - from) break;
          pos = from + n;
          const at = buf.subarray(0, n).indexOf(mark);
          if (at >= 0) {
            m = re.exec(buf.toString('latin1', at + 1, Math.min(n, at + 256)));
            if (m !== null) return resolve();
          }
        }
        setTimeout(poll, 25);
      };
      poll();
    });
    try {
      await tsctpSend(ns, dst, udp, reported);
    } finally {
      stop = true;
      await reported;
      closeSync(fd);
    }
    const r = m as RegExpExecArray | null;
    if (r === null) throw new Error('the tsctp receiver printed no report');
    const bytes = Number(r[4]), seconds = Number(r[5]);
    if (bytes !== Number(r[2]) * LENGTH) throw new Error(`tsctp received ${bytes} bytes in ${r[2]} messages of ${LENGTH}`);
    return { bytes, seconds, mbps: bytes / seconds / MB, cpu: null };
  }

  async stop(): Promise<void> { this.child.kill('SIGKILL'); await this.exited; }
}

export async function sctpBenchRows(): Promise<Row[]> {
  const missing = sctpBenchMissing();
  if (missing !== null) throw new Error(missing);
  const F = `fs-${process.pid}-bf`, A = `fs-${process.pid}-ba`, B = `fs-${process.pid}-bb`;
  const dir = mkdtempSync(join(tmpdir(), 'fs-bench-'));
  let tun: SctpTun | null = null;
  let peer: TsctpReceiver | null = null;
  for (const n of [F, A, B]) { delNetns(n); addNetns(n); }
  try {
    // Devices and addresses first, then usrsctp (it learns local addresses at start, PEERS.md §3).
    addVeth({ ns: A, name: 'fsba0', addr: '10.98.9.1/24' }, { ns: B, name: 'fsbb0', addr: '10.98.9.2/24' });
    tun = openSctpTun({ tun: '10.98.1.1/24', ip: '10.98.1.2', netns: F, assoc: { rcvBuf: 1 << 20 } });
    const ferry = new FerryReceiver(tun);
    peer = new TsctpReceiver(B, join(dir, 'tsctp-receiver.log'));
    await new Promise((r) => setTimeout(r, 200));
    const rows: Row[] = [];
    for (const udp of [false, true]) {
      const how = udp ? 'UDP-encapsulated (RFC 6951)' : 'raw IP';
      const f1 = await ferry.measure(F, '10.98.1.2', udp);
      const k1 = await peer.measure(A, '10.98.9.2', udp);
      const k2 = await peer.measure(A, '10.98.9.2', udp);
      const f2 = await ferry.measure(F, '10.98.1.2', udp);
      const mean = (a: Measured, b: Measured): number => (a.bytes + b.bytes) / (a.seconds + b.seconds) / MB;
      rows.push({
        what: `SCTP: usrsctp tsctp → ferry over TUN, ${how}, ${LENGTH} B messages, 2 × ${SECONDS} s `
          + `(ferry used ${(((f1.cpu ?? 0) + (f2.cpu ?? 0)) * 50).toFixed(0)}% of a core; runs ${f1.mbps.toFixed(1)}, ${f2.mbps.toFixed(1)})`,
        value: mean(f1, f2), unit: 'MB/s',
        ceiling: `tsctp → tsctp over veth, ${how} (runs ${k1.mbps.toFixed(1)}, ${k2.mbps.toFixed(1)})`, ceilingValue: mean(k1, k2),
      });
    }
    return rows;
  } finally {
    await peer?.stop();
    tun?.close();
    for (const n of [F, A, B]) delNetns(n);
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const rows = await sctpBenchRows();
  for (const r of rows) process.stdout.write(`${r.what}: ${r.value.toFixed(1)} ${r.unit}; ${r.ceiling}: ${r.ceilingValue?.toFixed(1)} ${r.unit} (${((r.value / (r.ceilingValue ?? 1)) * 100).toFixed(0)}%)\n`);
}
