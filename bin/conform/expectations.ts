// The checked-in list of scripts that are known not to pass, and why (bin/conform/expectations.json).
//
// Each listed failure points at a reason. A reason says what ferry does, and either cites the RFC
// text that allows it ('rfc-allowed'), or admits a stack bug that is tracked ('stack-bug'), or a
// limitation of the runner ('runner'). Its `signature` (a regular expression) must match the
// failure ferry produces now, so a listed script that starts failing for another reason is
// reported, not hidden. Not-runnable scripts are listed too, so a script that silently stops
// running (a parser regression, a new unsupported construct) changes the verdict.
import type { Outcome } from './run.ts';

export type ReasonKind = 'rfc-allowed' | 'stack-bug' | 'runner';

export interface Reason {
  kind: ReasonKind;
  /** What ferry does and why that is allowed (or why it is a bug). */
  text: string;
  /** RFC section(s) backing an 'rfc-allowed' reason. */
  rfc?: string;
  /** Regular expression the failure's first mismatch ("actual" text) must match. */
  signature: string;
  /** Regular expression a script key must match for this reason to apply (default: any). */
  scope?: string;
  /** One script that shows it (for the report). */
  example?: string;
}

export interface ProfileExpectations {
  /** Script key -> reason id. */
  failures: Record<string, string>;
  /** Script key -> why it cannot run (a substring of the runner's reason). */
  notRunnable: Record<string, string>;
}

export interface Expectations {
  reasons: Record<string, Reason>;
  profiles: Partial<Record<'freebsd' | 'rfc', ProfileExpectations>>;
}

/** How one script's outcome compares with the expectations. */
export type Verdict =
  | 'pass'
  | 'expected-failure'
  | 'expected-not-runnable'
  | 'unexpected-failure'
  | 'failure-changed'
  | 'unexpected-not-runnable'
  | 'stale-expectation';

/** Verdicts that make the run fail. */
export const BAD_VERDICTS: ReadonlySet<Verdict> = new Set(['unexpected-failure', 'failure-changed', 'unexpected-not-runnable', 'stale-expectation']);

export function emptyExpectations(): Expectations {
  return { reasons: {}, profiles: {} };
}

/** Validate a parsed expectations file; throws with a clear message on a malformed file. */
export function checkExpectations(x: unknown): Expectations {
  const fail = (m: string): never => { throw new Error(`expectations file: ${m}`); };
  if (typeof x !== 'object' || x === null) fail('not a JSON object');
  const e = x as Expectations;
  if (typeof e.reasons !== 'object' || e.reasons === null) fail('missing "reasons"');
  if (typeof e.profiles !== 'object' || e.profiles === null) fail('missing "profiles"');
  for (const [id, r] of Object.entries(e.reasons)) {
    if (!['rfc-allowed', 'stack-bug', 'runner'].includes(r.kind)) fail(`reason ${id}: bad kind ${String(r.kind)}`);
    if (typeof r.text !== 'string' || r.text.length < 20) fail(`reason ${id}: needs a text`);
    if (r.kind === 'rfc-allowed' && (typeof r.rfc !== 'string' || !/RFC \d+/.test(r.rfc))) fail(`reason ${id}: an rfc-allowed reason must cite an RFC`);
    try { new RegExp(r.signature); new RegExp(r.scope ?? ''); } catch { fail(`reason ${id}: bad signature or scope regex`); }
  }
  for (const [p, pe] of Object.entries(e.profiles)) {
    if (pe === undefined) continue;
    for (const [k, id] of Object.entries(pe.failures ?? {})) if (e.reasons[id] === undefined) fail(`${p}: ${k} names unknown reason ${id}`);
    pe.failures ??= {};
    pe.notRunnable ??= {};
  }
  return e;
}

