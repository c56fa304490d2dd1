// Keepalive (RFC 9293 §3.8.4, RFC 1122 §4.2.3.6).
import { test } from 'uvu';
import { ACK, established } from './peer.ts';

const KA = { type: 'set-option', options: { keepAlive: { enabled: true, idle: 1000, interval: 100, count: 2 } } };

test('keepalive: probes <SEQ=SND.NXT-1> after the idle time, then ETIMEDOUT after count unanswered probes', () => {
  established().call(KA)
    .at(999).tick().recv()
    .at(1000).tick().recv({ flags: ACK, seq: 0, ack: 1 })
    .at(1100).tick().recv({ flags: ACK, seq: 0, ack: 1 })
    .at(1200).tick().recv()
    .expectState('CLOSED').expectEvents('error:ETIMEDOUT', 'closed');
});

test('keepalive: an answered probe keeps the connection and restarts the idle time', () => {
  established().call(KA)
    .at(1000).tick().recv({ flags: ACK, seq: 0, ack: 1 })
    .at(1010).send({ flags: ACK, seq: 1, ack: 1 })
    .at(1100).tick().recv()
    .at(2010).tick().recv({ flags: ACK, seq: 0, ack: 1 })
    .expectState('ESTABLISHED');
});

test('keepalive: off by default', () => {
  established().at(10_000_000).tick().recv().expectState('ESTABLISHED');
});

test.run();
