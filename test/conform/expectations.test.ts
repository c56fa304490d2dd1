// Verdicts against the expectations file, the file's validation, and its rewrite from a run.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkExpectations, updatedExpectations, verdict, type Expectations } from '../../bin/conform/expectations.ts';
import { loadExpectations } from '../../bin/conform/index.ts';
import type { Outcome } from '../../bin/conform/run.ts';

const ex: Expectations = {
  reasons: {
    win: { kind: 'rfc-allowed', rfc: 'RFC 9293 §3.8.6.2.2', text: 'window differs for a documented reason', signature: '\\[win \\d+', scope: '^a/' },
  },
  profiles: { freebsd: { failures: { 'a/x.pkt': 'win' }, notRunnable: { 'a/nr.pkt': 'TCP-MD5' } } },
};
const pe = ex.profiles.freebsd!;
const failing = (actual: string): Outcome => ({ status: 'fail', reason: actual, failure: { line: 3, expected: '> .', actual, time: 0 }, notes: [] });
const passing: Outcome = { status: 'pass', reason: null, failure: null, notes: [] };
const nr = (why: string): Outcome => ({ status: 'not-runnable', reason: why, failure: null, notes: [] });

test('listed failure with a matching signature is expected', () => {
  assert.is(verdict('a/x.pkt', failing('. 1:1(0) ack 1 win 65534 [win 65534 (expected 65535)]'), ex, pe).verdict, 'expected-failure');
});

test('listed failure that now fails for another reason is reported', () => {
  assert.is(verdict('a/x.pkt', failing('. 1:1(0) ack 2 [ack 2 (expected 1)]'), ex, pe).verdict, 'failure-changed');
});

test('unlisted failure, unlisted not-runnable, stale entries', () => {
  assert.is(verdict('a/y.pkt', failing('[win 1 (expected 2)]'), ex, pe).verdict, 'unexpected-failure');
  assert.is(verdict('a/y.pkt', nr('line 3: sysctl x'), ex, pe).verdict, 'unexpected-not-runnable');
  assert.is(verdict('a/x.pkt', passing, ex, pe).verdict, 'stale-expectation');
  assert.is(verdict('a/nr.pkt', passing, ex, pe).verdict, 'stale-expectation');
  assert.is(verdict('a/nr.pkt', nr('line 9: TCP-MD5 signatures are not implemented'), ex, pe).verdict, 'expected-not-runnable');
  assert.is(verdict('a/nr.pkt', nr('line 9: something else'), ex, pe).verdict, 'unexpected-not-runnable');
  assert.is(verdict('b/z.pkt', passing, ex, undefined).verdict, 'pass');
});

test('update: failures go under the first reason that explains them; others are left unexplained', () => {
  const { expectations, unexplained } = updatedExpectations(ex, 'freebsd', [
    { key: 'a/x.pkt', outcome: passing },
    { key: 'a/w.pkt', outcome: failing('[win 3 (expected 4)]') },
    { key: 'b/w.pkt', outcome: failing('[win 3 (expected 4)]') },
    { key: 'a/nr.pkt', outcome: nr('line 2: TCP-MD5 (RFC 2385) is not implemented') },
  ]);
  assert.equal(expectations.profiles.freebsd, { failures: { 'a/w.pkt': 'win' }, notRunnable: { 'a/nr.pkt': 'TCP-MD5 (RFC 2385) is not implemented' } });
  assert.equal(unexplained, ['b/w.pkt'], 'out of scope');
});

test('the file is validated: rfc-allowed reasons must cite an RFC, names must exist', () => {
  assert.throws(() => checkExpectations({ reasons: { r: { kind: 'rfc-allowed', text: 'a long enough text here', signature: 'x' } }, profiles: {} }), /must cite an RFC/);
  assert.throws(() => checkExpectations({ reasons: {}, profiles: { freebsd: { failures: { k: 'nope' }, notRunnable: {} } } }), /unknown reason/);
  assert.throws(() => checkExpectations({ reasons: { r: { kind: 'other', text: 'a long enough text here', signature: 'x' } }, profiles: {} }), /bad kind/);
});

test('the checked-in expectations file is valid and every rfc-allowed reason names an RFC section', () => {
  const e = loadExpectations();
  for (const [id, r] of Object.entries(e.reasons)) {
    if (r.kind === 'rfc-allowed') assert.match(r.rfc ?? '', /RFC \d+ (§|p\.)/, id);
    assert.ok(!/FreeBSD (does it|differs)\.?$/.test(r.text), `${id}: "FreeBSD differs" is not a reason`);
  }
});

test.run();
