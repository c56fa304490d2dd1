// NodeMux (migrate/node-mux.ts): one device, two stacks. Packets are split by protocol (SCTP
// raw or UDP-encapsulated to the SCTP host, the rest to the TCP host), and during a switch-over
// only packets for no connection held here (new SYNs, moved connections) are redirected.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NodeMux, peekPacket } from '../../migrate/node-mux.ts';
import { tickleAck, sctpAbort } from '../../migrate/node.ts';
import { decodePacket } from '../../stack/wire/packet.ts';
import { buildIp } from '../../stack/wire/ip.ts';
import { emitTcp, tcpBufferLen, tcpPseudoSum } from '../../stack/wire/tcp.ts';
import { Host, type Link } from '../../tun/driver.ts';
import { SctpHost } from '../../tun/sctp-socket.ts';
import { connKey } from '../../stack/demux.ts';

const SVC = '10.200.0.10', CLI = '10.210.1.1';

function tcp(src: string, sport: number, dst: string, dport: number, flags: number): Uint8Array {
  const seg = { srcPort: sport, dstPort: dport, seq: 1000, ack: 0, flags, reserved: 0, window: 65535, urgent: 0, options: [], payload: new Uint8Array(0) };
  const b = new Uint8Array(tcpBufferLen(seg));
  emitTcp(seg, b, tcpPseudoSum(src, dst, b.length));
  return buildIp(src, dst, 6, b, { ttl: 64, hopLimit: 64 });
}

function fakeLink(): Link & { rx: ((p: Uint8Array[]) => void) | null; sent: Uint8Array[] } {
  const l = { rx: null as ((p: Uint8Array[]) => void) | null, sent: [] as Uint8Array[], send(p: Uint8Array[]) { l.sent.push(...p); }, onReceive(cb: (p: Uint8Array[]) => void) { l.rx = cb; }, close() {} };
  return l;
}

test('peekPacket classifies TCP, raw SCTP, UDP-encapsulated SCTP, ICMP, IPv6 and refuses garbage', () => {
  assert.is(peekPacket(tcp(CLI, 4000, SVC, 80, 0x02), 9899)?.cls, 'tcp');
  assert.is(peekPacket(buildIp(CLI, SVC, 132, new Uint8Array(12), {}), 9899)?.cls, 'sctp');
  const udp = new Uint8Array(8 + 12); udp[2] = 9899 >> 8; udp[3] = 9899 & 0xff;
  assert.is(peekPacket(buildIp(CLI, SVC, 17, udp, {}), 9899)?.cls, 'sctp');
  const udp2 = new Uint8Array(8 + 12); udp2[3] = 53;
  assert.is(peekPacket(buildIp(CLI, SVC, 17, udp2, {}), 9899)?.cls, 'tcp');
  assert.is(peekPacket(buildIp(CLI, SVC, 1, new Uint8Array(8), {}), 9899)?.cls, 'tcp');
  assert.is(peekPacket(buildIp('fd00::1', 'fd00::2', 132, new Uint8Array(12), {}), 9899)?.cls, 'sctp');
  assert.is(peekPacket(new Uint8Array(3), 9899), null);
  assert.is(peekPacket(new Uint8Array(40).fill(0x75), 9899), null);
  const frag = tcp(CLI, 4000, SVC, 80, 0x02); frag[6] = 0x20; // MF
  assert.is(peekPacket(frag, 9899)?.proto, null, 'a fragment is not looked into');
});

test('the mux splits by protocol, and redirects only packets for connections not held here', () => {
  const dev = fakeLink();
  const mux = new NodeMux(dev, [SVC]);
  const host = new Host({ addresses: [SVC], link: mux.tcpLink, secret: new Uint8Array(32).fill(1), timers: false });
  const sctp = new SctpHost({ addresses: [SVC], link: mux.sctpLink, secret: new Uint8Array(32).fill(2), timers: false });
  mux.tcpHost = host; mux.sctpHost = sctp;
  host.createServer(() => {}).listen(80);
  // A SYN with no redirect: answered locally (SYN-ACK out of the device).
  dev.rx!([tcp(CLI, 4000, SVC, 80, 0x02)]);
  assert.is(dev.sent.length, 1);
  const synack = decodePacket(dev.sent[0]!);
  assert.ok(synack.ok && synack.value.transport.proto === 'tcp' && synack.value.transport.tcp.flags === 0x12, 'SYN-ACK');
  assert.ok(host.state.tcp[connKey(SVC, 80, CLI, 4000)] !== undefined, 'connection held here');
  // During a switch-over: a packet of the held connection stays; a new SYN is redirected.
  const redirected: Uint8Array[] = [];
  mux.redirect = (p) => redirected.push(p.slice());
  dev.sent.length = 0;
  dev.rx!([tcp(CLI, 4000, SVC, 80, 0x10), tcp(CLI, 4001, SVC, 80, 0x02), tcp(CLI, 4002, '10.9.9.9', 80, 0x02)]);
  assert.is(redirected.length, 1, 'only the new SYN to the service address');
  assert.is(decodePacket(redirected[0]!).ok, true);
  assert.is(mux.stats.redirected, 1);
  // Injected packets (from the other node) are never redirected back.
  mux.inject([tcp(CLI, 4003, SVC, 80, 0x02)]);
  assert.is(redirected.length, 1);
  assert.ok(host.state.tcp[connKey(SVC, 80, CLI, 4003)] !== undefined, 'the injected SYN reached the local stack');
  host.close(); sctp.close();
});

test('tickle ACK and SCTP ABORT are well-formed packets', () => {
  const t = decodePacket(tickleAck(SVC, 80, CLI, 4000, 0x80000000));
  assert.ok(t.ok && t.value.transport.proto === 'tcp');
  if (t.ok && t.value.transport.proto === 'tcp') { assert.is(t.value.transport.tcp.flags, 0x10); assert.is(t.value.transport.tcp.seq, 0x80000000); }
  const a = decodePacket(sctpAbort(SVC, 7, CLI, 5000, 0xdeadbeef, 0));
  assert.ok(a.ok && a.value.transport.proto === 'sctp', a.ok ? '' : a.error);
  if (a.ok && a.value.transport.proto === 'sctp') { assert.is(a.value.transport.sctp.verificationTag, 0xdeadbeef); assert.is(a.value.transport.sctp.chunks[0]?.type, 'ABORT'); }
  const u = decodePacket(sctpAbort(SVC, 7, CLI, 5000, 1, 9899));
  assert.ok(u.ok && u.value.transport.proto === 'udp');
});

test.run();
