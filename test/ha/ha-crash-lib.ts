// Shared by the crash tests (test/ha/ha-crash-*.test.ts): a lab whose nodes replicate in a
// given mode, the pair started and linked, the active killed, the pattern's sha256.
import { createHash } from 'node:crypto';
import { Lab } from '../../bin/lab.ts';
import { patternBytes } from '../../migrate/services/http.ts';

/** sha256 of /bytes/<n> (the http service's pattern). */
export function patternSha(n: number): string {
  const h = createHash('sha256');
  for (let o = 0; o < n; o += 1 << 20) h.update(patternBytes(o, Math.min(1 << 20, n - o)));
  return h.digest('hex');
}

export function withReplication(prefix: string, mode: 'off' | 'sync' | 'async', maxLagMs: number): Lab {
  const lab = new Lab({
    prefix,
    services: [
      { name: 'web', type: 'http', proto: 'tcp', port: 80 },
      { name: 'count', type: 'counter', proto: 'tcp', port: 7000 },
    ],
  });
  const start = lab.start.bind(lab);
  lab.start = (spec, t) => start({ ...spec, extra: { ...(spec.extra ?? {}), replication: { mode, maxLagMs } } }, t);
  return lab;
}

/** Start both nodes, a active and b linked; resolves once b holds replicas of what a tracks (if any). */
export async function startPair(lab: Lab): Promise<{ a: Awaited<ReturnType<Lab['start']>>; b: Awaited<ReturnType<Lab['start']>> }> {
  lab.build();
  const { a, b } = await lab.startPair();
  await lab.waitFor('a', (s) => s.replication?.peer === 'b' || s.replication?.mode === 'off', 10_000, 'a replicating to b');
  return { a, b };
}

/** SIGKILL a; resolves with ms until b holds the service address. */
export async function killActive(a: { kill: (s: NodeJS.Signals) => Promise<void> }, b: { status: Lab['nodes'][string]['status'] }): Promise<number> {
  const t0 = performance.now();
  await a.kill('SIGKILL');
  for (;;) {
    const st = await b.status().catch(() => null);
    if (st !== null && st.role === 'active' && st.holdsServiceIps) return performance.now() - t0;
    if (performance.now() - t0 > 5000) throw new Error('b did not take over within 5 s');
    await new Promise((r) => setTimeout(r, 5));
  }
}

