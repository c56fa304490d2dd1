// The heartbeat transport (migrate/heartbeat.ts): the datagram codec and the receiver's
// checks, then real UDP on 127.0.0.1 between this process (the standby) and a heartbeat node in
// a child process (migrate/heartbeat-bench.ts child mode) that can be SIGKILLed, blocked, and
// put under full CPU load.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import {
  checkHeartbeat, encodeHeartbeat, emitHeartbeat, heartbeatBufferLen, heartbeatKey, Heartbeats, parseHeartbeat,
  HEARTBEAT_MIN_LEN, type HeartbeatDatagram, type ReplayState,
} from '../../migrate/heartbeat.ts';
import { freeUdpPort, spawnHeartbeatNode, waitRole, type ChildEvent, type ChildNode } from '../../migrate/heartbeat-bench.ts';
import type { HeartbeatConfig } from '../../migrate/node-types.ts';

const KEY = new Uint8Array(32).map((_, i) => i + 1);
const KEY_HEX = Buffer.from(KEY).toString('hex');
const OTHER = new Uint8Array(32).map((_, i) => 200 - i);
const HOST = '127.0.0.1';
const CFG: HeartbeatConfig = { intervalMs: 50, timeoutMs: 300, hangMs: 5000 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const DG: HeartbeatDatagram = {
  from: 'node-a', to: 'node-b', role: 'active', priority: 200, epoch: 7, seq: 42,
  bootId: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), sentAt: 1764230000123.25, echo: 1764230000100.5, echoDelayMs: 12.5,
};

// ------------------------------------------------------------------------------ codec

test('heartbeat: emit writes exactly heartbeatBufferLen bytes; parse gives the datagram back', () => {
  const mk = heartbeatKey(KEY);
  const len = heartbeatBufferLen(DG);
  assert.is(len, 44 + 1 + 6 + 1 + 6 + 32);
  const out = new Uint8Array(len + 4).fill(0xa5);
  emitHeartbeat(DG, mk, out);
  assert.equal(out.subarray(len), new Uint8Array(4).fill(0xa5), 'nothing written past the end');
  assert.equal([...out.subarray(0, 12)], [1, 1, 2, 200, 0, 0, 0, 42, 0, 0, 0, 7]);
  const p = parseHeartbeat(out.subarray(0, len), mk);
  assert.ok(p.ok);
  if (p.ok) assert.equal(p.value, DG);
  const none = parseHeartbeat(encodeHeartbeat({ ...DG, echo: null, role: 'stopped' }, mk), mk);
  assert.ok(none.ok && none.value.echo === null && none.value.role === 'stopped');
});

test('heartbeat: every truncation, extension and bit flip is refused; a wrong key is bad-mac', () => {
  const mk = heartbeatKey(KEY);
  const d = encodeHeartbeat(DG, mk);
  for (let n = 0; n < d.length; n++) {
    const r = parseHeartbeat(d.subarray(0, n), mk);
    assert.not.ok(r.ok, `length ${n} accepted`);
    if (!r.ok) assert.is(r.error, 'bad-length', `length ${n}`);
  }
  assert.not.ok(parseHeartbeat(new Uint8Array([...d, 0]), mk).ok);
  for (let i = 0; i < d.length * 8; i++) {
    const f = d.slice();
    f[i >> 3]! ^= 1 << (i & 7);
    const r = parseHeartbeat(f, mk);
    assert.not.ok(r.ok, `bit ${i} flipped was accepted`);
  }
  const v = d.slice(); v[0] = 2;
  assert.equal(parseHeartbeat(v, mk), { ok: false, error: 'bad-version' });
  const t = d.slice(); t[1] = 9;
  assert.equal(parseHeartbeat(t, mk), { ok: false, error: 'bad-type' });
  assert.equal(parseHeartbeat(d, heartbeatKey(OTHER)), { ok: false, error: 'bad-mac' });
  // Authentic but out of range (a sender bug): refused, not trusted.
  assert.equal(parseHeartbeat(encodeHeartbeat({ ...DG, priority: 0 }, mk), mk), { ok: false, error: 'bad-field' });
});

