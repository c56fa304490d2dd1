// The built-in HTTP service (migrate/services/http.ts): responses that move between nodes
// mid-body (generated /bytes/<n> and files under root), keep-alive and pipelining across a
// move, HEAD, and the error answers (400, 404, 403 for path escapes, 405, 431).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { decodeHttpState, httpService, parseRequestHead, patternBytes, resolveTarget, type HttpService } from '../../migrate/services/http.ts';
import type { TcpAppConn } from '../../migrate/node-types.ts';
import { moveTcpConn } from './helpers/move-conn.ts';
import { HttpReader, SERVICE, sha256, svcConfig, svcContext, tcpRig, within, type TcpRig } from './helpers/services-rig.ts';

const MB = 1 << 20;
/** Pinned: a change to the pattern changes every checksum a client may have recorded. */
const PATTERN_1MIB_SHA256 = '309ace392dc6ac0fccff5f35816aee9c6116d23cceb9ff7a4bdb89ae4d5dfed4';

test('patternBytes: any slice equals the same bytes of the whole; the sha256 of /bytes/1MiB is fixed', () => {
  const whole = patternBytes(0, 1 << 16);
  for (const [o, n] of [[0, 1], [1, 7], [3, 4], [4095, 9000], [65530, 6]] as const) {
    assert.equal(patternBytes(o, n), whole.slice(o, o + n), `slice ${o}+${n}`);
  }
  assert.is(sha256(patternBytes(0, MB)), sha256(patternBytes(0, MB)));
  assert.is(sha256(patternBytes(0, MB)), PATTERN_1MIB_SHA256);
  // Far offsets (past 2^32) are defined and differ from the start.
  assert.not.equal(patternBytes(2 ** 40, 64), patternBytes(0, 64));
  assert.equal(patternBytes(2 ** 40 + 3, 5), patternBytes(2 ** 40, 8).slice(3));
  // Not periodic at 64 KiB or 128 KiB (a shifted stream would not verify).
  assert.not.equal(patternBytes(65536, 64), patternBytes(0, 64));
  assert.not.equal(patternBytes(131072, 64), patternBytes(0, 64));
});

test('parseRequestHead: CRLF and bare LF lines, leading empty lines; malformed heads are 400, oversized 431', () => {
  const enc = (s: string) => new TextEncoder().encode(s);
  const r = parseRequestHead(enc('\r\nGET /a HTTP/1.1\r\nHost: x\r\nX-A:  b \r\n\r\nGET /next'));
  assert.ok(r.kind === 'request');
  if (r.kind === 'request') {
    assert.is(r.req.method, 'GET'); assert.is(r.req.target, '/a'); assert.is(r.req.minor, 1);
    assert.equal(r.req.headers, [['host', 'x'], ['x-a', 'b']]);
    assert.is(r.req.length, '\r\nGET /a HTTP/1.1\r\nHost: x\r\nX-A:  b \r\n\r\n'.length);
  }
  const lf = parseRequestHead(enc('GET / HTTP/1.0\nHost: y\n\n'));
  assert.ok(lf.kind === 'request' && lf.req.minor === 0);
  assert.is(parseRequestHead(enc('GET / HTTP/1.1\r\nHost: x\r\n')).kind, 'need');
  for (const bad of ['GET  / HTTP/1.1\r\n\r\n', 'GET / HTTP/1.1\r\nHost : x\r\n\r\n', 'GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n', 'GET / FTP/1.1\r\n\r\n', 'G(T / HTTP/1.1\r\n\r\n']) {
    const b = parseRequestHead(enc(bad));
    assert.ok(b.kind === 'error' && b.status === 400, JSON.stringify(bad));
  }
  const v2 = parseRequestHead(enc('GET / HTTP/2.0\r\n\r\n'));
  assert.ok(v2.kind === 'error' && v2.status === 505);
  const big = parseRequestHead(enc(`GET / HTTP/1.1\r\nX: ${'a'.repeat(9000)}\r\n\r\n`));
  assert.ok(big.kind === 'error' && big.status === 431);
  const bigPartial = parseRequestHead(enc(`GET / HTTP/1.1\r\nX: ${'a'.repeat(9000)}`));
  assert.ok(bigPartial.kind === 'error' && bigPartial.status === 431);
});

