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

test.run();
