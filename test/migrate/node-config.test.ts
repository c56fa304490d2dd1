// The node's configuration file (migrate/node-config.ts): good files in JSON and YAML, every
// default, every kind of error named with its path, the key never shown, relative paths.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, jsonErrorOffset, loadNodeConfig, parseEndpoint, parseNodeConfig } from '../../migrate/node-config.ts';

const KEY_HEX = '00112233445566778899aabbccddeeff0123456789abcdef';
const dir = mkdtempSync(join(tmpdir(), 'hc-config-'));
mkdirSync(join(dir, 'www'));
writeFileSync(join(dir, 'svc.mjs'), 'export default () => ({ onConnection() {} });\n');

const FULL_YAML = `
name: a
priority: 150
device: { mode: tun, cidr: 10.200.1.1/24, name: fx0, mtu: 1400, pcap: cap/a.pcap }
serviceIps: [10.200.0.10, "2001:DB8:0:0::1"]
handover: 10.203.0.1:7400
peers: [{ name: b, handover: "[fd00::2]:7400" }, { name: c, handover: 10.203.0.3:7400 }]
heartbeat: { intervalMs: 20, timeoutMs: 100, hangMs: 3000 }
key: { hex: "${KEY_HEX}" }
services:
  - { name: web, type: http, proto: tcp, port: 80, root: ./www }
  - { name: echo, type: echo, proto: sctp, port: 7 }
  - { name: mine, type: module, port: 9000, module: svc.mjs, options: { greeting: hi, n: 3 } }
move: { ackTimeoutMs: 500, onTimeout: reset, graceMs: 100 }
ipMove: { mode: hooks, up: ["ip -n cl route replace 10.200.0.10/32 via 10.201.1.2"], down: [], hookTimeoutMs: 1000 }
control: run/a.sock
metrics: 127.0.0.1:9100
log: logs/a.log
`;

const MINIMAL = { name: 'a', device: { cidr: '10.200.1.1/24' }, serviceIps: ['10.200.0.10'], handover: '10.203.0.1:7400', key: { hex: KEY_HEX } };

/** The ConfigError's problems for `doc` (JSON), failing when it parses. */
function problems(doc: unknown): string[] {
  try {
    parseNodeConfig(JSON.stringify(doc), 'json', dir);
  } catch (e) {
    assert.instance(e, ConfigError);
    return [...(e as ConfigError).problems];
  }
  assert.unreachable('the config was accepted');
  return [];
}
const withField = (patch: Record<string, unknown>): unknown => ({ ...MINIMAL, ...patch });
const has = (ps: string[], expected: string): void => {
  assert.ok(ps.includes(expected), `expected ${JSON.stringify(expected)} in ${JSON.stringify(ps)}`);
};

test('config: a full YAML file, every field read, addresses canonical, paths from the file\'s directory', () => {
  const c = parseNodeConfig(FULL_YAML, 'yaml', dir);
  assert.is(c.name, 'a');
  assert.is(c.priority, 150);
  assert.equal(c.device, { mode: 'tun', cidr: '10.200.1.1/24', name: 'fx0', mtu: 1400, pcap: join(dir, 'cap/a.pcap') });
  assert.equal(c.serviceIps, ['10.200.0.10', '2001:db8::1']);
  assert.equal(c.handover, { host: '10.203.0.1', port: 7400 });
  assert.equal(c.peers, [{ name: 'b', handover: { host: 'fd00::2', port: 7400 } }, { name: 'c', handover: { host: '10.203.0.3', port: 7400 } }]);
  assert.equal(c.heartbeat, { intervalMs: 20, timeoutMs: 100, hangMs: 3000 });
  assert.instance(c.key, Uint8Array);
  assert.is(c.key.length, 24);
  assert.is(c.key[0], 0x00);
  assert.is(c.key[23], 0xef);
  assert.equal(c.services, [
    { name: 'web', type: 'http', proto: 'tcp', port: 80, root: join(dir, 'www'), module: null, options: {}, replication: null },
    { name: 'echo', type: 'echo', proto: 'sctp', port: 7, root: null, module: null, options: {}, replication: null },
    { name: 'mine', type: 'module', proto: 'tcp', port: 9000, root: null, module: join(dir, 'svc.mjs'), options: { greeting: 'hi', n: 3 }, replication: null },
  ]);
  assert.equal(c.move, { ackTimeoutMs: 500, onTimeout: 'reset', graceMs: 100 });
  assert.equal(c.ipMove, { mode: 'hooks', up: ['ip -n cl route replace 10.200.0.10/32 via 10.201.1.2'], down: [], hookTimeoutMs: 1000 });
  assert.is(c.control, join(dir, 'run/a.sock'));
  assert.equal(c.metrics, { host: '127.0.0.1', port: 9100 });
  assert.is(c.log, join(dir, 'logs/a.log'));
});

