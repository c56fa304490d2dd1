// Moving a stack onto another clock (what migration does on resume): timers keep their
// remaining time and TSval continues without going backwards.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rebaseStack } from '../../stack/stack.ts';
import { tcpOptionsInfo } from '../../stack/wire/tcp.ts';
import { ACK, PSH, established } from './peer.ts';

test('rebase: an RTO due 200 ms after a write is still due 200 ms later on the new clock; TSval continues', () => {
  const p = established({ tcp: { delayedAck: false } }).write('abc');
  const ts0 = tcpOptionsInfo(p.pending[0]!.options).ts!.tsval;
  p.drain();
  rebaseStack(p.st, 1_000_000);
  p.at(1_000_199).tick().recv()
    .at(1_000_200).tick().recv({ flags: ACK | PSH, seq: 1, ack: 1, data: 'abc' });
  const t = p.tcb();
  assert.is((1_000_200 + t.tsOffset) >>> 0, (ts0 + 200) >>> 0, 'TSval advanced by exactly the 200 ms that passed');
});

test('rebase: a fractional clock shift never moves TSval backwards', () => {
  for (const [offset, delta] of [[12345, 0.3], [12345, 0.7], [777, 1000.5], [-5000, -0.4], [5000, -2.9], [-1, 12345.999]] as const) {
    const p = established({ tcp: { delayedAck: false } });
    p.tcb().tsOffset = offset;
    const before = (1000 + p.tcb().tsOffset) >>> 0; // TSval at t=1000 on the old clock
    rebaseStack(p.st, delta);
    const after = Math.floor((1000 + delta + p.tcb().tsOffset)) >>> 0; // the same instant on the new clock
    assert.ok(after >= before && after - before <= 1, `offset ${offset}, delta ${delta}: TSval ${before} -> ${after}`);
  }
});

test.run();
