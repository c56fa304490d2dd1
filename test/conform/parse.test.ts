// Parser of packetdrill scripts: every construct the FreeBSD suite uses, on hand-written snippets.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseScript } from '../../bin/conform/parse.ts';
import { preprocess, tokenize } from '../../bin/conform/lexer.ts';
import type { Script, ScriptEvent } from '../../bin/conform/ast.ts';

function ok(src: string, defines: string[] = []): Script {
  const r = parseScript(src, defines);
  if (!r.ok) throw new Error(`line ${r.line}: ${r.error}`);
  return r.script;
}
const one = (src: string): ScriptEvent => {
  const s = ok(src);
  assert.is(s.events.length, 1);
  return s.events[0]!;
};
const tcp = (src: string) => {
  const e = one(src);
  if (e.type !== 'tcp') throw new Error(`not a tcp event: ${e.type}`);
  return e;
};

test('header options, comments and an init-free script', () => {
  const s = ok(`// comment
/* block
   comment */
--ip_version=ipv6
--tolerance_usecs=25000
--mtu=1280
0.00 \`sysctl -w net.inet.tcp.rfc1323=1\` // trailing comment
`);
  assert.equal(s.options.map((o) => [o.name, o.value]), [['ip_version', 'ipv6'], ['tolerance_usecs', '25000'], ['mtu', '1280']]);
  assert.is(s.options[0]!.line, 4);
  assert.is(s.events.length, 1);
  const e = s.events[0]!;
  assert.is(e.type, 'command');
  assert.is(e.line, 7);
  if (e.type === 'command') assert.is(e.command, 'sysctl -w net.inet.tcp.rfc1323=1');
});

test('time specs: absolute, relative (with a space), any, ranges', () => {
  const s = ok(`0.100 close(3) = 0
+0.25 close(3) = 0
+ 1.00 close(3) = 0
* > S 0:0(0) <...>
0.1~0.2 > S 0:0(0) <...>
+0.1~+0.3 > S 0:0(0) <...>
`);
  assert.equal(s.events.map((e) => e.time), [
    { kind: 'abs', t: 100000 }, { kind: 'rel', t: 250000 }, { kind: 'rel', t: 1000000 }, { kind: 'any' },
    { kind: 'abs-range', t: 100000, end: 200000 }, { kind: 'rel-range', t: 100000, end: 300000 },
  ]);
  assert.not.ok(parseScript('0.1~+0.2 close(3) = 0').ok, 'mixed range');
  assert.not.ok(parseScript('0.3~0.2 close(3) = 0').ok, 'backwards range');
});

test('flags: S . F. R. P. SEW SF, and - for none', () => {
  const flags = ['S', '.', 'F.', 'R.', 'P.', 'SEW', 'SF', 'R', 'S.', '-'];
  for (const f of flags) assert.is(tcp(`0 < ${f} 0:0(0) win 1`).tcp.flags, f === '-' ? '' : f, f);
  assert.not.ok(parseScript('0 < SX 0:0(0) win 1').ok, 'unknown flag letter');
});

test('seq:end(len), ack, win, `...(len)` and `!`', () => {
  const a = tcp('0 < . 1:100(99) ack 5 win 65535').tcp;
  assert.equal([a.seq, a.end, a.len, a.ack, a.win, a.options, a.seqBang], [1, 100, 99, 5, 65535, null, false]);
  const b = tcp('0 > S. ...(0) ack 65537 win 65535').tcp;
  assert.equal([b.seq, b.len, b.ack], [null, 0, 65537]);
  const c = tcp('0 > R. 0:0(0)! ack 2 win 0').tcp;
  assert.ok(c.seqBang);
  const d = tcp('0 < R 4294967295:4294967295(0) win 0').tcp;
  assert.is(d.seq, 4294967295);
  assert.not.ok(parseScript('0 < . 1:100(98) ack 1 win 1').ok, 'inconsistent length');
  const w = tcp('0 < . 4294967290:4(10) ack 1 win 1').tcp;
  assert.is(w.len, 10, 'wraps around 2^32');
});

