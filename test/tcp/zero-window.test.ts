// Closed and nearly closed windows, the three bugs behind the echo deadlock (two peers whose
// receive windows were both closed stopped for good; test/sim/tcp-echo-stall.test.ts runs it):
//   - the send window must come from the most recent ACK, even on a retransmitted segment;
//   - a receiver at RCV.WND = 0 still processes the ACK of a segment at RCV.NXT (RFC 9293 §3.10.7.4);
//   - the scaled window is rounded down so the buffer is never overrun (RFC 7323 §2.4).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ACK, PLAIN, PSH, established } from './peer.ts';

test('ESTABLISHED: an old segment whose ACK advances SND.UNA also sets the window; nothing is sent beyond it', () => {
  const p = established()
    .write(2920).recv(
      { flags: ACK, seq: 1, ack: 1, data: 1460 },
      { flags: ACK | PSH, seq: 1461, ack: 1, data: 1460 },
    )
    .send({ flags: ACK, seq: 1, ack: 1, data: 100 }).recv({ flags: ACK, seq: 2921, ack: 101 })
    .send({ flags: ACK, seq: 101, ack: 1, data: 100 }).recv({ flags: ACK, seq: 2921, ack: 201 })
    .send({ flags: ACK, seq: 201, ack: 1, data: 100 }).recv({ flags: ACK, seq: 2921, ack: 301 })
    // The peer repacketizes a retransmission (SEG.SEQ < SND.WL1) with its newest ACK and window.
    .send({ flags: ACK, seq: 101, ack: 2921, data: 300, win: 2920 })
    .recv({ flags: ACK, seq: 2921, ack: 401, sack: [[101, 301]] });
  assert.is(p.tcb().sndWnd, 2920);
  // Right edge 2921 + 2920: two full segments, then the window is used up.
  p.write(5000).recv(
    { flags: ACK, seq: 2921, ack: 401, data: 1460 },
    { flags: ACK, seq: 4381, ack: 401, data: 1460 },
  );
});

test('ESTABLISHED: at a zero receive window, the ACK of a segment at RCV.NXT is processed and its data dropped', () => {
  const p = established({ tcp: { ...PLAIN.tcp, rcvBuf: 1000 } })
    .send({ flags: ACK, seq: 1, ack: 1, data: 1000 }).recv({ flags: ACK, seq: 1, ack: 1001, win: 0 })
    .write(100).recv({ flags: ACK | PSH, seq: 1, ack: 1001, data: 100, win: 0 })
    // The peer's data cannot be taken, but its ACK acknowledges ours (RFC 9293 §3.10.7.4 "special allowance").
    .send({ flags: ACK | PSH, seq: 1001, ack: 101, data: 50 }).recv({ flags: ACK, seq: 101, ack: 1001, win: 0 });
  assert.is((p.tcb().sndUna - p.liss!) >>> 0, 101);
  assert.is(p.tcb().timers.rtx, null, 'everything acknowledged: no retransmission pending');
  assert.is(p.tcb().rcvQLen, 1000, 'the text beyond the window was dropped');
});

test('ESTABLISHED: after a zero-window probe, ACKs carry SEQ = SND.UNA so a closed receiver accepts them', () => {
  established()
    .send({ flags: ACK, seq: 1, ack: 1, win: 0 })
    .write(10).recv()
    .at(200).tick().recv({ flags: ACK, seq: 1, ack: 1, data: 1 })
    .send({ flags: ACK, seq: 1, ack: 1, win: 0 }).recv()
    .send({ flags: ACK | PSH, seq: 1, ack: 1, data: 5, win: 0 })
    .recv({ flags: ACK, seq: 1, ack: 6 });
});

test('ESTABLISHED: a scaled window is rounded down and the receive buffer is never overrun (RFC 7323 §2.4)', () => {
  // Our shift 3: the window field counts 8-byte units. The SYN|ACK offered 4096 (unscaled).
  const o = { tcp: { ...PLAIN.tcp, wscale: true, wscaleShift: 3, rcvBuf: 4096 } };
  const p = established(o)
    .send({ flags: ACK, seq: 1, ack: 1, data: 4093 })
    // 3 bytes free: 0 units (rounding up would offer 8 bytes the buffer does not have).
    .recv({ flags: ACK, seq: 1, ack: 4094, win: 0 });
  assert.is(p.tcb().rcvQLen, 4093);
  // The 3 bytes below the edge offered in the SYN|ACK must still be honoured (RFC 7323 §2.4 (1)).
  p.send({ flags: ACK, seq: 4094, ack: 1, data: 8 }).recv({ flags: ACK, seq: 1, ack: 4097, win: 0 });
  assert.is(p.tcb().rcvQLen, 4096, 'exactly the buffer, no more');
});

test.run();
