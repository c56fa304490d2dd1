// RFC 9260 §5: the four-way handshake, the State Cookie, INIT parameters (§3.2.1), and the
// COOKIE-WAIT / COOKIE-ECHOED states of the active side.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { USRSCTP_PACKETS } from '../wire/sctp-fixtures.ts';
import { fromHex } from '../../stack/wire/bytes.ts';
import {
  cookieEchoChunk, parseSctp, forwardTsnSupportedParam, supportedExtensionsParam, abortChunk, errorChunk, staleCookieCause,
  type SctpChunk, type SctpParam, type SctpInitAckChunk,
} from '../../stack/wire/sctp.ts';
import { LOCAL, LPORT, PEER_COOKIE, PEER_TAG, PEER_TSN, REMOTE, RPORT, initAck, peer, type Peer } from './peer.ts';

/** The State Cookie of the last INIT ACK the stack sent. */
function cookieOf(p: Peer): { ack: SctpInitAckChunk; cookie: Uint8Array } {
  const s = p.takeSent().find((x) => x.chunk.type === 'INIT-ACK');
  assert.ok(s, 'an INIT ACK was sent');
  const ack = s!.chunk as SctpInitAckChunk;
  const ck = ack.params.find((q) => q.type === 'state-cookie');
  if (ck === undefined || ck.type !== 'state-cookie') throw new Error('INIT ACK without State Cookie');
  return { ack, cookie: ck.cookie };
}

const unknownParam = (t: number): SctpParam => ({ type: 'unknown', paramType: t, value: new Uint8Array([1, 2, 3]) });

test('LISTEN: INIT gets INIT ACK with a State Cookie; no association is kept (§5.1 B)', () => {
  const p = peer().listen().send([p0().init()]);
  const { ack } = cookieOf(p);
  assert.is(ack.initiateTag !== 0, true);
  assert.is(ack.outboundStreams, 10);              // min(our OS 10, peer MIS 10)
  assert.is(ack.inboundStreams, 2048);
  assert.is(ack.aRwnd, 256 * 1024);
  const types = ack.params.map((q) => q.type);
  assert.ok(types.includes('forward-tsn-supported'));
  assert.ok(types.includes('supported-extensions'));
  // No AUTH (RFC 4895) parameters: we do not implement it.
  assert.not.ok(types.includes('random') || types.includes('chunk-list') || types.includes('hmac-algo'));
  assert.equal(Object.keys(p.st.assocs), []);
});
const p0 = () => peer();

test('LISTEN: the INIT usrsctp sends (AUTH, ECN, extensions, addresses) is answered without AUTH or reports', () => {
  const raw = fromHex(USRSCTP_PACKETS[0]![2]);
  const init = parseSctp(raw, { verifyChecksum: true });
  assert.ok(init.ok);
  if (!init.ok) return;
  const p = peer().listen(7);
  p.send(init.value.chunks, { srcPort: init.value.srcPort, dstPort: 7, vtag: 0 });
  const { ack } = cookieOf(p);
  assert.is(ack.params.some((q) => q.type === 'unrecognized-parameter'), false, 'AUTH/ECN parameters are skipped silently (type bits 10)');
  assert.is(ack.params.some((q) => q.type === 'random' || q.type === 'hmac-algo' || q.type === 'chunk-list'), false);
  assert.ok(ack.params.some((q) => q.type === 'forward-tsn-supported'));
  assert.is(ack.outboundStreams, Math.min(10, (init.value.chunks[0] as { inboundStreams: number }).inboundStreams));
});

test('LISTEN: COOKIE ECHO creates the association in ESTABLISHED, COOKIE ACK, accept-ready (§5.1.5)', () => {
  const p = peer().listen().send([peer().init()]);
  const { ack, cookie } = cookieOf(p);
  p.tag = ack.initiateTag;
  p.send([cookieEchoChunk(cookie)]).recv({ type: 'COOKIE-ACK' });
  assert.is(p.events.filter((e) => e.type === 'accept-ready').length, 1);
  const a = p.assoc();
  assert.is(a.state, 'ESTABLISHED');
  assert.is(a.peerVtag, PEER_TAG);
  assert.is(a.cumTsn, PEER_TSN - 1);
  assert.is(a.myVtag, ack.initiateTag);
  assert.is(a.nextTsn, ack.initialTsn);
  assert.is(a.peerPrSctp, true);
  p.step({ type: 'accept', listener: p.listener! });
  assert.equal(p.result, { ok: true, id: a.id });
});

