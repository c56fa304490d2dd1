// The TUN/TAP link against the kernel, through the CLI services: TAP mode (ferry answers ARP,
// announces itself with gratuitous ARP), IPv6 on a TUN (ping6 and TCP), and TUN offload
// (64 KB TSO/GSO super-segments both ways). Runs in namespace fk-l-<pid>, created and deleted
// here. Needs root, /dev/net/tun, curl, ping, tshark: otherwise every test fails saying so.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCaptureFile } from '../../tun/pcap.ts';
import { addNetns, addVeth, delNetns, ip, nsRun, sysctl } from '../../tun/netns.ts';
import { ECHO_CLIENT, fieldsOf, judgeCapture, missingForKernelTests, nsNode, sha256File, startService } from './helpers/services.ts';
import type { Service } from './helpers/services.ts';

const NS = `fk-l-${process.pid}`;
/** A client namespace behind NS, whose link towards it has a 1280-byte MTU (path MTU discovery). */
const CL = `fk-l-${process.pid}-c`;
const MISSING = missingForKernelTests();
let dir = '';
const running: Service[] = [];

function need(): void {
  if (MISSING !== null) assert.unreachable(MISSING);
}

async function service(args: string[]): Promise<Service> {
  const s = await startService(args);
  running.push(s);
  return s;
}

async function stop(s: Service): Promise<void> {
  running.splice(running.indexOf(s), 1);
  assert.is(await s.stop('SIGTERM'), 0, `exit on SIGTERM: ${s.err()}`);
  assert.throws(() => ip(['link', 'show', 'dev', s.dev], NS), /does not exist|Cannot find/, `device ${s.dev} left behind`);
}

test.before(() => {
  if (MISSING !== null) return;
  delNetns(NS);
  delNetns(CL);
  addNetns(NS);
  addNetns(CL);
  addVeth({ ns: NS, name: 'fklv0', addr: '10.86.0.1/24' }, { ns: CL, name: 'fklv1', addr: '10.86.0.2/24' });
  // Only the router's side is narrow: the client still offers MSS 1460, so only PMTUD can help.
  ip(['link', 'set', 'dev', 'fklv0', 'mtu', '1280'], NS);
  sysctl(NS, 'net.ipv4.ip_forward', 1);
  ip(['route', 'add', '10.88.11.0/24', 'via', '10.86.0.1'], CL);
  // Let gratuitous ARP create neighbour entries (Linux only updates existing ones by default).
  sysctl(NS, 'net.ipv4.conf.all.arp_accept', 1);
  dir = mkdtempSync(join(tmpdir(), 'fk-l-'));
  mkdirSync(join(dir, 'www'));
});

