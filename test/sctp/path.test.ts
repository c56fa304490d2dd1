// RFC 9260 §8.3 HEARTBEAT, §5.4 path verification, §8.2 path failure, §6.4 multi-homing
// (primary path, retransmission to an alternate, failover), §10.1 SET PRIMARY.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { heartbeatChunk, ipAddressParam, forwardTsnSupportedParam, sackChunk, type SctpHeartbeatChunk } from '../../stack/wire/sctp.ts';
import { LOCAL, LOCAL2, REMOTE, REMOTE2, peer, type Peer } from './peer.ts';

/** Answer the HEARTBEAT the stack sent with a HEARTBEAT ACK echoing it. */
function echoHb(p: Peer, hb: SctpHeartbeatChunk, src = REMOTE): Peer {
  return p.send([{ type: 'HEARTBEAT-ACK', flags: 0, params: hb.params }], { src });
}

test('a HEARTBEAT is answered with a HEARTBEAT ACK carrying its parameters, to its source (§8.3)', () => {
  const p = peer().established();
  const info = new Uint8Array([1, 2, 3, 4, 5]);
  p.send([heartbeatChunk(info)]).recv({ type: 'HEARTBEAT-ACK', params: [{ type: 'heartbeat-info', info }], $dst: REMOTE });
});

test('an idle path is heartbeated after RTO + HB.interval, jittered by ±RTO/2 (§8.3)', () => {
  const p = peer().established();
  const a = p.assoc();
  const at = a.paths[0]!.hbAt!;
  assert.ok(at >= 30_000 + 500 && at <= 30_000 + 1500, `first heartbeat at ${at}`);
  p.at(at - 1).tick().recv().at(at).tick().recv({ type: 'HEARTBEAT', $dst: REMOTE });
  assert.ok(a.paths[0]!.hbPending);
  // Another association of another stack draws different jitter from its secret.
  const q = peer({ addresses: [LOCAL] });
  q.st.rand = 12345;
  q.established();
  assert.is.not(q.assoc().paths[0]!.hbAt, at);
});

test('HEARTBEAT ACK: RTT sample and rescheduling; a wrong nonce is ignored', () => {
  const p = peer({ assoc: { rtoMin: 50 } }).established();
  const a = p.assoc();
  p.runUntil(a.paths[0]!.hbAt!);
  const s = p.takeSent();
  assert.is(s.length, 1);
  const hb = s[0]!.chunk as SctpHeartbeatChunk;
  const info = (hb.params[0] as { info: Uint8Array }).info.slice();
  const forged = info.slice();
  forged[0]! ^= 1;
  p.at(p.now + 120);
  p.send([{ type: 'HEARTBEAT-ACK', flags: 0, params: [{ type: 'heartbeat-info', info: forged }] }]);
  assert.is(a.paths[0]!.srtt, null, 'forged nonce: no RTT sample');
  echoHb(p, hb);
  assert.is(a.paths[0]!.srtt, 120);
  assert.is(a.paths[0]!.hbPending, false);
});

test('unanswered HEARTBEATs: path inactive after Path.Max.Retrans, association fails after Association.Max.Retrans (§8.1, §8.2)', () => {
  const p = peer({ assoc: { rtoMax: 2000, hbInterval: 1000 } }).established();
  p.runUntil(200_000);
  const n = p.takeSent().filter((s) => s.chunk.type === 'HEARTBEAT').length;
  p.expectEvents({ type: 'path', state: 'inactive' }, { type: 'error', code: 'ETIMEDOUT' }, { type: 'closed' });
  assert.is(n, 11);
});

function multihomed(): Peer {
  // The peer lists a second address in its INIT ACK; we have two addresses too.
  const p = peer({ addresses: [LOCAL, LOCAL2] }).connected({ params: [ipAddressParam(REMOTE2), forwardTsnSupportedParam()] });
  return p;
}

test('multi-homing: addresses listed in the INIT ACK become unconfirmed paths, probed by HEARTBEAT (§5.4)', () => {
  const p = multihomed();
  const a = p.assoc();
  assert.equal(a.paths.map((x) => [x.addr, x.local, x.confirmed]), [[REMOTE, LOCAL, true], [REMOTE2, LOCAL2, false]]);
  // Our INIT listed both our addresses.
  const q = peer({ addresses: [LOCAL, LOCAL2] }).connect();
  const init = q.takeSent()[0]!.chunk as { params: { type: string; addr?: string }[] };
  assert.equal(init.params.filter((x) => x.type === 'ipv4-address').map((x) => x.addr), [LOCAL, LOCAL2]);
  // The unconfirmed path is probed within about one RTO.
  const hbAt = a.paths[1]!.hbAt!;
  assert.ok(hbAt <= 1500, `probe at ${hbAt}`);
  p.runUntil(hbAt).recv({ type: 'HEARTBEAT', $dst: REMOTE2, $src: LOCAL2 });
});

