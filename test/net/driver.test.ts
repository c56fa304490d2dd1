// tun/driver.ts: batching, the single timer, process lifetime, and the SimNode adapter.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { AppEvent, ConnId } from '../../stack/api.ts';
import { Host, type Link, addSimHost } from '../../tun/driver.ts';
import { memLinkPair } from '../../tun/memlink.ts';
import { Sim } from '../../tun/sim.ts';
import { A, B, closed, hostPair, pseudoRandom, readAll, sha256, until, waitFor, within } from './helpers/pair.ts';
import type { Socket } from '../../tun/net.ts';
import { chance, prngInit } from '../../tun/prng.ts';

/** Wraps a link and records the size of every send() batch. */
function recording(link: Link): Link & { batches: number[] } {
  const batches: number[] = [];
  return {
    batches,
    send: (pkts) => { batches.push(pkts.length); link.send(pkts); },
    onReceive: (cb) => link.onReceive(cb),
    close: () => link.close(),
  };
}

test('batching: 50 connects in one turn go out in one link write; 50 SYNs in one read get 50 answers in one write', async () => {
  const [la, lb] = memLinkPair();
  const ra = recording(la), rb = recording(lb);
  const a = new Host({ addresses: [A], link: ra, secret: new Uint8Array(32).fill(1) });
  const b = new Host({ addresses: [B], link: rb, secret: new Uint8Array(32).fill(2) });
  try {
    const server = b.createServer((s) => s.resume());
    server.listen(80, undefined, 128);
    await waitFor(server, 'listening');
    const socks = Array.from({ length: 50 }, () => a.connect(80, B));
    await within(Promise.all(socks.map((s) => waitFor(s, 'connect'))), 5000, '50 connects');
    assert.is(ra.batches[0], 50, 'the 50 SYNs left in one write');
    assert.is(rb.batches[0], 50, 'the 50 SYN|ACKs left in one write');
    assert.is(b.stats.batches >= 1, true);
    for (const s of socks) s.destroy();
  } finally { a.close(); b.close(); }
});

test('timer: a lost tail segment is retransmitted on the driver\'s timer and the data arrives', async () => {
  let dropped = 0;
  // Drop the first data-bearing packet from a to b: nothing follows it, so only the RTO
  // (the driver's real timer feeding a tick) can recover it.
  const { a, b, close } = hostPair({}, {
    filter: (p, from) => {
      const len = (p[2]! << 8) | p[3]!;                    // IPv4 total length
      const ihl = (p[0]! & 15) * 4, doff = (p[ihl + 12]! >> 4) * 4;
      if (from === 0 && len > ihl + doff && dropped < 1) { dropped++; return false; }
      return true;
    },
  });
  try {
    const server = b.createServer((s) => s.pipe(s));
    server.listen(7);
    await waitFor(server, 'listening');
    const data = pseudoRandom(500, 9);
    const c = a.connect(7, B);
    const got = readAll(c, 15_000);
    const t0 = performance.now();
    c.end(data);
    assert.is(sha256(await got), sha256(data));
    assert.is(dropped, 1);
    assert.ok(a.stats.ticks > 0, 'the timer fired');
    assert.ok(performance.now() - t0 >= 150, 'recovery waited for an RTO');
  } finally { close(); }
});

test('lossy link on the real clock: 1 MB echo under 3% loss each way is byte-exact', async () => {
  const rng = prngInit(77);
  let lost = 0;
  const { a, b, close } = hostPair({}, { filter: () => { if (chance(rng, 0.03)) { lost++; return false; } return true; } });
  try {
    const server = b.createServer((s) => s.pipe(s));
    server.listen(7);
    await waitFor(server, 'listening');
    const data = pseudoRandom(1 << 20, 12);
    const c = a.connect(7, B);
    const got = readAll(c, 30_000);
    c.end(data);
    assert.is(sha256(await got), sha256(data));
    assert.ok(lost > 20, `${lost} packets lost`);
    assert.ok(a.info(c.id!)!.retransmits > 0, 'the sender retransmitted');
  } finally { close(); }
});

test('simultaneous close: both ends end() at once; both see end and close without error', async () => {
  const { a, b, close } = hostPair();
  try {
    let srv: Socket | null = null;
    const server = b.createServer({ allowHalfOpen: true }, (s) => { srv = s; });
    server.listen(8);
    await waitFor(server, 'listening');
    const c = a.connect({ port: 8, host: B, allowHalfOpen: true });
    await waitFor(c, 'connect');
    await until(() => srv !== null, 2000, 'accept');
    const s = srv as unknown as Socket;
    const errors: Error[] = [];
    c.on('error', (e) => errors.push(e)); s.on('error', (e) => errors.push(e));
    c.resume(); s.resume();
    c.end('x'); s.end('y');                                 // both FINs cross on the link
    await Promise.all([closed(c), closed(s)]);
    assert.equal(errors, []);
    assert.is(c.bytesRead, 1); assert.is(s.bytesRead, 1);
  } finally { close(); }
});

