// The control socket (migrate/control.ts) against a fake NodeApi: the three commands, progress,
// bad input, stale and live sockets, the file's mode, many clients, clients that vanish.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlError, MAX_LINE, controlRequest, serveControl } from '../../migrate/control.ts';
import type { ControlReply, LogFn, SwitchoverProgress } from '../../migrate/node-types.ts';
import { fakeNode, fakeStatus } from './helpers/control-fake.ts';

const dir = mkdtempSync(join(tmpdir(), 'hc-ctl-'));
let n = 0;
const sockPath = (): string => join(dir, `s${n++}`, 'node.sock');
const logs: [string, Record<string, unknown> | undefined][] = [];
const log: LogFn = (event, fields) => { logs.push([event, fields]); };

/** Lines a raw client gets back for `send`, until `count` replies arrived. */
function raw(path: string, send: string, count: number): Promise<ControlReply[]> {
  return new Promise((resolve, reject) => {
    const s = net.createConnection(path);
    const got: ControlReply[] = [];
    let buf = '';
    const t = setTimeout(() => { s.destroy(); reject(new Error(`timeout; got ${JSON.stringify(got)}`)); }, 3000);
    s.on('connect', () => s.write(send));
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      buf += d;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        got.push(JSON.parse(buf.slice(0, i)) as ControlReply);
        buf = buf.slice(i + 1);
      }
      if (got.length >= count) { clearTimeout(t); s.destroy(); resolve(got); }
    });
    s.on('error', reject);
  });
}

test('control: status over the socket; socket 0600 in a new 0700 directory; close() removes it', async () => {
  const path = sockPath();
  const srv = await serveControl(path, fakeNode(), log);
  try {
    const st = statSync(path);
    assert.ok(st.isSocket());
    assert.is(st.mode & 0o777, 0o600);
    assert.is(st.uid, process.getuid!());
    assert.is(statSync(join(path, '..')).mode & 0o777, 0o700);
    const r = await controlRequest(path, { id: 4, cmd: 'status' });
    assert.equal(r, { id: 4, ok: true, status: fakeStatus() });
  } finally {
    await srv.close();
  }
  assert.not.ok(existsSync(path));
});

test('control: a switch-over streams progress through every phase, then the summary', async () => {
  const path = sockPath();
  const node = fakeNode({ total: 4, stepMs: 2 });
  const srv = await serveControl(path, node, log);
  try {
    const seen: SwitchoverProgress[] = [];
    const r = await controlRequest(path, { id: 9, cmd: 'switchover', to: 'b' }, (p) => seen.push(p));
    assert.equal(node.switchovers, ['b']);
    assert.ok('summary' in r && r.ok);
    if (!('summary' in r)) return;
    assert.is(r.id, 9);
    assert.is(r.summary.ok, true);
    assert.is(r.summary.moved, 4);
    // Every phase change is sent at once, whatever the throttle.
    const phases = seen.map((p) => p.phase).filter((ph, i, a) => a[i - 1] !== ph);
    assert.equal(phases, ['redirect-new', 'notify', 'moving', 'moving-ip', 'done']);
    assert.ok(logs.some(([e, f]) => e === 'control.switchover' && f?.to === 'b'));
  } finally {
    await srv.close();
  }
});

test('control: a failed switch-over is a summary with ok false; a throwing one an error reply', async () => {
  const path = sockPath();
  const srv = await serveControl(path, fakeNode(), log);
  try {
    const r = await controlRequest(path, { id: 1, cmd: 'switchover', to: 'zed' });
    assert.ok('summary' in r && r.summary.ok === false && r.summary.error === 'no such peer: zed');
    const e = await controlRequest(path, { id: 2, cmd: 'switchover', to: 'boom' });
    assert.equal(e, { id: 2, ok: false, error: 'the hand-over link to boom is down' });
  } finally {
    await srv.close();
  }
});

test('control: stop calls the node\'s stop and answers ok', async () => {
  const path = sockPath();
  const node = fakeNode();
  const srv = await serveControl(path, node, log);
  try {
    assert.equal(await controlRequest(path, { id: 3, cmd: 'stop' }), { id: 3, ok: true });
    assert.is(node.stopped, 1);
  } finally {
    await srv.close();
  }
});

