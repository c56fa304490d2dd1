// TCP-MD5 signatures (RFC 2385, cfg.md5Key): what we sign, checked against node:crypto's MD5 over
// the bytes RFC 2385 §2.0 names, and what we drop (§3.0).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { createStack, defaultStackConfig, stackStep } from '../../stack/stack.ts';
import { parseIp } from '../../stack/wire/ip.ts';
import { ipToBytes } from '../../stack/wire/addr.ts';
import { finish, sum16 } from '../../stack/wire/checksum.ts';
import { md5Offset, signTcp, withMd5Option } from '../../stack/tcp/md5sig.ts';
import { ACK, LOCAL, LPORT, PLAIN, REMOTE, RST, SYN, peer, type Peer, type PeerOptions, type SegSpec } from './peer.ts';

const KEY = new TextEncoder().encode('secret');
const MD5: PeerOptions = { ...PLAIN, tcp: { ...PLAIN.tcp, md5Key: KEY } };

/** MD5 over (pseudo-header, fixed header with checksum 0, data, key), assembled by hand (RFC 2385 §2.0). */
function expectedDigest(ip: Uint8Array): Buffer {
  const p = parseIp(ip);
  if (!p.ok) throw new Error(p.error);
  const tcp = p.value.payload;
  const src = ipToBytes(p.value.src)!, dst = ipToBytes(p.value.dst)!;
  const len = Buffer.alloc(src.length === 4 ? 4 : 8);
  if (src.length === 4) { len[1] = 6; len.writeUInt16BE(tcp.length, 2); } else { len.writeUInt32BE(tcp.length, 0); len[7] = 6; }
  const hdr = Buffer.from(tcp.subarray(0, 20));
  hdr.writeUInt16BE(0, 16);
  const data = tcp.subarray((tcp[12]! >> 4) * 4);
  return createHash('md5').update(src).update(dst).update(len).update(hdr).update(data).update(KEY).digest();
}

/** The 16 signature bytes of a packet we sent. */
function sigOf(ip: Uint8Array): Buffer {
  const p = parseIp(ip);
  if (!p.ok) throw new Error(p.error);
  const off = md5Offset(p.value.payload);
  assert.ok(off > 0, 'the segment carries an MD5 option');
  return Buffer.from(p.value.payload.subarray(off, off + 16));
}

/** A peer segment with a signature (`key`), or with `tamper` a wrong one. */
function signed(p: Peer, s: SegSpec, key = KEY, tamper = false): Uint8Array {
  const pkt = p.packet({ ...s, opts: withMd5Option(s.opts ?? []) });
  const tcp = pkt.subarray(20);
  signTcp(ipToBytes(REMOTE)!, ipToBytes(LOCAL)!, tcp, key);
  if (tamper) tcp[md5Offset(tcp)]! ^= 1;
  tcp[16] = 0; tcp[17] = 0;
  const c = finish(sum16(tcp, sum16(ipToBytes(REMOTE)!) + sum16(ipToBytes(LOCAL)!) + 6 + tcp.length));
  tcp[16] = c >> 8; tcp[17] = c & 0xff;
  return pkt;
}

const SYNACK_OPTS = [{ kind: 'mss' as const, mss: 1460 }];

/** Active open with MD5, handshake done with signed segments. */
function established(): Peer {
  const p = peer(MD5).connect();
  p.step({ type: 'packet', data: signed(p, { flags: SYN | ACK, seq: 0, ack: 1, opts: SYNACK_OPTS }) });
  p.expectState('ESTABLISHED');
  return p.drain();
}

test('MD5: our SYN ends with NOP NOP and the 18-byte option, digest as RFC 2385 §2.0 defines it', () => {
  const p = peer(MD5).connect();
  const ip = p.pendingIp[0]!;
  const opts = p.pending[0]!.options;
  const last = opts[opts.length - 1]!;
  assert.equal(last.kind === 'unknown' ? [last.type, last.data.length] : last.kind, [19, 16]);
  assert.equal(opts.slice(-3, -1), [{ kind: 'nop' }, { kind: 'nop' }]);
  assert.equal(sigOf(ip), expectedDigest(ip));
});

