// `ferry conform <dir-or-file...> [--profile freebsd|rfc] [--json]`: run packetdrill scripts
// (the FreeBSD TCP suite) against ferry and compare with bin/conform/expectations.json.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { checkExpectations, emptyExpectations, updatedExpectations, type Expectations } from './expectations.ts';
import type { ProfileName } from './profile.ts';
import { jsonReport, textReport } from './report.ts';
import { findScripts, runSuite, type SuiteReport } from './suite.ts';

export { runScriptText, type Outcome, type RunOptions } from './run.ts';
export { parseScript } from './parse.ts';
export { runSuite, findScripts, scriptKey, type SuiteReport } from './suite.ts';
export { folderTable, textReport, jsonReport } from './report.ts';
export { SYSCTLS } from './profile.ts';

/** The checked-in expectations file. */
export const EXPECTATIONS_PATH = fileURLToPath(new URL('./expectations.json', import.meta.url));

export function loadExpectations(path = EXPECTATIONS_PATH): Expectations {
  if (!existsSync(path)) return emptyExpectations();
  return checkExpectations(JSON.parse(readFileSync(path, 'utf8')));
}

export interface ConformArgs {
  paths: string[];
  profile: ProfileName;
  json: boolean;
  /** Also list every expected failure under its reason (text report). */
  verbose?: boolean;
  /** `#ifdef` symbols (default STANDARD). */
  defines?: string[];
  /** Expectations file (default bin/conform/expectations.json). */
  expectations?: string;
  /**
   * Rewrite the profile's lists in the expectations file from this run: failures go under the
   * first existing reason that explains them (signature and scope), passing scripts are dropped.
   * Failures no reason explains are not listed (the next run still fails on them).
   */
  updateExpectations?: boolean;
  /** Diagnostics only: skip these checks (the verdict is then meaningless; --update-expectations is refused). */
  ignore?: ('win' | 'timing')[];
}

/** Run the scripts and print the report; returns the exit code (0: outcomes match the expectations). */
export async function conformCommand(argv: ConformArgs): Promise<number> {
  if (argv.paths.length === 0) {
    process.stderr.write('ferry conform: name at least one script or directory (e.g. ../shared/conformance/freebsd-tcp-testsuite)\n');
    return 2;
  }
  if (argv.profile !== 'freebsd' && argv.profile !== 'rfc') {
    process.stderr.write(`ferry conform: unknown profile ${String(argv.profile)} (freebsd or rfc)\n`);
    return 2;
  }
  let files: string[], ex: Expectations;
  try {
    files = findScripts(argv.paths);
    ex = loadExpectations(argv.expectations);
  } catch (e) {
    process.stderr.write(`ferry conform: ${(e as Error).message}\n`);
    return 2;
  }
  if (files.length === 0) {
    process.stderr.write(`ferry conform: no .pkt scripts under ${argv.paths.join(', ')}\n`);
    return 2;
  }
  const ignore = argv.ignore ?? [];
  if (ignore.length > 0 && argv.updateExpectations === true) {
    process.stderr.write('ferry conform: --ignore is for diagnostics; it cannot be combined with --update-expectations\n');
    return 2;
  }
  const rep: SuiteReport = runSuite(files, {
    profile: argv.profile, expectations: ex, ...(argv.defines !== undefined ? { defines: argv.defines } : {}),
    ...(ignore.length > 0 ? { ignore } : {}),
  });
  if (ignore.length > 0) {
    process.stderr.write(`ferry conform: DIAGNOSTIC RUN, skipped checks: ${ignore.join(', ')}; the verdict below proves nothing\n`);
  }
  if (argv.updateExpectations === true) {
    const path = argv.expectations ?? EXPECTATIONS_PATH;
    const { expectations, unexplained } = updatedExpectations(ex, argv.profile, rep.results);
    writeFileSync(path, `${JSON.stringify(expectations, null, 2)}\n`);
    const pe = expectations.profiles[argv.profile]!;
    process.stdout.write(`updated ${path}: ${Object.keys(pe.failures).length} expected failures, ${Object.keys(pe.notRunnable).length} not runnable\n`);
    if (unexplained.length > 0) {
      process.stdout.write(`${unexplained.length} failures match no reason (write one, citing the RFC text that allows ferry's behaviour, or fix the stack):\n`);
      for (const k of unexplained) {
        const r = rep.results.find((x) => x.key === k)!;
        process.stdout.write(`  ${k}:${r.outcome.failure?.line ?? 0}  ${r.outcome.failure?.actual ?? r.outcome.reason}\n`);
      }
      return 1;
    }
    return 0;
  }
  process.stdout.write(`${argv.json ? jsonReport(rep) : textReport(rep, ex, argv.verbose === true)}\n`);
  return rep.exitCode;
}
