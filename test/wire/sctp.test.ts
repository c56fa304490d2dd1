import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { hex, hexBytes } from '../helpers/hex.ts';
import { USRSCTP_PACKETS } from './sctp-fixtures.ts';
import {
  abortChunk, adaptationLayerParam, CHUNK_T, chunkListParam, cookieAckChunk, cookieEchoChunk, cookiePreservativeParam,
  cookieWhileShuttingDownCause, DATA_B, DATA_E, DATA_I, DATA_U, dataChunk, ecnCapableParam, emitSctp, errorChunk,
  forwardTsnChunk, forwardTsnSupportedParam, heartbeatAckChunk, heartbeatChunk, hmacAlgoParam, iDataChunk,
  iForwardTsnChunk, initAckChunk, initChunk, invalidMandatoryParameterCause, invalidStreamCause, ipAddressParam,
  missingMandatoryParameterCause, noUserDataCause, outOfResourceCause, padChunk, paddingParam, parseSctp,
  protocolViolationCause, randomParam, restartWithNewAddressesCause, sackChunk, sctpBufferLen, sctpChecksum,
  sctpChunkBytes, sctpPacket, sctpParamBytes, sctpUnrecognizedAction, shutdownAckChunk, shutdownChunk,
  shutdownCompleteChunk, staleCookieCause, stateCookieParam, supportedAddressTypesParam, supportedExtensionsParam,
  unrecognizedChunkCause, unrecognizedParameterParam, unrecognizedParametersCause, unresolvableAddressCause,
  userInitiatedAbortCause, type SctpChunk, type SctpPacket,
} from '../../stack/wire/sctp.ts';

/** Bitwise CRC32c reference, independent of crc32c.ts. */
function crcRef(buf: Uint8Array): number {
  let c = 0xffffffff;
  for (const byte of buf) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}
/** A copy of `p` with its checksum field set by the reference CRC (little-endian, RFC 9260 Appendix B). */
function withCrc(p: Uint8Array): Uint8Array {
  const q = p.slice();
  q[8] = q[9] = q[10] = q[11] = 0;
  const c = crcRef(q);
  q[8] = c & 0xff; q[9] = (c >>> 8) & 0xff; q[10] = (c >>> 16) & 0xff; q[11] = c >>> 24;
  return q;
}
const emit = (pkt: SctpPacket): Uint8Array => {
  const out = new Uint8Array(sctpBufferLen(pkt)).fill(0xa5);
  emitSctp(pkt, out);
  return out;
};
const parsed = (p: Uint8Array, verifyChecksum = true): SctpPacket => {
  const r = parseSctp(p, { verifyChecksum });
  if (!r.ok) throw new Error(`expected ok, got ${r.error}`);
  return r.value;
};
const u8 = (...xs: number[]) => new Uint8Array(xs);
const fixture = (frame: number): Uint8Array => hexBytes(USRSCTP_PACKETS.find(([f]) => f === frame)![2]);

test('usrsctp capture: every packet parses with a valid CRC32c and re-emits byte for byte', () => {
  assert.is(USRSCTP_PACKETS.length, 23);
  for (const [frame, types, h] of USRSCTP_PACKETS) {
    const p = hexBytes(h);
    const pkt = parsed(p);
    assert.is(pkt.chunks.map((c) => c.type).join(','), types, `frame ${frame}`);
    assert.equal(emit(pkt), p, `frame ${frame}`);
  }
});

test('checksum is CRC32c stored little-endian (RFC 9260 Appendix B), checked against usrsctp', () => {
  const init = fixture(1);
  assert.equal(Array.from(init.subarray(8, 12)), [0xe9, 0xa9, 0xd7, 0xb0]);
  assert.is(sctpChecksum(init), 0xb0d7a9e9);
  const z = init.slice(); z[8] = z[9] = z[10] = z[11] = 0;
  assert.is(crcRef(z), 0xb0d7a9e9);
  assert.equal(withCrc(init), init);
});

