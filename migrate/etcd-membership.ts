// Membership on etcd (issue #9 item 3): leader election and failure detection through etcd
// leases, for clusters beyond two nodes, with fencing. Same surface as heartbeat.ts's
// Heartbeats (membership-api.ts), selected by `membership: {kind: etcd}` in the node config.
//
// Keys (P = the configured prefix, e.g. /ferry):
//   P/members/<name>  {"priority":N,"handover":"host:port"|null}   attached to the node's lease
//   P/leader          {"name":..,"priority":N}                      attached to the leader's lease;
//                     created only by a transaction that requires create_revision == 0
//   P/handoff         {"to":..,"from":..,"epoch":N}                 a planned hand-off in progress
//
// Epoch (fencing token): the leader key's create_revision. etcd revisions only grow, and a new
// leader key can be created only after the previous one was deleted (at a higher revision), so
// every leadership has a strictly higher epoch than every earlier one. It is read from the key's
// metadata rather than stored in its value, because a transaction cannot know the revision it
// is about to write.
//
// Election: a node with no leader key in sight waits rank × rankDelayMs and checks again, where
// rank = how many live members (member keys present) beat it on (priority, name) — the tie-break
// of membership.ts (larger name wins, as VRRP's larger address, RFC 5798 §6.4.3). So the best
// live node tries at once and the others only if it has not succeeded by their turn. This is the
// brief's "(255 - priority) × some ms" made relative to the live members: priorities 200 and 1
// then cost one step, not 199. A node that starts with no leader in sight first waits
// startupWaitMs from its own start and from the moment each better-ranked member appeared, so a
// better node that starts a moment later still wins. No preemption: a leader stays until it
// leaves, as keepalived's nopreempt and membership.ts.
//
// FENCING — why two nodes never both believe they are active:
//   Let T be the granted lease TTL and m the safety margin (default T/3). A keep-alive request
//   sent at local time s that gets a positive answer renewed the lease on the server at some
//   instant after s, so the server cannot expire the lease before (server time at s) + T. The
//   active node treats its leadership as valid only until s_last + T - m (s_last = send time of
//   the newest answered keep-alive, or of the grant) and steps down ('standby', reason
//   'lease-lost') when that instant passes without a newer answer — from a timer, and checked
//   again on every event. Any other node becomes active only by creating the leader key, which
//   the server allows only after our key is gone: deleted by us, or removed when the lease
//   expired on the server. Hence our step-down happens before anyone else can start, provided
//   that over an interval of T our clock does not run slower than the server's by more than m
//   (m/T = 1/3: a rate error of 33%; NTP-disciplined or not, real clocks err by parts per
//   million) and the step-down timer is not delayed by more than the remaining margin. The
//   clock is performance.now() (monotonic: wall-clock steps do not matter). A keep-alive
//   measured from its *send* time, not its reply, keeps the network delay on the safe side.
//   Known limit: this runs on the main event loop; a loop blocked longer than T - m makes the
//   node step down (and others take over) although it is merely busy — heartbeat.ts avoids that
//   with a worker thread; doing the same here is left for later.
//
// Planned hand-off: yieldTo(to) becomes 'standby' at once, then in one transaction guarded by
// our lease writes P/handoff = to and deletes the leader key; the target (which may have called
// assume()) sees the key vanish and creates it at once, deleting P/handoff. Other nodes leave a
// handoff to a live target alone for one TTL.
//
// Failure detection is the lease: a node that dies stops keeping its lease alive, and etcd
// removes its member key (and the leader key, if it held it) after at most T plus the server's
// expiry scan (500 ms in etcd 3.4). Changes reach every node through a watch on P/, plus a
// periodic re-read, so a broken watch costs latency and never correctness.
import { EventEmitter } from 'node:events';
import { Etcd3, type IKeyValue, type IRangeResponse } from 'etcd3';
import { NODE_NAME } from './heartbeat.ts';
import type { Endpoint, PeerConfig, PeerStatus, Role } from './node-types.ts';

