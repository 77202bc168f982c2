/** The `networks` table. */
import { ConfigError, ConflictError, NotFoundError } from '../core/errors.js';
import { fromJson, guard, nowIso, sqliteCode, toJson, type Statements } from './sql.js';
import type { NetworkInsert, NetworkPatch, NetworkRow, NetworkState } from './types.js';

interface Raw {
  id: string; name: string; driver: string; options: string; internal: number; ipv6: number;
  labels: string; state: string; created_at: string;
}

const COLS = 'id, name, driver, options, internal, ipv6, labels, state, created_at';

function fromRaw(r: Raw): NetworkRow {
  return {
    id: r.id, name: r.name, driver: r.driver, options: fromJson(r.options, {}), internal: r.internal === 1,
    ipv6: r.ipv6 === 1, labels: fromJson(r.labels, {}), state: r.state as NetworkState, createdAt: r.created_at,
  };
}

function params(n: NetworkRow): unknown[] {
  return [n.id, n.name, n.driver, toJson(n.options), n.internal ? 1 : 0, n.ipv6 ? 1 : 0, toJson(n.labels), n.state, n.createdAt];
}

function uniqueError(err: unknown, row: NetworkRow): unknown {
  const code = sqliteCode(err);
  if (code !== 'SQLITE_CONSTRAINT_UNIQUE' && code !== 'SQLITE_CONSTRAINT_PRIMARYKEY') return err;
  const msg = err instanceof Error ? err.message : '';
  if (msg.includes('networks.name')) return new ConflictError(`network with name ${row.name} already exists`, 'name');
  return new ConflictError(`network ${row.id} already exists`, 'id');
}

export class NetworksRepo {
  constructor(private readonly st: Statements) {}

  /** Inserts a network; ConflictError when the id or the name is taken. */
  insert(r: NetworkInsert): NetworkRow {
    const row: NetworkRow = {
      options: {}, internal: false, ipv6: false, labels: {}, state: 'ready', createdAt: nowIso(), ...r,
    };
    guard(() => {
      try {
        this.st.get(`INSERT INTO networks (${COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(...params(row));
      } catch (err) {
        throw uniqueError(err, row);
      }
    });
    return row;
  }

  /** By exact name, else by exact id (no prefixes: create's name check uses it). */
  get(idOrName: string): NetworkRow | undefined {
    return this.getByName(idOrName) ?? this.getById(idOrName);
  }

  /**
   * A reference as a person gives it, resolved as Docker does: an exact name, else a full
   * id, else a unique id prefix (`network ls` prints 12 digits). undefined when nothing
   * matches; ConfigError (field 'network') naming how many networks a shared prefix matches.
   */
  resolve(ref: string): NetworkRow | undefined {
    const exact = this.get(ref);
    if (exact || !/^[0-9a-f]{1,63}$/.test(ref)) return exact;
    // Ids are lowercase hex: the ids with this prefix are those in [ref, ref + 'g').
    const rows = guard(() => this.st.get(`SELECT ${COLS} FROM networks WHERE id >= ? AND id < ?`).all(ref, `${ref}g`)) as Raw[];
    if (rows.length > 1) throw new ConfigError(`network id prefix "${ref}" is ambiguous: it matches ${rows.length} networks`, 'network');
    return rows[0] && fromRaw(rows[0]);
  }

  list(): NetworkRow[] {
    return guard(() => this.st.get(`SELECT ${COLS} FROM networks ORDER BY created_at, id`).all() as Raw[]).map(fromRaw);
  }

  /** Merges `patch` into the row; NotFoundError when missing, ConflictError on a name clash. */
  update(id: string, patch: NetworkPatch): NetworkRow {
    const cur = this.getById(id);
    if (!cur) throw new NotFoundError(`network ${id} not found`);
    const row: NetworkRow = { ...cur, ...patch, id, createdAt: cur.createdAt };
    guard(() => {
      try {
        this.st.get(
          'UPDATE networks SET name = ?, driver = ?, options = ?, internal = ?, ipv6 = ?, labels = ?, state = ? WHERE id = ?',
        ).run(...params(row).slice(1, 8), id);
      } catch (err) {
        throw uniqueError(err, row);
      }
    });
    return row;
  }

  /**
   * Deletes the network and (cascade) its pools and allocations. ConflictError while
   * endpoints still reference it. Returns false when it was already gone.
   */
  remove(id: string): boolean {
    return guard(() => {
      try {
        return this.st.get('DELETE FROM networks WHERE id = ?').run(id).changes > 0;
      } catch (err) {
        if (sqliteCode(err) === 'SQLITE_CONSTRAINT_FOREIGNKEY') {
          throw new ConflictError(`network ${id} still has endpoints`);
        }
        throw err;
      }
    });
  }

  private getByName(name: string): NetworkRow | undefined {
    const raw = guard(() => this.st.get(`SELECT ${COLS} FROM networks WHERE name = ?`).get(name)) as Raw | undefined;
    return raw && fromRaw(raw);
  }

  private getById(id: string): NetworkRow | undefined {
    const raw = guard(() => this.st.get(`SELECT ${COLS} FROM networks WHERE id = ?`).get(id)) as Raw | undefined;
    return raw && fromRaw(raw);
  }
}