test('usrsctp INIT: fixed fields and every parameter', () => {
  const pkt = parsed(fixture(1));
  assert.equal({ ...pkt, chunks: [] }, { srcPort: 54562, dstPort: 7, verificationTag: 0, chunks: [] });
  const c = pkt.chunks[0]!;
  assert.is(c.type, 'INIT');
  if (c.type !== 'INIT') return;
  assert.equal({ ...c, params: [] }, {
    type: 'INIT', flags: 0, initiateTag: 0x2e47c5b6, aRwnd: 131072, outboundStreams: 10, inboundStreams: 2048,
    initialTsn: 2609438166, params: [],
  });
  assert.equal(c.params, [
    { type: 'ecn-capable' },
    { type: 'forward-tsn-supported' },
    { type: 'supported-extensions', chunkTypes: [0xc0, 0x0f, 0xc1, 0x80, 0x82] },
    { type: 'random', random: hexBytes('992bf51c987db6dfc84371276ccfe32cd9b0a0de645a52e166e48a5234518716') },
    { type: 'hmac-algo', hmacIds: [1] },
    { type: 'chunk-list', chunkTypes: [0x80, 0xc1] },
    { type: 'supported-address-types', addressTypes: [5, 6] },
    { type: 'ipv6-address', addr: 'fd00::2' },
    { type: 'ipv4-address', addr: '192.0.2.2' },
    { type: 'ipv6-address', addr: '::1' },
    { type: 'ipv4-address', addr: '127.0.0.1' },
  ]);
  // The same INIT rebuilt with the builders emits the captured bytes.
  const rebuilt = sctpPacket(54562, 7, 0, [initChunk({
    initiateTag: 0x2e47c5b6, aRwnd: 131072, outboundStreams: 10, inboundStreams: 2048, initialTsn: 2609438166,
    params: [
      ecnCapableParam(), forwardTsnSupportedParam(), supportedExtensionsParam([0xc0, 0x0f, 0xc1, 0x80, 0x82]),
      randomParam(hexBytes('992bf51c987db6dfc84371276ccfe32cd9b0a0de645a52e166e48a5234518716')), hmacAlgoParam([1]),
      chunkListParam([0x80, 0xc1]), supportedAddressTypesParam([5, 6]), ipAddressParam('fd00::2'),
      ipAddressParam('192.0.2.2'), ipAddressParam('::1'), ipAddressParam('127.0.0.1'),
    ],
  })]);
  assert.equal(emit(rebuilt), fixture(1));
});

test('usrsctp handshake: COOKIE ECHO carries the INIT ACK state cookie; DATA, SACK, SHUTDOWN fields', () => {
  const ack = parsed(fixture(2)).chunks[0]!;
  assert.is(ack.type, 'INIT-ACK');
  if (ack.type !== 'INIT-ACK') return;
  const sc = ack.params.find((p) => p.type === 'state-cookie');
  assert.ok(sc && sc.type === 'state-cookie');
  const echo = parsed(fixture(3)).chunks[0]!;
  assert.is(echo.type, 'COOKIE-ECHO');
  if (sc?.type === 'state-cookie' && echo.type === 'COOKIE-ECHO') {
    assert.is(sc.cookie.length, 436);
    assert.equal(echo.cookie, sc.cookie);
  }
  const data = parsed(fixture(16)).chunks[0];
  assert.equal(data, { type: 'DATA', flags: DATA_B | DATA_E, tsn: 0x9b88ddd6, streamId: 0, ssn: 0, ppid: 0, userData: new TextEncoder().encode('hello\n') });
  assert.equal(parsed(fixture(17)).chunks, [{ type: 'SACK', flags: 0, cumTsnAck: 0x9b88ddd6, aRwnd: 131072, gapAckBlocks: [], dupTsns: [] }]);
  assert.equal(parsed(fixture(21)).chunks, [{ type: 'SHUTDOWN', flags: 0, cumTsnAck: 0x0fb617ca }]);
  assert.equal(parsed(fixture(22)).chunks, [shutdownAckChunk()]);
  assert.equal(parsed(fixture(23)).chunks, [shutdownCompleteChunk()]);
  assert.equal(parsed(fixture(4)).chunks, [cookieAckChunk()]);
  const hb = parsed(fixture(5)).chunks[0]!;
  assert.is(hb.type, 'HEARTBEAT');
  // A HEARTBEAT ACK built by echoing the HEARTBEAT's parameters matches usrsctp's (frame 14 answers frame 5).
  if (hb.type === 'HEARTBEAT') {
    const ackPkt = parsed(fixture(14));
    assert.equal(emit({ ...ackPkt, chunks: [heartbeatAckChunk(hb.params)] }), fixture(14));
  }
  // DATA userData is a view into the input; other byte fields are owned copies.
  const p16 = fixture(16);
  const d = parsed(p16).chunks[0]!;
  if (d.type === 'DATA') assert.is(d.userData.buffer, p16.buffer);
  const p3 = fixture(3);
  const e = parsed(p3).chunks[0]!;
  if (e.type === 'COOKIE-ECHO') assert.is.not(e.cookie.buffer, p3.buffer);
});

