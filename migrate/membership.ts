// Membership of the HA cluster (issue #8 item 2): who is active. A pure state machine in the
// stack/ style — plain-data state, `step(state, event, now) → actions`, `nextDeadline(state)`;
// no clock, timer, randomness or I/O — so every rule below runs on a virtual clock in tests.
// The transport (heartbeat.ts, in a worker thread) feeds it authenticated heartbeats and ticks
// and carries out its 'send' actions.
//
// The rules, in the words of keepalived/VRRP (RFC 5798) where they fit:
//   - Nodes have a priority 1..255; ties are broken by name (lexicographically larger wins),
//     as VRRP breaks ties by the larger primary IP address (RFC 5798 §6.4.3).
//   - Liveness: a peer not heard for timeoutMs is dead ('peer-dead'); heard again, 'peer-alive'.
//   - One election rule for every case: a node that has had no evidence of an active node
//     (itself, or a live peer claiming 'active') for timeoutMs holds an election among itself
//     and its live 'starting'/'standby' peers; the best by (priority, name) becomes active with
//     epoch = highest epoch seen + 1. This covers start-up (the wait is timeoutMs from the
//     start), failure of the active (the evidence stops with its last heartbeat, so the
//     election runs the moment it is declared dead), and a planned hand-off that never
//     completed (the yielding node's last 'active' claim starts the same clock).
//   - No preemption (keepalived's `nopreempt`): a node that hears an active peer follows it,
//     whatever its own priority.
//   - Conflict (two actives, e.g. a healed partition): the higher epoch stays active; on equal
//     epochs the better (priority, name); the other steps down with reason 'conflict'.
//   - Planned hand-off: 'yield' turns the active node into a standby; 'assume' makes the target
//     active with an epoch above every epoch it has seen.
//   - A node whose main event loop is hung ('hung' event, from the transport's watchdog) sends
//     nothing and never takes over, so its peers treat it as dead.
//   - RTT per peer: every heartbeat echoes the peer's last send timestamp and how long we held
//     it (as NTP and TCP timestamps do, RFC 7323 §4), smoothed as SRTT in RFC 6298 §2 (α = 1/8).
import type { Role } from './node-types.ts';

/** Why a node's role changed. */
export type RoleReason =
  | 'startup'      // start-up election (no active heard during the start-up wait)
  | 'peer-active'  // an active peer was heard while starting
  | 'peer-dead'    // the active peer died; this node won the election
  | 'no-active'    // no active for timeoutMs although the last active is alive (a hand-off that never completed)
  | 'conflict'     // two actives: this one lost on (epoch, priority, name)
  | 'yield'        // planned hand-off: this node gave up the active role
  | 'assume'       // planned hand-off: this node took the active role
  | 'stop';        // the node stopped

/** One peer as this node sees it. */
export interface PeerView {
  name: string;
  /** Heard within timeoutMs (and not announced 'stopped'). */
  alive: boolean;
  /** When we last accepted a heartbeat from it (our clock), or null. */
  lastHeard: number | null;
  role: Role | null;
  priority: number | null;
  epoch: number | null;
  /** The send timestamp of its last heartbeat (its clock): echoed back so it can measure RTT. */
  lastSentAt: number | null;
  /** Smoothed RTT (RFC 6298 SRTT), or null before the first sample. */
  rttMs: number | null;
}

/** The machine's whole state: plain data (structuredClone-able, no functions or classes). */
export interface MembershipState {
  readonly v: 1;
  name: string;
  priority: number;
  intervalMs: number;
  timeoutMs: number;
  role: Role;
  /** The epoch this node is active in, or (standby/starting) the highest epoch it has seen. */
  epoch: number;
  /** Highest epoch seen anywhere (own or heard). */
  maxEpoch: number;
  /** Last time an active node was known to exist (this node, or a live peer claiming 'active'). */
  activeSeenAt: number;
  /** Name of the active node last known (this node's own name when active), or null. */
  active: string | null;
  /** The target of this node's last yield (planned hand-off), or null. */
  yieldedTo: string | null;
  /** The main event loop is hung: send nothing, never take over. */
  hung: boolean;
  /** When the next round of heartbeats is due. */
  nextSendAt: number;
  /** `now` of the last step (deadlines at or before it have been handled). */
  lastStep: number;
  peers: PeerView[];
}

