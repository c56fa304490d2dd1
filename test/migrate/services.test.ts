// The HA node's built-in services (migrate/services/) moved the way the node moves them
// (helpers/move-conn.ts): the counter's own state continues on the standby, echo (TCP and
// SCTP, no onMove) loses and duplicates nothing, discard counts; builtinService picks them by
// type and loads `module` services with clear errors.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as sctpConnect, type Message } from '../../tun/sctp-socket.ts';
import type { Socket } from '../../tun/net.ts';
import type { AppConn } from '../../migrate/node-types.ts';
import { ServiceError, builtinService, counterService, decodeCounterState, discardService, echoService } from '../../migrate/services/index.ts';
import { moveSctpAssoc, moveTcpConn } from './helpers/move-conn.ts';
import { SERVICE, sctpRig, svcConfig, svcContext, tcpRig, within } from './helpers/services-rig.ts';

/** Collect what arrives on `s` as text lines (the counter's answers). */
function lineReader(s: Socket) {
  let text = '';
  const waiters: { n: number; resolve: (l: string[]) => void }[] = [];
  const lines = (): string[] => text.split('\n').slice(0, -1);
  s.setEncoding('utf8');
  s.on('data', (d: string) => {
    text += d;
    for (const w of [...waiters]) if (lines().length >= w.n) { waiters.splice(waiters.indexOf(w), 1); w.resolve(lines()); }
  });
  return { until: (n: number) => new Promise<string[]>((resolve) => { if (lines().length >= n) resolve(lines()); else waiters.push({ n, resolve }); }) };
}

test('counter: 10 lines on A, a move (with a partial line held), 10 lines on B: answers 1..20', async () => {
  const svcA = counterService(svcConfig({ type: 'counter' }), svcContext('a'));
  const svcB = counterService(svcConfig({ type: 'counter' }), svcContext('b'));
  const rig = await tcpRig(svcA, 7000);
  try {
    const sock = await rig.connect();
    const rd = lineReader(sock);
    for (let i = 1; i <= 10; i++) sock.write(`a${i}\n`);
    sock.write('b1-par');
    await within(rd.until(10), 5000, '10 answers from A');
    const m = await moveTcpConn({ from: rig.a, to: rig.b, svcFrom: svcA, svcTo: svcB, conn: rig.accepted[0]!, reroute: rig.toB, guard: rig.guardB });
    const st = decodeCounterState(m.state);
    assert.ok(st !== null);
    assert.is(st!.n, 10, 'the count travelled');
    assert.is(new TextDecoder().decode(st!.partial), 'b1-par', 'and the partial line');
    sock.write('tial\n');
    for (let i = 2; i <= 10; i++) sock.write(`b${i}\n`);
    const got = await within(rd.until(20), 5000, '20 answers');
    const want = [...Array.from({ length: 10 }, (_, i) => `${i + 1} a${i + 1}`), '11 b1-partial', ...Array.from({ length: 9 }, (_, i) => `${i + 12} b${i + 2}`)];
    assert.equal(got, want);
    assert.is(svcA.stats().lines, 10);
    assert.is(svcB.stats().lines, 10);
    assert.is(svcA.stats().open, 0, 'A let go of the moved connection');
    await m.released;
    // The client ends: B ends too.
    sock.end();
    await within(new Promise((r) => sock.once('end', r)), 5000, 'B ends');
  } finally {
    svcA.close(); svcB.close(); rig.close();
  }
});

