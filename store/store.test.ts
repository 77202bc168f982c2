import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, ConflictError, NotFoundError, TryAgainError } from '../core/errors.js';
import { migrate, MIGRATIONS, SCHEMA_VERSION } from './schema.js';
import { openStore, type Store } from './store.js';
import type { PortMappingRow } from './types.js';

interface Ctx { dir: string; file: string; store: Store }
const t = suite<Ctx>('store', {} as Ctx);

t.before.each((ctx) => {
  ctx.dir = mkdtempSync(join(tmpdir(), 'tsnet-store-'));
  ctx.file = join(ctx.dir, 'nested', 'dir', 'state.db');
  ctx.store = openStore(ctx.file);
});
t.after.each((ctx) => {
  ctx.store.close();
  rmSync(ctx.dir, { recursive: true, force: true });
});

function rejects(fn: () => unknown, cls: Function, match?: RegExp): void {
  try {
    fn();
  } catch (err) {
    assert.instance(err, cls);
    if (match) assert.match((err as Error).message, match);
    return;
  }
  assert.unreachable('expected an error');
}

function port(p: Partial<PortMappingRow> = {}): PortMappingRow {
  return { proto: 'tcp', hostIp: '0.0.0.0', hostPort: 8080, endpointId: 'abc123', networkId: 'n1',
    containerIp: '10.0.0.2', containerPort: 80, ...p };
}

function seed(store: Store): void {
  store.networks.insert({ id: 'n1', name: 'net1', driver: 'bridge' });
  store.endpoints.insert({ id: 'abc123', networkId: 'n1' });
  store.endpoints.insert({ id: 'def456', networkId: 'n1' });
}

