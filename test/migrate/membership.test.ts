// The membership state machine (migrate/membership.ts) on a virtual clock: a discrete-event
// network of nodes (time = min(next deadline, next arrival), no real sleeping), with seeded
// latency, cuts (partitions), kills and restarts. After every step the state must survive
// structuredClone unchanged (plain data), and a node's next deadline must lie in the future.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  initMembership, nextDeadline, outranks, step,
  type MembershipAction, type MembershipEvent, type MembershipState,
} from '../../migrate/membership.ts';

const INTERVAL = 50, TIMEOUT = 300;

interface Arrival { at: number; from: string; to: string; ev: MembershipEvent }
interface LogEntry { t: number; node: string; a: MembershipAction }
interface NodeDef { name: string; priority: number; startAt?: number }

class Net {
  t = 0;
  nodes: Record<string, MembershipState> = {};
  down = new Set<string>();
  /** 'a>b': datagrams from a to b are lost. */
  cut = new Set<string>();
  /** Return false to drop this datagram. */
  filter: (from: string, to: string, t: number) => boolean = () => true;
  latency: (from: string, to: string) => number = () => 1;
  queue: Arrival[] = [];
  log: LogEntry[] = [];
  pendingStarts: NodeDef[] = [];
  readonly names: string[];

  constructor(readonly defs: NodeDef[], latency?: (from: string, to: string) => number) {
    if (latency) this.latency = latency;
    this.names = defs.map((d) => d.name);
    this.pendingStarts = defs.slice();
    this.startDue();
  }

  private startDue(): void {
    for (const d of this.pendingStarts.filter((d) => (d.startAt ?? 0) <= this.t)) {
      this.pendingStarts.splice(this.pendingStarts.indexOf(d), 1);
      this.start(d);
    }
  }

  /** (Re)start a node: fresh state, as after a crash and reboot. */
  start(d: NodeDef): void {
    this.down.delete(d.name);
    this.nodes[d.name] = initMembership({
      name: d.name, priority: d.priority, peers: this.names.filter((n) => n !== d.name), intervalMs: INTERVAL, timeoutMs: TIMEOUT,
    }, this.t);
    this.feed(d.name, { type: 'tick' });
  }

  kill(name: string): void { this.down.add(name); }

  /** One event into one node: actions logged, sends queued; plain-data and deadline checks. */
  feed(name: string, ev: MembershipEvent): MembershipAction[] {
    const s = this.nodes[name]!;
    const acts = step(s, ev, this.t);
    assert.equal(structuredClone(s), s, 'state is plain data');
    const at = nextDeadline(s);
    if (at !== null) assert.ok(at > this.t, `${name}: next deadline ${at} not after now ${this.t}`);
    for (const a of acts) {
      if (a.type === 'send') {
        if (!this.cut.has(`${name}>${a.to}`) && this.filter(name, a.to, this.t)) {
          this.queue.push({ at: this.t + this.latency(name, a.to), from: name, to: a.to, ev: { type: 'heartbeat', from: name, ...a.heartbeat } });
        }
      } else {
        this.log.push({ t: this.t, node: name, a });
      }
    }
    return acts;
  }

  /** Advance virtual time to `until`, delivering datagrams and firing deadlines. */
  run(until: number): this {
    for (;;) {
      let next = Infinity;
      for (const q of this.queue) next = Math.min(next, q.at);
      for (const d of this.pendingStarts) next = Math.min(next, d.startAt ?? 0);
      for (const [n, s] of Object.entries(this.nodes)) {
        if (this.down.has(n)) continue;
        const at = nextDeadline(s);
        if (at !== null) next = Math.min(next, at);
      }
      if (next > until) { this.t = until; return this; }
      this.t = next;
      this.startDue();
      const due = this.queue.filter((q) => q.at <= this.t);
      this.queue = this.queue.filter((q) => q.at > this.t);
      for (const q of due) if (!this.down.has(q.to) && this.nodes[q.to]) this.feed(q.to, q.ev);
      for (const [n, s] of Object.entries(this.nodes)) {
        if (this.down.has(n)) continue;
        const at = nextDeadline(s);
        if (at !== null && at <= this.t) this.feed(n, { type: 'tick' });
      }
    }
  }

  role(n: string) { return this.nodes[n]!.role; }
  roles() { return Object.fromEntries(this.names.filter((n) => this.nodes[n]).map((n) => [n, this.role(n)])); }
  roleChanges(node?: string) {
    return this.log.filter((l) => l.a.type === 'role' && (node === undefined || l.node === node))
      .map((l) => ({ t: l.t, node: l.node, ...(l.a as Extract<MembershipAction, { type: 'role' }>) }))
      .map(({ type: _t, ...r }) => r);
  }
  peerEvents(node: string) {
    const out: { t: number; type: 'peer-dead' | 'peer-alive'; name: string }[] = [];
    for (const l of this.log) if (l.node === node && (l.a.type === 'peer-dead' || l.a.type === 'peer-alive')) out.push({ t: l.t, ...l.a });
    return out;
  }
}

