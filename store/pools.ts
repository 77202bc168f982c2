/**
 * The `pools` and `allocations` tables, used by ipam/ (the allocator logic lives there;
 * these are plain row operations meant to run inside the caller's Store.tx).
 */
import { ConflictError, NotFoundError } from '../core/errors.js';
import { fromJson, guard, opt, sqliteCode, toJson, type Statements } from './sql.js';
import type { AllocationKind, AllocationRow, PoolRow } from './types.js';

interface PoolRaw {
  id: string; network_id: string | null; family: number; subnet: string; range_start: string; range_end: string;
  gateway: string | null; cursor: string | null; aux: string;
}

const POOL_COLS = 'id, network_id, family, subnet, range_start, range_end, gateway, cursor, aux';

function poolFromRaw(r: PoolRaw): PoolRow {
  const row: PoolRow = {
    id: r.id, family: r.family === 6 ? 6 : 4, subnet: r.subnet, rangeStart: r.range_start, rangeEnd: r.range_end,
    aux: fromJson(r.aux, {}),
  };
  const networkId = opt(r.network_id), gateway = opt(r.gateway), cursor = opt(r.cursor);
  if (networkId !== undefined) row.networkId = networkId;
  if (gateway !== undefined) row.gateway = gateway;
  if (cursor !== undefined) row.cursor = cursor;
  return row;
}

export class PoolsRepo {
  constructor(private readonly st: Statements) {}