// A bundle built from the RFC layouts: SACK with gaps and duplicates, then an unordered,
// immediate DATA fragment with 3 bytes of user data (1 byte of padding).
const BUNDLE = withCrc(hex`
  1388 0050   # src 5000, dst 80
  0102 0304   # verification tag
  0000 0000   # checksum (filled in)
  03 00 001c  # SACK, flags 0, length 28
  0000 1000   # cumulative TSN ack 4096
  0001 0000   # a_rwnd 65536
  0002 0001   # 2 gap blocks, 1 duplicate TSN
  0002 0003   # gap block 1: +2..+3
  0005 0005   # gap block 2: +5..+5
  0000 0ffe   # duplicate TSN 4094
  00 0d 0013  # DATA, flags I|U|E, length 19
  0000 2000   # TSN 8192
  0007 0000   # stream 7, SSN 0
  0000 0033   # PPID 51
  6162 63 00  # "abc" + 1 pad`);
const BUNDLE_REPR: SctpPacket = {
  srcPort: 5000, dstPort: 80, verificationTag: 0x01020304,
  chunks: [
    { type: 'SACK', flags: 0, cumTsnAck: 4096, aRwnd: 65536, gapAckBlocks: [{ start: 2, end: 3 }, { start: 5, end: 5 }], dupTsns: [4094] },
    { type: 'DATA', flags: DATA_I | DATA_U | DATA_E, tsn: 8192, streamId: 7, ssn: 0, ppid: 51, userData: u8(0x61, 0x62, 0x63) },
  ],
};

test('hand-built SACK + DATA bundle: parse, emit into 0xa5, builders', () => {
  assert.equal(parsed(BUNDLE), BUNDLE_REPR);
  assert.equal(emit(BUNDLE_REPR), BUNDLE);
  const built = sctpPacket(5000, 80, 0x01020304, [
    sackChunk(4096, 65536, [{ start: 2, end: 3 }, { start: 5, end: 5 }], [4094]),
    dataChunk({ tsn: 8192, streamId: 7, ssn: 0, ppid: 51, userData: u8(0x61, 0x62, 0x63), unordered: true, immediate: true, beginning: false }),
  ]);
  assert.equal(built, BUNDLE_REPR);
});

// ABORT with the T bit and every RFC 9260 §3.3.10 cause, plus an unknown cause code.
const ABORT = withCrc(hex`
  0050 1388 a1b2 c3d4 0000 0000   # ports 80 -> 5000, tag, checksum
  06 01 006e          # ABORT, T bit, length 110
  0001 0008 0007 0000 # 1 invalid stream id 7
  0002 000c 0000 0002 0007 0009   # 2 missing mandatory: state cookie, cookie preservative
  0003 0008 0000 03e8 # 3 stale cookie, 1000 us
  0004 0004           # 4 out of resource
  0005 000c 0005 0008 0a00 0001   # 5 unresolvable address: IPv4 10.0.0.1 TLV
  0006 0009 3f05 0005 ee 000000   # 6 unrecognized chunk type: chunk 0x3f len 5 (cause len 9, padded)
  0007 0004           # 7 invalid mandatory parameter
  0008 0008 4321 0004 # 8 unrecognized parameters: TLV 0x4321 len 4
  0009 0008 0000 1234 # 9 no user data, TSN 0x1234
  000a 0004           # 10 cookie received while shutting down
  000b 0004           # 11 restart with new addresses (none)
  000c 0006 6869 0000 # 12 user-initiated abort "hi" (padded)
  000d 0005 21 000000 # 13 protocol violation "!"
  0100 0006 abcd      # unknown cause 0x0100, last: no padding inside the chunk
  0000                # chunk padding`);