test('resolveTarget: /bytes/<n>, files, and every escape refused', () => {
  assert.equal(resolveTarget('/bytes/123', false), { ok: true, kind: 'bytes', size: 123 });
  assert.equal(resolveTarget('http://svc/bytes/5?x=1', false), { ok: true, kind: 'bytes', size: 5 });
  assert.equal(resolveTarget('/a/./b.txt?q', true), { ok: true, kind: 'file', rel: 'a/b.txt' });
  assert.equal(resolveTarget('/a%20b', true), { ok: true, kind: 'file', rel: 'a b' });
  for (const t of ['/../etc/passwd', '/a/../../x', '/%2e%2e/x', '/a/%2E%2E/%2e%2e/x', '//etc/passwd', '/%2fetc/passwd', '/a\\..\\b']) {
    const r = resolveTarget(t, true);
    assert.ok(!r.ok && r.status === 403, t);
  }
  for (const t of ['/x%00y', '/%zz', 'relative', '*']) { const r = resolveTarget(t, true); assert.ok(!r.ok && r.status === 400, t); }
  assert.ok(!resolveTarget('/file', false).ok);
  const dir = resolveTarget('/dir/', true);
  assert.ok(!dir.ok && dir.status === 404);
});

interface MoveLog { offsets: number[]; errors: string[] }

/**
 * Move `getConn()` alternately A→B, B→A, ... each time the client's body count passes the next
 * threshold (moves are serialised: the next starts once the previous one let go).
 */
function mover(rig: TcpRig, svcA: HttpService, svcB: HttpService, at: number[], log: MoveLog) {
  let current: TcpAppConn | null = null;
  let k = 0;
  let chain: Promise<void> = Promise.resolve();
  return {
    set conn(c: TcpAppConn) { current = c; },
    onBody: (got: number): void => {
      while (k < at.length && got >= at[k]!) {
        const i = k++;
        chain = chain.then(async () => {
          const toB = i % 2 === 0;
          const m = await moveTcpConn({
            from: toB ? rig.a : rig.b, to: toB ? rig.b : rig.a, svcFrom: toB ? svcA : svcB, svcTo: toB ? svcB : svcA,
            conn: current ?? rig.accepted[0]!, reroute: toB ? rig.toB : rig.toA, guard: toB ? rig.guardB : rig.guardA,
          });
          const st = decodeHttpState(m.state);
          if (st?.body) log.offsets.push(st.body.offset);
          current = m.conn;
          await m.released;
        }).catch((e: unknown) => { log.errors.push((e as Error).message); });
      }
    },
    done: () => chain,
  };
}

async function bytesMoved(n: number, at: number[], chunkA: number | null) {
  const ctxA = svcContext('a'), ctxB = svcContext('b');
  const svcA = await httpService(svcConfig({ type: 'http', options: chunkA === null ? {} : { chunkBytes: chunkA } }), ctxA);
  const svcB = await httpService(svcConfig({ type: 'http' }), ctxB);
  const rig = await tcpRig(svcA);
  try {
    const sock = await rig.connect();
    const rd = new HttpReader(sock);
    const log: MoveLog = { offsets: [], errors: [] };
    const mv = mover(rig, svcA, svcB, at, log);
    const p = rd.request(`/bytes/${n}`, { onBody: (g) => mv.onBody(g) });
    const res = await within(p, 30_000, `GET /bytes/${n}`);
    await mv.done();
    assert.equal(log.errors, []);
    assert.is(res.status, 200);
    assert.is(res.headers['content-length'], String(n));
    assert.is(res.body.length, n);
    const want = patternBytes(0, n);
    assert.ok(Buffer.compare(res.body, want) === 0, 'the body is the pattern, byte for byte');
    assert.is(sha256(res.body), sha256(want));
    assert.is(log.offsets.length, at.length, `${at.length} moves mid-body (offsets ${log.offsets.join(', ')})`);
    for (const o of log.offsets) assert.ok(o > 0 && o < n, `moved mid-body at ${o}`);
    assert.ok(svcA.stats().bodyBytes + svcB.stats().bodyBytes >= n);
    assert.ok(svcB.stats().bodyBytes > 0, 'B sent part of the body');
    assert.equal(ctxA.records.filter((r) => r.event.endsWith('error')), []);
    assert.equal(ctxB.records.filter((r) => r.event.endsWith('error')), []);
    sock.destroy();
    return log;
  } finally {
    svcA.close(); svcB.close(); rig.close();
  }
}

test('http: GET /bytes/8MiB moves A→B at 1 MiB; the client gets exactly the pattern', async () => {
  await bytesMoved(8 * MB, [MB], null);
});

