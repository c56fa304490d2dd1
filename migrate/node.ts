// The HA node (issue #8): one process that owns a TUN/TAP device, runs ferry's TCP and SCTP
// stacks on it as the cluster's service addresses, runs the configured services, and talks to
// its peers over the hand-over link (migrate/handover.ts; control messages, snapshots and
// redirected packets) and heartbeats (migrate/heartbeat.ts; who is active).
//
// A planned switch-over from this (active) node to `to`, in the thesis's order:
//   1. redirect-new  packets for the service addresses that belong to no connection held here
//                    (new SYNs/INITs, packets of connections already moved) go to `to` over the
//                    hand-over link (NodeMux.redirect); `to` answers them from its own device.
//   2. notify        every service hears onSwitchover({ to }).
//   3. moving        each connection: paused, its service's onMove() gives the application state
//                    (or the move deadline applies move.onTimeout), it is frozen (with any bytes
//                    written but not yet in the stack), sealed and shipped; `to` resumes it and hands it to the
//                    same service (resumed: true, state); then this node forwards the packets it
//                    held for it and redirects the rest (step 1's rule: it is no longer local).
//   4. moving-ip     `to` takes the service addresses (its `up` hooks, or gratuitous ARP) and
//                    becomes active; this node runs its `down` hooks and becomes standby; it
//                    keeps redirecting stray packets for move.graceMs.
// Unplanned failover: the standby's heartbeats declare the active dead; the standby takes the
// service addresses and serves new connections at once; for each connection the dead node had
// reported (a 'conns' message every second), it sends a "tickle": a TCP ACK far outside the
// window, which makes the client answer with an ACK that this node (no such connection)
// answers with a RST the client accepts (RFC 9293 §3.10.7.1) — the trick CTDB uses at IP
// failover — and an SCTP ABORT with the peer's verification tag (RFC 9260 §8.5). Clients then
// fail promptly instead of hanging until their own timeouts.
import { execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Server as NetServer } from 'node:net';
import { parseConnId } from '../tun/net.ts';
import { emitSctp, sctpBufferLen, type SctpPacket } from '../stack/wire/sctp.ts';
import { abortChunk } from '../stack/wire/sctp-chunks.ts';
import { emitTcp, tcpBufferLen, tcpPseudoSum } from '../stack/wire/tcp.ts';
import { buildIp } from '../stack/wire/ip.ts';
import { sctpOutToIp } from '../stack/sctp/ip.ts';
import { openTun, type TunDevice } from '../tun/device.ts';
import { Host } from '../tun/driver.ts';
import type { Socket } from '../tun/net.ts';
import { LINKTYPE } from '../tun/pcap.ts';
import { PcapWriter } from '../tun/pcap-writer.ts';
import { type Association, createServer as sctpCreateServer, SctpHost, type SctpServer } from '../tun/sctp-socket.ts';
import { inPrefix, parseCidr } from '../tun/tun-host.ts';
import { TunLink } from '../tun/tun-link.ts';
import { openSnapshot, ReplayGuard, sealSnapshot } from './envelope.ts';
import { connectHandover, type Frame, type HandoverError, type HandoverLink, listenHandover } from './handover.ts';
import { EtcdMembership } from './etcd-membership.ts';
import { Heartbeats } from './heartbeat.ts';
import type { Membership } from './membership-api.ts';
import { freezeSocket, MigrateError, releaseFrozen, resumeDecoded, takeHeldPackets, thawSocket } from './host.ts';
import { makeLogger } from './node-log.ts';
import { NodeMux } from './node-mux.ts';
import { decodeBatch, encodeReplicaAck, isBatch, ReplicaStore, Replicator, resumeReplica, resumeSctpReplica, Verifier } from './replicate.ts';
import { connKey } from '../stack/demux.ts';
import { remoteKey } from '../stack/sctp/state.ts';
import { reserve, unreserve } from '../stack/freeze.ts';
import type {
  AppConn, FerryService, LogFn, NodeApi, NodeConfig, NodeCounters, NodeStatus, PeerStatus, ReplicationStatus, Role, ServiceConfig,
  SwitchoverPhase, SwitchoverProgress, SwitchoverSummary,
} from './node-types.ts';
import { builtinService } from './services/index.ts';
import { decodeSnapshot, encodeSnapshot } from './snapshot.ts';

const EMPTY = new Uint8Array(0);
const te = new TextEncoder();
const td = new TextDecoder();
/** UDP port for SCTP encapsulation (RFC 6951 §5.1 suggests 9899). */
const SCTP_UDP_PORT = 9899;
/** How long a shipped snapshot may wait for the standby's answer. */
const MOVE_ACK_TIMEOUT_MS = 10_000;
/** Send and receive buffers of connections of replicated services (the stack's default is 256 KiB). */
const REPLICATED_BUF = 2 * 1024 * 1024;
/** Connections moved at once (each holds a frozen entry until acknowledged). */
const MOVE_CONCURRENCY = 256;

export class NodeError extends Error {
  override name = 'NodeError';
}

interface Tracked {
  svc: RunningService;
  conn: AppConn;
  moving: boolean;
}

interface RunningService {
  cfg: ServiceConfig;
  impl: FerryService;
  tcpServer: ReturnType<Host['createServer']> | null;
  sctpServer: SctpServer | null;
}

/** A control message on the hand-over link. */
type Control =
  | { t: 'so-begin'; ref: number; from: string; neighbours?: Record<string, string> }
  | { t: 'so-take-ip'; ref: number }
  | { t: 'so-end'; ref: number }
  | { t: 'reply'; re: number; ok: boolean; error?: string; epoch?: number }
  | { t: 'conns'; tcp: [string, number, string, number, number][]; sctp: [number, string, number, number, number][] };

export interface StartOptions {
  log?: LogFn;
  /** 32 bytes of stack secret seed (default: derived from the cluster key, shared by the cluster). */
  secret?: Uint8Array;
}

/** Start a node: device, stacks, services, hand-over link, heartbeats. Throws NodeError with the reason. */
export async function startNode(cfg: NodeConfig, o: StartOptions = {}): Promise<FerryNode> {
  const n = new FerryNode(cfg, o);
  try {
    await n.start();
  } catch (e) {
    await n.stop().catch(() => {});
    throw e instanceof NodeError ? e : new NodeError((e as Error).message);
  }
  return n;
}

