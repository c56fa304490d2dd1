// Real TUN/TAP devices (tun/device.ts) against the Linux kernel, inside a network namespace
// this file creates and deletes. Needs root and /dev/net/tun: without them every test fails
// saying what is missing (never skipped).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { TunError, openTun } from '../../tun/device.ts';
import type { TunDevice } from '../../tun/device.ts';
import { addNetns, delNetns, ip, nsExec, nsRun } from '../../tun/netns.ts';
import { checksum } from '../../stack/wire/checksum.ts';

const NS = `fx-dev-${process.pid}`;
const DEVICE_TS = fileURLToPath(new URL('../../tun/device.ts', import.meta.url));

/** Why these tests cannot run here, or null. */
function missing(): string | null {
  if (process.getuid?.() !== 0) return 'these tests need root (CAP_NET_ADMIN): run as root';
  if (!existsSync('/dev/net/tun')) return '/dev/net/tun is missing: modprobe tun';
  return null;
}

const open: TunDevice[] = [];
/** openTun that the suite closes afterwards even if a test fails. */
function tracked(d: TunDevice): TunDevice { open.push(d); return d; }

test.before(() => {
  const m = missing();
  if (m === null) { delNetns(NS); addNetns(NS); }
});

test.after(() => {
  for (const d of open) d.close();
  if (missing() === null) delNetns(NS);
});

test('preconditions: root and /dev/net/tun', () => {
  const m = missing();
  if (m !== null) assert.unreachable(m);
});

/** The ICMP echo reply answering IPv4 echo request `req` (addresses swapped, type 0). */
function echoReply(req: Uint8Array): Uint8Array {
  const p = req.slice();
  const ihl = (p[0]! & 0x0f) * 4;
  p.set(req.subarray(16, 20), 12);
  p.set(req.subarray(12, 16), 16);
  p[10] = 0; p[11] = 0;
  const ipSum = checksum(p.subarray(0, ihl));
  p[10] = ipSum >> 8; p[11] = ipSum & 0xff;
  p[ihl] = 0; // type: echo reply (RFC 792)
  p[ihl + 2] = 0; p[ihl + 3] = 0;
  const icmpSum = checksum(p.subarray(ihl));
  p[ihl + 2] = icmpSum >> 8; p[ihl + 3] = icmpSum & 0xff;
  return p;
}

const isEchoRequestV4 = (p: Uint8Array): boolean =>
  p.length >= 28 && p[0]! >> 4 === 4 && p[9] === 1 && p[(p[0]! & 0x0f) * 4] === 8;

const ipText = (p: Uint8Array, at: number): string => Array.from(p.subarray(at, at + 4)).join('.');

test('TUN: configured in the namespace: address, MTU, up, IPv6 off', () => {
  const d = tracked(openTun({ mode: 'tun', name: 'fxcfg0', addr: '10.88.1.1/24', mtu: 1400, txqueuelen: 2000, netns: NS }));
  assert.is(d.name, 'fxcfg0');
  assert.is(d.mtu, 1400);
  assert.is(d.mode, 'tun');
  assert.is(d.mac, null);
  const [l] = JSON.parse(ip(['-j', 'addr', 'show', 'dev', 'fxcfg0'], NS)) as Array<{ mtu: number; txqlen: number; flags: string[]; addr_info: Array<{ family: string; local: string; prefixlen: number }> }>;
  assert.ok(l);
  assert.is(l.mtu, 1400);
  assert.is(l.txqlen, 2000);
  assert.ok(l.flags.includes('UP'), `flags ${l.flags.join(',')}`);
  assert.equal(l.addr_info.map((a) => `${a.family} ${a.local}/${a.prefixlen}`), ['inet 10.88.1.1/24']);
  assert.is(nsExec(NS, 'cat', ['/proc/sys/net/ipv6/conf/fxcfg0/disable_ipv6']).trim(), '1');
  d.close();
  assert.ok(d.closed);
  // Closing the fd deletes the (non-persistent) device.
  assert.throws(() => ip(['link', 'show', 'dev', 'fxcfg0'], NS), /does not exist|Cannot find/);
});