test('http: GET /bytes/8MiB moves early (first 10 kB), and A→B→A→B at unaligned offsets (A pumps 50,000-byte chunks: B resumes mid-64-KiB-chunk)', async () => {
  await bytesMoved(8 * MB, [10_000], null);
  const log = await bytesMoved(8 * MB, [700_000, 3_333_333, 7 * MB], 50_000);
  assert.ok(log.offsets.some((o) => o % 65536 !== 0), `an offset not on a 64 KiB boundary (${log.offsets.join(', ')})`);
});

test('http: keep-alive after a move: the second request on the same connection is served by B; HEAD; pipelined requests stay in order', async () => {
  const svcA = await httpService(svcConfig({ type: 'http' }), svcContext('a'));
  const svcB = await httpService(svcConfig({ type: 'http' }), svcContext('b'));
  const rig = await tcpRig(svcA);
  try {
    const sock = await rig.connect();
    const rd = new HttpReader(sock);
    // Pipelined: three requests at once; the move happens during the first body.
    const log: MoveLog = { offsets: [], errors: [] };
    const mv = mover(rig, svcA, svcB, [300_000], log);
    const r1 = rd.expect({ onBody: (g) => mv.onBody(g) });
    const r2 = rd.expect({ head: true });
    const r3 = rd.expect();
    rd.send('GET /bytes/3000000 HTTP/1.1\r\nHost: s\r\n\r\nHEAD /bytes/77 HTTP/1.1\r\nHost: s\r\n\r\nGET /bytes/1000 HTTP/1.1\r\nHost: s\r\n\r\n');
    const [a1, a2, a3] = await within(Promise.all([r1, r2, r3]), 20_000, 'pipelined responses');
    await mv.done();
    assert.equal(log.errors, []);
    assert.is(log.offsets.length, 1);
    assert.ok(Buffer.compare(a1.body, patternBytes(0, 3_000_000)) === 0);
    assert.is(a2.status, 200);
    assert.is(a2.headers['content-length'], '77', 'HEAD announces the length');
    assert.is(a2.body.length, 0, 'HEAD has no body');
    assert.ok(Buffer.compare(a3.body, patternBytes(0, 1000)) === 0);
    // A later request on the same (moved) connection: B answers it.
    const before = svcB.stats().requests;
    const a4 = await within(rd.request('/bytes/5000'), 5000, 'request after the move');
    assert.ok(Buffer.compare(a4.body, patternBytes(0, 5000)) === 0);
    assert.is(svcB.stats().requests, before + 1);
    assert.is(a4.headers.connection, 'keep-alive');
    // Connection: close is honoured: the response, then the server ends the connection.
    const a5 = await within(rd.request('/bytes/10', { headers: ['Connection: close'] }), 5000, 'close');
    assert.is(a5.headers.connection, 'close');
    await within(rd.ended, 5000, 'server ends the connection');
    assert.is(rd.extra, 0);
  } finally {
    svcA.close(); svcB.close(); rig.close();
  }
});

test('http: a client that half-closes after its request still gets the whole (moved) body, then the server ends', async () => {
  const svcA = await httpService(svcConfig({ type: 'http' }), svcContext('a'));
  const svcB = await httpService(svcConfig({ type: 'http' }), svcContext('b'));
  const rig = await tcpRig(svcA);
  try {
    const sock = rig.client.connect({ host: SERVICE, port: 80, allowHalfOpen: true });
    await within(new Promise((r) => sock.once('connect', r)), 5000, 'connect');
    const rd = new HttpReader(sock);
    const log: MoveLog = { offsets: [], errors: [] };
    const mv = mover(rig, svcA, svcB, [1_000_000], log);
    const p = rd.request('/bytes/3000000', { onBody: (g) => mv.onBody(g) });
    sock.end();
    const r = await within(p, 20_000, 'body');
    await mv.done();
    assert.equal(log.errors, []);
    assert.is(log.offsets.length, 1);
    assert.ok(Buffer.compare(r.body, patternBytes(0, 3_000_000)) === 0);
    await within(rd.ended, 5000, 'the server ends after the last response');
  } finally {
    svcA.close(); svcB.close(); rig.close();
  }
});

