// `ferry http`, `ferry echo`, `ferry get`: services on the stack over a fresh TUN/TAP device,
// the kernel's own TCP being the peer. Each server prints one line containing `listening`
// when it is ready, runs until SIGINT/SIGTERM, then releases its device and exits 0. `get`
// downloads one URL (ferry makes the active open) and prints a summary line.
// Bad arguments or a device that cannot be created end with `ferry <cmd>: <reason>` on stderr
// and a non-zero exit (2: usage, 1: runtime), never a stack trace.
import { createReadStream, createWriteStream, statSync, unlinkSync } from 'node:fs';
import type { Stats } from 'node:fs';
import http from 'node:http';
import { isAbsolute, join, normalize, resolve, sep } from 'node:path';
import type { Argv } from 'yargs';
import { canonicalIp } from '../stack/wire/addr.ts';
import { TunError } from '../tun/device.ts';
import { serveHttp } from '../tun/http.ts';
import { ImpairSpecError, parseImpair } from '../tun/impair.ts';
import type { Server, Socket } from '../tun/net.ts';
import { checkAddresses, openTunHost } from '../tun/tun-host.ts';
import { SCTP_OPTION_HELP, runSctpEcho } from './sctp-services.ts';
import type { TunHost } from '../tun/tun-host.ts';

/** A user error: printed as `ferry <cmd>: message`, exit `code`. */
class UsageError extends Error {
  constructor(message: string, readonly code = 2) { super(message); }
}

interface DeviceArgs {
  tun: string; ip: string; tap: boolean; offload: boolean; pcap?: string; impair?: string; name?: string; netns?: string; mtu?: number;
}

/** Options every service shares (the device and the link). */
function deviceOptions<T>(y: Argv<T>): Argv<T & DeviceArgs> {
  return y
    .option('tun', { type: 'string', demandOption: true, describe: "the kernel side's address on the new device, CIDR (e.g. 10.88.0.1/24)" })
    .option('ip', { type: 'string', demandOption: true, describe: 'the address ferry answers as (e.g. 10.88.0.2)' })
    .option('tap', { type: 'boolean', default: false, describe: 'use a TAP (Ethernet) device; ferry answers ARP itself' })
    .option('offload', { type: 'boolean', default: false, describe: 'TUN offload (TSO/GSO): 64 KB segments through the device, both ways' })
    .option('pcap', { type: 'string', describe: 'record every packet in and out to this pcap file' })
    .option('impair', { type: 'string', describe: 'impair the link: loss=0.02,reorder=0.02,dup=0.01,delay=5,seed=1' })
    .option('name', { type: 'string', describe: 'device name (default: the kernel picks tunN/tapN)' })
    .option('netns', { type: 'string', describe: 'create the device in this existing network namespace' })
    .option('mtu', { type: 'number', describe: 'device MTU (default 1500)' }) as unknown as Argv<T & DeviceArgs>;
}

