// StackConfig.softErrorsAbortConnecting: ICMP soft errors ending a connection attempt in SYN-SENT,
// the non-standard reaction RFC 5461 describes (§4.1); off by default (RFC 1122 §4.2.3.9).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildIp } from '../../stack/wire/ip.ts';
import { checksum } from '../../stack/wire/checksum.ts';
import { LOCAL, PLAIN, REMOTE, RPORT, LPORT, established, synSent } from './peer.ts';
import type { PeerOptions } from './peer.ts';

/** An ICMPv4 error (type/code) about our segment LOCAL:sport -> REMOTE:dport with `seq`. */
function icmp4(type: number, code: number, sport: number, dport: number, seq: number): Uint8Array {
  const tcp8 = new Uint8Array(8);
  const dv = new DataView(tcp8.buffer);
  dv.setUint16(0, sport); dv.setUint16(2, dport); dv.setUint32(4, seq >>> 0);
  const quoted = buildIp(LOCAL, REMOTE, 6, tcp8);
  const m = new Uint8Array(8 + quoted.length);
  m[0] = type; m[1] = code;
  m.set(quoted, 8);
  new DataView(m.buffer).setUint16(2, checksum(m));
  return buildIp('10.0.0.254', LOCAL, 1, m);
}

const TIME_EXCEEDED = 11, UNREACH = 3;
const with_ = (mode: 'none' | 'time-exceeded' | 'all'): PeerOptions => ({ ...PLAIN, stack: { softErrorsAbortConnecting: mode } });

test('default (none): Time Exceeded in SYN-SENT is a soft error, the attempt goes on (RFC 1122 §4.2.3.9)', () => {
  const p = synSent();
  p.step({ type: 'packet', data: icmp4(TIME_EXCEEDED, 0, RPORT, LPORT, p.liss!) });
  p.expectState('SYN-SENT').expectEvents();
  assert.is(p.tcb().softError, 'EHOSTUNREACH');
});

test("'time-exceeded': Time Exceeded in transit ends the attempt with EHOSTUNREACH", () => {
  const p = synSent(with_('time-exceeded'));
  p.step({ type: 'packet', data: icmp4(TIME_EXCEEDED, 0, RPORT, LPORT, p.liss!) });
  p.expectState('CLOSED').expectEvents('error:EHOSTUNREACH', 'closed');
  assert.is(p.st.counters['icmp-soft-error-abort'], 1);
  p.recv();
});

test("'time-exceeded': reassembly Time Exceeded (code 1) and host unreachable stay soft", () => {
  const p = synSent(with_('time-exceeded'));
  p.step({ type: 'packet', data: icmp4(TIME_EXCEEDED, 1, RPORT, LPORT, p.liss!) });
  p.step({ type: 'packet', data: icmp4(UNREACH, 1, RPORT, LPORT, p.liss!) });
  p.expectState('SYN-SENT').expectEvents();
});

test("'all': network unreachable ends the attempt with ENETUNREACH", () => {
  const p = synSent(with_('all'));
  p.step({ type: 'packet', data: icmp4(UNREACH, 0, RPORT, LPORT, p.liss!) });
  p.expectState('CLOSED').expectEvents('error:ENETUNREACH', 'closed');
});

test("'all': a quoted sequence number that is not our SYN's is ignored (RFC 5927 §4.1)", () => {
  const p = synSent(with_('all'));
  p.step({ type: 'packet', data: icmp4(TIME_EXCEEDED, 0, RPORT, LPORT, (p.liss! + 7) >>> 0) });
  p.expectState('SYN-SENT').expectEvents();
  assert.is(p.st.counters['icmp-bad-seq'], 1);
});

test("'all': an ESTABLISHED connection keeps soft errors soft", () => {
  const p = established(with_('all')).write(100).drain();
  p.step({ type: 'packet', data: icmp4(TIME_EXCEEDED, 0, LPORT, RPORT, (p.liss! + 1) >>> 0) });
  p.expectState('ESTABLISHED').expectEvents();
});

test.run();
