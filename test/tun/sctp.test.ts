// ferry's SCTP against usrsctp (Debian libusrsctp-examples), a stack ferry did not write,
// through real TUN devices, over raw IP (protocol 132) and UDP encapsulation (RFC 6951, 9899):
//   - usrsctp `client` → `ferry echo --proto sctp` (a child process): lines in, the same bytes out;
//   - ferry (in this process, tun/sctp-tun.ts) → usrsctp `echo_server` and `discard_server`:
//     messages of many sizes on several streams, ordered and unordered, each with its PPID;
//   - every session is recorded by ferry (--pcap) and judged by tshark (PEERS.md §4).
// Everything runs in two namespaces this file creates and deletes (fs-<pid>-c, fs-<pid>-s).
// usrsctp learns its local addresses at start-up (PEERS.md §3): each TUN and its address exist
// before the usrsctp program that uses them starts. Needs root, /dev/net/tun, usrsctp's example
// programs and tshark: without them every test fails saying what to install (never skipped).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { addNetns, delNetns, ip, nsSpawn } from '../../tun/netns.ts';
import { openTun } from '../../tun/device.ts';
import { LINKTYPE } from '../../tun/pcap.ts';
import { PcapWriter } from '../../tun/pcap-writer.ts';
import { SctpHost, connect } from '../../tun/sctp-socket.ts';
import type { Message } from '../../tun/sctp-socket.ts';
import { SctpTunLink, openSctpTun } from '../../tun/sctp-tun.ts';
import { tsharkCheckMany } from '../helpers/tshark.ts';

const FERRY_JS = fileURLToPath(new URL('../../bin/ferry.js', import.meta.url));
const USRSCTP = '/usr/lib/usrsctp';
/** usrsctp clients → ferry services. */
const NS_C = `fs-${process.pid}-c`;
/** ferry's client → usrsctp servers. */
const NS_S = `fs-${process.pid}-s`;

/** What this machine lacks for these tests (with how to get it), or null. */
function missing(): string | null {
  const miss: string[] = [];
  if (process.getuid?.() !== 0) miss.push('root (CAP_NET_ADMIN): run the tests as root');
  if (!existsSync('/dev/net/tun')) miss.push('/dev/net/tun: modprobe tun');
  if (!['client', 'echo_server', 'discard_server'].every((p) => existsSync(`${USRSCTP}/${p}`))) miss.push(`usrsctp's programs in ${USRSCTP}: apt-get install -y libusrsctp-examples`);
  const pkgs = new Set<string>();
  for (const [cmd, pkg] of [['tshark', 'tshark'], ['mergecap', 'tshark'], ['ip', 'iproute2'], ['stdbuf', 'coreutils']] as const) if (!onPath(cmd)) pkgs.add(pkg);
  if (pkgs.size > 0) miss.push(`commands missing: apt-get install -y ${[...pkgs].join(' ')}`);
  if (!existsSync(fileURLToPath(new URL('../../build/Release/ferry_tun.node', import.meta.url)))) miss.push('the native addon: run npm install');
  return miss.length === 0 ? null : `SCTP interop tests cannot run: ${miss.join('; ')}`;
}

function onPath(cmd: string): boolean {
  try { execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }); return true; } catch { return false; }
}

const MISSING = missing();
const need = (): void => { if (MISSING !== null) assert.unreachable(MISSING); };

let dir = '';
const pcaps: string[] = [];
const children = new Set<ChildProcess>();
const timings: Record<string, number> = {};

test.before(() => {
  if (MISSING !== null) return;
  delNetns(NS_C);
  delNetns(NS_S);
  addNetns(NS_C);
  addNetns(NS_S);
  dir = mkdtempSync(join(tmpdir(), 'fs-'));
});

test.after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  if (MISSING === null) {
    delNetns(NS_C);
    delNetns(NS_S);
  }
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
  if (Object.keys(timings).length > 0) console.log(`\n  sctp.test timings (s): ${Object.entries(timings).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}`);
});

