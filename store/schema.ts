/**
 * Schema migrations, applied in order and keyed by `PRAGMA user_version`: a database
 * at version N has had MIGRATIONS[0..N-1] applied. Never edit a released entry; append.
 *
 * v1 tables: networks, pools, allocations, endpoints, port_mappings, intents, kv.
 * v2 tables: containers (the engine's). v3, v4: pools and port_mappings made again (keys).
 * Foreign keys: pools.network_id -> networks (CASCADE; NULL while a pool is unassigned,
 * as with libnetwork's RequestPool), allocations.pool_id -> pools (CASCADE),
 * endpoints.network_id -> networks (RESTRICT: a network with endpoints cannot be deleted),
 * port_mappings.endpoint_id -> endpoints (CASCADE: remove the firewall rules first).
 */
import type Database from 'better-sqlite3';
import { TsnetError } from '../core/errors.js';

const V1 = `
CREATE TABLE networks (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  driver TEXT NOT NULL,
  options TEXT NOT NULL DEFAULT '{}',
  internal INTEGER NOT NULL DEFAULT 0 CHECK (internal IN (0, 1)),
  ipv6 INTEGER NOT NULL DEFAULT 0 CHECK (ipv6 IN (0, 1)),
  labels TEXT NOT NULL DEFAULT '{}',
  state TEXT NOT NULL DEFAULT 'ready' CHECK (state IN ('creating', 'ready', 'removing')),
  created_at TEXT NOT NULL
) STRICT;

CREATE TABLE pools (
  id TEXT PRIMARY KEY,
  network_id TEXT REFERENCES networks(id) ON DELETE CASCADE,
  family INTEGER NOT NULL CHECK (family IN (4, 6)),
  subnet TEXT NOT NULL UNIQUE,
  range_start TEXT NOT NULL,
  range_end TEXT NOT NULL,
  gateway TEXT,
  cursor TEXT,
  aux TEXT NOT NULL DEFAULT '{}'
) STRICT;
CREATE INDEX pools_network ON pools(network_id);

CREATE TABLE allocations (
  pool_id TEXT NOT NULL REFERENCES pools(id) ON DELETE CASCADE,
  ip TEXT NOT NULL,
  owner TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('endpoint', 'gateway', 'aux')),
  PRIMARY KEY (pool_id, ip)
) STRICT, WITHOUT ROWID;
CREATE INDEX allocations_owner ON allocations(owner);

CREATE TABLE endpoints (
  id TEXT PRIMARY KEY,
  network_id TEXT NOT NULL REFERENCES networks(id),
  sandbox TEXT,
  ifname TEXT,
  host_ifname TEXT,
  mac TEXT,
  addrs TEXT NOT NULL DEFAULT '[]',
  options TEXT NOT NULL DEFAULT '{}',
  state TEXT NOT NULL CHECK (state IN ('attaching', 'attached', 'detaching')),
  created_at TEXT NOT NULL
) STRICT;
CREATE INDEX endpoints_network ON endpoints(network_id);
CREATE INDEX endpoints_sandbox ON endpoints(sandbox);

CREATE TABLE port_mappings (
  proto TEXT NOT NULL CHECK (proto IN ('tcp', 'udp', 'sctp')),
  host_ip TEXT NOT NULL,
  host_port INTEGER NOT NULL CHECK (host_port BETWEEN 1 AND 65535),
  endpoint_id TEXT NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE,
  network_id TEXT NOT NULL,
  container_ip TEXT NOT NULL,
  container_port INTEGER NOT NULL CHECK (container_port BETWEEN 1 AND 65535),
  PRIMARY KEY (proto, host_ip, host_port)
) STRICT, WITHOUT ROWID;
CREATE INDEX port_mappings_port ON port_mappings(proto, host_port);
CREATE INDEX port_mappings_endpoint ON port_mappings(endpoint_id);

CREATE TABLE intents (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL,
  subject TEXT NOT NULL,
  payload TEXT NOT NULL DEFAULT 'null',
  created_at TEXT NOT NULL
) STRICT;
CREATE INDEX intents_subject ON intents(subject);

CREATE TABLE kv (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
) STRICT;
`;

/** v2: the engine's containers (tsnetd). Endpoints reference them by sandbox = container id. */
const V2 = `
CREATE TABLE containers (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  image TEXT NOT NULL,
  config TEXT NOT NULL DEFAULT '{}',
  state TEXT NOT NULL DEFAULT 'created' CHECK (state IN ('created', 'running', 'exited', 'removing')),
  sandbox TEXT,
  pid INTEGER,
  exit_code INTEGER,
  created_at TEXT NOT NULL,
  started_at TEXT,
  finished_at TEXT
) STRICT;
`;

