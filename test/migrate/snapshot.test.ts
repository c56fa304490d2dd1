// The snapshot codec (migrate/snapshot.ts): round trips in every TCP state, the size of an
// idle connection, and refusal of truncated, corrupted, wrong-version and inconsistent input.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { defaultTcpConfig } from '../../stack/stack.ts';
import { exportConn, exportListener, freezeConn, freezeListener, type ConnExport, type ListenerExport } from '../../stack/freeze.ts';
import type { Tcb } from '../../stack/tcp/tcb.ts';
import { crc32c } from '../../stack/wire/crc32c.ts';
import {
  CONFIG_DEFAULTS, CONFIG_DEFAULTS_VERSION, SNAPSHOT_VERSION, TCB_FIELDS, decodeSnapshot, encodeSnapshot, type Snapshot,
} from '../../migrate/snapshot.ts';
import { nextU32, prngInit } from '../../tun/prng.ts';
import {
  ACK, FIN, PLAIN, closeWait, closing, established, finWait1, finWait2, lastAck, peer, synOpts, synReceived, synSent, timeWait,
  REMOTE_ISS, SYN, type Peer, type PeerOptions,
} from '../tcp/peer.ts';

const FULL: PeerOptions = { tcp: { delayedAck: true } }; // timestamps, window scaling, SACK, delayed ACKs

/** Freeze the peer's connection now and export it as a snapshot. */
function snap(p: Peer, app: Uint8Array | null = null): { snap: Snapshot; bytes: Uint8Array } {
  const id = p.id!;
  const f = freezeConn(p.st, id, p.now);
  assert.ok(f.ok, 'freeze');
  const e = exportConn(p.st, id);
  assert.ok(e.ok, 'export');
  const s: Snapshot = { kind: 'tcp-conn', takenAt: p.now, conn: (e as { value: ConnExport }).value, app };
  return { snap: s, bytes: encodeSnapshot(s) };
}

function roundTrips(name: string, make: () => Peer): void {
  test(`snapshot: ${name} round-trips exactly`, () => {
    const p = make();
    const state = p.tcb().state;
    const { snap: s, bytes } = snap(p, new Uint8Array([1, 2, 3]));
    const d = decodeSnapshot(bytes);
    assert.ok(d.ok, d.ok ? '' : d.error);
    assert.equal(d.value, s);
    assert.is((d.value as { conn: ConnExport }).conn.tcb.state, state);
  });
}

const cases: [string, () => Peer][] = [
  ['SYN-SENT', () => synSent()],
  ['SYN-SENT with data queued and FIN pending', () => synSent(FULL).write(3000).call({ type: 'shutdown' })],
  ['SYN-RECEIVED (passive, pending)', () => {
    const p = synReceived(FULL);
    p.id = Object.keys(p.st.tcp)[0]!;
    return p;
  }],
  ['ESTABLISHED idle (plain)', () => established()],
  ['ESTABLISHED idle (timestamps, wscale, SACK)', () => established(FULL)],
  ['ESTABLISHED with unacked and unsent data', () => established(FULL).write(200_000).at(5)],
  ['ESTABLISHED with unread data', () => established().send({ flags: ACK, seq: 1, ack: 1, data: 5000 })],
  ['ESTABLISHED mid-reassembly (out-of-order data, SACK blocks to report)', () =>
    established().send({ flags: ACK, seq: 1001, ack: 1, data: 1000 }).send({ flags: ACK, seq: 3001, ack: 1, data: 500 })],
  ['ESTABLISHED in SACK recovery (scoreboard)', () => {
    const p = established().write(20 * 1460);
    return p.send({ flags: ACK, seq: 1, ack: 1, sack: [[1461, 2921]] })
      .send({ flags: ACK, seq: 1, ack: 1, sack: [[1461, 4381]] })
      .send({ flags: ACK, seq: 1, ack: 1, sack: [[1461, 5841]] })
      .send({ flags: ACK, seq: 1, ack: 1, sack: [[1461, 5841], [7301, 8761]] });
  }],
  ['ESTABLISHED zero window, persisting', () => established().write(5000).send({ flags: ACK, seq: 1, ack: 4381, win: 0 }).at(300).tick()],
  ['ESTABLISHED after an RTO (backoff, firstRtxAt)', () => established().write(3000).at(1000).tick().at(3500).tick()],
  ['ESTABLISHED with options set (noDelay, keepalive, buffers, newreno)', () => established()
    .call({ type: 'set-option', options: { noDelay: true, keepAlive: { enabled: true, idle: 5000, interval: 1000, count: 3 }, sndBuf: 50_000, cc: 'newreno', userTimeout: 30000 } })],
  ['FIN-WAIT-1', () => finWait1(FULL)],
  ['FIN-WAIT-2 (orphaned, close timer)', () => finWait2().call({ type: 'close' })],
  ['CLOSE-WAIT with unread data', () => established().send({ flags: FIN | ACK, seq: 1, ack: 1, data: 700 })],
  ['CLOSE-WAIT', () => closeWait(FULL)],
  ['LAST-ACK', () => lastAck()],
  ['CLOSING', () => closing()],
  ['TIME-WAIT', () => timeWait(FULL)],
  ['CLOSED, still held by the application (reset)', () => {
    const p = established();
    return p.send({ flags: 0x04, seq: 1 });
  }],
];
for (const [name, make] of cases) roundTrips(name, make);

