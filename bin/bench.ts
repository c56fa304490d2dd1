// `npm run bench`: every number is printed next to a ceiling measured in the same run, so
// the ratio survives a noisy machine. Sections register themselves below; each returns
// rows of [what, value, unit, ceiling-what, ceiling-value, ratio].
import { performance } from 'node:perf_hooks';
import { checksum } from '../stack/wire/checksum.ts';
import { crc32c } from '../stack/wire/crc32c.ts';
import { hmacSha256, keyedHash32 } from '../stack/crypto.ts';

export interface Row { what: string; value: number; unit: string; ceiling: string; ceilingValue: number | null }

/** Run `fn` repeatedly for about `ms` milliseconds; returns operations per second. */
export function rate(fn: () => void, ms = 300): number {
  for (let i = 0; i < 100; i++) fn();
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms) { for (let i = 0; i < 100; i++) fn(); n += 100; t = performance.now(); }
  return (n * 1000) / (t - t0);
}

function wireRows(): Row[] {
  const size = 1460;
  const buf = new Uint8Array(size).map((_, i) => (i * 7) & 0xff);
  const dst = new Uint8Array(size);
  let sink = 0;
  const copyRate = rate(() => { dst.set(buf); sink ^= dst[7]!; }) * size / 1e6;
  const csumRate = rate(() => { sink ^= checksum(buf); }) * size / 1e6;
  const crcRate = rate(() => { sink ^= crc32c(buf); }) * size / 1e6;
  const rows: Row[] = [
    { what: `Internet checksum (RFC 1071), ${size} B`, value: csumRate, unit: 'MB/s', ceiling: 'memory copy of the same bytes', ceilingValue: copyRate },
    { what: `CRC32c (SCTP), ${size} B`, value: crcRate, unit: 'MB/s', ceiling: 'memory copy of the same bytes', ceilingValue: copyRate },
  ];
  // The keyed hash behind ISNs, SYN cookies and timestamp offsets, on a cookie-sized input.
  const secret = new Uint8Array(32).fill(7);
  const input = new TextEncoder().encode('cookie|10.200.0.10:80|10.210.1.1:40000|12345|3|4');
  const sip = rate(() => { sink ^= keyedHash32(secret, input); });
  const hm = rate(() => { sink ^= hmacSha256(secret, input)[0]!; });
  rows.push({ what: `keyed hash for ISN/SYN cookies (SipHash-2-4), ${input.length} B`, value: sip / 1e6, unit: 'M/s', ceiling: 'HMAC-SHA-256 (pure TS, what it replaced), same input', ceilingValue: hm / 1e6 });
  if (sink === 0.5) process.stdout.write('');
  return rows;
}

const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));

function table(rows: Row[]): string {
  const head = ['measure', 'value', 'ceiling (same run)', 'ratio'];
  const body = rows.map((r) => [
    r.what, `${fmt(r.value)} ${r.unit}`,
    r.ceilingValue === null ? r.ceiling : `${r.ceiling}: ${fmt(r.ceilingValue)} ${r.unit}`,
    r.ceilingValue ? `${((r.value / r.ceilingValue) * 100).toFixed(1)}%` : '',
  ]);
  const lines = [head, head.map(() => '---'), ...body].map((c) => `| ${c.join(' | ')} |`);
  return lines.join('\n');
}

/** Sections in order; each is skipped with a note (not silently) when it cannot run here. */
const sections: [string, () => Row[] | Promise<Row[]>][] = [
  ['wire', wireRows],
  ['tcp', async () => (await import('./bench-tcp.ts')).tcpBenchRows()],
  ['tun', async () => (await import('./bench-tun.ts')).tunBenchRows()],
  ['sctp', async () => (await import('./bench-sctp.ts')).sctpBenchRows()],
  ['migrate', async () => (await import('./bench-migrate.ts')).migrateBenchRows()],
  ['ha', async () => (await import('./bench-ha.ts')).haBenchRows()],
];

const only = process.argv.slice(2);
const rows: Row[] = [];
for (const [name, fn] of sections) {
  if (only.length > 0 && !only.includes(name)) continue;
  try { rows.push(...(await fn())); } catch (e) {
    process.stderr.write(`bench: section ${name} failed: ${(e as Error).message}\n`);
    process.exitCode = 1;
  }
}
process.stdout.write(`${table(rows)}\n`);