test('echo tcp: moved mid-stream under load: every byte comes back exactly once, in order', async () => {
  const ctxA = svcContext('a'), ctxB = svcContext('b');
  const svcA = echoService(svcConfig({ type: 'echo' }), ctxA);
  const svcB = echoService(svcConfig({ type: 'echo' }), ctxB);
  assert.is(svcA.onMove, undefined, 'echo has no onMove');
  const rig = await tcpRig(svcA, 7);
  const TOTAL = 6_000_000;
  const pat = (off: number, n: number) => { const b = new Uint8Array(n); for (let i = 0; i < n; i++) b[i] = ((off + i) * 7 + ((off + i) >>> 11)) & 0xff; return b; };
  try {
    const sock = await rig.connect();
    const want = createHash('sha256'), got = createHash('sha256');
    const ended = new Promise((r) => sock.once('end', r));
    let received = 0, sent = 0, moved: Promise<unknown> | null = null, mismatch = -1;
    const done = new Promise<void>((resolve, reject) => {
      sock.on('data', (d: Buffer) => {
        if (mismatch < 0 && Buffer.compare(d, pat(received, d.length)) !== 0) mismatch = received;
        got.update(d);
        const before = received;
        received += d.length;
        // Stop reading for a while: the echo's output backs up and it pauses its input.
        if (before < 1_000_000 && received >= 1_000_000) {
          sock.pause();
          const until = Date.now() + 3000;
          const poll = setInterval(() => { if (svcA.stats().blocked > 0 || Date.now() > until) { clearInterval(poll); sock.resume(); } }, 5);
        }
        if (moved === null && received >= 2_000_000) {
          moved = moveTcpConn({ from: rig.a, to: rig.b, svcFrom: svcA, svcTo: svcB, conn: rig.accepted[0]!, reroute: rig.toB, guard: rig.guardB }).then((m) => m.released);
        }
        if (received >= TOTAL) resolve();
      });
      sock.on('error', reject);
    });
    const pump = (): void => {
      while (sent < TOTAL) {
        const n = Math.min(64 * 1024, TOTAL - sent);
        const c = pat(sent, n);
        want.update(c);
        sent += n;
        if (!sock.write(c)) { sock.once('drain', pump); return; }
      }
      sock.end();
    };
    pump();
    await within(done, 30_000, `echo (${received}/${TOTAL})`);
    await moved;
    await within(ended, 5000, 'echo ends after the client ends');
    assert.is(received, TOTAL, 'nothing lost, nothing twice');
    assert.is(mismatch, -1, 'in order');
    assert.is(got.digest('hex'), want.digest('hex'));
    const a = svcA.stats(), b = svcB.stats();
    assert.ok(a.bytes > 0 && b.bytes > 0, `both nodes echoed (A ${a.bytes}, B ${b.bytes})`);
    assert.is(a.bytes + b.bytes, TOTAL, 'each byte echoed by exactly one node');
    assert.is(b.resumed, 1);
    assert.ok(a.blocked > 0, 'the echo on A had to pause for backpressure');
    assert.equal([...ctxA.records, ...ctxB.records].filter((r) => r.event.endsWith('error')), []);
  } finally {
    svcA.close(); svcB.close(); rig.close();
  }
});

test('echo sctp: an association moved mid-stream: every message back once, in order per stream, same stream and PPID', async () => {
  const svcA = echoService(svcConfig({ type: 'echo', proto: 'sctp', port: 7 }), svcContext('a'));
  const svcB = echoService(svcConfig({ type: 'echo', proto: 'sctp', port: 7 }), svcContext('b'));
  const rig = await sctpRig(svcA, 7);
  const N = 3000;
  const msg = (i: number) => { const b = new Uint8Array(1 + ((i * 37) % 1500)); b.fill(i & 0xff); new DataView(b.buffer).setUint8(0, i % 251); return b; };
  try {
    const a = sctpConnect(rig.client, { remote: SERVICE, port: 7 });
    await within(new Promise((r) => a.once('connect', r)), 5000, 'sctp connect');
    const got: { i: number; stream: number; ppid: number; len: number }[] = [];
    let moved: Promise<unknown> | null = null;
    const errors: string[] = [];
    const done = new Promise<void>((resolve) => {
      a.on('message', (m: Message) => {
        if (m.unordered !== (m.ppid % 8 === 7)) errors.push(`message ${m.ppid}: unordered flag not kept`);
        got.push({ i: m.ppid, stream: m.stream, ppid: m.ppid, len: m.data.length });
        if (moved === null && got.length >= N / 3) {
          moved = moveSctpAssoc({ from: rig.a, to: rig.b, svcFrom: svcA, svcTo: svcB, conn: rig.accepted[0]!, reroute: rig.toB, guard: rig.guardB })
            .then((m2) => m2.released, (e: Error) => { errors.push(e.message); });
        }
        if (got.length >= N) resolve();
      });
      a.on('error', (e: Error) => errors.push(e.message));
    });
    let i = 0;
    const feed = (): void => {
      while (i < N) {
        const k = i++;
        if (!a.send(msg(k), { stream: k % 4, ppid: k, unordered: k % 8 === 7 })) { a.once('drain', feed); return; }
      }
    };
    feed();
    await within(done, 30_000, `sctp echo (${got.length}/${N})`);
    await moved;
    assert.equal(errors, []);
    assert.is(got.length, N, 'every message once');
    assert.equal(new Set(got.map((g) => g.ppid)).size, N, 'no message twice');
    for (let s = 0; s < 4; s++) {
      const seq = got.filter((g) => g.stream === s && g.ppid % 8 !== 7).map((g) => g.ppid);
      assert.equal(seq, seq.slice().sort((x, y) => x - y), `stream ${s} in order`);
      assert.ok(seq.every((p) => p % 4 === s), `stream ${s}: replies on the stream they came on`);
    }
    assert.ok(got.every((g) => g.len === msg(g.ppid).length), 'lengths');
    const sa = svcA.stats(), sb = svcB.stats();
    assert.ok(sa.messages > 0 && sb.messages > 0, `both echoed (A ${sa.messages}, B ${sb.messages})`);
    assert.is(sa.messages + sb.messages, N);
    assert.is(sa.open, 0, 'A dropped the moved association');
    assert.is(rig.a.frozen.n, 0, 'A released it');
  } finally {
    svcA.close(); svcB.close(); rig.close();
  }
});