test('multi-homing: a HEARTBEAT ACK confirms the alternate; T3 retransmissions go to it (§6.4.1)', () => {
  const p = multihomed();
  const a = p.assoc();
  p.runUntil(a.paths[1]!.hbAt!);
  const hb = p.takeSent()[0]!.chunk as SctpHeartbeatChunk;
  echoHb(p, hb, REMOTE2);
  assert.is(a.paths[1]!.confirmed, true);
  p.expectEvents({ type: 'path', addr: REMOTE2, state: 'confirmed' });
  p.step({ type: 'send', id: p.id!, data: new Uint8Array(10) }).recv({ type: 'DATA', $dst: REMOTE });
  p.at(p.now + 1000).tick().recv({ type: 'DATA', $dst: REMOTE2, $src: LOCAL2 });
  // The SACK for it arrives from the alternate.
  p.send([sackChunk(p.tsn, 65536)], { src: REMOTE2 });
  assert.is(a.sent.length, 0);
});

test('multi-homing: when the primary becomes inactive, new data goes to the alternate; SET PRIMARY moves it back', () => {
  const p = multihomed();
  const a = p.assoc();
  p.runUntil(a.paths[1]!.hbAt!);
  echoHb(p, p.takeSent()[0]!.chunk as SctpHeartbeatChunk, REMOTE2);
  a.paths[0]!.active = false;
  p.step({ type: 'send', id: p.id!, data: new Uint8Array(10) }).recv({ type: 'DATA', $dst: REMOTE2 });
  p.send([sackChunk(p.tsn, 65536)], { src: REMOTE2 });
  p.step({ type: 'set-primary', id: p.id!, addr: REMOTE2 });
  assert.is(a.primary, 1);
  a.paths[0]!.active = true;
  p.step({ type: 'set-primary', id: p.id!, addr: REMOTE });
  p.step({ type: 'send', id: p.id!, data: new Uint8Array(10) }).recv({ type: 'DATA', $dst: REMOTE });
  p.step({ type: 'set-primary', id: p.id!, addr: '10.9.9.9' });
  assert.equal(p.result, { ok: false, code: 'EINVAL' });
});

test('multi-homing: an unconfirmed address is never used for data (§5.4)', () => {
  const p = multihomed();
  const a = p.assoc();
  a.paths[0]!.active = false;
  p.step({ type: 'send', id: p.id!, data: new Uint8Array(10) });
  const d = p.takeSent().filter((s) => s.chunk.type === 'DATA');
  assert.is(d[0]!.dst, REMOTE, 'the inactive confirmed primary rather than the unconfirmed alternate');
});

test('a restart-free reply: SACKs go to the address the DATA came from (§6.4)', () => {
  const p = multihomed();
  const a = p.assoc();
  p.runUntil(a.paths[1]!.hbAt!);
  echoHb(p, p.takeSent()[0]!.chunk as SctpHeartbeatChunk, REMOTE2);
  p.send([p.data('x', { immediate: true })], { src: REMOTE2, dst: LOCAL2 }).recv({ type: 'SACK', $dst: REMOTE2, $src: LOCAL2 });
});

test('PMTU: a smaller path MTU makes smaller DATA chunks (§7.3)', () => {
  const p = peer().connected();
  p.step({ type: 'pmtu', id: p.id!, addr: REMOTE, mtu: 1000 });
  p.step({ type: 'send', id: p.id!, data: new Uint8Array(2000) });
  const sizes = p.takeSent().map((s) => (s.chunk as { userData: Uint8Array }).userData.length);
  assert.equal(sizes, [1000 - 20 - 12 - 16, 1000 - 20 - 12 - 16, 2000 - 2 * 952]);
});

test('ICMP Packet Too Big with the peer\'s tag lowers the path MTU; a wrong tag is ignored (Appendix C)', () => {
  const p = peer().connected();
  const quoted = (vtag: number) => { const b = new Uint8Array(12); const dv = new DataView(b.buffer); dv.setUint16(0, 5000); dv.setUint16(2, 40000); dv.setUint32(4, vtag); return b; };
  p.step({ type: 'icmp', local: LOCAL, remote: REMOTE, quoted: quoted(0x1234), kind: 'frag-needed', mtu: 1200 });
  assert.is(p.assoc().paths[0]!.pmtu, 1500);
  p.step({ type: 'icmp', local: LOCAL, remote: REMOTE, quoted: quoted(p.peerTag), kind: 'frag-needed', mtu: 1200 });
  assert.is(p.assoc().paths[0]!.pmtu, 1200);
  p.step({ type: 'send', id: p.id!, data: new Uint8Array(2000) });
  assert.equal(p.takeSent().map((s) => (s.chunk as { userData: Uint8Array }).userData.length), [1152, 848]);
});

test('ICMP unreachable quoting our INIT during COOKIE-WAIT ends the attempt (ECONNREFUSED, Appendix C ICMP7)', () => {
  const p = peer().connect();
  p.recv({ type: 'INIT' });
  const b = new Uint8Array(20);
  const dv = new DataView(b.buffer);
  dv.setUint16(0, 5000); dv.setUint16(2, 40000); dv.setUint32(4, 0); b[12] = 1; dv.setUint32(16, p.tag);
  p.step({ type: 'icmp', local: LOCAL, remote: REMOTE, quoted: b, kind: 'unreachable', mtu: null });
  p.expectEvents({ type: 'error', code: 'ECONNREFUSED' }, { type: 'closed' });
});

test.run();