test('options: mss wscale sackOK sack TS nop eol, <...>, spaces after commas', () => {
  const t = tcp('0 < S 0:0(0) win 1 <mss 1460,nop,wscale 6,sackOK,TS val 100 ecr 0,eol,eol>').tcp;
  assert.equal(t.options, [
    { kind: 'mss', mss: 1460 }, { kind: 'nop' }, { kind: 'wscale', shift: 6 }, { kind: 'sackOK' },
    { kind: 'ts', val: 100, ecr: 0 }, { kind: 'eol' }, { kind: 'eol' },
  ]);
  const s = tcp('0 > . 1:1(0) ack 1 win 1 <nop, nop,sack 200:300 400:500>').tcp;
  assert.equal(s.options, [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'sack', blocks: [[200, 300], [400, 500]] }]);
  assert.is(tcp('0 > S 0:0(0) win 1 <...>').tcp.options, 'any');
  assert.equal(tcp('0 < . 1:1(0) ack 1 win 1 <nop,nop,md5 valid>').tcp.options, [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'md5', what: 'valid' }]);
  assert.not.ok(parseScript('0 < S 0:0(0) win 1 <bogus 1>').ok, 'unknown option');
  assert.not.ok(parseScript('0 < S 0:0(0) win 1 <sack>').ok, 'sack needs blocks');
});

test('IP info: [ecn], (ttl N), (tos 0x..), /udp(a > b)', () => {
  const a = tcp('0 <[noecn] . 1:1(0) ack 1 win 1');
  assert.is(a.ip.ecn, 'noecn');
  const b = tcp('0 > (ttl 4) R. 0:0(0)! ack 2 win 0/udp(9811 > 1)');
  assert.is(b.ip.ttl, 4);
  assert.equal(b.tcp.udp, { sport: 9811, dport: 1 });
  assert.is(tcp('0 < (tos 0x28) S 0:0(0) win 1').ip.tos, 0x28);
  assert.is(tcp('0 > (hlim 3) . 1:1(0) ack 1 win 1').ip.hlim, 3);
  assert.is(tcp('0 > (class 0xe0) . 1:1(0) ack 1 win 1').ip.tclass, 0xe0);
});

test('ICMP lines: type, code, mtu, quoted segment (after or before)', () => {
  const e = one('0 < icmp unreachable frag_needed mtu 1200 [1:1(0)]');
  if (e.type !== 'icmp') throw new Error('not icmp');
  assert.equal(e.icmp, { type: 'unreachable', code: 'frag_needed', mtu: 1200, echoed: { seq: 1, end: 1, len: 0 } });
  const f = one('0 < icmp source_quench [0:0(0)]');
  if (f.type !== 'icmp') throw new Error('not icmp');
  assert.equal(f.icmp, { type: 'source_quench', code: null, mtu: null, echoed: { seq: 0, end: 0, len: 0 } });
  const g = one('0 <icmp packet_too_big mtu 1300 [4294967295:4294967295(0)]');
  if (g.type !== 'icmp') throw new Error('not icmp');
  assert.equal([g.icmp.type, g.icmp.mtu, g.icmp.echoed?.seq], ['packet_too_big', 1300, 4294967295]);
  const h = one('0 < [1:1(0)] icmp unreachable port_unreachable');
  if (h.type !== 'icmp') throw new Error('not icmp');
  assert.equal(h.icmp.echoed, { seq: 1, end: 1, len: 0 });
});