test('membership: outranks compares priority, then name (larger wins)', () => {
  assert.ok(outranks({ priority: 200, name: 'a' }, { priority: 100, name: 'z' }));
  assert.ok(outranks({ priority: 100, name: 'b' }, { priority: 100, name: 'a' }));
  assert.not.ok(outranks({ priority: 100, name: 'a' }, { priority: 100, name: 'b' }));
});

test('membership: bad configuration is refused', () => {
  const base = { name: 'a', priority: 1, peers: ['b'], intervalMs: 50, timeoutMs: 300 };
  assert.throws(() => initMembership({ ...base, priority: 0 }, 0), /priority/);
  assert.throws(() => initMembership({ ...base, priority: 256 }, 0), /priority/);
  assert.throws(() => initMembership({ ...base, timeoutMs: 50 }, 0), /intervalMs/);
  assert.throws(() => initMembership({ ...base, peers: ['a'] }, 0), /duplicate/);
});

test('membership: start-up, 2 nodes: the higher priority becomes active with epoch 1 after the wait', () => {
  const net = new Net([{ name: 'a', priority: 100 }, { name: 'b', priority: 200 }]).run(2000);
  assert.equal(net.roleChanges(), [
    { t: TIMEOUT, node: 'a', role: 'standby', reason: 'startup', epoch: 0 },
    { t: TIMEOUT, node: 'b', role: 'active', reason: 'startup', epoch: 1 },
  ].sort((x, y) => (x.node < y.node ? -1 : 1)));
  assert.is(net.nodes.a!.epoch, 1, 'the standby follows the active epoch');
  assert.is(net.nodes.a!.active, 'b');
});

test('membership: start-up, 3 nodes: a priority tie is broken by the larger name', () => {
  const net = new Net([{ name: 'a', priority: 100 }, { name: 'b', priority: 150 }, { name: 'c', priority: 150 }]).run(2000);
  assert.equal(net.roles(), { a: 'standby', b: 'standby', c: 'active' });
  assert.equal(net.roleChanges('c'), [{ t: TIMEOUT, node: 'c', role: 'active', reason: 'startup', epoch: 1 }]);
  for (const n of ['a', 'b']) assert.is(net.nodes[n]!.active, 'c');
});

test('membership: start-up, staggered: a lower node whose wait ends first defers to the better starting peer', () => {
  const net = new Net([{ name: 'a', priority: 100 }, { name: 'b', priority: 200, startAt: 120 }]).run(2000);
  assert.equal(net.roleChanges(), [
    { t: TIMEOUT, node: 'a', role: 'standby', reason: 'startup', epoch: 0 },
    { t: 120 + TIMEOUT, node: 'b', role: 'active', reason: 'startup', epoch: 1 },
  ]);
});

test('membership: no preemption: a higher-priority node joining later stays standby', () => {
  const net = new Net([{ name: 'a', priority: 10 }, { name: 'b', priority: 250, startAt: 1000 }]).run(5000);
  assert.equal(net.roleChanges(), [
    { t: TIMEOUT, node: 'a', role: 'active', reason: 'startup', epoch: 1 },
    // b hears a's heartbeat (sent every 50 ms, 1 ms latency) well within its wait
    { t: net.roleChanges('b')[0]!.t, node: 'b', role: 'standby', reason: 'peer-active', epoch: 1 },
  ]);
  assert.ok(net.roleChanges('b')[0]!.t <= 1000 + INTERVAL + 1);
});

test('membership: the active dies: the best live standby takes over within timeoutMs, epoch + 1', () => {
  const net = new Net([{ name: 'a', priority: 200 }, { name: 'b', priority: 150 }, { name: 'c', priority: 100 }]).run(2000);
  assert.equal(net.roles(), { a: 'active', b: 'standby', c: 'standby' });
  net.kill('a');
  net.run(5000);
  // The last heartbeat a sent before the kill may still be in flight (1 ms).
  const lastHeard = net.nodes.b!.peers.find((p) => p.name === 'a')!.lastHeard!;
  assert.ok(lastHeard > 2000 - INTERVAL && lastHeard <= 2001);
  const ch = net.roleChanges().filter((c) => c.t > 2000);
  assert.equal(ch, [{ t: lastHeard + TIMEOUT, node: 'b', role: 'active', reason: 'peer-dead', epoch: 2 }]);
  assert.ok(ch[0]!.t - 2000 <= TIMEOUT + 1, 'detected within timeoutMs (+ 1 ms latency) of the kill');
  assert.equal(net.peerEvents('c').filter((e) => e.t > 2000).map((e) => [e.type, e.name]), [['peer-dead', 'a']]);
  assert.is(net.nodes.c!.active, 'b');
  assert.is(net.nodes.c!.epoch, 2);
});

