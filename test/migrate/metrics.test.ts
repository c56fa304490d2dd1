// Prometheus text format 0.0.4 from a NodeStatus (migrate/metrics.ts): every line parses, every
// family has HELP and TYPE before its samples, label values are escaped; the HTTP endpoint.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import http from 'node:http';
import { METRICS_CONTENT_TYPE, escapeLabelValue, renderMetrics, serveMetrics } from '../../migrate/metrics.ts';
import type { NodeStatus } from '../../migrate/node-types.ts';
import { fakeStatus } from './helpers/control-fake.ts';

interface Sample { name: string; labels: Record<string, string>; value: number }

/** A strict reader of the text format: throws on any line it cannot parse. */
function parseExposition(text: string): { samples: Sample[]; help: Map<string, string>; type: Map<string, string> } {
  assert.ok(text.endsWith('\n'), 'ends with a newline');
  const samples: Sample[] = [];
  const help = new Map<string, string>(), type = new Map<string, string>();
  const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
  for (const line of text.slice(0, -1).split('\n')) {
    let m: RegExpExecArray | null;
    if ((m = new RegExp(`^# HELP (${NAME}) (.*)$`).exec(line))) {
      assert.not.ok(help.has(m[1]!), `HELP twice for ${m[1]}`);
      help.set(m[1]!, m[2]!);
    } else if ((m = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`).exec(line))) {
      assert.not.ok(type.has(m[1]!), `TYPE twice for ${m[1]}`);
      type.set(m[1]!, m[2]!);
    } else if ((m = new RegExp(`^(${NAME})(?:\\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*",?)*)\\})? (\\S+)$`).exec(line))) {
      const labels: Record<string, string> = {};
      for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"/g)) {
        labels[l[1]!] = l[2]!.replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
      }
      const v = m[3]!;
      assert.ok(/^(NaN|[+-]Inf|-?\d+(\.\d+)?(e[+-]?\d+)?)$/.test(v), `value ${v}`);
      assert.ok(help.has(m[1]!) && type.has(m[1]!), `HELP and TYPE before ${m[1]}`);
      samples.push({ name: m[1]!, labels, value: Number(v.replace('Inf', 'Infinity')) });
    } else {
      throw new Error(`line does not parse: ${JSON.stringify(line)}`);
    }
  }
  return { samples, help, type };
}

const find = (ss: Sample[], name: string, labels: Record<string, string> = {}): number | undefined =>
  ss.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;

test('metrics: every line parses; role, peers, connections, counters', () => {
  const { samples, help, type } = parseExposition(renderMetrics(fakeStatus()));
  for (const name of type.keys()) assert.ok(help.has(name), `HELP for ${name}`);
  for (const [name, t] of type) assert.is(t === 'counter', name.endsWith('_total'), name);
  assert.is(find(samples, 'ferry_node_role', { node: 'a', role: 'active' }), 1);
  assert.is(find(samples, 'ferry_node_role', { node: 'a', role: 'standby' }), 0);
  assert.is(samples.filter((s) => s.name === 'ferry_node_role').length, 4);
  assert.is(find(samples, 'ferry_node_epoch'), 7);
  assert.is(find(samples, 'ferry_service_ip_held', { ip: '10.200.0.10' }), 1);
  assert.is(find(samples, 'ferry_peer_up', { peer: 'b' }), 1);
  assert.is(find(samples, 'ferry_peer_up', { peer: 'c' }), 0);
  assert.is(find(samples, 'ferry_peer_heartbeat_rtt_seconds', { peer: 'b' }), 0.00042);
  assert.is(find(samples, 'ferry_peer_heartbeat_rtt_seconds', { peer: 'c' }), undefined); // never measured: no sample
  assert.is(find(samples, 'ferry_peer_last_heard_seconds', { peer: 'b' }), 0.012);
  assert.is(find(samples, 'ferry_connections', { proto: 'tcp', state: 'ESTABLISHED' }), 12);
  assert.is(find(samples, 'ferry_connections', { proto: 'tcp', state: 'TIME-WAIT' }), 3);
  assert.is(find(samples, 'ferry_connections', { proto: 'sctp', state: 'ESTABLISHED' }), 2);
  assert.is(find(samples, 'ferry_migration_in_progress'), 0);
  assert.is(find(samples, 'ferry_migration_moved'), 0);
  assert.is(find(samples, 'ferry_switchovers_total'), 1);
  assert.is(find(samples, 'ferry_moved_out_total'), 40);
  assert.is(find(samples, 'ferry_redirected_out_packets_total'), 17);
  assert.is(find(samples, 'ferry_node_uptime_seconds', { node: 'a' }), 3723);
});

test('metrics: a switch-over in progress', () => {
  const s: NodeStatus = { ...fakeStatus(), migration: { to: 'b', phase: 'moving', total: 1000, moved: 250, reset: 1, failed: 2, elapsedMs: 1500 } };
  const { samples } = parseExposition(renderMetrics(s));
  assert.is(find(samples, 'ferry_migration_in_progress'), 1);
  assert.is(find(samples, 'ferry_migration_phase', { to: 'b', phase: 'moving' }), 1);
  assert.is(find(samples, 'ferry_migration_phase', { to: 'b', phase: 'notify' }), 0);
  assert.is(find(samples, 'ferry_migration_connections'), 1000);
  assert.is(find(samples, 'ferry_migration_moved'), 250);
  assert.is(find(samples, 'ferry_migration_reset'), 1);
  assert.is(find(samples, 'ferry_migration_failed'), 2);
  assert.is(find(samples, 'ferry_migration_elapsed_seconds'), 1.5);
});

test('metrics: label values escaped (backslash, quote, newline)', () => {
  assert.is(escapeLabelValue('a"b\\c\nd'), 'a\\"b\\\\c\\nd');
  const weird = 'we"ird\\na\nme';
  const s: NodeStatus = { ...fakeStatus(), connections: { tcp: { [weird]: 1 }, sctp: {} } };
  const text = renderMetrics(s);
  assert.ok(text.includes('ferry_connections{proto="tcp",state="we\\"ird\\\\na\\nme"} 1'), text);
  const { samples } = parseExposition(text);
  assert.is(find(samples, 'ferry_connections', { proto: 'tcp', state: weird }), 1);
});

function get(port: number, path: string, method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('metrics: the HTTP endpoint serves GET /metrics and 404 for anything else', async () => {
  let calls = 0;
  const srv = await serveMetrics({ host: '127.0.0.1', port: 0 }, () => { calls++; return fakeStatus(); });
  try {
    assert.ok(srv.port > 0);
    const r = await get(srv.port, '/metrics');
    assert.is(r.status, 200);
    assert.is(r.type, METRICS_CONTENT_TYPE);
    assert.is(r.body, renderMetrics(fakeStatus()));
    assert.is(calls, 1);
    assert.is((await get(srv.port, '/')).status, 404);
    assert.is((await get(srv.port, '/metricsx')).status, 404);
    assert.is((await get(srv.port, '/metrics', 'POST')).status, 404);
    // The address in use: a clear error.
    await serveMetrics({ host: '127.0.0.1', port: srv.port }, fakeStatus).then(
      () => assert.unreachable('bound twice'),
      (e: unknown) => assert.is((e as Error).message, `metrics on 127.0.0.1:${srv.port}: address in use`),
    );
  } finally {
    await srv.close();
  }
});

test.run();
