// Tokens of the packetdrill script language (lexical structure from packetdrill's Syntax
// reference): numbers (integer, float, 0x hex), words, "strings", `commands`, %{ code }%,
// `--name=value` header options, `...`, and single-character punctuation. `//` and `/* */`
// comments and whitespace are skipped. `#ifdef NAME` / `#ifndef` / `#else` / `#endif` lines
// (used by the FreeBSD suite to choose between RFC and FreeBSD behaviour) are resolved first.

export type Token =
  | { k: 'num'; v: number; text: string; line: number; start: number; end: number }
  | { k: 'word'; v: string; line: number; start: number; end: number }
  | { k: 'str'; v: string; line: number; start: number; end: number }
  | { k: 'cmd'; v: string; line: number; start: number; end: number }
  | { k: 'code'; v: string; line: number; start: number; end: number }
  | { k: 'opt'; name: string; value: string; line: number; start: number; end: number }
  | { k: 'ellipsis'; line: number; start: number; end: number }
  | { k: 'punct'; v: string; line: number; start: number; end: number };

export class LexError extends Error {
  constructor(message: string, readonly line: number) { super(message); }
}

/**
 * Resolve conditional sections. Lines of excluded sections become empty, so line numbers stay
 * those of the file. Unbalanced directives are errors.
 */
export function preprocess(src: string, defines: readonly string[]): string {
  const lines = src.split('\n');
  const stack: { active: boolean; parentActive: boolean; line: number }[] = [];
  const active = () => stack.length === 0 || stack[stack.length - 1]!.active;
  for (let i = 0; i < lines.length; i++) {
    const m = /^\s*#\s*(ifdef|ifndef|else|endif)\b\s*([A-Za-z0-9_]*)/.exec(lines[i]!);
    if (m === null) {
      if (!active()) lines[i] = '';
      continue;
    }
    const [, dir, name] = m;
    if (dir === 'ifdef' || dir === 'ifndef') {
      if (!name) throw new LexError(`#${dir} without a name`, i + 1);
      const has = defines.includes(name);
      const parentActive = active();
      stack.push({ active: parentActive && (dir === 'ifdef' ? has : !has), parentActive, line: i + 1 });
    } else if (dir === 'else') {
      const top = stack[stack.length - 1];
      if (top === undefined) throw new LexError('#else without #ifdef', i + 1);
      top.active = top.parentActive && !top.active;
    } else {
      if (stack.pop() === undefined) throw new LexError('#endif without #ifdef', i + 1);
    }
    lines[i] = '';
  }
  if (stack.length > 0) throw new LexError('#ifdef without #endif', stack[stack.length - 1]!.line);
  return lines.join('\n');
}

const isDigit = (c: string) => c >= '0' && c <= '9';
const isWordChar = (c: string) => /[A-Za-z0-9_]/.test(c);

/** Split preprocessed source into tokens. Throws LexError on an unterminated string, command, comment or code block. */
export function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0, line = 1;
  const n = src.length;
  const advanceTo = (j: number) => {
    for (let k = i; k < j; k++) if (src[k] === '\n') line++;
    i = j;
  };
  while (i < n) {
    const c = src[i]!;
    if (c === '\n') { line++; i++; continue; }
    if (c === ' ' || c === '\t' || c === '\r') { i++; continue; }
    const start = i, startLine = line;
    if (c === '/' && src[i + 1] === '/') {
      const j = src.indexOf('\n', i);
      i = j < 0 ? n : j;
      continue;
    }
    if (c === '/' && src[i + 1] === '*') {
      const j = src.indexOf('*/', i + 2);
      if (j < 0) throw new LexError('unterminated /* comment', line);
      advanceTo(j + 2);
      continue;
    }
    if (c === '%' && src[i + 1] === '{') {
      const j = src.indexOf('}%', i + 2);
      if (j < 0) throw new LexError('unterminated %{ code }%', line);
      const v = src.slice(i + 2, j).trim();
      advanceTo(j + 2);
      out.push({ k: 'code', v, line: startLine, start, end: i });
      continue;
    }
    if (c === '`' || c === '"') {
      let j = i + 1;
      while (j < n && src[j] !== c) j += src[j] === '\\' ? 2 : 1;
      if (j >= n) throw new LexError(`unterminated ${c === '`' ? 'backquoted command' : 'string'}`, line);
      const v = src.slice(i + 1, j);
      advanceTo(j + 1);
      out.push(c === '`' ? { k: 'cmd', v, line: startLine, start, end: i } : { k: 'str', v, line: startLine, start, end: i });
      continue;
    }
    if (c === '-' && src[i + 1] === '-' && /[A-Za-z]/.test(src[i + 2] ?? '')) {
      const m = /^--([A-Za-z0-9_]+)(?:=(\S*))?/.exec(src.slice(i, i + 200))!;
      i += m[0].length;
      out.push({ k: 'opt', name: m[1]!, value: m[2] ?? '', line: startLine, start, end: i });
      continue;
    }
    if (c === '.' && src[i + 1] === '.' && src[i + 2] === '.') {
      i += 3;
      out.push({ k: 'ellipsis', line: startLine, start, end: i });
      continue;
    }
    // Numbers: 0x hex, [-]digits[.digits], [-].digits (packetdrill's FLOAT/INTEGER/HEX_INTEGER).
    const neg = c === '-' && (isDigit(src[i + 1] ?? '') || (src[i + 1] === '.' && isDigit(src[i + 2] ?? '')));
    if (isDigit(c) || neg || (c === '.' && isDigit(src[i + 1] ?? ''))) {
      const hex = /^0[xX][0-9a-fA-F]+/.exec(src.slice(i, i + 20));
      if (hex !== null && !isWordChar(src[i + hex[0].length] ?? '')) {
        i += hex[0].length;
        out.push({ k: 'num', v: parseInt(hex[0].slice(2), 16), text: hex[0], line: startLine, start, end: i });
        continue;
      }
      const m = /^-?(?:[0-9]*\.[0-9]+|[0-9]+)/.exec(src.slice(i, i + 40))!;
      // A word that starts with digits (packetdrill WORD is [a-zA-Z0-9_]+): keep it a word.
      if (!neg && !m[0].includes('.') && /[A-Za-z_]/.test(src[i + m[0].length] ?? '')) {
        let j = i;
        while (j < n && isWordChar(src[j]!)) j++;
        out.push({ k: 'word', v: src.slice(i, j), line: startLine, start, end: j });
        i = j;
        continue;
      }
      i += m[0].length;
      out.push({ k: 'num', v: Number(m[0]), text: m[0], line: startLine, start, end: i });
      continue;
    }
    if (isWordChar(c)) {
      let j = i;
      while (j < n && isWordChar(src[j]!)) j++;
      out.push({ k: 'word', v: src.slice(i, j), line: startLine, start, end: j });
      i = j;
      continue;
    }
    i++;
    out.push({ k: 'punct', v: c, line: startLine, start, end: i });
  }
  return out;
}
