// A switch-over of 1,000 concurrent connections (issue #8, "Done when"): a kernel client in the
// lab's client namespace holds 1,000 idle connections to the counter service (each has been
// answered "1 hello") and 20 downloads in progress from the http service; node a hands every
// one of them to node b. Afterwards each idle connection must get "2 again" (the service's
// own state, the count, moved with it) and each download must complete byte-exact; the client
// must see no error at all. Needs root and /dev/net/tun: without them the test FAILS.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startClient } from './helpers.ts';
import { Lab, labMissing, SERVICE_IP } from '../../bin/lab.ts';

const MISSING = labMissing();
const IDLE = 1000, TRANSFERS = 20, BYTES = 6_000_000;

test(`a switch-over moves ${IDLE} idle connections and ${TRANSFERS} downloads; all survive, the counter keeps counting`, async () => {
  if (MISSING !== null) assert.unreachable(`the HA switch-over test cannot run: ${MISSING}`);
  const lab = new Lab({
    prefix: `hs${process.pid % 100000}`,
    services: [
      { name: 'web', type: 'http', proto: 'tcp', port: 80 },
      { name: 'count', type: 'counter', proto: 'tcp', port: 7000 },
    ],
  });
  let client: Awaited<ReturnType<typeof startClient>> | null = null;
  try {
    lab.build();
    const { a } = await lab.startPair();
    client = await startClient(lab.nsC, { host: SERVICE_IP, idle: IDLE, transfers: TRANSFERS, bytes: BYTES, rate: 1_000_000 });
    const ready = await client.next('ready', 60_000);
    assert.is(ready.idle, IDLE, 'every idle connection opened');
    assert.is(ready.answered, IDLE, 'every idle connection answered before the move');
    const before = await a.status();
    assert.ok((before.connections.tcp['ESTABLISHED'] ?? 0) >= IDLE + TRANSFERS, `a holds the connections: ${JSON.stringify(before.connections.tcp)}`);
    const s = await a.switchover('b');
    assert.ok(s.ok, `switch-over: ${s.error}`);
    assert.is(s.failed, 0);
    assert.is(s.reset, 0);
    assert.ok(s.moved >= IDLE + TRANSFERS - 2, `moved ${s.moved} of ${s.total}`);
    await lab.waitFor('b', (st) => st.role === 'active' && st.holdsServiceIps, 10_000, 'b active');
    client.send('check');
    const chk = await client.next('checked', 60_000);
    assert.is(chk.ok, IDLE, `every idle connection answered after the move: ${JSON.stringify(chk)}`);
    assert.equal(chk.counts, [2], 'the count continued on b');
    client.send('finish');
    const done = await client.next('done', 120_000);
    const transfers = done.transfers as { ok: boolean; error: string | null }[];
    assert.equal(transfers.filter((t) => !t.ok), [], 'every download complete and byte-exact');
    assert.equal(done.errors, [], 'the client saw no error');
    const steps = [...a.log().matchAll(/switchover\.step step=(\d)/g)].map((m) => Number(m[1]));
    assert.equal(steps, [1, 2, 3, 4], 'the four steps in order in a\'s log');
    console.log(`\n  ${s.moved} connections moved in ${s.elapsedMs} ms (longest move ${s.maxMoveMs.toFixed(1)} ms); longest stall a download saw ${done.maxGapMs} ms`);
  } finally {
    client?.kill();
    await lab.close();
  }
});

test.run();
