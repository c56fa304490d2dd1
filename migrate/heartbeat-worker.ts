// The heartbeat thread: owns the UDP socket and the membership machine (membership.ts) on the
// real clock, watches the main thread's counter (hang watchdog) and reports role and peer
// changes to the main thread (heartbeat.ts). It keeps running while the main event loop is
// blocked; it is the only place in migrate/ that times heartbeats.
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { isIP } from 'node:net';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import {
  checkHeartbeat, encodeHeartbeat, heartbeatKey, parseHeartbeat,
  type HeartbeatStats, type ReplayState, type WorkerCommand, type WorkerInit, type WorkerReport,
} from './heartbeat.ts';
import { initMembership, nextDeadline, step, type MembershipAction, type MembershipEvent, type MembershipState } from './membership.ts';

const port = parentPort;
if (port === null) throw new Error('heartbeat-worker: must run as a worker thread');
const init = workerData as WorkerInit;
const post = (m: WorkerReport) => port.postMessage(m);

/** Our clock: ms since the Unix epoch, monotonic (timeOrigin is fixed, now() is monotonic). */
const clock = () => performance.timeOrigin + performance.now();

const macKey = heartbeatKey(init.key);
const bootId = new Uint8Array(randomBytes(8));
const peerNames = init.peers.map((p) => p.name);
const endpoints = new Map(init.peers.map((p) => [p.name, p.handover]));
const replay: ReplayState = {};
const stats: HeartbeatStats = { sent: 0, received: 0, refused: {}, sendErrors: 0, hangs: 0, niceApplied: false };
const cells = new Int32Array(init.counter);
const watchEvery = Math.max(1, Math.min(init.cfg.intervalMs, init.cfg.hangMs / 10));

let seq = 0;
let s: MembershipState | null = null;
let timer: ReturnType<typeof setTimeout> | null = null;
let lastCount = Atomics.load(cells, 0);
let lastMoveAt = clock();
let lastPost = 0;
let pending: Exclude<MembershipAction, { type: 'send' }>[] = [];
let closing = false;
let inflight = 0;

if (init.nice !== null) {
  // Linux: setpriority(PRIO_PROCESS, 0) applies to the calling thread only, so this raises the
  // heartbeat thread alone (Corosync runs its totem thread at real-time priority likewise).
  try { setPriority(0, init.nice); stats.niceApplied = true; } catch { /* not permitted: run at the default */ }
}

const sock = dgram.createSocket({ type: isIP(init.bind.host) === 6 ? 'udp6' : 'udp4' });
sock.on('error', (e: NodeJS.ErrnoException) => {
  if (s === null) {
    const why = e.code === 'EADDRINUSE' ? 'address in use' : e.code === 'EADDRNOTAVAIL' ? 'address not available on this host' : e.message;
    post({ t: 'error', message: `cannot bind UDP ${init.bind.host}:${init.bind.port}: ${why} (${e.code ?? 'error'})` });
    try { sock.close(); } catch { /* already closed */ }
  } else {
    stats.sendErrors++;
  }
});

sock.on('message', (msg) => {
  if (s === null || closing) return;
  const p = parseHeartbeat(msg, macKey);
  if (!p.ok) { refuse(p.error); return; }
  const d = p.value;
  const why = checkHeartbeat(d, init.name, peerNames, replay);
  if (why !== null) { refuse(why); return; }
  stats.received++;
  feed({ type: 'heartbeat', from: d.from, role: d.role, priority: d.priority, epoch: d.epoch, sentAt: d.sentAt, echo: d.echo, echoDelayMs: d.echoDelayMs });
});

function refuse(reason: string): void {
  stats.refused[reason] = (stats.refused[reason] ?? 0) + 1;
}

sock.bind(init.bind.port, init.bind.host, () => {
  s = initMembership({ name: init.name, priority: init.priority, peers: peerNames, intervalMs: init.cfg.intervalMs, timeoutMs: init.cfg.timeoutMs }, clock());
  post({ t: 'ready', port: sock.address().port });
  feed({ type: 'tick' });
});

/** The watchdog: has the main thread's counter moved within hangMs? */
function watch(now: number): void {
  const c = Atomics.load(cells, 0);
  if (c !== lastCount) {
    lastCount = c;
    lastMoveAt = now;
    if (s !== null && s.hung) run({ type: 'hung', hung: false }, now);
  } else if (s !== null && !s.hung && now - lastMoveAt >= init.cfg.hangMs) {
    stats.hangs++;
    run({ type: 'hung', hung: true }, now);
  }
}

function feed(ev: MembershipEvent): void {
  const now = clock();
  watch(now);
  run(ev, now);
  report(now);
  arm();
}

function run(ev: MembershipEvent, now: number): void {
  if (s === null) return;
  for (const a of step(s, ev, now)) {
    if (a.type !== 'send') { pending.push(a); continue; }
    const ep = endpoints.get(a.to);
    if (ep === undefined) continue;
    seq = (seq + 1) >>> 0;
    const buf = encodeHeartbeat({ ...a.heartbeat, from: init.name, to: a.to, bootId, seq }, macKey);
    stats.sent++;
    inflight++;
    sock.send(buf, ep.port, ep.host, (e) => {
      inflight--;
      if (e) stats.sendErrors++;
      if (closing && inflight === 0) close();
    });
  }
}

/** Post changes at once; otherwise a status refresh at most once per interval. */
function report(now: number): void {
  if (s === null || (pending.length === 0 && now - lastPost < init.cfg.intervalMs)) return;
  lastPost = now;
  post({ t: 'update', actions: pending, role: s.role, epoch: s.epoch, maxEpoch: s.maxEpoch, peers: s.peers, stats });
  pending = [];
}

function arm(): void {
  if (timer !== null) clearTimeout(timer);
  timer = null;
  if (s === null || closing) return;
  const now = clock();
  const at = Math.min(nextDeadline(s) ?? Infinity, now + watchEvery);
  // The tick runs from setImmediate, i.e. after libuv's poll phase: if this thread was starved
  // and the timer fires late, heartbeats already waiting in the socket are read first, so the
  // peer that sent them is not declared dead for our own delay.
  timer = setTimeout(() => { timer = null; setImmediate(() => { if (timer === null) feed({ type: 'tick' }); }); }, Math.max(0, at - now));
}

port.on('message', (m: WorkerCommand) => {
  if (s === null || closing) return;
  if (m.t === 'yield') feed({ type: 'yield', to: m.to });
  else if (m.t === 'assume') feed({ type: 'assume', epoch: m.epoch });
  else if (m.t === 'stop') {
    // Farewell heartbeats ('stopped'), then close once the kernel has them.
    feed({ type: 'stop' });
    closing = true;
    if (timer !== null) clearTimeout(timer);
    if (inflight === 0) close();
    else setTimeout(close, 200);
  }
});

let closed = false;
function close(): void {
  if (closed) return;
  closed = true;
  sock.close(() => post({ t: 'stopped' }));
}
