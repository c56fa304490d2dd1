// Heartbeats between HA nodes (issue #8 item 2): authenticated UDP datagrams on each node's
// hand-over host:port, sent and received in a worker thread that runs the membership machine
// (membership.ts) on the real clock, so that a main event loop that is merely busy (a long
// synchronous freeze of many connections) keeps heartbeating and is not taken over.
//
// A watchdog tells busy from hung: the main thread bumps a counter in a SharedArrayBuffer every
// hangMs/10; if the worker sees it stand still for hangMs, the main loop is hung and the worker
// stops heartbeating (membership 'hung' event), so a standby takes over; when the counter moves
// again heartbeats resume (and the node, hearing the new active's higher epoch, steps down).
//
// Datagram (all integers big-endian):
//
//    0  u8   version           1
//    1  u8   type              1 = heartbeat
//    2  u8   role              0 starting, 1 standby, 2 active, 3 stopped
//    3  u8   priority          1..255
//    4  u32  seq               per boot, starts at 1, +1 per datagram sent
//    8  u32  epoch
//   12  8    boot id           random per start
//   20  f64  sentAt            sender's clock (ms)
//   28  f64  echo              the last sentAt the sender received from the destination, -1 if none
//   36  f64  echoDelayMs       how long the sender held `echo` before this send
//   44  u8   fromLen, from     sender name (UTF-8, 1..64 bytes)
//    .  u8   toLen, to         destination name: a datagram reflected to a third node is refused
//    .  32   mac               HMAC-SHA-256(K, everything above), K = HMAC-SHA-256(clusterKey, 'ferry heartbeat v1')
//
// The receiver checks, in order: size and version/type (nothing else of an unauthenticated
// datagram is looked at), the MAC (constant time), field ranges, the sender is a configured
// peer, the destination is this node, and the sequence number is above the last one seen from
// that boot id (replay). Refusals are counted by reason and never reach the state machine.
import { createHmac } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import { Worker } from 'node:worker_threads';
import type { Parsed } from '../stack/wire/bytes.ts';
import { hmac, macEqual } from './envelope.ts';
import type { HeartbeatInfo, MembershipAction, PeerView } from './membership.ts';
import type { Endpoint, HeartbeatConfig, PeerConfig, PeerStatus, Role } from './node-types.ts';

// ------------------------------------------------------------------------------ datagram

export const HEARTBEAT_VERSION = 1;
export const HEARTBEAT_TYPE = 1;
const FIXED = 44;
const MAC_LEN = 32;
const MAX_NAME = 64;
/** Smallest and largest valid datagram. */
export const HEARTBEAT_MIN_LEN = FIXED + 1 + 1 + 1 + 1 + MAC_LEN;
export const HEARTBEAT_MAX_LEN = FIXED + 1 + MAX_NAME + 1 + MAX_NAME + MAC_LEN;
const ROLES: readonly Role[] = ['starting', 'standby', 'active', 'stopped'];
/** Node names: as NodeConfig.name. */
export const NODE_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** One heartbeat datagram, decoded. */
export interface HeartbeatDatagram extends HeartbeatInfo {
  from: string;
  to: string;
  /** 8 random bytes per start of the sender. */
  bootId: Uint8Array;
  /** uint32, per boot id, from 1. */
  seq: number;
}

/** Why a datagram was refused. */
export type HeartbeatRefusal =
  | 'bad-length' | 'bad-version' | 'bad-type' | 'bad-mac' | 'bad-field'
  | 'unknown-sender' | 'wrong-destination' | 'replay';

const te = new TextEncoder();
const td = new TextDecoder('utf-8', { fatal: true });
const keys = new WeakMap<Uint8Array, Uint8Array>();

/** The heartbeat MAC key for a cluster key (domain-separated from the envelope's and the link's). */
export function heartbeatKey(clusterKey: Uint8Array): Uint8Array {
  let k = keys.get(clusterKey);
  if (k === undefined) {
    if (clusterKey.length < 16) throw new RangeError(`cluster key must be at least 16 bytes, got ${clusterKey.length}`);
    k = new Uint8Array(createHmac('sha256', clusterKey).update('ferry heartbeat v1').digest());
    keys.set(clusterKey, k);
  }
  return k;
}

/** Bytes `emitHeartbeat` writes for `d`. */
export function heartbeatBufferLen(d: HeartbeatDatagram): number {
  return FIXED + 1 + te.encode(d.from).length + 1 + te.encode(d.to).length + MAC_LEN;
}

