// ferry against the Linux kernel's TCP, through real TUN devices, with the CLI services
// (`ferry http`, `ferry echo`, `ferry get`) running as child processes. Each service's device
// lives in a namespace this file creates and deletes (fk-<pid>), where the kernel-side clients
// (curl, node) run too. `ferry get` fetches from a Node http server in a second namespace
// (fk-<pid>-srv), routed through the first. Every service records a pcap; the captures are
// judged by tshark at the end. Needs root, /dev/net/tun, curl, ping and tshark: without them
// every test fails saying what to install (never skipped).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addNetns, addVeth, delNetns, ip, nsRun, sysctl } from '../../tun/netns.ts';
import {
  ECHO_CLIENT, KERNEL_HTTP_SERVER, MANY_CLIENT, countPackets, cpuSeconds, fieldsOf, judgeCapture, missingForKernelTests, nsNode, nsNodeServer, packetsFrom, runFerry,
  sha256File, startService,
} from './helpers/services.ts';
import type { Service } from './helpers/services.ts';

const NS = `fk-${process.pid}`;
const SRV = `fk-${process.pid}-srv`;
const MISSING = missingForKernelTests();
/** Size of the largest download under impairment (MB); 200 as without impairment unless overridden. */
const IMPAIRED_MB = Number(process.env.FERRY_IMPAIRED_MB ?? 200);

let dir = '';
const files: Record<string, { path: string; sha: string; size: number }> = {};
/** Captures by name: file, ferry's address, the service port. */
const pcaps: Record<string, { path: string; ferry: string; port: number }> = {};
const running: Service[] = [];
let httpSvc: Service | null = null;
const timings: Record<string, number> = {};

function need(): void {
  if (MISSING !== null) assert.unreachable(MISSING);
}

/** A file of `size` pseudo-random bytes in the served directory, with its sha256. */
function makeFile(name: string, size: number): void {
  const path = join(dir, 'www', name);
  const fd = openSync(path, 'w');
  const h = createHash('sha256');
  for (let off = 0; off < size; off += 1 << 20) {
    const chunk = randomBytes(Math.min(1 << 20, size - off));
    h.update(chunk);
    writeSync(fd, chunk);
  }
  closeSync(fd);
  files[name] = { path, sha: h.digest('hex'), size };
}

async function stop(s: Service): Promise<void> {
  const i = running.indexOf(s);
  if (i >= 0) running.splice(i, 1);
  const code = await s.stop('SIGTERM');
  assert.is(code, 0, `ferry exited ${code} on SIGTERM: ${s.err()}`);
  // The device went with it.
  assert.throws(() => ip(['link', 'show', 'dev', s.dev], NS), /does not exist|Cannot find/, `device ${s.dev} left behind`);
}

async function service(args: string[]): Promise<Service> {
  const s = await startService(args);
  running.push(s);
  return s;
}

/** curl `url` from inside NS into a file; returns status, size, sha256, seconds. */
async function curl(url: string, timeoutMs = 120_000): Promise<{ status: string; size: number; sha: string; s: number }> {
  const out = join(dir, 'dl');
  const r = await nsRun(NS, 'curl', ['-sS', '-o', out, '-w', '%{http_code}', '--max-time', String(timeoutMs / 1000), url], { timeoutMs: timeoutMs + 5000 });
  assert.is(r.stderr, '', `curl ${url}: ${r.stderr}`);
  const size = statSync(out).size;
  const sha = await sha256File(out);
  rmSync(out);
  return { status: r.stdout.trim(), size, sha, s: r.ms / 1000 };
}

test.before(() => {
  if (MISSING !== null) return;
  delNetns(NS);
  delNetns(SRV);
  addNetns(NS);
  addNetns(SRV);
  dir = mkdtempSync(join(tmpdir(), 'fk-'));
  mkdirSync(join(dir, 'www'));
  makeFile('empty', 0);
  makeFile('one', 1);
  makeFile('1m', 1 << 20);
  makeFile('200m', 200 * 1000 * 1000);
  makeFile('50m', 50 * 1000 * 1000);
  if (IMPAIRED_MB !== 200) makeFile('impaired', IMPAIRED_MB * 1000 * 1000);
  // SRV reaches ferry's `get` subnet (10.88.4.0/24) through NS, which forwards.
  addVeth({ ns: NS, name: 'fkv0', addr: '10.87.0.1/24' }, { ns: SRV, name: 'fkv1', addr: '10.87.0.2/24' });
  sysctl(NS, 'net.ipv4.ip_forward', 1);
  ip(['route', 'add', '10.88.4.0/24', 'via', '10.87.0.1'], SRV);
});