export class FerryNode extends EventEmitter implements NodeApi {
  readonly cfg: NodeConfig;
  readonly log: LogFn;
  host!: Host;
  sctp!: SctpHost;
  mux!: NodeMux;
  dev: TunDevice | null = null;
  private tunLink: TunLink | null = null;
  private pcap: PcapWriter | null = null;
  private hb: Membership | null = null;
  private hsServer: NetServer | null = null;
  private readonly links = new Map<string, HandoverLink>();
  private readonly services: RunningService[] = [];
  private readonly byPort = new Map<string, RunningService>();
  private readonly conns = new Map<string, Tracked>();
  private readonly guard = new ReplayGuard();
  private readonly pending = new Map<number, { resolve: (c: Extract<Control, { t: 'reply' }>) => void; timer: NodeJS.Timeout }>();
  private nextRef = 1;
  private role: Role = 'starting';
  private holdsIps = false;
  private taking = false;
  private migration: SwitchoverProgress | null = null;
  private incoming: string | null = null;
  private movedInThisSwitchover = 0;
  private stopped = false;
  private readonly startedAt = performance.now();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly redials = new Map<string, NodeJS.Timeout>();
  private graceTimer: NodeJS.Timeout | null = null;
  /** What each peer last reported holding (for tickles after its failure). */
  private readonly peerConns = new Map<string, Extract<Control, { t: 'conns' }>>();
  private lastConnsSig = '';
  private ipChain: Promise<void> = Promise.resolve();
  /** Continuous replication (issue #9, replicate.ts): the active side, the standby's replicas, the takeover check. */
  replicator!: Replicator;
  readonly replicas = new ReplicaStore();
  private verifier: Verifier | null = null;
  private replPeer: string | null = null;
  /** Replica batches applied but not yet confirmed, per peer (one ack per burst). */
  private readonly replAck = new Map<string, { seq: number; bad: string[] }>();
  private readonly replCounters = { resumed: 0, diverged: 0 };
  readonly counters: NodeCounters = {
    switchovers: 0, takeovers: 0, movedOut: 0, movedIn: 0, redirectedOut: 0, redirectedIn: 0, tickles: 0, hookFailures: 0,
  };

  constructor(cfg: NodeConfig, private readonly o: StartOptions = {}) {
    super();
    this.cfg = cfg;
    this.log = o.log ?? makeLogger(cfg.name, null);
  }

  // ------------------------------------------------------------------------------- start/stop

  async start(): Promise<void> {
    const c = this.cfg;
    const cidr = parseCidr(c.device.cidr);
    const routes = c.serviceIps.filter((ip) => !inPrefix(cidr, ip)).map((ip) => `${ip}/${cidr.v6 ? 128 : 32}`);
    this.dev = openTun({
      mode: c.device.mode, addr: `${cidr.addr}/${cidr.prefix}`, routes, ipv6: cidr.v6, txqueuelen: 1000,
      ...(c.device.name !== null ? { name: c.device.name } : {}),
      ...(c.device.mtu !== null ? { mtu: c.device.mtu } : {}),
    });
    if (c.device.pcap !== null) {
      this.pcap = new PcapWriter(c.device.pcap, { linkType: c.device.mode === 'tap' ? LINKTYPE.EN10MB : LINKTYPE.RAW, onError: () => {} });
      if (this.pcap.error) throw new NodeError(`cannot write pcap file ${c.device.pcap}: ${this.pcap.error.message}`);
    }
    // TAP: each node its own MAC (locally administered, from its name), so a gratuitous ARP
    // really moves the address and a bridge never sees one MAC on two ports.
    const mac = c.device.mode === 'tap' ? nodeMac(c.name) : undefined;
    this.tunLink = new TunLink(this.dev, { addresses: c.serviceIps, pcap: this.pcap, ...(mac !== undefined ? { mac } : {}) });
    if (c.ipMove.mode === 'arp') this.tunLink.answerArp = false; // only the active node answers for the service IPs
    this.mux = new NodeMux(this.tunLink, c.serviceIps, SCTP_UDP_PORT);
    // One secret for the whole cluster: SYN cookies, ISNs (RFC 6528) and SCTP State Cookies
    // (RFC 9260 §5.1.3) issued by one node verify on the other.
    const seed = this.o.secret ?? derive(c.key, 'ferry node stack secret v1');
    const lim = c.limits;
    this.host = new Host({
      addresses: c.serviceIps, link: this.mux.tcpLink, secret: derive(seed, 'tcp'),
      config: {
        synQueue: lim.synQueue, sndBufTotal: lim.sndBufTotal, sndBufFloor: lim.sndBufFloor,
        tcp: { mtu: this.dev.mtu, sndBuf: lim.sndBuf, rcvBuf: lim.rcvBuf },
      },
    });
    this.sctp = new SctpHost({
      addresses: c.serviceIps, link: this.mux.sctpLink, secret: derive(seed, 'sctp'),
      config: { udpEncapPort: SCTP_UDP_PORT, assoc: { mtu: this.dev.mtu } },
    });
    this.mux.tcpHost = this.host;
    this.mux.sctpHost = this.sctp;
    this.replicator = new Replicator({
      host: this.host, sctp: this.sctp, maxLagMs: c.replication.maxLagMs,
      send: (p) => this.replPeer !== null && this.send(this.replPeer, 'snapshot', p),
      release: (pkts) => this.mux.sendRaw(pkts),
      log: (ev, f) => this.log(ev, f),
    });
    this.mux.gate = this.replicator;
    this.verifier = new Verifier(this.host, (pkts) => this.mux.sendRaw(pkts), (id) => {
      this.replCounters.diverged++;
      this.log('takeover.diverged', { conn: id, why: 'the peer acknowledged output the replica did not cover: reset' });
      this.host.call({ type: 'abort', id });
    });
    const verifier = this.verifier;
    this.mux.inspect = (p) => verifier.inspect(p);
    this.log('device.up', { device: this.dev.name, mode: c.device.mode, cidr: c.device.cidr, serviceIps: c.serviceIps.join(',') });

    for (const sc of c.services) await this.startService(sc);

    // Hand-over link: listen; connect to peers whose name sorts after ours (one link per pair).
    this.hsServer = await listenHandover(c.handover.host, c.handover.port, { key: c.key, name: c.name }, (l) => this.addLink(l),
      (e) => this.log('handover.refused', { reason: e.message })).catch((e: Error) => {
      throw new NodeError(`hand-over address ${c.handover.host}:${c.handover.port}: ${e.message}`);
    });
    for (const p of c.peers) if (p.name > c.name) this.dial(p.name, p.handover.host, p.handover.port);

    // Who is active: direct heartbeats between the nodes (default), or etcd leases with fencing (issue #9).
    const mc = c.membership;
    this.hb = mc.kind === 'etcd'
      ? new EtcdMembership({
        name: c.name, priority: c.priority, endpoints: mc.endpoints, prefix: mc.prefix, leaseTtlMs: mc.leaseTtlMs,
        handover: c.handover, peers: c.peers, log: (ev, f) => this.log(ev, f),
      })
      : new Heartbeats({ name: c.name, priority: c.priority, key: c.key, bind: c.handover, peers: c.peers, cfg: c.heartbeat });
    this.hb.on('role', (role: Role, reason: string, epoch: number) => this.onRole(role, reason, epoch));
    this.hb.on('peer', (p: PeerStatus) => this.onPeer(p));
    await this.hb.start();
    this.log('node.started', { priority: c.priority, handover: `${c.handover.host}:${c.handover.port}`, peers: c.peers.map((p) => p.name).join(',') });

    this.timers.push(setInterval(() => { this.reportConns(); this.replicator.sweep(); }, 1000));
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.log('node.stopping', {});
    for (const t of this.timers) clearInterval(t);
    for (const t of this.redials.values()) clearTimeout(t);
    if (this.graceTimer !== null) clearTimeout(this.graceTimer);
    for (const p of this.pending.values()) clearTimeout(p.timer);
    await this.hb?.stop().catch(() => {});
    for (const l of this.links.values()) l.close();
    this.hsServer?.close();
    if (this.holdsIps && this.cfg.ipMove.mode === 'hooks') await this.runHooks('down').catch(() => {});
    for (const s of this.services) {
      try { s.impl.close?.(); } catch (e) { this.log('service.close-error', { service: s.cfg.name, error: (e as Error).message }); }
      s.tcpServer?.close();
      s.sctpServer?.close();
    }
    this.host?.close();
    this.sctp?.close();
    if (this.dev !== null && !this.dev.closed) this.dev.close();
    this.pcap?.close();
    this.role = 'stopped';
    this.log('node.stopped', {});
  }