/** Write `d`, MACed under `macKey` (heartbeatKey()), into exactly heartbeatBufferLen(d) bytes of `out`. */
export function emitHeartbeat(d: HeartbeatDatagram, macKey: Uint8Array, out: Uint8Array): void {
  const from = te.encode(d.from), to = te.encode(d.to);
  if (from.length < 1 || from.length > MAX_NAME || to.length < 1 || to.length > MAX_NAME) throw new RangeError('heartbeat: node names are 1..64 bytes');
  if (d.bootId.length !== 8) throw new RangeError('heartbeat: boot id is 8 bytes');
  const len = FIXED + 1 + from.length + 1 + to.length + MAC_LEN;
  if (out.length < len) throw new RangeError(`heartbeat: output buffer ${out.length} < ${len}`);
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  dv.setUint8(0, HEARTBEAT_VERSION);
  dv.setUint8(1, HEARTBEAT_TYPE);
  dv.setUint8(2, ROLES.indexOf(d.role));
  dv.setUint8(3, d.priority);
  dv.setUint32(4, d.seq >>> 0);
  dv.setUint32(8, d.epoch >>> 0);
  out.set(d.bootId, 12);
  dv.setFloat64(20, d.sentAt);
  dv.setFloat64(28, d.echo === null ? -1 : d.echo);
  dv.setFloat64(36, d.echoDelayMs);
  let o = FIXED;
  dv.setUint8(o++, from.length); out.set(from, o); o += from.length;
  dv.setUint8(o++, to.length); out.set(to, o); o += to.length;
  out.set(hmac(macKey, out.subarray(0, o)), o);
}

/** `d` as a new datagram. */
export function encodeHeartbeat(d: HeartbeatDatagram, macKey: Uint8Array): Uint8Array {
  const out = new Uint8Array(heartbeatBufferLen(d));
  emitHeartbeat(d, macKey, out);
  return out;
}

/**
 * Parse and authenticate an untrusted datagram. Checks size, version and type, then the MAC,
 * then field ranges. Sender, destination and replay are the receiver's (HeartbeatReceiver).
 */
export function parseHeartbeat(buf: Uint8Array, macKey: Uint8Array): Parsed<HeartbeatDatagram, HeartbeatRefusal> {
  if (buf.length < HEARTBEAT_MIN_LEN || buf.length > HEARTBEAT_MAX_LEN) return { ok: false, error: 'bad-length' };
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (dv.getUint8(0) !== HEARTBEAT_VERSION) return { ok: false, error: 'bad-version' };
  if (dv.getUint8(1) !== HEARTBEAT_TYPE) return { ok: false, error: 'bad-type' };
  const fromLen = dv.getUint8(FIXED);
  const toAt = FIXED + 1 + fromLen;
  if (toAt + 1 + MAC_LEN > buf.length) return { ok: false, error: 'bad-length' };
  const toLen = dv.getUint8(toAt);
  const macAt = toAt + 1 + toLen;
  if (macAt + MAC_LEN !== buf.length) return { ok: false, error: 'bad-length' };
  if (!macEqual(hmac(macKey, buf.subarray(0, macAt)), buf.subarray(macAt))) return { ok: false, error: 'bad-mac' };
  // Authenticated from here on: a bad field is a sender bug, still refused rather than trusted.
  const role = ROLES[dv.getUint8(2)];
  const priority = dv.getUint8(3);
  const sentAt = dv.getFloat64(20), echoRaw = dv.getFloat64(28), echoDelayMs = dv.getFloat64(36);
  if (role === undefined || priority < 1 || !Number.isFinite(sentAt) || !Number.isFinite(echoRaw) || !Number.isFinite(echoDelayMs)
    || echoDelayMs < 0 || fromLen < 1 || toLen < 1) return { ok: false, error: 'bad-field' };
  let from: string, to: string;
  try {
    from = td.decode(buf.subarray(FIXED + 1, toAt));
    to = td.decode(buf.subarray(toAt + 1, macAt));
  } catch {
    return { ok: false, error: 'bad-field' };
  }
  return {
    ok: true,
    value: {
      from, to, role, priority, seq: dv.getUint32(4), epoch: dv.getUint32(8), bootId: buf.slice(12, 20),
      sentAt, echo: echoRaw < 0 ? null : echoRaw, echoDelayMs,
    },
  };
}

/** Boot ids remembered per sender (least recently used forgotten first). */
const BOOTS_PER_PEER = 8;

