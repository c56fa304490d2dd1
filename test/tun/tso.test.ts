// StackConfig.tsoSegments (segmentation offload for the TUN link): new data leaves as
// super-segments of whole MSS-sized segments; everything else is exactly as without it.
// Scripted peer from test/tcp/peer.ts (relative sequence numbers; state round-trips the codec).
import { test } from 'uvu';
import { ACK, PLAIN, PSH, established } from '../tcp/peer.ts';

const TSO = { ...PLAIN, stack: { tsoSegments: 4 } };
const MSS = 1460; // PLAIN: no timestamps, MTU 1500

test('TSO: a burst leaves as super-segments of at most 4 MSS, whole segments only; the short tail waits for Nagle', () => {
  established(TSO)
    .write(10 * MSS + 100)
    // Initial window: 10 MSS (RFC 6928) → 4 + 4 + 2 segments' worth; the 100-byte tail is held (Nagle).
    .recv(
      { flags: ACK, seq: 1, ack: 1, data: 4 * MSS },
      { flags: ACK, seq: 1 + 4 * MSS, ack: 1, data: 4 * MSS },
      { flags: ACK, seq: 1 + 8 * MSS, ack: 1, data: 2 * MSS },
    )
    .send({ flags: ACK, seq: 1, ack: 1 + 10 * MSS })
    .recv({ flags: ACK | PSH, seq: 1 + 10 * MSS, ack: 1, data: 100 });
});

test('TSO: off by default (tsoSegments 1): the same burst is MSS-sized segments', () => {
  const p = established(PLAIN).write(3 * MSS);
  p.recv(
    { flags: ACK, seq: 1, ack: 1, data: MSS },
    { flags: ACK, seq: 1 + MSS, ack: 1, data: MSS },
    { flags: ACK | PSH, seq: 1 + 2 * MSS, ack: 1, data: MSS },
  );
});

test('TSO: with noDelay the tail that empties the queue rides along', () => {
  established({ ...TSO, tcp: { ...PLAIN.tcp, noDelay: true } })
    .write(3 * MSS + 10)
    .recv({ flags: ACK | PSH, seq: 1, ack: 1, data: 3 * MSS + 10 });
});

test('TSO: a retransmission after RTO is one MSS, not a super-segment', () => {
  established(TSO)
    .write(4 * MSS)
    .recv({ flags: ACK | PSH, seq: 1, ack: 1, data: 4 * MSS })
    .at(1000).tick()
    .recv({ flags: ACK, seq: 1, ack: 1, data: MSS });
});

test('TSO: the receive window bounds a super-segment to whole segments', () => {
  established(TSO)
    .send({ flags: ACK, seq: 1, ack: 1, win: 2 * MSS + 500 })
    .write(8 * MSS)
    .recv({ flags: ACK, seq: 1, ack: 1, data: 2 * MSS });
});

test.run();