test('system calls: ..., [n], flags with |, errno and note, struct, hex', () => {
  const e = one('+0.00 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)');
  if (e.type !== 'syscall') throw new Error('not a syscall');
  assert.equal(e.call, {
    name: 'connect', args: [{ t: 'int', v: 3 }, { t: 'ellipsis' }, { t: 'ellipsis' }],
    ret: { t: 'int', v: -1 }, errno: 'EINPROGRESS', note: 'Operation now in progress', end: null,
  });
  const f = one('+0 fcntl(3, F_SETFL, O_RDWR | O_NONBLOCK) = 0');
  if (f.type !== 'syscall') throw new Error('not a syscall');
  assert.equal(f.call.args[2], { t: 'or', items: [{ t: 'word', v: 'O_RDWR' }, { t: 'word', v: 'O_NONBLOCK' }] });
  const g = one('+0 getsockopt(3, SOL_SOCKET, SO_ERROR, [ECONNRESET], [4]) = 0');
  if (g.type !== 'syscall') throw new Error('not a syscall');
  assert.equal(g.call.args[3], { t: 'array', items: [{ t: 'word', v: 'ECONNRESET' }] });
  const h = one('+0 fcntl(3, F_GETFL) = 0x02 (flags O_RDWR)');
  if (h.type !== 'syscall') throw new Error('not a syscall');
  assert.equal([h.call.ret, h.call.errno, h.call.note], [{ t: 'int', v: 2 }, null, 'flags O_RDWR']);
  const i = one('+0 setsockopt(3, SOL_SOCKET, SO_LINGER, {onoff=1, linger=0}, 8) = 0');
  if (i.type !== 'syscall') throw new Error('not a syscall');
  assert.equal(i.call.args[3], { t: 'struct', fields: [{ name: 'onoff', value: { t: 'int', v: 1 } }, { name: 'linger', value: { t: 'int', v: 0 } }] });
  const j = one('+0 write (4, ..., 1000) = 1000');
  assert.is(j.type === 'syscall' && j.call.name, 'write');
  const k = one('0 bind(3, {sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr("192.0.2.1")}, 16) = 0');
  if (k.type !== 'syscall') throw new Error('not a syscall');
  assert.equal(k.call.args[1], { t: 'struct', fields: [
    { name: 'sa_family', value: { t: 'word', v: 'AF_INET' } },
    { name: 'sin_port', value: { t: 'call', name: 'htons', args: [{ t: 'int', v: 8080 }] } },
    { name: 'sin_addr', value: { t: 'call', name: 'inet_addr', args: [{ t: 'string', v: '192.0.2.1' }] } },
  ] });
});

test('blocking calls: start...end, absolute and relative', () => {
  const s = ok(' 1.00...6.00 connect(3, ..., ...) = -1 ETIMEDOUT (Operation timed out)\n+0...0.5 accept(3, ..., ...) = 4');
  const [a, b] = s.events;
  assert.ok(a!.type === 'syscall' && b!.type === 'syscall');
  if (a!.type === 'syscall') assert.equal([a!.time, a!.call.end], [{ kind: 'abs', t: 1000000 }, { kind: 'abs', t: 6000000 }]);
  if (b!.type === 'syscall') assert.equal(b!.call.end, { kind: 'rel', t: 500000 });
  assert.not.ok(parseScript('0...1 < S 0:0(0) win 1').ok, 'only syscalls block');
});

test('code blocks and a trailing cleanup command', () => {
  const s = ok('0 %{ assert tcpi_state == TCPI_LISTEN }%\n+0 close(3) = 0//x\n\n   `setkey -F`\n');
  assert.is(s.events.length, 2);
  const c = s.events[0]!;
  assert.ok(c.type === 'code' && c.code === 'assert tcpi_state == TCPI_LISTEN');
  assert.is(s.cleanupCommand, 'setkey -F');
});

test('#ifdef / #else / #endif keep line numbers', () => {
  const src = '0 close(3) = 0\n#ifdef STANDARD\n+0 > R. 1:1(0) ack 1 win 0\n#else\n+0 > . 1:1(0) ack 1 win 0\n#endif\n+0 close(4) = 0\n';
  const std = ok(src, ['STANDARD']);
  assert.equal(std.events.map((e) => e.line), [1, 3, 7]);
  assert.is(std.events[1]!.text, '+0 > R. 1:1(0) ack 1 win 0');
  const other = ok(src, ['FreeBSD']);
  assert.equal(other.events.map((e) => e.line), [1, 5, 7]);
  assert.throws(() => preprocess('#ifdef X\n', []), /without #endif/);
  assert.throws(() => preprocess('#endif\n', []), /without #ifdef/);
});

test('lexer: numbers, words, ellipsis, negative numbers, strings', () => {
  const toks = tokenize('1.00...6.00 -1 0x1f S. "a b" `x`');
  assert.equal(toks.map((t) => t.k), ['num', 'ellipsis', 'num', 'num', 'num', 'word', 'punct', 'str', 'cmd']);
  assert.equal(toks.filter((t) => t.k === 'num').map((t) => (t as { v: number }).v), [1, 6, -1, 31]);
  assert.throws(() => tokenize('"open'), /unterminated/);
});

test('errors carry the line number', () => {
  const r = parseScript('0 close(3) = 0\n+0 < S 0:0(0) win 1 <mss>\n');
  assert.not.ok(r.ok);
  if (!r.ok) assert.is(r.line, 2);
  const t = parseScript('--ip_version=ipv4\n0 close(3) = 0\n--mtu=1500\n');
  assert.not.ok(t.ok, 'option after events');
});

test.run();