test('membership: no takeover while heartbeats keep coming, even with 2 of 3 lost and jitter', () => {
  const net = new Net([{ name: 'a', priority: 200 }, { name: 'b', priority: 100 }]);
  let n = 0;
  net.filter = () => (n++ % 3) === 0;        // every third datagram arrives: gaps of 150 ms
  let k = 0;
  net.latency = () => 1 + ((k++ * 37) % 90); // 1..90 ms, deterministic jitter
  net.run(20000);
  assert.equal(net.roleChanges().map((c) => [c.node, c.role, c.t]), [['a', 'active', TIMEOUT], ['b', 'standby', TIMEOUT]]);
  assert.equal(net.peerEvents('b').map((e) => e.type), ['peer-alive']);
});

test('membership: a partition heals: the higher epoch stays active, the other steps down (conflict)', () => {
  const net = new Net([{ name: 'a', priority: 200 }, { name: 'b', priority: 100 }]).run(1000);
  assert.equal(net.roles(), { a: 'active', b: 'standby' });
  net.cut.add('a>b').add('b>a');
  net.run(2000);
  assert.equal(net.roles(), { a: 'active', b: 'active' });
  assert.is(net.nodes.b!.epoch, 2);
  assert.is(net.roleChanges('b').at(-1)!.reason, 'peer-dead');
  net.cut.clear();
  net.run(3000);
  assert.equal(net.roles(), { a: 'standby', b: 'active' });
  const last = net.roleChanges('a').at(-1)!;
  assert.equal([last.role, last.reason, last.epoch], ['standby', 'conflict', 2]);
  assert.ok(last.t <= 2000 + INTERVAL + 2, 'resolved at the first heartbeat after the heal');
});

test('membership: a conflict on equal epochs keeps the higher priority', () => {
  // Partitioned from the start: both elect themselves with epoch 1.
  const net = new Net([{ name: 'a', priority: 200 }, { name: 'b', priority: 100 }]);
  net.cut.add('a>b').add('b>a');
  net.run(1000);
  assert.equal(net.roles(), { a: 'active', b: 'active' });
  assert.equal([net.nodes.a!.epoch, net.nodes.b!.epoch], [1, 1]);
  net.cut.clear();
  net.run(2000);
  assert.equal(net.roles(), { a: 'active', b: 'standby' });
  assert.equal(net.roleChanges('b').at(-1)!.reason, 'conflict');
});

test('membership: planned hand-off: yield then assume; a better late joiner does not step in', () => {
  const net = new Net([{ name: 'a', priority: 100 }, { name: 'b', priority: 50 }, { name: 'c', priority: 250, startAt: 800 }]).run(2000);
  assert.equal(net.roles(), { a: 'active', b: 'standby', c: 'standby' });
  assert.equal(net.feed('a', { type: 'yield', to: 'b' }).filter((x) => x.type === 'role'),
    [{ type: 'role', role: 'standby', reason: 'yield', epoch: 1 }]);
  assert.is(net.nodes.a!.yieldedTo, 'b');
  net.run(2150); // the hand-off takes 150 ms: nobody may take over meanwhile
  assert.equal(net.roles(), { a: 'standby', b: 'standby', c: 'standby' });
  assert.equal(net.feed('b', { type: 'assume', epoch: null }).filter((x) => x.type === 'role'),
    [{ type: 'role', role: 'active', reason: 'assume', epoch: 2 }]);
  net.run(4000);
  assert.equal(net.roles(), { a: 'standby', b: 'active', c: 'standby' });
  for (const n of ['a', 'c']) { assert.is(net.nodes[n]!.active, 'b'); assert.is(net.nodes[n]!.epoch, 2); }
});

test('membership: assume with an explicit epoch takes it only if above every epoch seen', () => {
  const net = new Net([{ name: 'a', priority: 100 }, { name: 'b', priority: 50 }]).run(1000);
  net.feed('a', { type: 'yield', to: 'b' });
  assert.equal(net.feed('b', { type: 'assume', epoch: 7 }).find((x) => x.type === 'role'), { type: 'role', role: 'active', reason: 'assume', epoch: 7 });
  net.run(2000);
  assert.equal(net.nodes.a!.epoch, 7);
  const net2 = new Net([{ name: 'a', priority: 100 }, { name: 'b', priority: 50 }]).run(1000);
  assert.equal(net2.feed('b', { type: 'assume', epoch: 1 }).find((x) => x.type === 'role'), { type: 'role', role: 'active', reason: 'assume', epoch: 2 });
  net2.run(2000);
  assert.equal(net2.roles(), { a: 'standby', b: 'active' }, 'a loses the conflict to the higher epoch');
});