/** Compare one outcome with the expectations of its profile. */
export function verdict(key: string, o: Outcome, ex: Expectations, pe: ProfileExpectations | undefined): { verdict: Verdict; reason: string | null; note: string | null } {
  const listedFail = pe?.failures[key];
  const listedNr = pe?.notRunnable[key];
  if (o.status === 'pass') {
    if (listedFail !== undefined) return { verdict: 'stale-expectation', reason: listedFail, note: 'listed as an expected failure but passes now: remove it from the expectations file' };
    if (listedNr !== undefined) return { verdict: 'stale-expectation', reason: null, note: 'listed as not runnable but passes now: remove it from the expectations file' };
    return { verdict: 'pass', reason: null, note: null };
  }
  if (o.status === 'not-runnable') {
    if (listedNr !== undefined && (o.reason ?? '').includes(listedNr)) return { verdict: 'expected-not-runnable', reason: null, note: null };
    if (listedFail !== undefined) return { verdict: 'stale-expectation', reason: listedFail, note: `listed as an expected failure but not runnable now: ${o.reason}` };
    return { verdict: 'unexpected-not-runnable', reason: null, note: listedNr !== undefined ? `listed as not runnable because "${listedNr}", now: ${o.reason}` : null };
  }
  if (listedFail === undefined) {
    return { verdict: 'unexpected-failure', reason: null, note: listedNr !== undefined ? 'listed as not runnable but runs (and fails) now' : null };
  }
  const r = ex.reasons[listedFail];
  if (r !== undefined && !reasonMatches(r, key, o)) {
    return { verdict: 'failure-changed', reason: listedFail, note: `listed for "${listedFail}" but the first mismatch no longer matches /${r.signature}/` };
  }
  return { verdict: 'expected-failure', reason: listedFail, note: null };
}

/** Does `r` explain this failure of script `key`? */
export function reasonMatches(r: Reason, key: string, o: Outcome): boolean {
  if (o.status !== 'fail') return false;
  if (r.scope !== undefined && !new RegExp(r.scope).test(key)) return false;
  return new RegExp(r.signature).test(o.failure?.actual ?? o.reason ?? '');
}

/**
 * The expectations of `profile` rewritten from a run: every failure is listed under the first
 * reason (in file order) that explains it; a failure no reason explains is left out (and
 * returned), so the run keeps failing until someone writes a reason for it. Not-runnable
 * scripts are listed with their reason; passing scripts are dropped. Reasons are never invented.
 */
export function updatedExpectations(
  ex: Expectations, profile: 'freebsd' | 'rfc', results: { key: string; outcome: Outcome }[],
): { expectations: Expectations; unexplained: string[] } {
  const failures: Record<string, string> = {}, notRunnable: Record<string, string> = {};
  const unexplained: string[] = [];
  const old = ex.profiles[profile];
  for (const { key, outcome } of [...results].sort((a, b) => (a.key < b.key ? -1 : 1))) {
    if (outcome.status === 'not-runnable') {
      notRunnable[key] = (outcome.reason ?? '').replace(/^line \d+: /, '');
    } else if (outcome.status === 'fail') {
      const prev = old?.failures[key];
      const prevR = prev === undefined ? undefined : ex.reasons[prev];
      const id = prevR !== undefined && reasonMatches(prevR, key, outcome)
        ? prev!
        : Object.keys(ex.reasons).find((k) => reasonMatches(ex.reasons[k]!, key, outcome));
      if (id === undefined) unexplained.push(key);
      else failures[key] = id;
    }
  }
  // Keep entries of scripts that were not part of this run.
  const ran = new Set(results.map((r) => r.key));
  for (const [k, v] of Object.entries(old?.failures ?? {})) if (!ran.has(k)) failures[k] = v;
  for (const [k, v] of Object.entries(old?.notRunnable ?? {})) if (!ran.has(k)) notRunnable[k] = v;
  const sortObj = (o: Record<string, string>) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)));
  return {
    expectations: { ...ex, profiles: { ...ex.profiles, [profile]: { failures: sortObj(failures), notRunnable: sortObj(notRunnable) } } },
    unexplained,
  };
}
