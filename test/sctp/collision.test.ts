// RFC 9260 §5.2: INIT collisions and restarts. §5.2.1 INIT in COOKIE-WAIT / COOKIE-ECHOED,
// §5.2.2 unexpected INIT in other states (new tag, tie-tags in the cookie), §5.2.4 Table 8
// (COOKIE ECHO when an association exists: cases A-E), §9.2 INIT in SHUTDOWN-ACK-SENT.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeCookie, decodeCookie, type CookieData } from '../../stack/sctp/cookie.ts';
import { cookieEchoChunk, ipAddressParam, type SctpInitAckChunk } from '../../stack/wire/sctp.ts';
import { LOCAL, LPORT, PEER_TAG, PEER_TSN, REMOTE, RPORT, REMOTE2, initAck, peer, type Peer } from './peer.ts';

function lastInitAck(p: Peer): SctpInitAckChunk {
  const s = p.takeSent().filter((x) => x.chunk.type === 'INIT-ACK');
  assert.is(s.length, 1, 'one INIT ACK');
  return s[0]!.chunk as SctpInitAckChunk;
}
const cookieIn = (ack: SctpInitAckChunk): Uint8Array => {
  const c = ack.params.find((q) => q.type === 'state-cookie');
  if (c === undefined || c.type !== 'state-cookie') throw new Error('no cookie');
  return c.cookie;
};

/** A cookie for the association of `p`, with the given differences (built with the stack's own key). */
function craft(p: Peer, d: Partial<CookieData>): Uint8Array {
  const a = p.assoc();
  const ck: CookieData = {
    created: p.now, life: 60_000, myVtag: a.myVtag, myInitialTsn: 77, myTieTag: 0, peerTieTag: 0,
    localPort: LPORT, remotePort: RPORT, udpPort: null, peerVtag: a.peerVtag, peerRwnd: 50_000, peerOS: 10, peerMIS: 10,
    peerInitialTsn: 5000, peerPrSctp: true, ourOS: 10, ourMIS: 2048, src: REMOTE, dst: LOCAL, peerAddrs: [], ...d,
  };
  return encodeCookie(ck, p.st.cookieKey);
}

test('COOKIE-WAIT: INIT collision: INIT ACK with our original tag and TSN, no tie-tags; state unchanged (§5.2.1)', () => {
  const p = peer().connect();
  p.recv({ type: 'INIT' });
  const a = p.assoc();
  p.send([p.init({ tag: 0x99 })]);
  const ack = lastInitAck(p);
  assert.is(ack.initiateTag, a.myVtag);
  assert.is(ack.initialTsn, a.myInitialTsn);
  const ck = decodeCookie(cookieIn(ack), p.st.cookieKey);
  if (typeof ck === 'string') throw new Error(ck);
  assert.is(ck.myTieTag, 0);
  assert.is(ck.peerTieTag, 0);
  assert.is(ck.peerVtag, 0x99);
  assert.is(a.state, 'COOKIE-WAIT');
  assert.ok(a.t1 !== null, 'T1-init left running');
});

test('COOKIE-WAIT: the peer echoes the cookie of our INIT ACK (Table 8 B with peer tag 0): ESTABLISHED, COOKIE ACK', () => {
  const p = peer().connect();
  p.recv({ type: 'INIT' });
  p.send([p.init({ tag: 0x99, tsn: 4000 })]);
  const ack = lastInitAck(p);
  p.peerTag = 0x99;
  p.send([cookieEchoChunk(cookieIn(ack))], { vtag: ack.initiateTag }).recv({ type: 'COOKIE-ACK' });
  const a = p.assoc();
  assert.is(a.state, 'ESTABLISHED');
  assert.is(a.peerVtag, 0x99);
  assert.is(a.cumTsn, 3999);
  assert.is(a.t1, null);
  p.expectEvents({ type: 'connected' });
});

test('COOKIE-ECHOED: INIT collision: INIT ACK carries our tie-tags in the cookie (§5.2.1)', () => {
  const p = peer().connect();
  p.recv({ type: 'INIT' }).send([initAck()]).recv({ type: 'COOKIE-ECHO' });
  const a = p.assoc();
  p.send([p.init({ tag: 0x99 })]);
  const ck = decodeCookie(cookieIn(lastInitAck(p)), p.st.cookieKey);
  if (typeof ck === 'string') throw new Error(ck);
  assert.is(ck.myVtag, a.myVtag);
  assert.is(ck.myTieTag, a.myTieTag);
  assert.is(ck.peerTieTag, a.peerTieTag);
  assert.is(a.state, 'COOKIE-ECHOED');
});

