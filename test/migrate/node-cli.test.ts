// `ferry node`, `ferry status`, `ferry switchover` (bin/node-cli.ts) as a user runs them: real
// processes against a fake control server in this test, or a fake node behind `ferry node`
// (helpers/control-cli.ts). Exit codes: 0 ok, 1 runtime, 2 usage; never a stack trace.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatSummary, progressBar } from '../../bin/node-cli.ts';
import { serveControl } from '../../migrate/control.ts';
import { formatLogLine, makeLogger } from '../../migrate/node-log.ts';
import { fakeNode, fakeStatus } from './helpers/control-fake.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const HARNESS = join(ROOT, 'test/migrate/helpers/control-cli.ts');
const KEY_HEX = 'c0ffee00112233445566778899aabbccddeeff0123456789';
const dir = mkdtempSync(join(tmpdir(), 'hc-cli-'));
const noop = (): void => {};

interface Run { code: number | null; stdout: string; stderr: string }

/** Run the CLI to completion (asynchronously: the fake control server lives in this process). */
function ferry(args: string[], bin: string[] = ['--import', 'tsx', HARNESS]): Promise<Run> {
  return new Promise((resolveRun, reject) => {
    const p = spawn(process.execPath, [...bin, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    p.stdout.on('data', (d: Buffer) => { stdout += String(d); });
    p.stderr.on('data', (d: Buffer) => { stderr += String(d); });
    const t = setTimeout(() => { p.kill('SIGKILL'); reject(new Error(`ferry ${args.join(' ')}: timeout; ${stdout} ${stderr}`)); }, 30_000);
    p.on('close', (code) => { clearTimeout(t); resolveRun({ code, stdout, stderr }); });
  });
}

const noTrace = (r: Run): void => { assert.not.ok(/\n\s+at .+:\d+:\d+/.test(r.stderr), `stack trace on stderr:\n${r.stderr}`); };

async function withServer(fn: (path: string) => Promise<void>): Promise<void> {
  const path = join(dir, `ctl-${Math.random().toString(36).slice(2)}`, 'n.sock');
  const srv = await serveControl(path, fakeNode({ total: 4, stepMs: 2 }), noop);
  try { await fn(path); } finally { await srv.close(); }
}

test('cli: status --socket prints role, service IPs, peers, connections, counters; --json the raw status', () => withServer(async (path) => {
  const r = await ferry(['status', '--socket', path]);
  assert.is(r.code, 0, r.stderr);
  for (const want of [
    'node a: active (priority 100, epoch 7, up 1h02m)', 'service IPs: 10.200.0.10 (held here)',
    'b  alive  standby   prio  90  rtt 0.42 ms  heard 12 ms ago  link up  (10.203.0.2:7400)',
    'c  DOWN   -         prio   -  rtt -  heard never  link down', 'tcp   ESTABLISHED 12, TIME-WAIT 3', 'sctp  ESTABLISHED 2',
    'switch-over: none in progress', 'counters: switchovers 1, takeovers 0, moved out 40, moved in 2',
  ]) assert.ok(r.stdout.includes(want), `missing ${JSON.stringify(want)} in:\n${r.stdout}`);
  const j = await ferry(['status', '--socket', path, '--json']);
  assert.is(j.code, 0, j.stderr);
  assert.equal(JSON.parse(j.stdout), fakeStatus());
}));

test('cli: switchover --to b: summary on stdout, exit 0; a failure exits 1 with the error', () => withServer(async (path) => {
  const ok = await ferry(['switchover', '--to', 'b', '--socket', path]);
  assert.is(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^switch-over to b: done in [\d.]+ ms\n {2}connections: 4\/4 moved, 0 reset, 0 failed; longest move 3\.00 ms\n {2}steps: redirect-new/);
  assert.is(ok.stderr, ''); // not a terminal: no progress bar
  const js = await ferry(['switchover', '--to', 'b', '--socket', path, '--json']);
  assert.is(js.code, 0);
  assert.is(JSON.parse(js.stdout).moved, 4);
  const bad = await ferry(['switchover', '--to', 'zed', '--socket', path]);
  assert.is(bad.code, 1);
  assert.match(bad.stdout, /switch-over to zed: FAILED after .* in phase failed: no such peer: zed/);
  assert.is(bad.stderr, 'ferry switchover: no such peer: zed\n');
  const boom = await ferry(['switchover', '--to', 'boom', '--socket', path]);
  assert.is(boom.code, 1);
  assert.is(boom.stderr, 'ferry switchover: the hand-over link to boom is down\n');
}));

test('cli: no node on the socket: exit 1, one clear line', async () => {
  const path = join(dir, 'none.sock');
  const r = await ferry(['status', '--socket', path]);
  assert.is(r.code, 1);
  assert.is(r.stderr, `ferry status: no ferry node is listening on ${path} (is it running? see --config/--socket)\n`);
});

test('cli: bad arguments exit 2 with a message and no stack trace', async () => {
  const noTo = await ferry(['switchover', '--socket', join(dir, 'x.sock')]);
  assert.is(noTo.code, 2);
  assert.match(noTo.stderr, /^ferry: Missing required argument: to/);
  noTrace(noTo);
  const both = await ferry(['status', '--socket', 'a', '--config', 'b']);
  assert.is(both.code, 2);
  assert.match(both.stderr, /^ferry: Arguments config and socket are mutually exclusive/);
  const name = await ferry(['switchover', '--to', 'a b', '--socket', 'x']);
  assert.is(name.code, 2);
  assert.is(name.stderr, 'ferry switchover: --to "a b": not a node name\n');
  const noCfg = await ferry(['node']);
  assert.is(noCfg.code, 2);
  assert.match(noCfg.stderr, /Missing required argument: config/);
  const missing = await ferry(['node', '--config', join(dir, 'nope.yaml')]);
  assert.is(missing.code, 2);
  assert.is(missing.stderr, `ferry node: ${join(dir, 'nope.yaml')}: no such file\n`);
});

test('cli: ferry node --config bad.yaml: exit 2 naming every bad field, the key never shown', async () => {
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, `name: a\ndevice: { cidr: 10.200.1.1/24 }\nserviceIps: [10.200.0.10]\nhandover: 10.203.0.1:7400\n` +
    `key: { hex: "${KEY_HEX.slice(0, 20)}" }\nservices: [{ name: web, type: http, port: 70000 }]\nheartbaet: {}\n`);
  const r = await ferry(['node', '--config', bad]);
  assert.is(r.code, 2);
  assert.is(r.stderr, `ferry node: ${bad}: 3 problems\n` +
    "  heartbaet: unknown key (did you mean 'heartbeat'?)\n" +
    '  key.hex: too short: 10 bytes, at least 16 (32 hex digits)\n' +
    '  services[0].port: 70000 is not a port (1..65535)\n');
  assert.not.ok(r.stderr.includes(KEY_HEX.slice(0, 12)));
  noTrace(r);
});

/** Start `ferry node` (fake node) and wait for its `ready` line. */
function startNode(cfgPath: string, extra: string[] = []): Promise<{ proc: ReturnType<typeof spawn>; ready: string; out: () => string; err: () => string; exited: Promise<number | null> }> {
  return new Promise((resolveStart, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', HARNESS, 'node', '--config', cfgPath, ...extra], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    const exited = new Promise<number | null>((r) => proc.on('close', (code) => r(code)));
    const t = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`no ready line: ${out} ${err}`)); }, 30_000);
    proc.stderr!.on('data', (d: Buffer) => { err += String(d); });
    proc.stdout!.on('data', (d: Buffer) => {
      out += String(d);
      const line = out.split('\n').find((l) => l.includes('ready'));
      if (line !== undefined) { clearTimeout(t); resolveStart({ proc, ready: line, out: () => out, err: () => err, exited }); }
    });
    void exited.then((code) => { clearTimeout(t); reject(new Error(`exited ${code} before ready: ${out} ${err}`)); });
  });
}

function httpGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((res, rej) => {
    http.get(url, { agent: false }, (r) => {
      let body = '';
      r.setEncoding('utf8');
      r.on('data', (d: string) => { body += d; });
      r.on('end', () => res({ status: r.statusCode ?? 0, body }));
    }).on('error', rej);
  });
}

test('cli: ferry node serves the control socket and metrics, logs one line per event, stops on SIGTERM', async () => {
  const d = join(dir, 'node1');
  mkdirSync(d);
  writeFileSync(join(d, 'key'), KEY_HEX + '\n', { mode: 0o600 });
  const cfg = join(d, 'a.yaml');
  writeFileSync(cfg, `name: a\ndevice: { cidr: 10.200.1.1/24 }\nserviceIps: [10.200.0.10]\nhandover: 10.203.0.1:7400\n` +
    'key: { file: key }\ncontrol: run/a.sock\nlog: a.log\n');
  const n = await startNode(cfg, ['--metrics', '127.0.0.1:0']);
  try {
    const m = /^ferry node a ready: active, control (\S+), metrics (http:\/\/127\.0\.0\.1:\d+\/metrics)$/.exec(n.ready);
    assert.ok(m, n.ready);
    assert.is(m![1], join(d, 'run/a.sock'));
    const st = await ferry(['status', '--config', cfg, '--json']);
    assert.is(st.code, 0, st.stderr);
    assert.is(JSON.parse(st.stdout).name, 'a');
    const metrics = await httpGet(m![2]!);
    assert.is(metrics.status, 200);
    assert.ok(metrics.body.includes('ferry_node_role{node="a",role="active"} 1'));
    const sw = await ferry(['switchover', '--to', 'b', '--config', cfg]);
    assert.is(sw.code, 0, sw.stderr);
    assert.match(sw.stdout, /3\/3 moved/);
    n.proc.kill('SIGTERM');
    assert.is(await n.exited, 0);
  } finally {
    n.proc.kill('SIGKILL');
  }
  assert.not.ok(existsSync(join(d, 'run/a.sock')), 'socket removed');
  const lines = readFileSync(join(d, 'a.log'), 'utf8').trim().split('\n');
  for (const l of lines) assert.match(l, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z a [a-z.-]+( [A-Za-z0-9_.-]+=\S.*)?$/);
  const events = lines.map((l) => l.split(' ')[2]);
  for (const e of ['control.listening', 'node.started', 'metrics.listening', 'node.ready', 'control.switchover', 'shutdown', 'exit']) {
    assert.ok(events.includes(e), `${e} in ${events.join(' ')}`);
  }
  const started = lines.find((l) => l.includes(' node.started '))!;
  assert.ok(started.includes('key="<24 bytes>"'), started);
  assert.not.ok(lines.join('\n').toLowerCase().includes('c0ffee'), 'key bytes in the log');
  assert.ok(lines.some((l) => l.includes(' shutdown reason=SIGTERM')));
});