test('http: a move called off after onMove (onMoveCancelled): the body goes on from A, exact', async () => {
  const svcA = await httpService(svcConfig({ type: 'http', options: { chunkBytes: 30_000 } }), svcContext('a'));
  const rig = await tcpRig(svcA);
  try {
    const sock = await rig.connect();
    const rd = new HttpReader(sock);
    let cancel: Promise<void> | null = null;
    const p = rd.request('/bytes/2000000', {
      onBody: (g) => {
        if (cancel !== null || g < 500_000) return;
        const conn = rig.accepted[0]!;
        svcA.onSwitchover({ to: 'b' });
        conn.socket.pause();
        cancel = svcA.onMove(conn).then((st) => {
          assert.ok(decodeHttpState(st)!.body!.offset >= 500_000);
          setTimeout(() => svcA.onMoveCancelled(conn), 20);
        });
      },
    });
    const r = await within(p, 10_000, 'body');
    await cancel;
    assert.ok(Buffer.compare(r.body, patternBytes(0, 2_000_000)) === 0);
    assert.is((await within(rd.request('/bytes/7'), 5000, 'next')).status, 200);
  } finally {
    svcA.close(); rig.close();
  }
});

test('http: errors: 400 and close, 404, 405, 431 and close, 505; HTTP/1.1 without Host is 400', async () => {
  const svcA = await httpService(svcConfig({ type: 'http' }), svcContext('a'));
  const rig = await tcpRig(svcA);
  try {
    const one = async (req: string, status: number, closes: boolean) => {
      const sock = await rig.connect();
      const rd = new HttpReader(sock);
      const p = rd.expect({ head: req.startsWith('HEAD') });
      rd.send(req);
      const r = await within(p, 5000, req.slice(0, 30));
      assert.is(r.status, status, req.slice(0, 40));
      if (closes) { await within(rd.ended, 5000, 'close'); assert.is(r.headers.connection, 'close'); }
      else {
        assert.is(r.headers.connection, 'keep-alive');
        const again = await within(rd.request('/bytes/3'), 5000, 'still usable');
        assert.is(again.status, 200);
      }
      sock.destroy();
    };
    await one('BLAH\r\n\r\n', 400, true);
    await one('GET / HTTP/1.1\r\n\r\n', 400, true);
    await one('GET /nope HTTP/1.1\r\nHost: s\r\n\r\n', 404, false);
    await one('GET /bytes/12x HTTP/1.1\r\nHost: s\r\n\r\n', 404, false);
    await one('HEAD /nope HTTP/1.1\r\nHost: s\r\n\r\n', 404, false);
    await one('DELETE /bytes/1 HTTP/1.1\r\nHost: s\r\n\r\n', 405, false);
    await one('POST /bytes/1 HTTP/1.1\r\nHost: s\r\nContent-Length: 5\r\n\r\nhello', 405, true);
    await one(`GET /bytes/1 HTTP/1.1\r\nHost: s\r\nX-Big: ${'a'.repeat(9 * 1024)}\r\n\r\n`, 431, true);
    await one('GET / HTTP/3.0\r\n\r\n', 505, true);
    // A header block that never ends is cut off at the limit too.
    await one(`GET /bytes/1 HTTP/1.1\r\nX: ${'b'.repeat(10 * 1024)}`, 431, true);
  } finally {
    svcA.close(); rig.close();
  }
});