/** Replay state: per sender, recently seen boot ids (hex) with the highest seq of each. Plain data. */
export type ReplayState = Record<string, { boot: string; seq: number }[]>;

/**
 * The receiver's checks after parseHeartbeat: sender known, destination us, seq above the last
 * from that boot. Updates `replay` only when the datagram is accepted. A boot id not seen
 * before is accepted (a restarted peer). Limitation: datagrams recorded from a boot of a peer
 * that this node never heard (or has forgotten, after BOOTS_PER_PEER newer ones) can be replayed
 * to it once each; closing that needs freshness (synchronised clocks or a challenge).
 */
export function checkHeartbeat(
  d: HeartbeatDatagram, self: string, peers: readonly string[], replay: ReplayState,
): HeartbeatRefusal | null {
  if (d.from === self || !peers.includes(d.from)) return 'unknown-sender';
  if (d.to !== self) return 'wrong-destination';
  const boot = hex(d.bootId);
  const list = replay[d.from] ?? (replay[d.from] = []);
  const i = list.findIndex((b) => b.boot === boot);
  if (i >= 0 && d.seq <= list[i]!.seq) return 'replay';
  if (i >= 0) list.splice(i, 1);
  list.push({ boot, seq: d.seq });
  if (list.length > BOOTS_PER_PEER) list.shift();
  return null;
}

function hex(u: Uint8Array): string {
  let s = '';
  for (const b of u) s += (b < 16 ? '0' : '') + b.toString(16);
  return s;
}

// ------------------------------------------------------------------------------ main thread

export interface HeartbeatsOptions {
  name: string;
  /** 1..255. */
  priority: number;
  /** The cluster key (>= 16 bytes). */
  key: Uint8Array;
  /** This node's hand-over endpoint: UDP is bound on the same host and port number. */
  bind: Endpoint;
  peers: PeerConfig[];
  cfg: HeartbeatConfig;
  /**
   * Nice value for the heartbeat thread (Linux: per thread), best effort: raising it needs
   * root/CAP_SYS_NICE and is skipped silently otherwise. Default -10; null leaves it alone.
   */
  nice?: number | null;
}

export interface HeartbeatStats {
  /** Datagrams sent (send attempts). */
  sent: number;
  /** Datagrams accepted. */
  received: number;
  /** Datagrams refused, by reason (HeartbeatRefusal). */
  refused: Record<string, number>;
  /** Sends the socket reported as failed. */
  sendErrors: number;
  /** Times the watchdog found the main loop hung. */
  hangs: number;
  /** The heartbeat thread's nice value was applied. */
  niceApplied: boolean;
}

/** Worker → main thread. */
export type WorkerReport =
  | { t: 'ready'; port: number }
  | { t: 'error'; message: string }
  | { t: 'update'; actions: Exclude<MembershipAction, { type: 'send' }>[]; role: Role; epoch: number; maxEpoch: number; peers: PeerView[]; stats: HeartbeatStats }
  | { t: 'stopped' };

/** Main thread → worker. */
export type WorkerCommand =
  | { t: 'yield'; to: string }
  | { t: 'assume'; epoch: number | null }
  | { t: 'stop' };

/** What the worker gets as workerData. */
export interface WorkerInit {
  name: string;
  priority: number;
  key: Uint8Array;
  bind: Endpoint;
  peers: PeerConfig[];
  cfg: HeartbeatConfig;
  nice: number | null;
  /** Int32Array[1] the main thread bumps (the watchdog's heartbeat). */
  counter: SharedArrayBuffer;
}

/** How long start() waits for the worker to load and bind. */
const START_TIMEOUT_MS = 20000;
/** How long stop() waits for the worker's farewell heartbeats before terminating it. */
const STOP_TIMEOUT_MS = 1000;