test('control: bad JSON, bad shapes, unknown commands, an over-long line: error replies, the connection goes on', async () => {
  const path = sockPath();
  const srv = await serveControl(path, fakeNode(), log);
  try {
    const long = 'x'.repeat(MAX_LINE + 10);
    const got = await raw(path, [
      'not json', '[1]', '{"cmd":"status"}', '{"id":5,"cmd":"dance"}', '{"id":6}', '{"id":7,"cmd":"switchover","to":3}',
      long, '{"id":8,"cmd":"status"}', '',
    ].join('\n'), 8);
    assert.equal(got.slice(0, 6), [
      { id: 0, ok: false, error: 'bad request: not JSON' },
      { id: 0, ok: false, error: 'bad request: not a JSON object' },
      { id: 0, ok: false, error: 'bad request: "id" must be an integer' },
      { id: 5, ok: false, error: 'unknown command "dance" (status, switchover, stop)' },
      { id: 6, ok: false, error: 'bad request: "cmd" must be a string' },
      { id: 7, ok: false, error: 'bad request: "to" must be a node name or null' },
    ]);
    assert.equal(got[6], { id: 0, ok: false, error: `bad request: line longer than ${MAX_LINE} bytes` });
    assert.equal(got[7], { id: 8, ok: true, status: fakeStatus() });
    // A request split across writes, without a final newline, answered after the client's FIN.
    const r = await new Promise<string>((resolve) => {
      const s = net.createConnection({ path, allowHalfOpen: true });
      let out = '';
      s.setEncoding('utf8');
      s.on('data', (d: string) => { out += d; });
      s.on('end', () => { s.destroy(); resolve(out); });
      s.on('connect', () => { s.write('{"id":11,'); setTimeout(() => s.end('"cmd":"status"}'), 20); });
    });
    assert.equal(JSON.parse(r), { id: 11, ok: true, status: fakeStatus() });
  } finally {
    await srv.close();
  }
});

test('control: a stale socket is removed; a live node or a non-socket refuses', async () => {
  const path = sockPath();
  // A socket file nobody listens on: a node killed with SIGKILL leaves one behind.
  const mk = spawnSync(process.execPath, ['-e',
    `require('fs').mkdirSync(require('path').dirname(${JSON.stringify(path)}),{recursive:true});require('net').createServer().listen(${JSON.stringify(path)},()=>process.kill(process.pid,'SIGKILL'))`]);
  assert.is(mk.signal, 'SIGKILL');
  assert.ok(statSync(path).isSocket());
  await controlRequest(path, { id: 1, cmd: 'status' }).then(
    () => assert.unreachable('answered'),
    (e: unknown) => assert.is((e as Error).message, `no ferry node is listening on ${path} (is it running? see --config/--socket)`),
  );
  const srv = await serveControl(path, fakeNode(), log);
  try {
    assert.ok('status' in await controlRequest(path, { id: 1, cmd: 'status' }));
    await serveControl(path, fakeNode(), log).then(
      () => assert.unreachable('a second node was allowed on the same socket'),
      (e: unknown) => { assert.instance(e, ControlError); assert.is((e as Error).message, `another node is running on ${path}`); },
    );
    // The first node is still fine.
    assert.ok('status' in await controlRequest(path, { id: 2, cmd: 'status' }));
  } finally {
    await srv.close();
  }
  const file = join(dir, 'plain-file');
  writeFileSync(file, 'keep me');
  await serveControl(file, fakeNode(), log).then(
    () => assert.unreachable('a regular file was replaced'),
    (e: unknown) => assert.is((e as Error).message, `${file} exists and is not a socket; not touching it`),
  );
  assert.ok(existsSync(file));
});

test('control: many clients at once, one of them switching over', async () => {
  const path = sockPath();
  const srv = await serveControl(path, fakeNode({ total: 10, stepMs: 3 }), log);
  try {
    const sw = controlRequest(path, { id: 100, cmd: 'switchover', to: 'b' });
    const all = await Promise.all(Array.from({ length: 40 }, (_, i) => controlRequest(path, { id: i + 1, cmd: 'status' })));
    all.forEach((r, i) => { assert.is(r.id, i + 1); assert.ok('status' in r); });
    const r = await sw;
    assert.ok('summary' in r && r.summary.moved === 10);
  } finally {
    await srv.close();
  }
});

test('control: a client that disconnects mid-switch-over does not disturb the node', async () => {
  const path = sockPath();
  const node = fakeNode({ total: 10, stepMs: 5 });
  const srv = await serveControl(path, node, log);
  try {
    const first = await raw(path, '{"id":1,"cmd":"switchover","to":"b"}\n', 1); // destroys the socket after one progress line
    assert.ok('progress' in first[0]!);
    await new Promise((r) => setTimeout(r, 100)); // the switch-over finishes writing into a closed socket
    assert.equal(node.switchovers, ['b']);
    assert.ok('status' in await controlRequest(path, { id: 2, cmd: 'status' }));
  } finally {
    await srv.close();
  }
});

test('control: the client names missing sockets and silent nodes', async () => {
  const missing = join(dir, 'nobody.sock');
  await controlRequest(missing, { id: 1, cmd: 'status' }).then(
    () => assert.unreachable('answered'),
    (e: unknown) => { assert.instance(e, ControlError); assert.is((e as Error).message, `no ferry node is listening on ${missing} (is it running? see --config/--socket)`); },
  );
  const silentPath = join(dir, 'silent.sock');
  const silent = net.createServer(() => {}).listen(silentPath);
  await new Promise((r) => silent.once('listening', r));
  try {
    await controlRequest(silentPath, { id: 1, cmd: 'status' }, undefined, { timeoutMs: 100 }).then(
      () => assert.unreachable('answered'),
      (e: unknown) => assert.is((e as Error).message, `no reply from the node on ${silentPath} within 0.1 s`),
    );
  } finally {
    silent.close();
  }
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();