test('counter and http: a move called off after onMove (onMoveCancelled) leaves the connection working on A where it was', async () => {
  const svc = counterService(svcConfig({ type: 'counter' }), svcContext('a'));
  const rig = await tcpRig(svc, 7001);
  try {
    const sock = await rig.connect();
    const rd = lineReader(sock);
    sock.write('x\ny\n');
    await within(rd.until(2), 5000, 'two answers');
    const conn = rig.accepted[0]!;
    svc.onSwitchover({ to: 'b' });
    conn.socket.pause();
    const st = decodeCounterState(svc.onMove(conn));
    assert.is(st?.n, 2);
    sock.write('z\n');
    await new Promise((r) => setTimeout(r, 30));
    svc.onMoveCancelled(conn);
    assert.equal(await within(rd.until(3), 5000, 'third answer'), ['1 x', '2 y', '3 z']);
  } finally { svc.close(); rig.close(); }
});

test('discard: counts bytes (tcp) and messages (sctp); close() ends its connections', async () => {
  const svc = discardService(svcConfig({ type: 'discard', port: 9 }), svcContext('a'));
  const rig = await tcpRig(svc, 9);
  try {
    const s = await rig.connect();
    s.resume();
    s.write(new Uint8Array(100_000));
    const deadline = Date.now() + 5000;
    while (svc.stats().bytes < 100_000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.is(svc.stats().bytes, 100_000);
    assert.is(svc.stats().open, 1);
    const closed = new Promise((r) => s.once('close', r));
    svc.close();
    await within(closed, 5000, 'client sees the close');
    assert.is(svc.stats().open, 0);
  } finally { rig.close(); }
  const svc2 = discardService(svcConfig({ type: 'discard', proto: 'sctp', port: 9 }), svcContext('a'));
  const sr = await sctpRig(svc2, 9);
  try {
    const a = sctpConnect(sr.client, { remote: SERVICE, port: 9 });
    await within(new Promise((r) => a.once('connect', r)), 5000, 'connect');
    for (let i = 0; i < 50; i++) a.send(new Uint8Array(10), { stream: 0, ppid: 1 });
    const deadline = Date.now() + 5000;
    while (svc2.stats().messages < 50 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.equal({ m: svc2.stats().messages, b: svc2.stats().bytes }, { m: 50, b: 500 });
    svc2.close();
  } finally { sr.close(); }
});

test('builtinService: type/proto mismatches and a missing http root are clear ServiceErrors; every built-in type starts', async () => {
  const ctx = svcContext('a');
  const errOf = async (p: Promise<unknown>): Promise<Error> => { try { await p; } catch (e) { return e as Error; } throw new Error('did not reject'); };
  const e1 = await errOf(builtinService(svcConfig({ type: 'counter', proto: 'sctp' }), ctx));
  assert.instance(e1, ServiceError);
  assert.match(e1.message, /counter does not run over sctp/);
  assert.match((await errOf(builtinService(svcConfig({ type: 'http', proto: 'sctp' }), ctx))).message, /http does not run over sctp/);
  const e2 = await errOf(builtinService(svcConfig({ type: 'http', root: '/nonexistent/fx-svc-root' }), ctx));
  assert.match(e2.message, /root \/nonexistent\/fx-svc-root/);
  for (const t of ['echo', 'discard', 'counter', 'http'] as const) {
    const s = await builtinService(svcConfig({ type: t }), ctx);
    assert.type(s.onConnection, 'function');
    s.close?.();
  }
});

test('module: a service loaded from a file works; missing file, no default export, a throwing factory and a throwing hook are clear errors', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fx-svc-mod-'));
  const good = join(dir, 'good.mjs');
  writeFileSync(good, `
    export default function factory(cfg, ctx) {
      const seen = [];
      return {
        seen,
        onConnection(conn) {
          seen.push(conn.id);
          if (conn.remote === 'boom') throw new Error('hook exploded');
          conn.socket.end('hello from ' + ctx.node + ' ' + cfg.options.greeting + '\\n');
        },
        onMove() { throw new Error('no move for you'); },
      };
    }`);
  writeFileSync(join(dir, 'nodefault.mjs'), 'export const x = 1;\n');
  writeFileSync(join(dir, 'throws.mjs'), 'export default () => { throw new Error("factory broke"); };\n');
  writeFileSync(join(dir, 'notfn.mjs'), 'export default 42;\n');
  writeFileSync(join(dir, 'syntax.mjs'), 'export default (;\n');
  const ctx = svcContext('node-a');
  const cfg = (module: string) => svcConfig({ type: 'module', module, options: { greeting: 'hi' }, port: 8000 });
  const errOf = async (p: Promise<unknown>): Promise<string> => { try { await p; } catch (e) { assert.instance(e, ServiceError); return (e as Error).message; } throw new Error('did not reject'); };
  try {
    assert.match(await errOf(builtinService(cfg(join(dir, 'missing.mjs')), ctx)), /no such module file: .*missing\.mjs/);
    assert.match(await errOf(builtinService(cfg(join(dir, 'nodefault.mjs')), ctx)), /has no default export/);
    assert.match(await errOf(builtinService(cfg(join(dir, 'throws.mjs')), ctx)), /factory threw: factory broke/);
    assert.match(await errOf(builtinService(cfg(join(dir, 'notfn.mjs')), ctx)), /default export is a number/);
    assert.match(await errOf(builtinService(cfg(join(dir, 'syntax.mjs')), ctx)), /failed to load/);
    assert.match(await errOf(builtinService(svcConfig({ type: 'module' }), ctx)), /needs a module path/);

    const svc = await builtinService(cfg(good), ctx);
    const rig = await tcpRig(svc, 8000);
    try {
      const s = await rig.connect();
      let text = '';
      s.setEncoding('utf8');
      s.on('data', (d: string) => { text += d; });
      await within(new Promise((r) => s.once('end', r)), 5000, 'module service answers');
      assert.is(text, 'hello from node-a hi\n');
      assert.equal((svc as unknown as { seen: string[] }).seen, [rig.accepted[0]!.id], 'other members of the service stay reachable');
      // A hook that throws is contained: logged, the connection destroyed, nothing thrown.
      const bad: AppConn = { ...rig.accepted[0]!, remote: 'boom', id: 'x' };
      svc.onConnection(bad);
      assert.ok(ctx.records.some((r) => r.event === 'error' && r.fields.hook === 'onConnection' && /hook exploded/.test(String(r.fields.error))));
      let moveErr = '';
      await Promise.resolve(svc.onMove!(bad)).catch((e: Error) => { moveErr = e.message; });
      assert.is(moveErr, 'no move for you');
      assert.ok(ctx.records.some((r) => r.fields.hook === 'onMove'));
    } finally { svc.close?.(); rig.close(); }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
