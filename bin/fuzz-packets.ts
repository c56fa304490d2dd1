// `ferry fuzz-packets [--seed N] [--count K] [--json]`: the packet fuzzer (migrate/fuzz-packets.ts).
// Prints packets injected per generator, where they went (drop reasons and dispositions, top N),
// the findings with the seed that reproduces them, the live transfers' results and the memory
// peaks. Exit code 1 on any finding, 2 for bad arguments.
import { fuzzPackets, type FuzzPacketsResult } from '../migrate/fuzz-packets.ts';

export interface FuzzPacketsArgs { seed: number; count: number; json: boolean; top: number }

const pad = (s: string | number, n: number): string => String(s).padStart(n);

/** The human-readable report of one run. */
export function formatReport(r: FuzzPacketsResult, top: number): string[] {
  const out: string[] = [];
  out.push(`ferry fuzz-packets: seed ${r.seed}, ${r.count} packets, ${(r.wallMs / 1000).toFixed(1)} s (${Math.round(r.packetsPerSec)} packets/s), ${(r.virtualMs / 1000).toFixed(2)} s virtual`);
  out.push('', 'packets injected per generator:');
  for (const [g, n] of Object.entries(r.injected).sort((a, b) => b[1] - a[1])) out.push(`  ${g.padEnd(12)} ${pad(n, 8)}`);
  out.push('', `where they went (packets that moved each counter; ${r.accounted}/${r.count} accounted for), top ${top}:`);
  const ds = Object.entries(r.dispositions).sort((a, b) => b[1] - a[1]);
  for (const [k, n] of ds.slice(0, top)) out.push(`  ${k.padEnd(34)} ${pad(n, 8)}`);
  if (ds.length > top) out.push(`  ... ${ds.length - top} more reasons`);
  out.push('', 'live transfers:');
  for (const t of r.transfers) out.push(`  ${t.ok ? 'ok  ' : 'FAIL'} ${t.name.padEnd(18)} ${t.bytesOrMsgs.padEnd(22)} ${t.detail}`);
  const p = r.peak;
  out.push('', `peak: ${p.tcbs} TCBs, ${p.assocs} associations, ${p.tcbBufBytes} B queued in TCBs, ${p.assocBufBytes} B in associations, `
    + `${p.fragBytes} B in IP reassembly, heapUsed ${p.heapUsedMB.toFixed(1)} MB (+${p.heapGrowthMB.toFixed(1)} MB over the run)`);
  out.push('', `findings: ${r.findings.length}`);
  for (const f of r.findings) {
    out.push(`  ${f.kind}${f.gen !== null ? ` [${f.gen}]` : ''}${f.packet !== null ? ` packet #${f.packet}` : ''}: ${f.what} ${f.detail.split('\n')[0]}`);
    if (f.hex !== null) out.push(`    hex ${f.hex}`);
    out.push(`    reproduce: ferry fuzz-packets --seed ${r.seed} --count ${r.count}`);
  }
  return out;
}

/** Run the fuzzer; returns the process exit code. */
export function fuzzPacketsCommand(a: FuzzPacketsArgs, out: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): number {
  if (!Number.isInteger(a.seed) || a.seed < 0 || a.seed > 0xffffffff) { out(`ferry fuzz-packets: --seed must be an integer in [0, 2^32), got ${a.seed}`); return 2; }
  if (!Number.isInteger(a.count) || a.count < 0 || a.count > 100_000_000) { out(`ferry fuzz-packets: --count must be an integer in [0, 1e8], got ${a.count}`); return 2; }
  if (!Number.isInteger(a.top) || a.top < 0) { out(`ferry fuzz-packets: --top must be a non-negative integer, got ${a.top}`); return 2; }
  const r = fuzzPackets({ seed: a.seed, count: a.count });
  if (a.json) out(JSON.stringify(r, null, 2));
  else for (const l of formatReport(r, a.top)) out(l);
  return r.ok ? 0 : 1;
}
