// The control plane under attack (issue #10 item 3), against real `ferry node` processes
// (bin/lab.ts, namespaces fl-<pid>-*) and the real control socket:
//   - the hand-over link refuses a peer without the cluster key, an eavesdropper's replay of a
//     recorded session, a replayed frame and a reordered one (the node's log names each);
//   - a sealed snapshot accepted once is refused the second time (ReplayGuard, through the
//     node's own snapshot path);
//   - the control socket: `ferry node` refuses to start when the socket's directory is
//     group/world-writable (or, through serveControl, owned by someone else); a non-owner
//     (uid 65534 via setpriv) cannot connect;
//   - a key file others may read is refused at start;
//   - the cluster key never appears in the node's log, its stdout/stderr, `ferry status --json`
//     or the metrics, in hex or base64.
// Needs root, /dev/net/tun and setpriv (util-linux): without them the tests fail saying so.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab } from '../../bin/lab.ts';
import { ControlError, serveControl } from '../../migrate/control.ts';
import { ConfigError, parseNodeConfig } from '../../migrate/node-config.ts';
import type { NodeApi } from '../../migrate/node-types.ts';
import { nsRun } from '../../tun/netns.ts';
import { runFerry } from '../tun/helpers/services.ts';

const PREFIX = `fl-${process.pid}`;
const PROBE = fileURLToPath(new URL('../attack/helpers/handover-probe.ts', import.meta.url));
const TSX = fileURLToPath(new URL('../../node_modules/tsx/dist/loader.mjs', import.meta.url));
const METRICS = '127.0.0.1:9464';

function missing(): string | null {
  const miss: string[] = [];
  if (process.getuid?.() !== 0) miss.push('root: run the tests as root');
  if (!existsSync('/dev/net/tun')) miss.push('/dev/net/tun: modprobe tun');
  try { execFileSync('sh', ['-c', 'command -v setpriv && command -v curl'], { stdio: 'ignore' }); } catch { miss.push('setpriv and curl: apt-get install -y util-linux curl'); }
  if (!existsSync(fileURLToPath(new URL('../../build/Release/ferry_tun.node', import.meta.url)))) miss.push('the native addon: run npm install');
  return miss.length === 0 ? null : `control-plane tests cannot run: ${miss.join('; ')}`;
}
const MISSING = missing();
const need = (): void => { if (MISSING !== null) assert.unreachable(MISSING); };

const dir = mkdtempSync(join(tmpdir(), 'fl-cp-'));
let lab: Lab | null = null;
let keyHex = '';
let nodeOutput = '';
const log = (): void => {};

const fakeNode = (): NodeApi => ({
  status: () => ({}) as ReturnType<NodeApi['status']>,
  switchover: async () => ({}) as Awaited<ReturnType<NodeApi['switchover']>>,
  stop: async () => {},
} as unknown as NodeApi);

/** Run the probe in the peer namespace against node a's hand-over address. */
async function probe(mode: string, name = 'b'): Promise<Record<string, unknown>> {
  const r = await nsRun(lab!.nsOf('b'), process.execPath, ['--import', TSX, PROBE, mode, '10.211.0.1', '7400', name, keyHex], { timeoutMs: 20_000 });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  try { return JSON.parse(last) as Record<string, unknown>; } catch { throw new Error(`probe ${mode}: ${r.stdout}${r.stderr}`); }
}

/** Node a's log lines about the hand-over link that appeared after `from` characters, as text. */
async function linkLog(from: number, re: RegExp, ms = 3000): Promise<string> {
  const t0 = performance.now();
  for (;;) {
    const text = lab!.nodes.a!.log().slice(from);
    if (re.test(text) || performance.now() - t0 > ms) return text;
    await new Promise((r) => setTimeout(r, 50));
  }
}

test.before(async () => {
  if (MISSING !== null) return;
  lab = new Lab({ prefix: PREFIX, services: [{ name: 'echo', type: 'echo', proto: 'tcp', port: 7 }] });
  lab.build();
  // Only node a runs: the probe, in node b's namespace, speaks as peer "b".
  const a = await lab.start({ name: 'a', priority: 200, extra: { metrics: METRICS } });
  // Everything the node prints from here on (the lab reads its stdout only until 'ready').
  a.proc!.stdout!.on('data', (s: string) => { nodeOutput += s; });
  a.proc!.stderr!.on('data', (s: string) => { nodeOutput += s; });
  keyHex = (JSON.parse(readFileSync(lab.nodes.a!.configPath, 'utf8')) as { key: { hex: string } }).key.hex;
});

