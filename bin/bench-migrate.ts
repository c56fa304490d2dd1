// Migration benchmark (issue #7 item 6), every number next to a ceiling measured in the same run:
//   - freeze-to-resumed time of one connection: freeze, export, encode, seal (HMAC envelope),
//     open (MAC + replay check), decode (full validation), install on another stack; p50 and
//     p99 over many runs, for an idle connection and for one with 64 KiB queued. Ceiling:
//     structuredClone of the same TCB, the cheapest in-process copy there is (no encoding,
//     no validation, no authentication): the ratio is what shipping and checking cost on top.
//   - 1,000 and 10,000 idle connections moved at once (freeze, export, encode, validate and
//     install each; one authenticated batch envelope for all), against structuredClone of all
//     their TCBs.
//   - snapshot size of an idle established connection, against the generic plain-data codec
//     (migrate/codec.ts) encoding the same TCB.
// Run alone with `node --import tsx bin/bench-migrate.ts`; `npm run bench` calls migrateBenchRows().
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import type { ConnId } from '../stack/api.ts';
import { createStack, defaultStackConfig, stackStep, type StackState } from '../stack/stack.ts';
import { exportAssoc, exportConn, freezeAssoc, freezeConn, importConn, newSctpFrozenTable } from '../stack/freeze.ts';
import { createSctpStack, defaultSctpStackConfig, sctpStackStep, type SctpOut } from '../stack/sctp/api.ts';
import { encodeState } from '../migrate/codec.ts';
import { ReplayGuard, openSnapshot, packBatch, sealSnapshot, unpackBatch } from '../migrate/envelope.ts';
import { decodeSnapshot, encodeSnapshot } from '../migrate/snapshot.ts';
import type { Row } from './bench.ts';

const A = '10.61.0.1', B = '10.61.0.2', PORT = 80;
const KEY = new Uint8Array(32).fill(9);

/** Client stack A and server stack B with `n` established connections (accepted on B). */
function established(n: number): { a: StackState; b: StackState; ids: ConnId[] } {
  const cfg = (addr: string) => defaultStackConfig([addr]);
  const a = createStack(cfg(A), new Uint8Array(32).fill(1), 0);
  const b = createStack({ ...cfg(B), synQueue: n + 16 }, new Uint8Array(32).fill(2), 0);
  const l = stackStep(b, { type: 'listen', addr: null, port: PORT, backlog: n + 16 }, 0).result;
  if (!l.ok) throw new Error('bench: listen failed');
  let toB: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const r = stackStep(a, { type: 'connect', local: null, localPort: null, remote: B, port: PORT }, 1);
    if (!r.result.ok) throw new Error(`bench: connect ${i} failed: ${r.result.code}`);
    toB.push(...r.out);
  }
  for (let round = 0; round < 6 && toB.length > 0; round++) {
    const toA: Uint8Array[] = [];
    for (const p of toB) toA.push(...stackStep(b, { type: 'packet', data: p }, 2).out);
    toB = [];
    for (const p of toA) toB.push(...stackStep(a, { type: 'packet', data: p }, 3).out);
  }
  const ids: ConnId[] = [];
  for (;;) {
    const r = stackStep(b, { type: 'accept', listener: l.listener }, 4).result;
    if (!r.ok || r.id === null) break;
    ids.push(r.id);
  }
  if (ids.length !== n) throw new Error(`bench: ${ids.length} of ${n} connections established`);
  return { a, b, ids };
}

