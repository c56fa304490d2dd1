// The receive window as the FreeBSD suite exercises it: what is acceptable (RCV.WND is the free
// buffer under the 'free-space' policy, not only what the 16-bit field could carry), socket
// buffers rounded to the MSS (FreeBSD), window updates after reads, and the RFC 5961 switches.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ACK, FIN, PLAIN, RST, SYN, established, peer, synOpts, timeWait } from './peer.ts';

test('window: a RST beyond the offered 65535 but inside the free buffer is in the window (free-space policy)', () => {
  // No window scaling: the field tops out at 65535 while the buffer has 100000 bytes free.
  const o = { tcp: { ...PLAIN.tcp, rcvBuf: 100_000 }, stack: { rfc5961Rst: false } };
  established(o).send({ flags: RST, seq: 1 + 70_000 }).recv().expectState('CLOSED').expectEvents('error:ECONNRESET', 'closed');
  // With the right-edge policy RCV.WND is what was offered: the RST lies outside and is dropped.
  const r = { tcp: { ...PLAIN.tcp, rcvBuf: 100_000, rcvWndPolicy: 'right-edge' as const }, stack: { rfc5961Rst: false } };
  established(r).send({ flags: RST, seq: 1 + 70_000 }).recv().expectState('ESTABLISHED');
});

test('window: sockBufRoundToMss rounds both buffers up to a multiple of the MSS once it is known; the listener keeps its own', () => {
  const p = established({ tcp: { ...PLAIN.tcp, rcvBuf: 65_536, sndBuf: 32_768, sockBufRoundToMss: true } });
  assert.is(p.tcb().cfg.rcvBuf, 65_700, '45 * 1460');
  assert.is(p.tcb().cfg.sndBuf, 33_580, '23 * 1460');
  assert.is(p.st.listeners[p.listener!]!.cfg.rcvBuf, 65_536);
});

test('window: a read that lets the edge move by 2 MSS and a quarter of the buffer sends a window update; a smaller one does not', () => {
  // The window only grows from 5000 to 8000 (not doubled, so Linux's rule would wait), but by 3000 >= 2 * 1460 and >= 8000/4.
  established({ tcp: { ...PLAIN.tcp, rcvBuf: 8000 } })
    .send({ flags: ACK, seq: 1, ack: 1, data: 3000 }).recv({ flags: ACK, seq: 1, ack: 3001, win: 5000 })
    .read(1000).recv()
    .read(2000).recv({ flags: ACK, seq: 1, ack: 3001, win: 8000 });
});

test('RFC 5961 switches: rfc5961Syn off resets on an in-window SYN with <SEQ=SND.NXT><ACK=RCV.NXT><CTL=RST,ACK>; rfc5961Rst stays on', () => {
  const o = { ...PLAIN, stack: { rfc5961Syn: false } };
  established(o).send({ flags: RST, seq: 100 }).recv({ flags: ACK, seq: 1, ack: 1 }).expectState('ESTABLISHED');
  established(o).send({ flags: SYN, seq: 100 }).recv({ flags: RST | ACK, seq: 1, ack: 1, win: 0 })
    .expectState('CLOSED').expectEvents('error:ECONNRESET', 'closed');
});

test('RFC 793 mode: a SYN+FIN whose SYN lies below RCV.NXT is answered with an ACK, not a reset (TIME-WAIT)', () => {
  timeWait({ ...PLAIN, stack: { rfc5961: false } })
    .send({ flags: SYN | FIN, seq: 1 }).recv({ flags: ACK, seq: 2, ack: 2 }).expectState('TIME-WAIT');
});

test('dropSynFin: a listener and a connection drop SYN+FIN unanswered; TIME-WAIT still answers', () => {
  const o = { ...PLAIN, stack: { dropSynFin: true } };
  peer(o).listen()
    .send({ flags: SYN | FIN, seq: 0, opts: synOpts(o) }).recv()
    .send({ flags: SYN, seq: 10, opts: synOpts(o) }).check((p) => assert.is(p.pending.length, 1, 'a plain SYN is answered'));
  established(o).send({ flags: SYN | FIN, seq: 1 }).recv().expectState('ESTABLISHED');
  timeWait(o).send({ flags: SYN | FIN, seq: 2 }).recv({ flags: ACK, seq: 2, ack: 2 });
});

test.run();