/** What one heartbeat says (the transport authenticates and decodes it). */
export interface HeartbeatInfo {
  role: Role;
  priority: number;
  epoch: number;
  /** Sender's clock when sent. */
  sentAt: number;
  /** The last `sentAt` the sender received from the destination, or null. */
  echo: number | null;
  /** How long the sender held `echo` before this send (ms). */
  echoDelayMs: number;
}

export type MembershipEvent =
  | { type: 'tick' }
  | ({ type: 'heartbeat'; from: string } & HeartbeatInfo)
  | { type: 'yield'; to: string }
  | { type: 'assume'; epoch: number | null }
  | { type: 'hung'; hung: boolean }
  | { type: 'stop' };

export type MembershipAction =
  | { type: 'role'; role: Role; reason: RoleReason; epoch: number }
  | { type: 'peer-dead'; name: string }
  | { type: 'peer-alive'; name: string }
  | { type: 'send'; to: string; heartbeat: HeartbeatInfo };

export interface MembershipConfig {
  name: string;
  /** 1..255. */
  priority: number;
  /** Peer names (not including this node). */
  peers: readonly string[];
  intervalMs: number;
  timeoutMs: number;
}

/** Smoothing gain for RTT samples (RFC 6298 §2: α = 1/8). */
const RTT_ALPHA = 1 / 8;

/** A fresh node in 'starting' at `now`. Throws on a bad config (programmer input). */
export function initMembership(cfg: MembershipConfig, now: number): MembershipState {
  if (!Number.isInteger(cfg.priority) || cfg.priority < 1 || cfg.priority > 255) throw new RangeError(`priority must be 1..255, got ${cfg.priority}`);
  if (!(cfg.intervalMs > 0) || !(cfg.timeoutMs > cfg.intervalMs)) {
    throw new RangeError(`need 0 < intervalMs < timeoutMs, got ${cfg.intervalMs} and ${cfg.timeoutMs}`);
  }
  const names = new Set<string>([cfg.name]);
  for (const p of cfg.peers) {
    if (names.has(p)) throw new RangeError(`duplicate node name '${p}'`);
    names.add(p);
  }
  return {
    v: 1,
    name: cfg.name,
    priority: cfg.priority,
    intervalMs: cfg.intervalMs,
    timeoutMs: cfg.timeoutMs,
    role: 'starting',
    epoch: 0,
    maxEpoch: 0,
    // The start-up wait: no election before timeoutMs has passed without hearing an active.
    activeSeenAt: now,
    active: null,
    yieldedTo: null,
    hung: false,
    nextSendAt: now,
    lastStep: now,
    peers: cfg.peers.map((name) => ({
      name, alive: false, lastHeard: null, role: null, priority: null, epoch: null, lastSentAt: null, rttMs: null,
    })),
  };
}

/** True if node a beats node b: higher priority, then the lexicographically larger name. */
export function outranks(a: { priority: number; name: string }, b: { priority: number; name: string }): boolean {
  return a.priority !== b.priority ? a.priority > b.priority : a.name > b.name;
}

/**
 * Apply one event at `now` (ms, monotonic). Updates `s` in place (it stays plain data) and
 * returns what the transport must do. Never throws; events for unknown peers are ignored.
 */
