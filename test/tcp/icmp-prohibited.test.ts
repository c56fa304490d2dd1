// ICMP "administratively prohibited" errors (ICMPv4 codes 9, 10, 13; ICMPv6 code 1) are hard
// errors in SYN-SENT, like protocol/port unreachable; Time Exceeded and Parameter Problem are soft
// errors, reported when the connection times out (RFC 1122 §4.2.3.9).
import { test } from 'uvu';
import { checksum } from '../../stack/wire/checksum.ts';
import { buildIp } from '../../stack/wire/ip.ts';
import { LOCAL, LPORT, PLAIN, REMOTE, RPORT, synSent, type Peer } from './peer.ts';

/** An ICMPv4 error of `type`/`code` quoting our segment LOCAL:RPORT -> REMOTE:LPORT with `seq`. */
function icmpAbout(p: Peer, type: number, code: number): Uint8Array {
  const tcp8 = new Uint8Array(8);
  const dv = new DataView(tcp8.buffer);
  dv.setUint16(0, RPORT); dv.setUint16(2, LPORT); dv.setUint32(4, p.liss! >>> 0);
  const quoted = buildIp(LOCAL, REMOTE, 6, tcp8);
  const icmp = new Uint8Array(8 + quoted.length);
  icmp[0] = type; icmp[1] = code;
  icmp.set(quoted, 8);
  new DataView(icmp.buffer).setUint16(2, checksum(icmp));
  return buildIp('10.0.0.254', LOCAL, 1, icmp);
}

for (const code of [9, 10, 13]) {
  test(`ICMP unreachable code ${code} (administratively prohibited) in SYN-SENT: ECONNREFUSED`, () => {
    const p = synSent();
    p.step({ type: 'packet', data: icmpAbout(p, 3, code) });
    p.expectState('CLOSED').expectEvents('error:ECONNREFUSED', 'closed');
  });
}

test('ICMP administratively prohibited with icmpHardErrors off: soft, the attempt goes on', () => {
  const p = synSent({ ...PLAIN, stack: { icmpHardErrors: false } });
  p.step({ type: 'packet', data: icmpAbout(p, 3, 13) });
  p.expectState('SYN-SENT').expectEvents();
});

for (const [type, name] of [[11, 'Time Exceeded'], [12, 'Parameter Problem']] as const) {
  test(`ICMP ${name} in SYN-SENT is a soft error: no abort, reported if the connect times out (RFC 1122 §4.2.3.9)`, () => {
    const p = synSent({ ...PLAIN, tcp: { ...PLAIN.tcp, synRetries: 1 } });
    p.step({ type: 'packet', data: icmpAbout(p, type, 0) });
    p.expectState('SYN-SENT').expectEvents();
    p.at(1000).tick().at(3000).tick().expectEvents('error:EHOSTUNREACH', 'closed');
  });
}

test.run();
