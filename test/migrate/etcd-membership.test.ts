// Membership on etcd (migrate/etcd-membership.ts, issue #9 items 3 and 4) against real etcd
// servers on loopback (test/migrate/helpers/etcd-server.ts): a single member, and a
// three-member cluster. Every membership node runs in its own child process
// (helpers/etcd-node.ts) so it can be SIGKILLed; every role change is stamped on
// CLOCK_MONOTONIC, one clock for all processes, so "never two actives" is checked on real
// intervals. Needs /usr/bin/etcd (Debian: apt-get install -y etcd-server); fails without it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Etcd3 } from 'etcd3';
import { EtcdMembership, checkEtcdMembershipOptions, type EtcdMembershipOptions } from '../../migrate/etcd-membership.ts';
import { mono, overlaps, spawnNode, type NodeEvent, type NodeHandle } from './helpers/etcd-node.ts';
import { startProxy, type EtcdProxy } from './helpers/etcd-proxy.ts';
import { freePort, requireEtcd, startEtcd, type EtcdCluster } from './helpers/etcd-server.ts';

const TTL = 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const isRole = (role: string, reason?: string) => (e: NodeEvent) => e.t === 'role' && e.role === role && (reason === undefined || e.reason === reason);
const ready = (e: NodeEvent) => e.t === 'ready' || e.t === 'error';

let single: EtcdCluster | null = null;
const nodes: NodeHandle[] = [];
const proxies: EtcdProxy[] = [];
const clusters: EtcdCluster[] = [];
let prefixN = 0;
let lastPrefix = '';

function opts(name: string, priority: number, endpoints: string[], prefix: string, extra: Partial<EtcdMembershipOptions> = {}): EtcdMembershipOptions {
  return { name, priority, endpoints, prefix, leaseTtlMs: TTL, startupWaitMs: 500, rankDelayMs: 100, ...extra };
}

/** Start nodes (children) and wait until each has its lease and member key. */
async function cluster(specs: [string, number, string[]?, Partial<EtcdMembershipOptions>?][], endpoints: string[]): Promise<NodeHandle[]> {
  const prefix = lastPrefix = `/fx-test-${process.pid}-${++prefixN}`;
  const hs = specs.map(([name, prio, eps, extra]) => spawnNode(opts(name, prio, eps ?? endpoints, prefix, extra)));
  nodes.push(...hs);
  for (const h of hs) await h.waitFor((e) => e.t === 'loaded' || e.t === 'exit', 20000, 'loaded');
  for (const h of hs) h.send({ t: 'start' });
  for (const h of hs) {
    const e = await h.waitFor(ready, 15000, 'ready');
    if (e.t === 'error') throw new Error(`${h.name} did not start: ${e.message}`);
  }
  return hs;
}

async function stopAll(hs: NodeHandle[]): Promise<void> {
  for (const h of hs) h.kill();
  await Promise.all(hs.map((h) => h.waitFor((e) => e.t === 'exit', 3000).catch(() => {})));
}

async function etcd1(): Promise<EtcdCluster> {
  requireEtcd();
  if (single === null) single = await startEtcd(1, 'fx-s');
  return single;
}

test.after(async () => {
  for (const h of nodes) h.kill();
  for (const p of proxies) await p.close();
  for (const c of clusters) await c.close();
  await single?.close();
});

// ------------------------------------------------------------------------------ unit

test('etcd: /usr/bin/etcd is installed (apt-get install -y etcd-server)', () => {
  requireEtcd();
});

test('etcd membership: options are validated', () => {
  const ok = opts('a', 100, ['http://127.0.0.1:2379'], '/ferry');
  assert.is(checkEtcdMembershipOptions(ok), null);
  assert.match(checkEtcdMembershipOptions({ ...ok, name: 'a b' })!, 'bad node name');
  assert.match(checkEtcdMembershipOptions({ ...ok, priority: 0 })!, 'priority');
  assert.match(checkEtcdMembershipOptions({ ...ok, endpoints: [] })!, 'at least one');
  assert.match(checkEtcdMembershipOptions({ ...ok, endpoints: ['127.0.0.1:2379'] })!, 'bad etcd endpoint');
  assert.match(checkEtcdMembershipOptions({ ...ok, prefix: 'ferry' })!, 'prefix');
  assert.match(checkEtcdMembershipOptions({ ...ok, marginMs: 600 })!, 'marginMs', 'a margin of half the TTL or more leaves no validity worth having');
  assert.match(checkEtcdMembershipOptions({ ...ok, peers: [{ name: 'a', handover: { host: '127.0.0.1', port: 1 } }] })!, 'bad peer name');
});

test('etcd membership: start() rejects naming the endpoints when etcd is unreachable', async () => {
  const port = await freePort(); // nothing listens there
  const m = new EtcdMembership({ ...opts('a', 100, [`http://127.0.0.1:${port}`], '/fx-none'), connectTimeoutMs: 1500 });
  const t0 = mono();
  const err = await m.start().then(() => null, (e: Error) => e);
  assert.ok(err !== null, 'start() resolved without etcd');
  assert.match(err.message, `cannot reach etcd at http://127.0.0.1:${port}`);
  assert.ok(mono() - t0 < 5000, 'rejected within the connect timeout');
  assert.is(m.role, 'stopped');
  await m.stop();
});