test('http: files under root: Content-Type by extension, 404, 403 for escapes and symlinks leaving root; a file moves mid-body', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fx-svc-'));
  const root = join(dir, 'www');
  mkdirSync(join(root, 'sub'), { recursive: true });
  writeFileSync(join(dir, 'secret.txt'), 'secret');
  writeFileSync(join(root, 'index.html'), '<p>hi</p>');
  const big = new Uint8Array(randomBytes(5 * MB + 12345));
  writeFileSync(join(root, 'sub', 'big.bin'), big);
  symlinkSync(join(dir, 'secret.txt'), join(root, 'leak.txt'));
  symlinkSync(join(root, 'index.html'), join(root, 'inside.html'));
  const svcA = await httpService(svcConfig({ type: 'http', root, options: { chunkBytes: 40_000 } }), svcContext('a'));
  const svcB = await httpService(svcConfig({ type: 'http', root }), svcContext('b'));
  const rig = await tcpRig(svcA);
  try {
    const sock = await rig.connect();
    const rd = new HttpReader(sock);
    const idx = await within(rd.request('/index.html'), 5000, 'index');
    assert.is(idx.status, 200);
    assert.is(idx.headers['content-type'], 'text/html; charset=utf-8');
    assert.is(Buffer.from(idx.body).toString(), '<p>hi</p>');
    assert.is((await rd.request('/inside.html')).status, 200, 'a symlink inside root is followed');
    assert.is((await rd.request('/leak.txt')).status, 403, 'a symlink leaving root');
    assert.is((await rd.request('/../secret.txt')).status, 403);
    assert.is((await rd.request('/%2e%2e/secret.txt')).status, 403);
    assert.is((await rd.request('//etc/passwd')).status, 403);
    assert.is((await rd.request('/missing.bin')).status, 404);
    assert.is((await rd.request('/sub')).status, 404, 'a directory is not served');
    const h = await rd.request('/sub/big.bin', { method: 'HEAD' });
    assert.is(h.headers['content-length'], String(big.length));
    assert.is(h.headers['content-type'], 'application/octet-stream');
    // Now the big file, moved at 2 MB.
    const log: MoveLog = { offsets: [], errors: [] };
    const mv = mover(rig, svcA, svcB, [2_000_000], log);
    const res = await within(rd.request('/sub/big.bin', { onBody: (g) => mv.onBody(g) }), 20_000, 'big file');
    await mv.done();
    assert.equal(log.errors, []);
    assert.is(log.offsets.length, 1);
    assert.ok(log.offsets[0]! % 65536 !== 0, `moved at ${log.offsets[0]}, inside a 64 KiB read chunk of B`);
    assert.is(res.body.length, big.length);
    assert.is(sha256(res.body), sha256(big));
    assert.ok(svcB.stats().bodyBytes > 0);
    // And the connection goes on, on B.
    assert.is((await within(rd.request('/index.html'), 5000, 'after move')).status, 200);
  } finally {
    svcA.close(); svcB.close(); rig.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('http: a file that changed size while its response was moving ends the connection on B (no wrong bytes)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fx-svc-'));
  const file = join(dir, 'f.bin');
  const data = new Uint8Array(randomBytes(4 * MB));
  writeFileSync(file, data);
  const ctxB = svcContext('b');
  const svcA = await httpService(svcConfig({ type: 'http', root: dir }), svcContext('a'));
  const svcB = await httpService(svcConfig({ type: 'http', root: dir }), ctxB);
  const rig = await tcpRig(svcA);
  try {
    const sock = await rig.connect();
    const rd = new HttpReader(sock);
    let got = 0, moving: Promise<unknown> | null = null;
    const p = rd.request('/f.bin', {
      onBody: (g) => {
        got = g;
        if (moving === null && g >= MB) {
          moving = moveTcpConn({
            from: rig.a, to: rig.b, svcFrom: svcA, svcTo: svcB, conn: rig.accepted[0]!, reroute: rig.toB, guard: rig.guardB,
            beforeResume: () => appendFileSync(file, 'more'),
          }).then((m) => m.released);
        }
      },
    });
    const err = await within(p.then(() => null, (e: Error) => e), 10_000, 'response');
    assert.ok(err !== null, 'the response did not complete');
    await moving;
    assert.ok(got < data.length);
    assert.ok(ctxB.records.some((r) => r.event === 'http.resume-refused' && r.fields.why === 'file size changed'), JSON.stringify(ctxB.records));
  } finally {
    svcA.close(); svcB.close(); rig.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('http: a request whose file was still being opened at the move is answered by B', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fx-svc-'));
  writeFileSync(join(dir, 'a.txt'), 'alpha');
  const svcA = await httpService(svcConfig({ type: 'http', root: dir }), svcContext('a'));
  const svcB = await httpService(svcConfig({ type: 'http', root: dir }), svcContext('b'));
  const rig = await tcpRig(svcA);
  try {
    const sock = await rig.connect();
    const rd = new HttpReader(sock);
    const p = rd.request('/a.txt');
    // Wait until A has the request (its open is in flight), then move at once.
    const deadline = Date.now() + 5000;
    while (svcA.stats().requests === 0 && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    const m = await moveTcpConn({ from: rig.a, to: rig.b, svcFrom: svcA, svcTo: svcB, conn: rig.accepted[0]!, reroute: rig.toB, guard: rig.guardB });
    const st = decodeHttpState(m.state)!;
    const r = await within(p, 5000, 'response');
    assert.is(Buffer.from(r.body).toString(), 'alpha');
    if (st.body === null) assert.ok(st.pending.length > 0 && svcB.stats().requests === 1, 'the request moved unanswered and B answered it');
    await m.released;
  } finally {
    svcA.close(); svcB.close(); rig.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
