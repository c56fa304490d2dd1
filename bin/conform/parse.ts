// Parser of packetdrill scripts (grammar after packetdrill's Syntax reference, extended with the
// constructs the FreeBSD TCP suite uses: `(ttl 4)` IP fields, `!` after a sequence number,
// `...(len)` for an unchecked sequence number, `/udp(a > b)` encapsulation, ICMP lines with the
// quoted segment after the type). parseScript never throws: it returns the script or the first
// error with its line.
import type { Expr, IcmpSpec, IpInfo, OptSpec, Script, ScriptEvent, SyscallSpec, TcpSpec, TimeSpec } from './ast.ts';
import { LexError, preprocess, tokenize, type Token } from './lexer.ts';

export type ParseResult = { ok: true; script: Script } | { ok: false; error: string; line: number };

class ParseError extends Error {
  constructor(message: string, readonly line: number) { super(message); }
}

const usecs = (seconds: number) => Math.round(seconds * 1e6);

/** Parse a script. `defines` names the `#ifdef` symbols that are set. */
export function parseScript(src: string, defines: readonly string[] = []): ParseResult {
  try {
    const pre = preprocess(src, defines);
    const toks = tokenize(pre);
    return { ok: true, script: new Parser(pre, toks).script() };
  } catch (e) {
    if (e instanceof ParseError || e instanceof LexError) return { ok: false, error: e.message, line: e.line };
    throw e;
  }
}

class Parser {
  private i = 0;
  constructor(private readonly src: string, private readonly toks: Token[]) {}

  private peek(o = 0): Token | undefined { return this.toks[this.i + o]; }
  private next(): Token {
    const t = this.toks[this.i];
    if (t === undefined) throw new ParseError('unexpected end of script', this.lastLine());
    this.i++;
    return t;
  }
  private lastLine(): number { return this.toks[this.toks.length - 1]?.line ?? 1; }
  private line(): number { return this.peek()?.line ?? this.lastLine(); }
  private isPunct(v: string, o = 0): boolean { const t = this.peek(o); return t !== undefined && t.k === 'punct' && t.v === v; }
  private isWord(v?: string, o = 0): boolean { const t = this.peek(o); return t !== undefined && t.k === 'word' && (v === undefined || t.v === v); }
  private punct(v: string): void {
    const t = this.next();
    if (t.k !== 'punct' || t.v !== v) throw new ParseError(`expected '${v}' but found ${describe(t)}`, t.line);
  }
  private num(what: string): number {
    const t = this.next();
    if (t.k !== 'num') throw new ParseError(`expected ${what} (a number) but found ${describe(t)}`, t.line);
    return t.v;
  }
  private word(what: string): string {
    const t = this.next();
    if (t.k !== 'word') throw new ParseError(`expected ${what} but found ${describe(t)}`, t.line);
    return t.v;
  }
  /** A 32-bit unsigned number (sequence numbers may be written as 4294967295). */
  private u32(what: string): number {
    const v = this.num(what);
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new ParseError(`${what} ${v} is not a 32-bit unsigned integer`, this.toks[this.i - 1]!.line);
    return v;
  }

  script(): Script {
    const options: Script['options'] = [];
    let initCommand: string | null = null, cleanupCommand: string | null = null;
    while (this.peek()?.k === 'opt') {
      const t = this.next() as Extract<Token, { k: 'opt' }>;
      options.push({ name: t.name, value: t.value, line: t.line });
    }
    if (this.peek()?.k === 'cmd') initCommand = (this.next() as Extract<Token, { k: 'cmd' }>).v;
    const events: ScriptEvent[] = [];
    while (this.peek() !== undefined) {
      const t = this.peek()!;
      if (t.k === 'opt') throw new ParseError(`header option --${t.name} after the first event`, t.line);
      // A backquoted command with no time after the last event is the cleanup command.
      if (t.k === 'cmd' && this.i === this.toks.length - 1) { this.next(); cleanupCommand = t.v; break; }
      events.push(this.event());
    }
    return { options, initCommand, cleanupCommand, events };
  }

  private time(): TimeSpec {
    if (this.isPunct('*')) { this.next(); return { kind: 'any' }; }
    const rel = this.isPunct('+');
    if (rel) this.next();
    const t = usecs(this.num('an event time'));
    if (this.isPunct('~')) {
      this.next();
      const relEnd = this.isPunct('+');
      if (relEnd) this.next();
      if (relEnd !== rel) throw new ParseError('a time range mixes relative and absolute times', this.line());
      const end = usecs(this.num('the end of a time range'));
      if (end < t) throw new ParseError('time range ends before it starts', this.line());
      return rel ? { kind: 'rel-range', t, end } : { kind: 'abs-range', t, end };
    }
    return rel ? { kind: 'rel', t } : { kind: 'abs', t };
  }