test('config: the minimal JSON file gets every default', () => {
  const c = parseNodeConfig(JSON.stringify(MINIMAL), 'json', dir);
  assert.equal({ ...c, key: null }, {
    name: 'a', priority: 100,
    device: { mode: 'tun', cidr: '10.200.1.1/24', name: null, mtu: null, pcap: null },
    serviceIps: ['10.200.0.10'], handover: { host: '10.203.0.1', port: 7400 }, peers: [],
    heartbeat: { intervalMs: 50, timeoutMs: 300, hangMs: 5000 }, key: null, services: [],
    move: { ackTimeoutMs: 2000, onTimeout: 'move', graceMs: 2000 },
    ipMove: { mode: 'hooks', up: [], down: [], hookTimeoutMs: 5000 },
    control: '/run/ferry/a.sock', metrics: null, log: null, membership: { kind: 'direct' }, replication: { mode: 'off', maxLagMs: 50 },
    limits: { sndBufTotal: 268435456, sndBufFloor: 8192, sndBuf: 262144, rcvBuf: 262144, synQueue: 1024 },
  });
});

test('config: a tap device defaults to ARP for the IP move', () => {
  const c = parseNodeConfig(JSON.stringify(withField({ device: { mode: 'tap', cidr: '10.200.1.1/24' } })), 'json', dir);
  assert.is(c.ipMove.mode, 'arp');
});

test('config: loadNodeConfig picks the format from the extension, else JSON then YAML', () => {
  writeFileSync(join(dir, 'a.yaml'), FULL_YAML);
  writeFileSync(join(dir, 'a.yml'), FULL_YAML);
  writeFileSync(join(dir, 'a.json'), JSON.stringify(MINIMAL));
  writeFileSync(join(dir, 'a.conf'), FULL_YAML);
  writeFileSync(join(dir, 'b.conf'), JSON.stringify(MINIMAL));
  assert.is(loadNodeConfig(join(dir, 'a.yaml')).priority, 150);
  assert.is(loadNodeConfig(join(dir, 'a.yml')).priority, 150);
  assert.is(loadNodeConfig(join(dir, 'a.json')).priority, 100);
  assert.is(loadNodeConfig(join(dir, 'a.conf')).priority, 150);
  assert.is(loadNodeConfig(join(dir, 'b.conf')).priority, 100);
  // YAML text in a .json file is a JSON error.
  writeFileSync(join(dir, 'bad.json'), FULL_YAML);
  assert.throws(() => loadNodeConfig(join(dir, 'bad.json')), (e: unknown) => e instanceof ConfigError && /bad\.json: not valid JSON/.test(e.message));
  assert.throws(() => loadNodeConfig(join(dir, 'missing.yaml')), (e: unknown) => e instanceof ConfigError && e.message === `${join(dir, 'missing.yaml')}: no such file`);
});

test('config: the key from a file, hex text or raw bytes, relative to the config', () => {
  writeFileSync(join(dir, 'key.hex'), `${KEY_HEX}\n`, { mode: 0o600 });
  writeFileSync(join(dir, 'key.bin'), new Uint8Array(32).fill(0xfe), { mode: 0o600 });
  writeFileSync(join(dir, 'short.bin'), new Uint8Array(15).fill(1), { mode: 0o600 });
  const hexKey = parseNodeConfig(JSON.stringify(withField({ key: { file: 'key.hex' } })), 'json', dir).key;
  assert.equal(hexKey, parseNodeConfig(JSON.stringify(MINIMAL), 'json', dir).key);
  assert.equal(parseNodeConfig(JSON.stringify(withField({ key: { file: join(dir, 'key.bin') } })), 'json', '/').key, new Uint8Array(32).fill(0xfe));
  has(problems(withField({ key: { file: 'short.bin' } })), `key.file: ${join(dir, 'short.bin')}: the key is too short: 15 bytes, at least 16`);
  has(problems(withField({ key: { file: 'nope.key' } })), `key.file: ${join(dir, 'nope.key')}: no such file`);
});