test.after(async () => {
  for (const s of [...running]) await s.stop('SIGKILL');
  if (MISSING === null) {
    delNetns(NS);
    delNetns(SRV);
  }
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
  if (Object.keys(timings).length > 0) console.log(`\n  kernel.test timings (s): ${Object.entries(timings).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}`);
});

test('preconditions: root, /dev/net/tun, curl, ping, tshark', () => {
  need();
});

test('ferry http: ping works; curl downloads 0 B, 1 B, 1 MB and 200 MB byte-exact', async () => {
  need();
  pcaps.http = { path: join(dir, 'http.pcap'), ferry: '10.88.1.2', port: 80 };
  httpSvc = await service(['http', '--netns', NS, '--tun', '10.88.1.1/24', '--ip', '10.88.1.2', '--port', '80', '--root', join(dir, 'www'), '--pcap', pcaps.http.path]);
  assert.match(httpSvc.line, /listening on 10\.88\.1\.2:80/);
  const ping = await nsRun(NS, 'ping', ['-c', '3', '-i', '0.2', '-W', '1', '-n', '10.88.1.2'], { timeoutMs: 10_000 });
  assert.match(ping.stdout, / 3 received/, ping.stdout + ping.stderr);
  for (const name of ['empty', 'one', '1m', '200m']) {
    const r = await curl(`http://10.88.1.2/${name}`);
    timings[`http ${name}`] = r.s;
    assert.is(r.status, '200', name);
    assert.is(r.size, files[name]!.size, `${name}: size`);
    assert.is(r.sha, files[name]!.sha, `${name}: sha256`);
  }
  const nf = await curl('http://10.88.1.2/no-such-file');
  assert.is(nf.status, '404');
});

test('ferry http idle: a listening server uses < 1% of a core (5 s, /proc/<pid>/stat)', async () => {
  need();
  assert.ok(httpSvc, 'the http service is running');
  await new Promise((r) => setTimeout(r, 500)); // let the last connection's timers settle
  const c0 = cpuSeconds(httpSvc.pid), t0 = performance.now();
  await new Promise((r) => setTimeout(r, 5000));
  const used = cpuSeconds(httpSvc.pid) - c0, wall = (performance.now() - t0) / 1000;
  timings['idle CPU %'] = (100 * used) / wall;
  assert.ok(used / wall < 0.01, `idle ferry http used ${(100 * used / wall).toFixed(2)}% of a core`);
  await stop(httpSvc);
  httpSvc = null;
});

test(`ferry http --impair loss=0.02,reorder=0.02,dup=0.01: 0 B, 1 B, 1 MB, ${IMPAIRED_MB} MB byte-exact`, async () => {
  need();
  pcaps.impaired = { path: join(dir, 'impaired.pcap'), ferry: '10.88.2.2', port: 80 };
  const s = await service(['http', '--netns', NS, '--tun', '10.88.2.1/24', '--ip', '10.88.2.2', '--root', join(dir, 'www'),
    '--pcap', pcaps.impaired.path, '--impair', 'loss=0.02,reorder=0.02,dup=0.01,seed=7']);
  for (const name of ['empty', 'one', '1m', IMPAIRED_MB === 200 ? '200m' : 'impaired']) {
    const r = await curl(`http://10.88.2.2/${name}`, 170_000);
    timings[`impaired ${name}`] = r.s;
    assert.is(r.status, '200', name);
    assert.is(r.size, files[name]!.size, `${name}: size`);
    assert.is(r.sha, files[name]!.sha, `${name}: sha256`);
  }
  await stop(s);
});

test('ferry echo: a kernel client sends 50 MB and reads it back byte-exact while both directions flow', async () => {
  need();
  pcaps.echo = { path: join(dir, 'echo.pcap'), ferry: '10.88.3.2', port: 7 };
  const s = await service(['echo', '--netns', NS, '--tun', '10.88.3.1/24', '--ip', '10.88.3.2', '--port', '7', '--pcap', pcaps.echo.path]);
  const r = await nsNode(NS, ECHO_CLIENT, [50_000_000, '10.88.3.2', 7], 120_000);
  timings['echo 50 MB'] = r.ms / 1000;
  const j = r.json;
  assert.is(j.error, undefined, JSON.stringify(j));
  assert.is(j.got, 50_000_000);
  assert.is(j.equal, true, 'echoed bytes differ');
  assert.ok((j.firstEchoMs as number) < (j.sentAllMs as number), `echo began at ${j.firstEchoMs} ms, after the upload ended at ${j.sentAllMs} ms`);
  await stop(s);
});

