// The HA node on etcd membership (issue #9 item 3) end to end: an etcd member runs in node a's
// namespace (reachable from b over the hand-over veth); both `ferry node` processes take
// leadership through etcd leases instead of direct heartbeats. A planned switch-over a → b moves
// live counter connections (the count continues), then b is killed and a takes over once b's
// lease has expired, serving new clients. Needs root, /dev/net/tun and etcd (apt-get install -y
// etcd-server): without them the test FAILS saying so.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startClient } from './helpers.ts';
import { Lab, labMissing, SERVICE_IP } from '../../bin/lab.ts';

const ETCD = '/usr/bin/etcd';
const MISSING = labMissing() ?? (existsSync(ETCD) ? null : `etcd not found at ${ETCD}: apt-get install -y etcd-server`);

test('etcd membership: planned switch-over and takeover after the active node dies, one leader at a time', async () => {
  if (MISSING !== null) assert.unreachable(`the HA etcd test cannot run: ${MISSING}`);
  const lab = new Lab({
    prefix: `he${process.pid % 100000}`,
    services: [{ name: 'count', type: 'counter', proto: 'tcp', port: 7000 }],
  });
  const dataDir = mkdtempSync(join(tmpdir(), 'he-etcd-'));
  let etcd: ChildProcess | null = null;
  let client: Awaited<ReturnType<typeof startClient>> | null = null;
  try {
    lab.build();
    const url = 'http://10.211.0.1:2379';
    etcd = spawn('ip', ['netns', 'exec', lab.nsOf('a'), ETCD, '--name', 'e0', '--data-dir', dataDir,
      '--listen-client-urls', url, '--advertise-client-urls', url,
      '--listen-peer-urls', 'http://127.0.0.1:2380', '--initial-advertise-peer-urls', 'http://127.0.0.1:2380',
      '--initial-cluster', 'e0=http://127.0.0.1:2380', '--heartbeat-interval', '50', '--election-timeout', '500'], { stdio: 'ignore' });
    const membership = { kind: 'etcd', endpoints: [url], prefix: '/ferry-test', leaseTtlMs: 1000 };
    // etcd needs a moment; the node's start() fails clearly while it cannot reach it, so retry.
    let a = null;
    for (let i = 0; i < 20 && a === null; i++) {
      a = await lab.start({ name: 'a', priority: 200, extra: { membership } }).catch(async (e: Error) => {
        if (i === 19) throw e;
        await new Promise((r) => setTimeout(r, 250));
        return null;
      });
    }
    const b = await lab.start({ name: 'b', priority: 100, extra: { membership } });
    await lab.waitFor('a', (s) => s.role === 'active' && s.holdsServiceIps, 15_000, 'a active');
    await lab.waitFor('b', (s) => s.role === 'standby' && s.peers.some((p) => p.linked), 15_000, 'b standby');
    client = await startClient(lab.nsC, { host: SERVICE_IP, idle: 10, transfers: 0, bytes: 0, rate: 1 });
    assert.is((await client.next('ready', 20_000)).answered, 10);
    const s = await a!.switchover('b');
    assert.ok(s.ok, `switch-over: ${s.error}`);
    await lab.waitFor('b', (st) => st.role === 'active' && st.holdsServiceIps, 10_000, 'b active');
    const sa = await a!.status();
    assert.is.not(sa.role, 'active', 'a gave up leadership');
    client.send('check');
    const chk = await client.next('checked', 20_000);
    assert.is(chk.ok, 10);
    assert.equal(chk.counts, [2], 'the count continued on b');
    // b dies: a takes over once b's lease is gone (TTL 1 s).
    const t0 = performance.now();
    await b.kill('SIGKILL');
    await lab.waitFor('a', (st) => st.role === 'active' && st.holdsServiceIps, 10_000, 'a active again');
    const took = performance.now() - t0;
    client.send('connect 2');
    const c2 = await client.next('connected', 10_000);
    assert.is(c2.answered, 2, 'new clients served by a');
    assert.ok(took < 4000, `takeover after the lease TTL took ${took.toFixed(0)} ms`);
    console.log(`\n  etcd: switch-over ${s.elapsedMs} ms; SIGKILL of b → a holds the address ${took.toFixed(0)} ms (lease TTL 1000 ms)`);
  } finally {
    client?.kill();
    await lab.close();
    if (etcd !== null && etcd.exitCode === null) etcd.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test.run();