test('heartbeat: receiver checks: unknown sender, wrong destination, replay per boot id', () => {
  const replay: ReplayState = {};
  const peers = ['node-a'];
  assert.is(checkHeartbeat({ ...DG, from: 'node-x' }, 'node-b', peers, replay), 'unknown-sender');
  assert.is(checkHeartbeat({ ...DG, from: 'node-b' }, 'node-b', ['node-a', 'node-b'], replay), 'unknown-sender', 'our own name');
  assert.is(checkHeartbeat({ ...DG, to: 'node-c' }, 'node-b', peers, replay), 'wrong-destination');
  assert.is(checkHeartbeat(DG, 'node-b', peers, replay), null);
  assert.is(checkHeartbeat(DG, 'node-b', peers, replay), 'replay');
  assert.is(checkHeartbeat({ ...DG, seq: 41 }, 'node-b', peers, replay), 'replay');
  assert.is(checkHeartbeat({ ...DG, seq: 43 }, 'node-b', peers, replay), null);
  // A restart (new boot id) starts its own sequence; the old boot's numbers stay refused.
  const boot2 = new Uint8Array(8).fill(9);
  assert.is(checkHeartbeat({ ...DG, bootId: boot2, seq: 1 }, 'node-b', peers, replay), null);
  assert.is(checkHeartbeat({ ...DG, seq: 43 }, 'node-b', peers, replay), 'replay');
  assert.equal(structuredClone(replay), replay, 'plain data');
});

test('heartbeat: start() rejects bad configuration and a port in use with a clear message', async () => {
  const port = await freeUdpPort();
  const base = { name: 'a', priority: 10, key: KEY, bind: { host: HOST, port }, peers: [{ name: 'b', handover: { host: HOST, port: port + 1 } }], cfg: CFG };
  const reason = async (o: Partial<typeof base> & { cfg?: HeartbeatConfig }) => {
    try { await new Heartbeats({ ...base, ...o }).start(); return 'started'; } catch (e) { return (e as Error).message; }
  };
  assert.match(await reason({ priority: 0 }), /priority must be an integer 1\.\.255/);
  assert.match(await reason({ key: new Uint8Array(8) }), /at least 16 bytes/);
  assert.match(await reason({ cfg: { ...CFG, timeoutMs: 50 } }), /intervalMs < timeoutMs/);
  assert.match(await reason({ peers: [{ name: 'a', handover: { host: HOST, port: 1 } }] }), /duplicate node name 'a'/);
  assert.match(await reason({ peers: [{ name: 'b', handover: { host: '::1', port: 1 } }] }), /not an IPv4 address/);
  assert.match(await reason({ bind: { host: 'localhost', port } }), /must be an IP address/);
  const blocker = dgram.createSocket('udp4');
  await new Promise<void>((r) => blocker.bind(port, HOST, () => r()));
  try {
    assert.match(await reason({}), new RegExp(`cannot bind UDP 127\\.0\\.0\\.1:${port}: address in use \\(EADDRINUSE\\)`));
  } finally {
    blocker.close();
  }
  const h = new Heartbeats(base);
  assert.is(h.role, 'stopped');
  assert.throws(() => h.assume(), /not running/);
  await h.stop(); // stopping a node never started is fine
});

// ------------------------------------------------------------------------------ real UDP

interface Pair { a: ChildNode; b: Heartbeats; roles: { role: string; reason: string; epoch: number; at: number }[]; peerEvents: boolean[] }