test('membership: a yield that is never assumed ends in an election after timeoutMs', () => {
  const net = new Net([{ name: 'a', priority: 100 }, { name: 'b', priority: 50 }]).run(1000);
  net.feed('a', { type: 'yield', to: 'b' });
  net.run(3000);
  const a = net.roleChanges('a');
  assert.equal(a.at(-1), { t: 1000 + TIMEOUT, node: 'a', role: 'active', reason: 'no-active', epoch: 2 });
  assert.equal(net.roles(), { a: 'active', b: 'standby' });
});

test('membership: peer-dead and peer-alive; a restarted active comes back as standby', () => {
  const net = new Net([{ name: 'a', priority: 200 }, { name: 'b', priority: 100 }]).run(1000);
  net.kill('a');
  net.run(2000);
  net.start({ name: 'a', priority: 200 });
  net.run(3000);
  assert.equal(net.peerEvents('b').map((e) => e.type), ['peer-alive', 'peer-dead', 'peer-alive']);
  assert.equal(net.roles(), { a: 'standby', b: 'active' });
  assert.equal(net.roleChanges('a').at(-1)!.reason, 'peer-active');
});

test('membership: RTT per peer from echoed timestamps (5 ms each way)', () => {
  const net = new Net([{ name: 'a', priority: 200 }, { name: 'b', priority: 100 }], () => 5).run(3000);
  for (const [n, p] of [['a', 'b'], ['b', 'a']] as const) {
    const rtt = net.nodes[n]!.peers.find((x) => x.name === p)!.rttMs;
    assert.ok(rtt !== null && Math.abs(rtt - 10) < 1e-9, `${n}→${p} rtt ${rtt}`);
  }
});

test('membership: a hung active stops heartbeating and is taken over; still listening, it steps down', () => {
  const net = new Net([{ name: 'a', priority: 200 }, { name: 'b', priority: 100 }]).run(1000);
  net.feed('a', { type: 'hung', hung: true });
  net.run(2000);
  assert.is(net.roleChanges('b').at(-1)!.reason, 'peer-dead');
  const takeover = net.roleChanges('b').at(-1)!.t;
  assert.ok(takeover > 1000 && takeover <= 1000 + 1 + TIMEOUT, 'within timeoutMs (+ 1 ms latency)');
  // The hung node's transport still receives: the new active's higher epoch demotes it.
  assert.equal(net.roles(), { a: 'standby', b: 'active' });
  assert.equal(net.roleChanges('a').at(-1), { t: takeover + 1, node: 'a', role: 'standby', reason: 'conflict', epoch: 2 });
  net.feed('a', { type: 'hung', hung: false });
  net.run(3000);
  assert.equal(net.roles(), { a: 'standby', b: 'active' });
  assert.equal(net.peerEvents('b').map((e) => e.type), ['peer-alive', 'peer-dead', 'peer-alive']);
});

test('membership: a hung standby never takes over', () => {
  const net = new Net([{ name: 'a', priority: 200 }, { name: 'b', priority: 100 }]).run(1000);
  net.feed('b', { type: 'hung', hung: true });
  net.kill('a');
  net.run(3000);
  assert.is(net.role('b'), 'standby');
  net.feed('b', { type: 'hung', hung: false });
  net.run(3001);
  assert.is(net.role('b'), 'active');
});

test('membership: a stopping active announces it; the standby takes over at once', () => {
  const net = new Net([{ name: 'a', priority: 200 }, { name: 'b', priority: 100 }]).run(1000);
  const acts = net.feed('a', { type: 'stop' });
  assert.equal(acts.map((x) => x.type), ['role', 'send']);
  assert.is(nextDeadline(net.nodes.a!), null);
  net.run(1100);
  assert.equal(net.roleChanges('b').at(-1), { t: 1001, node: 'b', role: 'active', reason: 'peer-dead', epoch: 2 });
  assert.equal(step(net.nodes.a!, { type: 'tick' }, 2000), [], 'a stopped node does nothing');
});

test('membership: heartbeats from unknown names and yields to unknown names are ignored', () => {
  const s = initMembership({ name: 'a', priority: 1, peers: ['b'], intervalMs: 50, timeoutMs: 300 }, 0);
  const before = structuredClone(s);
  assert.equal(step(s, { type: 'heartbeat', from: 'x', role: 'active', priority: 9, epoch: 9, sentAt: 0, echo: null, echoDelayMs: 0 }, 0).filter((x) => x.type !== 'send'), []);
  assert.equal(step(s, { type: 'yield', to: 'x' }, 0).filter((x) => x.type !== 'send'), []);
  assert.is(s.maxEpoch, before.maxEpoch);
  assert.is(s.yieldedTo, null);
});

test.run();