/** Run `fn`, recording its wall time under `name`. */
async function timed<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  try { return await fn(); } finally { timings[name] = (performance.now() - t0) / 1000; }
}

// ---------------------------------------------------------------------------- processes

/** A child process with its output collected and a promise of its exit. */
interface Proc { proc: ChildProcess; out(): string; err(): string; exited: Promise<number | null> }

function track(proc: ChildProcess): Proc {
  children.add(proc);
  let out = '', err = '';
  proc.stdout?.setEncoding('latin1').on('data', (s: string) => { out += s; });
  proc.stderr?.setEncoding('latin1').on('data', (s: string) => { err += s; });
  const exited = new Promise<number | null>((r) => proc.on('close', (code) => { children.delete(proc); r(code); }));
  return { proc, out: () => out, err: () => err, exited };
}

/** Resolve when `p` has printed something matching `re` on stdout; reject on exit or after `ms`. */
function waitOutput(p: Proc, re: RegExp, ms: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (e?: Error): void => { clearInterval(poll); clearTimeout(t); if (e) reject(e); else resolve(); };
    const poll = setInterval(() => { if (re.test(p.out())) done(); }, 20);
    const t = setTimeout(() => done(new Error(`${what}: nothing matching ${re} after ${ms} ms\nstdout: ${p.out().slice(-2000)}\nstderr: ${p.err().slice(-2000)}`)), ms);
    void p.exited.then((code) => { if (!re.test(p.out())) done(new Error(`${what} exited (${code}) before printing ${re}\nstdout: ${p.out().slice(-2000)}\nstderr: ${p.err().slice(-2000)}`)); });
  });
}

/** Resolve with the exit code of `p`, killing it (SIGKILL) after `ms`. */
async function exitWithin(p: Proc, ms: number): Promise<number | null | 'timeout'> {
  let timedOut = false;
  const t = setTimeout(() => { timedOut = true; p.proc.kill('SIGKILL'); }, ms);
  const code = await p.exited;
  clearTimeout(t);
  return timedOut ? 'timeout' : code;
}

/** `ferry <args>` as a service: resolves once it printed its `listening` line. */
async function ferryService(args: string[]): Promise<Proc> {
  const p = track(spawn(process.execPath, [FERRY_JS, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }));
  await waitOutput(p, /listening/, 20_000, `ferry ${args.join(' ')}`);
  return p;
}

/** SIGTERM a ferry service; it must exit 0 and take its device with it. */
async function stopService(p: Proc, dev: string, ns: string): Promise<void> {
  p.proc.kill('SIGTERM');
  const code = await exitWithin(p, 5000);
  assert.is(code, 0, `ferry exited ${code} on SIGTERM: ${p.err()}`);
  assert.throws(() => ip(['link', 'show', 'dev', dev], ns), /does not exist|Cannot find/, `device ${dev} left behind`);
}

// ---------------------------------------------------------- usrsctp client → ferry echo

/** `count` distinct printable lines, each shorter than usrsctp client's 80-byte fgets buffer. */
function lines(count: number, tag: string): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:!?-_=+*/()[]{}<>@#$%^&~';
  const r = randomBytes(count * 80);
  let s = '';
  for (let i = 0; i < count; i++) {
    const head = `${tag} ${i} `;
    const len = (r[i * 80]! % (78 - head.length)) + 1;
    let body = '';
    for (let j = 0; j < len; j++) body += alphabet[r[i * 80 + 1 + (j % 79)]! % alphabet.length];
    s += `${head}${body}\n`;
  }
  return s;
}