export interface EtcdMembershipOptions {
  name: string;
  /** 1..255. */
  priority: number;
  /** etcd client URLs, e.g. ['http://127.0.0.1:2379']. */
  endpoints: string[];
  /** Key prefix for this cluster's keys, e.g. '/ferry'. */
  prefix: string;
  /** Lease TTL. etcd grants whole seconds (rounded up, and at least its minimum TTL); the granted TTL is what counts. */
  leaseTtlMs: number;
  /** This node's hand-over endpoint, published in its member key (peers() of the others show it). */
  handover?: Endpoint | null;
  /** Configured peers: listed by peers() even while absent from etcd. */
  peers?: PeerConfig[];
  /** Election delay per better-ranked live member (default max(50, TTL/10)). */
  rankDelayMs?: number;
  /** With no leader in sight after start, wait this long before the first election (default the TTL). */
  startupWaitMs?: number;
  /** Safety margin subtracted from the lease's validity (default TTL/3). */
  marginMs?: number;
  /** How long start() may take to reach etcd (default 5000 ms). */
  connectTimeoutMs?: number;
  /** Optional structured log of what the membership does. */
  log?: (event: string, fields?: Record<string, unknown>) => void;
}

export interface EtcdMembershipStats {
  /** Lease TTL granted by etcd (ms). */
  leaseTtlMs: number;
  leaseGrants: number;
  keepalives: number;
  keepaliveFailures: number;
  /** Leases etcd reported expired (a new one was granted). */
  leasesExpired: number;
  /** Step-downs because the lease's validity ran out. */
  leaseLost: number;
  elections: number;
  elected: number;
  reads: number;
  readFailures: number;
  watchErrors: number;
  /** Validity left on the lease now (ms), or null without a lease. */
  validForMs: number | null;
}

/** The leader key as read. */
interface LeaderView { name: string; epoch: number; lease: string }
interface MemberView { priority: number | null; handover: string | null; alive: boolean; lastSeen: number; aliveSince: number }

