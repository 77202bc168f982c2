/** The `containers` table (the engine's containers; networking lives in endpoints). */
import { ConflictError, NotFoundError } from '../core/errors.js';
import { fromJson, guard, nowIso, sqliteCode, toJson, type Statements } from './sql.js';
import type { ContainerInsert, ContainerPatch, ContainerRow, ContainerState } from './types.js';

interface Raw {
  id: string; name: string; image: string; config: string; state: string; sandbox: string | null;
  pid: number | null; exit_code: number | null; created_at: string; started_at: string | null; finished_at: string | null;
}

const COLS = 'id, name, image, config, state, sandbox, pid, exit_code, created_at, started_at, finished_at';

function fromRaw(r: Raw): ContainerRow {
  return {
    id: r.id, name: r.name, image: r.image, config: fromJson(r.config, {}), state: r.state as ContainerState,
    sandbox: r.sandbox ?? undefined, pid: r.pid ?? undefined, exitCode: r.exit_code ?? undefined,
    createdAt: r.created_at, startedAt: r.started_at ?? undefined, finishedAt: r.finished_at ?? undefined,
  };
}

function params(c: ContainerRow): unknown[] {
  return [c.id, c.name, c.image, toJson(c.config), c.state, c.sandbox ?? null, c.pid ?? null, c.exitCode ?? null,
    c.createdAt, c.startedAt ?? null, c.finishedAt ?? null];
}

export class ContainersRepo {
  constructor(private readonly st: Statements) {}

  /** ConflictError naming the field when the id or the name is taken. */
  insert(r: ContainerInsert): ContainerRow {
    const row: ContainerRow = { config: {}, state: 'created', createdAt: nowIso(), ...r };
    guard(() => {
      try {
        this.st.get(`INSERT INTO containers (${COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(...params(row));
      } catch (err) {
        const code = sqliteCode(err);
        if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
          const byName = err instanceof Error && err.message.includes('containers.name');
          throw byName ? new ConflictError(`container name "${row.name}" is already in use`, 'name') : new ConflictError(`container ${row.id} already exists`, 'id');
        }
        throw err;
      }
    });
    return row;
  }

  /** By exact id, exact name, or a unique id prefix (as Docker). */
  get(ref: string): ContainerRow | undefined {
    const exact = guard(() => this.st.get(`SELECT ${COLS} FROM containers WHERE id = ? OR name = ?`).get(ref, ref)) as Raw | undefined;
    if (exact) return fromRaw(exact);
    if (!/^[0-9a-f]{3,63}$/.test(ref)) return undefined;
    const rows = guard(() => this.st.get(`SELECT ${COLS} FROM containers WHERE id >= ? AND id < ? LIMIT 2`).all(ref, `${ref}g`)) as Raw[];
    return rows.length === 1 && rows[0] ? fromRaw(rows[0]) : undefined;
  }

  list(): ContainerRow[] {
    return guard(() => this.st.get(`SELECT ${COLS} FROM containers ORDER BY created_at DESC, id`).all() as Raw[]).map(fromRaw);
  }

  update(id: string, patch: ContainerPatch): ContainerRow {
    const cur = this.get(id);
    if (!cur) throw new NotFoundError(`container ${id} not found`);
    const next: ContainerRow = { ...cur };
    for (const [k, v] of Object.entries(patch)) {
      if (v === null) delete (next as unknown as Record<string, unknown>)[k];
      else if (v !== undefined) (next as unknown as Record<string, unknown>)[k] = v;
    }
    guard(() => this.st.get(`UPDATE containers SET name = ?, image = ?, config = ?, state = ?, sandbox = ?, pid = ?, exit_code = ?,
      created_at = ?, started_at = ?, finished_at = ? WHERE id = ?`).run(...params(next).slice(1), next.id));
    return next;
  }

  remove(id: string): boolean {
    return guard(() => this.st.get('DELETE FROM containers WHERE id = ?').run(id).changes > 0);
  }
}