/** Child node 'a' (active) and in-process node 'b' (standby), on fresh ports. */
async function pair(o: { cfgA?: Partial<HeartbeatConfig>; cfgB?: Partial<HeartbeatConfig>; pa?: number; bFirst?: boolean } = {}): Promise<Pair> {
  const pa = await freeUdpPort(), pb = await freeUdpPort();
  const b = new Heartbeats({
    name: 'b', priority: 100, key: KEY, bind: { host: HOST, port: pb }, cfg: { ...CFG, ...o.cfgB },
    peers: [{ name: 'a', handover: { host: HOST, port: o.pa ?? pa } }],
  });
  const roles: Pair['roles'] = [];
  const peerEvents: boolean[] = [];
  b.on('role', (role: string, reason: string, epoch: number) => roles.push({ role, reason, epoch, at: performance.now() }));
  b.on('peer', (p: { alive: boolean }) => peerEvents.push(p.alive));
  const a = await spawnHeartbeatNode({
    name: 'a', priority: 200, keyHex: KEY_HEX, host: HOST, port: pa, cfg: { ...CFG, ...o.cfgA },
    peers: [{ name: 'b', handover: { host: HOST, port: pb } }], hold: o.bFirst === true,
  });
  if (o.bFirst === true) {
    // b starts first; a (already loaded, so its start does not depend on how long spawning
    // a process takes) starts once b's thread runs: well inside b's start-up wait.
    await b.start();
    a.send({ cmd: 'start' });
    await a.waitFor((e) => e.ev === 'ready', 10000, 'a ready');
  } else {
    await a.waitFor((e) => e.ev === 'role' && e.role === 'active', 10000, 'a active');
    await b.start();
  }
  return { a, b, roles, peerEvents };
}

async function done(p: Pair): Promise<void> {
  await p.a.kill();
  await p.b.stop();
}

const roleEvents = (a: ChildNode) => a.events.filter((e): e is Extract<ChildEvent, { ev: 'role' }> => e.ev === 'role').map((e) => [e.role, e.reason, e.epoch]);

test('heartbeat (a): start-up elects the higher priority, also when the lower one starts first', async () => {
  // A start-up wait long enough that both threads are in it together even on a loaded machine.
  const slow = { intervalMs: 100, timeoutMs: 1500 };
  const p = await pair({ cfgA: slow, cfgB: slow, bFirst: true });
  try {
    await p.a.waitFor((e) => e.ev === 'role', 10000, 'a role');
    if (p.roles.length === 0) await waitRole(p.b, () => true, 5000);
    // b's wait ends first (it started first) and it defers to the better starting peer
    // ('startup'); had a's ended first, b would follow a's announcement ('peer-active').
    assert.equal(p.roles.map((r) => r.role), ['standby']);
    assert.ok(['startup', 'peer-active'].includes(p.roles[0]!.reason), p.roles[0]!.reason);
    assert.equal(roleEvents(p.a), [['active', 'startup', 1]]);
    await sleep(400);
    assert.is(p.b.role, 'standby');
    assert.is(p.b.epoch, 1);
    const [peer] = p.b.peers();
    assert.equal({ ...peer, rttMs: 0, lastHeardMs: 0 }, { name: 'a', handover: p.b.peers()[0]!.handover, alive: true, role: 'active', priority: 200, rttMs: 0, lastHeardMs: 0, linked: false });
    assert.ok(peer!.rttMs !== null && peer!.rttMs > 0 && peer!.rttMs < 50, `rtt ${peer!.rttMs}`);
    assert.ok(peer!.lastHeardMs !== null && peer!.lastHeardMs < 300, `last heard ${peer!.lastHeardMs}`);
    console.log(`      heartbeat rtt a→b on loopback: ${peer!.rttMs.toFixed(3)} ms`);
  } finally {
    await done(p);
  }
});

test('heartbeat (b): kill -9 of the active: the standby takes over in < timeoutMs + 2 intervals + 100 ms', async () => {
  const p = await pair();
  try {
    await sleep(300);
    assert.equal(p.roles.map((r) => [r.role, r.reason, r.epoch]), [['standby', 'peer-active', 1]]);
    const t0 = performance.now();
    p.a.proc.kill('SIGKILL');
    const got = await waitRole(p.b, (r) => r === 'active', 5000);
    const ms = got.at - t0;
    console.log(`      failure detection (kill -9 → standby active): ${ms.toFixed(1)} ms`);
    assert.equal([got.reason, got.epoch], ['peer-dead', 2]);
    assert.ok(ms < CFG.timeoutMs + 2 * CFG.intervalMs + 100, `detection took ${ms} ms`);
    assert.ok(ms > CFG.timeoutMs - CFG.intervalMs - 10, `detection suspiciously fast: ${ms} ms`);
    assert.equal(p.peerEvents, [true, false]);
    assert.is(p.b.peers()[0]!.alive, false);
  } finally {
    await done(p);
  }
});

