// TCP over UDP (StackConfig.tcpOverUdp, TcpSocketConfig.udpEncapPort; FreeBSD's
// net.inet.tcp.udp_tunneling_port): segments inside UDP, the UDP checksum covering them, the
// connection bound to the peer's UDP port.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { StackConfig, TcpSocketConfig } from '../../stack/api.ts';
import { createStack, defaultStackConfig, stackStep, type StackState } from '../../stack/stack.ts';
import { buildIp, ipPseudoSum, parseIp } from '../../stack/wire/ip.ts';
import { parseUdp } from '../../stack/wire/udp.ts';
import { ACK, RST, SYN, emitTcp, parseTcp, tcpBufferLen, tcpPseudoSum, type TcpSegment } from '../../stack/wire/tcp.ts';
import { finish, sum16 } from '../../stack/wire/checksum.ts';
import { decodeState, encodeState } from '../../migrate/codec.ts';

const L = '10.1.0.1', R = '10.1.0.2', TUN = 9811;
const SECRET = new Uint8Array(32).fill(5);

function stack(over: Partial<StackConfig> = {}, tcp: Partial<TcpSocketConfig> = {}): StackState {
  const c = defaultStackConfig([L]);
  return createStack({ ...c, tcpOverUdp: { port: TUN, mtuOverhead: 8 }, ...over, tcp: { ...c.tcp, timestamps: false, wscale: false, ...tcp } }, SECRET, 0);
}

interface Out { udp: { sport: number; dport: number } | null; seg: TcpSegment; tcpSumField: number }

/** Decode what the stack sent: UDP checksum verified, TCP inside. */
function decode(pkt: Uint8Array): Out {
  const ip = parseIp(pkt);
  if (!ip.ok) throw new Error(ip.error);
  const v = ip.value;
  if (v.protocol === 6) {
    const t = parseTcp(v.payload, tcpPseudoSum(v.src, v.dst, v.payload.length));
    if (!t.ok) throw new Error(t.error);
    return { udp: null, seg: t.value, tcpSumField: (v.payload[16]! << 8) | v.payload[17]! };
  }
  assert.is(v.protocol, 17);
  const u = parseUdp(v.payload, ipPseudoSum(v.src, v.dst, 17, v.payload.length), v.version);
  if (!u.ok) throw new Error(`UDP: ${u.error}`);
  assert.not.ok(u.value.noChecksum, 'the UDP checksum is filled in');
  const t = parseTcp(u.value.payload, null);
  if (!t.ok) throw new Error(t.error);
  return { udp: { sport: u.value.srcPort, dport: u.value.dstPort }, seg: t.value, tcpSumField: (u.value.payload[16]! << 8) | u.value.payload[17]! };
}

/** A segment from R:rport to L:80, inside UDP from `uport` to the tunnel port (null: plain TCP). */
function inbound(seg: Partial<TcpSegment> & { flags: number }, uport: number | null, rport = 5000, badUdpSum = false): Uint8Array {
  const s: TcpSegment = { srcPort: rport, dstPort: 80, seq: 1000, ack: 0, reserved: 0, window: 65535, urgent: 0, options: [], payload: new Uint8Array(0), ...seg };
  const len = tcpBufferLen(s);
  const l4 = new Uint8Array(len);
  emitTcp(s, l4, tcpPseudoSum(R, L, len));
  if (uport === null) return buildIp(R, L, 6, l4);
  const d = new Uint8Array(8 + len);
  d.set(l4, 8);
  d[8 + 16] = 0; d[8 + 17] = 0; // as FreeBSD sends it: the UDP checksum covers the segment
  d[0] = uport >> 8; d[1] = uport & 0xff; d[2] = TUN >> 8; d[3] = TUN & 0xff; d[4] = d.length >> 8; d[5] = d.length & 0xff;
  const c = finish(sum16(d, ipPseudoSum(R, L, 17, d.length)));
  d[6] = (c >> 8) ^ (badUdpSum ? 0xff : 0); d[7] = c & 0xff;
  return buildIp(R, L, 17, d);
}

function step(st: StackState, ev: Parameters<typeof stackStep>[1], now = 0) {
  const r = stackStep(st, ev, now);
  assert.equal(decodeState(encodeState(st)), st as unknown, 'state stays plain data');
  return { ...r, dec: r.out.map(decode) };
}

test('TCP over UDP, active open: the SYN goes inside UDP to the peer port, MSS less the UDP overhead, TCP checksum 0', () => {
  const st = stack();
  const r = step(st, { type: 'connect', local: null, localPort: 40000, remote: R, port: 80, options: { udpEncapPort: 7777 } });
  assert.ok(r.result?.ok);
  assert.is(r.dec.length, 1);
  const o = r.dec[0]!;
  assert.equal(o.udp, { sport: TUN, dport: 7777 });
  assert.is(o.seg.flags, SYN);
  assert.equal(o.seg.options[0], { kind: 'mss', mss: 1452 });
  assert.is(o.tcpSumField, 0);
});

