// Crash with replication off (issue #9's 'off' = the #8 behaviour): the standby has no state
// for the dead node's connections, so it tickles them and every client is reset promptly
// (never left hanging until its own timeouts). Needs root and /dev/net/tun.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { killActive, startPair, withReplication } from './ha-crash-lib.ts';
import { startClient } from './helpers.ts';
import { labMissing, SERVICE_IP } from '../../bin/lab.ts';

const MISSING = labMissing();

test('off: after a SIGKILL the standby keeps no replicas and every connection is reset within 2 s', async () => {
  if (MISSING !== null) assert.unreachable(`the HA crash test cannot run: ${MISSING}`);
  const lab = withReplication(`hc${process.pid % 100000}`, 'off', 50);
  let client: Awaited<ReturnType<typeof startClient>> | null = null;
  try {
    const { a, b } = await startPair(lab);
    client = await startClient(lab.nsC, { host: SERVICE_IP, idle: 20, transfers: 2, bytes: 200_000_000, rate: 500_000 });
    await client.next('ready', 30_000);
    await new Promise((r) => setTimeout(r, 1500)); // a's connection report reaches b (every second)
    assert.is((await b.status()).replication?.replicas, 0, 'no replicas with replication off');
    const took = await killActive(a, b);
    const t1 = performance.now();
    let closed = 0, errs: { error: string }[] = [];
    while (performance.now() - t1 < 2000) {
      client.send('errors');
      const e = await client.next('errors', 5000);
      closed = e.closed as number;
      errs = e.errors as { error: string }[];
      if (closed >= 20 && errs.length >= 22) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(closed >= 20 && errs.length >= 22, `every connection reset (${closed} idle closed, ${errs.length} errors)`);
    assert.ok(errs.every((e) => /ECONNRESET/.test(e.error)), JSON.stringify(errs.slice(0, 3)));
    const bs = await b.status();
    assert.is(bs.replication?.resumed, 0);
    console.log(`\n  b holds the address ${took.toFixed(0)} ms after the kill; all 22 connections reset ${(performance.now() - t1 + took).toFixed(0)} ms after it`);
  } finally {
    client?.kill();
    await lab.close();
  }
});

test.run();
