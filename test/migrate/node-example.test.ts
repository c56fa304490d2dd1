// The example configuration in the README (migrate/node.example.yaml) stays valid: it is
// parsed with its two machine-specific paths (the key file, the web root) pointed at temp files.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseNodeConfig } from '../../migrate/node-config.ts';

test('migrate/node.example.yaml is a valid node configuration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fex-'));
  try {
    writeFileSync(join(dir, 'key'), 'ab'.repeat(32), { mode: 0o600 });
    const text = readFileSync(new URL('../../migrate/node.example.yaml', import.meta.url), 'utf8')
      .replace('/etc/ferry/cluster.key', join(dir, 'key')).replace('/srv/www', dir);
    const c = parseNodeConfig(text, 'yaml', dir);
    assert.is(c.name, 'a');
    assert.equal(c.serviceIps, ['10.200.0.10']);
    assert.equal(c.services.map((s) => `${s.type}/${s.proto}/${s.port}`), ['http/tcp/80', 'counter/tcp/7000', 'echo/sctp/7']);
    assert.is(c.heartbeat.timeoutMs, 300);
    assert.is(c.key.length, 32);
    assert.is(c.replication.mode, 'sync');
    assert.is(c.limits.sndBufTotal, 268435456);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