  private event(): ScriptEvent {
    const first = this.peek()!;
    const line = first.line;
    if (!(first.k === 'num' || (first.k === 'punct' && (first.v === '+' || first.v === '*')))) {
      throw new ParseError(`expected an event time but found ${describe(first)}`, line);
    }
    const time = this.time();
    let end: TimeSpec | null = null;
    if (this.peek()?.k === 'ellipsis') {
      this.next();
      const e = usecs(this.num('the end time of a blocking call'));
      if (time.kind === 'abs') end = { kind: 'abs', t: e };
      else if (time.kind === 'rel') end = { kind: 'rel', t: e };
      else throw new ParseError('a blocking call needs a plain start time', line);
    }
    const startTok = this.peek();
    if (startTok === undefined) throw new ParseError('event time without an action', line);
    let ev: ScriptEvent;
    const base = { line, time, text: '' };
    if (startTok.k === 'punct' && (startTok.v === '<' || startTok.v === '>')) {
      this.next();
      ev = this.packet(base, startTok.v);
    } else if (startTok.k === 'cmd') {
      this.next();
      ev = { ...base, type: 'command', command: startTok.v };
    } else if (startTok.k === 'code') {
      this.next();
      ev = { ...base, type: 'code', code: startTok.v };
    } else if (startTok.k === 'word') {
      ev = { ...base, type: 'syscall', call: this.syscall(end) };
    } else {
      throw new ParseError(`expected a packet, system call, command or code after the time but found ${describe(startTok)}`, startTok.line);
    }
    if (end !== null && ev.type !== 'syscall') throw new ParseError('only system calls can have an end time (start...end)', line);
    const last = this.toks[this.i - 1]!;
    ev.text = this.src.slice(first.start, last.end).replace(/\s+/g, ' ').trim();
    return ev;
  }

  // ------------------------------------------------------------------ packets

  private ipInfo(): IpInfo {
    const ip: IpInfo = { ecn: null, ttl: null, tos: null, hlim: null, tclass: null, flowlabel: null };
    for (;;) {
      if (this.isPunct('[') && this.isWord(undefined, 1) && this.isPunct(']', 2)) {
        const w = (this.peek(1) as Extract<Token, { k: 'word' }>).v;
        if (w !== 'noecn' && w !== 'ect0' && w !== 'ect1' && w !== 'ect01' && w !== 'ce') throw new ParseError(`unknown ECN marking [${w}]`, this.line());
        this.i += 3;
        ip.ecn = w;
        continue;
      }
      // (ttl 4), (tos 0x28), (hlim 3), (class 0x28), (flowlabel 5); several may be comma separated.
      if (this.isPunct('(') && this.isWord(undefined, 1) && ['ttl', 'tos', 'hlim', 'class', 'flowlabel', 'label', 'tc'].includes((this.peek(1) as { v: string }).v)) {
        this.next();
        for (;;) {
          const k = this.word('an IP field name');
          const v = this.num(`the ${k} value`);
          if (k === 'ttl') ip.ttl = v;
          else if (k === 'tos') ip.tos = v;
          else if (k === 'hlim') ip.hlim = v;
          else if (k === 'class' || k === 'tc') ip.tclass = v;
          else ip.flowlabel = v;
          if (this.isPunct(',')) { this.next(); continue; }
          break;
        }
        this.punct(')');
        continue;
      }
      return ip;
    }
  }

  private packet(base: { line: number; time: TimeSpec; text: string }, dir: '<' | '>'): ScriptEvent {
    const ip = this.ipInfo();
    if (this.isWord('icmp') || (this.isPunct('[') && this.isWord('icmp', findAfterBracket(this.toks, this.i) - this.i))) {
      return { ...base, type: 'icmp', dir, ip, icmp: this.icmp() };
    }
    return { ...base, type: 'tcp', dir, ip, tcp: this.tcp() };
  }

  private seqSpec(): { seq: number | null; end: number | null; len: number } {
    if (this.peek()?.k === 'ellipsis') {
      this.next();
      this.punct('(');
      const len = this.num('a payload length');
      this.punct(')');
      return { seq: null, end: null, len };
    }
    const seq = this.u32('a sequence number');
    this.punct(':');
    const end = this.u32('an end sequence number');
    this.punct('(');
    const len = this.num('a payload length');
    this.punct(')');
    if (((end - seq) >>> 0) !== len) throw new ParseError(`inconsistent sequence range ${seq}:${end}(${len})`, this.toks[this.i - 1]!.line);
    return { seq, end, len };
  }

