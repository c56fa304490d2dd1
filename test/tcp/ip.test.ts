// IP-level input of the stack: fragment reassembly before TCP, address filtering, checksums.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { emitIpv4, parseIpv4 } from '../../stack/wire/ipv4.ts';
import { ACK, PSH, established, pattern } from './peer.ts';

test('IPv4 fragments of a segment are reassembled before TCP sees them', () => {
  const q = established();
  const ip = parseIpv4(q.packet({ flags: ACK | PSH, seq: 1, ack: 1, data: 40 }));
  assert.ok(ip.ok);
  const pl = ip.value.payload;
  const mk = (off: number, data: Uint8Array, mf: boolean) => {
    const pkt = { ...ip.value, ident: 77, df: false, mf, fragOffset: off / 8, payload: data };
    const out = new Uint8Array(20 + data.length);
    emitIpv4(pkt, out);
    return out;
  };
  q.step({ type: 'packet', data: mk(24, pl.slice(24), false) }).recv();
  q.step({ type: 'packet', data: mk(0, pl.slice(0, 24), true) }).recv({ flags: ACK, seq: 1, ack: 41 });
  q.read().check((r) => assert.equal((r.result as { data: Uint8Array }).data, pattern(0, 40)));
  assert.is(q.st.counters['ip-reassembled'], 1);
});

test('packets to an address the stack does not own are dropped', () => {
  const p = established();
  const ip = parseIpv4(p.packet({ flags: ACK, seq: 1, ack: 1, data: 4 }));
  assert.ok(ip.ok);
  const out = new Uint8Array(20 + ip.value.payload.length);
  emitIpv4({ ...ip.value, dst: '10.0.0.99' }, out);
  p.step({ type: 'packet', data: out }).recv();
  assert.is(p.st.counters['ip-not-local'], 1);
});

test('a TCP segment with a bad checksum is dropped', () => {
  const p = established();
  const bad = p.packet({ flags: ACK, seq: 1, ack: 1, data: 4 });
  bad[bad.length - 1] = bad[bad.length - 1]! ^ 0xff;
  p.step({ type: 'packet', data: bad }).recv();
  assert.is(p.st.counters['tcp-bad-checksum'], 1);
  assert.is(p.tcb().rcvQLen, 0);
});

test.run();