/** Start n busy-loop processes; returns a function that kills them (by pid). */
function burnCpu(n: number): () => void {
  const procs = Array.from({ length: n }, () => spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' }));
  return () => { for (const c of procs) if (c.pid !== undefined && c.exitCode === null) process.kill(c.pid, 'SIGKILL'); };
}

test('heartbeat (c): no false takeover under full CPU load with the active main loop blocked 1.5 s', async () => {
  const p = await pair();
  let stopBurn = () => {};
  try {
    await sleep(300);
    assert.is(p.b.role, 'standby');
    const before = p.b.stats().received;
    stopBurn = burnCpu(4);
    await sleep(1000);
    p.a.send({ cmd: 'block', ms: 1500 });
    const blocking = await p.a.waitFor((e) => e.ev === 'blocking', 3000, 'blocking');
    // While a's main loop is blocked, watch how stale b's view of a gets.
    let maxSilence = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < 2500) {
      await sleep(20);
      maxSilence = Math.max(maxSilence, p.b.peers()[0]!.lastHeardMs ?? Infinity);
    }
    const unblocked = await p.a.waitFor((e) => e.ev === 'unblocked', 5000, 'unblocked');
    stopBurn();
    const blockedMs = (unblocked as { at: number }).at - (blocking as { at: number }).at;
    const received = p.b.stats().received - before;
    console.log(`      under load: a blocked ${blockedMs.toFixed(0)} ms, b heard ${received} heartbeats in ~3.5 s, longest silence ${maxSilence.toFixed(0)} ms`);
    assert.ok(blockedMs >= 1500, `a's main loop was blocked ${blockedMs} ms`);
    assert.equal(p.roles.map((r) => r.role), ['standby'], 'b never changed role after start-up');
    assert.equal(p.peerEvents, [true], 'b never saw a die');
    assert.is(p.b.role, 'standby');
    assert.equal(roleEvents(p.a), [['active', 'startup', 1]]);
    assert.ok(maxSilence < CFG.timeoutMs, `b went ${maxSilence} ms without a heartbeat`);
    assert.ok(received > 30, `only ${received} heartbeats arrived`);
  } finally {
    stopBurn();
    await done(p);
  }
});

test('heartbeat (d): a hung main loop (blocked longer than hangMs) does lead to takeover', async () => {
  const p = await pair({ cfgA: { hangMs: 1000 } });
  try {
    await sleep(300);
    p.a.send({ cmd: 'block', ms: 2500 });
    await p.a.waitFor((e) => e.ev === 'blocking', 3000, 'blocking');
    const t0 = performance.now();
    const got = await waitRole(p.b, (r) => r === 'active', 5000);
    const ms = got.at - t0;
    console.log(`      hung main loop → takeover after ${ms.toFixed(0)} ms (hangMs 1000, timeoutMs 300)`);
    assert.equal([got.reason, got.epoch], ['peer-dead', 2]);
    assert.ok(ms > 1000 && ms < 1000 + CFG.timeoutMs + 2 * CFG.intervalMs + 300, `takeover after ${ms} ms`);
    // a's thread heard b's higher epoch while hung; its main loop learns it when it runs again.
    const down = await p.a.waitFor((e) => e.ev === 'role' && e.role === 'standby', 5000, 'a standby');
    assert.equal([(down as { reason: string }).reason, (down as { epoch: number }).epoch], ['conflict', 2]);
    await p.a.waitFor((e) => e.ev === 'unblocked', 5000, 'unblocked');
    await sleep(300);
    p.a.send({ cmd: 'stats' });
    const st = await p.a.waitFor((e) => e.ev === 'stats', 3000, 'stats') as Extract<ChildEvent, { ev: 'stats' }>;
    assert.is(st.stats.hangs, 1);
    assert.equal([st.role, st.epoch], ['standby', 2]);
    assert.is(p.b.role, 'active');
    assert.equal(p.peerEvents, [true, false, true], 'b saw a go silent and come back');
  } finally {
    await done(p);
  }
});