test('MD5: data segments lose 20 bytes of MSS to the option; every one is signed', () => {
  const p = established().write(3000);
  const ips = p.pendingIp.slice();
  p.recv({ flags: ACK, seq: 1, ack: 1, data: 1440 }, { flags: ACK, seq: 1441, ack: 1, data: 1440 });
  for (const ip of ips) assert.equal(sigOf(ip), expectedDigest(ip));
});

test('MD5: an unsigned segment is dropped without an answer and counted (RFC 2385 §3.0)', () => {
  const p = established();
  p.send({ flags: ACK, seq: 1, ack: 1, data: 'hello' });
  p.recv();
  assert.is(p.st.counters['tcp-md5-missing'], 1);
  assert.is(p.tcb().rcvNxt, p.tcb().irs + 1, 'the data was not taken');
});

test('MD5: a wrong signature, or one made with another key, is dropped and counted', () => {
  const p = established();
  p.step({ type: 'packet', data: signed(p, { flags: ACK, seq: 1, ack: 1, data: 'hello' }, KEY, true) });
  p.step({ type: 'packet', data: signed(p, { flags: ACK, seq: 1, ack: 1, data: 'hello' }, new TextEncoder().encode('other')) });
  p.recv();
  assert.is(p.st.counters['tcp-md5-bad'], 2);
  // A RST with a bad signature does not reset the connection either.
  p.step({ type: 'packet', data: signed(p, { flags: RST, seq: 1 }, KEY, true) });
  p.expectState('ESTABLISHED');
});

test('MD5: a correctly signed segment is processed and acknowledged with a signed ACK', () => {
  const p = established();
  p.step({ type: 'packet', data: signed(p, { flags: ACK, seq: 1, ack: 1, data: 'hello' }) });
  const ip = p.pendingIp[0]!;
  p.recv({ flags: ACK, seq: 1, ack: 6 });
  assert.equal(sigOf(ip), expectedDigest(ip));
});

test('MD5: our RST (abort) is signed too', () => {
  const p = established();
  p.call({ type: 'abort' });
  const ip = p.pendingIp[0]!;
  p.recv({ flags: RST, seq: 1 });
  assert.equal(sigOf(ip), expectedDigest(ip));
});

test('MD5: a listener with a key ignores an unsigned SYN and answers a signed one with a signed SYN|ACK', () => {
  const p = peer(MD5).listen();
  p.send({ flags: SYN, seq: 0, opts: SYNACK_OPTS });
  p.recv();
  assert.is(p.st.counters['tcp-md5-missing'], 1);
  p.step({ type: 'packet', data: signed(p, { flags: SYN, seq: 0, opts: SYNACK_OPTS }) });
  const ip = p.pendingIp[0]!;
  assert.is(p.pending.length, 1);
  assert.is(p.pending[0]!.flags, SYN | ACK);
  assert.equal(sigOf(ip), expectedDigest(ip));
});

test('MD5: without a key, a signed segment is processed as usual (the option is unknown to us)', () => {
  const p = peer(PLAIN).listen();
  p.step({ type: 'packet', data: signed(p, { flags: SYN, seq: 0, opts: SYNACK_OPTS }) });
  assert.is(p.pending.length, 1);
  assert.is(p.pending[0]!.flags, SYN | ACK);
});

test('MD5 over IPv6: the digest covers the RFC 8200 pseudo-header', () => {
  const c = defaultStackConfig(['fd00::1']);
  const st = createStack({ ...c, tcp: { ...c.tcp, md5Key: KEY } }, new Uint8Array(32).fill(3), 0);
  const r = stackStep(st, { type: 'connect', local: null, localPort: 40000, remote: 'fd00::2', port: LPORT }, 0);
  assert.ok(r.result.ok);
  assert.is(r.out.length, 1);
  assert.equal(sigOf(r.out[0]!), expectedDigest(r.out[0]!));
});

test.run();
