import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { checkSource, checkTree } from '../tools/check-purity.ts';

const STACK = fileURLToPath(new URL('../stack/', import.meta.url));

test('purity: the stack/ tree as committed is clean', () => {
  assert.equal(checkTree(STACK), []);
});

test('purity: a Date.now() placed in stack/ is caught', () => {
  const f = `${STACK}__purity_probe_${process.pid}.ts`;
  writeFileSync(f, 'export const t = (): number => Date.now();\n');
  try {
    const found = checkTree(STACK);
    assert.is(found.length, 1);
    assert.is(found[0]!.file, f);
    assert.match(found[0]!.what, 'Date.now');
  } finally { rmSync(f, { force: true }); }
});

test('purity: timers, randomness, clocks and I/O imports are each caught', () => {
  const src = [
    "import { readFileSync } from 'node:fs';",
    'setTimeout(() => 0, 1);',
    'const r = Math.random();',
    'const d = new Date();',
    'const p = performance.now();',
    "const q = await import('./x.js');",
  ].join('\n');
  const what = checkSource('x.ts', src).map((f) => f.what).join('\n');
  for (const w of ["'node:fs'", 'setTimeout', 'Math.random', 'new Date', 'performance', 'dynamic import']) assert.match(what, w);
});

test('purity: property names that merely look like globals are allowed', () => {
  assert.equal(checkSource('x.ts', 'const o = { process: 1, setTimeout: 2 }; export const v = o.process + o.setTimeout;'), []);
});

test.run();
