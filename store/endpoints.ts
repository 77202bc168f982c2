/** The `endpoints` table. */
import { ConflictError, NotFoundError } from '../core/errors.js';
import { fromJson, guard, nowIso, opt, sqliteCode, toJson, type Statements } from './sql.js';
import type { EndpointInsert, EndpointPatch, EndpointRow, EndpointState } from './types.js';

interface Raw {
  id: string; network_id: string; sandbox: string | null; ifname: string | null; host_ifname: string | null;
  mac: string | null; addrs: string; options: string; state: string; created_at: string;
}

const COLS = 'id, network_id, sandbox, ifname, host_ifname, mac, addrs, options, state, created_at';

function fromRaw(r: Raw): EndpointRow {
  const row: EndpointRow = {
    id: r.id, networkId: r.network_id, addrs: fromJson(r.addrs, []), options: fromJson(r.options, {}),
    state: r.state as EndpointState, createdAt: r.created_at,
  };
  const sandbox = opt(r.sandbox), ifname = opt(r.ifname), hostIfname = opt(r.host_ifname), mac = opt(r.mac);
  if (sandbox !== undefined) row.sandbox = sandbox;
  if (ifname !== undefined) row.ifname = ifname;
  if (hostIfname !== undefined) row.hostIfname = hostIfname;
  if (mac !== undefined) row.mac = mac;
  return row;
}

function params(e: EndpointRow): unknown[] {
  return [e.id, e.networkId, e.sandbox ?? null, e.ifname ?? null, e.hostIfname ?? null, e.mac ?? null,
    toJson(e.addrs), toJson(e.options), e.state, e.createdAt];
}

function insertError(err: unknown, row: EndpointRow): unknown {
  const code = sqliteCode(err);
  if (code === 'SQLITE_CONSTRAINT_PRIMARYKEY') return new ConflictError(`endpoint ${row.id} already exists`, 'id');
  if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY') return new NotFoundError(`network ${row.networkId} not found`);
  return err;
}

/** Applies a patch; `null` clears an optional field. */
function merge(cur: EndpointRow, patch: EndpointPatch): EndpointRow {
  const row: EndpointRow = { ...cur };
  for (const k of ['sandbox', 'ifname', 'hostIfname', 'mac'] as const) {
    const v = patch[k];
    if (v === null) delete row[k];
    else if (v !== undefined) row[k] = v;
  }
  if (patch.addrs) row.addrs = patch.addrs;
  if (patch.options) row.options = patch.options;
  if (patch.state) row.state = patch.state;
  return row;
}

export class EndpointsRepo {
  constructor(private readonly st: Statements) {}

  /** Inserts an endpoint (state defaults to 'attaching'); NotFoundError for an unknown network. */
  insert(r: EndpointInsert): EndpointRow {
    const row: EndpointRow = { addrs: [], options: {}, state: 'attaching', createdAt: nowIso(), ...r };
    guard(() => {
      try {
        this.st.get(`INSERT INTO endpoints (${COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(...params(row));
      } catch (err) {
        throw insertError(err, row);
      }
    });
    return row;
  }

  get(id: string): EndpointRow | undefined {
    const raw = guard(() => this.st.get(`SELECT ${COLS} FROM endpoints WHERE id = ?`).get(id)) as Raw | undefined;
    return raw && fromRaw(raw);
  }

  listByNetwork(networkId: string): EndpointRow[] {
    return guard(() => this.st.get(`SELECT ${COLS} FROM endpoints WHERE network_id = ? ORDER BY created_at, id`)
      .all(networkId) as Raw[]).map(fromRaw);
  }

  listBySandbox(sandbox: string): EndpointRow[] {
    return guard(() => this.st.get(`SELECT ${COLS} FROM endpoints WHERE sandbox = ? ORDER BY created_at, id`)
      .all(sandbox) as Raw[]).map(fromRaw);
  }

  list(): EndpointRow[] {
    return guard(() => this.st.get(`SELECT ${COLS} FROM endpoints ORDER BY created_at, id`).all() as Raw[]).map(fromRaw);
  }

  /** Merges `patch` into the row; NotFoundError when missing. */
  update(id: string, patch: EndpointPatch): EndpointRow {
    const cur = this.get(id);
    if (!cur) throw new NotFoundError(`endpoint ${id} not found`);
    const row = merge(cur, patch);
    guard(() => this.st.get(
      'UPDATE endpoints SET sandbox = ?, ifname = ?, host_ifname = ?, mac = ?, addrs = ?, options = ?, state = ? WHERE id = ?',
    ).run(...params(row).slice(2, 9), id));
    return row;
  }

  /** Deletes the endpoint and (cascade) its port mappings. False when already gone. */
  remove(id: string): boolean {
    return guard(() => this.st.get('DELETE FROM endpoints WHERE id = ?').run(id).changes > 0);
  }
}
