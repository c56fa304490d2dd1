// The shapes shared by the HA node's parts (issue #8): its configuration, the application API
// services implement, the status it reports, and the control protocol the CLI speaks.
//
//   migrate/node-config.ts   file (JSON or YAML) → NodeConfig, every field validated
//   migrate/membership.ts    roles and failure detection (pure), migrate/heartbeat.ts (UDP, worker)
//   migrate/node.ts          FerryNode: device, stacks, services, hand-over link, switch-over
//   migrate/control.ts       the local control socket (NodeApi over newline-delimited JSON)
//   migrate/metrics.ts       Prometheus text from a NodeStatus
//   migrate/services/*.ts    built-in movable services (http, echo, discard, counter)
import type { Socket } from '../tun/net.ts';
import type { Association } from '../tun/sctp-socket.ts';

// ------------------------------------------------------------------------------ configuration

/** A node's whole configuration, after validation and defaults (node-config.ts). */
export interface NodeConfig {
  /** This node's name: unique in the cluster, [A-Za-z0-9_.-]{1,64}. */
  name: string;
  /** 1..255: the highest-priority live node becomes active when there is no active node. */
  priority: number;
  device: DeviceConfig;
  /** The service addresses every node answers as (canonical text); only the active node has them routed to it. */
  serviceIps: string[];
  /** This node's hand-over address: TCP (hand-over link) and UDP (heartbeats) on the same port. */
  handover: Endpoint;
  peers: PeerConfig[];
  heartbeat: HeartbeatConfig;
  /** The cluster key (>= 16 bytes): authenticates the hand-over link, heartbeats and snapshots. Never logged. */
  key: Uint8Array;
  services: ServiceConfig[];
  move: MoveConfig;
  ipMove: IpMoveConfig;
  /** Path of the local control socket (unix domain, mode 0600). */
  control: string;
  /** Prometheus endpoint, or null. */
  metrics: Endpoint | null;
  /** Log file (appended), or null for stderr. */
  log: string | null;
  /** Who decides the active node: direct heartbeats (default) or etcd leases (issue #9). */
  membership: MembershipConfig;
  /** Continuous replication of live connections to the standby (issue #9); per-service override in ServiceConfig. */
  replication: ReplicationConfig;
  /** Resource bounds of the node's TCP stack (issue #10). */
  limits: LimitsConfig;
}

export interface LimitsConfig {
  /** Bytes queued for sending over all TCP connections together (StackConfig.sndBufTotal; default 256 MiB; null: no total bound). */
  sndBufTotal: number | null;
  /** What each connection may still queue once the total is reached (default 8192). */
  sndBufFloor: number;
  /** Per-connection send and receive buffers (default 262144 each). */
  sndBuf: number;
  rcvBuf: number;
  /** Half-open connections per listener before SYN cookies take over (default: the stack's, 1024). */
  synQueue: number;
}

export type MembershipConfig =
  | { kind: 'direct' }
  | {
    kind: 'etcd';
    /** etcd client URLs, e.g. ['http://127.0.0.1:2379']. */
    endpoints: string[];
    /** Key prefix for this cluster's keys (default '/ferry'). */
    prefix: string;
    /** Lease TTL: the active node stops serving before its lease can expire (default 2000 ms). */
    leaseTtlMs: number;
  };

export interface ReplicationConfig {
  /**
   * 'sync': nothing a connection sends (ACKs included) leaves before the standby holds the
   * state that produced it — survives a crash at any instant. 'async': replicas trail by at most
   * `maxLagMs`. 'off' (default): planned switch-over only.
   */
  mode: 'off' | 'sync' | 'async';
  maxLagMs: number;
}

export interface Endpoint { host: string; port: number }

export interface DeviceConfig {
  mode: 'tun' | 'tap';
  /** Device name, or null for the kernel's choice. */
  name: string | null;
  /** The kernel side's address in CIDR form, e.g. '10.200.1.1/24'. */
  cidr: string;
  mtu: number | null;
  /** Record everything crossing the device to this pcap, or null. */
  pcap: string | null;
}

export interface PeerConfig { name: string; handover: Endpoint }

export interface HeartbeatConfig {
  /** Heartbeat period (default 50 ms). */
  intervalMs: number;
  /** A peer silent this long is dead (default 300 ms). */
  timeoutMs: number;
  /**
   * A node whose main event loop has not run for this long stops sending heartbeats (it is hung,
   * not busy), so the standby takes over (default 5000 ms).
   */
  hangMs: number;
}

export type ServiceType = 'http' | 'echo' | 'discard' | 'counter' | 'module';

