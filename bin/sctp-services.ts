// `ferry echo --proto sctp` and `ferry discard --proto sctp`: SCTP services on ferry over a fresh
// TUN device, usrsctp (or any SCTP peer) on the kernel side reaching them over raw IP (protocol
// 132) or UDP encapsulation (RFC 6951, port 9899 unless --udp-encap says otherwise).
// Same conventions as the TCP services (bin/services.ts): one line containing `listening` when
// ready, then one line per association when it ends; runs until SIGINT/SIGTERM, then aborts the
// associations still open, releases the device and exits 0. Bad arguments or a device that
// cannot be created end with `ferry <cmd>: <reason>` on stderr and a non-zero exit (2: usage,
// 1: runtime), never a stack trace.
//
// echo: every message goes back on the stream it came on, with its PPID and its unordered flag
// (what usrsctp's echo_server does). discard: messages are read and dropped.
import type { Argv } from 'yargs';
import { TunError } from '../tun/device.ts';
import { type Association, type Message, type SctpServer, createServer } from '../tun/sctp-socket.ts';
import { checkTunAddresses, openSctpTun } from '../tun/sctp-tun.ts';
import type { SctpTun } from '../tun/sctp-tun.ts';

/** The arguments of an SCTP service (the yargs argv of `echo`/`discard` fits). */
export interface SctpServiceArgs {
  /** The kernel side's address on the new device, CIDR. */
  tun: string;
  /** The address ferry answers as. */
  ip: string;
  /** SCTP port (default: 7 for echo, 9 for discard). */
  port?: number;
  /** ferry's UDP encapsulation port (default 9899; 0: raw IP only). */
  udpEncap?: number;
  /** Record every packet in and out to this file (pcap, raw IP). */
  pcap?: string;
  name?: string;
  netns?: string;
  mtu?: number;
  /** Options the TCP services have and SCTP does not (yet): rejected with a clear message. */
  tap?: boolean;
  impair?: string;
}

/** What a service counted for one association. */
export interface SctpAssocSummary { remote: string; messages: number; bytes: number; how: 'shutdown' | 'aborted' | 'error'; error: string | null }

/** A running SCTP service (in-process). */
export interface SctpService {
  kind: 'echo' | 'discard';
  tun: SctpTun;
  server: SctpServer;
  port: number;
  /** The `listening` line (without newline). */
  line: string;
  /** Associations open now, and the summaries of those that ended. */
  open: Set<Association>;
  ended: SctpAssocSummary[];
  /** Abort open associations, close the server and the device. Idempotent. */
  close(): void;
}

/** A user error: printed as `ferry <cmd>: message`, exit `code`. */
export class SctpUsageError extends Error {
  constructor(message: string, readonly code = 2) { super(message); }
}

const DEFAULT_PORT = { echo: 7, discard: 9 } as const;

function checkArgs(kind: 'echo' | 'discard', a: SctpServiceArgs): { port: number; udpEncap: number } {
  if (a.tap) throw new SctpUsageError('--tap is not supported with --proto sctp (SCTP runs over a TUN device)');
  if (a.impair !== undefined) throw new SctpUsageError('--impair is not supported with --proto sctp yet');
  if (typeof a.tun !== 'string' || a.tun === '') throw new SctpUsageError('--tun <cidr> is required (e.g. --tun 10.99.0.1/24)');
  if (typeof a.ip !== 'string' || a.ip === '') throw new SctpUsageError('--ip <address> is required (e.g. --ip 10.99.0.2)');
  try {
    checkTunAddresses(a.tun, a.ip);
  } catch (e) {
    throw new SctpUsageError((e as Error).message);
  }
  const port = a.port ?? DEFAULT_PORT[kind];
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) throw new SctpUsageError(`--port ${String(port)}: a port number in 1..65535`);
  const udpEncap = a.udpEncap ?? 9899;
  if (typeof udpEncap !== 'number' || !Number.isInteger(udpEncap) || udpEncap < 0 || udpEncap > 65535) {
    throw new SctpUsageError(`--udp-encap ${String(udpEncap)}: a UDP port in 1..65535 (0: raw IP only)`);
  }
  if (a.mtu !== undefined && !(Number.isInteger(a.mtu) && a.mtu >= 576 && a.mtu <= 65535)) throw new SctpUsageError(`--mtu ${a.mtu}: an integer in 576..65535`);
  if (a.pcap === '') throw new SctpUsageError('--pcap needs a file name');
  return { port, udpEncap };
}

const hostPort = (addr: string, port: number | undefined): string => `${addr.includes(':') ? `[${addr}]` : addr}:${port ?? '?'}`;

/**
 * Start an SCTP echo or discard service on a new TUN device (in this process). Resolves once it
 * listens; `log` receives each association's summary line. Throws SctpUsageError for bad
 * arguments (code 2) or a device that cannot be created (code 1).
 */
