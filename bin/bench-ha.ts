// `npm run bench ha`: the HA node (issue #8) measured in the lab (bin/lab.ts), with two real
// `ferry node` processes and a kernel client in the client namespace:
//   - switch-over time against the number of live connections (10, 1,000, 10,000 idle counter
//     connections plus 4 paced downloads), with the longest stall any download saw;
//     ceiling: the same connections frozen and resumed in one process (no link, no kernel);
//   - failure detection: SIGKILL of the active node → the standby holds the service address,
//     against the configured heartbeat timeout;
//   - continuous replication (issue #9, replicationBenchRows): one kernel↔ferry TCP transfer
//     each way and a counter request/response RTT (p50/p99) with replication off, async and
//     sync (same run: the ratios are the cost), and crash-to-resumed time (SIGKILL of the
//     active → the standby holds the address, → the download's first byte again, → every
//     idle connection answered again). FERRY_BENCH_HA_ONLY=replication runs only these.
import { execFileSync, spawn } from 'node:child_process';
import type { Row } from './bench.ts';
import { Lab, type HaClient, type LabNode, labMissing, SERVICE_IP, startClient } from './lab.ts';


export async function switchoverRun(n: number, prefix: string): Promise<{ ms: number; moved: number; maxMoveMs: number; stallMs: number; ok: boolean }> {
  const lab = new Lab({ prefix, services: [{ name: 'web', type: 'http', proto: 'tcp', port: 80 }, { name: 'count', type: 'counter', proto: 'tcp', port: 7000 }] });
  let c: HaClient | null = null;
  try {
    lab.build();
    const { a } = await lab.startPair();
    c = await startClient(lab.nsC, { host: SERVICE_IP, idle: n, transfers: 4, bytes: 20_000_000, rate: 2_000_000 });
    await c.next('ready', 300_000);
    await new Promise((r) => setTimeout(r, 500));
    const s = await a.switchover('b');
    c.send('check');
    const chk = await c.next('checked', 300_000);
    c.send('finish');
    const done = await c.next('done', 300_000);
    const ok = s.ok && chk.ok === n && (done.transfers as { ok: boolean }[]).every((t) => t.ok);
    if (!ok) {
      process.stderr.write(`bench ha: ${n} connections: switch-over ${JSON.stringify({ ...s, steps: undefined })}; check ${JSON.stringify(chk).slice(0, 300)}; transfers ${JSON.stringify(done.transfers)}; errors ${JSON.stringify(done.errors).slice(0, 500)}\n`);
      process.stderr.write(a.log().split('\n').filter((l) => !/move\.in|hook\.ok/.test(l)).slice(-30).join('\n') + '\n');
    }
    return { ms: s.elapsedMs, moved: s.moved, maxMoveMs: s.maxMoveMs, stallMs: done.maxGapMs as number, ok };
  } finally {
    c?.kill();
    await lab.close();
  }
}

async function detectionRun(prefix: string, timeoutMs: number): Promise<number> {
  const lab = new Lab({ prefix, services: [{ name: 'count', type: 'counter', proto: 'tcp', port: 7000 }], heartbeat: { intervalMs: 50, timeoutMs } });
  try {
    lab.build();
    const { a, b } = await lab.startPair();
    await new Promise((r) => setTimeout(r, 300));
    const t0 = performance.now();
    await a.kill('SIGKILL');
    for (;;) {
      const st = await b.status().catch(() => null);
      if (st !== null && st.holdsServiceIps) return performance.now() - t0;
      if (performance.now() - t0 > 10_000) throw new Error('no takeover within 10 s');
      await new Promise((r) => setTimeout(r, 2));
    }
  } finally {
    await lab.close();
  }
}

/** In-process ceiling: freeze + seal + open + resume of n idle connections, no link. */
async function inProcessCeiling(n: number): Promise<number> {
  const { migrateIdleMs } = await import('./bench-migrate.ts');
  return migrateIdleMs(n);
}

