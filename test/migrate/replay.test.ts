// `ferry replay` over the recorded kernel sessions (fixtures/, issue #2): ferry carries every
// session through in either role, and the report points at real divergences.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodePacket, encodePacket } from '../../stack/wire/packet.ts';
import { loadCapture, replayCapture, type ReplayReport } from '../../migrate/replay.ts';
import { replayCommand } from '../../bin/replay.ts';

const FIXTURES = ['tcp-http-v4.pcap', 'tcp-http-v4-rawip.pcap', 'tcp-http-v6.pcap', 'tcp-sack-v4.pcap', 'tcp-close-v4.pcap'];
const path = (f: string) => new URL(`../../fixtures/${f}`, import.meta.url).pathname;

for (const f of FIXTURES) {
  for (const side of ['server', 'client'] as const) {
    test(`replay ${f} as ${side}: ferry carries the session through`, () => {
      const pkts = loadCapture(path(f));
      assert.type(pkts, 'object');
      const r = replayCapture(pkts as never, side) as ReplayReport;
      assert.type(r, 'object', String(r));
      assert.ok(r.end.streamMatches, 'ferry sent exactly the recorded byte stream');
      assert.is(r.end.bytesReadByFerry, r.end.peerBytes, 'ferry read every byte the peer sent');
      assert.ok(['CLOSED', 'TIME-WAIT', 'gone (closed)'].includes(r.end.ferryState), r.end.ferryState);
      assert.is(r.synOptions.ferry, r.synOptions.recorded, 'same SYN options as the recorded endpoint');
      assert.is(r.semantics.ferry.lastAck, r.semantics.recorded.lastAck, 'ferry acknowledged exactly what the recorded endpoint did');
      assert.ok(r.rows.length > 0 && r.matched > 0);
    });
  }
}

test('replay: a SYN to a closed port is refused the same way', () => {
  const r = replayCapture(loadCapture(path('tcp-rst.pcapng')) as never, 'server') as ReplayReport;
  assert.is(r.rows.length, 1);
  assert.equal(r.rows[0]!.diffs, []);
  assert.is(r.rows[0]!.ferry!.flags, 'R.');
});

test('replay: a doctored window in the recording shows up as a window divergence at that packet', () => {
  const pkts = loadCapture(path('tcp-close-v4.pcap')) as { t: number; ip: Uint8Array }[];
  const before = replayCapture(pkts, 'server') as ReplayReport;
  const same = before.rows.find((r) => r.diffs.length === 0 && r.recorded !== null && !r.recorded.flags.includes('S'))!;
  assert.ok(same !== undefined, 'an identical answer to doctor');
  // Find that recorded packet (the server's, at that time) and change its window field.
  const doctored = pkts.map((p) => {
    const d = decodePacket(p.ip);
    if (!d.ok || d.value.transport.proto !== 'tcp' || p.t !== same.recorded!.t || d.value.transport.tcp.srcPort !== 8082) return p;
    d.value.transport.tcp.window -= 1; // (smaller: the largest recorded window sizes ferry's buffer)
    return { t: p.t, ip: encodePacket(d.value) };
  });
  const after = replayCapture(doctored, 'server') as ReplayReport;
  const row = after.rows.find((r) => r.recorded?.t === same.recorded!.t && r.recorded.seq === same.recorded!.seq)!;
  assert.ok(row.diffs.includes('window'), JSON.stringify(row));
  assert.is(after.mismatches.window, (before.mismatches.window ?? 0) + 1);
});

test('ferry replay CLI: reports and exits 0 when the session is carried; 2 for an unreadable file', async () => {
  const lines: string[] = [];
  assert.is(await replayCommand({ file: path('tcp-http-v4.pcap'), side: 'both', all: false, json: false }, (l) => lines.push(l)), 0);
  assert.ok(lines.some((l) => /summary: \d+ of \d+ answers identical/.test(l)), lines.join('\n'));
  assert.ok(lines.some((l) => /ferry as client/.test(l)));
  assert.is(await replayCommand({ file: '/nonexistent.pcap', side: 'server', all: false, json: false }, () => {}), 2);
});

test.run();