test('snapshot: the states above really are the ones named', () => {
  const want = ['SYN-SENT', 'SYN-SENT', 'SYN-RECEIVED', 'ESTABLISHED', 'ESTABLISHED', 'ESTABLISHED', 'ESTABLISHED', 'ESTABLISHED',
    'ESTABLISHED', 'ESTABLISHED', 'ESTABLISHED', 'ESTABLISHED', 'FIN-WAIT-1', 'FIN-WAIT-2', 'CLOSE-WAIT', 'CLOSE-WAIT', 'LAST-ACK',
    'CLOSING', 'TIME-WAIT', 'CLOSED'];
  assert.equal(cases.map(([, make]) => make().tcb().state), want);
  const sack = cases[8]![1]().tcb();
  assert.ok(sack.sacked.length >= 4 && sack.inRecovery, 'SACK case has a scoreboard and is in recovery');
  const ooo = cases[7]![1]().tcb();
  assert.is(ooo.ooo.length, 2);
  const zw = cases[9]![1]().tcb();
  assert.ok(zw.timers.persist !== null && zw.sndWnd === 0, 'zero-window case is persisting');
});

test('snapshot: a listener with a SYN queue and an accept queue round-trips', () => {
  const p = peer(FULL).listen();
  p.send({ flags: SYN, seq: 0, opts: synOpts(FULL), sport: 40001 });
  p.send({ flags: SYN, seq: 0, opts: synOpts(FULL), sport: 40002 });
  // Complete the second handshake: it moves to the accept queue.
  const id2 = Object.keys(p.st.tcp).find((k) => k.endsWith('|40002'))!;
  const iss2 = p.st.tcp[id2]!.iss;
  p.send({ flags: ACK, seq: (REMOTE_ISS + 1) >>> 0, ack: (iss2 + 1) >>> 0, abs: true, sport: 40002 });
  const l = p.st.listeners[p.listener!]!;
  assert.is(l.synQ.length, 1);
  assert.is(l.acceptQ.length, 1);
  assert.ok(freezeListener(p.st, p.listener!, p.now).ok);
  assert.is(Object.keys(p.st.tcp).length, 0, 'queued connections froze with the listener');
  const e = exportListener(p.st, p.listener!);
  assert.ok(e.ok);
  const s: Snapshot = { kind: 'tcp-listener', takenAt: 0, listener: (e as { ok: true; value: ListenerExport }).value, app: null };
  const d = decodeSnapshot(encodeSnapshot(s));
  assert.ok(d.ok, d.ok ? '' : d.error);
  assert.equal(d.value, s);
});