/** Validate what can be checked before touching a device; throws UsageError. */
function checkDeviceArgs(a: DeviceArgs): void {
  try {
    checkAddresses(a.tun, a.ip);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (a.impair !== undefined) {
    try { parseImpair(a.impair); } catch (e) { throw new UsageError(`--impair: ${(e as ImpairSpecError).message}`); }
  }
  if (a.mtu !== undefined && !(Number.isInteger(a.mtu) && a.mtu >= 576 && a.mtu <= 65535)) throw new UsageError(`--mtu ${a.mtu}: an integer in 576..65535`);
  if (a.pcap === '') throw new UsageError('--pcap needs a file name');
  if (a.offload && a.tap) throw new UsageError('--offload works on a TUN only (not with --tap)');
}

function checkPort(p: unknown, what = '--port'): number {
  if (typeof p !== 'number' || !Number.isInteger(p) || p < 1 || p > 65535) throw new UsageError(`${what} ${String(p)}: a port number in 1..65535`);
  return p;
}

function open(a: DeviceArgs): TunHost {
  try {
    return openTunHost({
      tun: a.tun, ip: a.ip, mode: a.tap ? 'tap' : 'tun', pcap: a.pcap ?? null, impair: a.impair ?? null, offload: a.offload,
      ...(a.name !== undefined ? { name: a.name } : {}),
      ...(a.netns !== undefined ? { netns: a.netns } : {}),
      ...(a.mtu !== undefined ? { mtu: a.mtu } : {}),
      config: { tcp: { rcvBuf: 1 << 20, sndBuf: 1 << 20 } },
    });
  } catch (e) {
    if (e instanceof TunError || e instanceof TypeError || e instanceof ImpairSpecError) throw new UsageError(e.message, 1);
    throw e;
  }
}

/** Run `body`, turning errors into one line on stderr and an exit code. */
async function run(cmd: string, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (e) {
    const code = e instanceof UsageError ? e.code : 1;
    process.stderr.write(`ferry ${cmd}: ${(e as Error).message}\n`);
    process.exit(code);
  }
}

const where = (th: TunHost, port: number): string =>
  `${th.ip.includes(':') ? `[${th.ip}]` : th.ip}:${port} (${th.dev.mode} ${th.dev.name}${th.dev.netns ? ` in netns ${th.dev.netns}` : ''}, kernel side ${th.kernelIp})`;

/** Run until SIGINT/SIGTERM, then close `server` and the device and exit 0. */
function untilSignal(th: TunHost, server: Server, extra: () => void = () => {}): void {
  let done = false;
  const stop = (): void => {
    if (done) return;
    done = true;
    try {
      extra();
      server.destroyAll();
      if (server.listening) server.close();
    } finally {
      th.close();
      process.exit(0);
    }
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

// --------------------------------------------------------------------------------- http

interface HttpArgs extends DeviceArgs { port: number; root: string }

/** Resolve a request path inside `root`, or null (outside it, or undecodable). */
function fileFor(root: string, url: string): string | null {
  let path: string;
  try {
    path = decodeURIComponent((url.split('?')[0] ?? '/').split('#')[0] ?? '/');
  } catch {
    return null;
  }
  if (path.includes('\0')) return null;
  const full = normalize(join(root, path));
  return full === root || full.startsWith(root.endsWith(sep) ? root : root + sep) ? full : null;
}

/** Node's http.Server serving files under `root` (GET/HEAD; 404; 405; Content-Length; keep-alive). */
export function staticFileServer(root: string): http.Server {
  const base = resolve(root);
  return http.createServer((req, res) => {
    const method = req.method ?? 'GET';
    const notFound = (): void => {
      res.writeHead(404, { 'content-type': 'text/plain', 'content-length': 10 });
      res.end(method === 'HEAD' ? undefined : 'not found\n');
    };
    if (method !== 'GET' && method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain', 'content-length': 19 });
      res.end('method not allowed\n');
      return;
    }
    let file = fileFor(base, req.url ?? '/');
    if (file === null) { notFound(); return; }
    let st: Stats;
    try {
      st = statSync(file);
      if (st.isDirectory()) { file = join(file, 'index.html'); st = statSync(file); }
    } catch {
      notFound();
      return;
    }
    if (!st.isFile()) { notFound(); return; }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': st.size, 'last-modified': st.mtime.toUTCString() });
    if (method === 'HEAD' || st.size === 0) { res.end(); return; }
    const rs = createReadStream(file, { highWaterMark: 256 * 1024 });
    rs.on('error', () => res.destroy());
    rs.pipe(res);
  });
}

async function httpCommand(a: HttpArgs): Promise<void> {
  checkDeviceArgs(a);
  const port = checkPort(a.port);
  let st: Stats;
  try { st = statSync(a.root); } catch { throw new UsageError(`--root ${a.root}: no such directory`); }
  if (!st.isDirectory()) throw new UsageError(`--root ${a.root}: not a directory`);
  const root = isAbsolute(a.root) ? a.root : resolve(a.root);
  const th = open(a);
  const httpServer = staticFileServer(root);
  httpServer.keepAliveTimeout = 60_000;
  const server = serveHttp(th.host, httpServer, port, th.ip);
  server.on('error', (e: Error) => { process.stderr.write(`ferry http: ${e.message}\n`); th.close(); process.exit(1); });
  server.on('listening', () => process.stdout.write(`ferry http listening on ${where(th, port)}, serving ${root}\n`));
  untilSignal(th, server, () => httpServer.close());
}

// --------------------------------------------------------------------------------- echo

interface EchoArgs extends DeviceArgs { port: number; proto: 'tcp' | 'sctp'; udpEncap: number }

async function echoCommand(a: EchoArgs): Promise<void> {
  if (a.proto === 'sctp') {
    // SCTP echo lives in bin/sctp-services.ts (its own device setup over tun/sctp-tun.ts).
    if (a.offload) throw new UsageError('--offload is TCP only (not with --proto sctp)');
    await runSctpEcho({
      tun: a.tun, ip: a.ip, port: a.port, udpEncap: a.udpEncap, tap: a.tap,
      ...(a.pcap !== undefined ? { pcap: a.pcap } : {}), ...(a.impair !== undefined ? { impair: a.impair } : {}),
      ...(a.name !== undefined ? { name: a.name } : {}), ...(a.netns !== undefined ? { netns: a.netns } : {}),
      ...(a.mtu !== undefined ? { mtu: a.mtu } : {}),
    });
    return;
  }
  checkDeviceArgs(a);
  const port = checkPort(a.port);
  const th = open(a);
  // Half-open allowed: after the client's FIN every byte is still echoed, then our FIN follows.
  const server = th.host.createServer({ allowHalfOpen: true, noDelay: true }, (s: Socket) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  server.on('error', (e: Error) => { process.stderr.write(`ferry echo: ${e.message}\n`); th.close(); process.exit(1); });
  server.listen(port, th.ip, () => process.stdout.write(`ferry echo listening on ${where(th, port)}\n`));
  untilSignal(th, server);
}

// --------------------------------------------------------------------------------- get

interface GetArgs extends DeviceArgs { url: string; output: string; timeout: number }

async function getCommand(a: GetArgs): Promise<void> {
  checkDeviceArgs(a);
  let url: URL;
  try { url = new URL(a.url); } catch { throw new UsageError(`${a.url}: not a URL`); }
  if (url.protocol !== 'http:') throw new UsageError(`${a.url}: only http:// URLs are supported`);
  const hostText = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const remote = canonicalIp(hostText);
  if (remote === null) throw new UsageError(`${a.url}: the host must be an IP address (ferry does no name resolution)`);
  const port = url.port === '' ? 80 : checkPort(Number(url.port), 'URL port');
  if (!(a.timeout > 0)) throw new UsageError(`--timeout ${a.timeout}: seconds > 0`);
  const th = open(a);
  const t0 = performance.now();
  let got = 0;
  const progress = process.stderr.isTTY ? setInterval(() => process.stderr.write(`\r${(got / 1e6).toFixed(1)} MB`), 500) : null;
  const fail = (msg: string): never => {
    if (progress) clearInterval(progress);
    th.close();
    try { unlinkSync(a.output); } catch { /* nothing written */ }
    throw new UsageError(msg, 1);
  };
  const stop = (): void => { th.close(); process.stderr.write('ferry get: interrupted\n'); process.exit(130); };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const result = await new Promise<{ status: number; length: number | null; error: string | null }>((done) => {
    const req = http.request({
      host: remote, port, path: `${url.pathname}${url.search}`, method: 'GET',
      headers: { host: url.host, 'user-agent': 'ferry-get' },
      createConnection: () => th.host.connect({ host: remote, port, noDelay: true }) as unknown as import('node:net').Socket,
    }, (res) => {
      const status = res.statusCode ?? 0;
      const length = res.headers['content-length'] === undefined ? null : Number(res.headers['content-length']);
      if (status !== 200) { res.resume(); res.on('end', () => done({ status, length, error: null })); return; }
      const ws = createWriteStream(a.output);
      ws.on('error', (e) => done({ status, length, error: `writing ${a.output}: ${e.message}` }));
      res.on('data', (c: Buffer) => { got += c.length; });
      res.on('error', (e) => done({ status, length, error: e.message }));
      res.on('aborted', () => done({ status, length, error: 'connection closed before the whole body arrived' }));
      ws.on('finish', () => done({ status, length, error: null }));
      res.pipe(ws);
    });
    req.setTimeout(a.timeout * 1000, () => req.destroy(new Error(`no progress for ${a.timeout} s`)));
    req.on('error', (e) => done({ status: 0, length: null, error: e.message }));
    req.end();
  });
  if (progress) { clearInterval(progress); process.stderr.write('\r'); }
  if (result.error !== null) fail(`${a.url}: ${result.error}`);
  if (result.status !== 200) fail(`${a.url}: HTTP ${result.status}`);
  if (result.length !== null && result.length !== got) fail(`${a.url}: got ${got} bytes, Content-Length said ${result.length}`);
  const s = (performance.now() - t0) / 1000;
  process.stdout.write(`ferry get: ${a.url} -> ${a.output}: ${got} bytes in ${s.toFixed(2)} s (${((got * 8) / s / 1e6).toFixed(0)} Mbit/s)\n`);
  th.close();
  process.exit(0);
}

// --------------------------------------------------------------------------------- yargs

/** Register `http`, `echo` and `get` on a yargs instance (called from bin/cli.ts). */
export function registerServiceCommands(y: Argv): Argv {
  return y
    .command(
      'http',
      'serve a directory over HTTP on ferry, on a new TUN/TAP device',
      (c) => deviceOptions(c)
        .option('port', { type: 'number', default: 80, describe: 'TCP port' })
        .option('root', { type: 'string', demandOption: true, describe: 'directory to serve' })
        .example('$0 http --tun 10.88.0.1/24 --ip 10.88.0.2 --port 80 --root ./www', 'then: curl http://10.88.0.2/file'),
      (a) => run('http', () => httpCommand(a as unknown as HttpArgs)),
    )
    .command(
      'echo',
      'echo every byte back (TCP) or every message (SCTP), on ferry on a new TUN/TAP device',
      (c) => deviceOptions(c)
        .option('port', { type: 'number', default: 7, describe: 'TCP or SCTP port' })
        .option('proto', { choices: ['tcp', 'sctp'] as const, default: 'tcp' as const, describe: SCTP_OPTION_HELP.proto })
        .option('udp-encap', { type: 'number', default: 9899, describe: `SCTP only: ${SCTP_OPTION_HELP.udpEncap}` })
        .example('$0 echo --tun 10.88.0.1/24 --ip 10.88.0.2 --port 7', '')
        .example('$0 echo --proto sctp --tun 10.99.0.1/24 --ip 10.99.0.2 --port 7', 'SCTP (raw IP and UDP encapsulation)'),
      (a) => run('echo', () => echoCommand(a as unknown as EchoArgs)),
    )
    .command(
      'get <url>',
      'download a URL with an HTTP client on ferry (active open) over a new TUN/TAP device',
      (c) => deviceOptions(c)
        .positional('url', { type: 'string', demandOption: true, describe: 'http://<address>[:port]/path' })
        .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'file to write' })
        .option('timeout', { type: 'number', default: 30, describe: 'give up after this many seconds without progress' })
        .example('$0 get --tun 10.88.0.1/24 --ip 10.88.0.2 http://10.88.0.1:8080/big -o big', ''),
      (a) => run('get', () => getCommand(a as unknown as GetArgs)),
    );
}
