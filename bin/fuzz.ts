// `ferry fuzz [--seed N] [--runs K] [--proto tcp|sctp|both]`: the migration fuzzer
// (migrate/fuzz.ts). Each run is one seed; a failure prints the seed and the command that
// reproduces it. The last line is always `runs: K, failures: F`; the exit code is 1 when any
// run failed (2 for bad arguments).
import { performance } from 'node:perf_hooks';
import { TRIGGERS, fuzzTcp, type FuzzResult } from '../migrate/fuzz.ts';
import { fuzzSctp } from '../migrate/fuzz-sctp.ts';

export interface FuzzArgs {
  seed: number;
  runs: number;
  proto: 'tcp' | 'sctp' | 'both';
  verbose: boolean;
}

/** yargs option descriptions for `ferry fuzz`. */
export const fuzzOptions = {
  seed: { type: 'number', default: 1, describe: 'first seed (runs use seed, seed+1, ...)' },
  runs: { type: 'number', default: 100, describe: 'number of runs' },
  proto: { choices: ['tcp', 'sctp', 'both'] as const, default: 'tcp' as const, describe: 'protocol(s) to fuzz' },
  verbose: { alias: 'v', type: 'boolean', default: false, describe: 'one line per run' },
} as const;

/** Run the fuzzer; returns the process exit code. `out` receives the report lines. */
export async function fuzzCommand(a: FuzzArgs, out: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): Promise<number> {
  if (!Number.isInteger(a.seed) || a.seed < 0 || a.seed > 0xffffffff) { out(`ferry fuzz: --seed must be an integer in [0, 2^32), got ${a.seed}`); return 2; }
  if (!Number.isInteger(a.runs) || a.runs < 0) { out(`ferry fuzz: --runs must be a non-negative integer, got ${a.runs}`); return 2; }
  const protos = a.proto === 'both' ? ['tcp', 'sctp'] as const : [a.proto];
  let runs = 0, failures = 0;
  for (const proto of protos) {
    const runOne = proto === 'tcp' ? fuzzTcp : fuzzSctp;
    const t1 = performance.now();
    const byTrigger: Record<string, number> = {};
    let roundTrips = 0, migrations = 0, slowest = 0, slowestSeed = a.seed;
    for (let i = 0; i < a.runs; i++) {
      const seed = (a.seed + i) >>> 0;
      const t = performance.now();
      const r: FuzzResult = runOne(seed);
      const ms = performance.now() - t;
      if (ms > slowest) { slowest = ms; slowestSeed = seed; }
      runs++;
      roundTrips += r.roundTrips;
      for (const [k, v] of Object.entries(r.migrations)) { byTrigger[k] = (byTrigger[k] ?? 0) + v; migrations += v; }
      if (a.verbose) out(`${proto} seed ${seed}: ${r.ok ? 'ok' : 'FAIL'} ${ms.toFixed(0)} ms, ${r.events} events, migrations ${JSON.stringify(r.migrations)}`);
      if (!r.ok) {
        failures++;
        out(`${proto} seed ${seed} FAILED: ${r.why}`);
        out(`  scenario: ${r.scenario}`);
        out(`  reproduce: ferry fuzz --proto ${proto} --seed ${seed} --runs 1`);
      }
      // Let the event loop breathe on long runs (signals, piped output).
      if (i % 50 === 49) await new Promise((r2) => setImmediate(r2));
    }
    out(`${proto}: ${migrations} migrations (${TRIGGERS.map((k) => `${k} ${byTrigger[k] ?? 0}`).join(', ')}), `
      + `${roundTrips} states round-tripped through the codec, slowest seed ${slowestSeed} (${slowest.toFixed(0)} ms), `
      + `${((performance.now() - t1) / 1000).toFixed(1)} s`);
  }
  out(`runs: ${runs}, failures: ${failures}`);
  return failures > 0 ? 1 : 0;
}