test('config: every problem is reported at once, each with its path', () => {
  const ps = problems({
    name: 'a b', priority: 0, device: { mode: 'tan', cidr: '10.200.1.300/24' }, serviceIps: ['10.0.0.1', 'ten', '10.0.0.1'],
    handover: '10.203.0.1', heartbeat: { intervalMs: 100, timeoutMs: 150 }, key: { hex: KEY_HEX },
    services: [
      { name: 'web', type: 'http', proto: 'sctp', port: 80 },
      { name: 'echo', type: 'echo', port: 70000 },
      { name: 'x', type: 'module', port: 81 },
      { name: 'web', type: 'ftp', port: 'eighty' },
      { name: 'e2', type: 'echo', port: 82, root: '/tmp' },
    ],
    move: { onTimeout: 'drop' }, metrics: 'localhost:9100',
  });
  for (const p of [
    'name: "a b" is not a name (1..64 of A-Z a-z 0-9 _ . -)',
    'priority: 0 is out of range (1..255)',
    'device.mode: "tan" is not one of tun, tap',
    'device.cidr: "10.200.1.300/24" is not address/prefix (e.g. 10.200.1.1/24)',
    'serviceIps[1]: "ten" is not an IPv4 or IPv6 address',
    'serviceIps[2]: 10.0.0.1 is listed twice',
    'handover: "10.203.0.1" is not "host:port" (IPv6: "[addr]:port")',
    'heartbeat.timeoutMs: 150 ms must be at least twice heartbeat.intervalMs (200 ms)',
    'services[0].proto: a http service runs over tcp only',
    'services[1].port: 70000 is not a port (1..65535)',
    'services[2].module: required for a module service (path of an ES module)',
    'services[3].name: "web" is used by another service',
    'services[3].type: "ftp" is not one of http, echo, discard, counter, module',
    'services[3].port: "eighty" is not a port (1..65535)',
    'services[4].root: only http services have a root (this one is echo)',
    'move.onTimeout: "drop" is not one of move, reset',
    'metrics: "localhost" is not an IP address',
  ]) has(ps, p);
  assert.is(ps.length, 17);
});