  /** ConflictError when the id exists; NotFoundError for an unknown network. Overlaps are ipam's to refuse. */
  insert(p: PoolRow): PoolRow {
    guard(() => {
      try {
        this.st.get(`INSERT INTO pools (${POOL_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(
          p.id, p.networkId ?? null, p.family, p.subnet, p.rangeStart, p.rangeEnd, p.gateway ?? null, p.cursor ?? null,
          toJson(p.aux));
      } catch (err) {
        const code = sqliteCode(err);
        if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY') throw new NotFoundError(`network ${p.networkId ?? ''} not found`);
        if (code === 'SQLITE_CONSTRAINT_PRIMARYKEY') throw new ConflictError(`pool ${p.id} already exists`, 'id');
        throw err;
      }
    });
    return p;
  }

  get(id: string): PoolRow | undefined {
    const raw = guard(() => this.st.get(`SELECT ${POOL_COLS} FROM pools WHERE id = ?`).get(id)) as PoolRaw | undefined;
    return raw && poolFromRaw(raw);
  }

  /** All pools, or those of one family. */
  list(family?: 4 | 6): PoolRow[] {
    const rows = guard(() => family === undefined
      ? this.st.get(`SELECT ${POOL_COLS} FROM pools ORDER BY id`).all()
      : this.st.get(`SELECT ${POOL_COLS} FROM pools WHERE family = ? ORDER BY id`).all(family));
    return (rows as PoolRaw[]).map(poolFromRaw);
  }

  /**
   * A network's pools, per family in the order they were made (the request's subnet order:
   * an endpoint's address comes from the first with room, as Docker's). rowid is insertion
   * order here: the table is never VACUUMed, and the v3 rebuild copied it in that order.
   */
  listByNetwork(networkId: string): PoolRow[] {
    return (guard(() => this.st.get(`SELECT ${POOL_COLS} FROM pools WHERE network_id = ? ORDER BY family, rowid`)
      .all(networkId)) as PoolRaw[]).map(poolFromRaw);
  }

  /** The persisted round-robin cursor (the last dynamically allocated address). */
  cursor(id: string): string | undefined {
    const r = guard(() => this.st.get('SELECT cursor FROM pools WHERE id = ?').get(id)) as { cursor: string | null } | undefined;
    return opt(r?.cursor);
  }

  setCursor(id: string, cursor: string | null): void {
    guard(() => this.st.get('UPDATE pools SET cursor = ? WHERE id = ?').run(cursor, id));
  }

  /** Assigns (or with null, unassigns) the pool to a network. */
  setNetwork(id: string, networkId: string | null): void {
    guard(() => {
      try {
        this.st.get('UPDATE pools SET network_id = ? WHERE id = ?').run(networkId, id);
      } catch (err) {
        if (sqliteCode(err) === 'SQLITE_CONSTRAINT_FOREIGNKEY') throw new NotFoundError(`network ${networkId ?? ''} not found`);
        throw err;
      }
    });
  }

  /** Deletes the pool and (cascade) its allocations; false when already gone. */
  remove(id: string): boolean {
    return guard(() => this.st.get('DELETE FROM pools WHERE id = ?').run(id).changes > 0);
  }
}

export class AllocationsRepo {
  constructor(private readonly st: Statements) {}

  /** Inserts a row; ConflictError when the address is taken. */
  insert(a: AllocationRow): void {
    guard(() => {
      try {
        this.st.get('INSERT INTO allocations (pool_id, ip, owner, kind) VALUES (?, ?, ?, ?)').run(a.poolId, a.ip, a.owner, a.kind);
      } catch (err) {
        if (sqliteCode(err) === 'SQLITE_CONSTRAINT_PRIMARYKEY') throw new ConflictError(`address ${a.ip} is already in use`, 'ip');
        throw err;
      }
    });
  }

  /** Primary-key lookup. */
  get(poolId: string, ip: string): AllocationRow | undefined {
    return guard(() => this.st.get('SELECT pool_id AS poolId, ip, owner, kind FROM allocations WHERE pool_id = ? AND ip = ?')
      .get(poolId, ip)) as AllocationRow | undefined;
  }

  /** Primary-key existence check (the allocator's hot path). */
  has(poolId: string, ip: string): boolean {
    return guard(() => this.st.get('SELECT 1 FROM allocations WHERE pool_id = ? AND ip = ?').pluck().get(poolId, ip)) !== undefined;
  }

  /** The owner's first allocation of `kind` in the pool, if any. */
  findOwner(poolId: string, owner: string, kind: AllocationKind = 'endpoint'): AllocationRow | undefined {
    return guard(() => this.st.get(
      'SELECT pool_id AS poolId, ip, owner, kind FROM allocations WHERE owner = ? AND pool_id = ? AND kind = ? LIMIT 1',
    ).get(owner, poolId, kind)) as AllocationRow | undefined;
  }

  listByPool(poolId: string): AllocationRow[] {
    return guard(() => this.st.get('SELECT pool_id AS poolId, ip, owner, kind FROM allocations WHERE pool_id = ?')
      .all(poolId)) as AllocationRow[];
  }

  listByOwner(owner: string): AllocationRow[] {
    return guard(() => this.st.get('SELECT pool_id AS poolId, ip, owner, kind FROM allocations WHERE owner = ?')
      .all(owner)) as AllocationRow[];
  }

  count(poolId: string, kind?: AllocationKind): number {
    return guard(() => kind === undefined
      ? this.st.get('SELECT count(*) FROM allocations WHERE pool_id = ?').pluck().get(poolId)
      : this.st.get('SELECT count(*) FROM allocations WHERE pool_id = ? AND kind = ?').pluck().get(poolId, kind)) as number;
  }

  /** Deletes one row of `kind`; false when not held. */
  remove(poolId: string, ip: string, kind: AllocationKind = 'endpoint'): boolean {
    return guard(() => this.st.get('DELETE FROM allocations WHERE pool_id = ? AND ip = ? AND kind = ?')
      .run(poolId, ip, kind).changes > 0);
  }

  /** Deletes every endpoint allocation of `owner`; returns how many. */
  removeOwner(owner: string): number {
    return guard(() => this.st.get("DELETE FROM allocations WHERE owner = ? AND kind = 'endpoint'").run(owner).changes);
  }
}