// ------------------------------------------------------------------------------ single etcd

test('etcd membership (a, b): three nodes elect the highest priority; SIGKILL of the leader → the next takes over after the lease TTL', async () => {
  const e = await etcd1();
  const [a, b, c] = await cluster([['a', 50], ['b', 200], ['c', 100]], e.endpoints);
  const first = await b!.waitFor(isRole('active'), 5000, 'b active');
  assert.is((first as { reason: string }).reason, 'startup');
  await sleep(300);
  for (const h of [a!, c!]) {
    assert.not.ok(h.roles().some((r) => r.role === 'active'), `${h.name} was active`);
    assert.ok(h.roles().some((r) => r.role === 'standby' && r.reason === 'peer-active'), `${h.name} follows b`);
  }
  // Peers seen through the member keys.
  c!.send({ t: 'stats' });
  const st = await c!.waitFor((x) => x.t === 'stats', 2000) as Extract<NodeEvent, { t: 'stats' }>;
  const peers = st.peers as { name: string; alive: boolean; role: string | null; priority: number | null }[];
  assert.equal(peers.map((p) => [p.name, p.alive, p.role, p.priority]), [['a', true, 'standby', 50], ['b', true, 'active', 200]]);
  const stats = st.stats as { leaseTtlMs: number };
  assert.is(stats.leaseTtlMs, 1000, 'etcd granted the 1 s TTL');

  const killedAt = b!.kill();
  const took = await c!.waitFor(isRole('active'), 5000, 'c active') as Extract<NodeEvent, { t: 'role' }>;
  const ms = took.at - killedAt;
  console.log(`    takeover after SIGKILL of the leader (lease TTL ${TTL} ms): ${ms.toFixed(0)} ms`);
  assert.is(took.reason, 'peer-dead');
  assert.ok(took.epoch > (first as { epoch: number }).epoch, 'fencing epoch grows');
  assert.ok(ms >= TTL / 2, `took over after ${ms.toFixed(0)} ms: before the lease could have expired`);
  assert.ok(ms < TTL + 1500, `took over after ${ms.toFixed(0)} ms`);
  await sleep(200);
  assert.not.ok(a!.roles().some((r) => r.role === 'active'), 'a (lower priority) stayed standby');
  assert.equal(overlaps([a!, b!, c!], mono(), { b: killedAt }), []);
  await stopAll([a!, c!]);
});

test('etcd membership (d): a leader cut off from etcd steps down (lease-lost) before any other node becomes active', async () => {
  const e = await etcd1();
  const proxy = await startProxy(Number(new URL(e.endpoints[0]!).port));
  proxies.push(proxy);
  const [a, b, c] = await cluster([['a', 200, [proxy.url]], ['b', 100], ['c', 50]], e.endpoints);
  await a!.waitFor(isRole('active'), 5000, 'a active');
  await sleep(400);
  const cutAt = mono();
  proxy.cut(); // a stays alive, its etcd traffic goes nowhere
  const down = await a!.waitFor(isRole('standby', 'lease-lost'), 3000, 'a lease-lost') as Extract<NodeEvent, { t: 'role' }>;
  const up = await b!.waitFor(isRole('active'), 5000, 'b active') as Extract<NodeEvent, { t: 'role' }>;
  console.log(`    partition → old leader stood down after ${(down.at - cutAt).toFixed(0)} ms, new leader active after ${(up.at - cutAt).toFixed(0)} ms (gap ${(up.at - down.at).toFixed(0)} ms)`);
  assert.ok(down.at < up.at, 'the old leader stood down first');
  assert.ok(down.at - cutAt <= TTL, `stood down ${(down.at - cutAt).toFixed(0)} ms after the cut (validity is TTL - TTL/3 from the last keep-alive sent)`);
  await sleep(500);
  assert.not.ok(c!.roles().some((r) => r.role === 'active'), 'c stayed standby');
  assert.is(a!.roles().at(-1)!.role, 'standby', 'a, still cut off, never came back');
  assert.equal(overlaps([a!, b!, c!], mono()), []);
  await stopAll([a!, b!, c!]);
});