test('ABORT with every error cause: typed forms, builders, exact emit', () => {
  const pkt = parsed(ABORT);
  const causes = [
    invalidStreamCause(7), missingMandatoryParameterCause([7, 9]), staleCookieCause(1000), outOfResourceCause(),
    unresolvableAddressCause(sctpParamBytes(ipAddressParam('10.0.0.1'))),
    unrecognizedChunkCause(sctpChunkBytes({ type: 'unknown', chunkType: 0x3f, flags: 5, value: u8(0xee) })),
    invalidMandatoryParameterCause(), unrecognizedParametersCause(sctpParamBytes({ type: 'unknown', paramType: 0x4321, value: u8() })),
    noUserDataCause(0x1234), cookieWhileShuttingDownCause(), restartWithNewAddressesCause(u8()),
    userInitiatedAbortCause(u8(0x68, 0x69)), protocolViolationCause(u8(0x21)),
    { type: 'unknown' as const, code: 0x100, value: u8(0xab, 0xcd) },
  ];
  assert.equal(pkt, sctpPacket(80, 5000, 0xa1b2c3d4, [abortChunk(causes, true)]));
  const c = pkt.chunks[0]!;
  assert.is(c.flags & CHUNK_T, CHUNK_T);
  assert.equal(emit(pkt), ABORT);
});

// INIT ACK with the rarer parameters, plus unknown ones of each upper-two-bits class.
const INIT_ACK = withCrc(hex`
  0050 1388 0000 0001 0000 0000   # ports, tag 1, checksum
  02 00 0069          # INIT ACK, length 105
  0000 0002           # initiate tag 2
  0000 ffff           # a_rwnd
  0001 0001           # OS 1, MIS 1
  0000 0003           # initial TSN 3
  0007 0007 c0ff ee 00          # state cookie (3 bytes, padded)
  0009 0008 0000 2710           # cookie preservative 10000 ms
  000b 000a 6162 6300 0000 0000 # host name "abc\\0\\0\\0", padded
  c006 0008 0102 0304           # adaptation layer indication
  0008 0008 0123 0004           # unrecognized parameter: TLV 0x0123
  0001 0005 99 000000           # heartbeat info (odd length)
  8005 0008 0000 0000           # padding parameter
  0005 0009 0a00 0001 ff 000000 # IPv4 param with length 9: kept as unknown type 5
  7fff 0004                     # unknown, class 01
  bfff 0004                     # unknown, class 10
  ffff 0005 01                  # unknown, class 11, last (unpadded in chunk length)
  000000                        # chunk padding`);

test('INIT ACK parameters: typed, wrong length kept as unknown, unknowns keep their type', () => {
  const c = parsed(INIT_ACK).chunks[0]!;
  assert.is(c.type, 'INIT-ACK');
  if (c.type !== 'INIT-ACK') return;
  assert.equal(c.params, [
    stateCookieParam(u8(0xc0, 0xff, 0xee)),
    cookiePreservativeParam(10000),
    { type: 'host-name-address', hostName: u8(0x61, 0x62, 0x63, 0, 0, 0) },
    adaptationLayerParam(0x01020304),
    unrecognizedParameterParam(u8(0x01, 0x23, 0x00, 0x04)),
    { type: 'heartbeat-info', info: u8(0x99) },
    paddingParam(8),
    { type: 'unknown', paramType: 5, value: u8(0x0a, 0, 0, 1, 0xff) },
    { type: 'unknown', paramType: 0x7fff, value: u8() },
    { type: 'unknown', paramType: 0xbfff, value: u8() },
    { type: 'unknown', paramType: 0xffff, value: u8(1) },
  ]);
  const rebuilt = sctpPacket(80, 5000, 1, [initAckChunk({ initiateTag: 2, aRwnd: 0xffff, outboundStreams: 1, inboundStreams: 1, initialTsn: 3, params: c.params })]);
  assert.equal(emit(rebuilt), INIT_ACK);
  assert.equal(c.params.slice(-4).map((p) => p.type === 'unknown' ? sctpUnrecognizedAction(p.paramType, 16) : null),
    ['stop', 'stop-report', 'skip', 'skip-report']);
});