test('config: required fields, unknown keys (with a suggestion), peers, ports, the IP move', () => {
  const ps = problems({ nme: 'a', key: { hex: KEY_HEX } });
  has(ps, "nme: unknown key (did you mean 'name'?)");
  has(ps, 'name: required');
  has(ps, 'device: required (at least { cidr: 10.200.1.1/24 })');
  has(ps, 'serviceIps: required: at least one service address');
  has(ps, 'handover: required: this node\'s hand-over address "host:port"');
  has(problems(withField({ services: [{ name: 'w', type: 'echo', port: 7, colour: 'red' }] })), 'services[0].colour: unknown key (allowed here: name, type, proto, port, root, module, options, replication)');
  has(problems(withField({ heartbeat: { intervalMS: 10 } })), "heartbeat.intervalMS: unknown key (did you mean 'intervalMs'?)");
  has(problems(withField({ serviceIps: [] })), 'serviceIps: needs at least one service address');
  has(problems(withField({ serviceIps: ['10.200.1.1'] })), "serviceIps[0]: 10.200.1.1 is the device's kernel-side address (device.cidr)");
  const peers = problems(withField({ peers: [{ name: 'a', handover: '10.0.0.2:1' }, { name: 'b', handover: '10.0.0.3:1' }, { name: 'b', handover: '10.0.0.4:1' }, { name: 'c', handover: '10.203.0.1:7400' }, { name: 'd', handover: '[10.0.0.5]:1' }] }));
  has(peers, 'peers[0].name: "a" is this node\'s own name');
  has(peers, 'peers[2].name: "b" is listed twice');
  has(peers, "peers[3].handover: 10.203.0.1:7400 is this node's own hand-over address");
  has(peers, 'peers[4].handover: "[10.0.0.5]:1": IPv6 addresses go in brackets, IPv4 without');
  has(problems(withField({ services: [{ name: 'a', type: 'echo', port: 7 }, { name: 'b', type: 'discard', port: 7 }] })), 'services[1].port: tcp port 7 is used by another service');
  // Same port, other protocol: fine.
  assert.is(parseNodeConfig(JSON.stringify(withField({ services: [{ name: 'a', type: 'echo', port: 7 }, { name: 'b', type: 'echo', proto: 'sctp', port: 7 }] })), 'json', dir).services.length, 2);
  has(problems(withField({ services: [{ name: 'c', type: 'counter', proto: 'sctp', port: 5 }] })), 'services[0].proto: a counter service runs over tcp only');
  has(problems(withField({ services: [{ name: 'w', type: 'http', port: 80, root: 'nowhere' }] })), `services[0].root: ${join(dir, 'nowhere')}: no such directory`);
  has(problems(withField({ ipMove: { mode: 'arp' } })), 'ipMove.mode: arp needs a tap device (device.mode: tap); a tun device moves the IP with hooks');
  has(problems(withField({ ipMove: { up: ['ok', ''] } })), 'ipMove.up[1]: must be a shell command (a non-empty string), not a string ""');
  has(problems(withField({ device: { cidr: 'fd00::1/129' } })), 'device.cidr: prefix /129 is too long for IPv6');
  has(problems(withField({ device: { cidr: 'fd00::1/64', mtu: 1000 } })), 'device.mtu: 1000 is out of range (1280..65535)');
  has(problems(withField({ device: { cidr: '10.0.0.1/24', name: 'a-very-long-device-name' } })), 'device.name: "a-very-long-device-name" is not a device name (1..15 of A-Z a-z 0-9 _ . -)');
  has(problems(withField({ control: `/${'x'.repeat(120)}` })), `control: /${'x'.repeat(120)} is longer than a unix socket path may be (107 bytes)`);
  has(problems(withField({ priority: 1.5 })), 'priority: must be an integer, not a number 1.5');
  has(problems(withField({ peers: { b: '10.0.0.2:1' } })), 'peers: must be a list, not a mapping');
  // Port 0 is fine for metrics (ephemeral) but not for the hand-over address.
  assert.equal(parseNodeConfig(JSON.stringify(withField({ metrics: '[::1]:0' })), 'json', dir).metrics, { host: '::1', port: 0 });
  has(problems(withField({ handover: '10.0.0.1:0' })), 'handover: 0 is not a port (1..65535)');
  assert.throws(() => parseNodeConfig('[1, 2]', 'json', dir), /must be a mapping of keys/);
  assert.throws(() => parseNodeConfig('', 'yaml', dir), /must be a mapping of keys \(name, device, \.\.\.\), not empty/);
});

test('config: the key never appears in a message, whatever is wrong with it', () => {
  const secret = 'deadbeefcafebabe0011223344556677';
  const cases: unknown[] = [
    withField({ key: secret }), withField({ key: { hex: secret + 'x' } }), withField({ key: { hex: secret.slice(0, 30) } }),
    withField({ key: { [secret]: 1 } }), withField({ key: { hex: secret, file: 'k' } }), withField({ key: [secret] }),
    withField({ key: { hex: 12345678901234567890 } }),
  ];
  for (const doc of cases) {
    const msg = problems(doc).join('\n');
    assert.ok(msg.startsWith('key') || msg.includes('\nkey'), msg);
    assert.not.ok(msg.includes(secret.slice(0, 12)), msg);
    assert.not.ok(msg.includes('1234567890'), msg);
  }
  has(problems(withField({ key: { hex: secret.slice(0, 30) } })), 'key.hex: too short: 15 bytes, at least 16 (32 hex digits)');
  has(problems(withField({ key: { [secret]: 1 } })), 'key: unknown field (allowed: hex, file)');
  // Syntax errors near the key: the parsers' own messages would quote the source.
  const badJson = `{"name": "a", "key": {"hex": ${secret}}}`;
  const badYaml = `name: a\nkey: { hex: ${secret}\n  file: [${secret}\n`;
  for (const [text, fmt] of [[badJson, 'json'], [badYaml, 'yaml']] as const) {
    try {
      parseNodeConfig(text, fmt, dir);
      assert.unreachable('accepted');
    } catch (e) {
      assert.instance(e, ConfigError);
      const m = (e as Error).message;
      assert.match(m, fmt === 'json' ? /^not valid JSON/ : /^(\d+ problems\n {2})?not valid YAML \(line \d+, column \d+\)/);
      assert.not.ok(m.includes(secret.slice(0, 12)), m);
    }
  }
});

