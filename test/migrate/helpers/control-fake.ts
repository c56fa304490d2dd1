// A fake NodeApi for the control socket, metrics and CLI tests: a fixed status, a switch-over
// that reports progress on a short real timer, and a stop that is recorded.
import type { NodeApi, NodeStatus, SwitchoverProgress, SwitchoverSummary } from '../../../migrate/node-types.ts';

export function fakeStatus(name = 'a'): NodeStatus {
  return {
    name, role: 'active', priority: 100, epoch: 7, serviceIps: ['10.200.0.10'], holdsServiceIps: true,
    peers: [
      { name: 'b', handover: '10.203.0.2:7400', alive: true, role: 'standby', priority: 90, rttMs: 0.42, lastHeardMs: 12, linked: true },
      { name: 'c', handover: '10.203.0.3:7400', alive: false, role: null, priority: null, rttMs: null, lastHeardMs: null, linked: false },
    ],
    connections: { tcp: { ESTABLISHED: 12, 'TIME-WAIT': 3 }, sctp: { ESTABLISHED: 2 } },
    migration: null,
    services: [{ name: 'web', type: 'http', proto: 'tcp', port: 80 }, { name: 'echo', type: 'echo', proto: 'sctp', port: 7 }],
    counters: { switchovers: 1, takeovers: 0, movedOut: 40, movedIn: 2, redirectedOut: 17, redirectedIn: 0, tickles: 0, hookFailures: 0 },
    uptimeMs: 3_723_000,
  };
}

export interface FakeNode extends NodeApi {
  stopped: number;
  switchovers: (string | null)[];
}

/**
 * A node whose switch-over to `b` moves `total` connections, one per `stepMs`, through every
 * phase; to any other node it fails ("no such peer"), to `boom` it throws.
 */
export function fakeNode(opts: { name?: string; total?: number; stepMs?: number } = {}): FakeNode {
  const total = opts.total ?? 5, stepMs = opts.stepMs ?? 5;
  const node: FakeNode = {
    stopped: 0,
    switchovers: [],
    status: () => fakeStatus(opts.name ?? 'a'),
    async switchover(to, onProgress) {
      node.switchovers.push(to);
      if (to === 'boom') throw new Error('the hand-over link to boom is down');
      const p: SwitchoverProgress = { to: to ?? 'b', phase: 'redirect-new', total, moved: 0, reset: 0, failed: 0, elapsedMs: 0 };
      const tick = (): Promise<void> => new Promise((r) => setTimeout(r, stepMs));
      if (to !== 'b') {
        return { ...p, phase: 'failed', ok: false, error: `no such peer: ${to}`, maxMoveMs: 0, steps: {} };
      }
      const steps: Record<string, number> = {};
      onProgress?.({ ...p });
      steps['redirect-new'] = p.elapsedMs = 1;
      p.phase = 'notify';
      onProgress?.({ ...p });
      steps.notify = p.elapsedMs = 2;
      p.phase = 'moving';
      for (let i = 0; i < total; i++) {
        await tick();
        p.moved++;
        p.elapsedMs += stepMs;
        onProgress?.({ ...p });
      }
      steps.moving = p.elapsedMs;
      p.phase = 'moving-ip';
      onProgress?.({ ...p });
      steps['moving-ip'] = p.elapsedMs += 1;
      p.phase = 'done';
      onProgress?.({ ...p });
      const summary: SwitchoverSummary = { ...p, ok: true, error: null, maxMoveMs: 3, steps };
      return summary;
    },
    async stop() { node.stopped++; },
  };
  return node;
}
