/**
 * The `port_mappings` table: published host ports. A host port is held per
 * (proto, host IP, port); the family's wildcard ('0.0.0.0', '::') clashes with every
 * specific address of that family on the same proto/port, and vice versa.
 * Host IPs must be canonical text (ipam's normalizeIp) so equal addresses compare equal.
 */
import { isIP } from 'node:net';
import { ConfigError, ConflictError, NotFoundError } from '../core/errors.js';
import { guard, sqliteCode, type Statements } from './sql.js';
import type { PortFilter, PortMappingRow, Proto } from './types.js';

interface Raw {
  proto: string; host_ip: string; host_port: number; endpoint_id: string; network_id: string;
  container_ip: string; container_port: number;
}

const COLS = 'proto, host_ip, host_port, endpoint_id, network_id, container_ip, container_port';
const PROTOS: readonly string[] = ['tcp', 'udp', 'sctp'];

function fromRaw(r: Raw): PortMappingRow {
  return {
    proto: r.proto as Proto, hostIp: r.host_ip, hostPort: r.host_port, endpointId: r.endpoint_id,
    networkId: r.network_id, containerIp: r.container_ip, containerPort: r.container_port,
  };
}

function isWildcard(ip: string): boolean {
  return ip === '0.0.0.0' || ip === '::';
}

/** True when two host IPs of the same proto/port cannot both be published. */
export function hostIpsClash(a: string, b: string): boolean {
  if (isIP(a) !== isIP(b)) return false;
  return a === b || isWildcard(a) || isWildcard(b);
}

/** True when two mappings cannot both be published: same proto and host port, clashing host IPs. */
export function portsClash(a: Pick<PortMappingRow, 'proto' | 'hostIp' | 'hostPort'>, b: Pick<PortMappingRow, 'proto' | 'hostIp' | 'hostPort'>): boolean {
  return a.proto === b.proto && a.hostPort === b.hostPort && hostIpsClash(a.hostIp, b.hostIp);
}

function validPort(p: unknown): boolean {
  return Number.isInteger(p) && (p as number) >= 1 && (p as number) <= 65535;
}

function validate(r: PortMappingRow): void {
  if (!PROTOS.includes(r.proto)) throw new ConfigError(`invalid protocol ${JSON.stringify(r.proto)}`, 'proto');
  if (!isIP(r.hostIp)) throw new ConfigError(`invalid host IP ${JSON.stringify(r.hostIp)}`, 'hostIp');
  if (!validPort(r.hostPort)) throw new ConfigError(`invalid host port ${String(r.hostPort)}`, 'hostPort');
  if (!isIP(r.containerIp)) throw new ConfigError(`invalid container IP ${JSON.stringify(r.containerIp)}`, 'containerIp');
  if (!validPort(r.containerPort)) throw new ConfigError(`invalid container port ${String(r.containerPort)}`, 'containerPort');
}

function sameMapping(a: PortMappingRow, b: PortMappingRow): boolean {
  return a.hostIp === b.hostIp && a.endpointId === b.endpointId && a.networkId === b.networkId &&
    a.containerIp === b.containerIp && a.containerPort === b.containerPort;
}

/**
 * Two rows of one reservation that clash are the request's own mistake (e.g. `-p 8080:80
 * -p 8080:81`): said so, naming the port, instead of as a clash with the endpoint being
 * made (whose rows are rolled back). An identical row twice is one mapping.
 */
function checkNoTwins(rows: readonly PortMappingRow[]): void {
  rows.forEach((r, i) => {
    const twin = rows.slice(0, i).find((o) => portsClash(o, r) && !sameMapping(o, r));
    if (twin) throw new ConfigError(`port ${r.hostPort}/${r.proto} on ${r.hostIp} is requested twice in this request`, 'hostPort');
  });
}

export class PortsRepo {
  constructor(private readonly st: Statements, private readonly tx: <T>(fn: () => T) => T) {}

  /**
   * Reserves all rows or none (one IMMEDIATE transaction). Re-reserving an identical row
   * is a no-op (idempotent attach). ConflictError naming the holder endpoint on a clash;
   * ConfigError when two of the rows clash with each other.
   */
  reserve(rows: readonly PortMappingRow[]): void {
    for (const r of rows) validate(r);
    checkNoTwins(rows);
    this.tx(() => {
      for (const r of rows) this.reserveOne(r);
    });
  }

  private reserveOne(r: PortMappingRow): void {
    const held = (this.st.get(`SELECT ${COLS} FROM port_mappings WHERE proto = ? AND host_port = ?`)
      .all(r.proto, r.hostPort) as Raw[]).map(fromRaw);
    for (const h of held) {
      if (!hostIpsClash(h.hostIp, r.hostIp)) continue;
      if (sameMapping(h, r)) return;
      const where = h.hostIp === r.hostIp ? '' : ` on ${h.hostIp}`;
      throw new ConflictError(
        `port ${r.hostPort}/${r.proto} on ${r.hostIp} already published by endpoint ${h.endpointId}${where}`, 'hostPort');
    }
    try {
      this.st.get(`INSERT INTO port_mappings (${COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)`)
        .run(r.proto, r.hostIp, r.hostPort, r.endpointId, r.networkId, r.containerIp, r.containerPort);
    } catch (err) {
      if (sqliteCode(err) === 'SQLITE_CONSTRAINT_FOREIGNKEY') throw new NotFoundError(`endpoint ${r.endpointId} not found`);
      throw err;
    }
  }

  /** Deletes the endpoint's mappings and returns them (for removing their firewall rules). */
  releaseEndpoint(endpointId: string): PortMappingRow[] {
    return guard(() => this.st.get(`DELETE FROM port_mappings WHERE endpoint_id = ? RETURNING ${COLS}`)
      .all(endpointId) as Raw[]).map(fromRaw);
  }

  /** Deletes one mapping; false when it was not held. */
  release(proto: Proto, hostIp: string, hostPort: number): boolean {
    return guard(() => this.st.get('DELETE FROM port_mappings WHERE proto = ? AND host_ip = ? AND host_port = ?')
      .run(proto, hostIp, hostPort).changes > 0);
  }

  /** Mappings matching every given filter field, ordered by proto, port, host IP. */
  list(filter: PortFilter = {}): PortMappingRow[] {
    const where: string[] = [];
    const args: unknown[] = [];
    const add = (col: string, v: unknown) => {
      if (v === undefined) return;
      where.push(`${col} = ?`);
      args.push(v);
    };
    add('endpoint_id', filter.endpointId);
    add('network_id', filter.networkId);
    add('proto', filter.proto);
    add('host_port', filter.hostPort);
    const cond = where.length ? ` WHERE ${where.join(' AND ')}` : '';
    return guard(() => this.st.get(`SELECT ${COLS} FROM port_mappings${cond} ORDER BY proto, host_port, host_ip`)
      .all(...args) as Raw[]).map(fromRaw);
  }
}