test('ferry echo: 1,000 concurrent kernel connections all complete', async () => {
  need();
  pcaps.many = { path: join(dir, 'many.pcap'), ferry: '10.88.5.2', port: 7 };
  const s = await service(['echo', '--netns', NS, '--tun', '10.88.5.1/24', '--ip', '10.88.5.2', '--port', '7', '--pcap', pcaps.many.path]);
  const r = await nsNode(NS, MANY_CLIENT, [1000, '10.88.5.2', 7], 120_000);
  timings['1000 connections'] = r.ms / 1000;
  assert.equal(r.json.errors, {}, JSON.stringify(r.json));
  assert.is(r.json.ok, 1000, JSON.stringify(r.json));
  assert.is(r.json.maxOpen, 1000, 'all 1000 were established at once');
  await stop(s);
});

test('ferry get: downloads 50 MB byte-exact from a kernel HTTP server in another namespace', async () => {
  need();
  pcaps.get = { path: join(dir, 'get.pcap'), ferry: '10.88.4.2', port: 8080 };
  const server = await nsNodeServer(SRV, KERNEL_HTTP_SERVER, [files['50m']!.path, '10.87.0.2', 8080]);
  try {
    const out = join(dir, 'got');
    const r = await runFerry(['get', '--netns', NS, '--tun', '10.88.4.1/24', '--ip', '10.88.4.2', 'http://10.87.0.2:8080/50m', '-o', out, '--pcap', pcaps.get.path], { timeoutMs: 120_000 });
    timings['get 50 MB'] = r.ms / 1000;
    assert.is(r.code, 0, r.err);
    assert.match(r.out, /50000000 bytes in/);
    assert.is(statSync(out).size, 50_000_000);
    assert.is(await sha256File(out), files['50m']!.sha);
    rmSync(out);
  } finally {
    await server.stop();
  }
});

/** Options of the SYN and SYN|ACK of the first handshake in `pcap`, by sender. */
async function handshake(c: { path: string; port: number }): Promise<{ syn: string[]; synAck: string[] }> {
  const rows = await fieldsOf(c.path, [
    'tcp.flags.ack', 'ip.src', 'tcp.options.wscale.shift', 'tcp.options.sack_perm', 'tcp.options.timestamp.tsval',
  ], 'tcp.flags.syn == 1', [c.port], 500); // the first handshake is among the first packets
  const syn = rows.find((r) => r[0] === 'False' || r[0] === '0');
  const synAck = rows.find((r) => r[0] === 'True' || r[0] === '1');
  assert.ok(syn && synAck, `no handshake in ${c.path}: ${JSON.stringify(rows.slice(0, 4))}`);
  return { syn, synAck };
}

function assertOptions(row: string[], who: string): void {
  assert.ok(row[2] !== '', `${who}: no window scale option`);
  assert.ok(row[3] !== '', `${who}: no SACK-permitted option`);
  assert.ok(row[4] !== '', `${who}: no timestamps option`);
}

test('handshakes: window scaling, SACK-permitted and timestamps offered and accepted both ways', async () => {
  need();
  // Kernel opens, ferry accepts (ferry http).
  const a = await handshake(pcaps.http!);
  assert.is(a.syn[1], '10.88.1.1');
  assertOptions(a.syn, 'kernel SYN');
  assert.is(a.synAck[1], '10.88.1.2');
  assertOptions(a.synAck, 'ferry SYN|ACK');
  // Ferry opens, the kernel accepts (ferry get).
  const b = await handshake(pcaps.get!);
  assert.is(b.syn[1], '10.88.4.2');
  assertOptions(b.syn, 'ferry SYN');
  assert.is(b.synAck[1], '10.87.0.2');
  assertOptions(b.synAck, 'kernel SYN|ACK');
});