/** Validate options: the reason they are unusable, or null. */
export function checkHeartbeatsOptions(o: HeartbeatsOptions): string | null {
  if (typeof o.name !== 'string' || !NODE_NAME.test(o.name)) return `bad node name ${JSON.stringify(o.name)} (want [A-Za-z0-9_.-]{1,64})`;
  if (!Number.isInteger(o.priority) || o.priority < 1 || o.priority > 255) return `priority must be an integer 1..255, got ${o.priority}`;
  if (!(o.key instanceof Uint8Array) || o.key.length < 16) return 'cluster key must be at least 16 bytes';
  const { intervalMs, timeoutMs, hangMs } = o.cfg;
  if (!(intervalMs >= 1) || !(timeoutMs > intervalMs) || !Number.isFinite(timeoutMs)) return `need 1 <= intervalMs < timeoutMs, got ${intervalMs} and ${timeoutMs}`;
  if (!(hangMs >= 10) || !Number.isFinite(hangMs)) return `hangMs must be >= 10, got ${hangMs}`;
  const fam = isIP(o.bind.host);
  if (fam === 0) return `bind host must be an IP address, got ${JSON.stringify(o.bind.host)}`;
  if (!Number.isInteger(o.bind.port) || o.bind.port < 1 || o.bind.port > 65535) return `bad bind port ${o.bind.port}`;
  const seen = new Set<string>([o.name]);
  for (const p of o.peers) {
    if (typeof p.name !== 'string' || !NODE_NAME.test(p.name)) return `bad peer name ${JSON.stringify(p.name)}`;
    if (seen.has(p.name)) return `duplicate node name '${p.name}'`;
    seen.add(p.name);
    if (isIP(p.handover.host) !== fam) return `peer ${p.name}: host ${p.handover.host} is not an IPv${fam} address like the bind address`;
    if (!Number.isInteger(p.handover.port) || p.handover.port < 1 || p.handover.port > 65535) return `peer ${p.name}: bad port ${p.handover.port}`;
  }
  return null;
}