test('LISTEN: a COOKIE ECHO with a tampered cookie is discarded silently', () => {
  const p = peer().listen().send([peer().init()]);
  const { ack, cookie } = cookieOf(p);
  p.tag = ack.initiateTag;
  for (const i of [0, 10, cookie.length - 1]) {
    const bad = cookie.slice();
    bad[i]! ^= 0x40;
    p.send([cookieEchoChunk(bad)]).recv();
  }
  assert.equal(Object.keys(p.st.assocs), []);
});

test('LISTEN: a COOKIE ECHO with the wrong verification tag is discarded (§5.1.5 step 3)', () => {
  const p = peer().listen().send([peer().init()]);
  const { ack, cookie } = cookieOf(p);
  p.send([cookieEchoChunk(cookie)], { vtag: (ack.initiateTag + 1) >>> 0 }).recv();
  assert.equal(Object.keys(p.st.assocs), []);
});

test('LISTEN: a stale cookie gets an ERROR with Stale Cookie and the staleness in µs (§5.1.5, §5.2.6)', () => {
  const p = peer().listen().send([peer().init()]);
  const { ack, cookie } = cookieOf(p);
  p.tag = ack.initiateTag;
  p.at(60_000 + 2_500).send([cookieEchoChunk(cookie)]).recv({ type: 'ERROR', causes: [{ type: 'stale-cookie', staleness: 2_500_000 }] });
  assert.equal(Object.keys(p.st.assocs), []);
});

test('LISTEN: a Cookie Preservative lengthens the cookie lifespan (§5.2.6)', () => {
  const p = peer().listen().send([peer().init({ params: [{ type: 'cookie-preservative', increment: 5000 }] })]);
  const { ack, cookie } = cookieOf(p);
  p.tag = ack.initiateTag;
  p.at(64_000).send([cookieEchoChunk(cookie)]).recv({ type: 'COOKIE-ACK' });
});

test('LISTEN: INIT with a non-zero verification tag is discarded (§8.5.1 A)', () => {
  peer().listen().send([peer().init()], { vtag: 5 }).recv();
});

test('LISTEN: INIT with Initiate Tag 0 is discarded (RFC 9260 §3.3.2)', () => {
  const p = peer().listen();
  p.send([p.init({ tag: 0 })]).recv();
});

test('LISTEN: INIT with 0 outbound streams: ABORT with Invalid Mandatory Parameter, tag = Initiate Tag (§3.3.2)', () => {
  const p = peer().listen();
  p.send([p.init({ os: 0 })]).recv({ type: 'ABORT', flags: 0, causes: [{ type: 'invalid-mandatory-parameter' }], $vtag: PEER_TAG });
});

test('LISTEN: INIT to a port nobody listens on: ABORT, T bit clear, tag = Initiate Tag (§8.4 rule 3)', () => {
  const p = peer().listen();
  p.send([p.init()], { dstPort: 6000 }).recv({ type: 'ABORT', flags: 0, $vtag: PEER_TAG });
});

test('LISTEN: INIT bundled with another chunk is discarded (§6.10)', () => {
  const p = peer().listen();
  p.send([p.init(), { type: 'COOKIE-ACK', flags: 0 }]).recv();
});