export async function haBenchRows(): Promise<Row[]> {
  const miss = labMissing();
  if (miss !== null) throw new Error(`the HA benchmark needs: ${miss}`);
  if (process.env.FERRY_BENCH_HA_ONLY === 'replication') return replicationBenchRows();
  const rows: Row[] = [];
  const sizes = (process.env.FERRY_BENCH_HA_SIZES ?? '10,1000,10000').split(',').map(Number);
  let k = 0;
  for (const n of sizes) {
    const r = await switchoverRun(n, `hb${process.pid % 10000}${k++}`);
    const ceil = await inProcessCeiling(n + 4);
    rows.push({ what: `switch-over, ${n} idle + 4 downloading connections (${r.moved} moved${r.ok ? ', all verified' : ', NOT all verified'})`, value: r.ms, unit: 'ms', ceiling: 'same count frozen+resumed in one process', ceilingValue: ceil });
    rows.push({ what: `  longest stall a download saw during it (longest single move ${r.maxMoveMs.toFixed(1)} ms)`, value: r.stallMs, unit: 'ms', ceiling: 'the switch-over itself', ceilingValue: r.ms });
  }
  const det: number[] = [];
  for (let i = 0; i < 3; i++) det.push(await detectionRun(`hd${process.pid % 10000}${i}`, 300));
  det.sort((x, y) => x - y);
  rows.push({ what: `failure detection + takeover (SIGKILL → standby holds the address), median of 3 (${det.map((d) => d.toFixed(0)).join(', ')} ms)`, value: det[1]!, unit: 'ms', ceiling: 'heartbeat timeout', ceilingValue: 300 });
  rows.push(...await replicationBenchRows());
  return rows;
}

// ------------------------------------------------------------------------------- replication (issue #9)

type Mode = 'off' | 'async' | 'sync';

function replLab(prefix: string, mode: Mode): Lab {
  const lab = new Lab({
    prefix,
    services: [
      { name: 'web', type: 'http', proto: 'tcp', port: 80 },
      { name: 'count', type: 'counter', proto: 'tcp', port: 7000 },
      { name: 'sink', type: 'discard', proto: 'tcp', port: 9 },
    ],
  });
  const start = lab.start.bind(lab);
  lab.start = (spec, t) => start({ ...spec, extra: { ...(spec.extra ?? {}), replication: { mode, maxLagMs: 50 } } }, t);
  return lab;
}

async function replPair(lab: Lab): Promise<{ a: LabNode; b: LabNode }> {
  lab.build();
  const { a, b } = await lab.startPair();
  await lab.waitFor('a', (s) => s.replication?.mode === 'off' || s.replication?.peer === 'b', 10_000, 'a replicating');
  return { a, b };
}

/** Run a Node script in namespace `ns`; resolves with its stdout (JSON). */
function nsNode(ns: string, script: string, timeoutMs = 120_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn('ip', ['netns', 'exec', ns, process.execPath, '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    p.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; });
    p.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
    const t = setTimeout(() => { p.kill('SIGKILL'); reject(new Error(`timed out: ${err}`)); }, timeoutMs);
    p.on('exit', (c) => { clearTimeout(t); if (c === 0) resolve(out); else reject(new Error(`exit ${c}: ${err}`)); });
  });
}

