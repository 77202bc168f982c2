/**
 * The state store: one SQLite file (WAL) shared by the daemon and standalone CNI
 * processes. Opening creates the directory and migrates the schema. Nothing here
 * touches the kernel or any netns; the caller closes the Store it opened.
 */
import { makeDirs } from '../core/paths.js';
import { ContainersRepo } from './containers.js';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { EndpointsRepo } from './endpoints.js';
import { IntentsRepo } from './intents.js';
import { KvRepo } from './kv.js';
import { NetworksRepo } from './networks.js';
import { AllocationsRepo, PoolsRepo } from './pools.js';
import { PortsRepo } from './ports.js';
import { migrate } from './schema.js';
import { IdleCheckpointer } from './checkpoint.js';
import { Statements, translateBusy, type Db } from './sql.js';

/** How long a writer waits for another process's write lock before TryAgainError. */
export const BUSY_TIMEOUT_MS = 5000;

export interface StoreOptions {
  busyTimeoutMs?: number;
  /** Checkpoint the WAL when writes pause instead of inside a commit (long-running processes: tsnetd). */
  idleCheckpoint?: boolean;
}

function isThenable(v: unknown): boolean {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

export class Store {
  readonly networks: NetworksRepo;
  readonly endpoints: EndpointsRepo;
  readonly ports: PortsRepo;
  readonly intents: IntentsRepo;
  readonly pools: PoolsRepo;
  readonly allocations: AllocationsRepo;
  readonly kv: KvRepo;
  readonly containers: ContainersRepo;
  private readonly runner: { immediate: (fn: () => unknown) => unknown };
  private readonly checkpointer: IdleCheckpointer | undefined;

  constructor(readonly db: Db, readonly file: string, opts: StoreOptions = {}) {
    this.checkpointer = opts.idleCheckpoint ? new IdleCheckpointer(db) : undefined;
    const checkpointer = this.checkpointer;
    const st = new Statements(db, checkpointer && (() => checkpointer.wrote()));
    const tx = <T>(fn: () => T): T => this.tx(fn);
    this.networks = new NetworksRepo(st);
    this.endpoints = new EndpointsRepo(st);
    this.ports = new PortsRepo(st, tx);
    this.intents = new IntentsRepo(st);
    this.pools = new PoolsRepo(st);
    this.allocations = new AllocationsRepo(st);
    this.kv = new KvRepo(st);
    this.containers = new ContainersRepo(st);
    this.runner = db.transaction((fn: () => unknown) => {
      const result = fn();
      if (isThenable(result)) throw new TypeError('Store.tx: the function must be synchronous');
      return result;
    });
  }

  /**
   * Runs `fn` in a BEGIN IMMEDIATE transaction (the write lock is taken up front, so
   * concurrent processes serialize instead of failing on upgrade). Commits on return,
   * rolls back on throw. Nested calls become savepoints. `fn` must be synchronous.
   * TryAgainError when another process held the lock longer than the busy timeout.
   */
  tx<T>(fn: () => T): T {
    try {
      return this.runner.immediate(fn) as T;
    } catch (err) {
      throw translateBusy(err);
    }
  }

  get inTransaction(): boolean {
    return this.db.inTransaction;
  }

  close(): void {
    this.checkpointer?.stop();
    if (this.db.open) this.db.close();
  }
}

let addon: string | null | undefined;

/**
 * better-sqlite3's native addon by path, when it is where its install puts it. Its default
 * lookup (the `bindings` package: stack inspection, then a dozen candidate paths) costs ~1.5 ms
 * per process, and cannot work from the standalone CNI bundle (scripts/bundle-cni.mjs).
 */
function sqliteAddon(): string | undefined {
  if (addon === undefined) {
    addon = null;
    try {
      const main = createRequire(import.meta.url).resolve('better-sqlite3');
      const file = join(dirname(dirname(main)), 'build', 'Release', 'better_sqlite3.node');
      if (existsSync(file)) addon = file;
    } catch {
      // not resolvable from here: better-sqlite3 finds its addon itself
    }
  }
  return addon ?? undefined;
}

/**
 * Opens (creating if needed) the store at `file`: mkdir -p, WAL, busy_timeout,
 * foreign_keys, synchronous=NORMAL, migrations; with `idleCheckpoint`, WAL checkpoints when
 * writes pause (store/checkpoint.ts). Safe to call from several processes at once. The
 * caller owns the returned Store and must close() it.
 */
export function openStore(file: string, opts: StoreOptions = {}): Store {
  makeDirs(dirname(file));
  const nativeBinding = sqliteAddon();
  const db = new Database(file, nativeBinding ? { nativeBinding } : {});
  try {
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(opts.busyTimeoutMs ?? BUSY_TIMEOUT_MS))}`);
    if (db.pragma('journal_mode', { simple: true }) !== 'wal') db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    migrate(db);
    return new Store(db, file, opts);
  } catch (err) {
    db.close();
    throw translateBusy(err);
  }
}