test.after(async () => {
  for (const s of [...running]) await s.stop('SIGKILL');
  if (MISSING === null) { delNetns(NS); delNetns(CL); }
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

test('preconditions: root, /dev/net/tun, curl, ping, tshark', () => {
  need();
});

test('TAP: ferry announces itself (gratuitous ARP), answers ARP and ping, echoes 5 MB', async () => {
  need();
  const pcap = join(dir, 'tap.pcap');
  const s = await service(['echo', '--tap', '--netns', NS, '--tun', '10.88.8.1/24', '--ip', '10.88.8.2', '--port', '7', '--pcap', pcap]);
  assert.match(s.line, /\(tap \S+ in netns/);
  // The announcement created the kernel's neighbour entry before any traffic.
  const neigh = ip(['neigh', 'show', '10.88.8.2', 'dev', s.dev], NS);
  assert.match(neigh, /lladdr 02:fe:0a:58:08:02/, neigh);
  // Forget it: the kernel must ARP, and ferry must answer.
  ip(['neigh', 'flush', 'dev', s.dev], NS);
  const ping = await nsRun(NS, 'ping', ['-c', '2', '-i', '0.2', '-W', '1', '-n', '10.88.8.2'], { timeoutMs: 10_000 });
  assert.match(ping.stdout, / 2 received/, ping.stdout + ping.stderr);
  const r = await nsNode(NS, ECHO_CLIENT, [5_000_000, '10.88.8.2', 7]);
  assert.is(r.json.got, 5_000_000);
  assert.is(r.json.equal, true);
  await stop(s);
  // Ethernet capture (LINKTYPE 1): the announcement, an ARP request from the kernel and ferry's reply.
  const arp = await fieldsOf(pcap, ['arp.opcode', 'arp.src.proto_ipv4', 'arp.dst.proto_ipv4', 'arp.src.hw_mac'], 'arp', [7]);
  assert.ok(arp.some((a) => a[0] === '1' && a[1] === '10.88.8.2' && a[2] === '10.88.8.2'), `gratuitous ARP: ${JSON.stringify(arp)}`);
  assert.ok(arp.some((a) => a[0] === '1' && a[1] === '10.88.8.1' && a[2] === '10.88.8.2'), 'the kernel asked');
  assert.ok(arp.some((a) => a[0] === '2' && a[1] === '10.88.8.2' && a[3] === '02:fe:0a:58:08:02'), 'ferry answered');
  assert.equal(await judgeCapture(pcap, '10.88.8.2', [7]), []);
});

test('TAP with IPv6: ferry answers Neighbour Solicitation; ping6 and TCP work', async () => {
  need();
  const pcap = join(dir, 'tap6.pcap');
  const s = await service(['echo', '--tap', '--netns', NS, '--tun', 'fd89::1/64', '--ip', 'fd89::2', '--port', '7', '--pcap', pcap]);
  // The kernel's own address is usable once duplicate address detection is over (~1 s).
  const until = performance.now() + 5000;
  while (/tentative/.test(ip(['-6', 'addr', 'show', 'dev', s.dev], NS)) && performance.now() < until) await new Promise((r) => setTimeout(r, 100));
  const ping = await nsRun(NS, 'ping', ['-6', '-c', '2', '-i', '0.2', '-W', '1', '-n', 'fd89::2'], { timeoutMs: 10_000 });
  assert.match(ping.stdout, / 2 received/, ping.stdout + ping.stderr);
  const r = await nsNode(NS, ECHO_CLIENT, [1_000_000, 'fd89::2', 7]);
  assert.is(r.json.equal, true);
  assert.match(ip(['-6', 'neigh', 'show', 'fd89::2', 'dev', s.dev], NS), /lladdr 02:fe:00:00:00:02/);
  await stop(s);
  const na = await fieldsOf(pcap, ['ipv6.src', 'icmpv6.nd.na.target_address', 'icmpv6.opt.linkaddr'], 'icmpv6.type == 136', [7]);
  assert.ok(na.some((x) => x[0] === 'fd89::2' && x[1] === 'fd89::2' && x[2] === '02:fe:00:00:00:02'), `NA: ${JSON.stringify(na)}`);
  assert.equal(await judgeCapture(pcap, 'fd89::2', [7]), []);
});

test('path MTU: a client behind a 1280-byte link; the router\'s ICMP frag-needed shrinks ferry\'s segments', async () => {
  need();
  const file = join(dir, 'www', 'pmtu');
  const body = randomBytes(2_000_000);
  writeFileSync(file, body);
  const pcap = join(dir, 'pmtu.pcap');
  const s = await service(['http', '--netns', NS, '--tun', '10.88.11.1/24', '--ip', '10.88.11.2', '--root', join(dir, 'www'), '--pcap', pcap]);
  const out = join(dir, 'pmtu.out');
  const r = await nsRun(CL, 'curl', ['-sS', '-o', out, '-w', '%{http_code}', '--max-time', '30', 'http://10.88.11.2/pmtu'], { timeoutMs: 40_000 });
  assert.is(r.stdout, '200', r.stderr);
  assert.is(await sha256File(out), createHash('sha256').update(body).digest('hex'));
  await stop(s);
  // The router (NS's kernel) told ferry the next hop's MTU; ferry's later segments fit it.
  const icmp = await fieldsOf(pcap, ['icmp.mtu'], 'icmp.type == 3 && icmp.code == 4', [80]);
  assert.ok(icmp.length >= 1 && icmp[0]![0] === '1280', `ICMP frag-needed: ${JSON.stringify(icmp)}`);
  const cap = readCaptureFile(pcap);
  assert.ok(cap.ok);
  const sizes = cap.value.packets.filter((p) => p.data[15] === 2 && p.data[9] === 6).map((p) => p.data.length);
  // A segment already queued in the batch that carried the ICMP still leaves at 1500 (and draws
  // one more ICMP): count from the last frag-needed on.
  const isFragNeeded = (d: Uint8Array): boolean => d[9] === 1 && d[20] === 3 && d[21] === 4;
  const lastIcmp = cap.value.packets.map((p) => isFragNeeded(p.data)).lastIndexOf(true);
  const after = cap.value.packets.slice(lastIcmp + 1).filter((p) => p.data[15] === 2 && p.data[9] === 6).map((p) => p.data.length);
  assert.ok(Math.max(...sizes) === 1500, 'ferry began with full-sized segments');
  assert.ok(after.length > 1000 && Math.max(...after) <= 1280, `after the ICMP: max ${Math.max(...after)} bytes`);
});

test('IPv6 on a TUN: ping6 and a 5 MB TCP echo', async () => {
  need();
  const s = await service(['echo', '--netns', NS, '--tun', 'fd88::1/64', '--ip', 'fd88::2', '--port', '7']);
  assert.match(s.line, /listening on \[fd88::2\]:7/);
  const ping = await nsRun(NS, 'ping', ['-6', '-c', '2', '-i', '0.2', '-W', '1', '-n', 'fd88::2'], { timeoutMs: 10_000 });
  assert.match(ping.stdout, / 2 received/, ping.stdout + ping.stderr);
  const r = await nsNode(NS, ECHO_CLIENT, [5_000_000, 'fd88::2', 7]);
  assert.is(r.json.got, 5_000_000);
  assert.is(r.json.equal, true);
  await stop(s);
});

test('offload: curl 200 MB from ferry http --offload byte-exact; a 50 MB echo; 64 KB segments both ways', async () => {
  need();
  const size = 200_000_000;
  const file = join(dir, 'www', 'big');
  const h = createHash('sha256');
  {
    const chunks: Buffer[] = [];
    for (let off = 0; off < size; off += 1 << 20) { const c = randomBytes(Math.min(1 << 20, size - off)); h.update(c); chunks.push(c); }
    writeFileSync(file, Buffer.concat(chunks));
  }
  const want = h.digest('hex');
  const s = await service(['http', '--offload', '--netns', NS, '--tun', '10.88.9.1/24', '--ip', '10.88.9.2', '--root', join(dir, 'www')]);
  const out = join(dir, 'dl');
  const r = await nsRun(NS, 'curl', ['-sS', '-o', out, '-w', '%{http_code}', 'http://10.88.9.2/big'], { timeoutMs: 120_000 });
  assert.is(r.stdout, '200', r.stderr);
  assert.is(statSync(out).size, size);
  assert.is(await sha256File(out), want);
  rmSync(out);
  rmSync(file);
  await stop(s);

  const pcap = join(dir, 'offload.pcap');
  const e = await service(['echo', '--offload', '--netns', NS, '--tun', '10.88.10.1/24', '--ip', '10.88.10.2', '--port', '7', '--pcap', pcap]);
  const j = (await nsNode(NS, ECHO_CLIENT, [50_000_000, '10.88.10.2', 7])).json;
  assert.is(j.got, 50_000_000);
  assert.is(j.equal, true);
  await stop(e);
  const cap = readCaptureFile(pcap);
  assert.ok(cap.ok);
  let fromKernel = 0, fromFerry = 0;
  for (const p of cap.value.packets) {
    if (p.data.length <= 1500) continue;
    if (p.data[15] === 1) fromKernel++; else if (p.data[15] === 2) fromFerry++;
  }
  assert.ok(fromKernel > 100, `${fromKernel} super-segments from the kernel (GSO)`);
  assert.ok(fromFerry > 100, `${fromFerry} super-segments from ferry (TSO)`);
  assert.equal(await judgeCapture(pcap, '10.88.10.2', [7]), [], 'every ferry packet (super-segments included) passes tshark');
});

test.run();
