/**
 * The address allocator over the state store. Every allocate/release is one IMMEDIATE
 * transaction (a savepoint when the caller already holds one), so several processes
 * can allocate from one pool file at once. Dynamic allocation is round robin from a
 * persisted cursor (like host-local): candidates are checked by primary-key lookup,
 * never by scanning the pool. Nothing here touches the kernel or a netns; the caller
 * releases what it allocated (release / releaseOwner / deletePool).
 */
import { randomBytes } from 'node:crypto';
import { ConfigError, ConflictError, NotFoundError } from '../core/errors.js';
import type { AllocationRow, PoolRow, Store } from '../store/index.js';
import { formatIp, parseIp, type Family } from './cidr.js';
import { pickDefaultSubnet } from './defaults.js';
import { isReservedAddress, rangeAsCidr, rowGeometry, type PoolGeometry } from './pool-geometry.js';
import { validatePoolSpec, type PoolSpec } from './pool-spec.js';

export interface Pool {
  id: string;
  networkId?: string;
  family: Family;
  subnet: string;
  prefixLen: number;
  /** The configured dynamic range as a CIDR, when it is one and smaller than the subnet. */
  ipRange?: string;
  /** Configured dynamic bounds (inclusive, before excluding network/broadcast). */
  rangeStart: string;
  rangeEnd: string;
  gateway?: string;
  aux: Record<string, string>;
}

export interface AllocateRequest {
  /** Who holds the address (an endpoint id, a CNI container id + ifname, ...). */
  owner: string;
  /** A static address; anywhere in the subnet (not only ipRange), as Docker allows. */
  ip?: string;
  /** Return the owner's existing endpoint address in this pool, if it has one. */
  reuse?: boolean;
}

export interface Allocation {
  poolId: string;
  family: Family;
  ip: string;
  prefixLen: number;
  /** ip/prefixLen, e.g. '10.213.0.2/24'. */
  cidr: string;
  gateway?: string;
}

/** Marks gateway and aux rows: never released by releaseOwner, which takes only endpoint rows. */
function poolOwner(id: string): string {
  return `pool:${id}`;
}

export class Ipam {
  private readonly geoCache = new Map<string, { key: string; geo: PoolGeometry }>();

  constructor(private readonly store: Store) {}

  /**
   * Validates and creates a pool, reserving its gateway and aux addresses.
   * ConfigError naming the field; ConflictError (field 'subnet') on overlap with any pool.
   */
  createPool(spec: PoolSpec): Pool {
    const v = validatePoolSpec(spec);
    const id = spec.id ?? randomBytes(8).toString('hex');
    return this.store.tx(() => {
      this.assertNoOverlap(v.family, v.subnet, v.geo, spec.mayOverlap);
      const row: PoolRow = {
        id, family: v.family, subnet: v.subnet, rangeStart: formatIp(v.family, v.geo.rangeStart),
        rangeEnd: formatIp(v.family, v.geo.rangeEnd), aux: v.aux,
      };
      if (spec.networkId !== undefined) row.networkId = spec.networkId;
      if (v.gateway !== undefined) row.gateway = v.gateway;
      this.store.pools.insert(row);
      if (v.gateway !== undefined) this.store.allocations.insert({ poolId: id, ip: v.gateway, owner: poolOwner(id), kind: 'gateway' });
      for (const ip of Object.values(v.aux)) this.store.allocations.insert({ poolId: id, ip, owner: poolOwner(id), kind: 'aux' });
      return this.toPool(row);
    });
  }

  private assertNoOverlap(family: Family, subnet: string, geo: PoolGeometry, mayOverlap?: PoolSpec['mayOverlap']): void {
    for (const p of this.store.pools.list(family)) {
      if (mayOverlap?.(p)) continue;
      const o = this.geometryOf(p);
      if (o.network <= geo.last && geo.network <= o.last) {
        const net = p.networkId ? ` of network ${p.networkId}` : '';
        throw new ConflictError(`subnet ${subnet} overlaps pool ${p.subnet}${net}`, 'subnet');
      }
    }
  }

  /**
   * Deletes a pool and its reservations; false when already gone. ConflictError while
   * endpoint addresses are still allocated, unless `force`.
   */
  deletePool(id: string, opts: { force?: boolean } = {}): boolean {
    return this.store.tx(() => {
      if (!this.store.pools.get(id)) return false;
      const used = this.store.allocations.count(id, 'endpoint');
      if (used > 0 && !opts.force) throw new ConflictError(`pool ${id} still has ${used} allocated address(es)`);
      this.geoCache.delete(id);
      return this.store.pools.remove(id);
    });
  }

  getPool(id: string): Pool | undefined {
    const row = this.store.pools.get(id);
    return row && this.toPool(row);
  }

  poolsOf(networkId: string): Pool[] {
    return this.store.pools.listByNetwork(networkId).map((r) => this.toPool(r));
  }

  listPools(): Pool[] {
    return this.store.pools.list().map((r) => this.toPool(r));
  }

  /** Assigns (null: unassigns) a pool to a network; NotFoundError for unknown ids. */
  assignPool(id: string, networkId: string | null): void {
    this.store.tx(() => {
      if (!this.store.pools.get(id)) throw new NotFoundError(`pool ${id} not found`);
      this.store.pools.setNetwork(id, networkId);
    });
  }

  /** Every row of the pool (endpoint, gateway, aux). */
  allocationsOf(poolId: string): AllocationRow[] {
    return this.store.allocations.listByPool(poolId);
  }

