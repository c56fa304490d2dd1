// Snapshot and resume (issue #7 groundwork): an association's state survives the codec at any
// point, and sctpShiftClock moves every deadline so a resumed association behaves as if nothing
// happened on a host whose clock reads differently.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { roundTrip } from '../../migrate/codec.ts';
import { sctpShiftClock } from '../../stack/sctp/api.ts';
import { sackChunk } from '../../stack/wire/sctp.ts';
import { peer, PEER_TSN } from './peer.ts';

test('resume with a shifted clock: T3-rtx, delayed SACK and PR-SCTP lifetimes keep their relative times', () => {
  const p = peer().connected();
  p.step({ type: 'send', id: p.id!, data: new Uint8Array(10), ttl: 1500 });
  p.step({ type: 'send', id: p.id!, data: new Uint8Array(10) });
  p.takeSent();
  p.at(300).send([p.data('in')]);
  // Snapshot at t=300, resume on a host whose clock reads 1e9 + 300.
  const d = 1e9;
  p.st = roundTrip(p.st);
  sctpShiftClock(p.st, d);
  p.at(d + 499).tick().recv();
  p.at(d + 500).tick().recv({ type: 'SACK', cumTsnAck: PEER_TSN });                 // the 200 ms delayed SACK
  p.at(d + 999).tick().recv();
  p.at(d + 1000).tick().recv({ type: 'DATA', tsn: p.tsn }, { type: 'DATA', tsn: p.tsn + 1 }); // T3 at RTO
  p.at(d + 3000).tick().recv({ type: 'FORWARD-TSN', newCumTsn: p.tsn }, { type: 'DATA', tsn: p.tsn + 1 }); // lifetime 1500 ran out
  p.send([sackChunk((p.tsn + 1) >>> 0, 65536)]);
  assert.is(p.assoc().sent.length, 0);
});

test('messages queued during the handshake for a stream the peer does not offer are abandoned unsent (§5.1.1)', () => {
  const p = peer().connect();
  p.step({ type: 'send', id: p.id!, data: new Uint8Array(5), stream: 7 });
  p.step({ type: 'send', id: p.id!, data: new Uint8Array(5), stream: 1 });
  p.recv({ type: 'INIT' });
  p.send([{ type: 'INIT-ACK', flags: 0, initiateTag: 0x11223344, aRwnd: 65536, outboundStreams: 2, inboundStreams: 2, initialTsn: PEER_TSN, params: [{ type: 'state-cookie', cookie: new Uint8Array(4) }] }]);
  p.recv({ type: 'COOKIE-ECHO' });
  p.send([{ type: 'COOKIE-ACK', flags: 0 }]).recv({ type: 'DATA', streamId: 1 });
  p.expectEvents({ type: 'abandoned', msg: 0, stream: 7, sent: false }, { type: 'connected' });
});

test.run();