  private tcp(): TcpSpec {
    // Flags: a word of flag letters, '.', a word followed by '.', or '-' (none).
    let flags = '';
    const t = this.peek();
    if (t?.k === 'word') {
      this.next();
      flags = t.v;
      // A word followed immediately by '.' (S., F., R., P.) is one flags token in packetdrill.
      const dot = this.peek();
      if (dot?.k === 'punct' && dot.v === '.' && dot.start === t.end) { this.next(); flags += '.'; }
    } else if (t?.k === 'punct' && t.v === '.') {
      this.next();
      flags = '.';
    } else if (t?.k === 'punct' && t.v === '-') {
      this.next();
    } else {
      throw new ParseError(`expected TCP flags but found ${t === undefined ? 'end of script' : describe(t)}`, this.line());
    }
    if (!/^[SFRPUEWA.]*$/.test(flags)) throw new ParseError(`bad TCP flags '${flags}'`, this.line());
    const s = this.seqSpec();
    let seqBang = false;
    if (this.isPunct('!')) { this.next(); seqBang = true; }
    let ack: number | null = null, win: number | null = null;
    if (this.isWord('ack')) { this.next(); ack = this.u32('an ACK number'); }
    if (this.isWord('win')) { this.next(); win = this.num('a window'); }
    let options: TcpSpec['options'] = null;
    if (this.isPunct('<')) {
      this.next();
      if (this.peek()?.k === 'ellipsis') {
        this.next();
        options = 'any';
      } else {
        options = [];
        for (;;) {
          options.push(this.tcpOption());
          if (this.isPunct(',')) { this.next(); continue; }
          break;
        }
      }
      this.punct('>');
    }
    let udp: TcpSpec['udp'] = null;
    if (this.isPunct('/') && this.isWord('udp', 1)) {
      this.i += 2;
      this.punct('(');
      const sport = this.num('a UDP source port');
      this.punct('>');
      const dport = this.num('a UDP destination port');
      this.punct(')');
      udp = { sport, dport };
    }
    return { flags, seq: s.seq, end: s.end, len: s.len, seqBang, ack, win, options, udp };
  }

  private tcpOption(): OptSpec {
    const t = this.next();
    if (t.k === 'num') {
      // A raw option by kind number: `<5 1 2 3>` style is not in the docs; accept "kind" alone.
      return { kind: 'raw', type: t.v, data: [] };
    }
    if (t.k !== 'word') throw new ParseError(`expected a TCP option but found ${describe(t)}`, t.line);
    switch (t.v) {
      case 'nop': return { kind: 'nop' };
      case 'eol': return { kind: 'eol' };
      case 'mss': return { kind: 'mss', mss: this.num('an MSS value') };
      case 'wscale': return { kind: 'wscale', shift: this.num('a window scale shift') };
      case 'sackOK': return { kind: 'sackOK' };
      case 'sack': {
        const blocks: [number, number][] = [];
        while (this.peek()?.k === 'num') {
          const l = this.u32('a SACK left edge');
          this.punct(':');
          blocks.push([l, this.u32('a SACK right edge')]);
        }
        if (blocks.length === 0) throw new ParseError('sack option without blocks', t.line);
        return { kind: 'sack', blocks };
      }
      case 'TS': {
        if (this.word("'val'") !== 'val') throw new ParseError("expected 'val' after TS", t.line);
        const val = this.u32('a TS value');
        if (this.word("'ecr'") !== 'ecr') throw new ParseError("expected 'ecr' in TS option", t.line);
        return { kind: 'ts', val, ecr: this.u32('a TS echo reply') };
      }
      case 'md5': {
        const w = this.peek();
        if (w?.k === 'word') { this.next(); return { kind: 'md5', what: w.v }; }
        return { kind: 'md5', what: '' };
      }
      case 'FO': {
        const w = this.peek();
        if (w?.k === 'word' || w?.k === 'num') { this.next(); return { kind: 'fo', cookie: w.k === 'word' ? w.v : w.text }; }
        return { kind: 'fo', cookie: null };
      }
      default: throw new ParseError(`unknown TCP option '${t.v}'`, t.line);
    }
  }

  private icmpEchoed(): IcmpSpec['echoed'] {
    this.punct('[');
    const s = this.seqSpec();
    this.punct(']');
    if (s.seq === null || s.end === null) throw new ParseError('ICMP quoted segment needs a sequence number', this.line());
    return { seq: s.seq, end: s.end, len: s.len };
  }