/** curl download of `bytes` from the http service: MB/s. */
async function downloadMBs(ns: string, bytes: number): Promise<number> {
  const out = await new Promise<string>((resolve, reject) => {
    const p = spawn('ip', ['netns', 'exec', ns, 'curl', '-sS', '--fail', '-o', '/dev/null', '-w', '%{size_download} %{time_total}', `http://${SERVICE_IP}/bytes/${bytes}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let o = '', e = '';
    p.stdout!.setEncoding('utf8').on('data', (d: string) => { o += d; });
    p.stderr!.setEncoding('utf8').on('data', (d: string) => { e += d; });
    p.on('exit', (c) => (c === 0 ? resolve(o) : reject(new Error(`curl exit ${c}: ${e}`))));
  });
  const [size, secs] = out.trim().split(' ').map(Number);
  if (size !== bytes) throw new Error(`downloaded ${size} of ${bytes}`);
  return bytes / 1e6 / secs!;
}

/** A kernel client writes `bytes` to the discard service and waits for its FIN: MB/s. */
async function uploadMBs(ns: string, bytes: number): Promise<number> {
  const out = await nsNode(ns, `
    import net from 'node:net';
    const N = ${bytes}, chunk = Buffer.alloc(1 << 16, 7);
    const s = net.connect({ host: '${SERVICE_IP}', port: 9 });
    let t0 = 0, sent = 0;
    s.on('connect', () => { t0 = performance.now(); more(); });
    const more = () => { while (sent < N) { sent += chunk.length; if (!s.write(chunk)) { s.once('drain', more); return; } } s.end(); };
    s.on('data', () => {});
    s.on('close', () => { console.log(JSON.stringify({ mbs: N / 1e6 / ((performance.now() - t0) / 1000) })); });
    s.on('error', (e) => { console.error(e.message); process.exit(1); });`);
  return (JSON.parse(out) as { mbs: number }).mbs;
}

/** Counter request/response round trips from a kernel client: p50/p99 in µs. */
async function counterRtt(ns: string, n: number): Promise<{ p50: number; p99: number }> {
  const out = await nsNode(ns, `
    import net from 'node:net';
    const s = net.connect({ host: '${SERVICE_IP}', port: 7000 });
    s.setNoDelay(true);
    const rtts = []; let t = 0, i = 0, buf = '';
    const ask = () => { t = performance.now(); s.write('ping\\n'); };
    s.on('connect', ask);
    s.setEncoding('latin1');
    s.on('data', (d) => {
      buf += d;
      if (!buf.endsWith('\\n')) return;
      buf = '';
      rtts.push((performance.now() - t) * 1000);
      if (++i < ${n}) ask(); else { s.destroy(); rtts.sort((x, y) => x - y); console.log(JSON.stringify({ p50: rtts[Math.floor(rtts.length * 0.5)], p99: rtts[Math.floor(rtts.length * 0.99)] })); }
    });
    s.on('error', (e) => { console.error(e.message); process.exit(1); });`);
  return JSON.parse(out) as { p50: number; p99: number };
}

/** SIGKILL of the active during an unlimited download and with `idle` counter connections open. */
async function crashRun(prefix: string, mode: Mode, idle: number): Promise<{ takeover: number; stall: number; allAnswered: number; ok: boolean; answered: number; installMs: number; doneMs: number }> {
  const lab = replLab(prefix, mode);
  let c: HaClient | null = null;
  let curl: ReturnType<typeof spawn> | null = null;
  try {
    const { a, b } = await replPair(lab);
    c = await startClient(lab.nsC, { host: SERVICE_IP, idle, transfers: 0, bytes: 0, rate: 0, connectGapMs: 0 });
    await c.next('ready', 120_000);
    await lab.waitFor('b', (s) => (s.replication?.replicas ?? 0) >= idle || mode === 'off', 30_000, 'b holds the replicas');
    const size = 400_000_000;
    curl = spawn('ip', ['netns', 'exec', lab.nsC, 'curl', '-sS', '-o', '/dev/null', `http://${SERVICE_IP}/bytes/${size}`], { stdio: ['ignore', 'ignore', 'ignore'] });
    await new Promise((r) => setTimeout(r, 1500));
    // The client's stall: the longest gap between received bytes, seen from its namespace's counters.
    const t0 = performance.now();
    await a.kill('SIGKILL');
    let takeover = 0;
    for (;;) {
      const st = await b.status().catch(() => null);
      if (st !== null && st.holdsServiceIps) { takeover = performance.now() - t0; break; }
      if (performance.now() - t0 > 10_000) throw new Error('no takeover');
      await new Promise((r) => setTimeout(r, 2));
    }
    // First byte of the download after the takeover: b's device starts sending it data.
    let stall = -1;
    for (;;) {
      const st = await b.status().catch(() => null);
      if (st !== null && mode !== 'off') {
        const tx = Number(execFileSync('ip', ['netns', 'exec', lab.nsC, 'cat', `/sys/class/net/${`${prefix}cb`.slice(-15)}/statistics/rx_bytes`], { encoding: 'utf8' }));
        if (tx > 200_000) { stall = performance.now() - t0; break; }
      }
      if (mode === 'off' || performance.now() - t0 > 10_000) break;
      await new Promise((r) => setTimeout(r, 2));
    }
    c.send('check');
    const chk = await c.next('checked', 60_000);
    const allAnswered = performance.now() - t0;
    // b's own account: installing the replicas, and role change → address held + all installed.
    const log = b.log();
    const installMs = Number(/takeover\.resumed .*?ms=([\d.]+)/.exec(log)?.[1] ?? NaN);
    const doneMs = Number(/failover\.done ms=([\d.]+)/.exec(log)?.[1] ?? NaN);
    return { takeover, stall, allAnswered, ok: chk.ok === idle, answered: chk.ok as number, installMs, doneMs };
  } finally {
    if (curl !== null && curl.exitCode === null) curl.kill('SIGKILL');
    c?.kill();
    await lab.close();
  }
}

export async function replicationBenchRows(): Promise<Row[]> {
  const rows: Row[] = [];
  const mb = Number(process.env.FERRY_BENCH_REPL_MB ?? 200);
  const res: Record<Mode, { down: number; up: number; rtt: { p50: number; p99: number }; held: number; replBytes: number; confirmMs: number; confirmMaxMs: number }> = {} as never;
  let k = 0;
  const modes = (process.env.FERRY_BENCH_REPL_MODES ?? 'off,async,sync').split(',').filter(Boolean) as Mode[];
  for (const mode of modes) {
    const lab = replLab(`hr${process.pid % 10000}${k++}`, mode);
    try {
      const { a } = await replPair(lab);
      const down = Math.max(await downloadMBs(lab.nsC, mb * 1_000_000), await downloadMBs(lab.nsC, mb * 1_000_000));
      const up = Math.max(await uploadMBs(lab.nsC, mb * 1_000_000), await uploadMBs(lab.nsC, mb * 1_000_000));
      const rtt = await counterRtt(lab.nsC, 3000);
      const st = await a.status();
      res[mode] = { down, up, rtt, held: st.replication?.heldTotal ?? 0, replBytes: st.replication?.bytesSent ?? 0, confirmMs: st.replication?.confirmMs ?? 0, confirmMaxMs: st.replication?.confirmMaxMs ?? 0 };
    } finally { await lab.close(); }
  }
  const off = res.off;
  for (const mode of ['async', 'sync'] as const) {
    const r = res[mode];
    if (r === undefined || off === undefined) continue;
    rows.push({ what: `replication ${mode}: ferry→kernel TCP (curl ${mb} MB, best of 2; ${(r.replBytes / 1e6).toFixed(0)} MB of replicas sent in the run; batch confirmed in ${r.confirmMs.toFixed(2)} ms smoothed, ${r.confirmMaxMs.toFixed(0)} ms max)`, value: r.down, unit: 'MB/s', ceiling: 'replication off, same run', ceilingValue: off.down });
    rows.push({ what: `replication ${mode}: kernel→ferry TCP (${mb} MB to discard, best of 2)`, value: r.up, unit: 'MB/s', ceiling: 'replication off, same run', ceilingValue: off.up });
    rows.push({ what: `replication ${mode}: counter request/response RTT p50`, value: r.rtt.p50, unit: 'µs', ceiling: 'replication off, same run', ceilingValue: off.rtt.p50 });
    rows.push({ what: `replication ${mode}: counter request/response RTT p99`, value: r.rtt.p99, unit: 'µs', ceiling: 'replication off, same run', ceilingValue: off.rtt.p99 });
  }
  const idle = Number(process.env.FERRY_BENCH_REPL_IDLE ?? 1000);
  if (idle === 0) return rows;
  const cr = await crashRun(`hr${process.pid % 10000}${k++}`, 'sync', idle);
  rows.push({ what: `sync crash: SIGKILL → standby holds the address (${idle} idle + 1 downloading connection)`, value: cr.takeover, unit: 'ms', ceiling: 'target', ceilingValue: 1000 });
  rows.push({ what: `  standby: role change → address held and all ${idle + 1} replicas installed (its log; installing alone ${cr.installMs.toFixed(0)} ms)`, value: cr.doneMs, unit: 'ms', ceiling: 'target', ceilingValue: 1000 });
  rows.push({ what: '  SIGKILL → the download receives data again (client side)', value: cr.stall, unit: 'ms', ceiling: 'target', ceilingValue: 1000 });
  rows.push({ what: `  SIGKILL → every idle connection answered again (${cr.answered}/${idle}${cr.ok ? '' : ', NOT all'})`, value: cr.allAnswered, unit: 'ms', ceiling: 'target', ceilingValue: 1000 });
  return rows;
}