  // ------------------------------------------------------------------------------- services

  private async startService(sc: ServiceConfig): Promise<void> {
    const impl = await builtinService(sc, { node: this.cfg.name, log: (ev, f) => this.log(`service.${ev}`, { service: sc.name, ...f }) });
    const rs: RunningService = { cfg: sc, impl, tcpServer: null, sctpServer: null };
    if (sc.proto === 'tcp') {
      // Replicated connections hold their output for a hand-over round trip (replicate.ts), which
      // adds to the path's bandwidth-delay product: larger buffers keep a transfer's pipe full.
      const replicated = (sc.replication ?? this.cfg.replication.mode) !== 'off';
      const srv = this.host.createServer({ allowHalfOpen: true, ...(replicated ? { tcp: { sndBuf: REPLICATED_BUF, rcvBuf: REPLICATED_BUF } } : {}) },
        (s: Socket) => this.accepted(rs, s, false, null));
      await new Promise<void>((resolve, reject) => {
        srv.once('error', (e: Error) => reject(new NodeError(`service ${sc.name}: listen on tcp port ${sc.port}: ${e.message}`)));
        srv.listen(sc.port, () => resolve());
      });
      srv.on('error', (e: Error) => this.log('service.error', { service: sc.name, error: e.message }));
      rs.tcpServer = srv;
    } else {
      const srv = sctpCreateServer(this.sctp, { port: sc.port }, (a: Association) => this.acceptedSctp(rs, a, false, null));
      await new Promise<void>((resolve, reject) => {
        srv.once('error', (e: Error) => reject(new NodeError(`service ${sc.name}: listen on sctp port ${sc.port}: ${e.message}`)));
        srv.once('listening', () => resolve());
      });
      rs.sctpServer = srv;
    }
    this.services.push(rs);
    this.byPort.set(`${sc.proto}/${sc.port}`, rs);
    this.log('service.up', { service: sc.name, type: sc.type, proto: sc.proto, port: sc.port });
  }

  private accepted(rs: RunningService, s: Socket, resumed: boolean, state: Uint8Array | null): void {
    const id = s.id;
    if (id === null) return;
    const conn: AppConn = { proto: 'tcp', id, socket: s, remote: s.remoteAddress ?? '', remotePort: s.remotePort ?? 0, resumed, state };
    const t: Tracked = { svc: rs, conn, moving: false };
    this.conns.set(id, t);
    s.once('close', () => { if (this.conns.get(id) === t) this.conns.delete(id); });
    s.on('error', () => {}); // the service reports errors it cares about; an unhandled one must not crash the node
    // Continuous replication (issue #9): from the moment the service has it.
    const mode = rs.cfg.replication ?? this.cfg.replication.mode;
    if (mode !== 'off') {
      const cp = rs.impl.onCheckpoint;
      this.replicator.track(id, mode, s, cp === undefined ? null : () => cp.call(rs.impl, conn));
      s.once('close', () => this.replicator.appClosed(id));
    }
    this.deliver(rs, conn);
  }

  private acceptedSctp(rs: RunningService, a: Association, resumed: boolean, state: Uint8Array | null): void {
    const id = a.id;
    if (id === null) return;
    const info = a.info();
    const conn: AppConn = { proto: 'sctp', id, assoc: a, remote: info?.paths[0]?.addr ?? '', remotePort: info?.remotePort ?? 0, resumed, state };
    const t: Tracked = { svc: rs, conn, moving: false };
    this.conns.set(id, t);
    a.once('close', () => { if (this.conns.get(id) === t) this.conns.delete(id); });
    a.on('error', () => {});
    const mode = rs.cfg.replication ?? this.cfg.replication.mode;
    if (mode !== 'off') {
      const cp = rs.impl.onCheckpoint;
      this.replicator.trackSctp(id, mode, a, cp === undefined ? null : () => cp.call(rs.impl, conn));
      a.once('close', () => this.replicator.untrack(id));
    }
    this.deliver(rs, conn);
  }

  private deliver(rs: RunningService, conn: AppConn): void {
    try { rs.impl.onConnection(conn); } catch (e) {
      this.log('service.error', { service: rs.cfg.name, conn: conn.id, error: (e as Error).message });
      if (conn.proto === 'tcp') conn.socket.destroy(); else conn.assoc.abort('service error');
    }
  }

  // ------------------------------------------------------------------------------- peers

  private dial(name: string, host: string, port: number): void {
    if (this.stopped || this.links.has(name)) return;
    connectHandover(host, port, { key: this.cfg.key, name: this.cfg.name }).then((l) => this.addLink(l), () => this.redial(name, host, port));
  }

  /** Try the peer again in 300 ms (one pending retry per peer, cleared by stop()). */
  private redial(name: string, host: string, port: number): void {
    if (this.stopped) return;
    clearTimeout(this.redials.get(name));
    this.redials.set(name, setTimeout(() => { this.redials.delete(name); this.dial(name, host, port); }, 300));
  }

  private addLink(l: HandoverLink): void {
    const peer = l.peerName ?? '';
    const pc = this.cfg.peers.find((p) => p.name === peer);
    if (pc === undefined || this.stopped) {
      this.log('handover.refused', { peer, reason: pc === undefined ? 'not a configured peer' : 'stopping' });
      l.close();
      return;
    }
    this.links.get(peer)?.close();
    this.links.set(peer, l);
    this.log('handover.up', { peer });
    l.on('frame', (f: Frame) => this.onFrame(peer, l, f));
    this.updateReplication();
    l.once('close', (e: HandoverError | null) => {
      if (this.links.get(peer) === l) this.links.delete(peer);
      this.updateReplication();
      this.log('handover.down', { peer, reason: e?.message ?? 'closed' });
      if (peer > this.cfg.name) this.redial(peer, pc.handover.host, pc.handover.port);
    });
    this.lastConnsSig = ''; // report our connections to the new link at once
  }

  private send(peer: string, type: 'control' | 'snapshot' | 'packet' | 'ack', payload: Uint8Array): boolean {
    const l = this.links.get(peer);
    if (l === undefined) return false;
    try { return l.send(type, payload); } catch (e) {
      this.log('handover.send-error', { peer, error: (e as Error).message });
      return false;
    }
  }

