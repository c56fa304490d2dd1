// The node's Prometheus endpoint (issue #8 item 6): a NodeStatus as text exposition format 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/), served at GET /metrics.
// Every family has # HELP and # TYPE; counters end in _total; label values are escaped
// (backslash, double quote, newline) as the format says.
import http from 'node:http';
import type { Endpoint, NodeStatus, Role, SwitchoverPhase } from './node-types.ts';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const ROLES: readonly Role[] = ['starting', 'standby', 'active', 'stopped'];
const PHASES: readonly SwitchoverPhase[] = ['redirect-new', 'notify', 'moving', 'moving-ip', 'done', 'failed'];

type Labels = Record<string, string>;

/** A label value escaped for the text format: \ → \\, " → \", newline → \n. */
export const escapeLabelValue = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
/** HELP text escaped: \ → \\, newline → \n. */
const escapeHelp = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

/** A sample value: integers as is, others as JS prints them; NaN and ±Inf spelled as the format wants. */
function num(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

class Writer {
  private out: string[] = [];
  family(name: string, type: 'gauge' | 'counter', help: string, samples: [Labels, number][]): void {
    this.out.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of samples) {
      const ls = Object.entries(labels).map(([k, x]) => `${k}="${escapeLabelValue(x)}"`).join(',');
      this.out.push(`${name}${ls ? `{${ls}}` : ''} ${num(v)}`);
    }
  }
  text(): string { return this.out.join('\n') + '\n'; }
}

const b = (x: boolean): number => (x ? 1 : 0);
/** Milliseconds as seconds, without binary noise (0.42 ms → 0.00042, not 0.00041999999999999996). */
const sec = (ms: number): number => Number((ms / 1000).toPrecision(12));

