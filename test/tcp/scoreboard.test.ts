// The SACK scoreboard holds outstanding data only (RFC 6675 §5): blocks carried by an old,
// reordered ACK that a newer ACK has already covered must not count as SACKed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { updateScoreboard } from '../../stack/tcp/send.ts';
import type { Io } from '../../stack/tcp/output.ts';
import { established } from './peer.ts';

const io = (): Io => ({ out: [], events: [], shared: { counters: {} } as unknown as Io['shared'] });

test('scoreboard: blocks below SND.UNA from a reordered old ACK are ignored', () => {
  const t = established({ tcp: { delayedAck: false } }).tcb();
  const una = t.sndUna;
  t.sndNxt = (una + 10000) >>> 0;
  // An old ACK (ack = una - 3000) SACKing [una - 2000, una - 1000): all of it is below SND.UNA now.
  const added = updateScoreboard(t, [{ left: (una - 2000) >>> 0, right: (una - 1000) >>> 0 }], (una - 3000) >>> 0, io());
  assert.is(added, 0);
  assert.is(t.sackedBytes, 0);
  assert.equal(t.sacked, []);
  // A block straddling SND.UNA only counts its part above it.
  const added2 = updateScoreboard(t, [{ left: (una - 500) >>> 0, right: (una + 1000) >>> 0 }], (una - 3000) >>> 0, io());
  assert.is(added2, 1000);
  assert.equal(t.sacked, [una, (una + 1000) >>> 0]);
});

test.run();