test('config: syntax errors say where (JSON position, YAML line), duplicate YAML keys refused', () => {
  assert.throws(() => parseNodeConfig('{"name": "a",\n "x": }', 'json', dir), (e: unknown) => e instanceof ConfigError && /line 2, column/.test(e.message));
  assert.throws(() => parseNodeConfig('name: a\nname: b\n', 'yaml', dir), (e: unknown) => e instanceof ConfigError && /not valid YAML \(line 2, column 1\): Map keys must be unique/.test(e.message));
});

test('config: the JSON error locator agrees with JSON.parse', () => {
  const samples = ['{}', '[]', '{"a":1}', '{"a":1,}', '[1,2', '"x', '"\\u12"', '"\\u1234"', '-', '-0.5e+3', '01', '1.', 'tru', 'true false',
    '{"a" 1}', '{a:1}', '[1,,2]', ' \n null \n', '"tab\there"', '{"k":[{"x":"y"}]}', '', '\ufeff{}', '[-]', '1e5', '{"a":nul}'];
  for (const s of samples) {
    let ok = true;
    try { JSON.parse(s); } catch { ok = false; }
    assert.is(jsonErrorOffset(s) === -1, ok, JSON.stringify(s));
  }
  assert.is(jsonErrorOffset('{"a":1,}'), 7);
  assert.is(jsonErrorOffset('[1,2'), 4);
  assert.is(parseNodeConfig('\ufeff' + JSON.stringify(MINIMAL), 'json', dir).name, 'a');
});

test('config: parseEndpoint', () => {
  assert.equal(parseEndpoint('10.0.0.1:80'), { host: '10.0.0.1', port: 80 });
  assert.equal(parseEndpoint('[FD00::0:1]:80'), { host: 'fd00::1', port: 80 });
  assert.type(parseEndpoint('fd00::1:80'), 'string');
  assert.type(parseEndpoint('10.0.0.1:65536'), 'string');
  assert.type(parseEndpoint('10.0.0.1:0'), 'string');
  assert.equal(parseEndpoint('10.0.0.1:0', true), { host: '10.0.0.1', port: 0 });
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test('config: limits (send memory in total and per connection, SYN queue)', () => {
  const c = parseNodeConfig(JSON.stringify({ ...MINIMAL, limits: { sndBufTotal: 16777216, sndBufFloor: 4096, synQueue: 64 } }), 'json', dir);
  assert.equal(c.limits, { sndBufTotal: 16777216, sndBufFloor: 4096, sndBuf: 262144, rcvBuf: 262144, synQueue: 64 });
  assert.is(parseNodeConfig(JSON.stringify({ ...MINIMAL, limits: { sndBufTotal: null } }), 'json', dir).limits.sndBufTotal, null);
  assert.ok(problems(withField({ limits: { sndBuf: 10 } })).some((p) => p.startsWith('limits.sndBuf:')));
  assert.ok(problems(withField({ limits: { synqueue: 10 } })).some((p) => p.startsWith('limits.synqueue: unknown key')));
});

test('config: membership (direct or etcd) and replication (off, sync, async; per service)', () => {
  const c = parseNodeConfig(JSON.stringify({ ...MINIMAL, membership: { kind: 'etcd', endpoints: ['http://127.0.0.1:2379/'], leaseTtlMs: 3000 }, replication: { mode: 'sync' },
    services: [{ name: 'w', type: 'echo', proto: 'tcp', port: 7, replication: 'async' }] }), 'json', dir);
  assert.equal(c.membership, { kind: 'etcd', endpoints: ['http://127.0.0.1:2379'], prefix: '/ferry', leaseTtlMs: 3000 });
  assert.equal(c.replication, { mode: 'sync', maxLagMs: 50 });
  assert.is(c.services[0]!.replication, 'async');
  has(problems(withField({ membership: { kind: 'etcd' } })), 'membership.endpoints: required with kind: etcd (e.g. [http://127.0.0.1:2379])');
  has(problems(withField({ membership: { kind: 'etcd', endpoints: ['127.0.0.1:2379'] } })), 'membership.endpoints[0]: must be an etcd client URL such as http://127.0.0.1:2379, not a string "127.0.0.1:2379"');
  has(problems(withField({ membership: { kind: 'direct', prefix: '/x' } })), 'membership.prefix: only with kind: etcd');
  assert.ok(problems(withField({ replication: { mode: 'fast' } })).some((p) => p.startsWith('replication.mode:')));
});

test.run();