/** One full migration of `id` from `src` to `dst` at time `now`; returns the snapshot size. */
function migrateOne(src: StackState, dst: StackState, id: ConnId, guard: ReplayGuard, now: number): number {
  if (!freezeConn(src, id, now).ok) throw new Error('bench: freeze');
  const e = exportConn(src, id);
  if (!e.ok) throw new Error('bench: export');
  const bytes = encodeSnapshot({ kind: 'tcp-conn', takenAt: now, conn: e.value, app: null });
  const env = sealSnapshot(bytes, KEY);
  const o = openSnapshot(env, KEY, guard);
  if (!o.ok) throw new Error(`bench: open ${o.error}`);
  const d = decodeSnapshot(o.value.snapshot);
  if (!d.ok || d.value.kind !== 'tcp-conn') throw new Error('bench: decode');
  const r = importConn(dst, d.value.conn, now + 1);
  if (!r.ok) throw new Error(`bench: import ${r.error}`);
  // The source forgets it (as releaseConn after the hand-over completes).
  delete src.frozen.conns[id];
  src.frozen.n--;
  return bytes.length;
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

/** p50/p99 (µs) of migrating one connection back and forth `runs` times, and of structuredClone of its TCB. */
function single(runs: number, queued: number): { p50: number; p99: number; c50: number; c99: number; size: number } {
  const { b, ids } = established(1);
  const id = ids[0]!;
  if (queued > 0) {
    stackStep(b, { type: 'send', id, data: new Uint8Array(queued).fill(7) }, 5);
  }
  const b2 = createStack(defaultStackConfig([B]), new Uint8Array(32).fill(3), 0);
  const guard = new ReplayGuard(3_600_000, 5_000, 10_000_000);
  const t: number[] = [], c: number[] = [];
  let size = 0;
  let src = b, dst = b2;
  for (let i = 0; i < runs + 50; i++) {
    const t0 = performance.now();
    size = migrateOne(src, dst, id, guard, 10 + i);
    const t1 = performance.now();
    const tcb = dst.tcp[id]!;
    const c0 = performance.now();
    const copy = structuredClone(tcb);
    const c1 = performance.now();
    if (copy.id !== id) throw new Error('bench: clone');
    if (i >= 50) { t.push((t1 - t0) * 1000); c.push((c1 - c0) * 1000); }
    [src, dst] = [dst, src];
  }
  return { p50: pct(t, 50), p99: pct(t, 99), c50: pct(c, 50), c99: pct(c, 99), size };
}

/**
 * Move `n` idle connections at once, as a mass migration would: freeze and export all, encode
 * each, seal them as one batch (one envelope, one MAC), open, decode each, install all. Total
 * ms, and structuredClone of all their TCBs.
 */
function many(n: number): { ms: number; cloneMs: number } {
  const { b, ids } = established(n);
  const b2 = createStack(defaultStackConfig([B]), new Uint8Array(32).fill(3), 0);
  const guard = new ReplayGuard(3_600_000, 5_000, 10_000_000);
  const c0 = performance.now();
  const copies = ids.map((id) => structuredClone(b.tcp[id]!));
  const cloneMs = performance.now() - c0;
  if (copies.length !== n) throw new Error('bench: clone');
  const t0 = performance.now();
  const snaps: Uint8Array[] = [];
  for (const id of ids) {
    if (!freezeConn(b, id, 100).ok) throw new Error('bench: freeze');
    const e = exportConn(b, id);
    if (!e.ok) throw new Error('bench: export');
    snaps.push(encodeSnapshot({ kind: 'tcp-conn', takenAt: 100, conn: e.value, app: null }));
  }
  const env = sealSnapshot(packBatch(snaps), KEY);
  const o = openSnapshot(env, KEY, guard);
  if (!o.ok) throw new Error(`bench: open ${o.error}`);
  const list = unpackBatch(o.value.snapshot);
  if (list === null) throw new Error('bench: batch');
  for (const bytes of list) {
    const d = decodeSnapshot(bytes);
    if (!d.ok || d.value.kind !== 'tcp-conn') throw new Error('bench: decode');
    if (!importConn(b2, d.value.conn, 101).ok) throw new Error('bench: import');
  }
  for (const id of ids) { delete b.frozen.conns[id]; b.frozen.n--; }
  const ms = performance.now() - t0;
  if (Object.keys(b2.tcp).length !== n) throw new Error('bench: not all moved');
  return { ms, cloneMs };
}

/** Snapshot size of an idle established SCTP association, and of the same association through the generic codec. */
function sctpSize(): { size: number; generic: number } {
  const a = createSctpStack(defaultSctpStackConfig([A]), new Uint8Array(32).fill(1), 0);
  const b = createSctpStack(defaultSctpStackConfig([B]), new Uint8Array(32).fill(2), 0);
  const q: SctpOut[] = [];
  const l = sctpStackStep(b, { type: 'listen', port: 7, addresses: null, backlog: 4 }, 0).result;
  const c = sctpStackStep(a, { type: 'connect', local: null, localPort: null, remote: [B], port: 7 }, 0);
  if (!l.ok || !c.result.ok) throw new Error('bench: sctp setup');
  q.push(...c.out);
  for (let i = 0; i < 50 && q.length > 0; i++) {
    const o = q.shift()!;
    q.push(...sctpStackStep(o.dst === A ? a : b, { type: 'packet', src: o.src, dst: o.dst, sctp: o.sctp, encap: o.encap }, 1).out);
  }
  const acc = sctpStackStep(b, { type: 'accept', listener: l.listener }, 2).result;
  if (!acc.ok || acc.id === null) throw new Error('bench: sctp accept');
  const generic = encodeState(b.assocs[acc.id]!).length;
  const f = newSctpFrozenTable();
  freezeAssoc(b, f, acc.id, 3);
  const e = exportAssoc(f, acc.id);
  if (!e.ok) throw new Error('bench: sctp export');
  return { size: encodeSnapshot({ kind: 'sctp-assoc', takenAt: 3, assoc: e.value, app: null }).length, generic };
}

/** Freeze, seal, open and resume `n` idle connections in one process (the HA bench's ceiling). */
export function migrateIdleMs(n: number): number { return many(n).ms; }

export async function migrateBenchRows(): Promise<Row[]> {
  const idle = single(2000, 0);
  const busy = single(500, 64 * 1024);
  many(1000); // warm-up (the mass path's code is not the single path's)
  const k1 = many(1000);
  const k10 = many(10_000);
  // Snapshot size of an idle established connection vs the generic plain-data codec.
  const { b, ids } = established(1);
  const id = ids[0]!;
  const generic = encodeState(b.tcp[id]!).length;
  freezeConn(b, id, 5);
  const e = exportConn(b, id);
  if (!e.ok) throw new Error('bench: export');
  const size = encodeSnapshot({ kind: 'tcp-conn', takenAt: 5, conn: e.value, app: null }).length;
  const sctp = sctpSize();
  const clone = 'structuredClone of the same TCB(s)';
  return [
    { what: 'migrate 1 idle TCP connection, freeze→resumed p50', value: idle.p50, unit: 'µs', ceiling: clone, ceilingValue: idle.c50 },
    { what: 'migrate 1 idle TCP connection, freeze→resumed p99', value: idle.p99, unit: 'µs', ceiling: clone, ceilingValue: idle.c99 },
    { what: 'migrate 1 TCP connection with 64 KiB queued, p50', value: busy.p50, unit: 'µs', ceiling: clone, ceilingValue: busy.c50 },
    { what: 'migrate 1 TCP connection with 64 KiB queued, p99', value: busy.p99, unit: 'µs', ceiling: clone, ceilingValue: busy.c99 },
    { what: 'migrate 1,000 idle TCP connections (total)', value: k1.ms, unit: 'ms', ceiling: clone, ceilingValue: k1.cloneMs },
    { what: 'migrate 10,000 idle TCP connections (total)', value: k10.ms, unit: 'ms', ceiling: clone, ceilingValue: k10.cloneMs },
    { what: 'snapshot of an idle established TCP connection (ts, wscale, SACK)', value: size, unit: 'bytes', ceiling: 'generic plain-data codec (migrate/codec.ts), same TCB', ceilingValue: generic },
    { what: 'snapshot of an idle established SCTP association', value: sctp.size, unit: 'bytes', ceiling: 'generic plain-data codec (migrate/codec.ts), same association', ceilingValue: sctp.generic },
  ];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const r of await migrateBenchRows()) {
    process.stdout.write(`${r.what}: ${r.value.toFixed(r.value < 10 ? 2 : 0)} ${r.unit}   (${r.ceiling}: ${r.ceilingValue?.toFixed(2)} ${r.unit})\n`);
  }
}