test('LISTEN: unknown INIT parameters follow their type bits (§3.2.1)', () => {
  // 11: skip and report; 10: skip silently; 01: stop and report; then nothing after it counts.
  const p = peer().listen();
  p.send([p.init({ params: [unknownParam(0xc123), unknownParam(0x8123), unknownParam(0x4123), forwardTsnSupportedParam(), supportedExtensionsParam([0xc0])] })]);
  const { ack, cookie } = cookieOf(p);
  const reports = ack.params.filter((q) => q.type === 'unrecognized-parameter');
  assert.is(reports.length, 2);
  assert.equal((reports[0] as { param: Uint8Array }).param, new Uint8Array([0xc1, 0x23, 0, 7, 1, 2, 3]));
  assert.equal((reports[1] as { param: Uint8Array }).param, new Uint8Array([0x41, 0x23, 0, 7, 1, 2, 3]));
  // Forward-TSN-Supported came after the 01 parameter: not processed, so no PR-SCTP.
  p.tag = ack.initiateTag;
  p.send([cookieEchoChunk(cookie)]).recv({ type: 'COOKIE-ACK' });
  assert.is(p.assoc().peerPrSctp, false);
  // 00: stop without report.
  const q = peer().listen();
  q.send([q.init({ params: [unknownParam(0x0123), unknownParam(0xc124)] })]);
  assert.is(cookieOf(q).ack.params.some((x) => x.type === 'unrecognized-parameter'), false);
});

test('LISTEN: a Host Name Address gets ABORT with Unresolvable Address (§3.3.2.1)', () => {
  const p = peer().listen();
  p.send([p.init({ params: [{ type: 'host-name-address', hostName: new Uint8Array([0x61, 0]) }] })]);
  p.recv({ type: 'ABORT', $vtag: PEER_TAG });
});

test('LISTEN: COOKIE ECHO bundled with DATA: the data is accepted in the new association', () => {
  const p = peer().listen().send([peer().init()]);
  const { ack, cookie } = cookieOf(p);
  p.tag = ack.initiateTag;
  p.send([cookieEchoChunk(cookie), p.data('hi')]).recv({ type: 'COOKIE-ACK' });
  p.at(200).tick().recv({ type: 'SACK', cumTsnAck: PEER_TSN });
  p.step({ type: 'accept', listener: p.listener! }).step({ type: 'recv', id: p.id! });
  const r = p.result as { message: { data: Uint8Array } };
  assert.equal(new TextDecoder().decode(r.message.data), 'hi');
});

test('LISTEN: the accept queue bounds completed associations (ABORT Out of Resource when full)', () => {
  const p = peer().listen(LPORT, 1);
  const open = (port: number) => {
    p.send([p.init({ tag: 0x5000 + port })], { srcPort: port });
    const { ack, cookie } = cookieOf(p);
    p.send([cookieEchoChunk(cookie)], { srcPort: port, vtag: ack.initiateTag });
  };
  open(1001);
  p.recv({ type: 'COOKIE-ACK', $vtag: 0x5000 + 1001 });
  open(1002);
  p.recv({ type: 'ABORT', causes: [{ type: 'out-of-resource' }], $vtag: 0x5000 + 1002 });
});

// ------------------------------------------------------------------ active side

test('COOKIE-WAIT: connect sends INIT with tag 0 and our parameters; T1-init backs off; gives up after Max.Init.Retransmits', () => {
  const p = peer().connect();
  p.recv({ type: 'INIT', $vtag: 0, $dst: REMOTE, outboundStreams: 10, inboundStreams: 2048 });
  assert.is(p.assoc().state, 'COOKIE-WAIT');
  let t = 0, rto = 1000;
  for (let i = 0; i < 8; i++) {
    t += rto;
    p.at(t - 1).tick().recv().at(t).tick().recv({ type: 'INIT', $vtag: 0 });
    rto = Math.min(60_000, rto * 2);
  }
  p.at(t + rto).tick().recv();
  p.expectEvents({ type: 'error', code: 'ETIMEDOUT' }, { type: 'closed' });
  assert.is(p.assoc().state, 'CLOSED');
});

test('COOKIE-WAIT: INIT ACK → COOKIE ECHO with the cookie; COOKIE ACK → ESTABLISHED, connected', () => {
  const p = peer().connect();
  p.recv({ type: 'INIT' });
  p.send([initAck()]).recv({ type: 'COOKIE-ECHO', cookie: PEER_COOKIE });
  assert.is(p.assoc().state, 'COOKIE-ECHOED');
  p.send([{ type: 'COOKIE-ACK', flags: 0 }]).recv();
  p.expectEvents({ type: 'connected' });
  const a = p.assoc();
  assert.is(a.state, 'ESTABLISHED');
  assert.is(a.peerVtag, PEER_TAG);
  assert.is(a.t1, null);
});