export function startSctpService(kind: 'echo' | 'discard', a: SctpServiceArgs, log: (line: string) => void = () => {}): Promise<SctpService> {
  const { port, udpEncap } = checkArgs(kind, a);
  let tun: SctpTun;
  try {
    tun = openSctpTun({
      tun: a.tun, ip: a.ip, udpEncap, pcap: a.pcap ?? null,
      ...(a.name !== undefined ? { name: a.name } : {}),
      ...(a.netns !== undefined ? { netns: a.netns } : {}),
      ...(a.mtu !== undefined ? { mtu: a.mtu } : {}),
      // Room for a fast sender (the bench) and for echoing a burst back.
      assoc: { rcvBuf: 1 << 20, sndBuf: 1 << 20 },
    });
  } catch (e) {
    if (e instanceof TunError || e instanceof TypeError) throw new SctpUsageError(e.message, 1);
    throw e;
  }
  const open = new Set<Association>();
  const ended: SctpAssocSummary[] = [];
  const server = createServer(tun.host, { port, addresses: [tun.ip] }, (assoc) => {
    open.add(assoc);
    const remote = hostPort(assoc.remoteAddresses[0] ?? '?', assoc.remotePort);
    const s: SctpAssocSummary = { remote, messages: 0, bytes: 0, how: 'shutdown', error: null };
    assoc.on('error', (e: NodeJS.ErrnoException) => { s.how = 'error'; s.error = e.code ?? e.message; });
    assoc.on('message', (m: Message) => {
      s.messages++;
      s.bytes += m.data.length;
      if (kind === 'discard') return;
      try {
        // The stack copies what it keeps, so the received buffer can go straight back.
        if (!assoc.send(m.data, { stream: m.stream, ppid: m.ppid, unordered: m.unordered })) assoc.pause();
      } catch (e) {
        s.how = 'error';
        s.error = (e as Error).message;
        assoc.abort('echo failed');
      }
    });
    // Echo backpressure: stop reading while our replies queue up; the receive window then closes.
    assoc.on('drain', () => assoc.resume());
    assoc.on('close', () => {
      open.delete(assoc);
      ended.push(s);
      const verb = kind === 'echo' ? 'echoed' : 'discarded';
      log(`ferry ${kind}: association ${remote} ${s.how === 'error' ? `failed (${s.error})` : 'closed'}: ${s.messages} messages (${s.bytes} bytes) ${verb}`);
    });
  });
  return new Promise((resolve, reject) => {
    let closed = false;
    const close = (): void => {
      if (closed) return;
      closed = true;
      for (const assoc of [...open]) assoc.abort('service stopped');
      if (server.listener !== null) server.close();
      tun.host.flush(); // the ABORTs go out before the device does
      tun.close();
    };
    server.once('error', (e: Error) => { close(); reject(new SctpUsageError(e.message, 1)); });
    server.once('listening', () => {
      const dev = tun.dev;
      const line = `ferry ${kind} listening on sctp ${hostPort(tun.ip, port)} (tun ${dev.name}${dev.netns ? ` in netns ${dev.netns}` : ''}, kernel side ${tun.kernelIp}, `
        + `${udpEncap === 0 ? 'raw IP only' : `raw IP and UDP encapsulation on port ${udpEncap}`})`;
      resolve({ kind, tun, server, port, line, open, ended, close });
    });
  });
}

/** Run a service as a command: print `listening`, run until SIGINT/SIGTERM, exit 0. Errors exit 2 (usage) or 1. */
async function runService(kind: 'echo' | 'discard', a: SctpServiceArgs): Promise<void> {
  let svc: SctpService;
  try {
    svc = await startSctpService(kind, a, (line) => process.stdout.write(`${line}\n`));
  } catch (e) {
    process.stderr.write(`ferry ${kind}: ${(e as Error).message}\n`);
    process.exit(e instanceof SctpUsageError ? e.code : 1);
  }
  process.stdout.write(`${svc.line}\n`);
  let done = false;
  const stop = (): void => {
    if (done) return;
    done = true;
    try { svc.close(); } finally { process.exit(0); }
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

/** `ferry echo --proto sctp ...`: echo every message back (same stream, PPID, ordering). */
export function runSctpEcho(a: SctpServiceArgs): Promise<void> { return runService('echo', a); }

/** `ferry discard --proto sctp ...`: read and drop every message. */
export function runSctpDiscard(a: SctpServiceArgs): Promise<void> { return runService('discard', a); }

/** The options the SCTP services add to a yargs command (`echo` shares --proto and --udp-encap). */
export const SCTP_OPTION_HELP = {
  proto: 'transport protocol',
  udpEncap: "ferry's UDP encapsulation port for SCTP (RFC 6951); 0: raw IP only",
} as const;

/** Register `discard` on a yargs instance (called from bin/cli.ts). */
export function registerSctpCommands<T>(y: Argv<T>): Argv<T> {
  return y.command(
    'discard',
    'read and drop every message, on ferry on a new TUN device (SCTP, raw IP or UDP-encapsulated)',
    (c) => c
      .option('proto', { choices: ['sctp'] as const, default: 'sctp' as const, describe: `${SCTP_OPTION_HELP.proto} (only sctp for discard)` })
      .option('tun', { type: 'string', demandOption: true, describe: "the kernel side's address on the new device, CIDR (e.g. 10.99.0.1/24)" })
      .option('ip', { type: 'string', demandOption: true, describe: 'the address ferry answers as (e.g. 10.99.0.2)' })
      .option('port', { type: 'number', default: 9, describe: 'SCTP port' })
      .option('udp-encap', { type: 'number', default: 9899, describe: SCTP_OPTION_HELP.udpEncap })
      .option('pcap', { type: 'string', describe: 'record every packet in and out to this pcap file' })
      .option('name', { type: 'string', describe: 'device name (default: the kernel picks tunN)' })
      .option('netns', { type: 'string', describe: 'create the device in this existing network namespace' })
      .option('mtu', { type: 'number', describe: 'device MTU (default 1500)' })
      .example('$0 discard --proto sctp --tun 10.99.0.1/24 --ip 10.99.0.2 --port 9', 'then: /usr/lib/usrsctp/client 10.99.0.2 9'),
    (a) => runSctpDiscard(a as unknown as SctpServiceArgs),
  ) as unknown as Argv<T>;
}
