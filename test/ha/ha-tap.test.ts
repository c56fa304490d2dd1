// TAP mode (issue #8 item 1): each node's TAP joins the client namespace's bridge; the active
// node answers ARP for the service address, the standby stays silent, and a switch-over moves
// the address with a gratuitous ARP from the new active node (its own MAC). A kernel client's
// download and idle counter connections survive the switch-over; afterwards the client's
// neighbour entry for the service address holds node b's MAC. Needs root and /dev/net/tun.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startClient } from './helpers.ts';
import { Lab, labMissing, SERVICE_IP } from '../../bin/lab.ts';
import { nodeMac } from '../../migrate/node.ts';
import { ip } from '../../tun/netns.ts';

const MISSING = labMissing();

function neighbour(lab: Lab): string {
  const line = ip(['neigh', 'show', SERVICE_IP, 'dev', 'br0'], lab.nsC);
  return /lladdr (\S+)/.exec(line)?.[1] ?? `none (${line.trim()})`;
}

test('TAP mode: ARP answered by the active node only; a switch-over moves the address by gratuitous ARP; the clients survive', async () => {
  if (MISSING !== null) assert.unreachable(`the HA TAP test cannot run: ${MISSING}`);
  const lab = new Lab({
    prefix: `ht${process.pid % 100000}`,
    mode: 'tap',
    services: [
      { name: 'web', type: 'http', proto: 'tcp', port: 80 },
      { name: 'count', type: 'counter', proto: 'tcp', port: 7000 },
    ],
  });
  let client: Awaited<ReturnType<typeof startClient>> | null = null;
  try {
    lab.build();
    const { a } = await lab.startPair();
    client = await startClient(lab.nsC, { host: SERVICE_IP, idle: 50, transfers: 2, bytes: 8_000_000, rate: 2_000_000 });
    const ready = await client.next('ready', 30_000);
    assert.is(ready.answered, 50);
    assert.is(neighbour(lab), nodeMac('a'), 'the client resolved the service address to node a');
    const s = await a.switchover('b');
    assert.ok(s.ok, `switch-over: ${s.error}`);
    assert.is(s.failed, 0);
    await lab.waitFor('b', (st) => st.role === 'active' && st.holdsServiceIps, 10_000, 'b active');
    await new Promise((r) => setTimeout(r, 200));
    assert.is(neighbour(lab), nodeMac('b'), 'the gratuitous ARP moved the client\'s neighbour entry to node b');
    await a.kill('SIGKILL');
    client.send('check');
    const chk = await client.next('checked', 30_000);
    assert.is(chk.ok, 50, `idle connections answered through b: ${JSON.stringify(chk)}`);
    assert.equal(chk.counts, [2]);
    client.send('finish');
    const done = await client.next('done', 60_000);
    assert.equal((done.transfers as { ok: boolean; error: string | null }[]).filter((t) => !t.ok), [], 'downloads byte-exact');
    assert.equal(done.errors, []);
    console.log(`\n  TAP switch-over: ${s.moved} moved in ${s.elapsedMs} ms; neighbour entry moved to ${nodeMac('b')}`);
  } finally {
    client?.kill();
    await lab.close();
  }
});

test.run();