export function step(s: MembershipState, ev: MembershipEvent, now: number): MembershipAction[] {
  const out: MembershipAction[] = [];
  if (s.role === 'stopped') return out;
  switch (ev.type) {
    case 'tick': break;
    case 'heartbeat': onHeartbeat(s, ev, now, out); break;
    case 'yield': onYield(s, ev.to, now, out); break;
    case 'assume': onAssume(s, ev.epoch, now, out); break;
    case 'hung':
      if (ev.hung !== s.hung) {
        s.hung = ev.hung;
        if (!ev.hung) s.nextSendAt = now; // announce at once when the loop runs again
      }
      break;
    case 'stop': {
      // A last heartbeat saying 'stopped' lets peers act at once instead of after timeoutMs.
      s.role = 'stopped';
      out.push({ type: 'role', role: 'stopped', reason: 'stop', epoch: s.epoch });
      for (const p of s.peers) out.push(sendTo(s, p, now));
      s.lastStep = now;
      return out;
    }
  }
  expire(s, now, out);
  decide(s, now, out);
  sendDue(s, now, out);
  s.lastStep = Math.max(s.lastStep, now);
  return out;
}

/** The earliest time a 'tick' has something to do, or null (stopped). */
export function nextDeadline(s: MembershipState): number | null {
  if (s.role === 'stopped') return null;
  let at = s.hung ? Infinity : s.nextSendAt;
  for (const p of s.peers) if (p.alive && p.lastHeard !== null) at = Math.min(at, p.lastHeard + s.timeoutMs);
  // The election deadline, unless it has already been evaluated (a standby waiting for a
  // better candidate to take over is woken by that candidate's heartbeats or death instead).
  if (s.role !== 'active' && !s.hung && !activeAlive(s)) {
    const electAt = s.activeSeenAt + s.timeoutMs;
    if (electAt > s.lastStep) at = Math.min(at, electAt);
  }
  return at === Infinity ? null : at;
}

/** This node's view of one peer, or null. */
export function peerView(s: MembershipState, name: string): PeerView | null {
  return s.peers.find((p) => p.name === name) ?? null;
}

function onHeartbeat(s: MembershipState, hb: { from: string } & HeartbeatInfo, now: number, out: MembershipAction[]): void {
  const p = peerView(s, hb.from);
  if (p === null) return;
  p.lastHeard = now;
  p.role = hb.role;
  p.priority = hb.priority;
  p.epoch = hb.epoch;
  p.lastSentAt = hb.sentAt;
  if (hb.epoch > s.maxEpoch) s.maxEpoch = hb.epoch;
  if (s.role !== 'active') s.epoch = s.maxEpoch;
  if (hb.role === 'stopped') {
    // A peer that announced its stop is dead now; if it was the active, elect without waiting.
    if (p.alive) { p.alive = false; out.push({ type: 'peer-dead', name: p.name }); }
    if (s.active === p.name) s.activeSeenAt = Math.min(s.activeSeenAt, now - s.timeoutMs);
    return;
  }
  if (!p.alive) { p.alive = true; out.push({ type: 'peer-alive', name: p.name }); }
  if (hb.echo !== null) {
    // RTT = time since we sent the echoed timestamp, minus the time the peer held it.
    const sample = now - hb.echo - hb.echoDelayMs;
    if (Number.isFinite(sample) && sample >= 0) p.rttMs = p.rttMs === null ? sample : p.rttMs + RTT_ALPHA * (sample - p.rttMs);
  }
  if (hb.role !== 'active') return;
  if (s.role === 'active') {
    // Conflict: the higher epoch stays; on equal epochs the better (priority, name).
    const peerWins = hb.epoch !== s.epoch ? hb.epoch > s.epoch : outranks({ priority: hb.priority, name: p.name }, s);
    if (peerWins) {
      s.activeSeenAt = now;
      s.active = p.name;
      becomeStandby(s, 'conflict', now, out);
    } else {
      s.nextSendAt = now; // tell the loser at once
    }
    return;
  }
  // Following an active (no preemption). Of two actives heard, the winner of the conflict rule.
  const cur = s.active === null ? null : peerView(s, s.active);
  if (cur === null || !cur.alive || cur.role !== 'active' || cur === p || beats(hb.epoch, p, cur)) s.active = p.name;
  s.activeSeenAt = now;
  if (s.role === 'starting') becomeStandby(s, 'peer-active', now, out);
}

function beats(epoch: number, a: PeerView, b: PeerView): boolean {
  const be = b.epoch ?? 0;
  return epoch !== be ? epoch > be : outranks({ priority: a.priority ?? 0, name: a.name }, { priority: b.priority ?? 0, name: b.name });
}

