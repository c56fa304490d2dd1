// The README's main job as a test (issue #8): `ferry demo`'s scenario (bin/demo-ha.ts) with
// assertions — two `ferry node` processes, a kernel curl download and a usrsctp client in the
// client namespace, a switch-over a → b mid-transfer, node a killed. The download's sha256
// must match, every SCTP line must come back exactly once and in order, a capture of the client
// side must show no TCP RST and no SCTP ABORT, and node a's log must show the four switch-over
// steps in order. Needs root, /dev/net/tun, curl, usrsctp's examples and tshark: without them
// the test FAILS saying what to install.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { runHaDemo } from '../../bin/demo-ha.ts';
import { labMissing } from '../../bin/lab.ts';

const MISSING = labMissing({ usrsctp: true, curl: true, tshark: true });
/** Headers only (the capture is cut at 200 bytes): no TCP reassembly, no HTTP dissection. */
const FAST = ['-o', 'tcp.desegment_tcp_streams:FALSE', '--disable-protocol', 'http'];

test('ferry demo: a curl download and a usrsctp stream survive a switch-over and the old node\'s death', async () => {
  if (MISSING !== null) assert.unreachable(`the HA demo test cannot run: ${MISSING}`);
  const r = await runHaDemo({ sizeMB: 60, rate: 20_000_000, at: 0.3, lines: 250, capture: true, print: false, prefix: `hd${process.pid % 100000}` });
  try {
    const tl = r.timeline.map((e) => `${e.t.toFixed(2)} ${e.what}`).join('\n');
    assert.is(r.error, null, `${r.error}\n${tl}\n--- a\n${r.logs.a}\n--- b\n${r.logs.b}`);
    assert.ok(r.switchover?.ok, `switch-over: ${r.switchover?.error}`);
    assert.ok(r.switchover!.moved >= 2, `moved ${r.switchover!.moved} (the download and the association)`);
    assert.is(r.switchover!.failed, 0);
    assert.is(r.curl.exit, 0, `curl: ${r.curl.stderr}`);
    assert.is(r.sha256.got, r.sha256.want, 'sha256 of the download');
    assert.ok(r.sctp.exact, `SCTP lines echoed exactly once, in order (${r.sctp.echoedLines}/${r.sctp.sent}); client output: ${r.sctp.clientOut.slice(-500)}`);
    assert.not.match(r.sctp.clientOut, /ABORT|COMM_LOST/, 'the usrsctp client saw no ABORT');
    // The four steps, in order, in the old node's log.
    const steps = [...r.logs.a.matchAll(/switchover\.step step=(\d)/g)].map((m) => Number(m[1]));
    assert.equal(steps, [1, 2, 3, 4], `steps in a's log: ${steps.join(',')}\n${r.logs.a}`);
    // The client side saw no RST and no ABORT (tshark decodes the capture independently).
    const bad = execFileSync('tshark', [...FAST, '-r', r.capture!, '-Y', 'tcp.flags.reset == 1 || sctp.chunk_type == 6', '-T', 'fields', '-e', 'frame.number', '-e', 'ip.src', '-e', 'ip.dst'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    assert.is(bad, '', `RST or ABORT packets in the client-side capture:\n${bad}`);
    const total = Number(execFileSync('tshark', [...FAST, '-r', r.capture!, '-Y', 'tcp || sctp', '-T', 'fields', '-e', 'frame.number'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n').length);
    assert.ok(total > 1000, `the capture saw the traffic (${total} packets)`);
    console.log(`\n  switch-over ${r.switchover!.elapsedMs} ms (${r.switchover!.moved} moved, longest move ${r.switchover!.maxMoveMs.toFixed(1)} ms); download ${(r.curl.ms / 1000).toFixed(1)} s; ${total} client-side packets, no RST/ABORT`);
  } finally {
    rmSync(r.dir, { recursive: true, force: true });
  }
});

test.run();
