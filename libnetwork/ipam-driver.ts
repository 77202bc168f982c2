/**
 * Docker's remote IpamDriver over tsnet's IPAM and store: the pools Docker gets are
 * ordinary tsnet pools (unassigned until a tsnet-driven Docker network adopts one), so
 * Docker's networks and tsnet's own never overlap. Acts in the store only, except that
 * choosing a default pool reads the host netns' routes (to skip routed subnets).
 */
import { ConfigError, ConflictError, NotFoundError } from '../core/errors.js';
import * as nl from '../core/netlink/index.js';
import { normalizeIp, parseCidr, type Pool } from '../ipam/index.js';
import type { NetworkManager } from '../drivers/index.js';
import { DockerState, IPAM_OWNER } from './state.js';
import { GATEWAY_TYPE, REQUEST_ADDRESS_TYPE, type ReleaseAddressWire, type RequestAddressWire, type RequestPoolWire } from './wire.js';

export const LOCAL_ADDRESS_SPACE = 'tsnet-local';
export const GLOBAL_ADDRESS_SPACE = 'tsnet-global';

/** Options libnetwork itself may add (`com.docker.network.*`) are accepted and kept; others are refused. */
function checkPoolOptions(options: Record<string, string> | null | undefined): Record<string, string> {
  const out = options ?? {};
  for (const k of Object.keys(out)) {
    if (!k.startsWith('com.docker.network.')) throw new ConfigError(`unknown IPAM option "${k}"`, k);
  }
  return out;
}

export class IpamDriverApi {
  constructor(private readonly mgr: NetworkManager, private readonly state: DockerState) {}

  capabilities(): Record<string, unknown> {
    return { RequiresMACAddress: false, RequiresRequestReplay: false };
  }

  defaultAddressSpaces(): Record<string, unknown> {
    return { LocalDefaultAddressSpace: LOCAL_ADDRESS_SPACE, GlobalDefaultAddressSpace: GLOBAL_ADDRESS_SPACE };
  }

  /**
   * A new tsnet pool (no gateway yet: Docker asks for one next) for `Pool`, or for a free
   * default subnet (skipping pools and routed subnets) when none is given; `SubPool` is
   * the dynamic range. ConflictError when it overlaps any pool, tsnet's or Docker's.
   */
  async requestPool(w: RequestPoolWire): Promise<Record<string, unknown>> {
    const space = w.AddressSpace || LOCAL_ADDRESS_SPACE;
    if (space !== LOCAL_ADDRESS_SPACE && space !== GLOBAL_ADDRESS_SPACE) throw new ConfigError(`unknown address space "${space}"`, 'AddressSpace');
    const options = checkPoolOptions(w.Options);
    const family = w.V6 ? 6 : 4;
    if (w.SubPool && !w.Pool) throw new ConfigError('SubPool needs a Pool', 'SubPool');
    let subnet: string | undefined;
    if (w.Pool) {
      const p = parseCidr(w.Pool, 'Pool');
      if (p.family !== family) throw new ConfigError(`Pool ${w.Pool} is not an IPv${family} subnet (V6 is ${String(w.V6 ?? false)})`, 'Pool');
      if (p.hostBits) throw new ConfigError(`invalid Pool ${w.Pool}: host bits set, it should be ${p.cidr}`, 'Pool');
      subnet = p.cidr;
    }
    const routed = subnet ? [] : (await nl.listRoutes(nl.hostNetlink(), family)).map((r) => r.dst).filter((d) => d !== 'default');
    const pool = this.mgr.store.tx(() => {
      const p = this.mgr.ipam.createPool({
        subnet: subnet ?? this.mgr.ipam.defaultSubnet(family, routed), gateway: false, ...(w.SubPool ? { ipRange: w.SubPool } : {}),
      });
      this.state.setPool(p.id, { addressSpace: space, v6: family === 6, ...(w.SubPool ? { subPool: w.SubPool } : {}), options });
      return p;
    });
    return { PoolID: pool.id, Pool: pool.subnet, Data: {} };
  }

