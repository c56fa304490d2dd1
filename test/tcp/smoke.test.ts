import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ACK, FIN, PLAIN, PSH, SYN, established, peer } from './peer.ts';

test('LISTEN: SYN gets SYN|ACK, ACK establishes', () => {
  const p = peer(PLAIN).listen()
    .send({ flags: SYN, seq: 0, opts: [{ kind: 'mss', mss: 1460 }] })
    .recv({ flags: SYN | ACK, seq: 0, ack: 1 })
    .send({ flags: ACK, seq: 1, ack: 1 })
    .recv()
    .accept()
    .expectState('ESTABLISHED');
  assert.ok(p.events.some((e) => e.type === 'accept-ready'));
});

test('ESTABLISHED: data in, delayed ack off → ACK; recv returns it', () => {
  established()
    .send({ flags: ACK | PSH, seq: 1, ack: 1, data: 'hello' })
    .recv({ flags: ACK, seq: 1, ack: 6 })
    .read()
    .check((p) => assert.equal((p.result as { data: Uint8Array }).data, new TextEncoder().encode('hello')))
    .write('world')
    .recv({ flags: ACK | PSH, seq: 1, ack: 6, data: 'world' })
    .send({ flags: FIN | ACK, seq: 6, ack: 6 })
    .recv({ flags: ACK, seq: 6, ack: 7 })
    .expectState('CLOSE-WAIT');
});
test.run();