  private control(peer: string, msg: Control): boolean { return this.send(peer, 'control', te.encode(JSON.stringify(msg))); }

  private request(peer: string, msg: Control & { ref: number }, timeoutMs: number): Promise<Extract<Control, { t: 'reply' }>> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.pending.delete(msg.ref); resolve({ t: 'reply', re: msg.ref, ok: false, error: `no answer from ${peer} within ${timeoutMs} ms` }); }, timeoutMs);
      this.pending.set(msg.ref, { resolve, timer });
      if (!this.control(peer, msg)) {
        clearTimeout(timer);
        this.pending.delete(msg.ref);
        resolve({ t: 'reply', re: msg.ref, ok: false, error: `no hand-over link to ${peer}` });
      }
    });
  }

  private onFrame(peer: string, l: HandoverLink, f: Frame): void {
    try {
      if (f.type === 'packet') {
        this.counters.redirectedIn++;
        this.mux.inject([f.payload]);
      } else if (f.type === 'snapshot' && isBatch(f.payload)) {
        this.onReplicaBatch(peer, f.payload);
      } else if (f.type === 'ack') {
        if (peer === this.replPeer) this.replicator.onAck(f.payload);
      } else if (f.type === 'snapshot') {
        this.onSnapshot(peer, f.payload);
      } else if (f.type === 'control') {
        let m: Control;
        try { m = JSON.parse(td.decode(f.payload)) as Control; } catch { this.log('handover.bad-control', { peer }); return; }
        this.onControl(peer, m);
      }
    } catch (e) {
      this.log('handover.frame-error', { peer, type: f.type, error: (e as Error).message });
    }
    void l;
  }

  private onControl(peer: string, m: Control): void {
    switch (m.t) {
      case 'reply': {
        const p = this.pending.get(m.re);
        if (p === undefined) return;
        this.pending.delete(m.re);
        clearTimeout(p.timer);
        p.resolve(m);
        return;
      }
      case 'so-begin': {
        if (this.role === 'active' || this.migration !== null) {
          this.control(peer, { t: 'reply', re: m.ref, ok: false, error: `${this.cfg.name} is ${this.role}${this.migration !== null ? ' and busy with a switch-over' : ''}` });
          return;
        }
        this.incoming = peer;
        this.movedInThisSwitchover = 0;
        this.replicas.clear(); // every connection now moves by snapshot
        // TAP: the clients' MACs, so replies of moved connections need no ARP from a standby.
        if (m.neighbours !== undefined && this.tunLink !== null) {
          for (const [ip, mac] of Object.entries(m.neighbours)) if (typeof mac === 'string' && this.tunLink.neighbours[ip] === undefined) this.tunLink.neighbours[ip] = mac;
        }
        this.log('switchover.incoming', { from: peer });
        this.control(peer, { t: 'reply', re: m.ref, ok: true });
        return;
      }
      case 'so-take-ip': {
        this.log('switchover.take-ip', { from: peer });
        void this.takeIps('switchover').then(() => {
          this.counters.switchovers++;
          this.control(peer, { t: 'reply', re: m.ref, ok: true, epoch: this.hb?.epoch ?? 0 });
        }, (e: Error) => this.control(peer, { t: 'reply', re: m.ref, ok: false, error: e.message }));
        return;
      }
      case 'so-end':
        this.log('switchover.received', { from: peer, connections: this.movedInThisSwitchover });
        this.incoming = null;
        this.movedInThisSwitchover = 0;
        return;
      case 'conns':
        this.peerConns.set(peer, m);
        return;
      default:
        return;
    }
  }

  /** A connection arriving from a peer: resume it and hand it to its service. */
  private onSnapshot(peer: string, payload: Uint8Array): void {
    if (payload.length < 4) return;
    const ref = new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0);
    const env = payload.subarray(4);
    const reply = (ok: boolean, error?: string): void => { this.control(peer, { t: 'reply', re: ref, ok, ...(error !== undefined ? { error } : {}) }); };
    const t0 = performance.now();
    try {
      const opened = openSnapshot(env, this.cfg.key, this.guard);
      if (!opened.ok) { reply(false, `envelope refused: ${opened.error}`); return; }
      const d = decodeSnapshot(opened.value.snapshot);
      if (!d.ok) { reply(false, `snapshot refused: ${d.error}`); return; }
      const s = d.value;
      if (s.kind === 'tcp-conn') {
        this.replicas.replicas.delete(s.conn.tcb.id);
        const lport = parseConnId(s.conn.tcb.id).localPort;
        const rs = this.byPort.get(`tcp/${lport}`);
        if (rs === undefined) { reply(false, `no tcp service on port ${lport} here`); return; }
        const r = resumeDecoded(this.host, s);
        this.counters.movedIn++;
        reply(true);
        this.accepted(rs, r.socket, true, r.app);
      } else if (s.kind === 'sctp-assoc') {
        this.replicas.sctp.delete(s.assoc.assoc.id);
        const rs = this.byPort.get(`sctp/${s.assoc.assoc.localPort}`);
        if (rs === undefined) { reply(false, `no sctp service on port ${s.assoc.assoc.localPort} here`); return; }
        const a = this.sctp.adopt(s.assoc);
        this.counters.movedIn++;
        reply(true);
        this.acceptedSctp(rs, a, true, s.app ?? EMPTY);
      } else {
        reply(false, `a ${s.kind} snapshot is not a connection`);
      }
      // One line per connection for small moves; a count at the end of the switch-over for big ones.
      if (++this.movedInThisSwitchover <= 10) this.log('move.in', { from: peer, kind: s.kind, ms: (performance.now() - t0).toFixed(2) });
    } catch (e) {
      reply(false, (e as Error).message);
    }
  }

  // ------------------------------------------------------------------------------- roles

  private onPeer(p: PeerStatus): void {
    this.log(p.alive ? 'peer.alive' : 'peer.dead', { peer: p.name, ...(p.rttMs !== null ? { rttMs: p.rttMs.toFixed(2) } : {}) });
  }

  private onRole(role: Role, reason: string, epoch: number): void {
    const was = this.role;
    this.role = role;
    this.log('role', { role, was, reason, epoch });
    if (role === 'active' && !this.holdsIps) {
      if (this.taking) return; // a planned hand-over (so-take-ip) is taking them already
      const dead = reason === 'peer-dead';
      if (dead) this.counters.takeovers++;
      const t0 = performance.now();
      // Replicated connections (issue #9): their ids are reserved BEFORE the service address
      // comes here, so the clients' first packets are held for them, not answered with RST;
      // they are installed while the address moves (the hook runs in its own process) and
      // the held packets replayed. Connections without a replica are tickled afterwards.
      let resumed: Promise<Uint8Array[]> = Promise.resolve([]);
      if (dead) resumed = this.resumeReplicas(this.reserveReplicas()); else this.replicas.clear();
      void Promise.all([this.takeIps(reason), resumed]).then(([, probes]) => {
        this.log(dead ? 'failover.done' : 'active', { ms: (performance.now() - t0).toFixed(1), resumed: probes.length });
        if (probes.length > 0) this.mux.sendRaw(probes);
        if (dead) this.tickleOrphans();
        this.updateReplication();
      }, (e: Error) => this.log('ip.up-failed', { error: e.message }));
    } else if (role === 'standby' && this.holdsIps && this.migration === null) {
      void this.releaseIps(reason).catch((e: Error) => this.log('ip.down-failed', { error: e.message }));
    }
    this.updateReplication();
  }

  /** Take the service addresses (hooks or gratuitous ARP); serialised with releaseIps. */
  private takeIps(reason: string): Promise<void> {
    const run = async (): Promise<void> => {
      if (this.holdsIps) return;
      this.taking = true;
      try {
        await this.takeIpsNow(reason);
      } finally { this.taking = false; }
    };
    const p = this.ipChain.then(run, run);
    this.ipChain = p.catch(() => {});
    return p;
  }

  private async takeIpsNow(reason: string): Promise<void> {
    if (reason === 'switchover') { this.hb?.assume(); this.replicas.clear(); }
    if (this.cfg.ipMove.mode === 'arp') {
      this.tunLink!.answerArp = true;
      this.tunLink!.announce();
    } else {
      await this.runHooks('up');
    }
    this.holdsIps = true;
    this.role = 'active';
    this.log('ip.up', { serviceIps: this.cfg.serviceIps.join(','), reason });
    this.updateReplication();
  }

  private releaseIps(reason: string): Promise<void> {
    const run = async (): Promise<void> => {
      if (!this.holdsIps) return;
      if (this.cfg.ipMove.mode === 'arp') this.tunLink!.answerArp = false;
      else await this.runHooks('down');
      this.holdsIps = false;
      this.log('ip.down', { serviceIps: this.cfg.serviceIps.join(','), reason });
    };
    const p = this.ipChain.then(run, run);
    this.ipChain = p.catch(() => {});
    return p;
  }

  /** Run the up/down hook commands in order (sh -c), each bounded by hookTimeoutMs. Rejects on the first failure. */
  private async runHooks(which: 'up' | 'down'): Promise<void> {
    const cmds = which === 'up' ? this.cfg.ipMove.up : this.cfg.ipMove.down;
    for (const cmd of cmds) {
      const t0 = performance.now();
      await new Promise<void>((resolve, reject) => {
        execFile('sh', ['-c', cmd], {
          timeout: this.cfg.ipMove.hookTimeoutMs,
          env: { ...process.env, FERRY_NODE: this.cfg.name, FERRY_EVENT: which, FERRY_SERVICE_IPS: this.cfg.serviceIps.join(' ') },
        }, (err, _out, stderr) => {
          const ms = (performance.now() - t0).toFixed(1);
          if (err === null) { this.log('hook.ok', { hook: which, cmd, ms }); resolve(); return; }
          this.counters.hookFailures++;
          const why = (err as NodeJS.ErrnoException & { killed?: boolean }).killed ? `killed after ${this.cfg.ipMove.hookTimeoutMs} ms` : `exit ${String(err.code)}: ${stderr.trim().slice(0, 200)}`;
          this.log('hook.failed', { hook: which, cmd, ms, error: why });
          reject(new NodeError(`${which} hook "${cmd}" failed: ${why}`));
        });
      });
    }
  }

  // ------------------------------------------------------------------------------- reports & tickles

  /** The active node tells its peers which connections it holds (for tickles after a crash). */
  private reportConns(): void {
    if (this.role !== 'active' || this.links.size === 0) return;
    const tcp: [string, number, string, number, number][] = [];
    for (const [id, t] of Object.entries(this.host.state.tcp)) {
      if (t.state === 'TIME-WAIT' || t.state === 'CLOSED' || t.state === 'SYN-SENT') continue;
      const k = parseConnId(id);
      tcp.push([k.localAddr, k.localPort, k.remoteAddr, k.remotePort, t.sndNxt >>> 0]);
    }
    const sctp: [number, string, number, number, number][] = [];
    for (const a of Object.values(this.sctp.state.assocs)) {
      const p = a.paths[a.primary] ?? a.paths[0];
      if (p === undefined) continue;
      sctp.push([a.localPort, p.addr, a.remotePort, a.peerVtag >>> 0, p.udpPort ?? 0]);
    }
    let h = 0x811c9dc5;
    for (const x of tcp) h = Math.imul(h ^ x[3], 16777619) ^ x[2].length;
    for (const x of sctp) h = Math.imul(h ^ x[2], 16777619) ^ x[3];
    const sig = `${tcp.length}/${sctp.length}/${h >>> 0}`;
    if (sig === this.lastConnsSig && tcp.length + sctp.length > 0) return;
    this.lastConnsSig = sig;
    for (const peer of this.links.keys()) this.control(peer, { t: 'conns', tcp, sctp });
  }

  /** After a failover: make the clients of connections the dead node held fail now (file comment). */
  private tickleOrphans(): void {
    const pkts: Uint8Array[] = [];
    const local = this.cfg.serviceIps;
    for (const [, rep] of this.peerConns) {
      for (const [laddr, lport, raddr, rport, sndNxt] of rep.tcp) {
        if (!local.includes(laddr)) continue;
        if (this.host.state.tcp[connKey(laddr, lport, raddr, rport)] !== undefined) continue; // resumed from a replica
        pkts.push(tickleAck(laddr, lport, raddr, rport, (sndNxt + 0x80000000) >>> 0));
      }
      for (const [lport, raddr, rport, vtag, udp] of rep.sctp) {
        if (this.sctp.state.byRemote[remoteKey(lport, raddr, rport)] !== undefined) continue; // resumed from a replica
        const src = local.find((a) => a.includes(':') === raddr.includes(':'));
        if (src === undefined) continue;
        pkts.push(sctpAbort(src, lport, raddr, rport, vtag, udp));
      }
    }
    this.peerConns.clear();
    if (pkts.length === 0) return;
    this.counters.tickles += pkts.length;
    this.mux.sendRaw(pkts);
    this.log('failover.tickles', { sent: pkts.length });
  }

  // ------------------------------------------------------------------------------- replication (issue #9)

  /** Replicate while this node is active and holds a link to a peer (the first one: two-node clusters). */
  private updateReplication(): void {
    const peer = this.role === 'active' && !this.stopped ? ([...this.links.keys()][0] ?? null) : null;
    if (peer === this.replPeer) return;
    if (this.replPeer !== null) {
      this.replicator.disable();
      this.log('replication.stopped', { peer: this.replPeer, reason: peer === null ? (this.role === 'active' ? 'no hand-over link' : `role ${this.role}`) : 'new peer' });
    }
    this.replPeer = peer;
    if (this.role !== 'active') this.replicator.clear();
    if (peer !== null) {
      this.replicator.enable();
      this.log('replication.started', { peer, mode: this.cfg.replication.mode, tracked: this.replicator.stats.tracked });
    }
  }

  /** A batch from the active: keep it (standby), confirm it once per burst. */
  private onReplicaBatch(peer: string, payload: Uint8Array): void {
    const b = decodeBatch(payload);
    if (b === null) { this.log('replication.bad-batch', { peer, bytes: payload.length }); return; }
    // An active node keeps no replicas (both active would be split brain: it confirms, and ignores them).
    const bad = this.role === 'active' ? [] : this.replicas.apply(b, this.host.now());
    if (b.seq === 0) return; // stream bytes ahead of a replica: nothing waits for them
    let pend = this.replAck.get(peer);
    if (pend === undefined) {
      pend = { seq: b.seq, bad: [] };
      this.replAck.set(peer, pend);
      queueMicrotask(() => {
        const a = this.replAck.get(peer);
        this.replAck.delete(peer);
        if (a !== undefined) this.send(peer, 'ack', encodeReplicaAck(a.seq, a.bad));
      });
    }
    pend.seq = b.seq;
    for (const id of bad) pend.bad.push(id);
    if (bad.length > 0) this.log('replication.apply-failed', { peer, conns: bad.slice(0, 5).join(',') });
  }

  /** Takeover, first step: hold packets for every replicated connection (stack/freeze.ts reserve). */
  private reserveReplicas(): string[] {
    const ids: string[] = [];
    for (const id of this.replicas.replicas.keys()) {
      const r = reserve(this.host.state, id);
      if (r.ok) ids.push(id); else this.log('takeover.replica-failed', { conn: id, error: `reserve: ${r.error}` });
    }
    return ids;
  }

  /**
   * Takeover after the active's death: install every replica (in slices, so the address hook
   * runs meanwhile), give each its service (resumed, with its checkpoint), and resolve with a
   * probe per connection to send once the address is ours.
   */
  private async resumeReplicas(ids: string[]): Promise<Uint8Array[]> {
    const probes: Uint8Array[] = [];
    const t0 = performance.now();
    let failed = 0;
    for (let i = 0; i < ids.length; i++) {
      if (i % 200 === 0) await new Promise((r) => setImmediate(r));
      const id = ids[i]!;
      try {
        const m = this.replicas.materialize(id);
        const rs = this.byPort.get(`tcp/${parseConnId(id).localPort}`);
        if (rs === undefined) throw new Error('no tcp service on its port here');
        const slack = m.mode === 'async' ? this.cfg.replication.maxLagMs + 100 : 0;
        const r = resumeReplica(this.host, m, m.receivedAt, slack);
        if (r.socket !== null) this.accepted(rs, r.socket, true, r.app);
        probes.push(r.probe);
        this.verifier?.add(r.id);
        this.replCounters.resumed++;
      } catch (e) {
        failed++;
        // Whatever it held goes to the stack, which answers it as it would any unknown connection.
        unreserveIfAny(this.host, id, true);
        this.log('takeover.replica-failed', { conn: id, error: (e as Error).message });
      }
    }
    // SCTP associations (no packets were reserved for them: the stack answers nothing it does
    // not know before they are installed, and the peer retransmits).
    let assocs = 0;
    for (const r of [...this.replicas.sctp.values()]) {
      try {
        const { assoc, app } = resumeSctpReplica(this.sctp, r);
        const info = assoc.info();
        const rs = this.byPort.get(`sctp/${info?.localPort ?? 0}`);
        if (rs === undefined) { assoc.abort('no sctp service on its port here'); throw new Error('no sctp service on its port here'); }
        this.acceptedSctp(rs, assoc, true, app);
        assocs++;
        this.replCounters.resumed++;
      } catch (e) {
        failed++;
        this.log('takeover.replica-failed', { assoc: r.id, error: (e as Error).message });
      }
    }
    this.replicas.clear();
    this.host.flush();
    if (ids.length + assocs + failed > 0) this.log('takeover.resumed', { connections: probes.length, associations: assocs, failed, ms: (performance.now() - t0).toFixed(1) });
    return probes;
  }

  private replicationStatus(): ReplicationStatus {
    const st = this.replicator?.stats;
    return {
      mode: this.cfg.replication.mode, peer: this.replPeer, tracked: st?.tracked ?? 0, batchesSent: st?.batchesSent ?? 0,
      batchesConfirmed: st?.batchesConfirmed ?? 0, bytesSent: st?.bytesSent ?? 0, heldNow: st?.heldNow ?? 0, heldTotal: st?.heldTotal ?? 0,
      confirmMs: Math.round((st?.confirmMs ?? 0) * 1000) / 1000, confirmMaxMs: Math.round((st?.confirmMaxMs ?? 0) * 1000) / 1000,
      replicas: this.replicas.size, resumed: this.replCounters.resumed, diverged: this.replCounters.diverged,
    };
  }

  // ------------------------------------------------------------------------------- switch-over

  status(): NodeStatus {
    const tcp: Record<string, number> = {};
    for (const t of Object.values(this.host?.state.tcp ?? {})) tcp[t.state] = (tcp[t.state] ?? 0) + 1;
    const sctp: Record<string, number> = {};
    for (const a of Object.values(this.sctp?.state.assocs ?? {})) sctp[a.state] = (sctp[a.state] ?? 0) + 1;
    const hbPeers = this.hb?.peers() ?? [];
    const peers: PeerStatus[] = this.cfg.peers.map((p) => {
      const h = hbPeers.find((x) => x.name === p.name);
      return {
        name: p.name, handover: `${p.handover.host}:${p.handover.port}`, alive: h?.alive ?? false, role: h?.role ?? null,
        priority: h?.priority ?? null, rttMs: h?.rttMs ?? null, lastHeardMs: h?.lastHeardMs ?? null, linked: this.links.has(p.name),
      };
    });
    return {
      name: this.cfg.name, role: this.role, priority: this.cfg.priority, epoch: this.hb?.epoch ?? 0,
      serviceIps: [...this.cfg.serviceIps], holdsServiceIps: this.holdsIps, peers,
      connections: { tcp, sctp },
      migration: this.migration === null ? null : { ...this.migration, elapsedMs: this.migration.elapsedMs },
      services: this.cfg.services.map((s) => ({ name: s.name, type: s.type, proto: s.proto, port: s.port })),
      counters: { ...this.counters, redirectedOut: this.mux?.stats.redirected ?? 0 },
      uptimeMs: Math.round(performance.now() - this.startedAt),
      replication: this.replicationStatus(),
    };
  }

  async switchover(to: string | null, onProgress?: (p: SwitchoverProgress) => void): Promise<SwitchoverSummary> {
    const t0 = performance.now();
    const steps: Record<string, number> = {};
    const target = to ?? this.pickTarget();
    const prog: SwitchoverProgress = { to: target ?? '', phase: 'redirect-new', total: 0, moved: 0, reset: 0, failed: 0, elapsedMs: 0 };
    const emit = (): void => { prog.elapsedMs = Math.round(performance.now() - t0); onProgress?.({ ...prog }); this.emit('progress', { ...prog }); };
    const fail = (error: string): SwitchoverSummary => {
      prog.phase = 'failed';
      this.log('switchover.failed', { to: prog.to, error });
      emit();
      return { ...prog, ok: false, error, maxMoveMs: 0, steps };
    };
    if (this.migration !== null) return fail('a switch-over is already in progress');
    if (this.role !== 'active' || !this.holdsIps) return fail(`${this.cfg.name} is ${this.role}, not the active node holding the service addresses`);
    if (target === null) return fail('no live peer to switch over to');
    if (target === this.cfg.name) return fail(`${target} is this node`);
    if (!this.cfg.peers.some((p) => p.name === target)) return fail(`${target} is not a configured peer (peers: ${this.cfg.peers.map((p) => p.name).join(', ') || 'none'})`);
    if (!this.links.has(target)) return fail(`no hand-over link to ${target}`);
    this.migration = prog;
    let maxMoveMs = 0;
    const step = (phase: SwitchoverPhase, n: number, what: string): void => {
      steps[prog.phase] = Math.round(performance.now() - t0);
      prog.phase = phase;
      this.log('switchover.step', { step: n, phase, to: target, what, ms: Math.round(performance.now() - t0) });
      emit();
    };
    try {
      this.log('switchover.start', { to: target, connections: this.conns.size });
      const begin = await this.request(target, {
        t: 'so-begin', ref: this.nextRef++, from: this.cfg.name,
        ...(this.cfg.device.mode === 'tap' && this.tunLink !== null ? { neighbours: { ...this.tunLink.neighbours } } : {}),
      }, 3000);
      if (!begin.ok) return fail(`${target} refused: ${begin.error ?? 'no reason'}`);
      // (1) New connections (and anything not held here) go straight to the standby.
      this.mux.redirect = (pkt) => { this.send(target, 'packet', pkt); };
      step('redirect-new', 1, `new connections for ${this.cfg.serviceIps.join(',')} are passed to ${target}`);
      // (2) Services hear it is coming.
      for (const s of this.services) {
        try { s.impl.onSwitchover?.({ to: target }); } catch (e) { this.log('service.error', { service: s.cfg.name, error: (e as Error).message }); }
      }
      step('notify', 2, 'services notified');
      // (3) Move every connection; connections that finish their handshake meanwhile join later passes.
      step('moving', 3, `moving ${this.conns.size} connections`);
      for (let pass = 0; pass < 20; pass++) {
        const batch = [...this.conns.values()].filter((t) => !t.moving);
        if (batch.length === 0) {
          if (!this.handshakesPending()) break;
          await sleep(20);
          continue;
        }
        prog.total += batch.length;
        emit();
        let i = 0;
        const worker = async (): Promise<void> => {
          while (i < batch.length) {
            const t = batch[i++]!;
            const r = await this.moveOne(target, t);
            if (r.result === 'moved') { prog.moved++; maxMoveMs = Math.max(maxMoveMs, r.ms); } else if (r.result === 'reset') prog.reset++;
            else if (r.result === 'failed') prog.failed++;
            else prog.total--; // closed meanwhile
            if ((prog.moved + prog.reset + prog.failed) % 50 === 0) emit();
          }
        };
        await Promise.all(Array.from({ length: Math.min(MOVE_CONCURRENCY, batch.length) }, worker));
      }
      steps['moving'] = Math.round(performance.now() - t0);
      this.log('switchover.moved', { to: target, total: prog.total, moved: prog.moved, reset: prog.reset, failed: prog.failed, maxMoveMs: maxMoveMs.toFixed(1) });
      if (prog.failed > 0) {
        this.mux.redirect = null;
        this.control(target, { t: 'so-end', ref: this.nextRef++ });
        return fail(`${prog.failed} connections could not be moved (they stay here, live)`);
      }
      // (4) The service addresses move; redirection ends after the grace period.
      step('moving-ip', 4, `service addresses move to ${target}`);
      const took = await this.request(target, { t: 'so-take-ip', ref: this.nextRef++ }, this.cfg.ipMove.hookTimeoutMs * (this.cfg.ipMove.up.length + 1) + 2000);
      if (!took.ok) {
        // The standby could not take the addresses: keep them, keep redirecting to where the connections are.
        return fail(`${target} could not take the service addresses: ${took.error ?? 'no reason'}`);
      }
      this.hb?.yieldTo(target);
      await this.releaseIps('switchover');
      this.role = 'standby';
      this.updateReplication();
      this.counters.switchovers++;
      this.graceTimer = setTimeout(() => {
        this.graceTimer = null;
        this.mux.redirect = null;
        this.control(target, { t: 'so-end', ref: this.nextRef++ });
        this.log('switchover.redirect-ended', { to: target });
      }, this.cfg.move.graceMs);
      steps['moving-ip'] = Math.round(performance.now() - t0);
      prog.phase = 'done';
      this.log('switchover.done', { to: target, moved: prog.moved, reset: prog.reset, ms: Math.round(performance.now() - t0) });
      emit();
      return { ...prog, ok: true, error: null, maxMoveMs, steps };
    } catch (e) {
      this.mux.redirect = null;
      return fail((e as Error).message);
    } finally {
      this.migration = null;
    }
  }

  private pickTarget(): string | null {
    const live = (this.hb?.peers() ?? []).filter((p) => p.alive && this.links.has(p.name));
    live.sort((a, b) => (b.priority ?? 0) - (a.priority ?? 0) || (a.name < b.name ? 1 : -1));
    return live[0]?.name ?? null;
  }

  /** TCP connections still in their handshake (they will be accepted, then moved). */
  private handshakesPending(): boolean {
    for (const t of Object.values(this.host.state.tcp)) if (t.state === 'SYN-RECEIVED') return true;
    return false;
  }

  /** Move one connection to `to`. */
  private async moveOne(to: string, t: Tracked): Promise<{ result: 'moved' | 'reset' | 'failed' | 'closed'; ms: number }> {
    t.moving = true;
    const { conn, svc } = t;
    const mv = this.cfg.move;
    if (conn.proto === 'tcp') {
      conn.socket.pause();
      conn.socket.unpipe();
    } else conn.assoc.pause();
    // The application's state (or the deadline).
    let state: Uint8Array = EMPTY;
    if (svc.impl.onMove !== undefined) {
      const r = await withTimeout(Promise.resolve().then(() => svc.impl.onMove!(conn)), mv.ackTimeoutMs);
      if (r === TIMEOUT || r instanceof Error) {
        this.log('move.unacknowledged', { conn: conn.id, service: svc.cfg.name, policy: mv.onTimeout, error: r === TIMEOUT ? `no answer in ${mv.ackTimeoutMs} ms` : r.message });
        if (mv.onTimeout === 'reset') { this.resetConn(t); return { result: 'reset', ms: 0 }; }
      } else if (r instanceof Uint8Array) state = r;
    }
    // TCP: bytes the service wrote that the stack has not taken yet travel in the snapshot
    // (freezeSocket). SCTP: messages queued in the Association go into the stack first.
    const drained = conn.proto === 'tcp' ? (conn.socket.destroyed || conn.socket.id === null ? 'closed' : 'ok') : await this.drained(conn, mv.ackTimeoutMs);
    if (drained === 'closed') { this.conns.delete(conn.id); return { result: 'closed', ms: 0 }; }
    if (drained === 'timeout') {
      this.log('move.not-drained', { conn: conn.id, service: svc.cfg.name });
      this.resetConn(t);
      return { result: 'reset', ms: 0 };
    }
    const t0 = performance.now();
    const ref = this.nextRef++;
    this.replicator.untrack(conn.id); // it moves by snapshot now
    let env: Uint8Array;
    let id: string;
    try {
      if (conn.proto === 'tcp') {
        const f = freezeSocket(this.host, conn.socket, this.cfg.key, { app: state });
        env = f.envelope; id = f.id;
      } else {
        id = conn.id;
        const fr = this.sctp.freeze(id);
        if (!fr.ok) throw new MigrateError(`freeze: ${fr.error}`);
        const ex = this.sctp.exportAssoc(id);
        if (!ex.ok) throw new MigrateError(`export: ${ex.error}`);
        env = sealSnapshot(encodeSnapshot({ kind: 'sctp-assoc', takenAt: Date.now(), assoc: ex.value, app: state }), this.cfg.key);
      }
    } catch (e) {
      this.log('move.freeze-failed', { conn: conn.id, error: (e as Error).message });
      if (conn.proto === 'tcp' && conn.socket.destroyed) return { result: 'closed', ms: 0 };
      this.resume(t);
      return { result: 'failed', ms: 0 };
    }
    this.conns.delete(conn.id);
    const payload = new Uint8Array(4 + env.length);
    new DataView(payload.buffer).setUint32(0, ref);
    payload.set(env, 4);
    const wait = new Promise<Extract<Control, { t: 'reply' }>>((resolve) => {
      const timer = setTimeout(() => { this.pending.delete(ref); resolve({ t: 'reply', re: ref, ok: false, error: 'no answer' }); }, MOVE_ACK_TIMEOUT_MS);
      this.pending.set(ref, { resolve, timer });
    });
    if (!this.send(to, 'snapshot', payload)) {
      const p = this.pending.get(ref);
      if (p !== undefined) { clearTimeout(p.timer); this.pending.delete(ref); }
      this.thaw(t, id);
      return { result: 'failed', ms: 0 };
    }
    const ack = await wait;
    if (!ack.ok) {
      this.log('move.refused', { conn: id, to, error: ack.error ?? '' });
      this.thaw(t, id);
      return { result: 'failed', ms: 0 };
    }
    // Resumed there: what we held goes after it; from now on its packets are redirected.
    const held = conn.proto === 'tcp' ? [...takeHeldPackets(this.host, id), ...releaseFrozen(this.host, id)] : this.sctp.release(id);
    for (const p of held) this.send(to, 'packet', p);
    this.counters.movedOut++;
    const ms = performance.now() - t0;
    return { result: 'moved', ms };
  }

  private async drained(conn: AppConn, timeoutMs: number): Promise<'ok' | 'closed' | 'timeout'> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      if (conn.proto === 'tcp') {
        if (conn.socket.destroyed || conn.socket.id === null) return 'closed';
        if (conn.socket.writableLength === 0) return 'ok';
      } else {
        if (conn.assoc.closed) return 'closed';
        if (conn.assoc.queued === 0) return 'ok';
      }
      if (performance.now() > deadline) return 'timeout';
      await sleep(2);
    }
  }

  private resetConn(t: Tracked): void {
    this.conns.delete(t.conn.id);
    if (t.conn.proto === 'tcp') t.conn.socket.resetAndDestroy(); else t.conn.assoc.abort('switch-over: not acknowledged');
  }

  /** A paused connection goes back to its service (nothing was frozen). */
  private resume(t: Tracked): void {
    t.moving = false;
    if (t.conn.proto === 'tcp') t.conn.socket.resume(); else t.conn.assoc.resume();
    try { t.svc.impl.onMoveCancelled?.(t.conn); } catch { /* logged by the service */ }
  }

  /** A frozen connection the standby refused: live here again, under a new Socket/Association. */
  private thaw(t: Tracked, id: string): void {
    try {
      if (t.conn.proto === 'tcp') {
        const s = thawSocket(this.host, id);
        this.accepted(t.svc, s, true, EMPTY);
      } else {
        const ex = this.sctp.exportAssoc(id);
        if (!ex.ok) throw new Error(ex.error);
        this.sctp.release(id);
        const a = this.sctp.adopt(ex.value);
        this.acceptedSctp(t.svc, a, true, EMPTY);
      }
      this.log('move.thawed', { conn: id });
    } catch (e) {
      this.log('move.lost', { conn: id, error: (e as Error).message });
    }
  }
}

