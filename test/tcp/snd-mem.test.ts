// StackConfig.sndBufTotal / sndBufFloor: a stack-wide bound on queued send bytes, so peers that
// advertise a zero window and never read cannot pin connections * sndBuf of memory (issue #10).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ACK, PLAIN, REMOTE_ISS, SYN, peer, synOpts } from './peer.ts';
import type { Peer, PeerOptions } from './peer.ts';

const SNDBUF = 65536;

/** A listener and `n` passive connections from ports 40001.. whose peers advertise a zero window; their ids. */
function zeroWindowConns(o: PeerOptions, n: number): { p: Peer; ids: string[] } {
  const p = peer(o).listen(80, 64);
  const ids: string[] = [];
  for (let i = 1; i <= n; i++) {
    const sport = 40000 + i;
    p.send({ flags: SYN, seq: 0, sport, opts: synOpts(o) });
    const id = Object.keys(p.st.tcp).find((k) => k.endsWith(`|${sport}`))!;
    p.send({ flags: ACK, seq: REMOTE_ISS + 1, ack: p.st.tcp[id]!.iss + 1, abs: true, sport, win: 0 });
    p.step({ type: 'accept', listener: p.listener! });
    assert.is((p.result as { id: string }).id, id);
    ids.push(id);
  }
  p.drain();
  return { p, ids };
}

const sendOn = (p: Peer, id: string, n: number): number => {
  p.step({ type: 'send', id, data: new Uint8Array(n) });
  const r = p.result as { ok: boolean; bytes: number };
  assert.ok(r.ok);
  return r.bytes;
};

const BOUNDED: PeerOptions = { ...PLAIN, tcp: { ...PLAIN.tcp, sndBuf: SNDBUF }, stack: { sndBufTotal: 100_000, sndBufFloor: 10_000 } };

test('sndBufTotal: send takes what is left of the total, then each connection only its floor', () => {
  const { p, ids } = zeroWindowConns(BOUNDED, 4);
  assert.is(sendOn(p, ids[0]!, SNDBUF), SNDBUF);              // 100,000 free: the whole buffer
  assert.is(sendOn(p, ids[1]!, SNDBUF), 100_000 - SNDBUF);    // the rest of the total
  assert.is(sendOn(p, ids[2]!, SNDBUF), 10_000);              // total reached: the floor
  assert.is(sendOn(p, ids[3]!, SNDBUF), 10_000);
  assert.is(sendOn(p, ids[3]!, SNDBUF), 0);                   // floor used up
  const queued = ids.reduce((s, id) => s + p.st.tcp[id]!.sndQLen, 0);
  assert.is(queued, 100_000 + 2 * 10_000);
  assert.is(p.st.counters['snd-mem-limited'], 4);       // the four sends cut short by the total
  // Every cut-short send asked for 'writable' (it follows from the connection's own ACKs).
  for (const id of ids.slice(1)) assert.ok(p.st.tcp[id]!.wantWrite, id);
});

test('sndBufTotal: memory freed by one connection (abort) is taken by another', () => {
  const { p, ids } = zeroWindowConns(BOUNDED, 3);
  sendOn(p, ids[0]!, SNDBUF);
  sendOn(p, ids[1]!, SNDBUF);
  assert.is(sendOn(p, ids[2]!, SNDBUF), 10_000);
  p.step({ type: 'abort', id: ids[0]! });
  // 100,000 - (34,464 + 10,000) left of the total.
  assert.is(sendOn(p, ids[2]!, SNDBUF), 100_000 - (100_000 - SNDBUF) - 10_000);
});

test('sndBufTotal absent: every connection takes its whole sndBuf', () => {
  const { p, ids } = zeroWindowConns({ ...PLAIN, tcp: { ...PLAIN.tcp, sndBuf: SNDBUF } }, 4);
  for (const id of ids) assert.is(sendOn(p, id, SNDBUF), SNDBUF);
  assert.is(p.st.counters['snd-mem-limited'], undefined);
});

test('sndBufFloor defaults to 8192, capped by the connection\'s sndBuf', () => {
  const { p, ids } = zeroWindowConns({ ...PLAIN, tcp: { ...PLAIN.tcp, sndBuf: SNDBUF }, stack: { sndBufTotal: 0 } }, 1);
  assert.is(sendOn(p, ids[0]!, SNDBUF), 8192);
  const small = zeroWindowConns({ ...PLAIN, tcp: { ...PLAIN.tcp, sndBuf: 4096 }, stack: { sndBufTotal: 0 } }, 1);
  assert.is(sendOn(small.p, small.ids[0]!, SNDBUF), 4096);
});

test.run();
