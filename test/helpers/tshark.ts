// tshark as an independent judge of captured packets (PEERS.md §4): a pcap passes when tshark
// decodes every packet without a malformed mark or an error-level expert item, and every IPv4,
// TCP, UDP and SCTP (CRC32c) checksum it can verify is good. tshark exits 0 either way, so the
// verdict is read from its output. tsharkFields() extracts fields (e.g. negotiated TCP options).
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { readCaptureFile } from '../../tun/pcap.ts';

/** The display filter of PEERS.md §4: matches every packet with a problem. */
export const TSHARK_PROBLEM_FILTER =
  '_ws.malformed || _ws.expert.severity >= "Error" || ip.checksum.status != 1 || tcp.checksum.status != 1 || '
  + 'sctp.checksum.status != 1 || udp.checksum.status == 0';

/** Preferences that make tshark verify checksums (it does not by default); 'CRC 32c' is required, TRUE checks nothing. */
export const TSHARK_CHECK_PREFS: readonly string[] = [
  '-o', 'ip.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE',
  '-o', 'sctp.checksum:CRC 32c',
];

const MISSING = 'tshark missing: apt-get install tshark';

/** Run tshark: stdout, stderr minus its "Running as user" banner, and whether it exited 0. */
function runTshark(args: readonly string[]): Promise<{ stdout: string; stderr: string; exitOk: boolean }> {
  return new Promise((resolve, reject) => {
    execFile('tshark', args, { maxBuffer: 64 << 20, env: { ...process.env, LC_ALL: 'C' } }, (e, stdout, stderr) => {
      if (e && (e as NodeJS.ErrnoException).code === 'ENOENT') return reject(new Error(MISSING));
      const errText = stderr.split('\n').filter((l) => l.trim() !== '' && !/^Running as user/.test(l)).join('\n');
      resolve({ stdout, stderr: errText, exitOk: !e });
    });
  });
}

/** Output lines without the final newline's empty tail (an empty line can be a row of empty fields). */
const lines = (s: string): string[] => {
  const ls = s.split('\n');
  if (ls[ls.length - 1] === '') ls.pop();
  return ls;
};

/**
 * Judge a capture: `ok` when tshark finds no malformed packet, no error-level expert item and no
 * bad or missing checksum. `problems` has one line per offending frame: "frame N: expert messages".
 * A file tshark cannot read to the end fails too. Throws "tshark missing: apt-get install tshark"
 * when tshark is not installed.
 */
export async function tsharkCheck(pcapPath: string): Promise<{ ok: boolean; problems: string[] }> {
  const r = await runTshark([
    '-n', '-r', pcapPath, ...TSHARK_CHECK_PREFS, '-Y', TSHARK_PROBLEM_FILTER,
    '-T', 'fields', '-e', 'frame.number', '-e', '_ws.expert.message',
  ]);
  const problems = lines(r.stdout).map((l) => {
    const [frame, msgs] = l.split('\t');
    return `frame ${frame}: ${msgs !== undefined && msgs !== '' ? msgs : 'checksum not verified good'}`;
  });
  // A file tshark cannot read to the end (cut short, bad record) is a problem too, not a pass.
  if (r.stderr !== '' || !r.exitOk) problems.push(`tshark: ${r.stderr || 'exited with an error'}`);
  return { ok: problems.length === 0, problems };
}

/**
 * tsharkCheck over several captures with one tshark start-up (~0.3 s each saved): mergecap
 * concatenates them into one pcapng (each file keeps its link type), and every problem is
 * reported as "file.pcap frame N: …" with N counted within that file. TCP streams are analysed
 * across the merged whole, so files should not share a 5-tuple (or judge them separately).
 */
export async function tsharkCheckMany(pcapPaths: readonly string[]): Promise<{ ok: boolean; problems: string[] }> {
  if (pcapPaths.length === 0) return { ok: true, problems: [] };
  const starts: { name: string; first: number }[] = [];
  let total = 0;
  for (const p of pcapPaths) {
    const r = readCaptureFile(p);
    if (!r.ok) return { ok: false, problems: [`${basename(p)}: unreadable (${r.error})`] };
    starts.push({ name: basename(p), first: total + 1 });
    total += r.value.packets.length;
  }
  const dir = mkdtempSync(join(tmpdir(), 'ferry-tshark-'));
  try {
    const merged = join(dir, 'merged.pcapng');
    await new Promise<void>((resolve, reject) => {
      execFile('mergecap', ['-a', '-F', 'pcapng', '-w', merged, ...pcapPaths], (e, _out, stderr) => {
        if (e && (e as NodeJS.ErrnoException).code === 'ENOENT') return reject(new Error(MISSING));
        if (e) return reject(new Error(`mergecap failed: ${stderr || e.message}`));
        resolve();
      });
    });
    const r = await tsharkCheck(merged);
    const problems = r.problems.map((line) => {
      const m = /^frame (\d+): (.*)$/s.exec(line);
      if (!m) return line;
      const n = Number(m[1]);
      let at = starts[0]!;
      for (const s of starts) if (s.first <= n) at = s;
      return `${at.name} frame ${n - at.first + 1}: ${m[2]}`;
    });
    return { ok: r.ok, problems };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Fields of every packet matching `filter` (all packets without one): one row per packet, one
 * string per field in the order asked ('' when absent; repeated occurrences joined with ',').
 * Checksums are verified as in tsharkCheck, so `*.checksum.status` fields are meaningful.
 * Throws when tshark is missing or cannot read the file.
 */
export async function tsharkFields(pcapPath: string, fields: readonly string[], filter?: string): Promise<string[][]> {
  if (fields.length === 0) throw new Error('tsharkFields: no fields');
  const args = ['-n', '-r', pcapPath, ...TSHARK_CHECK_PREFS, '-T', 'fields', '-E', 'separator=\t', '-E', 'occurrence=a', '-E', 'aggregator=,'];
  if (filter !== undefined) args.push('-Y', filter);
  for (const f of fields) args.push('-e', f);
  const r = await runTshark(args);
  if (!r.exitOk || r.stderr !== '') throw new Error(`tshark ${args.join(' ')}: ${r.stderr || 'exited with an error'}`);
  return lines(r.stdout).map((line) => {
    const cols = line.split('\t');
    return fields.map((_, i) => cols[i] ?? '');
  });
}