test('TUN: a kernel ping reaches our reader; our echo reply makes `ping -c1 -W1` succeed', async () => {
  const d = tracked(openTun({ mode: 'tun', addr: '10.88.2.1/24', netns: NS }));
  const seen: Uint8Array[] = [];
  d.onPackets((pkts) => {
    for (const p of pkts) {
      seen.push(p.slice());
      if (isEchoRequestV4(p)) d.write(echoReply(p));
    }
  });
  const r = await nsRun(NS, 'ping', ['-c1', '-W1', '-n', '10.88.2.2'], { timeoutMs: 5000 });
  const req = seen.find(isEchoRequestV4);
  assert.ok(req, `no ICMP echo request read; got ${seen.length} packets`);
  assert.is(ipText(req, 12), '10.88.2.1');
  assert.is(ipText(req, 16), '10.88.2.2');
  assert.is(r.code, 0, `ping failed: ${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /1 received/);
  const s = d.stats();
  assert.ok(s.readPackets >= 1);
  assert.is(s.writtenPackets, 1);
  assert.is(s.writeErrors, 0);
  assert.ok(s.kernel && s.kernel.rxPackets >= 1, 'kernel counted our reply');
  d.close();
});

test('TUN with offload: packets carry a 10-byte virtio_net_hdr both ways; ping still works', async () => {
  const d = tracked(openTun({ mode: 'tun', addr: '10.88.9.1/24', netns: NS, offload: true }));
  assert.is(d.vnetHdrLen, 10);
  const seen: Uint8Array[] = [];
  d.onPackets((pkts) => {
    for (const p of pkts) {
      seen.push(p.slice());
      const ipPart = p.subarray(10);
      if (isEchoRequestV4(ipPart)) {
        const out = new Uint8Array(10 + ipPart.length); // an all-zero header: no offload asked
        out.set(echoReply(ipPart), 10);
        d.write(out);
      }
    }
  });
  const r = await nsRun(NS, 'ping', ['-c1', '-W1', '-n', '10.88.9.2'], { timeoutMs: 5000 });
  const req = seen.find((p) => isEchoRequestV4(p.subarray(10)));
  assert.ok(req, `no echo request after a 10-byte header; got ${seen.length} packets`);
  assert.equal(Array.from(req.subarray(1, 10)), [0, 0, 0, 0, 0, 0, 0, 0, 0], 'no GSO, no partial checksum for ICMP');
  assert.is(r.code, 0, `ping failed: ${r.stdout}${r.stderr}`);
  d.close();
});

test('TUN: IPv6 stays off by default: nothing but our ping arrives', async () => {
  const d = tracked(openTun({ mode: 'tun', addr: '10.88.3.1/24', netns: NS }));
  const seen: Uint8Array[] = [];
  d.onPackets((pkts) => { for (const p of pkts) seen.push(p.slice()); });
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(seen.filter((p) => p[0]! >> 4 === 6).length, 0, 'IPv6 packets arrived');
  d.close();
});

test('TUN: writeMany hands a batch to the kernel; a non-IP packet is rejected and counted', () => {
  const d = tracked(openTun({ mode: 'tun', addr: '10.88.4.1/24', netns: NS }));
  // UDP 10.88.4.2:1000 -> 10.88.4.1:9 (closed port), checksum 0 (none, RFC 768).
  const udp = new Uint8Array(28 + 4);
  udp.set([0x45, 0, 0, 32, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 88, 4, 2, 10, 88, 4, 1, 0x03, 0xe8, 0, 9, 0, 12, 0, 0]);
  const s = checksum(udp.subarray(0, 20));
  udp[10] = s >> 8; udp[11] = s & 0xff;
  const before = d.stats().kernel!.rxPackets;
  assert.ok(d.writeMany(Array.from({ length: 100 }, () => udp)));
  assert.is(d.write(new Uint8Array([0x00, 1, 2, 3, 4, 5, 6, 7])), true); // version nibble 0: EINVAL
  const st = d.stats();
  assert.is(st.writtenPackets, 100);
  assert.is(st.writeErrors, 1);
  assert.is(st.lastWriteError, 'EINVAL');
  assert.is(st.kernel!.rxPackets - before, 100);
  d.close();
});

test('TAP: opens and receives an ARP request when the kernel pings a neighbour', async () => {
  const d = tracked(openTun({ mode: 'tap', addr: '10.89.0.1/24', netns: NS }));
  assert.is(d.mode, 'tap');
  assert.match(d.mac ?? '', /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
  const frames: Uint8Array[] = [];
  d.onPackets((pkts) => { for (const p of pkts) frames.push(p.slice()); });
  await nsRun(NS, 'ping', ['-c1', '-W0.3', '-n', '10.89.0.2'], { timeoutMs: 5000 });
  // Ethernet: dst(6) src(6) type(2); ARP (RFC 826): htype 1, ptype 0800, hlen 6, plen 4, op 1.
  const arp = frames.find((f) => f.length >= 42 && f[12] === 0x08 && f[13] === 0x06);
  assert.ok(arp, `no ARP request; got ${frames.length} frames`);
  assert.equal(Array.from(arp.subarray(0, 6)), [255, 255, 255, 255, 255, 255], 'broadcast');
  assert.is(arp[21], 1, 'ARP op: request');
  assert.is(ipText(arp, 28), '10.89.0.1', 'sender IP');
  assert.is(ipText(arp, 38), '10.89.0.2', 'target IP');
  const mac = Array.from(arp.subarray(6, 12), (b) => b.toString(16).padStart(2, '0')).join(':');
  assert.is(mac, d.mac);
  d.close();
});

test('unnamed devices moved into one namespace get distinct names', () => {
  // The kernel numbers tun%d in this namespace, where the previous one has already left:
  // the second would collide in the target, so it is renamed before the move.
  const a = tracked(openTun({ mode: 'tun', netns: NS }));
  const b = tracked(openTun({ mode: 'tun', netns: NS }));
  assert.match(a.name, /^tun\d+$/);
  assert.match(b.name, /^tun\d+$/);
  assert.is.not(a.name, b.name);
  const names = (JSON.parse(ip(['-j', 'link', 'show'], NS)) as Array<{ ifname: string }>).map((l) => l.ifname);
  assert.ok(names.includes(a.name) && names.includes(b.name), names.join(','));
  a.close();
  b.close();
});

test('errors: a taken name says so', () => {
  const a = tracked(openTun({ mode: 'tun', name: 'fxdup0', netns: NS }));
  try {
    openTun({ mode: 'tun', name: 'fxdup0', netns: NS });
    assert.unreachable('second open succeeded');
  } catch (e) {
    assert.instance(e, TunError);
    assert.is((e as TunError).code, 'EEXIST');
    assert.match((e as Error).message, /fxdup0 is already in use/);
  }
  a.close();
  // Free again once closed.
  tracked(openTun({ mode: 'tun', name: 'fxdup0', netns: NS })).close();
});

test('errors: an address taken on another device says where', () => {
  const a = tracked(openTun({ mode: 'tun', name: 'fxaddr0', addr: '10.88.5.1/24', netns: NS }));
  try {
    openTun({ mode: 'tun', addr: '10.88.5.1/24', netns: NS });
    assert.unreachable('second open succeeded');
  } catch (e) {
    assert.is((e as TunError).code, 'EADDRINUSE');
    assert.match((e as Error).message, /address 10\.88\.5\.1\/24 already in use on fxaddr0/);
  }
  // The failed open left no device behind.
  const names = (JSON.parse(ip(['-j', 'link', 'show'], NS)) as Array<{ ifname: string }>).map((l) => l.ifname);
  assert.equal(names.sort(), ['fxaddr0', 'lo']);
  a.close();
});

test('errors: bad arguments are rejected before anything is created', () => {
  const cases: Array<[unknown, RegExp]> = [
    [{ mode: 'ppp' }, /mode must be 'tun' or 'tap'/],
    [{ mode: 'tun', mtu: 10 }, /mtu must be an integer in 68\.\.65535/],
    [{ mode: 'tun', mtu: 1500.5 }, /mtu must be an integer/],
    [{ mode: 'tun', addr: 'banana' }, /"banana" is not an address in CIDR form/],
    [{ mode: 'tun', addr: '10.0.0.300/24' }, /not an address in CIDR form/],
    [{ mode: 'tun', name: 'a-name-longer-than-15' }, /bad interface name/],
    [{ mode: 'tun', name: 'bad/name' }, /bad interface name/],
    [{ mode: 'tun', up: 'yes' }, /up must be a boolean/],
    [{ mode: 'tun', netns: '../etc' }, /is not a namespace name/],
  ];
  for (const [o, re] of cases) {
    assert.throws(() => openTun(o as never), re, JSON.stringify(o));
  }
  try {
    openTun({ mode: 'tun', netns: `fx-nonexistent-${process.pid}` });
    assert.unreachable();
  } catch (e) {
    assert.is((e as TunError).code, 'ENOENT');
    assert.match((e as Error).message, /network namespace fx-nonexistent-\d+ does not exist/);
  }
});

/** Run an ES module `script` in a child node (with tsx), optionally under a wrapper command. */
async function runNode(script: string, wrapper: string[] = [], timeoutMs = 10_000): Promise<{ code: number | null; out: string; exitedAt: number }> {
  const argv = [...wrapper, process.execPath, '--import', 'tsx', '--input-type=module', '-e', script];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => { out += s; });
  child.stderr.setEncoding('utf8').on('data', (s: string) => { out += s; });
  const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  const exitedAt = Date.now();
  clearTimeout(killer);
  await new Promise((r) => setImmediate(r)); // let the last output arrive
  return { code, out, exitedAt };
}

/** A child script that tries openTun(opts) and prints the error's code and message. */
const tryOpen = (opts: object): string => `
  import { openTun } from ${JSON.stringify(DEVICE_TS)};
  try { openTun(${JSON.stringify(opts)}).close(); console.log('OPENED'); }
  catch (e) { console.log(e.code + ' ' + e.message); }`;

test('errors: without CAP_NET_ADMIN the error says root is needed', async () => {
  // Root uid but no capabilities at all: /dev/net/tun opens, TUNSETIFF is refused.
  const r = await runNode(tryOpen({ mode: 'tun' }), ['setpriv', '--inh-caps=-all', '--bounding-set=-all']);
  assert.match(r.out, /^EPERM cannot create a TUN device: need root \(CAP_NET_ADMIN\)/m, r.out);
});

test('errors: a missing /dev/net/tun says how to get it', async () => {
  // A private mount namespace with an empty /dev/net (the real one is untouched).
  const child = await runNode(tryOpen({ mode: 'tap' }), ['unshare', '-m', '--', 'sh', '-c', 'mount -t tmpfs none /dev/net && exec "$@"', 'sh']);
  assert.match(child.out, /^ENOENT \/dev\/net\/tun missing: load the module \(modprobe tun\)/m, child.out);
});

test('close() returns at once while traffic flows, and the process exits (child, < 2 s)', async () => {
  // The child opens a TUN in the namespace, reads, pings itself, closes and just ends:
  // nothing (no worker thread parked in read(), no poll handle) may keep it alive.
  const script = `
    import { openTun } from ${JSON.stringify(DEVICE_TS)};
    import { spawn } from 'node:child_process';
    const d = openTun({ mode: 'tun', addr: '10.88.6.1/24', netns: ${JSON.stringify(NS)} });
    let n = 0;
    d.onPackets((p) => { n += p.length; });
    const ping = spawn('ip', ['netns', 'exec', ${JSON.stringify(NS)}, 'ping', '-c3', '-i0.01', '-W1', '10.88.6.2'], { stdio: 'ignore' });
    ping.on('close', () => {
      const t0 = performance.now();
      d.close();
      console.log(\`read \${n} closeMs \${(performance.now() - t0).toFixed(3)} closedAt \${Date.now()}\`);
    });`;
  const r = await runNode(script);
  assert.is(r.code, 0, r.out);
  const m = /read (\d+) closeMs ([\d.]+) closedAt (\d+)/.exec(r.out);
  assert.ok(m, r.out);
  assert.ok(Number(m[1]) >= 3, `child read ${m[1]} packets`);
  assert.ok(Number(m[2]) < 50, `close() took ${m[2]} ms`);
  const exitMs = r.exitedAt - Number(m[3]);
  assert.ok(exitMs < 2000, `process exited ${exitMs} ms after close()`);
});

test('idle: an open device with a reader costs (almost) no CPU', async () => {
  const d = tracked(openTun({ mode: 'tun', addr: '10.88.8.1/24', netns: NS }));
  d.onPackets(() => {});
  const c0 = process.cpuUsage();
  await new Promise((r) => setTimeout(r, 1000));
  const c = process.cpuUsage(c0);
  const ms = (c.user + c.system) / 1000;
  assert.ok(ms < 50, `${ms.toFixed(1)} ms of CPU in 1 s idle`); // the whole test process; typically ~2 ms
  assert.is(d.stats().readCalls, 0, 'no reads without packets (no busy polling)');
  d.close();
});

test('deleting the namespace under an open device: onError, closed, no spinning', async () => {
  const ns2 = `${NS}-gone`;
  delNetns(ns2);
  addNetns(ns2);
  const d = tracked(openTun({ mode: 'tun', addr: '10.88.10.1/24', netns: ns2 }));
  d.onPackets(() => {});
  const err = new Promise<Error>((r) => d.onError(r));
  const c0 = process.cpuUsage();
  delNetns(ns2);
  const e = await err;
  assert.match(e.message, /device is gone/);
  assert.ok(d.closed);
  await new Promise((r) => setTimeout(r, 200));
  const c = process.cpuUsage(c0);
  assert.ok((c.user + c.system) / 1000 < 50, 'no busy loop after the device vanished');
});

test('onPackets(null) stops reading; the kernel queues (and drops) instead', async () => {
  const d = tracked(openTun({ mode: 'tun', addr: '10.88.7.1/24', netns: NS, txqueuelen: 5 }));
  let got = 0;
  d.onPackets((p) => { got += p.length; });
  d.onPackets(null);
  await nsRun(NS, 'ping', ['-c10', '-i0.002', '-W1', '-q', '10.88.7.2'], { timeoutMs: 5000 });
  assert.is(got, 0);
  const k = d.stats().kernel!;
  assert.ok(k.txDropped >= 1, `kernel should drop beyond txqueuelen 5: ${JSON.stringify(k)}`);
  // Resuming drains what was queued.
  await new Promise<void>((resolve) => {
    d.onPackets((p) => { got += p.length; resolve(); });
  });
  assert.ok(got >= 1 && got <= 5, `drained ${got} (the kernel queued at most txqueuelen = 5)`);
  d.close();
});

test.run();