  /**
   * Deletes a Docker pool and whatever is still allocated in it. dockerd releases a pool
   * before it deletes the network using it: the pool is then only marked released, and
   * the network's DeleteNetwork deletes it.
   */
  releasePool(w: { PoolID: string }): Record<string, unknown> {
    this.mgr.store.tx(() => {
      const pool = this.dockerPool(w.PoolID);
      const rec = this.state.pool(pool.id);
      if (rec && pool.networkId !== undefined) return this.state.setPool(pool.id, { ...rec, released: true });
      this.mgr.ipam.deletePool(pool.id, { force: true });
      this.state.deletePool(pool.id);
    });
    return {};
  }

  /**
   * A gateway request (Options.RequestAddressType = com.docker.network.gateway) sets the
   * pool's gateway; any other request allocates `Address`, or the next free address.
   * Answers the address with the pool's prefix.
   */
  requestAddress(w: RequestAddressWire): Record<string, unknown> {
    const isGateway = w.Options?.[REQUEST_ADDRESS_TYPE] === GATEWAY_TYPE;
    const address = this.mgr.store.tx(() => {
      const pool = this.dockerPool(w.PoolID);
      if (isGateway) return this.gateway(pool, w.Address || undefined);
      return this.mgr.ipam.allocate(pool.id, { owner: IPAM_OWNER, ...(w.Address ? { ip: w.Address } : {}) }).cidr;
    });
    return { Address: address, Data: {} };
  }

  /** Releases an address RequestAddress gave; the gateway stays with its pool until ReleasePool. */
  releaseAddress(w: ReleaseAddressWire): Record<string, unknown> {
    this.mgr.store.tx(() => {
      const pool = this.dockerPool(w.PoolID);
      const ip = normalizeIp(w.Address.split('/')[0] ?? '', 'Address');
      if (ip === pool.gateway) return;
      const held = this.mgr.store.allocations.get(pool.id, ip);
      if (!held || held.kind !== 'endpoint') throw new NotFoundError(`address ${ip} is not allocated in pool ${pool.subnet}`);
      if (held.owner !== IPAM_OWNER) throw new ConflictError(`address ${ip} is held by ${held.owner}, not by Docker's IPAM`);
      this.mgr.ipam.release(pool.id, ip);
    });
    return {};
  }

  /**
   * Sets (or returns) the pool's gateway. Pools are made without one; setting it re-creates
   * the pool row under the same id with the gateway reserved, which is only allowed while
   * no network uses the pool and no address is allocated in it (Docker asks right after
   * RequestPool). Runs inside the caller's transaction.
   */
  private gateway(pool: Pool, wanted: string | undefined): string {
    const ip = wanted === undefined ? undefined : normalizeIp(wanted, 'Address');
    if (pool.gateway !== undefined && (ip === undefined || ip === pool.gateway)) return `${pool.gateway}/${pool.prefixLen}`;
    if (pool.networkId !== undefined || this.mgr.store.allocations.count(pool.id, 'endpoint') > 0) {
      throw new ConflictError(`pool ${pool.subnet} is in use: its gateway cannot change to ${wanted ?? 'the default'}`, 'Address');
    }
    this.mgr.ipam.deletePool(pool.id);
    const p = this.mgr.ipam.createPool({ id: pool.id, subnet: pool.subnet, ...(pool.ipRange ? { ipRange: pool.ipRange } : {}), ...(ip ? { gateway: ip } : {}) });
    if (!p.gateway) throw new ConfigError(`pool ${pool.subnet} has no room for a gateway`, 'Address');
    return `${p.gateway}/${p.prefixLen}`;
  }

  /** A pool this driver handed out; NotFoundError for any other id (tsnet's own pools included). */
  private dockerPool(id: string): Pool {
    const pool = this.state.pool(id) ? this.mgr.ipam.getPool(id) : undefined;
    if (!pool) throw new NotFoundError(`pool ${id} not found`);
    return pool;
  }
}