// The extension chunks: FORWARD-TSN, I-DATA, I-FORWARD-TSN, AUTH, ASCONF, ASCONF-ACK, RE-CONFIG,
// PAD, ERROR, HEARTBEAT, an unknown chunk type with flags, COOKIE-ECHO.
const EXTENSIONS = withCrc(hex`
  0050 1388 0000 00aa 0000 0000
  c0 00 0010 0000 0064 0001 0002 0003 0004           # FORWARD-TSN new cum 100, (1,2) (3,4)
  40 03 0016 0000 0065 0002 0000 0000 0009 0000 002f 7879 0000   # I-DATA B|E, TSN 101, sid 2, MID 9, PPID 47, "xy"
  c2 00 0018 0000 0066 0001 0001 0000 000a 0002 0000 0000 000b # I-FORWARD-TSN 102: (1,U,10) (2,-,11)
  0f 00 000e 0001 0001 dead beef cafe 0000           # AUTH key 1, HMAC SHA-1 (6 bytes here), padded
  c1 00 0018 0000 0007 0005 0008 0a00 0001 c001 0008 0000 0001  # ASCONF serial 7, IPv4 addr, add-ip (unknown)
  80 00 0008 0000 0007                               # ASCONF-ACK serial 7
  82 00 000c 000d 0008 0000 0001                     # RE-CONFIG with param 13 (unknown here)
  84 00 0008 0000 0000                               # PAD 8
  09 00 0008 0004 0004                               # ERROR: out of resource
  04 00 000c 0001 0008 0102 0304                     # HEARTBEAT info 01020304
  bf 81 0007 0102 03 00                              # unknown chunk 0xbf, flags 0x81, 3 bytes value
  0a 00 0006 abcd 0000                               # COOKIE-ECHO "abcd"`);

test('extension chunks: typed forms, builders, exact emit', () => {
  const pkt = parsed(EXTENSIONS);
  const expected: SctpChunk[] = [
    forwardTsnChunk(100, [{ streamId: 1, ssn: 2 }, { streamId: 3, ssn: 4 }]),
    iDataChunk({ tsn: 101, streamId: 2, mid: 9, ppidOrFsn: 47, userData: u8(0x78, 0x79) }),
    iForwardTsnChunk(102, [{ streamId: 1, flags: 1, mid: 10 }, { streamId: 2, flags: 0, mid: 11 }]),
    { type: 'AUTH', flags: 0, sharedKeyId: 1, hmacId: 1, hmac: u8(0xde, 0xad, 0xbe, 0xef, 0xca, 0xfe) },
    { type: 'ASCONF', flags: 0, serial: 7, params: [ipAddressParam('10.0.0.1'), { type: 'unknown', paramType: 0xc001, value: u8(0, 0, 0, 1) }] },
    { type: 'ASCONF-ACK', flags: 0, serial: 7, params: [] },
    { type: 'RE-CONFIG', flags: 0, params: [{ type: 'unknown', paramType: 13, value: u8(0, 0, 0, 1) }] },
    padChunk(8),
    errorChunk([outOfResourceCause()]),
    heartbeatChunk(u8(1, 2, 3, 4)),
    { type: 'unknown', chunkType: 0xbf, flags: 0x81, value: u8(1, 2, 3) },
    cookieEchoChunk(u8(0xab, 0xcd)),
  ];
  assert.equal(pkt.chunks, expected);
  assert.equal(emit(sctpPacket(80, 5000, 0xaa, expected)), EXTENSIONS);
  assert.equal(['stop', 'stop-report', 'skip', 'skip-report'].map((_, k) => sctpUnrecognizedAction(k << 6, 8)),
    ['stop', 'stop-report', 'skip', 'skip-report']);
  assert.is(sctpUnrecognizedAction(0xbf, 8), 'skip');
});

