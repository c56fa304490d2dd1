// `npm run bench ha`: the HA node (issue #8) measured in the lab (bin/lab.ts), with two real
// `ferry node` processes and a kernel client in the client namespace:
//   - switch-over time against the number of live connections (10, 1,000, 10,000 idle counter
//     connections plus 4 paced downloads), with the longest stall any download saw;
//     ceiling: the same connections frozen and resumed in one process (no link, no kernel);
//   - failure detection: SIGKILL of the active node → the standby holds the service address,
//     against the configured heartbeat timeout.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Row } from './bench.ts';
import { Lab, labMissing, SERVICE_IP } from './lab.ts';

const CLIENT = fileURLToPath(new URL('../test/ha/client.ts', import.meta.url));

function client(ns: string, opts: Record<string, unknown>) {
  const p = spawn('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', CLIENT, JSON.stringify(opts)], { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: Record<string, any>[] = [];
  let wake: (() => void) | null = null;
  createInterface({ input: p.stdout! }).on('line', (l) => { try { lines.push(JSON.parse(l)); } catch { /* text */ } wake?.(); });
  p.on('exit', () => wake?.());
  return {
    async next(ev: string, timeoutMs: number): Promise<Record<string, any>> {
      const t0 = performance.now();
      for (;;) {
        const i = lines.findIndex((l) => l.ev === ev || l.ev === 'fatal');
        if (i >= 0) { const l = lines.splice(i, 1)[0]!; if (l.ev === 'fatal') throw new Error(String(l.error)); return l; }
        if (p.exitCode !== null || performance.now() - t0 > timeoutMs) throw new Error(`bench client: no ${ev}`);
        await new Promise<void>((r) => { wake = r; setTimeout(r, 200); });
      }
    },
    send(cmd: string) { p.stdin!.write(`${cmd}\n`); },
    kill() { if (p.exitCode === null) p.kill('SIGKILL'); },
  };
}

export async function switchoverRun(n: number, prefix: string): Promise<{ ms: number; moved: number; maxMoveMs: number; stallMs: number; ok: boolean }> {
  const lab = new Lab({ prefix, services: [{ name: 'web', type: 'http', proto: 'tcp', port: 80 }, { name: 'count', type: 'counter', proto: 'tcp', port: 7000 }] });
  let c: ReturnType<typeof client> | null = null;
  try {
    lab.build();
    const a = await lab.start({ name: 'a', priority: 200 });
    await lab.start({ name: 'b', priority: 100 });
    await lab.waitFor('a', (s) => s.role === 'active' && s.holdsServiceIps, 10_000, 'a active');
    await lab.waitFor('b', (s) => s.peers.some((p) => p.linked && p.alive), 10_000, 'b linked');
    c = client(lab.nsC, { host: SERVICE_IP, idle: n, transfers: 4, bytes: 20_000_000, rate: 2_000_000 });
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
    const a = await lab.start({ name: 'a', priority: 200 });
    const b = await lab.start({ name: 'b', priority: 100 });
    await lab.waitFor('a', (s) => s.role === 'active' && s.holdsServiceIps, 10_000, 'a active');
    await lab.waitFor('b', (s) => s.peers.some((p) => p.linked && p.alive), 10_000, 'b linked');
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
  return rows;
}