const fmtEndpoint = (e: Endpoint) => (e.host.includes(':') ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`);
const wallNow = () => performance.timeOrigin + performance.now();

/**
 * The heartbeat transport, main-thread side. Events:
 *   'role' (role: Role, reason: string, epoch: number)  every role change (reasons: membership.ts RoleReason, or 'worker-exit')
 *   'peer' (p: PeerStatus)                              a peer turned alive or dead
 * Nothing is thrown at the event loop; errors at start reject start().
 */
export class Heartbeats extends EventEmitter {
  private readonly o: HeartbeatsOptions;
  private worker: Worker | null = null;
  private bump: ReturnType<typeof setInterval> | null = null;
  private _role: Role = 'stopped';
  private _epoch = 0;
  private maxEpoch = 0;
  private view: PeerView[] = [];
  private _stats: HeartbeatStats = { sent: 0, received: 0, refused: {}, sendErrors: 0, hangs: 0, niceApplied: false };
  private starting: Promise<void> | null = null;
  private stopping: Promise<void> | null = null;
  private stoppedResolve: (() => void) | null = null;

  constructor(o: HeartbeatsOptions) {
    super();
    this.o = { ...o, peers: o.peers.map((p) => ({ name: p.name, handover: { ...p.handover } })), cfg: { ...o.cfg } };
  }

  get role(): Role { return this._role; }
  get epoch(): number { return this._epoch; }
  get name(): string { return this.o.name; }

  /** Resolves once the UDP socket is bound and the worker runs; rejects with the reason otherwise. */
  start(): Promise<void> {
    if (this.starting === null) this.starting = this.doStart();
    return this.starting;
  }

  private doStart(): Promise<void> {
    const bad = checkHeartbeatsOptions(this.o);
    if (bad !== null) return Promise.reject(new Error(`heartbeat: ${bad}`));
    const counter = new SharedArrayBuffer(4);
    const cells = new Int32Array(counter);
    this.bump = setInterval(() => { Atomics.add(cells, 0, 1); }, Math.max(1, Math.floor(this.o.cfg.hangMs / 10)));
    this.bump.unref();
    const init: WorkerInit = {
      name: this.o.name, priority: this.o.priority, key: Uint8Array.from(this.o.key), bind: this.o.bind, peers: this.o.peers,
      cfg: this.o.cfg, nice: this.o.nice === undefined ? -10 : this.o.nice, counter,
    };
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const fail = (msg: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.teardown();
        reject(new Error(`heartbeat: ${msg}`));
      };
      const timer = setTimeout(() => fail(`worker did not start within ${START_TIMEOUT_MS} ms`), START_TIMEOUT_MS);
      let w: Worker;
      try {
        // A plain-JavaScript bootstrap registers tsx's loader inside the worker, then loads
        // heartbeat-worker.ts: that works whether or not this process runs under tsx, from any cwd.
        w = new Worker(new URL('./heartbeat-worker.mjs', import.meta.url), { workerData: init, stdout: false, stderr: false });
      } catch (e) {
        fail(`cannot start worker: ${(e as Error).message}`);
        return;
      }
      this.worker = w;
      w.on('message', (m: WorkerReport) => {
        if (m.t === 'ready') {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          this._role = 'starting';
          resolve();
        } else if (m.t === 'error') {
          fail(m.message);
        } else {
          this.onReport(m);
        }
      });
      w.on('error', (e) => {
        if (!settled) fail(`worker failed: ${e.message}`);
        else this.workerGone(`worker-error: ${e.message}`);
      });
      w.on('exit', (code) => {
        if (!settled) fail(`worker exited (code ${code}) before binding`);
        else this.workerGone('worker-exit');
      });
    });
  }

  private onReport(m: WorkerReport): void {
    if (m.t === 'stopped') { this.stoppedResolve?.(); return; }
    if (m.t !== 'update') return;
    if (this._role === 'stopped' && this.stopping !== null) return;
    this._role = m.role;
    this._epoch = m.epoch;
    this.maxEpoch = m.maxEpoch;
    this.view = m.peers;
    this._stats = m.stats;
    for (const a of m.actions) {
      if (a.type === 'role') this.emit('role', a.role, a.reason, a.epoch);
      else { const p = this.peerStatus(a.name); if (p) this.emit('peer', p); }
    }
  }

  private workerGone(reason: string): void {
    const was = this._role;
    this.teardown();
    if (this.stopping === null && was !== 'stopped') {
      this._role = 'stopped';
      this.emit('role', 'stopped', reason, this._epoch);
    }
  }

  private teardown(): void {
    if (this.bump !== null) { clearInterval(this.bump); this.bump = null; }
    const w = this.worker;
    this.worker = null;
    if (w !== null) { w.removeAllListeners('exit'); w.removeAllListeners('error'); w.on('error', () => {}); void w.terminate(); }
  }

  /** Say goodbye (peers take over at once), close the socket, end the worker. Idempotent. */
  stop(): Promise<void> {
    if (this.stopping !== null) return this.stopping;
    this.stopping = (async () => {
      if (this.starting !== null) await this.starting.catch(() => {});
      const w = this.worker;
      if (w !== null) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, STOP_TIMEOUT_MS);
          this.stoppedResolve = () => { clearTimeout(t); resolve(); };
          w.postMessage({ t: 'stop' } satisfies WorkerCommand);
        });
        this.worker = null;
        if (this.bump !== null) { clearInterval(this.bump); this.bump = null; }
        w.removeAllListeners('exit');
        await w.terminate();
      }
      this.teardown();
      this._role = 'stopped';
    })();
    return this.stopping;
  }

  /** Planned hand-off: this node becomes standby (call after every connection moved to `to`). */
  yieldTo(to: string): void {
    if (!this.o.peers.some((p) => p.name === to)) throw new RangeError(`heartbeat: unknown peer '${to}'`);
    const w = this.running();
    w.postMessage({ t: 'yield', to } satisfies WorkerCommand);
    if (this._role !== 'standby') this._role = 'standby'; // as the machine will; its 'role' event follows
  }

  /** Planned hand-off target: become active with `epoch` (default: above every epoch seen). */
  assume(epoch?: number): void {
    const w = this.running();
    const e = epoch ?? null;
    w.postMessage({ t: 'assume', epoch: e } satisfies WorkerCommand);
    this._role = 'active';
    this._epoch = e !== null && Number.isInteger(e) && e > this.maxEpoch ? e : this.maxEpoch + 1;
  }

  private running(): Worker {
    if (this.worker === null || this._role === 'stopped') throw new Error('heartbeat: not running');
    return this.worker;
  }

  /** Every configured peer as last reported by the heartbeat thread (linked: false; the node fills it in). */
  peers(): PeerStatus[] {
    return this.o.peers.map((p) => this.peerStatus(p.name)!);
  }

  private peerStatus(name: string): PeerStatus | null {
    const cfg = this.o.peers.find((p) => p.name === name);
    if (!cfg) return null;
    const v = this.view.find((p) => p.name === name);
    const now = wallNow();
    return {
      name,
      handover: fmtEndpoint(cfg.handover),
      alive: v?.alive ?? false,
      role: v?.role ?? null,
      priority: v?.priority ?? null,
      rttMs: v?.rttMs ?? null,
      lastHeardMs: v?.lastHeard == null ? null : Math.max(0, now - v.lastHeard),
      linked: false,
    };
  }

  stats(): HeartbeatStats {
    return { ...this._stats, refused: { ...this._stats.refused } };
  }
}