/** The status as Prometheus text format 0.0.4 (ends with a newline). */
export function renderMetrics(s: NodeStatus): string {
  const w = new Writer();
  const node = { node: s.name };
  w.family('ferry_node_role', 'gauge', 'This node\'s role: 1 for the current one.', ROLES.map((r) => [{ ...node, role: r }, b(s.role === r)]));
  w.family('ferry_node_priority', 'gauge', 'This node\'s configured priority (1..255).', [[node, s.priority]]);
  w.family('ferry_node_epoch', 'gauge', 'The cluster epoch this node is in.', [[node, s.epoch]]);
  w.family('ferry_node_uptime_seconds', 'gauge', 'Seconds since the node started.', [[node, sec(s.uptimeMs)]]);
  w.family('ferry_service_ip_held', 'gauge', 'Service address routed to this node (1) or not (0).',
    s.serviceIps.map((ip) => [{ ip }, b(s.holdsServiceIps)]));
  w.family('ferry_service', 'gauge', 'Services this node runs (always 1).',
    s.services.map((x) => [{ service: x.name, type: x.type, proto: x.proto, port: String(x.port) }, 1]));

  w.family('ferry_peer_up', 'gauge', 'Peer heard within the heartbeat timeout (1) or not (0).', s.peers.map((p) => [{ peer: p.name }, b(p.alive)]));
  w.family('ferry_peer_linked', 'gauge', 'Hand-over link (TCP) to the peer up (1) or not (0).', s.peers.map((p) => [{ peer: p.name }, b(p.linked)]));
  w.family('ferry_peer_role', 'gauge', 'The role the peer last announced: 1 for the current one.',
    s.peers.flatMap((p) => (p.role === null ? [] : ROLES.map((r): [Labels, number] => [{ peer: p.name, role: r }, b(p.role === r)]))));
  w.family('ferry_peer_heartbeat_rtt_seconds', 'gauge', 'Smoothed heartbeat round-trip time to the peer.',
    s.peers.flatMap((p): [Labels, number][] => (p.rttMs === null ? [] : [[{ peer: p.name }, sec(p.rttMs)]])));
  w.family('ferry_peer_last_heard_seconds', 'gauge', 'Seconds since the last heartbeat from the peer.',
    s.peers.flatMap((p): [Labels, number][] => (p.lastHeardMs === null ? [] : [[{ peer: p.name }, sec(p.lastHeardMs)]])));

  const conns: [Labels, number][] = [];
  for (const proto of ['tcp', 'sctp'] as const) {
    for (const [state, n] of Object.entries(s.connections[proto]).sort(([a], [c]) => (a < c ? -1 : a > c ? 1 : 0))) conns.push([{ proto, state }, n]);
  }
  w.family('ferry_connections', 'gauge', 'TCP connections (RFC 9293 states) and SCTP associations (RFC 9260 states) by state.', conns);

  const m = s.migration;
  w.family('ferry_migration_in_progress', 'gauge', 'A switch-over is in progress on this node (1) or not (0).', [[{}, b(m !== null)]]);
  w.family('ferry_migration_phase', 'gauge', 'The phase of the switch-over in progress: 1 for the current one.',
    m === null ? [] : PHASES.map((ph) => [{ to: m.to, phase: ph }, b(m.phase === ph)]));
  w.family('ferry_migration_connections', 'gauge', 'Connections and associations the switch-over in progress has to move.', [[{}, m?.total ?? 0]]);
  w.family('ferry_migration_moved', 'gauge', 'Connections and associations moved so far by the switch-over in progress.', [[{}, m?.moved ?? 0]]);
  w.family('ferry_migration_reset', 'gauge', 'Connections reset so far (move.onTimeout) by the switch-over in progress.', [[{}, m?.reset ?? 0]]);
  w.family('ferry_migration_failed', 'gauge', 'Connections that failed to move in the switch-over in progress.', [[{}, m?.failed ?? 0]]);
  w.family('ferry_migration_elapsed_seconds', 'gauge', 'Seconds since the switch-over in progress started.', [[{}, sec(m?.elapsedMs ?? 0)]]);

  const c = s.counters;
  const counters: [string, string, number][] = [
    ['ferry_switchovers_total', 'Planned switch-overs this node started.', c.switchovers],
    ['ferry_takeovers_total', 'Times this node took over from a failed active node.', c.takeovers],
    ['ferry_moved_out_total', 'Connections and associations moved away from this node.', c.movedOut],
    ['ferry_moved_in_total', 'Connections and associations received from another node.', c.movedIn],
    ['ferry_redirected_out_packets_total', 'Packets redirected to another node over the hand-over link.', c.redirectedOut],
    ['ferry_redirected_in_packets_total', 'Packets received redirected from another node over the hand-over link.', c.redirectedIn],
    ['ferry_tickles_total', 'Tickle ACKs and ABORTs sent for connections a failed node held.', c.tickles],
    ['ferry_hook_failures_total', 'IP-move hook commands that failed or timed out.', c.hookFailures],
  ];
  for (const [name, help, v] of counters) w.family(name, 'counter', help, [[{}, v]]);
  return w.text();
}

/**
 * Serve GET /metrics (200, text format 0.0.4) on `ep`; anything else is 404. Port 0 picks a free
 * port (the returned `port`). Rejects when the address cannot be bound.
 */
export function serveMetrics(ep: Endpoint, getStatus: () => NodeStatus): Promise<{ close(): Promise<void>; port: number }> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if ((req.method !== 'GET' && req.method !== 'HEAD') || path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('not found: the metrics are at GET /metrics\n');
      return;
    }
    let body: string;
    try {
      body = renderMetrics(getStatus());
    } catch (e) {
      res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`status unavailable: ${(e as Error).message}\n`);
      return;
    }
    res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE, 'content-length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  server.keepAliveTimeout = 5000;
  return new Promise((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException): void => {
      const where = ep.host.includes(':') ? `[${ep.host}]:${ep.port}` : `${ep.host}:${ep.port}`;
      reject(new Error(`metrics on ${where}: ${e.code === 'EADDRINUSE' ? 'address in use' : e.code === 'EADDRNOTAVAIL' ? 'no such local address' : e.code === 'EACCES' ? 'permission denied' : e.message}`));
    };
    server.once('error', onError);
    server.listen(ep.port, ep.host, () => {
      server.off('error', onError);
      const addr = server.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : ep.port;
      resolve({
        port,
        close: () => new Promise<void>((res) => {
          server.close(() => res());
          server.closeAllConnections();
        }),
      });
    });
  });
}
