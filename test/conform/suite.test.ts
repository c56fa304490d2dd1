// CI: the whole FreeBSD TCP suite, folder by folder, under the freebsd profile, judged against
// bin/conform/expectations.json. A script that passed before and fails now, a listed failure that
// fails for another reason, a listed one that passes (stale list) or a script that stops running
// all fail here. The suite is read from ../shared/conformance/ (see bin/conform/README.md).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { loadExpectations } from '../../bin/conform/index.ts';
import { BAD_VERDICTS } from '../../bin/conform/expectations.ts';
import { findScripts, runSuite, type ScriptResult } from '../../bin/conform/suite.ts';

const SUITE = fileURLToPath(new URL('../../../shared/conformance/freebsd-tcp-testsuite', import.meta.url));

if (!existsSync(SUITE)) {
  test('the FreeBSD TCP suite is present', () => {
    assert.unreachable(`no suite at ${SUITE}: get it with \`git clone https://github.com/freebsd-net/tcp-testsuite.git ${SUITE}\` (CI provides it at ../shared/conformance/)`);
  });
} else {
  const expectations = loadExpectations();
  const folders = readdirSync(SUITE).filter((n) => statSync(join(SUITE, n)).isDirectory()).sort();

  test('the suite has its folders and the expectations file lists freebsd', () => {
    for (const f of ['state-event-engine', 'rcv-data-segments', 'snd-syn', 'rcv-icmp', 'socket-api']) assert.ok(folders.includes(f), `missing folder ${f}`);
    assert.ok(expectations.profiles.freebsd !== undefined, 'expectations.json has no freebsd profile');
  });

  const explain = (r: ScriptResult) => {
    const f = r.outcome.failure;
    return `${r.verdict}: ${r.key}${f ? `:${f.line} at ${f.time} s\n    expected: ${f.expected}\n    ferry:    ${f.actual}` : `\n    ${r.outcome.reason ?? ''}`}${r.note ? `\n    (${r.note})` : ''}`;
  };

  for (const folder of folders) {
    test(`freebsd profile: ${folder} matches the expectations`, () => {
      const files = findScripts([join(SUITE, folder)]);
      assert.ok(files.length > 0, `no scripts in ${folder}`);
      const rep = runSuite(files, { profile: 'freebsd', expectations });
      const bad = rep.results.filter((r) => BAD_VERDICTS.has(r.verdict));
      assert.equal(rep.missing, [], `listed scripts not found in ${folder}`);
      assert.ok(bad.length === 0, `${bad.length} scripts in ${folder} do not match bin/conform/expectations.json:\n${bad.map(explain).join('\n')}`);
      // No script may crash the runner or the stack.
      const crashed = rep.results.filter((r) => (r.outcome.reason ?? '').startsWith('runner or stack threw'));
      assert.equal(crashed.map((r) => r.key), [], 'scripts that threw');
    });
  }
}

test.run();