test('TCP over UDP: the UDP port of an open connection cannot be changed (EINVAL)', () => {
  const st = stack();
  const r = step(st, { type: 'connect', local: null, localPort: 40000, remote: R, port: 80, options: { udpEncapPort: 7777 } });
  const id = (r.result as { ok: true; id: string }).id;
  assert.equal(step(st, { type: 'set-option', id, options: { udpEncapPort: 7778 } }).result, { ok: false, code: 'EINVAL' });
  assert.equal(step(st, { type: 'set-option', id, options: { udpEncapPort: 7777, noDelay: true } }).result, { ok: true });
  assert.is(st.tcp[id]!.cfg.udpEncapPort, 7777);
});

test('TCP over UDP: connect with udpEncapPort but no tunnelling port is EINVAL', () => {
  const st = stack({ tcpOverUdp: null });
  const r = step(st, { type: 'connect', local: null, localPort: 40000, remote: R, port: 80, options: { udpEncapPort: 7777 } });
  assert.equal(r.result, { ok: false, code: 'EINVAL' });
  assert.is(r.out.length, 0);
});

test('TCP over UDP, passive open: the SYN|ACK goes back to the UDP port the SYN came from', () => {
  const st = stack();
  step(st, { type: 'listen', addr: null, port: 80, backlog: 4 });
  const r = step(st, { type: 'packet', data: inbound({ flags: SYN }, 6000) });
  assert.is(r.dec.length, 1);
  assert.equal(r.dec[0]!.udp, { sport: TUN, dport: 6000 });
  assert.is(r.dec[0]!.seg.flags, SYN | ACK);
  const tcb = Object.values(st.tcp)[0]!;
  assert.is(tcb.cfg.udpEncapPort, 6000);
  assert.is(tcb.advMss, 1452);
});

test('TCP over UDP: a segment over another UDP port, or plain, draws a RST that way and leaves the connection alone', () => {
  const st = stack();
  step(st, { type: 'listen', addr: null, port: 80, backlog: 4 });
  const syn = step(st, { type: 'packet', data: inbound({ flags: SYN }, 6000) });
  const iss = syn.dec[0]!.seg.seq;
  step(st, { type: 'packet', data: inbound({ flags: ACK, seq: 1001, ack: (iss + 1) >>> 0 }, 6000) });
  const tcb = Object.values(st.tcp)[0]!;
  assert.is(tcb.state, 'ESTABLISHED');
  const a = step(st, { type: 'packet', data: inbound({ flags: ACK, seq: 1001, ack: (iss + 1) >>> 0 }, 1) });
  assert.is(a.dec.length, 1);
  assert.equal(a.dec[0]!.udp, { sport: TUN, dport: 1 });
  assert.is(a.dec[0]!.seg.flags, RST);
  assert.is(a.dec[0]!.seg.seq, (iss + 1) >>> 0);
  const b = step(st, { type: 'packet', data: inbound({ flags: SYN, seq: 1001 }, null) });
  assert.is(b.dec.length, 1);
  assert.is(b.dec[0]!.udp, null);
  assert.is(b.dec[0]!.seg.flags, RST | ACK);
  assert.is(b.dec[0]!.seg.ack, 1002);
  assert.is(st.counters['tcp-udp-port-mismatch'], 2);
  assert.is(tcb.state, 'ESTABLISHED');
  assert.is(st.tcp[tcb.id], tcb);
});

test('TCP over UDP: a bad UDP checksum, another UDP port, or tunnelling off: dropped unanswered', () => {
  const st = stack();
  step(st, { type: 'listen', addr: null, port: 80, backlog: 4 });
  assert.is(step(st, { type: 'packet', data: inbound({ flags: SYN }, 6000, 5000, true) }).out.length, 0);
  assert.is(st.counters['udp-bad-checksum'], 1);
  const other = inbound({ flags: SYN }, 6000);
  other[20 + 3] = 0x99; // UDP destination port 9811 -> 9881
  assert.is(step(st, { type: 'packet', data: other }).out.length, 0);
  assert.is(st.counters['udp-no-port'], 1);
  const off = stack({ tcpOverUdp: null });
  step(off, { type: 'listen', addr: null, port: 80, backlog: 4 });
  assert.is(step(off, { type: 'packet', data: inbound({ flags: SYN }, 6000) }).out.length, 0);
  assert.is(off.counters['udp-no-port'], 1);
  assert.is(Object.keys(st.tcp).length + Object.keys(off.tcp).length, 0);
});

test('TCP over UDP: a closed port answers with a RST inside UDP to the sender', () => {
  const st = stack();
  const r = step(st, { type: 'packet', data: inbound({ flags: SYN }, 6000) });
  assert.is(r.dec.length, 1);
  assert.equal(r.dec[0]!.udp, { sport: TUN, dport: 6000 });
  assert.is(r.dec[0]!.seg.flags, RST | ACK);
});

test.run();