t('open: pragmas, schema version, mkdir -p', ({ store }) => {
  assert.is(store.db.pragma('journal_mode', { simple: true }), 'wal');
  assert.is(store.db.pragma('foreign_keys', { simple: true }), 1);
  assert.is(store.db.pragma('synchronous', { simple: true }), 1);
  assert.ok((store.db.pragma('busy_timeout', { simple: true }) as number) >= 1000);
  assert.is(store.db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
});

t('idle checkpoint: no commit copies the WAL into the database; a pause does', async (ctx) => {
  // Many small commits, well past SQLite's automatic checkpoint (1000 WAL pages).
  const fill = (s: Store, prefix: string): void => {
    s.networks.insert({ id: `${prefix}0`, name: `${prefix}net`, driver: 'bridge' });
    for (let i = 0; i < 1500; i++) s.kv.set(`${prefix}${i}`, 'x'.repeat(2000));
  };
  const size = (f: string) => statSync(f).size;
  // Default: some commit checkpointed inline, the database file took the rows.
  fill(ctx.store, 'a');
  assert.ok(size(ctx.file) > 1_000_000, `default: ${size(ctx.file)} bytes`);
  ctx.store.close();
  rmSync(ctx.file);
  rmSync(`${ctx.file}-wal`, { force: true });
  rmSync(`${ctx.file}-shm`, { force: true });
  ctx.store = openStore(ctx.file, { idleCheckpoint: true });
  const before = size(ctx.file);
  fill(ctx.store, 'b');
  assert.is(size(ctx.file), before, 'nothing checkpointed inside a commit');
  assert.ok(size(`${ctx.file}-wal`) > 3_000_000, 'the WAL holds the writes');
  await new Promise((r) => setTimeout(r, 600));
  assert.ok(size(ctx.file) > 3_000_000, `checkpointed after the pause: ${size(ctx.file)} bytes`);
  assert.is(ctx.store.kv.get('b1499'), 'x'.repeat(2000));
});

t('migrations are idempotent on reopen and keep data', (ctx) => {
  ctx.store.networks.insert({ id: 'n1', name: 'net1', driver: 'bridge' });
  ctx.store.close();
  ctx.store = openStore(ctx.file);
  ctx.store.close();
  ctx.store = openStore(ctx.file);
  assert.is(ctx.store.networks.get('n1')?.name, 'net1');
  assert.is(ctx.store.db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
});

t('migrate applies only pending steps in order; refuses a newer file', ({ dir }) => {
  const db = new Database(join(dir, 'm.db'));
  try {
    const steps = ['CREATE TABLE a (x INTEGER)', 'INSERT INTO a VALUES (1)', 'INSERT INTO a VALUES (2)'];
    assert.is(migrate(db, steps.slice(0, 2)), 2);
    assert.is(migrate(db, steps.slice(0, 2)), 0);
    assert.is(migrate(db, steps), 1);
    assert.equal(db.prepare('SELECT x FROM a ORDER BY x').pluck().all(), [1, 2]);
    assert.throws(() => migrate(db, steps.slice(0, 1)), /newer than this tsnet/);
    assert.throws(() => migrate(db, [...steps, 'BOGUS SQL']), /syntax error/);
    assert.is(db.pragma('user_version', { simple: true }), 3, 'a failed migration leaves the version');
  } finally {
    db.close();
  }
});

t('v3 (pools made again without a unique subnet) keeps pools, allocations and foreign keys; two pools may then share a subnet', ({ dir }) => {
  const db = new Database(join(dir, 'v2.db'));
  try {
    db.pragma('foreign_keys = ON');
    assert.is(migrate(db, MIGRATIONS.slice(0, 2)), 2);
    db.prepare("INSERT INTO networks (id, name, driver, options, internal, ipv6, labels, state, created_at) VALUES ('n1', 'net1', 'bridge', '{}', 0, 0, '{}', 'ready', 'now')").run();
    db.prepare("INSERT INTO pools (id, network_id, family, subnet, range_start, range_end) VALUES ('p1', 'n1', 4, '10.9.0.0/24', '10.9.0.1', '10.9.0.254')").run();
    db.prepare("INSERT INTO allocations (pool_id, ip, owner, kind) VALUES ('p1', '10.9.0.5', 'ep1', 'endpoint')").run();
    assert.throws(() => db.prepare("INSERT INTO pools (id, family, subnet, range_start, range_end) VALUES ('p2', 4, '10.9.0.0/24', 'a', 'b')").run(), /UNIQUE/);
    assert.is(migrate(db, MIGRATIONS.slice(0, 3)), 1);
    assert.is(db.pragma('foreign_keys', { simple: true }), 1, 'foreign keys on again');
    assert.equal(db.prepare('SELECT pool_id, ip FROM allocations').all(), [{ pool_id: 'p1', ip: '10.9.0.5' }], 'allocations kept');
    db.prepare("INSERT INTO pools (id, family, subnet, range_start, range_end) VALUES ('p2', 4, '10.9.0.0/24', 'a', 'b')").run();
    assert.equal(db.prepare('SELECT id FROM pools WHERE subnet = ? ORDER BY id').pluck().all('10.9.0.0/24'), ['p1', 'p2']);
    db.prepare("DELETE FROM networks WHERE id = 'n1'").run();
    assert.equal(db.prepare('SELECT count(*) FROM allocations').pluck().get(), 0, 'cascades still work: network -> pool -> allocations');
  } finally {
    db.close();
  }
});

t('v4 (port_mappings keyed by proto, host_port, host_ip) keeps the mappings and their cascade; a port lookup searches the key on both columns', ({ dir }) => {
  const db = new Database(join(dir, 'v3.db'));
  const plan = (sql: string) => db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all('tcp', 8080).map((r) => (r as { detail: string }).detail).join('; ');
  // The query the store asks per candidate port (store/ports.ts reserveOne, list).
  const lookup = 'SELECT * FROM port_mappings WHERE proto = ? AND host_port = ?';
  try {
    db.pragma('foreign_keys = ON');
    assert.is(migrate(db, MIGRATIONS.slice(0, 3)), 3);
    assert.match(plan(lookup), /PRIMARY KEY \(proto=\?\)$/, 'v3: a scan of every mapping of the protocol');
    db.prepare("INSERT INTO networks (id, name, driver, options, internal, ipv6, labels, state, created_at) VALUES ('n1', 'net1', 'bridge', '{}', 0, 0, '{}', 'ready', 'now')").run();
    db.prepare("INSERT INTO endpoints (id, network_id, sandbox, ifname, mac, addrs, options, state, created_at) VALUES ('e1', 'n1', 's', 'eth0', 'aa', '[]', '{}', 'attached', 'now')").run();
    const insert = db.prepare('INSERT INTO port_mappings (proto, host_ip, host_port, endpoint_id, network_id, container_ip, container_port) VALUES (?, ?, ?, ?, ?, ?, ?)');
    insert.run('tcp', '0.0.0.0', 8080, 'e1', 'n1', '10.9.0.2', 80);
    insert.run('udp', '127.0.0.1', 53, 'e1', 'n1', '10.9.0.2', 53);
    assert.is(migrate(db), 1);
    assert.match(plan(lookup), /PRIMARY KEY \(proto=\? AND host_port=\?\)/);
    assert.equal(db.prepare('SELECT proto, host_ip, host_port, container_port FROM port_mappings ORDER BY proto').all(), [
      { proto: 'tcp', host_ip: '0.0.0.0', host_port: 8080, container_port: 80 },
      { proto: 'udp', host_ip: '127.0.0.1', host_port: 53, container_port: 53 },
    ], 'mappings kept');
    assert.throws(() => insert.run('tcp', '0.0.0.0', 8080, 'e1', 'n1', '10.9.0.3', 81), /UNIQUE|PRIMARY/);
    db.prepare("DELETE FROM endpoints WHERE id = 'e1'").run();
    assert.is(db.prepare('SELECT count(*) FROM port_mappings').pluck().get(), 0, 'cascade from endpoints still works');
  } finally {
    db.close();
  }
});

t('tx commits, rolls back on throw, nests as savepoints, rejects async functions', ({ store }) => {
  store.tx(() => store.kv.set('a', '1'));
  assert.is(store.kv.get('a'), '1');
  assert.throws(() => store.tx(() => {
    store.kv.set('b', '2');
    store.networks.insert({ id: 'n1', name: 'net1', driver: 'bridge' });
    throw new Error('boom');
  }), /boom/);
  assert.is(store.kv.get('b'), undefined);
  assert.is(store.networks.get('n1'), undefined);
  store.tx(() => {
    store.kv.set('outer', '1');
    try {
      store.tx(() => {
        store.kv.set('inner', '1');
        throw new Error('inner');
      });
    } catch { /* the savepoint rolled back */ }
  });
  assert.is(store.kv.get('outer'), '1');
  assert.is(store.kv.get('inner'), undefined);
  assert.throws(() => store.tx(async () => store.kv.set('c', '3')), /synchronous/);
  assert.is(store.kv.get('c'), undefined);
});

t('tx: lock held by another connection past busy_timeout -> TryAgainError', ({ file, store }) => {
  const other = openStore(file, { busyTimeoutMs: 0 });
  try {
    store.tx(() => {
      store.kv.set('x', '1');
      rejects(() => other.tx(() => other.kv.set('y', '1')), TryAgainError, /locked by another process/);
      rejects(() => other.kv.set('y', '1'), TryAgainError);
    });
    other.tx(() => other.kv.set('y', '2'));
    assert.is(store.kv.get('y'), '2');
  } finally {
    other.close();
  }
});

t('networks: insert defaults, get by id or name, update, conflicts, remove', ({ store }) => {
  const n = store.networks.insert({ id: 'n1', name: 'net1', driver: 'bridge', options: { mtu: '1400' }, labels: { a: 'b' } });
  assert.equal({ ...n, createdAt: '' }, { id: 'n1', name: 'net1', driver: 'bridge', options: { mtu: '1400' }, internal: false,
    ipv6: false, labels: { a: 'b' }, state: 'ready', createdAt: '' });
  assert.equal(store.networks.get('net1'), n);
  assert.equal(store.networks.get('n1'), n);
  rejects(() => store.networks.insert({ id: 'n2', name: 'net1', driver: 'bridge' }), ConflictError, /name net1 already exists/);
  rejects(() => store.networks.insert({ id: 'n1', name: 'other', driver: 'bridge' }), ConflictError, /network n1 already exists/);
  store.networks.insert({ id: 'n2', name: 'net2', driver: 'macvlan', internal: true, ipv6: true, state: 'creating' });
  const u = store.networks.update('n2', { state: 'ready', labels: { x: 'y' } });
  assert.is(u.state, 'ready');
  assert.equal(store.networks.get('n2'), u);
  assert.ok(u.internal && u.ipv6);
  rejects(() => store.networks.update('n2', { name: 'net1' }), ConflictError, /name net1/);
  rejects(() => store.networks.update('zz', { state: 'ready' }), NotFoundError);
  assert.equal(store.networks.list().map((x) => x.id), ['n1', 'n2']);
  assert.ok(store.networks.remove('n2'));
  assert.not.ok(store.networks.remove('n2'));
});

t('networks: resolve by exact name, then full id, then a unique id prefix', ({ store }) => {
  const a = store.networks.insert({ id: 'ab12cd', name: 'web', driver: 'bridge' });
  const b = store.networks.insert({ id: 'ab34ef', name: 'db', driver: 'bridge' });
  const c = store.networks.insert({ id: '9f0000', name: 'ab34ef', driver: 'bridge' });
  assert.equal(store.networks.resolve('web'), a);
  assert.equal(store.networks.resolve('ab34ef'), c, 'a name wins over an id');
  assert.equal(store.networks.resolve('ab12'), a);
  assert.equal(store.networks.resolve('ab3'), b);
  assert.equal(store.networks.resolve('9'), c);
  assert.is(store.networks.resolve('ff'), undefined);
  assert.is(store.networks.resolve('we'), undefined, 'names are never prefixes');
  assert.is(store.networks.resolve('AB12'), undefined, 'ids are lowercase');
  rejects(() => store.networks.resolve('ab'), ConfigError, /^network id prefix "ab" is ambiguous: it matches 2 networks$/);
  assert.is(store.networks.get('ab12'), undefined, 'get takes no prefix (name checks at create)');
});

t('endpoints: CRUD, lists, null clears, FK to networks', ({ store }) => {
  rejects(() => store.endpoints.insert({ id: 'e0', networkId: 'nope' }), NotFoundError, /network nope/);
  store.networks.insert({ id: 'n1', name: 'net1', driver: 'bridge' });
  const e = store.endpoints.insert({ id: 'e1', networkId: 'n1', sandbox: '/run/netns/a', ifname: 'eth0', addrs: ['10.0.0.2/24'] });
  assert.is(e.state, 'attaching');
  assert.equal(store.endpoints.get('e1'), e);
  store.endpoints.insert({ id: 'e2', networkId: 'n1' });
  rejects(() => store.endpoints.insert({ id: 'e2', networkId: 'n1' }), ConflictError);
  const u = store.endpoints.update('e1', { state: 'attached', hostIfname: 'veth1', mac: '02:42:0a:00:00:02', ifname: null });
  assert.is(u.ifname, undefined);
  assert.equal(store.endpoints.get('e1'), u);
  assert.equal(store.endpoints.listByNetwork('n1').map((x) => x.id), ['e1', 'e2']);
  assert.equal(store.endpoints.listBySandbox('/run/netns/a').map((x) => x.id), ['e1']);
  rejects(() => store.networks.remove('n1'), ConflictError, /still has endpoints/);
  rejects(() => store.endpoints.update('zz', { state: 'attached' }), NotFoundError);
  assert.ok(store.endpoints.remove('e1'));
  assert.not.ok(store.endpoints.remove('e1'));
});

t('ports: conflict message names the holder', ({ store }) => {
  seed(store);
  store.ports.reserve([port()]);
  rejects(() => store.ports.reserve([port({ endpointId: 'def456', containerIp: '10.0.0.3' })]), ConflictError,
    /^port 8080\/tcp on 0\.0\.0\.0 already published by endpoint abc123$/);
  store.ports.reserve([port({ proto: 'udp', endpointId: 'def456' })]); // other proto: fine
  store.ports.reserve([port({ hostIp: '::', endpointId: 'def456' })]); // other family: fine
  store.ports.reserve([port()]); // identical row again: idempotent
  assert.is(store.ports.list().length, 3);
});

t('ports: two rows of one reservation that clash are the request\'s mistake, said so; an identical row twice is one', ({ store }) => {
  seed(store);
  rejects(() => store.ports.reserve([port(), port({ containerPort: 81 })]), ConfigError,
    /^port 8080\/tcp on 0\.0\.0\.0 is requested twice in this request$/);
  rejects(() => store.ports.reserve([port({ hostIp: '127.0.0.1', hostPort: 9000 }), port({ hostPort: 9000 })]), ConfigError,
    /^port 9000\/tcp on 0\.0\.0\.0 is requested twice in this request$/);
  assert.equal(store.ports.list(), [], 'nothing reserved');
  store.ports.reserve([port(), port(), port({ proto: 'udp' }), port({ hostIp: '::' })]);
  assert.is(store.ports.list().length, 3);
});

t('ports: 0.0.0.0 clashes with a specific IPv4 address and vice versa', ({ store }) => {
  seed(store);
  store.ports.reserve([port({ hostIp: '127.0.0.1' })]);
  rejects(() => store.ports.reserve([port({ endpointId: 'def456' })]), ConflictError,
    /port 8080\/tcp on 0\.0\.0\.0 already published by endpoint abc123 on 127\.0\.0\.1/);
  store.ports.reserve([port({ hostIp: '127.0.0.2', endpointId: 'def456' })]); // another specific IP: fine
  store.ports.reserve([port({ hostIp: '0.0.0.0', hostPort: 9090 })]);
  rejects(() => store.ports.reserve([port({ hostIp: '10.1.1.1', hostPort: 9090, endpointId: 'def456' })]), ConflictError,
    /port 9090\/tcp on 10\.1\.1\.1 already published by endpoint abc123 on 0\.0\.0\.0/);
  store.ports.reserve([port({ hostIp: '::', hostPort: 8081 })]);
  rejects(() => store.ports.reserve([port({ hostIp: '::1', hostPort: 8081, endpointId: 'def456' })]), ConflictError, /abc123/);
});

t('ports: reserve is all-or-nothing; release, filters, validation, cascade', ({ store }) => {
  seed(store);
  store.ports.reserve([port({ hostPort: 7000 })]);
  rejects(() => store.ports.reserve([port({ endpointId: 'def456', hostPort: 7001 }), port({ endpointId: 'def456', hostPort: 7000 })]),
    ConflictError, /7000\/tcp/);
  assert.equal(store.ports.list({ endpointId: 'def456' }), [], 'the first row of the failed batch was rolled back');
  rejects(() => store.ports.reserve([port({ hostPort: 0 })]), ConfigError);
  rejects(() => store.ports.reserve([port({ hostIp: 'x' })]), ConfigError);
  rejects(() => store.ports.reserve([port({ endpointId: 'ghost', hostPort: 7100 })]), NotFoundError);
  store.ports.reserve([port({ endpointId: 'def456', hostPort: 7001 }), port({ endpointId: 'def456', hostPort: 7002, proto: 'udp' })]);
  assert.equal(store.ports.list({ endpointId: 'def456', proto: 'udp' }).map((p) => p.hostPort), [7002]);
  assert.equal(store.ports.list({ hostPort: 7000 }).map((p) => p.endpointId), ['abc123']);
  const released = store.ports.releaseEndpoint('def456');
  assert.equal(released.map((p) => p.hostPort).sort(), [7001, 7002]);
  assert.ok(store.ports.release('tcp', '0.0.0.0', 7000));
  store.ports.reserve([port({ hostPort: 7003 })]);
  store.endpoints.remove('abc123');
  assert.equal(store.ports.list(), [], 'endpoint removal cascades');
});

t('intents journal and kv', ({ store }) => {
  const a = store.intents.begin('attach', 'ep1', { step: 'veth', names: ['a', 'b'] });
  const b = store.intents.begin('detach', 'ep2');
  assert.ok(b > a);
  assert.equal(store.intents.pending().map((i) => i.id), [a, b]);
  assert.equal(store.intents.pending('ep1')[0]?.payload, { step: 'veth', names: ['a', 'b'] });
  assert.is(store.intents.get(b)?.payload, null);
  assert.ok(store.intents.done(a));
  assert.not.ok(store.intents.done(a));
  assert.equal(store.intents.pending().map((i) => i.kind), ['detach']);
  store.kv.set('k', 'v1');
  store.kv.set('k', 'v2');
  assert.is(store.kv.get('k'), 'v2');
  assert.ok(store.kv.delete('k'));
  assert.is(store.kv.get('k'), undefined);
});

t.run();
