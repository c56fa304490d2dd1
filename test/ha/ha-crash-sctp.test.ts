// Surviving a crash with sync replication, SCTP (issue #9): a usrsctp client streams lines to
// ferry's SCTP echo service on node a; node a is killed with SIGKILL mid-stream; node b
// resumes the association from its replica (migrate/replicate.ts: the whole association,
// SACK and DATA held until the standby has it). Every line must come back exactly once, in
// order, and the client must see no ABORT. Needs root, /dev/net/tun and usrsctp's examples:
// without them the test FAILS saying what to install.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { killActive } from './ha-crash-lib.ts';
import { Lab, labMissing, SERVICE_IP } from '../../bin/lab.ts';
import { demoLines } from '../../bin/demo-ha.ts';

const MISSING = labMissing({ usrsctp: true });
const LINES = 200;

test('sync: node a dies (SIGKILL) while a usrsctp client streams lines; b resumes the association; every line echoed once, in order', async () => {
  if (MISSING !== null) assert.unreachable(`the HA SCTP crash test cannot run: ${MISSING}`);
  const lab = new Lab({ prefix: `hc${process.pid % 100000}`, services: [{ name: 'echo', type: 'echo', proto: 'sctp', port: 7 }] });
  const start = lab.start.bind(lab);
  lab.start = (spec, t) => start({ ...spec, extra: { replication: { mode: 'sync', maxLagMs: 50 } } }, t);
  let cli: ReturnType<typeof spawn> | null = null;
  try {
    lab.build();
    const { a, b } = await lab.startPair();
    await lab.waitFor('a', (s) => s.replication?.peer === 'b', 10_000, 'a replicating');
    cli = spawn('ip', ['netns', 'exec', lab.nsC, '/usr/lib/usrsctp/client', SERVICE_IP, '7'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    cli.stdout!.setEncoding('latin1').on('data', (s: string) => { out += s; });
    cli.stderr!.setEncoding('latin1').on('data', () => {});
    const exited = new Promise<number | null>((r) => cli!.on('exit', (c) => r(c)));
    const input = demoLines(LINES);
    let next = 0;
    await new Promise<void>((resolve) => {
      const feed = setInterval(() => {
        if (cli!.stdin!.destroyed || next >= LINES) { clearInterval(feed); resolve(); return; }
        cli!.stdin!.write(input[next++]!);
      }, 20);
      // Kill the active node once 40% of the lines went out (and b holds the association).
      const killer = setInterval(() => {
        if (next < LINES * 0.4) return;
        clearInterval(killer);
        void lab.waitFor('b', (s) => (s.replication?.replicas ?? 0) >= 1, 5000, 'b holds the association').then(() => killActive(a, b)).then((ms) => {
          console.log(`\n  node a killed at line ${next}; b holds the address ${ms.toFixed(0)} ms later`);
        }, (e: Error) => { console.log(`kill: ${e.message}`); });
      }, 10);
    });
    const sent = input.join('');
    const t0 = performance.now();
    while (!out.includes(sent) && performance.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 50));
    cli.stdin!.end();
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    const first = out.indexOf(sent);
    const bs = await b.status();
    assert.ok(first >= 0, `every line echoed, in order (${input.filter((l) => out.includes(l)).length}/${LINES}); b: ${JSON.stringify(bs.replication)}\n${b.log().split('\n').slice(-15).join('\n')}\nclient: ${out.slice(-400)}`);
    assert.is(out.indexOf(sent, first + 1), -1, 'no line echoed twice');
    assert.not.match(out, /ABORT|COMM_LOST/, 'the usrsctp client saw no ABORT');
    assert.ok((bs.replication?.resumed ?? 0) >= 1, 'b resumed the association from its replica');
  } finally {
    if (cli !== null && cli.exitCode === null) cli.kill('SIGKILL');
    await lab.close();
  }
});

test.run();