// ------------------------------------------------------------------------------- helpers

const TIMEOUT = Symbol('timeout');

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | typeof TIMEOUT | Error> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(TIMEOUT), ms);
    p.then((v) => { clearTimeout(timer); resolve(v); }, (e: unknown) => { clearTimeout(timer); resolve(e instanceof Error ? e : new Error(String(e))); });
  });
}

function sleep(ms: number): Promise<void> { return new Promise((r) => setTimeout(r, ms)); }

/** A locally administered unicast MAC derived from the node's name (02:xx:xx:xx:xx:xx). */
export function nodeMac(name: string): string {
  const h = createHmac('sha256', 'ferry node mac').update(name).digest();
  return ['02', ...[...h.subarray(0, 5)].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}

function derive(key: Uint8Array, label: string): Uint8Array {
  return new Uint8Array(createHmac('sha256', key).update(label).digest());
}


/** Drop a reservation; `replay`: feed what it held to the stack. */
function unreserveIfAny(host: Host, id: string, replay: boolean): void {
  const held = unreserve(host.state, id);
  if (replay && held.length > 0) host.input(held);
}

/** A bare ACK from the service address far outside the client's window (see the file comment). */
export function tickleAck(src: string, sport: number, dst: string, dport: number, seq: number): Uint8Array {
  const seg = { srcPort: sport, dstPort: dport, seq, ack: 0, flags: 0x10, reserved: 0, window: 0, urgent: 0, options: [], payload: EMPTY };
  const tcp = new Uint8Array(tcpBufferLen(seg));
  emitTcp(seg, tcp, tcpPseudoSum(src, dst, tcp.length));
  return buildIp(src, dst, 6, tcp, { ttl: 64, hopLimit: 64 });
}

/** An SCTP ABORT (no causes) with the peer's own verification tag (RFC 9260 §8.5, T bit clear). */
export function sctpAbort(src: string, sport: number, dst: string, dport: number, vtag: number, udpPort: number): Uint8Array {
  const pkt: SctpPacket = { srcPort: sport, dstPort: dport, verificationTag: vtag, chunks: [abortChunk()] };
  const sctp = new Uint8Array(sctpBufferLen(pkt));
  emitSctp(pkt, sctp);
  return sctpOutToIp({ src, dst, sctp, encap: udpPort === 0 ? null : { srcPort: SCTP_UDP_PORT, dstPort: udpPort } });
}