/** usrsctp `client` in NS_C against `ferry echo --proto sctp`: every line comes back, byte for byte. */
async function clientToFerryEcho(mode: 'raw' | 'udp', subnet: number): Promise<void> {
  need();
  const pcap = join(dir, `client-echo-${mode}.pcap`);
  const svc = await ferryService(['echo', '--proto', 'sctp', '--netns', NS_C, '--tun', `10.99.${subnet}.1/24`, '--ip', `10.99.${subnet}.2`, '--port', '7', '--pcap', pcap]);
  pcaps.push(pcap);
  const dev = /\(tun (\S+)/.exec(svc.out())?.[1] ?? '';
  assert.match(svc.out(), new RegExp(`listening on sctp 10\\.99\\.${subnet}\\.2:7 \\(tun \\S+ in netns ${NS_C}`));
  assert.match(svc.out(), /UDP encapsulation on port 9899/);
  try {
    const input = lines(200, mode);
    // client remote_addr remote_port [local_port [local_encaps_port [remote_encaps_port]]]
    const args = mode === 'raw' ? [`10.99.${subnet}.2`, '7'] : [`10.99.${subnet}.2`, '7', '0', '9899', '9899'];
    const c = track(nsSpawn(NS_C, `${USRSCTP}/client`, args, { stdio: ['pipe', 'pipe', 'pipe'] }));
    c.proc.stdin!.end(input);
    // It sends every line, shuts down once all is acknowledged and exits on SHUTDOWN COMPLETE.
    const code = await exitWithin(c, 15_000);
    assert.is(code, 0, `usrsctp client exited ${code}\nstdout: ${c.out().slice(-2000)}\nstderr: ${c.err()}`);
    assert.match(c.out(), /SCTP_COMM_UP/);
    assert.match(c.out(), /SCTP_SHUTDOWN_COMP/);
    // It writes each message it receives to stdout with write(2), unbuffered; its own printf
    // lines are buffered until exit, so the echo is one contiguous run of bytes.
    const at = c.out().indexOf(input);
    assert.ok(at >= 0, `the echo differs from what was sent (${input.length} bytes sent; client stdout: ${c.out().slice(0, 3000)})`);
    assert.is(c.out().indexOf(input, at + 1), -1, 'echoed twice');
    // ferry's own account of the association: one message per line, every byte.
    await waitOutput(svc, /association .* closed/, 5000, 'ferry echo');
    const m = /association 10\.99\.\d+\.1:\d+ closed: (\d+) messages \((\d+) bytes\) echoed/.exec(svc.out());
    assert.ok(m, svc.out());
    assert.is(Number(m[1]), 200);
    assert.is(Number(m[2]), Buffer.byteLength(input));
  } finally {
    await stopService(svc, dev, NS_C);
  }
}

test('preconditions: root, /dev/net/tun, usrsctp examples, tshark', () => {
  need();
});

test('usrsctp client → ferry echo --proto sctp over raw IP: 200 lines echoed exactly', async () => {
  await timed('client→echo raw', () => clientToFerryEcho('raw', 1));
});

test('usrsctp client → ferry echo --proto sctp over UDP encapsulation (9899): 200 lines echoed exactly', async () => {
  await timed('client→echo udp', () => clientToFerryEcho('udp', 2));
});

// ------------------------------------------------------- ferry → usrsctp echo / discard

interface Sent { data: Uint8Array; stream: number; ppid: number; unordered: boolean }

/** Messages of sizes around the fragmentation points, on 5 streams, ordered and unordered, each with its own PPID. */
function messages(): Sent[] {
  // usrsctp's echo_server and discard_server read into 10240-byte buffers: stay below that.
  const sizes = [1, 2, 3, 4, 5, 100, 1000, 1415, 1416, 1417, 1440, 1452, 1453, 2000, 2904, 2905, 4000, 5000, 6000, 8000, 9000, 10000];
  const out: Sent[] = [];
  for (let i = 0; i < 44; i++) {
    const size = sizes[i % sizes.length]!;
    // PPIDs tshark has no dissector for ('FS' + n), so it judges SCTP itself, not a guess at the payload.
    out.push({ data: new Uint8Array(randomBytes(size)), stream: i % 5, ppid: 0x46530000 + i, unordered: i % 3 === 2 });
  }
  return out;
}

const key = (m: { data: Uint8Array; stream: number; ppid: number; unordered: boolean }): string => `${m.stream}/${m.ppid}/${m.unordered}/${Buffer.from(m.data).toString('hex')}`;

/**
 * A fresh TUN in NS_S (ferry 10.99.<subnet>.2) with a pcap, then usrsctp `program` started
 * (line-buffered so its per-message lines can be read), then ferry connects and sends `msgs`.
 * echo: waits for every echo, then shuts down; discard: shuts down after sending.
 */
async function ferryToUsrsctp(program: 'echo_server' | 'discard_server', mode: 'raw' | 'udp', subnet: number, msgs: Sent[]): Promise<{ received: Message[]; server: string }> {
  need();
  const pcap = join(dir, `ferry-${program}-${mode}.pcap`);
  const t = openSctpTun({ tun: `10.99.${subnet}.1/24`, ip: `10.99.${subnet}.2`, netns: NS_S, pcap });
  pcaps.push(pcap);
  let srv: Proc | null = null;
  try {
    srv = track(nsSpawn(NS_S, 'stdbuf', ['-oL', `${USRSCTP}/${program}`], { stdio: ['ignore', 'pipe', 'pipe'] }));
    // It binds at once; an INIT sent too early is retransmitted by T1-init anyway (§5.1).
    await new Promise((r) => setTimeout(r, 150));
    const received: Message[] = [];
    const port = program === 'echo_server' ? 7 : 9;
    const a = connect(t.host, { remote: `10.99.${subnet}.1`, port, udpEncap: mode === 'udp' ? 9899 : null });
    let error: Error | null = null;
    const closed = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no SHUTDOWN COMPLETE after 15 s: ${received.length} of ${msgs.length} echoed, info ${JSON.stringify(a.info()?.stats)}`)), 15_000);
      a.on('close', () => { clearTimeout(timer); resolve(); });
    });
    a.on('error', (e: Error) => { error = e; });
    a.on('connect', () => {
      const path = a.info()?.paths[0];
      // Raw IP or RFC 6951 UDP to the peer's 9899, as asked.
      if (path?.udpPort !== (mode === 'udp' ? 9899 : null)) error = new Error(`path ${JSON.stringify(path)} is not ${mode}`);
      for (const m of msgs) a.send(m.data, { stream: m.stream, ppid: m.ppid, unordered: m.unordered });
      if (program === 'discard_server') a.shutdown();
    });
    a.on('message', (m: Message) => {
      received.push({ ...m, data: Buffer.from(m.data) });
      if (received.length === msgs.length) a.shutdown();
    });
    await closed;
    assert.is(error, null, `association error: ${String(error)}`);
    if (program === 'discard_server') {
      // Every message was acknowledged (graceful shutdown waits for that); wait until the
      // server has also reported each one it read.
      const re = /Msg of length \d+ .* complete 1/g;
      await new Promise<void>((resolve) => {
        const t0 = performance.now();
        const poll = setInterval(() => {
          if ((srv!.out().match(re)?.length ?? 0) >= msgs.length || performance.now() - t0 > 3000) { clearInterval(poll); resolve(); }
        }, 20);
      });
    }
    return { received, server: srv.out() };
  } finally {
    if (srv !== null) { srv.proc.kill('SIGKILL'); await srv.exited; }
    t.close();
  }
}

/** The echo holds every message exactly once, per stream the ordered ones in the order sent. */
function checkEcho(sent: Sent[], received: Message[]): void {
  assert.is(received.length, sent.length, 'message count');
  assert.equal(received.map(key).sort(), sent.map(key).sort(), 'the echoed messages (data, stream, PPID, unordered) are the ones sent');
  for (let s = 0; s < 5; s++) {
    const want = sent.filter((m) => m.stream === s && !m.unordered).map((m) => m.ppid);
    const got = received.filter((m) => m.stream === s && !m.unordered).map((m) => m.ppid);
    assert.equal(got, want, `ordered delivery on stream ${s}`);
  }
}

/** discard_server's lines "Msg of length N received from ... on stream S with SSN x and TSN y, PPID P, ..., complete 1". */
function checkDiscard(sent: Sent[], server: string): void {
  const seen = [...server.matchAll(/Msg of length (\d+) received from \S+ on stream (\d+) with SSN \d+ and TSN \d+, PPID (\d+), context \d+, complete (\d)/g)]
    .map((m) => `${m[2]}/${m[3]}/${m[1]}/${m[4]}`);
  assert.equal(seen.sort(), sent.map((m) => `${m.stream}/${m.ppid}/${m.data.length}/1`).sort(), 'discard_server read every message whole, on its stream, with its PPID');
}

test('ferry → usrsctp echo_server over raw IP: 44 messages (1..10000 B, 5 streams, ordered and unordered) echoed exactly', async () => {
  const sent = messages();
  const r = await timed('ferry→echo_server raw', () => ferryToUsrsctp('echo_server', 'raw', 11, sent));
  checkEcho(sent, r.received);
});

test('ferry → usrsctp echo_server over UDP encapsulation: the same messages echoed exactly', async () => {
  const sent = messages();
  const r = await timed('ferry→echo_server udp', () => ferryToUsrsctp('echo_server', 'udp', 12, sent));
  checkEcho(sent, r.received);
});

test('ferry → usrsctp discard_server over raw IP: every message read whole, on its stream, with its PPID', async () => {
  const sent = messages();
  const r = await timed('ferry→discard_server raw', () => ferryToUsrsctp('discard_server', 'raw', 13, sent));
  checkDiscard(sent, r.server);
});

test('ferry → usrsctp discard_server over UDP encapsulation: every message read whole', async () => {
  const sent = messages();
  const r = await timed('ferry→discard_server udp', () => ferryToUsrsctp('discard_server', 'udp', 14, sent));
  checkDiscard(sent, r.server);
});

// ------------------------------------------------------------------- multihoming failover

test('ferry → usrsctp echo_server, multihomed peer: the primary path dies mid-transfer, ferry fails over and every echo arrives', async () => {
  await timed('multihoming failover', multihomed);
});

async function multihomed(): Promise<void> {
  need();
  const pcap = join(dir, 'ferry-multihome.pcap');
  // usrsctp answers on two addresses of one TUN (bound to any address, it lists both in its
  // INIT ACK); ferry reaches it at the first. Built from the parts (not openSctpTun) so a
  // filter can sit between the host and the device: it cuts the path to the first address.
  const dev = openTun({ mode: 'tun', netns: NS_S, addr: ['10.99.21.1/24', '10.99.22.1/24'], txqueuelen: 1000 });
  const writer = new PcapWriter(pcap, { linkType: LINKTYPE.RAW });
  pcaps.push(pcap);
  const link = new SctpTunLink(dev, writer);
  let cut = false, dropped = 0;
  const toPrimary = (p: Uint8Array): boolean => p[0] === 0x45 && p[16] === 10 && p[17] === 99 && p[18] === 21 && p[19] === 1;
  const host = new SctpHost({
    addresses: ['10.99.21.2'],
    link: {
      send: (pkts) => link.send(cut ? pkts.filter((p) => !(toPrimary(p) && ++dropped > 0)) : pkts),
      onReceive: (cb) => link.onReceive(cb),
      close: () => link.close(),
    },
    // Short timers so that failover (§8.2: Path.Max.Retrans + 1 consecutive errors) takes
    // about a second instead of the default minute; prompt SACKs, because echo_server holds
    // a small reply back while its previous one is unacknowledged (Nagle).
    config: { assoc: { rtoInitial: 300, rtoMin: 200, rtoMax: 800, pathMaxRetrans: 1, hbInterval: 500, sackDelay: 5 } },
  });
  let srv: Proc | null = null;
  try {
    srv = track(nsSpawn(NS_S, `${USRSCTP}/echo_server`, [], { stdio: ['ignore', 'ignore', 'ignore'] }));
    await new Promise((r) => setTimeout(r, 150));
    const a = connect(host, { remote: '10.99.21.1', port: 7 });
    const events: string[] = [];
    let error: Error | null = null;
    a.on('error', (e: Error) => { error = e; });
    const t0 = performance.now();
    a.on('path', (e: { addr: string; state: string }) => events.push(`${e.addr} ${e.state} @${((performance.now() - t0) / 1000).toFixed(2)}s`));
    const sent: Sent[] = [];
    const received: Message[] = [];
    const N = 50;
    const next = (): void => {
      // One message at a time (each after the previous echo), so the cut lands mid-transfer.
      const i = sent.length;
      if (i === N) { a.shutdown(); return; }
      if (i === 20) { cut = true; events.push(`cut @${((performance.now() - t0) / 1000).toFixed(2)}s`); }
      const m = { data: new Uint8Array(randomBytes(200 + i * 50)), stream: i % 3, ppid: 0x46530000 + i, unordered: false };
      sent.push(m);
      a.send(m.data, { stream: m.stream, ppid: m.ppid });
    };
    a.on('message', (m: Message) => { received.push({ ...m, data: Buffer.from(m.data) }); next(); });
    // Start once the second address is confirmed by a HEARTBEAT (§5.4: data goes only to confirmed addresses).
    const started = new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`the second address was never confirmed: paths ${JSON.stringify(a.info()?.paths)}`)), 5000);
      a.on('path', (e: { addr: string; state: string }) => { if (e.addr === '10.99.22.1' && e.state === 'confirmed') { clearTimeout(t); resolve(); } });
    });
    await started;
    next();
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`stuck: ${received.length} of ${N} echoed, events ${events.join(', ')}, paths ${JSON.stringify(a.info()?.paths)}`)), 15_000);
      a.on('close', () => { clearTimeout(t); resolve(); });
    });
    assert.is(error, null, String(error));
    assert.ok(dropped > 0, 'nothing was sent to the dead address after the cut');
    assert.ok(events.some((e) => e.startsWith('10.99.21.1 inactive')), `the primary was never marked inactive: ${events.join(', ')}`);
    checkEcho(sent, received);
  } finally {
    if (srv !== null) { srv.proc.kill('SIGKILL'); await srv.exited; }
    host.close();
    writer.close();
  }
}

// ----------------------------------------------------------------------------- CLI errors

test('ferry discard --proto sctp: bad arguments end with a clear message and exit 2', async () => {
  need();
  const run = (args: string[]): Promise<{ code: number | null; err: string }> => {
    const p = track(spawn(process.execPath, [FERRY_JS, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }));
    return exitWithin(p, 20_000).then((code) => ({ code: code === 'timeout' ? null : code, err: p.err() }));
  };
  const [sameAddr, badPort] = await Promise.all([
    run(['discard', '--proto', 'sctp', '--netns', NS_C, '--tun', '10.99.20.1/24', '--ip', '10.99.20.1']),
    run(['discard', '--proto', 'sctp', '--netns', NS_C, '--tun', '10.99.20.1/24', '--ip', '10.99.20.2', '--udp-encap', '70000']),
  ]);
  assert.is(sameAddr.code, 2, sameAddr.err);
  assert.match(sameAddr.err, /^ferry discard: ferry's address 10\.99\.20\.1 is the kernel side's own address/);
  assert.is(badPort.code, 2, badPort.err);
  assert.match(badPort.err, /^ferry discard: --udp-encap 70000: a UDP port/);
  assert.not.match(sameAddr.err + badPort.err, /\n\s+at /, 'no stack trace');
});

// --------------------------------------------------------------------------------- tshark

test('tshark: every packet of every session above decodes cleanly with valid CRC32c / UDP checksums', async () => {
  need();
  assert.ok(pcaps.length > 0, 'no session ran');
  const present = pcaps.filter((p) => existsSync(p));
  assert.equal(present, pcaps, 'a session left no pcap');
  const r = await timed('tshark', () => tsharkCheckMany(pcaps));
  assert.ok(r.ok, r.problems.slice(0, 20).join('\n'));
});

test.run();