  private icmp(): IcmpSpec {
    let echoed: IcmpSpec['echoed'] = null;
    if (this.isPunct('[')) echoed = this.icmpEchoed();
    this.word("'icmp'");
    const type = this.word('an ICMP type');
    let code: string | null = null;
    if (this.isWord() && !this.isWord('mtu')) code = this.word('an ICMP code');
    let mtu: number | null = null;
    if (this.isWord('mtu')) { this.next(); mtu = this.num('an MTU'); }
    if (this.isPunct('[')) {
      if (echoed !== null) throw new ParseError('ICMP line quotes two segments', this.line());
      echoed = this.icmpEchoed();
    }
    return { type, code, mtu, echoed };
  }

  // ------------------------------------------------------------------ system calls

  private syscall(end: TimeSpec | null): SyscallSpec {
    const name = this.word('a system call name');
    this.punct('(');
    const args: Expr[] = [];
    if (!this.isPunct(')')) {
      for (;;) {
        args.push(this.expr());
        if (this.isPunct(',')) { this.next(); continue; }
        break;
      }
    }
    this.punct(')');
    this.punct('=');
    const ret = this.expr();
    let errno: string | null = null, note: string | null = null;
    const e = this.peek();
    // An errno is an upper-case word on the same line (the next event starts with a time).
    if (e?.k === 'word' && /^E[A-Z0-9]+$/.test(e.v)) { this.next(); errno = e.v; }
    if (this.isPunct('(')) {
      const open = this.next();
      let depth = 1;
      let endTok: Token = open;
      while (depth > 0) {
        const t = this.next();
        if (t.k === 'punct' && t.v === '(') depth++;
        if (t.k === 'punct' && t.v === ')') depth--;
        endTok = t;
      }
      note = this.src.slice(open.end, endTok.start).trim();
    }
    return { name, args, ret, errno, note, end };
  }

  private expr(): Expr {
    const first = this.primary();
    if (!this.isPunct('|')) return first;
    const items = [first];
    while (this.isPunct('|')) { this.next(); items.push(this.primary()); }
    return { t: 'or', items };
  }

  private primary(): Expr {
    const t = this.next();
    switch (t.k) {
      case 'ellipsis': return { t: 'ellipsis' };
      case 'num': return { t: 'int', v: t.v };
      case 'str':
        if (this.peek()?.k === 'ellipsis') this.next();
        return { t: 'string', v: t.v };
      case 'word':
        if (this.isPunct('(')) {
          this.next();
          const args: Expr[] = [];
          if (!this.isPunct(')')) {
            for (;;) {
              args.push(this.expr());
              if (this.isPunct(',')) { this.next(); continue; }
              break;
            }
          }
          this.punct(')');
          return { t: 'call', name: t.v, args };
        }
        return { t: 'word', v: t.v };
      case 'punct':
        if (t.v === '[') {
          const items: Expr[] = [];
          if (!this.isPunct(']')) {
            for (;;) {
              items.push(this.expr());
              if (this.isPunct(',')) { this.next(); continue; }
              break;
            }
          }
          this.punct(']');
          return { t: 'array', items };
        }
        if (t.v === '{') {
          const fields: { name: string | null; value: Expr }[] = [];
          if (!this.isPunct('}')) {
            for (;;) {
              if (this.isWord() && this.isPunct('=', 1)) {
                const name = this.word('a field name');
                this.next();
                fields.push({ name, value: this.expr() });
              } else {
                fields.push({ name: null, value: this.expr() });
              }
              if (this.isPunct(',')) { this.next(); continue; }
              break;
            }
          }
          this.punct('}');
          return { t: 'struct', fields };
        }
        if (t.v === '-' && this.peek()?.k === 'num') {
          const n = this.next() as Extract<Token, { k: 'num' }>;
          return { t: 'int', v: -n.v };
        }
        break;
      default: break;
    }
    throw new ParseError(`unexpected ${describe(t)} in a system call`, t.line);
  }
}

/** Index just after the `]` that closes the `[` at index i (or i if none). */
function findAfterBracket(toks: Token[], i: number): number {
  for (let j = i; j < toks.length && j < i + 16; j++) {
    const t = toks[j]!;
    if (t.k === 'punct' && t.v === ']') return j + 1;
  }
  return i;
}

function describe(t: Token): string {
  switch (t.k) {
    case 'num': return `number ${t.text}`;
    case 'word': return `'${t.v}'`;
    case 'str': return `string "${t.v}"`;
    case 'cmd': return 'a backquoted command';
    case 'code': return 'a %{ code }% block';
    case 'opt': return `option --${t.name}`;
    case 'ellipsis': return "'...'";
    case 'punct': return `'${t.v}'`;
  }
}
