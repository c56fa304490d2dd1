// Replication follows the roles (issue #9): with sync replication, a planned switch-over a → b
// moves every connection (snapshots, #8); b, now active, replicates them back to a; then b is
// killed with SIGKILL and a resumes them all from its replicas. The idle counter connections
// count on exactly ("3 again" after "1 hello", "2 again") and the paced downloads complete
// byte-exact, with no error at the client. Needs root and /dev/net/tun.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { killActive, startPair, withReplication } from './ha-crash-lib.ts';
import { startClient } from './helpers.ts';
import { labMissing, SERVICE_IP } from '../../bin/lab.ts';

const MISSING = labMissing();
const IDLE = 30, TRANSFERS = 3;

test('sync: switch-over a → b, then b dies; a resumes every connection from its replicas', async () => {
  if (MISSING !== null) assert.unreachable(`the HA crash test cannot run: ${MISSING}`);
  const lab = withReplication(`hy${process.pid % 100000}`, 'sync', 50);
  let client: Awaited<ReturnType<typeof startClient>> | null = null;
  try {
    const { a, b } = await startPair(lab);
    client = await startClient(lab.nsC, { host: SERVICE_IP, idle: IDLE, transfers: TRANSFERS, bytes: 20_000_000, rate: 2_000_000 });
    const ready = await client.next('ready', 30_000);
    assert.is(ready.answered, IDLE);
    const so = await a.switchover('b');
    assert.ok(so.ok, `switch-over: ${so.error}`);
    await lab.waitFor('b', (s) => s.role === 'active' && s.holdsServiceIps && s.replication?.peer === 'a', 10_000, 'b active and replicating to a');
    client.send('check');
    const chk1 = await client.next('checked', 30_000);
    assert.is(chk1.ok, IDLE, 'every idle connection answered on b');
    await lab.waitFor('a', (s) => (s.replication?.replicas ?? 0) >= IDLE + TRANSFERS, 10_000, 'a holds a replica of every connection');
    const took = await killActive(b, a);
    client.send('check');
    const chk2 = await client.next('checked', 30_000);
    assert.is(chk2.ok, IDLE, `every idle connection answered on a after b died: ${JSON.stringify(chk2)}\n${a.log().split('\n').slice(-20).join('\n')}`);
    assert.equal(chk2.counts, [3], 'the count continued exactly');
    client.send('finish');
    const done = await client.next('done', 120_000);
    const transfers = done.transfers as { ok: boolean; error: string | null }[];
    assert.equal(transfers.filter((t) => !t.ok), [], 'every download complete and byte-exact');
    assert.equal(done.errors, [], 'the client saw no error');
    console.log(`\n  switch-over ${so.elapsedMs} ms (${so.moved} moved); b killed → a holds the address ${took.toFixed(0)} ms later; longest stall a download saw ${done.maxGapMs} ms`);
  } finally {
    client?.kill();
    await lab.close();
  }
});

test.run();