test('idle: no timer on a fresh host; idle established connections cause no wake-ups', async () => {
  const { a, b, close } = hostPair();
  const timerOf = (h: unknown) => (h as { timer: unknown }).timer;
  try {
    await new Promise((r) => setImmediate(r));
    assert.is(a.stats.timerArms, 0);
    assert.is(timerOf(a), null);
    const server = b.createServer((s) => s.resume());
    server.listen(80);
    await waitFor(server, 'listening');
    const socks = Array.from({ length: 10 }, () => a.connect(80, B));
    await Promise.all(socks.map((s) => waitFor(s, 'connect')));
    for (const s of socks) s.write('hello');
    // Once the ACKs have settled, no connection has a deadline: no timer is armed at all.
    await until(() => timerOf(a) === null && timerOf(b) === null, 3000, 'timers disarmed');
    const before = a.stats.ticks + b.stats.ticks + a.stats.steps + b.stats.steps;
    await new Promise((r) => setTimeout(r, 300));
    assert.is(a.stats.ticks + b.stats.ticks + a.stats.steps + b.stats.steps, before, 'nothing ran while idle');
    for (const s of socks) s.destroy();
  } finally { close(); }
});

function runChild(mode: string, waitMs: number): Promise<{ exited: boolean; out: string }> {
  const script = fileURLToPath(new URL('./helpers/exit-script.ts', import.meta.url));
  const child = spawn(process.execPath, [...process.execArgv, script, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
  return new Promise((resolve) => {
    let idleAt: NodeJS.Timeout | null = null;
    child.stdout.on('data', () => {
      if (idleAt === null && out.includes('idle')) {
        idleAt = setTimeout(() => { child.kill(); resolve({ exited: false, out }); }, waitMs);
      }
    });
    const hard = setTimeout(() => { child.kill(); }, 15_000);
    child.on('exit', () => { clearTimeout(hard); if (idleAt) clearTimeout(idleAt); resolve({ exited: out.includes('idle') && child.exitCode === 0, out }); });
  });
}

test('process lifetime: exits by itself once sockets and servers are closed; a listening server keeps it alive', async () => {
  const [closedRun, listeningRun] = await Promise.all([runChild('closed', 3000), runChild('listening', 1500)]);
  assert.ok(closedRun.out.includes('idle'), `child ran: ${closedRun.out}`);
  assert.is(closedRun.exited, true, 'exited on its own with code 0');
  assert.ok(listeningRun.out.includes('idle'), `child ran: ${listeningRun.out}`);
  assert.is(listeningRun.exited, false, 'still running while a server listens');
});

/**
 * A sends 1 MB to B over the simulator through the stack API (no sockets). With `migrateAt`,
 * A's whole state is cloned at that virtual time into a new Host that replaces A in the sim.
 */
function simTransfer(seed: number, migrateAt: number | null) {
  const sim = new Sim({ seed });
  let a = addSimHost(sim, 'a', { addresses: [A], secret: new Uint8Array(32).fill(1) });
  const b = addSimHost(sim, 'b', { addresses: [B], secret: new Uint8Array(32).fill(2) });
  sim.addLink('l', 'a:eth0', 'b:eth0', { delayMs: 5, loss: 0.02 });
  const data = pseudoRandom(1 << 20, 11);
  let sent = 0, srv: ConnId | null = null;
  const parts: Uint8Array[] = [];
  let conn: ConnId | null = null, eof = false;
  const fill = () => {
    while (conn !== null && sent < data.length) {
      const r = a.call({ type: 'send', id: conn, data: data.subarray(sent) });
      if (!r.ok || r.bytes === 0) return;
      sent += r.bytes;
    }
    if (conn !== null && sent === data.length) { a.call({ type: 'shutdown', id: conn }); conn = null; }
  };
  const onA = (ev: AppEvent) => { if (ev.type === 'connected' || ev.type === 'writable') fill(); };
  a.onEvent = onA;
  b.onEvent = (ev) => {
    if (ev.type === 'accept-ready') { const r = b.call({ type: 'accept', listener: ev.listener }); if (r.ok) srv = r.id; }
    if ((ev.type === 'readable' || ev.type === 'eof') && ev.id === srv) {
      for (;;) {
        const r = b.call({ type: 'recv', id: srv, max: 65536 });
        if (!r.ok) return;
        if (r.data.length > 0) parts.push(r.data);
        if (r.eof) { eof = true; return; }
        if (r.data.length === 0) return;
      }
    }
  };
  assert.ok(b.call({ type: 'listen', addr: null, port: 9, backlog: 8 }).ok);
  const c = a.call({ type: 'connect', local: null, localPort: null, remote: B, port: 9 });
  assert.ok(c.ok);
  conn = c.ok ? c.id : null;
  let migratedMidway = false;
  if (migrateAt !== null) {
    sim.at(migrateAt, () => {
      migratedMidway = sent > 0 && !eof;
      const next = new Host({ addresses: [], state: structuredClone(a.state), link: null, clock: sim.clock, timers: false });
      next.onEvent = onA;
      sim.replaceNode('a', next.simNode());
      a = next;
    });
  }
  const r = sim.run({ stopWhen: () => eof, until: 600_000 });
  assert.is(eof, true, `transfer finished (${r.reason} at ${r.now} ms)`);
  const got = Buffer.concat(parts);
  assert.is(got.length, data.length);
  assert.is(sha256(new Uint8Array(got)), sha256(data));
  assert.ok(sim.counters('l').ab.lost > 0, 'some packets were lost');
  return { migratedMidway };
}

test('SimNode: two hosts on the simulator move 1 MB byte-exact under 2% loss, on virtual time', () => {
  simTransfer(42, null);
});

test('SimNode: a Host adopting a cloned state mid-transfer (replaceNode) finishes the transfer', () => {
  const { migratedMidway } = simTransfer(43, 60);
  assert.is(migratedMidway, true, 'the clone was taken while data was flowing');
});

test.run();
