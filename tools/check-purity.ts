// The purity rule of DEVELOPERS.md §1: nothing under stack/ reads a clock, arms a timer,
// draws randomness or does I/O. Walks every .ts file under stack/ with the TypeScript
// parser and reports each forbidden identifier or import. Exit 1 on any finding.
import ts from 'typescript';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Globals whose mere use in stack/ is forbidden. */
const FORBIDDEN_GLOBALS = new Set([
  'setTimeout', 'setInterval', 'setImmediate', 'clearTimeout', 'clearInterval', 'clearImmediate',
  'queueMicrotask', 'performance', 'process', 'require', 'fetch', 'crypto', 'Buffer', 'console',
  'XMLHttpRequest', 'WebSocket', 'globalThis', 'global', 'eval', 'Function',
]);
/** Property accesses forbidden on a given global object. */
const FORBIDDEN_MEMBERS: Record<string, Set<string>> = {
  Date: new Set(['now']),
  Math: new Set(['random']),
};

export interface Finding { file: string; line: number; col: number; what: string }

/** Check one source text; `file` is only used in the findings. */
export function checkSource(file: string, text: string): Finding[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const out: Finding[] = [];
  const at = (n: ts.Node, what: string) => {
    const { line, character } = sf.getLineAndCharacterOfPosition(n.getStart(sf));
    out.push({ file, line: line + 1, col: character + 1, what });
  };
  const visit = (n: ts.Node): void => {
    if (ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) {
      const spec = n.moduleSpecifier;
      if (spec && ts.isStringLiteral(spec) && !spec.text.startsWith('.')) at(n, `import of '${spec.text}' (stack/ imports only relative modules)`);
    }
    if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword) at(n, 'dynamic import()');
    if (ts.isNewExpression(n) && ts.isIdentifier(n.expression) && n.expression.text === 'Date') at(n, 'new Date() reads the clock');
    if (ts.isCallExpression(n) && ts.isIdentifier(n.expression) && n.expression.text === 'Date') at(n, 'Date() reads the clock');
    if (ts.isPropertyAccessExpression(n) && ts.isIdentifier(n.expression)) {
      const members = FORBIDDEN_MEMBERS[n.expression.text];
      if (members?.has(n.name.text)) at(n, `${n.expression.text}.${n.name.text}`);
    }
    if (ts.isElementAccessExpression(n) && ts.isIdentifier(n.expression) && FORBIDDEN_MEMBERS[n.expression.text]) {
      at(n, `computed access on ${n.expression.text}`);
    }
    if (ts.isIdentifier(n) && FORBIDDEN_GLOBALS.has(n.text)) {
      const p = n.parent;
      const isPropName = (ts.isPropertyAccessExpression(p) && p.name === n) || (ts.isPropertyAssignment(p) && p.name === n)
        || (ts.isPropertySignature(p) && p.name === n) || (ts.isMethodDeclaration(p) && p.name === n)
        || (ts.isPropertyDeclaration(p) && p.name === n) || ts.isQualifiedName(p);
      if (!isPropName) at(n, `${n.text} (clock, timer, randomness or I/O)`);
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

function walk(dir: string): string[] {
  const files: string[] = [];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) files.push(...walk(p));
    else if (p.endsWith('.ts')) files.push(p);
  }
  return files;
}

/** Check every .ts file under `dir`. */
export function checkTree(dir: string): Finding[] {
  return walk(dir).flatMap((f) => checkSource(f, readFileSync(f, 'utf8')));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const findings = checkTree(join(root, 'stack'));
  for (const f of findings) process.stderr.write(`${relative(root, f.file)}:${f.line}:${f.col}: forbidden in stack/: ${f.what}\n`);
  if (findings.length) { process.stderr.write(`purity: ${findings.length} finding(s)\n`); process.exit(1); }
  process.stdout.write('purity: stack/ uses no clock, timer, randomness or I/O\n');
}