test('typed errors: truncated header, bad chunk length, bad checksum', () => {
  for (let n = 0; n < 16; n++) assert.equal(parseSctp(BUNDLE.subarray(0, n), { verifyChecksum: false }), { ok: false, error: 'truncated' });
  const short = BUNDLE.slice(); short[15] = 3; // SACK chunk length 3
  assert.equal(parseSctp(short, { verifyChecksum: false }), { ok: false, error: 'bad-chunk-length' });
  const over = BUNDLE.slice(); over[15] = 0xff; // SACK length 255 runs past the packet
  assert.equal(parseSctp(over, { verifyChecksum: false }), { ok: false, error: 'bad-chunk-length' });
  const stray = new Uint8Array([...BUNDLE, 0, 0]);
  assert.equal(parseSctp(stray, { verifyChecksum: false }), { ok: false, error: 'truncated' });
  assert.equal(parseSctp(over, { verifyChecksum: true }), { ok: false, error: 'bad-checksum' });
  for (let bit = 0; bit < BUNDLE.length * 8; bit += 7) {
    const f = BUNDLE.slice(); f[bit >> 3]! ^= 1 << (bit & 7);
    assert.equal(parseSctp(f, { verifyChecksum: true }), { ok: false, error: 'bad-checksum' }, `bit ${bit}`);
  }
});

test('typed errors: chunk bodies that do not fit their layout', () => {
  const pk = (chunks: Uint8Array) => new Uint8Array([...hex`0001 0002 0000 0003 0000 0000`, ...chunks]);
  const cases: [Uint8Array, string][] = [
    [hex`00 03 000f 0000 0001 0000 0000 0000 00 00`, 'bad-chunk'],       // DATA shorter than 16
    [hex`01 00 0010 0000 0001 0000 0000 0001 0001`, 'bad-chunk'],         // INIT shorter than 20
    [hex`03 00 0014 0000 0001 0000 0000 0002 0000 0000 0000`, 'bad-chunk'], // SACK says 2 gaps, room for 1
    [hex`07 00 000c 0000 0001 0000 0000`, 'bad-chunk'],                   // SHUTDOWN of length 12
    [hex`0b 00 0008 0000 0000`, 'bad-chunk'],                             // COOKIE ACK of length 8
    [hex`0e 00 0005 00 000000`, 'bad-chunk'],                             // SHUTDOWN COMPLETE of length 5
    [hex`c0 00 000a 0000 0001 0001 0000`, 'bad-chunk'],                   // FORWARD-TSN half a stream entry
    [hex`c2 00 000c 0000 0001 0001 0000`, 'bad-chunk'],                   // I-FORWARD-TSN half an entry
    [hex`40 03 0013 0000 0001 0000 0000 0000 0001 0000 00 00`, 'bad-chunk'], // I-DATA shorter than 20
    [hex`0f 00 0006 0001 0000`, 'bad-chunk'],                             // AUTH shorter than 8
    [hex`c1 00 0006 0000 0000`, 'bad-chunk'],                             // ASCONF shorter than 8
    [hex`04 00 0008 0001 0003`, 'bad-parameter'],                         // HEARTBEAT param length 3
    [hex`04 00 000c 0001 000c 0000 0000`, 'bad-parameter'],               // param overruns the chunk
    [hex`04 00 000a 0001 0004 0000`, 'bad-parameter'],                    // 2 stray bytes after a param
    [hex`01 00 0018 0000 0001 0000 0000 0001 0001 0000 0001 0005 0002`, 'bad-parameter'], // INIT param length 2
    [hex`06 00 0008 0001 0002`, 'bad-cause'],                             // cause length 2
    [hex`09 00 000c 000d 0009 0000 0000`, 'bad-cause'],                   // cause overruns
  ];
  for (const [c, e] of cases) {
    assert.equal(parseSctp(pk(c), { verifyChecksum: false }), { ok: false, error: e }, Array.from(c.subarray(0, 4)).join(','));
  }
  // Zero-length DATA is representable: the endpoint answers it with a No User Data ABORT (RFC 9260 §6.2).
  const empty = parseSctp(pk(hex`00 03 0010 0000 0001 0000 0000 0000 0000`), { verifyChecksum: false });
  assert.ok(empty.ok);
});

test('known causes of the wrong length are kept as unknown with their code', () => {
  const p = withCrc(hex`0001 0002 0000 0003 0000 0000  09 00 0018  0004 0008 0000 0000  0001 0005 00 000000 0002 0004`);
  assert.equal(parsed(p).chunks, [errorChunk([
    { type: 'unknown', code: 4, value: u8(0, 0, 0, 0) },
    { type: 'unknown', code: 1, value: u8(0) },
    { type: 'unknown', code: 2, value: u8() },
  ])]);
  assert.equal(emit(parsed(p)), p);
});