test('cli: a second ferry node on the same control socket refuses; stop over the socket ends the first', async () => {
  const d = join(dir, 'node2');
  mkdirSync(d);
  const cfg = join(d, 'a.json');
  writeFileSync(cfg, JSON.stringify({ name: 'a', device: { cidr: '10.200.1.1/24' }, serviceIps: ['10.200.0.10'], handover: '10.203.0.1:7400', key: { hex: KEY_HEX }, control: 'a.sock', log: 'a.log' }));
  const n = await startNode(cfg);
  try {
    const second = await ferry(['node', '--config', cfg]);
    assert.is(second.code, 1);
    assert.is(second.stderr, `ferry node: another node is running on ${join(d, 'a.sock')}\n`);
    const { controlRequest } = await import('../../migrate/control.ts');
    assert.equal(await controlRequest(join(d, 'a.sock'), { id: 1, cmd: 'stop' }), { id: 1, ok: true });
    assert.is(await n.exited, 0);
  } finally {
    n.proc.kill('SIGKILL');
  }
  assert.not.ok(existsSync(join(d, 'a.sock')));
});

test('cli: the progress bar and the summary text', () => {
  const p = { to: 'b', phase: 'moving' as const, total: 10, moved: 5, reset: 1, failed: 0, elapsedMs: 1234 };
  assert.is(progressBar(p, 10), '[######....] to b: moving, 5/10 moved (1 reset), 1.23 s');
  assert.is(progressBar({ ...p, total: 0, moved: 0, reset: 0, phase: 'done' }, 4), '[####] to b: done, 0/0 moved, 1.23 s');
  assert.is(formatSummary({ ...p, phase: 'failed', ok: false, error: 'peer b went away', maxMoveMs: 12, steps: { 'redirect-new': 1, notify: 3 } }),
    'switch-over to b: FAILED after 1.23 s in phase failed: peer b went away\n  connections: 5/10 moved, 1 reset, 0 failed; longest move 12 ms\n  steps: redirect-new 1.00 ms, notify 3.00 ms\n');
});

test('cli: bin/ferry.js has the node commands once bin/cli.ts registers them', async () => {
  const registered = readFileSync(join(ROOT, 'bin/cli.ts'), 'utf8').includes('registerNodeCommands');
  if (!registered) {
    // Until the lead adds the line, the harness above stands in; check it is really missing.
    const r = await ferry(['status', '--socket', join(dir, 'x.sock')], [join(ROOT, 'bin/ferry.js')]);
    assert.is(r.code, 2);
    assert.match(r.stderr, /Unknown argument|Unknown command/);
    return;
  }
  await withServer(async (path) => {
    const r = await ferry(['status', '--socket', path, '--json'], [join(ROOT, 'bin/ferry.js')]);
    assert.is(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout), fakeStatus());
  });
});

test('log: one line per record, ISO time, node, event, key=value; quoted when needed; bytes never shown', () => {
  assert.is(formatLogLine(Date.UTC(2026, 10, 27, 9), 'a', 'switchover.step', {
    step: 1, phase: 'redirect-new', to: 'b', ok: true, none: null, skipped: undefined, error: 'no link "x"\nmore',
    state: new Uint8Array([0xde, 0xad]), nested: { blob: new Uint8Array(3), n: 1 }, 'bad key': 'v', ip: 'fd00::1', e: new Error('gone'),
  }), '2026-11-27T09:00:00.000Z a switchover.step step=1 phase=redirect-new to=b ok=true none=null ' +
    'error="no link \\"x\\"\\nmore" state="<2 bytes>" nested={"blob":"<3 bytes>","n":1} bad_key=v ip=fd00::1 e="gone"');
  const lines: string[] = [];
  const log = makeLogger('b', null, { now: () => 0, write: (l) => lines.push(l) });
  log('peer.dead', { peer: 'a' });
  log('ready');
  assert.equal(lines, ['1970-01-01T00:00:00.000Z b peer.dead peer=a', '1970-01-01T00:00:00.000Z b ready']);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();
