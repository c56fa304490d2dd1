// Unplanned failover (issue #8, item 5): the active node is killed with SIGKILL. The standby
// must take the service address within the heartbeat timeout (default 300 ms) plus its hook,
// serve new connections at once, and the clients of connections it has no state for must get a
// prompt RST (the "tickle", migrate/node.ts) rather than hang. The takeover time is printed.
// Needs root and /dev/net/tun: without them the test FAILS.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startClient } from './helpers.ts';
import { Lab, labMissing, SERVICE_IP } from '../../bin/lab.ts';

const MISSING = labMissing();

test('the active node dies: the standby takes over within the timeout, serves new clients, and orphaned clients get a prompt RST', async () => {
  if (MISSING !== null) assert.unreachable(`the HA failover test cannot run: ${MISSING}`);
  const lab = new Lab({
    prefix: `hf${process.pid % 100000}`,
    services: [
      { name: 'web', type: 'http', proto: 'tcp', port: 80 },
      { name: 'count', type: 'counter', proto: 'tcp', port: 7000 },
    ],
  });
  const clients: Awaited<ReturnType<typeof startClient>>[] = [];
  try {
    lab.build();
    const { a, b } = await lab.startPair();
    const old = await startClient(lab.nsC, { host: SERVICE_IP, idle: 20, transfers: 2, bytes: 200_000_000, rate: 500_000 });
    clients.push(old);
    await old.next('ready', 30_000);
    await new Promise((r) => setTimeout(r, 1500)); // a's connection report reaches b (every second)

    const tKill = performance.now();
    await a.kill('SIGKILL');
    let tTaken = 0;
    for (;;) {
      const st = await b.status().catch(() => null);
      if (st !== null && st.role === 'active' && st.holdsServiceIps) { tTaken = performance.now() - tKill; break; }
      if (performance.now() - tKill > 5000) assert.unreachable('b did not take over within 5 s');
      await new Promise((r) => setTimeout(r, 5));
    }
    // A new client is served by b at once (three new connections from the running client process).
    old.send('connect 3');
    const r = await old.next('connected', 10_000);
    const tServed = performance.now() - tKill;
    assert.is(r.answered, 3, 'new connections answered by b');
    // The orphaned connections: every one reset promptly (not left hanging).
    let closed = 0, errs: { error: string }[] = [];
    const t1 = performance.now();
    while (performance.now() - t1 < 3000) {
      old.send('errors');
      const e = await old.next('errors', 5000);
      closed = e.closed as number;
      errs = e.errors as { error: string }[];
      if (closed >= 20 && errs.length >= 22) break;
      await new Promise((res) => setTimeout(res, 50));
    }
    const tReset = performance.now() - tKill;
    assert.ok(closed >= 20, `every idle orphaned connection closed (${closed}/20): ${JSON.stringify(errs.slice(0, 5))}`);
    assert.ok(errs.every((e) => /ECONNRESET/.test(e.error)), `orphans were reset: ${JSON.stringify(errs.slice(0, 5))}`);
    assert.ok(errs.length >= 22, `the downloads were reset too (${errs.length} errors)`);
    assert.ok(tTaken < 1500, `takeover took ${tTaken.toFixed(0)} ms`);
    const bs = await b.status();
    assert.ok(bs.counters.takeovers >= 1 && bs.counters.tickles >= 22, `b counted its takeover and tickles: ${JSON.stringify(bs.counters)}`);
    console.log(`\n  kill → b holds the service address ${tTaken.toFixed(0)} ms; → new client served ${tServed.toFixed(0)} ms; → all 22 orphans reset ${tReset.toFixed(0)} ms`);
  } finally {
    for (const c of clients) c.kill();
    await lab.close();
  }
});

test.run();
