// `ferry demo`: the HA scenario of issue #8, end to end, with real peers. It builds a client
// namespace and two node namespaces (bin/lab.ts), starts two `ferry node` processes serving
// HTTP and SCTP echo as 10.200.0.10, starts a kernel `curl` download of a large file and a
// usrsctp client streaming lines, switches over from node a to node b mid-transfer, kills node a,
// and shows the download finishing with a matching sha256 and every SCTP line echoed once, in
// order — with a timeline and a summary. It removes everything it created.
//
// runHaDemo() returns what it saw, so test/tun/ha-demo.test.ts runs the very same scenario with
// assertions (plus a capture of the client side, checked for RSTs and ABORTs).
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { SwitchoverSummary } from '../migrate/node-types.ts';
import { ensureDemoPackages, Lab, labMissing, SERVICE_IP } from './lab.ts';

export interface HaDemoOptions {
  /** Size of the downloaded file (MB, default 100). */
  sizeMB?: number;
  /** curl's --limit-rate (bytes/s, default 25 MB/s) so the move lands mid-transfer. */
  rate?: number;
  /** Switch over once this fraction has arrived (default 0.3). */
  at?: number;
  /** SCTP lines streamed (default 300, one every 20 ms). */
  lines?: number;
  /** Capture the client namespace's interfaces (dumpcap) to <dir>/client.pcapng. */
  capture?: boolean;
  /** Namespace prefix (default `fd<pid>`). */
  prefix?: string;
  /** Print the timeline and summary as it goes (default true). */
  print?: boolean;
  /** Keep the lab's directory (logs, configs, captures). */
  keep?: boolean;
}

export interface HaDemoResult {
  ok: boolean;
  sizeBytes: number;
  sha256: { want: string; got: string };
  curl: { exit: number | null; stderr: string; ms: number };
  sctp: { sent: number; echoedLines: number; exact: boolean; inOrder: boolean; clientOut: string; exit: number | null };
  switchover: SwitchoverSummary | null;
  /** Node a's log and node b's log. */
  logs: { a: string; b: string };
  /** The client-side capture (when asked for), still on disk until close. */
  capture: string | null;
  timeline: { t: number; what: string }[];
  dir: string;
  error: string | null;
}

const USRSCTP_CLIENT = '/usr/lib/usrsctp/client';

