// What the HA node (node.ts) needs from a membership implementation (issue #9 item 3): who is
// active, with which fencing epoch, and the planned hand-off calls. Two implementations satisfy
// it structurally:
//   heartbeat.ts        Heartbeats: direct UDP heartbeats between two nodes (the embedded default)
//   etcd-membership.ts  EtcdMembership: etcd leases and a leader key, for clusters beyond two nodes
//
// Events (both):
//   'role' (role: Role, reason: string, epoch: number)   every role change
//   'peer' (p: PeerStatus)                               a peer turned alive or dead
// Nothing is thrown at the event loop; start() rejects with the reason it cannot run.
import type { EventEmitter } from 'node:events';
import type { EtcdMembership, EtcdMembershipStats } from './etcd-membership.ts';
import type { Heartbeats, HeartbeatStats } from './heartbeat.ts';
import type { PeerStatus, Role } from './node-types.ts';

export interface Membership extends EventEmitter {
  readonly role: Role;
  /** The fencing epoch this node is active in, or the highest it has seen. */
  readonly epoch: number;
  readonly name: string;
  start(): Promise<void>;
  /** Leave the cluster (peers may take over at once). Idempotent. */
  stop(): Promise<void>;
  /** Planned hand-off: this node stops being active in favour of peer `to`. */
  yieldTo(to: string): void;
  /** Planned hand-off target: become active as soon as the membership allows. */
  assume(epoch?: number): void;
  /** Every known peer (never this node). */
  peers(): PeerStatus[];
  stats(): HeartbeatStats | EtcdMembershipStats;
}

// Compile-time proof that both implementations fit (tsc fails here if either drifts).
type Assert<T extends true> = T;
export type HeartbeatsIsMembership = Assert<Heartbeats extends Membership ? true : false>;
export type EtcdMembershipIsMembership = Assert<EtcdMembership extends Membership ? true : false>;