/**
 * v3: a subnet is no longer unique among pools: CNI networks may share one (as host-local
 * and the reference plugins allow; ipam's overlap check still keeps every other network's
 * apart). SQLite cannot drop a column constraint, so the table is made again and the rows
 * copied (migrate runs this with foreign keys off, so dropping the old table cascades to
 * no allocation, and checks them before committing).
 */
const V3 = `
CREATE TABLE pools_v3 (
  id TEXT PRIMARY KEY,
  network_id TEXT REFERENCES networks(id) ON DELETE CASCADE,
  family INTEGER NOT NULL CHECK (family IN (4, 6)),
  subnet TEXT NOT NULL,
  range_start TEXT NOT NULL,
  range_end TEXT NOT NULL,
  gateway TEXT,
  cursor TEXT,
  aux TEXT NOT NULL DEFAULT '{}'
) STRICT;
INSERT INTO pools_v3 (id, network_id, family, subnet, range_start, range_end, gateway, cursor, aux)
  SELECT id, network_id, family, subnet, range_start, range_end, gateway, cursor, aux FROM pools;
DROP TABLE pools;
ALTER TABLE pools_v3 RENAME TO pools;
CREATE INDEX pools_network ON pools(network_id);
`;

/**
 * v4: port_mappings keyed (proto, host_port, host_ip). Keyed by (proto, host_ip, host_port),
 * SQLite answered "who has this port" (proto = ? AND host_port = ?, asked per candidate port)
 * from the covering primary key on proto alone, a scan of every mapping of the protocol,
 * rather than from the (proto, host_port) index: each publish cost grew with the ports
 * published. With host_port second the key itself answers it, and the index goes. The table
 * is made again and the rows copied (as v3).
 */
const V4 = `
CREATE TABLE port_mappings_v4 (
  proto TEXT NOT NULL CHECK (proto IN ('tcp', 'udp', 'sctp')),
  host_ip TEXT NOT NULL,
  host_port INTEGER NOT NULL CHECK (host_port BETWEEN 1 AND 65535),
  endpoint_id TEXT NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE,
  network_id TEXT NOT NULL,
  container_ip TEXT NOT NULL,
  container_port INTEGER NOT NULL CHECK (container_port BETWEEN 1 AND 65535),
  PRIMARY KEY (proto, host_port, host_ip)
) STRICT, WITHOUT ROWID;
INSERT INTO port_mappings_v4 (proto, host_ip, host_port, endpoint_id, network_id, container_ip, container_port)
  SELECT proto, host_ip, host_port, endpoint_id, network_id, container_ip, container_port FROM port_mappings;
DROP TABLE port_mappings;
ALTER TABLE port_mappings_v4 RENAME TO port_mappings;
CREATE INDEX port_mappings_endpoint ON port_mappings(endpoint_id);
`;

export const MIGRATIONS: readonly string[] = [V1, V2, V3, V4];

/** The version a database has after `migrate` with the built-in list. */
export const SCHEMA_VERSION = MIGRATIONS.length;

function userVersion(db: Database.Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/**
 * Brings `db` up to `migrations.length` inside one IMMEDIATE transaction (so two
 * processes opening a fresh file migrate it once). Idempotent. Throws when the file
 * was written by a newer tsnet. Returns the number of migrations applied.
 */
export function migrate(db: Database.Database, migrations: readonly string[] = MIGRATIONS): number {
  const target = migrations.length;
  if (userVersion(db) === target) return 0;
  const apply = db.transaction((): number => {
    const from = userVersion(db);
    if (from > target) {
      throw new TsnetError('internal', `state database schema v${from} is newer than this tsnet (v${target})`);
    }
    for (let v = from; v < target; v++) db.exec(migrations[v] ?? '');
    const broken = db.pragma('foreign_key_check') as unknown[];
    if (broken.length > 0) throw new TsnetError('internal', `schema migration to v${target} broke ${broken.length} foreign key reference(s)`);
    db.pragma(`user_version = ${target}`);
    return target - from;
  });
  // Foreign keys off while tables are made again (v3): the pragma is a no-op inside a
  // transaction, so it is set around it, on this connection only.
  const fk = db.pragma('foreign_keys', { simple: true }) as number;
  db.pragma('foreign_keys = OFF');
  try {
    return apply.immediate();
  } finally {
    db.pragma(`foreign_keys = ${fk ? 'ON' : 'OFF'}`);
  }
}