export async function runHaDemo(o: HaDemoOptions = {}): Promise<HaDemoResult> {
  const sizeMB = o.sizeMB ?? 100, rate = o.rate ?? 25_000_000, at = o.at ?? 0.3, nLines = o.lines ?? 300;
  const print = o.print ?? true;
  if (print) ensureDemoPackages((m) => process.stdout.write(`ferry demo: ${m}\n`));
  const miss = labMissing({ usrsctp: true, curl: true, tshark: o.capture === true });
  if (miss !== null) throw new Error(`ferry demo needs: ${miss}`);
  const t0 = performance.now();
  const timeline: { t: number; what: string }[] = [];
  const mark = (what: string): void => {
    const t = (performance.now() - t0) / 1000;
    timeline.push({ t, what });
    if (print) process.stdout.write(`[${t.toFixed(2).padStart(6)} s] ${what}\n`);
  };
  const lab = new Lab({
    prefix: o.prefix ?? `fd${process.pid % 100000}`,
    services: [
      { name: 'web', type: 'http', proto: 'tcp', port: 80, root: '' },
      { name: 'echo', type: 'echo', proto: 'sctp', port: 7 },
    ],
  });
  const res: HaDemoResult = {
    ok: false, sizeBytes: sizeMB * 1_000_000, sha256: { want: '', got: '' }, curl: { exit: null, stderr: '', ms: 0 },
    sctp: { sent: nLines, echoedLines: 0, exact: false, inOrder: false, clientOut: '', exit: null },
    switchover: null, logs: { a: '', b: '' }, capture: null, timeline, dir: lab.dir, error: null,
  };
  let capture: ChildProcess | null = null, curl: ChildProcess | null = null, sctp: ChildProcess | null = null;
  try {
    // The file both nodes serve (the same path: one machine).
    const www = join(lab.dir, 'www');
    mkdirSync(www);
    const file = join(www, 'big.bin');
    res.sha256.want = writeRandomFile(file, res.sizeBytes);
    for (const s of lab.o.services) if (s.type === 'http') s.root = www;
    lab.build();
    mark(`namespaces ${lab.nsC} (client), ${lab.nsOf('a')}, ${lab.nsOf('b')} built; ${sizeMB} MB file written (sha256 ${res.sha256.want.slice(0, 16)}…)`);
    if (o.capture) {
      res.capture = join(lab.dir, 'client.pcapng');
      capture = spawn('ip', ['netns', 'exec', lab.nsC, 'dumpcap', '-q', '-s', '200', '-i', 'any', '-f', 'tcp or sctp or udp port 9899', '-w', res.capture], { stdio: 'ignore' });
      await waitUntil(() => existsSync(res.capture!), 5000, 'dumpcap to start');
      await sleep(300);
    }
    await lab.start({ name: 'a', priority: 200 });
    mark('node a started (priority 200)');
    await lab.start({ name: 'b', priority: 100 });
    mark('node b started (priority 100)');
    await lab.waitFor('a', (s) => s.role === 'active' && s.holdsServiceIps, 10_000, 'a active');
    await lab.waitFor('b', (s) => s.role === 'standby' && s.peers.some((p) => p.linked && p.alive), 10_000, 'b standby and linked');
    mark(`node a is active and holds ${SERVICE_IP}; node b is standby, hand-over link up`);

    // The clients, in namespace C.
    const out = join(lab.dir, 'download.bin');
    const curlT0 = performance.now();
    curl = spawn('ip', ['netns', 'exec', lab.nsC, 'curl', '-sS', '--fail', '--limit-rate', String(rate), '-o', out, `http://${SERVICE_IP}/big.bin`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let curlErr = '';
    curl.stderr!.setEncoding('utf8').on('data', (s: string) => { curlErr += s; });
    const curlDone = new Promise<number | null>((r) => curl!.on('exit', (c) => r(c)));
    mark(`curl started: GET http://${SERVICE_IP}/big.bin (${sizeMB} MB, limited to ${(rate / 1e6).toFixed(0)} MB/s)`);

    sctp = spawn('ip', ['netns', 'exec', lab.nsC, USRSCTP_CLIENT, SERVICE_IP, '7'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let sOut = '';
    sctp.stdout!.setEncoding('latin1').on('data', (s: string) => { sOut += s; });
    sctp.stderr!.setEncoding('latin1').on('data', () => {});
    const sctpDone = new Promise<number | null>((r) => sctp!.on('exit', (c) => r(c)));
    const input = demoLines(nLines);
    let next = 0;
    const feed = setInterval(() => {
      if (sctp!.stdin!.destroyed) { clearInterval(feed); return; }
      sctp!.stdin!.write(input[next++]!);
      if (next >= nLines) clearInterval(feed);
    }, 20);
    mark(`usrsctp client started: ${nLines} lines to ${SERVICE_IP}:7 (SCTP echo), one every 20 ms`);

    // Switch over once `at` of the file has arrived.
    await waitUntil(() => size(out) >= res.sizeBytes * at, 120_000, `${Math.round(at * 100)}% of the download`);
    mark(`download at ${(size(out) / 1e6).toFixed(1)} MB: switch-over a → b requested (ferry switchover --to b)`);
    let lastPhase = '';
    const summary = await lab.nodes['a']!.switchover('b', (p) => {
      if (p.phase !== lastPhase) { lastPhase = p.phase; mark(`  switch-over phase ${p.phase} (${p.moved}/${p.total} moved)`); }
    });
    res.switchover = summary;
    mark(`switch-over ${summary.ok ? 'done' : `FAILED: ${summary.error}`}: ${summary.moved}/${summary.total} connections moved in ${summary.elapsedMs} ms (longest single move ${summary.maxMoveMs.toFixed(1)} ms)`);
    await lab.waitFor('b', (s) => s.role === 'active' && s.holdsServiceIps, 10_000, 'b active');
    mark(`node b is active and holds ${SERVICE_IP}`);
    await sleep(500);
    await lab.nodes['a']!.kill('SIGKILL');
    mark('node a killed (SIGKILL)');

    res.curl.exit = await withTimeout(curlDone, 180_000, 'curl to finish');
    res.curl.ms = performance.now() - curlT0;
    res.curl.stderr = curlErr.trim();
    res.sha256.got = existsSync(out) ? sha256File(out) : '';
    mark(`curl finished (exit ${res.curl.exit}) after ${(res.curl.ms / 1000).toFixed(1)} s: sha256 ${res.sha256.got === res.sha256.want ? 'matches' : `DIFFERS (${res.sha256.got.slice(0, 16)}…)`}`);

    const sent = input.join('');
    await waitUntil(() => sOut.includes(sent) || next >= nLines && countLines(sOut, input) >= nLines, 20_000, 'every SCTP line echoed').catch(() => {});
    sctp.stdin!.end();
    res.sctp.exit = await withTimeout(sctpDone, 10_000, 'the usrsctp client to exit').catch(() => { sctp!.kill('SIGKILL'); return null; });
    res.sctp.clientOut = sOut;
    res.sctp.echoedLines = countLines(sOut, input);
    const first = sOut.indexOf(sent);
    res.sctp.exact = first >= 0 && sOut.indexOf(sent, first + 1) < 0;
    res.sctp.inOrder = first >= 0;
    mark(`usrsctp client: ${res.sctp.echoedLines}/${nLines} lines echoed${res.sctp.exact ? ', exactly once and in order' : ' (NOT exact)'}`);
    res.ok = summary.ok && res.curl.exit === 0 && res.sha256.got === res.sha256.want && res.sctp.exact;
  } catch (e) {
    res.error = (e as Error).message;
    mark(`error: ${res.error}`);
  } finally {
    for (const p of [curl, sctp]) if (p !== null && p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    if (capture !== null && capture.exitCode === null) {
      capture.kill('SIGINT');
      await new Promise((r) => { capture!.once('exit', r); setTimeout(r, 3000); });
    }
    res.logs = { a: lab.nodes['a']?.log() ?? '', b: lab.nodes['b']?.log() ?? '' };
    await lab.close(o.keep === true || o.capture === true);
    mark(`cleaned up: nodes stopped, namespaces deleted${o.keep || o.capture ? ` (files kept in ${lab.dir})` : ''}`);
  }
  if (print) {
    const s = res.switchover;
    process.stdout.write(`\nsummary
  download   ${sizeMB} MB through curl, sha256 ${res.sha256.got === res.sha256.want ? 'equal' : 'DIFFERENT'}, curl exit ${res.curl.exit}
  sctp       ${res.sctp.echoedLines}/${nLines} lines echoed by usrsctp's peer${res.sctp.exact ? ', exactly once, in order' : ''}
  switch-over ${s === null ? 'not run' : `${s.ok ? 'ok' : 'failed'}: ${s.moved} moved, ${s.reset} reset, ${s.failed} failed in ${s.elapsedMs} ms; steps at ${Object.entries(s.steps).map(([k, v]) => `${k} ${v} ms`).join(', ')}`}
  result     ${res.ok ? 'OK' : `FAILED${res.error ? `: ${res.error}` : ''}`}\n`);
  }
  return res;
}

function writeRandomFile(path: string, n: number): string {
  const h = createHash('sha256');
  const fd = openSync(path, 'w');
  try {
    const chunk = 1 << 20;
    for (let off = 0; off < n; off += chunk) {
      const b = randomBytes(Math.min(chunk, n - off));
      h.update(b);
      writeSync(fd, b);
    }
  } finally { closeSync(fd); }
  return h.digest('hex');
}

function sha256File(path: string): string {
  const h = createHash('sha256');
  h.update(readFileSync(path));
  return h.digest('hex');
}

function size(path: string): number { try { return statSync(path).size; } catch { return 0; } }

/** `n` distinct lines, shorter than the usrsctp client's 80-byte line buffer. */
export function demoLines(n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(`line ${i} ${'abcdefghijklmnopqrstuvwxyz0123456789'.slice(0, (i * 7) % 37)}\n`);
  return out;
}

function countLines(out: string, input: readonly string[]): number {
  let n = 0;
  for (const l of input) if (out.includes(l)) n++;
  return n;
}

function sleep(ms: number): Promise<void> { return new Promise((r) => setTimeout(r, ms)); }

async function waitUntil(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const t0 = performance.now();
  while (!pred()) {
    if (performance.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
    p.then((v) => { clearTimeout(t); resolve(v); }, (e: unknown) => { clearTimeout(t); reject(e); });
  });
}