export interface ServiceConfig {
  /** Unique per node, [A-Za-z0-9_.-]{1,64}: the key connections are moved under. */
  name: string;
  type: ServiceType;
  proto: 'tcp' | 'sctp';
  port: number;
  /** http: directory served (files only, no listing); null: only the generated /bytes/<n> resource. */
  root: string | null;
  /** module: path of an ES module whose default export is a ServiceFactory. */
  module: string | null;
  /** Free-form options handed to the service. */
  options: Record<string, unknown>;
  /** Replication mode for this service's connections, or null for the node's (NodeConfig.replication). */
  replication: 'off' | 'sync' | 'async' | null;
}

export interface MoveConfig {
  /** How long a service may take to acknowledge a move (onMove) before `onTimeout` applies (default 2000 ms). */
  ackTimeoutMs: number;
  /** 'move': move it anyway with an empty state; 'reset': abort it (RST / ABORT). Default 'move'. */
  onTimeout: 'move' | 'reset';
  /** After the service IP moved, the old node still redirects stray packets this long (default 2000 ms). */
  graceMs: number;
}

export interface IpMoveConfig {
  /**
   * 'hooks' (TUN): run `up` when this node takes the service IPs and `down` when it gives them
   * up (sh -c, with FERRY_NODE, FERRY_EVENT=up|down, FERRY_SERVICE_IPS in the environment), as
   * keepalived's notify scripts. 'arp' (TAP): ferry answers ARP for the service IPs only while
   * active and announces a move with gratuitous ARP.
   */
  mode: 'hooks' | 'arp';
  up: string[];
  down: string[];
  /** A hook still running after this long is killed and reported (default 5000 ms). */
  hookTimeoutMs: number;
}

// ------------------------------------------------------------------------- application API

/** A connection or association as a service sees it. */
export type AppConn = TcpAppConn | SctpAppConn;

interface AppConnBase {
  /** Stable across moves: the connection's 4-tuple key. */
  id: string;
  remote: string;
  remotePort: number;
  /** True when this connection moved here from another node (a switch-over). */
  resumed: boolean;
  /** The state the service on the old node gave for it (onMove), or null for a new connection. */
  state: Uint8Array | null;
}
export interface TcpAppConn extends AppConnBase { proto: 'tcp'; socket: Socket }
export interface SctpAppConn extends AppConnBase { proto: 'sctp'; assoc: Association }

export interface ServiceContext {
  /** This node's name. */
  node: string;
  log: LogFn;
}

/**
 * What a service linked to ferry implements. Only `onConnection` is required: a service that
 * does nothing special still moves (its state is empty, and the node pauses its connection
 * while moving it).
 */
export interface FerryService {
  /** A new connection, or one that moved here (conn.resumed, conn.state). */
  onConnection(conn: AppConn): void;
  /** A switch-over to node `to` is starting: connections will be asked to move. */
  onSwitchover?(info: { to: string }): void;
  /**
   * `conn` is about to move. The node has already paused reading from it. Stop writing to it
   * and return the state to carry (any bytes) — the node then waits for written bytes to reach
   * the stack and freezes it. Not answering within move.ackTimeoutMs applies move.onTimeout.
   */
  onMove?(conn: AppConn): Uint8Array | Promise<Uint8Array>;
  /** The move was called off (the standby refused it): the connection stays here, live again. */
  onMoveCancelled?(conn: AppConn): void;
  /**
   * Continuous replication (issue #9, migrate/replicate.ts): the state to carry for `conn` if
   * this node dies now, WITHOUT stopping anything. Called synchronously, often (whenever the
   * connection sent something), so it must be cheap and must describe exactly the bytes the
   * service has taken from the socket and handed to write() so far: the standby resumes the
   * connection with this state (conn.resumed, conn.state) and the socket's bytes as they were.
   * Absent: the state is empty (a service that holds nothing of its own, like echo).
   */
  onCheckpoint?(conn: AppConn): Uint8Array;
  /** The node stops. */
  close?(): void;
}

/** A service's constructor: what a `module` service's default export is. */
export type ServiceFactory = (cfg: ServiceConfig, ctx: ServiceContext) => FerryService | Promise<FerryService>;

// ------------------------------------------------------------------------------ logging

/** One structured log record: an event name and fields (never secrets). */
export type LogFn = (event: string, fields?: Record<string, unknown>) => void;

// ------------------------------------------------------------------------------ status

export type Role = 'starting' | 'standby' | 'active' | 'stopped';

