// Human and machine reports of a suite run.
import type { Expectations } from './expectations.ts';
import type { SuiteReport, ScriptResult } from './suite.ts';

const pct = (a: number, b: number) => (b === 0 ? '-' : `${((100 * a) / b).toFixed(1)}%`);
const lpad = (s: string | number, n: number) => String(s).padStart(n);

/** The per-folder table (markdown, so it can be pasted into a closing note). */
export function folderTable(rep: SuiteReport): string {
  const rows = [
    '| folder | scripts | pass | fail (listed) | not runnable | pass % |',
    '|---|---:|---:|---:|---:|---:|',
  ];
  let t = { scripts: 0, pass: 0, fail: 0, expectedFail: 0, notRunnable: 0 };
  for (const f of rep.folders) {
    rows.push(`| ${f.folder} | ${f.scripts} | ${f.pass} | ${f.fail} (${f.expectedFail}) | ${f.notRunnable} | ${pct(f.pass, f.scripts)} |`);
    t = { scripts: t.scripts + f.scripts, pass: t.pass + f.pass, fail: t.fail + f.fail, expectedFail: t.expectedFail + f.expectedFail, notRunnable: t.notRunnable + f.notRunnable };
  }
  if (rep.folders.length > 1) rows.push(`| **total** | ${t.scripts} | ${t.pass} | ${t.fail} (${t.expectedFail}) | ${t.notRunnable} | ${pct(t.pass, t.scripts)} |`);
  return rows.join('\n');
}

function failureBlock(r: ScriptResult): string {
  const f = r.outcome.failure;
  const lines = [`  ${r.key}${f !== null && f.line > 0 ? `:${f.line}` : ''}${f !== null ? ` at ${f.time.toFixed(3)} s` : ''}${r.note ? `  (${r.note})` : ''}`];
  if (f !== null) {
    if (f.expected) lines.push(`    expected: ${f.expected}`);
    lines.push(`    ferry:    ${f.actual.split('\n')[0]}`);
  } else if (r.outcome.reason) {
    lines.push(`    ${r.outcome.reason}`);
  }
  return lines.join('\n');
}

/** Plain-text report: table, then everything that makes the run fail, then summaries by reason. */
export function textReport(rep: SuiteReport, ex: Expectations, verbose = false): string {
  const out: string[] = [];
  out.push(`ferry conform: profile ${rep.profile}, ${rep.results.length} scripts`, '', folderTable(rep), '');
  const bad = (v: string) => rep.results.filter((r) => r.verdict === v);
  const sections: [string, string][] = [
    ['unexpected-failure', 'Unexpected failures (not in the expectations file)'],
    ['failure-changed', 'Listed failures that now fail differently'],
    ['unexpected-not-runnable', 'Scripts that are not runnable and not listed as such'],
    ['stale-expectation', 'Stale expectations (listed, but the outcome changed)'],
  ];
  for (const [v, title] of sections) {
    const rs = bad(v);
    if (rs.length === 0) continue;
    out.push(`${title}: ${rs.length}`);
    for (const r of rs) out.push(failureBlock(r));
    out.push('');
  }
  if (rep.missing.length > 0) {
    out.push(`Listed scripts not found: ${rep.missing.length}`, ...rep.missing.map((k) => `  ${k}`), '');
  }
  // Expected failures grouped by reason.
  const byReason = new Map<string, ScriptResult[]>();
  for (const r of rep.results) {
    if (r.verdict !== 'expected-failure' || r.expectedReason === null) continue;
    const l = byReason.get(r.expectedReason) ?? [];
    l.push(r);
    byReason.set(r.expectedReason, l);
  }
  if (byReason.size > 0) {
    out.push('Expected failures by reason:');
    for (const [id, rs] of [...byReason].sort((a, b) => b[1].length - a[1].length)) {
      const reason = ex.reasons[id];
      out.push(`  ${lpad(rs.length, 4)}  ${id} [${reason?.kind ?? '?'}]${reason?.rfc ? ` ${reason.rfc}` : ''}`);
      if (verbose) for (const r of rs) out.push(failureBlock(r));
    }
    out.push('');
  }
  const nr = new Map<string, number>();
  for (const r of rep.results) {
    if (r.outcome.status !== 'not-runnable') continue;
    const why = (r.outcome.reason ?? '').replace(/^line \d+: /, '');
    nr.set(why, (nr.get(why) ?? 0) + 1);
  }
  if (nr.size > 0) {
    out.push('Not runnable, by reason:');
    for (const [why, n] of [...nr].sort((a, b) => b[1] - a[1])) out.push(`  ${lpad(n, 4)}  ${why}`);
    out.push('');
  }
  const verdicts = new Map<string, number>();
  for (const r of rep.results) verdicts.set(r.verdict, (verdicts.get(r.verdict) ?? 0) + 1);
  out.push(`Verdicts: ${[...verdicts].map(([v, n]) => `${v} ${n}`).join(', ')}`);
  out.push(rep.exitCode === 0 ? 'Result: OK (every outcome matches the expectations)' : 'Result: FAILED (see above)');
  return out.join('\n');
}

/** Machine report (--json). */
export function jsonReport(rep: SuiteReport): string {
  return JSON.stringify({
    profile: rep.profile,
    exitCode: rep.exitCode,
    folders: rep.folders,
    missing: rep.missing,
    scripts: rep.results.map((r) => ({
      key: r.key,
      folder: r.folder,
      status: r.outcome.status,
      verdict: r.verdict,
      expectedReason: r.expectedReason,
      reason: r.outcome.reason,
      failure: r.outcome.failure,
      notes: r.outcome.notes,
      note: r.note,
    })),
  }, null, 2);
}

