/**
 * Several processes allocating from one pool file at once: every address must be
 * handed out exactly once. No network namespace is involved; temp files are removed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { run } from '../core/exec/index.js';
import { cidrContains, Ipam } from '../ipam/index.js';
import { openStore, SCHEMA_VERSION } from '../store/index.js';

const WORKER = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'ipam-worker.js');
const PROCS = 8;
const EACH = 50;

function worker(args: string[]): Promise<string> {
  return run([process.execPath, WORKER, ...args], { timeoutMs: 60_000 }).then((r) => r.stdout);
}

function nextIp(ip: string): string {
  const n = ip.split('.').map(Number).reduce((a, b) => a * 256 + b, 0) + 1;
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

test(`${PROCS} processes open a fresh store at once: migrated once, all succeed`, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsnet-ipam-conc-'));
  try {
    const file = join(dir, 'fresh', 'state.db');
    const outs = await Promise.all(Array.from({ length: PROCS }, () => worker([file, '-'])));
    for (const o of outs) assert.equal(JSON.parse(o), { version: SCHEMA_VERSION });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test(`${PROCS} processes x ${EACH} allocations from one pool: all unique`, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsnet-ipam-conc-'));
  try {
    const file = join(dir, 'state.db');
    const store = openStore(file);
    const pool = new Ipam(store).createPool({ subnet: '10.50.0.0/22' });
    const startAt = String(Date.now() + 1500); // node start-up takes ~150 ms each; then all contend at once
    const outs = await Promise.all(Array.from({ length: PROCS }, (_, i) => worker([file, pool.id, String(EACH), `p${i}`, startAt])));
    const ips = outs.flatMap((o) => JSON.parse(o) as string[]);
    if (process.env['TSNET_TEST_VERBOSE']) {
      const runs = outs.map((o) => (JSON.parse(o) as string[]).filter((ip, i, a) => i > 0 && ip !== nextIp(a[i - 1] ?? '')).length);
      process.stderr.write(`interleavings per worker: ${runs.join(',')}\n`);
    }
    assert.is(ips.length, PROCS * EACH);
    assert.is(new Set(ips).size, PROCS * EACH, 'no address handed out twice');
    for (const ip of ips) assert.ok(cidrContains(pool.subnet, ip) && ip !== pool.gateway, ip);
    assert.is(store.allocations.count(pool.id, 'endpoint'), PROCS * EACH);
    store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