export interface PeerStatus {
  name: string;
  handover: string;
  /** Heard within the heartbeat timeout. */
  alive: boolean;
  role: Role | null;
  priority: number | null;
  /** Smoothed heartbeat round-trip time, or null before the first. */
  rttMs: number | null;
  /** ms since the last heartbeat, or null if never heard. */
  lastHeardMs: number | null;
  /** The hand-over link (TCP) to it is up. */
  linked: boolean;
}

export type SwitchoverPhase = 'redirect-new' | 'notify' | 'moving' | 'moving-ip' | 'done' | 'failed';

export interface SwitchoverProgress {
  to: string;
  phase: SwitchoverPhase;
  /** Connections + associations to move, moved, reset (timeout policy), failed. */
  total: number;
  moved: number;
  reset: number;
  failed: number;
  elapsedMs: number;
}

export interface SwitchoverSummary extends SwitchoverProgress {
  ok: boolean;
  /** Why it failed, when it did. */
  error: string | null;
  /** The longest single connection's freeze-to-resumed time. */
  maxMoveMs: number;
  /** Time each step finished, ms from the start: redirect-new, notify, moving, moving-ip. */
  steps: Record<string, number>;
}

export interface NodeStatus {
  name: string;
  role: Role;
  priority: number;
  epoch: number;
  serviceIps: string[];
  /** This node has the service IPs routed to it (or is answering ARP for them). */
  holdsServiceIps: boolean;
  peers: PeerStatus[];
  /** Connection counts per protocol per state (TCP states as in RFC 9293, SCTP as in RFC 9260). */
  connections: { tcp: Record<string, number>; sctp: Record<string, number> };
  /** The switch-over in progress (this node's side), or null. */
  migration: SwitchoverProgress | null;
  services: { name: string; type: ServiceType; proto: 'tcp' | 'sctp'; port: number }[];
  counters: NodeCounters;
  uptimeMs: number;
  /** Continuous replication (issue #9): this node's side of it; absent on nodes without it. */
  replication?: ReplicationStatus;
}

export interface ReplicationStatus {
  /** The node's default mode (services may override it). */
  mode: 'off' | 'sync' | 'async';
  /** Active side: connections replicated to `peer`, batches sent / confirmed, packets held now. */
  peer: string | null;
  tracked: number;
  batchesSent: number;
  batchesConfirmed: number;
  bytesSent: number;
  heldNow: number;
  heldTotal: number;
  /** Batch sent → standby's confirmation: smoothed and largest (ms). */
  confirmMs: number;
  confirmMaxMs: number;
  /** Standby side: replicas held (connections it would resume if the active died). */
  replicas: number;
  /** Takeovers: connections resumed from replicas, reset because the peer saw more than the replica, and orphans tickled. */
  resumed: number;
  diverged: number;
}

export interface NodeCounters {
  switchovers: number;
  takeovers: number;
  /** Connections/associations moved away / received. */
  movedOut: number;
  movedIn: number;
  /** Packets redirected over the hand-over link (sent / received). */
  redirectedOut: number;
  redirectedIn: number;
  /** Tickle ACKs / ABORTs sent for connections a failed node held (unplanned failover). */
  tickles: number;
  hookFailures: number;
}

/** What the control socket serves (FerryNode implements it). */
export interface NodeApi {
  status(): NodeStatus;
  /** A planned switch-over to `to` (null: the highest-priority live peer). Resolves when done or failed. */
  switchover(to: string | null, onProgress?: (p: SwitchoverProgress) => void): Promise<SwitchoverSummary>;
  /** Stop the node (services closed, device deleted). */
  stop(): Promise<void>;
}

// ------------------------------------------------------------------------- control protocol

/**
 * Newline-delimited JSON over the control socket. Requests carry an id echoed in replies.
 *   → {"id":1,"cmd":"status"}                       ← {"id":1,"ok":true,"status":{...}}
 *   → {"id":2,"cmd":"switchover","to":"b"}          ← {"id":2,"progress":{...}}* then {"id":2,"ok":true,"summary":{...}}
 *   → {"id":3,"cmd":"stop"}                         ← {"id":3,"ok":true}
 * Errors: {"id":N,"ok":false,"error":"..."}.
 */
export type ControlRequest =
  | { id: number; cmd: 'status' }
  | { id: number; cmd: 'switchover'; to: string | null }
  | { id: number; cmd: 'stop' };

export type ControlReply =
  | { id: number; ok: true; status: NodeStatus }
  | { id: number; progress: SwitchoverProgress }
  | { id: number; ok: true; summary: SwitchoverSummary }
  | { id: number; ok: true }
  | { id: number; ok: false; error: string };