test.after(async () => {
  await lab?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('preconditions: root, /dev/net/tun, setpriv, curl', () => { need(); });

// ------------------------------------------------------------------------------ hand-over link

test('hand-over: a peer without the cluster key is refused (bad MAC on its hello)', async () => {
  need();
  const at = lab!.nodes.a!.log().length;
  const r = await probe('wrong-key');
  assert.is(r.closedByPeer, true, JSON.stringify(r));
  const text = await linkLog(at, /handover\.refused.*hello MAC does not verify/);
  assert.match(text, /handover\.refused.*hello MAC does not verify/);
  assert.not.match(text, /handover\.up/);
});

test('hand-over: a recorded session replayed verbatim is refused (fresh nonces key each session)', async () => {
  need();
  const at = lab!.nodes.a!.log().length;
  const r = await probe('record-replay');
  assert.is(r.replayClosedByPeer, true, JSON.stringify(r));
  // The recorded hello still verifies (it is the static hello key), the first data frame does not.
  const text = await linkLog(at, /handover\.(down|refused).*frame 1: MAC does not verify/);
  assert.ok(/handover\.(down|refused).*frame 1: MAC does not verify/.test(text), text);
});

test('hand-over: a replayed frame and a reordered frame end the link', async () => {
  need();
  let at = lab!.nodes.a!.log().length;
  assert.is((await probe('replay-frame')).closedByPeer, true);
  assert.match(await linkLog(at, /handover\.down.*frame 1 replayed/), /handover\.down.*frame 1 replayed \(expected 2\)/);
  at = lab!.nodes.a!.log().length;
  assert.is((await probe('reorder')).closedByPeer, true);
  assert.match(await linkLog(at, /handover\.down.*frame 2 arrived before 1/), /handover\.down.*frame 2 arrived before 1/);
});

test('hand-over: a snapshot envelope accepted once is refused the second time (ReplayGuard in the node)', async () => {
  need();
  const r = await probe('snapshot-twice');
  const replies = r.replies as { re: number; ok: boolean; error?: string }[];
  assert.is(replies.length, 2, JSON.stringify(r));
  const first = replies.find((x) => x.re === 1)!, second = replies.find((x) => x.re === 2)!;
  // The first passed the envelope (MAC, age, replay cache) and failed only as a snapshot...
  assert.is(first.ok, false);
  assert.match(first.error ?? '', /^snapshot refused/);
  // ...the second, byte-identical, never got that far.
  assert.is(second.ok, false);
  assert.is(second.error, 'envelope refused: replayed');
});

// ------------------------------------------------------------------------------ control socket

test('control socket: serveControl refuses a group- or world-writable directory, or one owned by another user', async () => {
  for (const [mode, re] of [[0o777, /everyone may write there \(mode 0777\)/], [0o770, /its group may write there \(mode 0770\)/], [0o1777, /everyone may write there \(mode 1777\)/]] as const) {
    const d = join(dir, `mode-${mode.toString(8)}`);
    mkdirSync(d);
    chmodSync(d, mode);
    await serveControl(join(d, 'node.sock'), fakeNode(), log).then(
      () => assert.unreachable(`served in a directory of mode ${mode.toString(8)}`),
      (e: unknown) => { assert.instance(e, ControlError); assert.match((e as Error).message, re); });
    assert.not.ok(existsSync(join(d, 'node.sock')), 'no socket left behind');
  }
  if (process.getuid?.() === 0) {
    const d = join(dir, 'nobodys');
    mkdirSync(d, { mode: 0o700 });
    chownSync(d, 65534, 65534);
    await serveControl(join(d, 'node.sock'), fakeNode(), log).then(
      () => assert.unreachable('served in a directory owned by uid 65534'),
      (e: unknown) => assert.match((e as Error).message, /belongs to uid 65534, not to this node's user \(uid 0\) or root/));
  }
  // 0755 (others may traverse, not write) is fine; the socket itself is 0600.
  const ok = join(dir, 'mode-755');
  mkdirSync(ok, { mode: 0o755 });
  chmodSync(ok, 0o755);
  const srv = await serveControl(join(ok, 'node.sock'), fakeNode(), log);
  await srv.close();
});

test('control socket: a non-owner (uid 65534) cannot connect; the owner can', async () => {
  need();
  const d = join(dir, 'traversable');
  mkdirSync(d, { mode: 0o755 });
  chmodSync(d, 0o755);
  chmodSync(dir, 0o755); // let uid 65534 reach it: only the socket's own mode stands in the way
  const path = join(d, 'node.sock');
  const srv = await serveControl(path, fakeNode(), log);
  try {
    const script = `const s = require('net').connect(process.argv[1]); s.on('connect', () => { console.log('connected'); s.destroy(); }); s.on('error', (e) => console.log(e.code));`;
    const as = (wrap: string[]): string => execFileSync(wrap[0]!, [...wrap.slice(1), process.execPath, '-e', script, path], { encoding: 'utf8' }).trim();
    assert.is(as(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups']), 'EACCES');
    assert.is(as(['env']), 'connected');
  } finally {
    await srv.close();
    chmodSync(dir, 0o700);
  }
});

test('ferry node refuses to start when its control socket directory is world-writable', async () => {
  need();
  const d = join(dir, 'open');
  mkdirSync(d);
  chmodSync(d, 0o777);
  const cfg = JSON.parse(readFileSync(lab!.nodes.a!.configPath, 'utf8')) as Record<string, unknown>;
  const path = join(dir, 'open.json');
  writeFileSync(path, JSON.stringify({ ...cfg, name: 'a', control: join(d, 'a.sock'), log: join(dir, 'open.log'), metrics: null, handover: '127.0.0.1:7499', peers: [] }), { mode: 0o600 });
  const r = await runFerry(['node', '--config', path], { wrapper: ['ip', 'netns', 'exec', lab!.nsOf('b')], timeoutMs: 20_000 });
  assert.is.not(r.code, 0, `ferry node started: ${r.out}${r.err}`);
  assert.match(r.out + r.err, /refusing to serve the control socket in .*open: everyone may write there \(mode 0777\)/);
  assert.not.ok(existsSync(join(d, 'a.sock')));
});

// ------------------------------------------------------------------------------ the key

test('key file: group/world-readable is refused at start; 0600 is taken', () => {
  const key = 'ab'.repeat(32);
  const base = { name: 'a', device: { cidr: '10.200.1.1/24' }, serviceIps: ['10.200.0.10'], handover: '10.203.0.1:7400' };
  const f = join(dir, 'cluster.key');
  writeFileSync(f, `${key}\n`, { mode: 0o644 });
  chmodSync(f, 0o644);
  const text = JSON.stringify({ ...base, key: { file: f } });
  assert.throws(() => parseNodeConfig(text, 'json', dir), (e: unknown) => e instanceof ConfigError
    && /key\.file: .*cluster\.key: group or others may read or write it \(mode 0644\): chmod 600/.test(e.message) && !e.message.includes(key));
  chmodSync(f, 0o640);
  assert.throws(() => parseNodeConfig(text, 'json', dir), /mode 0640/);
  chmodSync(f, 0o600);
  assert.is(Buffer.from(parseNodeConfig(text, 'json', dir).key).toString('hex'), key);
});

test('the cluster key appears nowhere: node log, stdout/stderr, ferry status --json, metrics (hex, HEX, base64, base64url)', async () => {
  need();
  const key = Buffer.from(keyHex, 'hex');
  const forms = [keyHex, keyHex.toUpperCase(), key.toString('base64'), key.toString('base64url'), key.toString('base64').slice(0, 24), keyHex.slice(0, 24)];
  const a = lab!.nodes.a!;
  const status = await runFerry(['status', '--config', a.configPath, '--json'], { timeoutMs: 20_000 });
  assert.is(status.code, 0, status.err);
  assert.ok(JSON.parse(status.out), 'status --json is JSON');
  const metrics = await nsRun(a.ns, 'curl', ['-sS', `http://${METRICS}/metrics`], { timeoutMs: 10_000 });
  assert.match(metrics.stdout, /^ferry_/m, `metrics: ${metrics.stdout.slice(0, 300)}${metrics.stderr}`);
  const outputs: Record<string, string> = {
    log: a.log(), output: nodeOutput, status: status.out + status.err, metrics: metrics.stdout,
  };
  assert.ok(outputs.log!.length > 1000, 'the node wrote a log (with the refusals above in it)');
  for (const [where, text] of Object.entries(outputs)) {
    for (const form of forms) assert.not.ok(text.includes(form), `the key (${form.slice(0, 6)}…) appears in ${where}`);
  }
});

test.run();