test('padding: last chunk without padding and non-zero padding are accepted; emit pads with zeros', () => {
  const full = fixture(16); // DATA "hello\n" + 2 bytes of padding
  const noPad = full.slice(0, full.length - 2);
  assert.equal(parsed(noPad, false).chunks, parsed(full).chunks);
  assert.equal(emit(parsed(noPad, false)), full);
  const junk = full.slice(); junk[junk.length - 1] = 0x77;
  assert.equal(parsed(junk, false).chunks, parsed(full).chunks);
  assert.equal(emit(parsed(junk, false)), full);
  // A chunk length that counts the last parameter's padding (RFC 9260 §3.2 note) parses the same.
  const canonical = withCrc(hex`0001 0002 0000 0003 0000 0000  04 00 0009 0001 0005 99 000000`);
  const counted = withCrc(hex`0001 0002 0000 0003 0000 0000  04 00 000c 0001 0005 99 000000`);
  assert.equal(parsed(counted).chunks, parsed(canonical).chunks);
  assert.equal(emit(parsed(counted)), canonical);
  // A packet needs at least one chunk (RFC 9260 §3).
  assert.equal(parseSctp(withCrc(hex`0001 0002 0000 0003 0000 0000`), { verifyChecksum: true }), { ok: false, error: 'truncated' });
});

test('every truncation is an error unless it ends at a chunk boundary or only cuts final padding', () => {
  const bases = [...USRSCTP_PACKETS.map(([, , h]) => hexBytes(h)), BUNDLE, ABORT, INIT_ACK, EXTENSIONS];
  for (const p of bases) {
    for (let n = 0; n < p.length; n++) {
      const r = parseSctp(p.subarray(0, n), { verifyChecksum: false });
      // Accepted only if the prefix is itself a well-formed packet: whole chunks, at most the final padding missing.
      if (r.ok) assert.equal(emit(r.value), withCrc(p.subarray(0, (n + 3) & ~3)), `accepted truncation at ${n}`);
      // With the checksum verified, every truncation is rejected.
      assert.not.ok(parseSctp(p.subarray(0, n), { verifyChecksum: true }).ok);
    }
  }
});

test('random bit flips never throw; accepted packets re-emit to an equal parse', () => {
  let x = 0x51c7;
  const rnd = () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x; };
  const bases = [fixture(1), fixture(2), fixture(16), BUNDLE, ABORT, INIT_ACK, EXTENSIONS];
  let accepted = 0;
  for (let k = 0; k < 4000; k++) {
    const p = bases[k % bases.length]!.slice();
    for (let f = rnd() % 3; f >= 0; f--) p[12 + (rnd() % (p.length - 12))]! ^= 1 << (rnd() % 8);
    const r = parseSctp(p, { verifyChecksum: false });
    if (!r.ok) continue;
    accepted++;
    const again = parseSctp(emit(r.value), { verifyChecksum: true });
    assert.ok(again.ok);
    if (again.ok) assert.equal(again.value, r.value);
  }
  assert.ok(accepted > 1000, `accepted ${accepted}`);
});

test('emit writes exactly sctpBufferLen bytes at a byteOffset and rejects a short buffer', () => {
  const big = new Uint8Array(BUNDLE.length + 10).fill(0xa5);
  emitSctp(BUNDLE_REPR, big.subarray(5, 5 + BUNDLE.length));
  assert.equal(big.subarray(5, 5 + BUNDLE.length), BUNDLE);
  assert.is(big[4], 0xa5);
  assert.is(big[5 + BUNDLE.length], 0xa5);
  assert.ok(parseSctp(big.subarray(5, 5 + BUNDLE.length), { verifyChecksum: true }).ok);
  assert.throws(() => emitSctp(BUNDLE_REPR, new Uint8Array(BUNDLE.length - 1)), RangeError);
  assert.throws(() => emit(sctpPacket(1, 2, 3, [{ type: 'unknown', chunkType: 0xff, flags: 0, value: new Uint8Array(0x10000) }])), RangeError);
});

test.run();