test('heartbeat (e): forged, replayed, misdirected and truncated datagrams are refused and counted', async () => {
  // a → relay → b: the relay records a's genuine datagrams so they can be replayed.
  const relay = dgram.createSocket('udp4');
  await new Promise<void>((r) => relay.bind(0, HOST, () => r()));
  const relayPort = relay.address().port;
  const pb = await freeUdpPort(), pa = await freeUdpPort();
  const recorded: Uint8Array[] = [];
  relay.on('message', (m) => { recorded.push(new Uint8Array(m)); relay.send(m, pb, HOST); });
  const a = new Heartbeats({ name: 'a', priority: 200, key: KEY, bind: { host: HOST, port: pa }, cfg: CFG, peers: [{ name: 'b', handover: { host: HOST, port: relayPort } }] });
  const b = new Heartbeats({ name: 'b', priority: 100, key: KEY, bind: { host: HOST, port: pb }, cfg: CFG, peers: [{ name: 'a', handover: { host: HOST, port: pa } }] });
  const attacker = dgram.createSocket('udp4');
  try {
    await Promise.all([a.start(), b.start()]);
    await sleep(600);
    assert.ok(recorded.length >= 5);
    const send = (d: Uint8Array) => new Promise<void>((r) => attacker.send(d, pb, HOST, () => r()));
    // Genuine datagrams recorded earlier, sent again.
    for (const d of recorded.slice(0, 3)) await send(d);
    // A datagram under another cluster key, claiming to be an active 'a' with a huge epoch.
    const forged = { ...DG, from: 'a', to: 'b', epoch: 1e6, seq: 1e6, bootId: new Uint8Array(8).fill(0xee) };
    await send(encodeHeartbeat(forged, heartbeatKey(OTHER)));
    // Right key, but an unknown sender, the wrong destination, truncated.
    await send(encodeHeartbeat({ ...forged, from: 'mallory' }, heartbeatKey(KEY)));
    await send(encodeHeartbeat({ ...forged, to: 'c' }, heartbeatKey(KEY)));
    await send(recorded[4]!.subarray(0, 50));
    await sleep(200);
    const st = b.stats();
    assert.equal(st.refused, { replay: 3, 'bad-mac': 1, 'unknown-sender': 1, 'wrong-destination': 1, 'bad-length': 1 });
    assert.ok(st.received >= 10, 'the genuine stream is accepted');
    assert.is(b.epoch, 1, 'the forged epoch never reached the state machine');
    assert.is(b.role, 'standby');
    assert.is(a.role, 'active');
  } finally {
    attacker.close();
    relay.close();
    await Promise.all([a.stop(), b.stop()]);
  }
});

test('heartbeat: planned hand-off over real UDP: yieldTo on the active, assume on the target', async () => {
  const p = await pair();
  try {
    await sleep(300);
    p.a.send({ cmd: 'yield', to: 'b' });
    await p.a.waitFor((e) => e.ev === 'role' && e.role === 'standby', 3000, 'a standby');
    p.b.assume();
    assert.equal([p.b.role, p.b.epoch], ['active', 2], 'role and epoch visible at once');
    const got = await waitRole(p.b, (r) => r === 'active', 3000);
    assert.equal([got.reason, got.epoch], ['assume', 2]);
    await sleep(300);
    assert.equal(roleEvents(p.a), [['active', 'startup', 1], ['standby', 'yield', 1]]);
    p.a.send({ cmd: 'stats' });
    const st = await p.a.waitFor((e) => e.ev === 'stats', 3000, 'stats') as Extract<ChildEvent, { ev: 'stats' }>;
    assert.equal([st.role, st.epoch], ['standby', 2]);
    assert.throws(() => p.b.yieldTo('nobody'), /unknown peer/);
  } finally {
    await done(p);
  }
});

test('heartbeat: stop() says goodbye: the standby takes over without waiting for the timeout', async () => {
  const p = await pair();
  try {
    await sleep(300);
    const t0 = performance.now();
    p.a.send({ cmd: 'stop' });
    const got = await waitRole(p.b, (r) => r === 'active', 3000);
    const ms = got.at - t0;
    assert.ok(ms < CFG.timeoutMs - CFG.intervalMs, `took ${ms} ms`);
    await new Promise<void>((r) => (p.a.exited ? r() : p.a.proc.once('exit', () => r())));
    const again = p.b.stop();
    assert.is(p.b.stop(), again, 'stop is idempotent');
    await again;
    assert.is(p.b.role, 'stopped');
  } finally {
    await done(p);
  }
});

test.run();