test('ESTABLISHED: an unexpected INIT gets an INIT ACK with a new tag and tie-tags; nothing changes (§5.2.2)', () => {
  const p = peer().established();
  const a = p.assoc();
  const before = JSON.stringify({ my: a.myVtag, peer: a.peerVtag, st: a.state, tsn: a.nextTsn });
  p.send([p.init({ tag: 0x5555 })]);
  const ack = lastInitAck(p);
  assert.is.not(ack.initiateTag, a.myVtag);
  const ck = decodeCookie(cookieIn(ack), p.st.cookieKey);
  if (typeof ck === 'string') throw new Error(ck);
  assert.is(ck.myTieTag, a.myTieTag);
  assert.is(ck.peerTieTag, a.peerTieTag);
  assert.is(JSON.stringify({ my: a.myVtag, peer: a.peerVtag, st: a.state, tsn: a.nextTsn }), before);
});

test('ESTABLISHED: peer restart (Table 8 A): new tags and TSNs, COOKIE ACK, restart event', () => {
  const p = peer().established();
  const a = p.assoc();
  p.step({ type: 'send', id: p.id!, data: new TextEncoder().encode('queued') });
  p.takeSent();
  p.send([p.init({ tag: 0x5555, tsn: 9000 })]);
  const ack = lastInitAck(p);
  p.peerTag = 0x5555;
  p.send([cookieEchoChunk(cookieIn(ack))], { vtag: ack.initiateTag }).recv({ type: 'COOKIE-ACK' });
  p.expectEvents({ type: 'restart' });
  assert.is(a.myVtag, ack.initiateTag);
  assert.is(a.peerVtag, 0x5555);
  assert.is(a.cumTsn, 8999);
  assert.is(a.nextTsn, ack.initialTsn);
  assert.is(a.state, 'ESTABLISHED');
  assert.is(a.sent.length, 0, 'data of the old association is gone');
  p.tag = a.myVtag;
  p.send([p.data('after restart', { tsn: 9000 })]).at(200).tick().recv({ type: 'SACK', cumTsnAck: 9000 });
});

test('ESTABLISHED: INIT with a new address is a restart with new addresses: ABORT with that cause (§5.2.2)', () => {
  const p = peer().established();
  p.send([p.init({ tag: 0x5555, params: [ipAddressParam(REMOTE2)] })]);
  p.recv({ type: 'ABORT', $vtag: 0x5555 });
  assert.is(p.assoc().state, 'ESTABLISHED');
});

test('ESTABLISHED: a retransmitted COOKIE ECHO (Table 8 D) gets another COOKIE ACK', () => {
  const p = peer().established();
  p.send([cookieEchoChunk(craft(p, {}))]).recv({ type: 'COOKIE-ACK' });
  assert.is(p.assoc().state, 'ESTABLISHED');
});

test('ESTABLISHED: Table 8 B (our tag matches, peer tag differs): peer tag updated, COOKIE ACK', () => {
  const p = peer().established();
  p.send([cookieEchoChunk(craft(p, { peerVtag: 0xabcdef }))]);
  p.peerTag = 0xabcdef;
  p.recv({ type: 'COOKIE-ACK' });
  assert.is(p.assoc().peerVtag, 0xabcdef);
});

test('ESTABLISHED: Table 8 C (late cookie: peer tag matches, ours does not, no tie-tags) is discarded', () => {
  const p = peer().established();
  const a = p.assoc();
  p.send([cookieEchoChunk(craft(p, { myVtag: 0x1234 }))], { vtag: 0x1234 }).recv();
  assert.is(a.myVtag, p.tag);
});

test('ESTABLISHED: Table 8 E (no match) is discarded', () => {
  const p = peer().established();
  const a = p.assoc();
  p.send([cookieEchoChunk(craft(p, { myVtag: 0x1234, peerVtag: 0x4321, myTieTag: 1, peerTieTag: 2 }))], { vtag: 0x1234 }).recv();
  assert.is(a.peerVtag, PEER_TAG);
});