test("SACK: the kernel's ACKs carry SACK blocks when ferry's impaired link drops segments", async () => {
  need();
  // The first 40000 packets are plenty (and keep tshark quick on a 200 MB capture).
  const sacks = await countPackets(pcaps.impaired!.path, 'ip.src == 10.88.2.1 && tcp.options.sack_le', [80], 40_000);
  assert.ok(sacks > 10, `only ${sacks} kernel ACKs with SACK blocks`);
  // Without impairment ferry's segments reach the kernel in order: (almost) no reason for any.
  const clean = await countPackets(pcaps.http!.path, 'ip.src == 10.88.1.1 && tcp.options.sack_le', [80], 40_000);
  assert.ok(clean * 10 < sacks, `clean link ${clean} vs impaired ${sacks}`);
});

test('tshark: every packet ferry emitted in every capture decodes cleanly with valid checksums', async () => {
  need();
  const list = Object.entries(pcaps);
  assert.ok(list.length >= 5, `captures: ${list.map(([k]) => k).join(', ')}`);
  const t0 = performance.now();
  for (const [name, c] of list) assert.ok(packetsFrom(c.path, c.ferry) > 0, `${name}: no packets from ferry`);
  // Two tshark processes at a time (two cores; nothing else runs now).
  const verdicts = await Promise.all([list.filter((_, i) => i % 2 === 0), list.filter((_, i) => i % 2 === 1)].map(async (half) => {
    const out: Array<[string, string[]]> = [];
    for (const [name, c] of half) out.push([name, await judgeCapture(c.path, c.ferry, [c.port])]);
    return out;
  }));
  for (const [name, problems] of verdicts.flat()) assert.equal(problems.slice(0, 20), [], `${name}.pcap`);
  timings.tshark = (performance.now() - t0) / 1000;
});

test('CLI: bad arguments, not root, a taken name: clear error, non-zero exit, no stack trace', async () => {
  need();
  const www = join(dir, 'www');
  const held = await service(['echo', '--netns', NS, '--name', 'fkdup0', '--tun', '10.88.6.1/24', '--ip', '10.88.6.2']);
  const base = ['--netns', NS, '--ip', '10.88.7.2'];
  const cases: Array<{ args: string[]; re: RegExp; wrapper?: string[] }> = [
    { args: ['http', ...base, '--tun', '10.88.7.1/33', '--root', www], re: /prefix length 33/ },
    { args: ['http', '--netns', NS, '--tun', '10.88.7.1/24', '--ip', '10.88.7.300', '--root', www], re: /not an IPv4 or IPv6 address/ },
    { args: ['http', '--netns', NS, '--tun', 'banana', '--ip', '10.88.7.2', '--root', www], re: /not an address in CIDR form/ },
    { args: ['http', ...base, '--tun', '10.88.7.1/24', '--root', www, '--port', '70000'], re: /--port 70000: a port number in 1\.\.65535/ },
    { args: ['echo', ...base, '--tun', '10.88.7.1/24', '--port', '0'], re: /--port 0/ },
    { args: ['http', ...base, '--tun', '10.88.7.1/24'], re: /Missing required argument: root/ },
    { args: ['http', ...base, '--tun', '10.88.7.1/24', '--root', join(dir, 'nope')], re: /--root .*nope: no such directory/ },
    { args: ['http', ...base, '--tun', '10.88.7.1/24', '--root', files.one!.path], re: /not a directory/ },
    { args: ['echo', ...base, '--tun', '10.88.7.1/24', '--impair', 'loss=0.5,jitter=3'], re: /unknown impairment "jitter"/ },
    { args: ['echo', ...base, '--tun', '10.88.7.1/24', '--name', 'fkdup0'], re: /fkdup0 is already in use/ },
    { args: ['get', ...base, '--tun', '10.88.7.1/24', 'http://example.org/', '-o', join(dir, 'x')], re: /must be an IP address/ },
    { args: ['echo', ...base, '--tun', '10.88.7.1/24'], re: /need root \(CAP_NET_ADMIN\)/, wrapper: ['setpriv', '--inh-caps=-all', '--bounding-set=-all'] },
  ];
  const results = await Promise.all(cases.map((c) => runFerry(c.args, { wrapper: c.wrapper, timeoutMs: 20_000 })));
  results.forEach((r, i) => {
    const c = cases[i]!;
    const what = `ferry ${c.args.join(' ')}`;
    assert.ok(r.code !== 0 && r.code !== null, `${what}: exit ${r.code}`);
    assert.match(r.err, c.re, `${what}: ${r.err}`);
    assert.not.match(r.err, /\n\s+at /, `${what}: stack trace: ${r.err}`);
  });
  await stop(held);
});

test.run();
