// ICMP errors: path MTU discovery (RFC 1191 / RFC 8201) with RFC 5927 validation, hard and soft errors.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildIp } from '../../stack/wire/ip.ts';
import { checksum } from '../../stack/wire/checksum.ts';
import { ACK, LOCAL, PLAIN, PSH, REMOTE, RPORT, LPORT, established, synSent } from './peer.ts';
import type { Peer } from './peer.ts';

/** An ICMPv4 destination-unreachable about a segment we sent from LOCAL:sport to REMOTE:dport with `seq`. */
function unreach(code: number, mtu: number, sport: number, dport: number, seq: number): Uint8Array {
  const tcp8 = new Uint8Array(8);
  const dv = new DataView(tcp8.buffer);
  dv.setUint16(0, sport); dv.setUint16(2, dport); dv.setUint32(4, seq >>> 0);
  const quoted = buildIp(LOCAL, REMOTE, 6, tcp8);
  const icmp = new Uint8Array(8 + quoted.length);
  icmp[0] = 3; icmp[1] = code;
  new DataView(icmp.buffer).setUint16(6, mtu);
  icmp.set(quoted, 8);
  new DataView(icmp.buffer).setUint16(2, checksum(icmp));
  return buildIp('10.0.0.254', LOCAL, 1, icmp);
}

const fromEst = (p: Peer, code: number, mtu: number, relSeq: number) =>
  p.step({ type: 'packet', data: unreach(code, mtu, LPORT, RPORT, (p.liss! + relSeq) >>> 0) });

test('PMTU: fragmentation-needed for data in flight lowers the MSS and resends at the new size', () => {
  const p = established().write(2920).drain();
  fromEst(p, 4, 1000, 1);
  assert.is(p.tcb().mss, 960);
  p.recv(
    { flags: ACK, seq: 1, ack: 1, data: 960 }, { flags: ACK, seq: 961, ack: 1, data: 960 },
    { flags: ACK, seq: 1921, ack: 1, data: 960 }, { flags: ACK | PSH, seq: 2881, ack: 1, data: 40 },
  );
  assert.is(p.tcb().cc.cwnd, 10 * 1460, 'no congestion response to a PMTU change');
});

test('PMTU: a quoted sequence number outside SND.UNA..SND.NXT is ignored (RFC 5927 §4.1)', () => {
  const p = established().write(100).drain();
  fromEst(p, 4, 1000, 5000);
  assert.is(p.tcb().mss, 1460);
  assert.is(p.st.counters['icmp-bad-seq'], 1);
  p.recv();
});

test('PMTU: the MTU never goes below the IPv4 floor (minPmtuV4)', () => {
  const p = established().write(100).drain();
  fromEst(p, 4, 100, 1);
  assert.is(p.tcb().pmtu, 552);
  assert.is(p.tcb().mss, 512);
});

test('ICMP port unreachable in SYN-SENT: ECONNREFUSED (RFC 1122 §4.2.3.9 hard error)', () => {
  const p = synSent();
  p.step({ type: 'packet', data: unreach(3, 0, RPORT, LPORT, p.liss!) });
  p.expectState('CLOSED').expectEvents('error:ECONNREFUSED', 'closed');
});

test('ICMP host unreachable in SYN-SENT is a soft error reported if the connect times out', () => {
  const p = synSent({ tcp: { ...PLAIN.tcp, synRetries: 1 } });
  p.step({ type: 'packet', data: unreach(1, 0, RPORT, LPORT, p.liss!) });
  p.expectState('SYN-SENT');
  p.at(1000).tick().at(3000).tick().expectEvents('error:EHOSTUNREACH', 'closed');
});

test('ICMP for an unknown connection is ignored', () => {
  const p = established();
  p.step({ type: 'packet', data: unreach(4, 1000, 1234, 5678, 1) });
  assert.is(p.st.counters['icmp-no-conn'], 1);
});

test('ICMP port unreachable in SYN-SENT with icmpHardErrors off is only a soft error', () => {
  const p = synSent({ ...PLAIN, stack: { icmpHardErrors: false } });
  p.step({ type: 'packet', data: unreach(3, 0, RPORT, LPORT, p.liss!) });
  p.expectState('SYN-SENT').expectEvents();
});

test.run();