test('ESTABLISHED: a stale cookie for a restart gets Stale Cookie; a stale one matching both tags is still taken (§5.2.4 step 3)', () => {
  const p = peer().established();
  const a = p.assoc();
  p.at(100_000);
  p.send([cookieEchoChunk(craft(p, { created: 0, myVtag: 0x1234, peerVtag: 0x4321, myTieTag: a.myTieTag, peerTieTag: a.peerTieTag }))], { vtag: 0x1234 });
  p.peerTag = 0x4321;
  p.recv({ type: 'ERROR', causes: [{ type: 'stale-cookie', staleness: 40_000_000 }] });
  p.peerTag = PEER_TAG;
  p.send([cookieEchoChunk(craft(p, { created: 0 }))]).recv({ type: 'COOKIE-ACK' });
});

test('SHUTDOWN-ACK-SENT: an INIT is discarded and the SHUTDOWN ACK sent again (§9.2)', () => {
  const p = peer().established();
  p.send([{ type: 'SHUTDOWN', flags: 0, cumTsnAck: (p.tsn - 1) >>> 0 }]).recv({ type: 'SHUTDOWN-ACK' });
  p.send([p.init({ tag: 0x5555 })]).recv({ type: 'SHUTDOWN-ACK' });
});

test('SHUTDOWN-ACK-SENT: a restart cookie gets SHUTDOWN ACK and ERROR Cookie Received While Shutting Down (§5.2.4 A)', () => {
  const p = peer().established();
  const a = p.assoc();
  p.send([{ type: 'SHUTDOWN', flags: 0, cumTsnAck: (p.tsn - 1) >>> 0 }]).recv({ type: 'SHUTDOWN-ACK' });
  p.send([cookieEchoChunk(craft(p, { myVtag: 0x1234, peerVtag: 0x4321, myTieTag: a.myTieTag, peerTieTag: a.peerTieTag }))], { vtag: 0x1234 });
  p.recv({ type: 'SHUTDOWN-ACK' }, { type: 'ERROR', causes: [{ type: 'cookie-while-shutting-down' }] });
  assert.is(a.state, 'SHUTDOWN-ACK-SENT');
});

test('simultaneous open: both sides INIT, both answer, one association results (§5.2.1 + Table 8)', () => {
  // Two stacks wired back to back by hand.
  const A = peer({ addresses: [LOCAL] }), B = peer({ addresses: [REMOTE] });
  A.connect([REMOTE], LPORT, RPORT);
  B.listen(RPORT);
  B.step({ type: 'connect', local: null, localPort: LPORT, remote: [LOCAL], port: RPORT });
  B.id = (B.result as { id: string }).id;
  B.listen(LPORT);
  // Deliver everything each sends to the other until quiet.
  const pump = () => {
    for (let round = 0; round < 10; round++) {
      const fa = A.takeSent(), fb = B.takeSent();
      if (fa.length + fb.length === 0) return;
      for (const s of groupPackets(fa)) B.step({ type: 'packet', src: s.src, dst: s.dst, sctp: s.bytes, encap: null });
      for (const s of groupPackets(fb)) A.step({ type: 'packet', src: s.src, dst: s.dst, sctp: s.bytes, encap: null });
    }
  };
  pump();
  const ea = Object.values(A.st.assocs).filter((x) => x.state === 'ESTABLISHED');
  const eb = Object.values(B.st.assocs).filter((x) => x.state === 'ESTABLISHED');
  assert.is(ea.length, 1);
  assert.is(eb.length, 1);
  assert.is(ea[0]!.myVtag, eb[0]!.peerVtag);
  assert.is(ea[0]!.peerVtag, eb[0]!.myVtag);
});

import { emitSctp, sctpBufferLen, type SctpChunk } from '../../stack/wire/sctp.ts';
import type { Sent } from './peer.ts';
/** Re-pack what a stack sent (chunks with their packet number) into packet bytes. */
function groupPackets(sent: Sent[]): { src: string; dst: string; bytes: Uint8Array }[] {
  const by = new Map<number, Sent[]>();
  for (const s of sent) { const l = by.get(s.packet) ?? []; l.push(s); by.set(s.packet, l); }
  const out: { src: string; dst: string; bytes: Uint8Array }[] = [];
  for (const l of by.values()) {
    const f = l[0]!;
    // Ports: the stacks use LPORT <-> RPORT crosswise; recover them from the direction.
    const fromA = f.src === LOCAL;
    const pkt = { srcPort: fromA ? RPORT : LPORT, dstPort: fromA ? LPORT : RPORT, verificationTag: f.vtag, chunks: l.map((x) => x.chunk) as SctpChunk[] };
    const b = new Uint8Array(sctpBufferLen(pkt));
    emitSctp(pkt, b);
    out.push({ src: f.src, dst: f.dst, bytes: b });
  }
  return out;
}
void PEER_TSN;
test.run();