  /**
   * Allocates one address to `req.owner`: the static `req.ip`, or the next free address
   * after the pool's cursor (wrapping). NotFoundError for an unknown pool; ConfigError
   * for a static address outside the subnet; ConflictError when it is taken or the pool
   * is exhausted.
   */
  allocate(poolId: string, req: AllocateRequest): Allocation {
    return this.store.tx(() => {
      const row = this.store.pools.get(poolId);
      if (!row) throw new NotFoundError(`pool ${poolId} not found`);
      const geo = this.geometryOf(row);
      if (req.reuse) {
        const held = this.store.allocations.findOwner(poolId, req.owner);
        if (held) return this.result(row, geo, held.ip);
      }
      const ip = req.ip === undefined ? this.nextFree(row, geo) : this.checkStatic(row, geo, req.ip);
      this.store.allocations.insert({ poolId, ip, owner: req.owner, kind: 'endpoint' });
      if (req.ip === undefined) this.store.pools.setCursor(poolId, ip);
      return this.result(row, geo, ip);
    });
  }

  /**
   * What allocate checks for a static address, without allocating: it parses, lies in the
   * subnet, is not reserved and is free now. Returns the canonical text; the errors name
   * `field` (a front-end's own name for the address, e.g. IPv4Address).
   */
  checkAddress(poolId: string, ip: string, field = 'ip'): string {
    const row = this.store.pools.get(poolId);
    if (!row) throw new NotFoundError(`pool ${poolId} not found`);
    return this.checkStatic(row, this.geometryOf(row), ip, field);
  }

  private checkStatic(row: PoolRow, geo: PoolGeometry, text: string, field = 'ip'): string {
    const ip = parseIp(text, field);
    if (ip.family !== geo.family || ip.value < geo.network || ip.value > geo.last) {
      throw new ConfigError(`address ${text} is not in subnet ${row.subnet}`, field);
    }
    if (isReservedAddress(geo, ip.value)) throw new ConfigError(`address ${text} is reserved in subnet ${row.subnet}`, field);
    const canonical = formatIp(geo.family, ip.value);
    const held = this.store.allocations.get(row.id, canonical);
    if (held) {
      const by = held.kind === 'endpoint' ? '' : ` (${held.kind})`;
      throw new ConflictError(`address ${canonical} is already in use${by}`, field);
    }
    return canonical;
  }

  /** Round robin from the cursor; at most one primary-key lookup per taken address passed. */
  private nextFree(row: PoolRow, geo: PoolGeometry): string {
    const { start, end } = geo;
    const cur = row.cursor === undefined ? undefined : parseIp(row.cursor).value;
    let cand = cur !== undefined && cur >= start && cur < end ? cur + 1n : start;
    for (let left = end - start + 1n; left > 0n; left--) {
      const ip = formatIp(geo.family, cand);
      if (!this.store.allocations.has(row.id, ip)) return ip;
      cand = cand === end ? start : cand + 1n;
    }
    throw new ConflictError(`no free address in pool ${row.subnet}`);
  }

  /** Releases one endpoint address; false when it was not allocated. Gateway/aux stay. */
  release(poolId: string, ip: string): boolean {
    const p = parseIp(ip, 'ip');
    const canonical = formatIp(p.family, p.value);
    return this.store.tx(() => this.store.allocations.remove(poolId, canonical, 'endpoint'));
  }

  /** Releases every endpoint address held by `owner`, in all pools; returns how many. */
  releaseOwner(owner: string): number {
    return this.store.tx(() => this.store.allocations.removeOwner(owner));
  }

  /**
   * A free default subnet (v4: a /24 of 10.213.0.0/16; v6: a /64 of fd74:736e:6574::/48)
   * overlapping no pool and none of `routed` (CIDRs routed on the host; 'default' and /0
   * are ignored). Does not reserve it: run it and createPool in one Store.tx to be atomic.
   */
  defaultSubnet(family: Family, routed: readonly string[] = []): string {
    const pools = this.store.pools.list(family).map((p) => p.subnet);
    return pickDefaultSubnet(family, [...pools, ...routed]);
  }

  private result(row: PoolRow, geo: PoolGeometry, ip: string): Allocation {
    const a: Allocation = { poolId: row.id, family: geo.family, ip, prefixLen: geo.prefixLen, cidr: `${ip}/${geo.prefixLen}` };
    if (row.gateway !== undefined) a.gateway = row.gateway;
    return a;
  }

  private geometryOf(row: PoolRow): PoolGeometry {
    const key = `${row.subnet}|${row.rangeStart}|${row.rangeEnd}`;
    const hit = this.geoCache.get(row.id);
    if (hit && hit.key === key) return hit.geo;
    const geo = rowGeometry(row);
    this.geoCache.set(row.id, { key, geo });
    return geo;
  }

  private toPool(row: PoolRow): Pool {
    const geo = this.geometryOf(row);
    const p: Pool = {
      id: row.id, family: row.family, subnet: row.subnet, prefixLen: geo.prefixLen,
      rangeStart: row.rangeStart, rangeEnd: row.rangeEnd, aux: row.aux,
    };
    const ipRange = rangeAsCidr(geo);
    if (ipRange !== undefined) p.ipRange = ipRange;
    if (row.networkId !== undefined) p.networkId = row.networkId;
    if (row.gateway !== undefined) p.gateway = row.gateway;
    return p;
  }
}
