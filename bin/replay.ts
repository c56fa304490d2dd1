// `ferry replay <file.pcap> [--side server|client]`: feed the peer's side of a recorded TCP
// session into a ferry endpoint and report where ferry's answers diverge from the recorded
// endpoint's in sequence, ACK and window semantics (migrate/replay.ts has the model).
// Exit code: 0 when ferry carried the session through (every byte both ways, same stream), 1
// when it did not, 2 for bad arguments or an unreadable capture.
import { formatReport, loadCapture, replayCapture, type ReplayReport, type Side } from '../migrate/replay.ts';

export interface ReplayArgs {
  file: string;
  side: Side | 'both';
  all: boolean;
  json: boolean;
}

/** yargs option descriptions for `ferry replay`. */
export const replayOptions = {
  side: { choices: ['server', 'client', 'both'] as const, default: 'server' as const, describe: 'the role ferry takes (the other side is fed from the capture)' },
  all: { type: 'boolean', default: false, describe: 'list every answer, not only the divergent ones' },
  json: { type: 'boolean', default: false, describe: 'machine-readable report' },
} as const;

/** Run a replay; returns the exit code. */
export async function replayCommand(a: ReplayArgs, out: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): Promise<number> {
  const pkts = loadCapture(a.file);
  if (typeof pkts === 'string') { out(`ferry replay: ${pkts}`); return 2; }
  const sides: Side[] = a.side === 'both' ? ['server', 'client'] : [a.side];
  const reports: ReplayReport[] = [];
  for (const side of sides) {
    const r = replayCapture(pkts, side);
    if (typeof r === 'string') { out(`ferry replay: ${a.file}: ${r}`); return 2; }
    reports.push(r);
    if (!a.json) for (const l of formatReport(a.file, r, a.all)) out(l);
  }
  if (a.json) out(JSON.stringify(reports, null, 1));
  const carried = reports.every((r) => r.end.streamMatches && r.end.bytesReadByFerry === r.end.peerBytes);
  return carried ? 0 : 1;
}