test('snapshot: idle established TCP connection is under 256 bytes', () => {
  const sizes: Record<string, number> = {};
  for (const [name, o] of [['plain', PLAIN], ['timestamps+wscale+SACK', FULL]] as const) {
    const { bytes } = snap(established(o));
    sizes[name] = bytes.length;
    assert.ok(bytes.length < 256, `${name}: ${bytes.length} bytes`);
  }
  // With a real clock's fractional milliseconds every instant needs a float64.
  const p = established(FULL);
  p.at(1234.5678);
  const t = p.tcb();
  t.srtt = 12.3456789; t.rttvar = 3.14159; t.lastRcvAt = 1000.123456; t.rttAt = 999.987654; t.tsRecentAt = 1000.123456;
  const { bytes } = snap(p);
  sizes['fractional clock'] = bytes.length;
  assert.ok(bytes.length < 256, `fractional: ${bytes.length} bytes`);
  console.log(`      idle established snapshot sizes: ${JSON.stringify(sizes)}`);
});

test('snapshot: the newest defaults table equals the stack defaults', () => {
  assert.equal(CONFIG_DEFAULTS[CONFIG_DEFAULTS_VERSION], defaultTcpConfig());
});

test('snapshot: the codec knows every TCB field', () => {
  const t = established().tcb();
  assert.equal(Object.keys(t).sort(), [...TCB_FIELDS].sort());
});

// ------------------------------------------------------------------------------ refusals

function sample(): Uint8Array {
  const p = established(FULL).write(3000).send({ flags: ACK, seq: 1001, ack: 1, data: 100 });
  return snap(p, new Uint8Array([9, 9])).bytes;
}

test('snapshot: every truncation is refused', () => {
  const b = sample();
  for (let n = 0; n < b.length; n++) {
    const d = decodeSnapshot(b.subarray(0, n));
    assert.ok(!d.ok, `truncated to ${n} of ${b.length} bytes was accepted`);
  }
  assert.ok(!decodeSnapshot(new Uint8Array([...b, 0])).ok, 'a trailing byte is refused');
});

test('snapshot: every single-bit flip is refused', () => {
  const b = sample();
  for (let i = 0; i < b.length * 8; i++) {
    const c = b.slice();
    c[i >>> 3]! ^= 1 << (i & 7);
    const d = decodeSnapshot(c);
    assert.ok(!d.ok, `bit ${i} flipped was accepted`);
  }
});

test('snapshot: random multi-byte corruption is refused and never throws', () => {
  const b = sample();
  const rng = prngInit(7);
  for (let k = 0; k < 2000; k++) {
    const c = b.slice();
    const n = 1 + (nextU32(rng) % 8);
    for (let j = 0; j < n; j++) c[nextU32(rng) % c.length] = nextU32(rng) & 0xff;
    if (c.every((x, i) => x === b[i])) continue;
    assert.not.ok(decodeSnapshot(c).ok);
  }
});

/** Rewrite the CRC so a change inside the body reaches the validators (a forger without the envelope key). */
function reseal(b: Uint8Array): Uint8Array {
  const c = b.slice();
  const v = crc32c(c.subarray(0, c.length - 4));
  new DataView(c.buffer).setUint32(c.length - 4, v);
  return c;
}

test('snapshot: wrong version, wrong magic and unknown kinds are refused with clear errors', () => {
  const b = sample();
  const v = b.slice(); v[3] = SNAPSHOT_VERSION + 1;
  const dv = decodeSnapshot(reseal(v));
  assert.ok(!dv.ok && /version 2/.test(dv.error), dv.ok ? '' : dv.error);
  const m = b.slice(); m[0] = 0x47;
  const dm = decodeSnapshot(reseal(m));
  assert.ok(!dm.ok && /magic/.test(dm.error));
  const k = b.slice(); k[4] = 9;
  const dk = decodeSnapshot(reseal(k));
  assert.ok(!dk.ok && /kind/.test(dk.error), dk.ok ? '' : dk.error);
  const dc = decodeSnapshot(b.subarray(0, b.length - 1));
  assert.ok(!dc.ok && /checksum|truncated/.test(dc.error), dc.ok ? '' : dc.error);
});