test('etcd membership (e): planned hand-off with yieldTo/assume; stop() revokes the lease at once', async () => {
  const e = await etcd1();
  const [a, b, c] = await cluster([['a', 200], ['b', 50], ['c', 100]], e.endpoints);
  const first = await a!.waitFor(isRole('active'), 5000, 'a active') as Extract<NodeEvent, { t: 'role' }>;
  await sleep(200);
  b!.send({ t: 'assume' }); // b is the target although c has the higher priority
  await sleep(100);
  assert.not.ok(b!.roles().some((r) => r.role === 'active'), 'assume() waits while a holds the leader key');
  const t0 = mono();
  a!.send({ t: 'yield', to: 'b' });
  const down = await a!.waitFor(isRole('standby', 'yield'), 2000, 'a yield') as Extract<NodeEvent, { t: 'role' }>;
  const up = await b!.waitFor(isRole('active'), 2000, 'b active') as Extract<NodeEvent, { t: 'role' }>;
  console.log(`    planned hand-off a → b: ${(up.at - t0).toFixed(1)} ms`);
  assert.is(up.reason, 'assume');
  assert.ok(up.epoch > first.epoch, 'new epoch');
  assert.ok(down.at < up.at, 'a stood down first');
  assert.ok(up.at - t0 < 500, 'the target took the key at once');
  await sleep(300);
  assert.not.ok(c!.roles().some((r) => r.role === 'active'), 'c left the hand-off alone');

  // stop(): the lease is revoked, so the best live node (a) takes over well before the TTL.
  const t1 = mono();
  b!.send({ t: 'stop' });
  const next = await a!.waitFor(isRole('active', 'peer-dead'), 3000, 'a active') as Extract<NodeEvent, { t: 'role' }>;
  console.log(`    leader stop() → next leader active: ${(next.at - t1).toFixed(0)} ms`);
  assert.ok(next.at - t1 < TTL / 2, `took ${(next.at - t1).toFixed(0)} ms`);
  assert.equal(overlaps([a!, b!, c!], mono()), []);
  await stopAll([a!, b!, c!]);
});

test('etcd membership: a leader whose lease is revoked behind its back steps down at once and re-registers with a new lease', async () => {
  const e = await etcd1();
  const [a, b, c] = await cluster([['a', 200], ['b', 100], ['c', 50]], e.endpoints);
  await a!.waitFor(isRole('active'), 5000, 'a active');
  await sleep(200);
  const admin = new Etcd3({ hosts: e.endpoints });
  try {
    const kv = (await admin.get(`${lastPrefix}/members/a`).exec()).kvs[0];
    assert.ok(kv !== undefined && kv.lease !== '0', 'a\'s member key is on a lease');
    const t0 = mono();
    await admin.leaseClient.leaseRevoke({ ID: kv!.lease });
    const down = await a!.waitFor((x) => x.t === 'role' && x.role === 'standby', 2000, 'a standby') as Extract<NodeEvent, { t: 'role' }>;
    assert.is(down.reason, 'lease-lost');
    console.log(`    lease revoked → leader stood down after ${(down.at - t0).toFixed(0)} ms`);
    // Someone leads again, and a comes back as a member on a new lease.
    const back = await b!.waitFor((x) => x.t === 'peer' && x.name === 'a' && x.alive && x.at > down.at, 3000, 'a alive again');
    assert.ok(back.at - t0 < 2000);
    const kv2 = (await admin.get(`${lastPrefix}/members/a`).exec()).kvs[0];
    assert.ok(kv2 !== undefined && kv2.lease !== kv!.lease, 'a re-registered on a new lease');
    await sleep(300);
    const leaders = [a!, b!, c!].filter((h) => h.roles().at(-1)?.role === 'active');
    assert.is(leaders.length, 1, 'exactly one leader afterwards');
    assert.equal(overlaps([a!, b!, c!], mono()), []);
  } finally {
    admin.close();
  }
  await stopAll([a!, b!, c!]);
});

// ------------------------------------------------------------------------------ three etcd members

test('etcd membership (c): three-member etcd cluster: losing one etcd member changes no role; losing the leader node elects another', async () => {
  requireEtcd();
  const e = await startEtcd(3, 'fx-c');
  clusters.push(e);
  // A raft election (500-1000 ms timeout, then the vote) must fit in the lease's validity
  // (TTL - TTL/3) with room to spare on a loaded machine.
  const TTL2 = 3000;
  const x = { leaseTtlMs: TTL2 };
  const [a, b, c] = await cluster([['a', 200, undefined, x], ['b', 100, undefined, x], ['c', 50, undefined, x]], e.endpoints);
  await a!.waitFor(isRole('active'), 5000, 'a active');
  await sleep(300);
  const before = [a!, b!, c!].map((h) => h.roles().length);
  const li = await e.leaderIndex();
  assert.ok(li >= 0, 'found the etcd raft leader');
  e.kill(li); // the raft leader: the harder case (the cluster re-elects)
  await sleep(3000);
  assert.equal([a!, b!, c!].map((h) => h.roles().length), before,
    `no role changed after losing an etcd member: ${JSON.stringify([a!, b!, c!].map((h) => [h.name, h.roles().map((r) => `${r.role}/${r.reason}`)]))}`);
  assert.ok(await e.leaderIndex() >= 0, 'etcd has a new raft leader');

  const killedAt = a!.kill();
  const took = await b!.waitFor(isRole('active'), TTL2 + 3000, 'b active') as Extract<NodeEvent, { t: 'role' }>;
  console.log(`    two etcd members left: takeover after SIGKILL of the leader (TTL ${TTL2} ms): ${(took.at - killedAt).toFixed(0)} ms`);
  assert.is(took.reason, 'peer-dead');
  await sleep(200);
  assert.not.ok(c!.roles().some((r) => r.role === 'active'));
  assert.equal(overlaps([a!, b!, c!], mono(), { a: killedAt }), []);
  await stopAll([b!, c!]);
});

test.run();