test('COOKIE-WAIT: an INIT ACK with the wrong tag is discarded (§8.5)', () => {
  const p = peer().connect();
  p.recv({ type: 'INIT' });
  p.send([initAck()], { vtag: (p.tag + 1) >>> 0 }).recv();
  assert.is(p.assoc().state, 'COOKIE-WAIT');
});

test('COOKIE-WAIT: an INIT ACK without a State Cookie: ABORT Missing Mandatory Parameter (§5.1 C)', () => {
  const p = peer().connect();
  p.recv({ type: 'INIT' });
  p.send([initAck({ cookie: null })]).recv({ type: 'ABORT', causes: [{ type: 'missing-mandatory-parameter', paramTypes: [7] }] });
  p.expectEvents({ type: 'error', code: 'ECONNREFUSED' }, { type: 'closed' });
});

test('COOKIE-WAIT: ABORT → ECONNREFUSED', () => {
  const p = peer().connect();
  p.recv({ type: 'INIT' });
  p.send([abortChunk()]).recv();
  p.expectEvents({ type: 'error', code: 'ECONNREFUSED' }, { type: 'closed' });
});

test('COOKIE-WAIT: unrecognized INIT ACK parameters are reported in an ERROR after the COOKIE ECHO (§3.2.1)', () => {
  const p = peer().connect();
  p.recv({ type: 'INIT' });
  p.send([initAck({ params: [unknownParam(0x4abc)] })]);
  p.recv({ type: 'COOKIE-ECHO' }, { type: 'ERROR', causes: [{ type: 'unrecognized-parameters', params: new Uint8Array([0x4a, 0xbc, 0, 7, 1, 2, 3]) }] });
  assert.is(p.takeSent().length, 0);
  assert.is(p.assoc().peerPrSctp, false);
});

test('COOKIE-ECHOED: T1-cookie retransmits the COOKIE ECHO with backoff', () => {
  const p = peer().connect();
  p.recv({ type: 'INIT' }).at(100).send([initAck()]).recv({ type: 'COOKIE-ECHO' });
  p.at(1100).tick().recv({ type: 'COOKIE-ECHO' }).at(3099).tick().recv().at(3100).tick().recv({ type: 'COOKIE-ECHO' });
});

test('COOKIE-ECHOED: a Stale Cookie ERROR restarts with INIT and a Cookie Preservative (§5.2.6)', () => {
  const p = peer().connect();
  p.recv({ type: 'INIT' }).send([initAck()]).recv({ type: 'COOKIE-ECHO' });
  p.send([errorChunk([staleCookieCause(3_000_000)])]);
  p.recv({ type: 'INIT', $vtag: 0 });
  const a = p.assoc();
  assert.is(a.state, 'COOKIE-WAIT');
  assert.ok(a.initParams.some((q) => q.type === 'cookie-preservative' && q.increment === 6000));
});

test('COOKIE-WAIT: a SHUTDOWN ACK is out of the blue: SHUTDOWN COMPLETE with the T bit (§8.5.1 E)', () => {
  const p = peer().connect();
  p.recv({ type: 'INIT' });
  p.send([{ type: 'SHUTDOWN-ACK', flags: 0 }], { vtag: 0x77 }).recv({ type: 'SHUTDOWN-COMPLETE', flags: 1, $vtag: 0x77 });
});

test('connect over UDP encapsulation: packets carry the encapsulation ports (RFC 6951)', () => {
  const p = peer().connect([REMOTE], RPORT, LPORT, 9899);
  p.recv({ type: 'INIT', $encap: { srcPort: 9899, dstPort: 9899 } });
  p.send([initAck()], { encap: { srcPort: 40001, dstPort: 9899 } }).recv({ type: 'COOKIE-ECHO', $encap: { srcPort: 9899, dstPort: 40001 } });
});

test('the state cookie and association survive the codec at every step (sanity: ids and addresses)', () => {
  const p = peer().established();
  const a = p.assoc();
  assert.is(a.id, `${LOCAL}|${LPORT}|${REMOTE}|${RPORT}`);
  assert.is(a.paths[0]!.addr, REMOTE);
  assert.is(a.paths[0]!.local, LOCAL);
});

void ([] as SctpChunk[]);
test.run();