const now = () => performance.now();
const fmtEndpoint = (e: Endpoint) => (e.host.includes(':') ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`);
const td = new TextDecoder();

/** Validate options: the reason they are unusable, or null. */
export function checkEtcdMembershipOptions(o: EtcdMembershipOptions): string | null {
  if (typeof o.name !== 'string' || !NODE_NAME.test(o.name)) return `bad node name ${JSON.stringify(o.name)} (want [A-Za-z0-9_.-]{1,64})`;
  if (!Number.isInteger(o.priority) || o.priority < 1 || o.priority > 255) return `priority must be an integer 1..255, got ${o.priority}`;
  if (!Array.isArray(o.endpoints) || o.endpoints.length === 0) return 'needs at least one etcd endpoint';
  for (const e of o.endpoints) if (typeof e !== 'string' || !/^https?:\/\/[^/]+\/?$/.test(e)) return `bad etcd endpoint ${JSON.stringify(e)} (want http://host:port)`;
  if (typeof o.prefix !== 'string' || !o.prefix.startsWith('/')) return `prefix must start with '/', got ${JSON.stringify(o.prefix)}`;
  if (!(o.leaseTtlMs >= 1) || !Number.isFinite(o.leaseTtlMs)) return `leaseTtlMs must be >= 1, got ${o.leaseTtlMs}`;
  const ttl = Math.max(1000, Math.ceil(o.leaseTtlMs / 1000) * 1000);
  if (o.marginMs !== undefined && !(o.marginMs >= 0 && o.marginMs < ttl / 2)) return `marginMs must be in [0, TTL/2), got ${o.marginMs}`;
  if (o.rankDelayMs !== undefined && !(o.rankDelayMs >= 0 && Number.isFinite(o.rankDelayMs))) return `rankDelayMs must be >= 0, got ${o.rankDelayMs}`;
  if (o.startupWaitMs !== undefined && !(o.startupWaitMs >= 0 && Number.isFinite(o.startupWaitMs))) return `startupWaitMs must be >= 0, got ${o.startupWaitMs}`;
  for (const p of o.peers ?? []) if (!NODE_NAME.test(p.name) || p.name === o.name) return `bad peer name ${JSON.stringify(p.name)}`;
  return null;
}

/**
 * Events: 'role' (role, reason, epoch) with reasons 'startup' | 'peer-active' | 'peer-dead' |
 * 'assume' | 'yield' | 'lease-lost' | 'lease-regained' | 'conflict' | 'stop'; 'peer' (PeerStatus).
 */
export class EtcdMembership extends EventEmitter {
  private readonly o: EtcdMembershipOptions;
  private readonly p: string;
  private client: Etcd3 | null = null;
  private _role: Role = 'stopped';
  private _epoch = 0;
  private maxEpoch = 0;
  private leaseId: string | null = null;
  private ttlMs: number;
  /** Send time of the newest answered keep-alive (or of the grant). */
  private renewedAt = -Infinity;
  private leader: LeaderView | null = null;
  private members: Record<string, MemberView> = {};
  private handoff: { to: string; seenAt: number } | null = null;
  /** When this node first saw no leader key (reset when one is seen), or null. */
  private absentSince: number | null = null;
  private sawLeader = false;
  private startedAt = 0;
  /** assume(): take the leader key as soon as it is free (unless a newer leader than `assumeOver` appears). */
  private wantLead = false;
  private assumeOver = 0;
  /** The epoch we yielded (its key is never re-adopted, and its deletion is retried). */
  private yielded = 0;
  private timers: ReturnType<typeof setInterval>[] = [];
  private fence: ReturnType<typeof setTimeout> | null = null;
  private electTimer: ReturnType<typeof setTimeout> | null = null;
  private reading: Promise<void> | null = null;
  private readAgain = false;
  /** Highest etcd revision this node knows its own writes reached: older reads are stale. */
  private knownRev = 0;
  private kaInFlight = 0;
  private granting = false;
  private acquiring = false;
  /** The reason of the last acquire attempt, until it is settled (a lost reply is adopted under it). */
  private triedAs: string | null = null;
  private watcher: { cancel(): Promise<void> } | null = null;
  private stopping: Promise<void> | null = null;
  private starting: Promise<void> | null = null;
  private readonly s: Omit<EtcdMembershipStats, 'validForMs' | 'leaseTtlMs'> = {
    leaseGrants: 0, keepalives: 0, keepaliveFailures: 0, leasesExpired: 0, leaseLost: 0, elections: 0, elected: 0,
    reads: 0, readFailures: 0, watchErrors: 0,
  };

  constructor(o: EtcdMembershipOptions) {
    super();
    this.o = { ...o, endpoints: [...o.endpoints], peers: (o.peers ?? []).map((p) => ({ name: p.name, handover: { ...p.handover } })) };
    this.p = o.prefix.replace(/\/+$/, '');
    this.ttlMs = Math.max(1000, Math.ceil(o.leaseTtlMs / 1000) * 1000);
  }

  get role(): Role { return this._role; }
  get epoch(): number { return this._role === 'active' ? this._epoch : this.maxEpoch; }
  get name(): string { return this.o.name; }

  private get margin(): number { return this.o.marginMs ?? this.ttlMs / 3; }
  private get rankDelay(): number { return this.o.rankDelayMs ?? Math.max(50, this.ttlMs / 10); }
  private key(k: string): string { return `${this.p}/${k}`; }
  private get memberKey(): string { return this.key(`members/${this.o.name}`); }
  /** Until when our lease is certainly alive on the server (see FENCING). */
  private validUntil(): number { return this.leaseId === null ? -Infinity : this.renewedAt + this.ttlMs - this.margin; }
  private log(ev: string, f?: Record<string, unknown>): void { try { this.o.log?.(ev, f); } catch { /* a logger's bug is not ours */ } }

  /** Resolves once this node has a lease and its member key; rejects naming the endpoints otherwise. */
  start(): Promise<void> {
    if (this.starting === null) this.starting = this.doStart();
    return this.starting;
  }

  private async doStart(): Promise<void> {
    const bad = checkEtcdMembershipOptions(this.o);
    if (bad !== null) throw new Error(`etcd membership: ${bad}`);
    const connectMs = this.o.connectTimeoutMs ?? 5000;
    const callMs = Math.max(200, this.ttlMs / 3);
    const constant = { duration: 100, next() { return constant; } };
    const c = new Etcd3({
      hosts: this.o.endpoints,
      dialTimeout: connectMs,
      // Every unary call gets a deadline: a partitioned etcd must not leave calls hanging.
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + callMs }),
      faultHandling: { watchBackoff: constant },
    });
    this.client = c;
    try {
      await this.grant(Date.now() + connectMs);
    } catch (e) {
      this.client = null;
      c.close();
      throw new Error(`etcd membership: cannot reach etcd at ${this.o.endpoints.join(', ')}: ${(e as Error).message}`);
    }
    if (this.stopping !== null) return;
    this._role = 'starting';
    this.startedAt = now();
    this.watch();
    this.timers.push(setInterval(() => { void this.keepalive(); }, this.ttlMs / 6));
    this.timers.push(setInterval(() => this.read(), this.ttlMs / 4));
    for (const t of this.timers) t.unref?.();
    this.read();
    this.log('etcd.started', { lease: this.leaseId, ttlMs: this.ttlMs, endpoints: this.o.endpoints.join(',') });
  }

  /** Grant a lease and (re)write our member key on it. */
  private async grant(deadline?: number): Promise<void> {
    const c = this.client;
    if (c === null || this.granting) return;
    this.granting = true;
    try {
      const sent = now();
      const opts = deadline !== undefined ? { deadline } : {};
      const r = await c.leaseClient.leaseGrant({ TTL: Math.ceil(this.ttlMs / 1000) }, opts);
      if (r.error) throw new Error(r.error);
      this.ttlMs = Number(r.TTL) * 1000;
      this.leaseId = r.ID;
      this.renewedAt = sent;
      this.s.leaseGrants++;
      await c.put(this.memberKey).value(JSON.stringify({
        priority: this.o.priority, handover: this.o.handover ? fmtEndpoint(this.o.handover) : null,
      })).lease(r.ID).options(opts);
    } finally {
      this.granting = false;
    }
  }

  // ------------------------------------------------------------------------------ lease

  /**
   * One keep-alive, fired every TTL/6 whether or not earlier ones have answered: a request stuck
   * on a member that lost its raft leader must not hold back the next one, which may reach the
   * new leader. Each lives at most TTL/3. One that fails fast (refused: a dead member) is retried
   * at once, up to twice, since the retry may land on another endpoint.
   */
  private async keepalive(retries = 2): Promise<void> {
    const c = this.client;
    if (c === null || this.stopping !== null) return;
    const id = this.leaseId;
    if (id === null) { this.regrant(); return; }
    if (this.kaInFlight >= 4) return;
    this.kaInFlight++;
    const sent = now();
    let ttl: number;
    try {
      ttl = await this.keepaliveOnce(c, id, this.ttlMs / 3);
    } catch (e) {
      this.s.keepaliveFailures++;
      this.log('etcd.keepalive-failed', { error: (e as Error).message });
      if (retries > 0 && now() - sent < this.ttlMs / 12) setImmediate(() => { void this.keepalive(retries - 1); });
      return;
    } finally {
      this.kaInFlight--;
    }
    if (id !== this.leaseId) return;
    if (ttl <= 0) { this.leaseExpired(); return; }
    this.s.keepalives++;
    if (sent > this.renewedAt) this.renewedAt = sent;
    this.check();
  }

  private keepaliveOnce(c: Etcd3, id: string, timeoutMs: number): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      let done = false;
      let stream: { end(): void; cancel?(): void } | null = null;
      const finish = (f: () => void) => {
        if (done) return;
        done = true;
        clearTimeout(t);
        try { if (stream !== null) { stream.cancel?.(); stream.end(); } } catch { /* closing a dead stream */ }
        f();
      };
      const t = setTimeout(() => finish(() => reject(new Error('keep-alive timed out'))), timeoutMs);
      c.leaseClient.leaseKeepAlive({ deadline: Date.now() + timeoutMs }).then((s) => {
        stream = s as unknown as { end(): void; cancel?(): void };
        if (done) { finish(() => {}); try { s.end(); } catch { /* ignore */ } return; }
        s.on('data', (r) => finish(() => resolve(Number(r.TTL))));
        s.on('error', (e: Error) => finish(() => reject(e)));
        s.on('end', () => finish(() => reject(new Error('keep-alive stream ended'))));
        s.write({ ID: id });
      }, (e: Error) => finish(() => reject(e)));
    });
  }

  /** etcd says our lease is gone: whatever we held went with it. Get a new one. */
  private leaseExpired(): void {
    this.s.leasesExpired++;
    this.log('etcd.lease-expired', { lease: this.leaseId });
    this.leaseId = null;
    if (this._role === 'active') this.setRole('standby', 'lease-lost');
    this.regrant();
  }

  private regrant(): void {
    if (this.stopping !== null || this.granting) return;
    this.grant().then(() => this.read(), (e: Error) => this.log('etcd.grant-failed', { error: e.message }));
  }

  /** The fencing rule, checked on every event and from a timer at the validity deadline. */
  private check(): void {
    if (this._role !== 'active') return;
    const left = this.validUntil() - now();
    if (left <= 0) {
      this.s.leaseLost++;
      this.setRole('standby', 'lease-lost');
      return;
    }
    if (this.fence !== null) clearTimeout(this.fence);
    this.fence = setTimeout(() => { this.fence = null; this.check(); }, Math.ceil(left));
  }

  // ------------------------------------------------------------------------------ view

  private watch(): void {
    const c = this.client;
    if (c === null) return;
    // watcher() attaches at once (create() would too, but only hands the emitter over once
    // connected): every listener, 'error' included, is in place before anything can be emitted.
    const w = c.watch().prefix(`${this.p}/`).watcher();
    this.watcher = w;
    w.on('put', () => this.read());
    w.on('delete', () => this.read());
    w.on('connected', () => this.read());
    w.on('error', () => { this.s.watchErrors++; });
    w.on('disconnected', () => { this.s.watchErrors++; });
  }

  /** Re-read everything under the prefix (coalesced), then decide. */
  private read(): void {
    if (this.stopping !== null || this.client === null) return;
    if (this.reading !== null) { this.readAgain = true; return; }
    const c = this.client;
    this.reading = (async () => {
      do {
        this.readAgain = false;
        try {
          const r = await c.getAll().prefix(`${this.p}/`).exec();
          this.s.reads++;
          this.apply(r);
        } catch {
          this.s.readFailures++;
        }
        this.check();
      } while (this.readAgain && this.stopping === null);
    })().finally(() => { this.reading = null; });
  }

  private apply(r: IRangeResponse): void {
    // A read that left before our own acquire committed must not undo it.
    if (Number(r.header.revision) < this.knownRev) { this.readAgain = true; return; }
    const t = now();
    let leader: LeaderView | null = null;
    let handoff: string | null = null;
    const seen = new Set<string>();
    const mp = `${this.p}/members/`;
    for (const kv of r.kvs) {
      const k = kv.key.toString();
      if (k === this.key('leader')) leader = { name: jsonField(kv, 'name') ?? '', epoch: Number(kv.create_revision), lease: kv.lease };
      else if (k === this.key('handoff')) handoff = jsonField(kv, 'to');
      else if (k.startsWith(mp)) {
        const name = k.slice(mp.length);
        if (name === this.o.name || !NODE_NAME.test(name)) continue;
        seen.add(name);
        const pr = Number(jsonField(kv, 'priority'));
        const m = this.members[name];
        const hv = jsonField(kv, 'handover');
        const aliveSince = m !== undefined && m.alive ? m.aliveSince : t;
        this.members[name] = { priority: Number.isInteger(pr) ? pr : null, handover: hv, alive: true, lastSeen: t, aliveSince };
        if (m === undefined || !m.alive) this.peerEvent(name);
      }
    }
    for (const [name, m] of Object.entries(this.members)) {
      if (m.alive && !seen.has(name)) { m.alive = false; this.peerEvent(name); }
    }
    if (handoff === null) this.handoff = null;
    else if (this.handoff === null || this.handoff.to !== handoff) this.handoff = { to: handoff, seenAt: t };
    const prev = this.leader;
    this.leader = leader;
    if (leader !== null && leader.epoch > this.maxEpoch) this.maxEpoch = leader.epoch;
    this.decide(prev);
  }

  private decide(prev: LeaderView | null): void {
    const L = this.leader;
    const mine = L !== null && L.lease === this.leaseId && L.name === this.o.name;
    if (this._role === 'active') {
      if (L === null) this.setRole('standby', 'lease-lost');
      else if (!mine || L.epoch !== this._epoch) this.setRole('standby', 'conflict');
      return;
    }
    if (this._role === 'stopped') return;
    if (L !== null) {
      this.absentSince = null;
      this.clearElect();
      if (mine && L.epoch === this.yielded) { this.dropLeaderKey(); return; }
      if (mine && this.acquiring) return; // acquire() reports it
      if (mine && now() < this.validUntil()) {
        // Our key survived a lapse in keep-alives (or an acquire whose reply was lost): nobody
        // else can have led meanwhile, and the lease was just renewed.
        this.becomeActive(L.epoch, this.triedAs ?? 'lease-regained');
        return;
      }
      this.triedAs = null;
      this.sawLeader = true;
      if (this.wantLead && L.epoch > this.assumeOver && !mine) this.wantLead = false;
      if (this._role === 'starting') this.setRole('standby', 'peer-active');
      return;
    }
    // No leader key.
    const t = now();
    if (this.absentSince === null) this.absentSince = t;
    if (prev !== null) this.sawLeader = true;
    let at: number;
    const h = this.handoff;
    if (this.wantLead || (h !== null && h.to === this.o.name)) {
      at = t;
    } else {
      const better = this.better();
      at = this.absentSince + better.length * this.rankDelay;
      if (!this.sawLeader) {
        // Start-up: give every better-ranked member that registered its own start-up wait first,
        // so a node that merely started earlier does not beat a better one starting a moment later.
        const w = this.o.startupWaitMs ?? this.ttlMs;
        let base = this.startedAt + w;
        for (const m of better) base = Math.max(base, m.aliveSince + w);
        at = Math.max(at, base + better.length * this.rankDelay);
      }
      if (h !== null && this.members[h.to]?.alive) at = Math.max(at, h.seenAt + this.ttlMs);
    }
    if (at <= t) { this.clearElect(); void this.acquire(); return; }
    if (this.electTimer === null) {
      this.electTimer = setTimeout(() => { this.electTimer = null; this.read(); }, Math.ceil(at - t));
    }
  }

  /** The live members that beat this node on (priority, name): its rank is their number. */
  private better(): MemberView[] {
    const out: MemberView[] = [];
    for (const [name, m] of Object.entries(this.members)) {
      if (!m.alive || m.priority === null) continue;
      if (m.priority > this.o.priority || (m.priority === this.o.priority && name > this.o.name)) out.push(m);
    }
    return out;
  }

  private clearElect(): void {
    if (this.electTimer !== null) { clearTimeout(this.electTimer); this.electTimer = null; }
  }

  // ------------------------------------------------------------------------------ leadership

  private async acquire(): Promise<void> {
    const c = this.client;
    const id = this.leaseId;
    if (c === null || id === null || this.acquiring || now() >= this.validUntil()) return;
    this.acquiring = true;
    this.s.elections++;
    const reason = this.wantLead || this.handoff?.to === this.o.name ? 'assume' : this.sawLeader ? 'peer-dead' : 'startup';
    this.triedAs = reason;
    try {
      const lk = this.key('leader');
      const r = await c.if(lk, 'Create', '==', 0)
        .then(
          c.put(lk).value(JSON.stringify({ name: this.o.name, priority: this.o.priority })).lease(id),
          c.delete().key(this.key('handoff')),
        )
        .commit();
      if (r.succeeded && this.stopping === null && id === this.leaseId) {
        const epoch = Number(r.header.revision);
        if (epoch > this.maxEpoch) this.maxEpoch = epoch;
        if (epoch > this.knownRev) this.knownRev = epoch;
        this.leader = { name: this.o.name, epoch, lease: id };
        if (now() < this.validUntil()) this.becomeActive(epoch, reason);
        // else: our lease may be about to expire; the next read re-adopts the key if it is renewed.
      }
    } catch (e) {
      this.log('etcd.acquire-failed', { error: (e as Error).message });
    } finally {
      this.acquiring = false;
    }
    this.read();
  }

  private becomeActive(epoch: number, reason: string): void {
    if (this._role === 'active' || this._role === 'stopped') return;
    this._epoch = epoch;
    this.wantLead = false;
    this.triedAs = null;
    this.handoff = null;
    this.s.elected++;
    this.setRole('active', reason);
    this.check();
  }

  private setRole(role: Role, reason: string): void {
    if (this._role === role) return;
    this._role = role;
    if (role !== 'active' && this.fence !== null) { clearTimeout(this.fence); this.fence = null; }
    this.log('etcd.role', { role, reason, epoch: this.epoch });
    this.emit('role', role, reason, this.epoch);
  }

  /** Delete the leader key if it is still ours (a hand-off, or a yield whose delete failed). */
  private dropLeaderKey(to?: string): void {
    const c = this.client;
    const id = this.leaseId;
    if (c === null || id === null) return;
    const lk = this.key('leader');
    const ops = [c.delete().key(lk)];
    const put = to !== undefined ? [c.put(this.key('handoff')).value(JSON.stringify({ to, from: this.o.name, epoch: this.yielded }))] : [];
    c.if(lk, 'Lease', '==', id).then(...put, ...ops).commit().then(
      () => this.read(),
      (e: Error) => { this.log('etcd.yield-failed', { error: e.message }); this.read(); },
    );
  }

  /** Planned hand-off: stop being active now; the leader key goes to `to`. */
  yieldTo(to: string): void {
    if (this._role === 'stopped' || this.client === null) throw new Error('etcd membership: not running');
    if (to === this.o.name || !NODE_NAME.test(to)) throw new RangeError(`etcd membership: cannot yield to '${to}'`);
    if (this._role !== 'active') return;
    this.yielded = this._epoch;
    this.setRole('standby', 'yield');
    this.dropLeaderKey(to);
  }

  /** Planned hand-off target: take the leader key as soon as it is free (the epoch is etcd's: the argument is ignored). */
  assume(_epoch?: number): void {
    if (this._role === 'stopped' || this.client === null) throw new Error('etcd membership: not running');
    if (this._role === 'active') return;
    this.wantLead = true;
    this.assumeOver = this.leader?.epoch ?? this.maxEpoch;
    this.read();
  }

  /** Revoke the lease: leadership and membership go at once. Idempotent. */
  stop(): Promise<void> {
    if (this.stopping !== null) return this.stopping;
    this.stopping = (async () => {
      if (this.starting !== null) await this.starting.catch(() => {});
      for (const t of this.timers) clearInterval(t);
      this.timers = [];
      this.clearElect();
      if (this.fence !== null) { clearTimeout(this.fence); this.fence = null; }
      const was = this._role;
      this._role = 'stopped';
      if (was === 'active') this.emit('role', 'stopped', 'stop', this._epoch);
      const c = this.client;
      if (c !== null) {
        await this.watcher?.cancel().catch(() => {});
        if (this.leaseId !== null) await c.leaseClient.leaseRevoke({ ID: this.leaseId }, { deadline: Date.now() + 1000 }).catch(() => {});
        this.leaseId = null;
        await this.reading?.catch(() => {});
        c.close();
        this.client = null;
      }
    })();
    return this.stopping;
  }

  // ------------------------------------------------------------------------------ status

  peers(): PeerStatus[] {
    const names = new Set<string>([...this.o.peers!.map((p) => p.name), ...Object.keys(this.members)]);
    names.delete(this.o.name);
    return [...names].sort().map((n) => this.peerStatus(n));
  }

  private peerStatus(name: string): PeerStatus {
    const m = this.members[name];
    const cfg = this.o.peers!.find((p) => p.name === name);
    const alive = m?.alive ?? false;
    return {
      name,
      handover: m?.handover ?? (cfg ? fmtEndpoint(cfg.handover) : ''),
      alive,
      role: this.leader?.name === name ? 'active' : alive ? 'standby' : null,
      priority: m?.priority ?? null,
      rttMs: null,
      lastHeardMs: m === undefined ? null : Math.max(0, now() - m.lastSeen),
      linked: false,
    };
  }

  private peerEvent(name: string): void {
    this.emit('peer', this.peerStatus(name));
  }

  stats(): EtcdMembershipStats {
    return { ...this.s, leaseTtlMs: this.ttlMs, validForMs: this.leaseId === null ? null : Math.max(0, Math.round(this.validUntil() - now())) };
  }
}

/** A string or number field of a JSON value, or null (values are untrusted: any peer can write them). */
function jsonField(kv: IKeyValue, field: string): string | null {
  try {
    const v = JSON.parse(td.decode(kv.value)) as unknown;
    if (typeof v !== 'object' || v === null) return null;
    const f = (v as Record<string, unknown>)[field];
    return typeof f === 'string' || typeof f === 'number' ? String(f) : null;
  } catch {
    return null;
  }
}