function onYield(s: MembershipState, to: string, now: number, out: MembershipAction[]): void {
  if (peerView(s, to) === null) return;
  s.yieldedTo = to;
  if (s.role === 'standby') return;
  // The last evidence of an active is now: nobody elects for timeoutMs, which leaves the
  // target that long to 'assume'.
  s.activeSeenAt = now;
  becomeStandby(s, 'yield', now, out);
}

function onAssume(s: MembershipState, epoch: number | null, now: number, out: MembershipAction[]): void {
  // The epoch must exceed every epoch seen, or the conflict rule could hand the role back.
  const e = epoch !== null && Number.isInteger(epoch) && epoch > s.maxEpoch ? epoch : s.maxEpoch + 1;
  if (s.role === 'active' && epoch === null) return;
  becomeActive(s, 'assume', e, now, out);
}

/** Peers silent for timeoutMs are dead. */
function expire(s: MembershipState, now: number, out: MembershipAction[]): void {
  for (const p of s.peers) {
    if (p.alive && p.lastHeard !== null && now - p.lastHeard >= s.timeoutMs) {
      p.alive = false;
      out.push({ type: 'peer-dead', name: p.name });
    }
  }
}

function activeAlive(s: MembershipState): boolean {
  return s.peers.some((p) => p.alive && p.role === 'active');
}

/** The election (see the header): runs when no active has been known for timeoutMs. */
function decide(s: MembershipState, now: number, out: MembershipAction[]): void {
  if (s.role === 'active') { s.activeSeenAt = now; return; }
  if (activeAlive(s) || s.hung || now - s.activeSeenAt < s.timeoutMs) return;
  let best: { priority: number; name: string } = s;
  for (const p of s.peers) {
    if (p.alive && p.priority !== null && (p.role === 'starting' || p.role === 'standby') && outranks({ priority: p.priority, name: p.name }, best)) {
      best = { priority: p.priority, name: p.name };
    }
  }
  if (best === s) {
    // 'no-active': the last active is this node or a live peer (a yield never assumed).
    const last = s.active === null ? null : peerView(s, s.active);
    const lastLive = s.active === s.name || (last !== null && last.alive);
    const reason: RoleReason = s.role === 'starting' ? 'startup' : lastLive ? 'no-active' : 'peer-dead';
    becomeActive(s, reason, s.maxEpoch + 1, now, out);
  } else if (s.role === 'starting') {
    // A better candidate will take over when its own wait ends; follow it.
    becomeStandby(s, 'startup', now, out);
  }
}

function becomeActive(s: MembershipState, reason: RoleReason, epoch: number, now: number, out: MembershipAction[]): void {
  s.role = 'active';
  s.epoch = epoch;
  if (epoch > s.maxEpoch) s.maxEpoch = epoch;
  s.active = s.name;
  s.activeSeenAt = now;
  s.yieldedTo = null;
  s.nextSendAt = now; // announce at once: peers converge one interval sooner
  out.push({ type: 'role', role: 'active', reason, epoch });
}

function becomeStandby(s: MembershipState, reason: RoleReason, now: number, out: MembershipAction[]): void {
  s.role = 'standby';
  s.epoch = s.maxEpoch;
  s.nextSendAt = now;
  out.push({ type: 'role', role: 'standby', reason, epoch: s.epoch });
}

function sendDue(s: MembershipState, now: number, out: MembershipAction[]): void {
  if (s.hung || now < s.nextSendAt) return;
  for (const p of s.peers) out.push(sendTo(s, p, now));
  s.nextSendAt = now + s.intervalMs;
}

function sendTo(s: MembershipState, p: PeerView, now: number): MembershipAction {
  return {
    type: 'send',
    to: p.name,
    heartbeat: {
      role: s.role,
      priority: s.priority,
      epoch: s.epoch,
      sentAt: now,
      echo: p.lastSentAt,
      echoDelayMs: p.lastHeard === null ? 0 : Math.max(0, now - p.lastHeard),
    },
  };
}
