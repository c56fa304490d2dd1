// Running many scripts: find them, name them by their path inside the suite, run each, and
// judge the outcomes against the expectations file.
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { BAD_VERDICTS, verdict, type Expectations, type Verdict } from './expectations.ts';
import type { ProfileName } from './profile.ts';
import { runScriptText, type Outcome, type RunOptions } from './run.ts';

export interface ScriptResult {
  /** Path inside the suite, with '/' separators (the expectations key). */
  key: string;
  /** First path component of the key. */
  folder: string;
  file: string;
  outcome: Outcome;
  verdict: Verdict;
  /** Reason id from the expectations file, if listed. */
  expectedReason: string | null;
  note: string | null;
  ms: number;
}

export interface FolderSummary {
  folder: string;
  scripts: number;
  pass: number;
  fail: number;
  /** Failures listed in the expectations (subset of fail). */
  expectedFail: number;
  notRunnable: number;
  /** Scripts whose verdict makes the run fail. */
  bad: number;
}

export interface SuiteReport {
  profile: ProfileName;
  results: ScriptResult[];
  folders: FolderSummary[];
  /** Listed scripts that were not found among the scripts run (only when whole folders were run). */
  missing: string[];
  exitCode: number;
}

/** Every .pkt file under the given files/directories, sorted. Throws if a path does not exist. */
export function findScripts(paths: string[]): string[] {
  const out: string[] = [];
  const walk = (p: string) => {
    const st = statSync(p);
    if (st.isDirectory()) {
      for (const n of readdirSync(p).sort()) walk(join(p, n));
    } else if (p.endsWith('.pkt')) {
      out.push(resolve(p));
    }
  };
  for (const p of paths) {
    if (!existsSync(p)) throw new Error(`no such file or directory: ${p}`);
    walk(p);
  }
  return [...new Set(out)].sort();
}

/** The suite's root: the nearest ancestor holding both README.md and LICENSE.md (the FreeBSD suite's top), else null. */
export function suiteRoot(file: string): string | null {
  let d = dirname(resolve(file));
  for (;;) {
    if (existsSync(join(d, 'README.md')) && existsSync(join(d, 'LICENSE.md'))) return d;
    const up = dirname(d);
    if (up === d) return null;
    d = up;
  }
}

export function scriptKey(file: string): string {
  const root = suiteRoot(file);
  const rel = root === null ? basename(file) : relative(root, file);
  return rel.split(sep).join('/');
}

export interface SuiteOptions extends Omit<RunOptions, 'profile'> {
  profile: ProfileName;
  expectations: Expectations;
  /** Called after each script (progress). */
  onResult?: (r: ScriptResult) => void;
}

export function runSuite(files: string[], o: SuiteOptions): SuiteReport {
  const pe = o.expectations.profiles[o.profile];
  const results: ScriptResult[] = [];
  for (const file of files) {
    const key = scriptKey(file);
    const t0 = performance.now();
    const { profile, expectations, onResult, ...runOpts } = o;
    void expectations; void onResult;
    const outcome = runScriptText(readFileSync(file, 'utf8'), { ...runOpts, profile });
    const v = verdict(key, outcome, o.expectations, pe);
    const r: ScriptResult = {
      key, folder: key.includes('/') ? key.split('/')[0]! : '.', file, outcome,
      verdict: v.verdict, expectedReason: v.reason, note: v.note, ms: performance.now() - t0,
    };
    results.push(r);
    o.onResult?.(r);
  }
  const byFolder = new Map<string, FolderSummary>();
  for (const r of results) {
    let f = byFolder.get(r.folder);
    if (f === undefined) {
      f = { folder: r.folder, scripts: 0, pass: 0, fail: 0, expectedFail: 0, notRunnable: 0, bad: 0 };
      byFolder.set(r.folder, f);
    }
    f.scripts++;
    if (r.outcome.status === 'pass') f.pass++;
    else if (r.outcome.status === 'fail') { f.fail++; if (r.verdict === 'expected-failure') f.expectedFail++; }
    else f.notRunnable++;
    if (BAD_VERDICTS.has(r.verdict)) f.bad++;
  }
  // Listed scripts in a directory that ran, which were not found there (renamed or removed).
  const ran = new Set(results.map((r) => r.key));
  const dirs = new Set(results.map((r) => dirname(r.key)));
  const missing = pe === undefined ? [] : [...Object.keys(pe.failures), ...Object.keys(pe.notRunnable)]
    .filter((k) => dirs.has(dirname(k)) && !ran.has(k));
  const bad = results.some((r) => BAD_VERDICTS.has(r.verdict)) || missing.length > 0;
  return { profile: o.profile, results, folders: [...byFolder.values()], missing, exitCode: bad ? 1 : 0 };
}