test('snapshot: semantically inconsistent states are refused on decode (CRC fixed up)', () => {
  // Encode valid states, then patch the TCB after validation by encoding a doctored copy
  // through a path that skips the encoder's check: we build the bytes of a valid snapshot of
  // a doctored TCB by temporarily making it consistent for the encoder is not possible, so
  // instead doctor the decoded TCB and check validateTcb via encodeSnapshot refusing it.
  const base = snap(established(FULL).write(5000)).snap as Extract<Snapshot, { kind: 'tcp-conn' }>;
  const doctor: [string, (t: Tcb) => void, RegExp][] = [
    ['SND.UNA beyond SND.NXT', (t) => { t.sndUna = (t.sndNxt + 10) >>> 0; }, /SND\.UNA|send queue/],
    ['queue byte count', (t) => { t.sndQLen += 1; }, /byte count/],
    ['send queue over sndBuf', (t) => { t.cfg.sndBuf = 100; }, /sndBuf/],
    ['out-of-order data beyond the window', (t) => { t.ooo = [{ seq: (t.rcvAdv + 10) >>> 0, data: new Uint8Array(5) }]; t.oooLen = 5; }, /window/],
    ['SACK outside the flight', (t) => { t.sacked = [(t.sndNxt + 1) >>> 0, (t.sndNxt + 100) >>> 0]; t.sackedBytes = 99; }, /SACK/],
    ['shift without scaling', (t) => { t.wsOk = false; }, /shift/],
    ['LISTEN state', (t) => { t.state = 'LISTEN'; }, /LISTEN/],
    ['NaN rtt', (t) => { t.rttvar = NaN; }, /rttvar/],
    ['timer not finite', (t) => { t.timers.rtx = Infinity; t.deadline = Infinity; }, /timer rtx/],
    ['close timer in ESTABLISHED', (t) => { t.timers.close = 5; t.deadline = Math.min(t.deadline ?? 5, 5); }, /close timer/],
  ];
  for (const [name, f, re] of doctor) {
    const s = structuredClone(base);
    f(s.conn.tcb);
    let msg = '';
    try { encodeSnapshot(s); } catch (e) { msg = (e as Error).message; }
    assert.ok(re.test(msg), `${name}: encoder said '${msg}'`);
  }
});

test('snapshot: a forged body with a valid CRC is still validated on decode', () => {
  // SEQ section: patch the sndNxt offset of a valid snapshot so that SND.NXT falls below the
  // queued data's end... find the SEQ section and overwrite sndUna's offset varint (1 byte: 1).
  const p = established().write(2000);
  const { bytes } = snap(p);
  // Locate the SEQ section (tag 2) after the header ('FRY', version, kind, takenAt=0 as one byte).
  let i = 6;
  const tag1len = bytes[i + 1]!; // IDENT length (one-byte varint)
  i += 2 + tag1len;
  assert.is(bytes[i], 2, 'SEQ section found');
  // SEQ body: iss(4) irs(4) sndUna-iss (varint, =1) sndNxt-sndUna (varint)...
  const body = i + 2;
  // sndUna - iss is one byte (1); SND.NXT - SND.UNA is one segment, 1460 = varint b4 0b: make it 3508.
  assert.equal([...bytes.subarray(body + 8, body + 11)], [1, 0xb4, 0x0b]);
  const forged = bytes.slice();
  forged[body + 10] = 0x1b; // SND.NXT beyond the 2000 queued bytes
  const d = decodeSnapshot(reseal(forged));
  assert.ok(!d.ok, 'forged SND.UNA accepted');
  assert.match((d as { error: string }).error, /SND\.NXT is beyond the queued data/);
});

test.run();
