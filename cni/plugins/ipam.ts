/**
 * tsnet-ipam as an IPAM plugin for any main plugin (the reference bridge, macvlan, ptp...):
 * host-local's configuration, allocations kept in the tsnet store instead of files (so
 * several hosts' processes and the daemon share them safely). Pools are keyed by the
 * network name: "cni-ipam:<name>:<set>:<range>"; an address's owner is
 * "cni:<name>:<containerID>:<ifname>". Touches no netns; the store only.
 * (tsnet-bridge and tsnet-macvlan do not exec it: they allocate in-process.)
 */
import { createHash } from 'node:crypto';
import { ConfigError, ConflictError, isTsnetError } from '../../core/index.js';
import { cidrContains, parseIp, type Pool } from '../../ipam/index.js';
import type { NetworkManager } from '../../drivers/index.js';
import { baseSchema, compileSchema, validate, invalid, type BaseConf } from '../skel/config.js';
import { CNI_ERR, CniError } from '../skel/errors.js';
import type { CniPlugin, PluginRequest } from '../skel/dispatch.js';
import type { CniIpConfig, CniResult } from '../skel/result.js';
import { CNI_IPAM_POOL_PREFIX, cniMayOverlap, managerForStatus, type CniHost } from './common.js';
import { poolHasFree } from './main-common.js';
import { assignRequested, effectiveRanges, ipamDns, ipamRoutes, ipamSchema, requestedIps, type IpamConf, type ResolvedRange } from './ipam-conf.js';

export interface IpamPluginConf extends BaseConf {
  ipam: IpamConf;
}

const schema = { allOf: [baseSchema, { type: 'object', required: ['ipam'], properties: { ipam: ipamSchema } }] };
let compiled: ReturnType<typeof compileSchema> | undefined;

function parse(raw: Record<string, unknown>): IpamPluginConf {
  compiled ??= compileSchema(schema);
  return validate<IpamPluginConf>(compiled, raw);
}

const poolPrefix = (name: string) => `${CNI_IPAM_POOL_PREFIX}${name}:`;
export const ipamOwner = (name: string, containerId: string, ifname: string) => `cni:${name}:${containerId}:${ifname}`;
const FP_KEY = 'cni-ipam.fingerprint:';

function setsOf(req: PluginRequest<IpamPluginConf>): ResolvedRange[][] {
  const sets = effectiveRanges(req.conf, req.conf.ipam);
  if (sets.length === 0) throw invalid('ipam.ranges', 'is required (at least one range set)');
  return sets;
}

/** The pools of each range set, made (or re-made, while unused) to match the configuration. */
function ensurePools(mgr: NetworkManager, name: string, sets: ResolvedRange[][]): Pool[][] {
  const fp = createHash('sha256').update(JSON.stringify(sets.map((s) => s.map((r) => [r.subnet, r.rangeStart, r.rangeEnd, r.gateway])))).digest('hex');
  return mgr.store.tx(() => {
    const mine = poolsOf(mgr, name);
    if (mgr.store.kv.get(FP_KEY + name) !== fp) {
      for (const p of mine) {
        const used = mgr.ipam.allocationsOf(p.id).filter((a) => a.kind === 'endpoint').length;
        if (used > 0) throw new ConfigError(`IPAM ranges of network "${name}" changed while ${used} address(es) of ${p.subnet} are in use; release them first`, 'ipam.ranges');
        mgr.ipam.deletePool(p.id);
      }
      sets.forEach((set, i) => set.forEach((r, j) => {
        try {
          mgr.ipam.createPool({
            id: `${poolPrefix(name)}${i}:${j}`, subnet: r.subnet, ...(r.rangeStart ? { rangeStart: r.rangeStart } : {}),
            ...(r.rangeEnd ? { rangeEnd: r.rangeEnd } : {}), ...(r.gateway ? { gateway: r.gateway } : {}),
            mayOverlap: cniMayOverlap(mgr),
          });
        } catch (err) {
          if (isTsnetError(err) && err.code === 'conflict') throw new CniError(CNI_ERR.CONFLICT, `${r.field}.subnet: ${err.message}`, `${r.field}.subnet`);
          throw err;
        }
      }));
      mgr.store.kv.set(FP_KEY + name, fp);
    }
    return sets.map((set, i) => set.map((_r, j) => mgr.ipam.getPool(`${poolPrefix(name)}${i}:${j}`)).filter((p): p is Pool => p !== undefined));
  });
}

function poolsOf(mgr: NetworkManager, name: string): Pool[] {
  return mgr.ipam.listPools().filter((p) => p.id.startsWith(poolPrefix(name)));
}

/**
 * The pool whose range (rangeStart-rangeEnd as stored) holds `ip`. Not the first pool of its
 * subnet: split ranges of one subnet are pools of their own, and an address recorded in
 * another range's pool is one this range's pool would hand out again.
 */
function poolHolding(pools: Pool[], ip: string): Pool | undefined {
  const v = parseIp(ip, 'ips').value;
  return pools.find((p) => cidrContains(p.subnet, ip) && v >= parseIp(p.rangeStart).value && v <= parseIp(p.rangeEnd).value);
}

function allocateSet(mgr: NetworkManager, pools: Pool[], owner: string, ip: string | undefined, i: number): CniIpConfig {
  if (ip !== undefined) {
    const pool = poolHolding(pools, ip);
    if (!pool) throw invalid('ips', `requested address ${ip} is in no range of range set ${i}`);
    const a = mgr.ipam.allocate(pool.id, { owner, ip });
    return { address: a.cidr, ...(a.gateway ? { gateway: a.gateway } : {}) };
  }
  for (const pool of pools) {
    try {
      const a = mgr.ipam.allocate(pool.id, { owner });
      return { address: a.cidr, ...(a.gateway ? { gateway: a.gateway } : {}) };
    } catch (err) {
      if (!(isTsnetError(err) && err.code === 'conflict')) throw err;
    }
  }
  throw new ConflictError(`no free address in range set ${i} (${pools.map((p) => p.subnet).join(', ')})`);
}

async function add(req: PluginRequest<IpamPluginConf>, host: CniHost): Promise<CniResult> {
  const { conf, env } = req;
  const sets = setsOf(req);
  const wanted = assignRequested(sets, requestedIps(conf, req.args));
  const routes = ipamRoutes(conf.ipam);
  const dns = ipamDns(conf.ipam);
  const mgr = host.manager();
  const owner = ipamOwner(conf.name, env.containerId, env.ifname);
  const pools = ensurePools(mgr, conf.name, sets);
  const ips = mgr.store.tx(() => {
    if (mgr.store.allocations.listByOwner(owner).length > 0) {
      throw new CniError(CNI_ERR.CONFLICT, `container ${env.containerId} interface ${env.ifname} already has addresses on ${conf.name}; duplicate allocation is not allowed`, 'CNI_CONTAINERID');
    }
    return pools.map((set, i) => allocateSet(mgr, set, owner, wanted.get(i), i));
  });
  return { ips, routes, ...(dns ? { dns } : {}) };
}

async function del(req: PluginRequest<IpamPluginConf>, host: CniHost): Promise<void> {
  host.manager().ipam.releaseOwner(ipamOwner(req.conf.name, req.env.containerId, req.env.ifname));
}

async function check(req: PluginRequest<IpamPluginConf>, host: CniHost): Promise<void> {
  const { conf, env } = req;
  const mgr = host.manager();
  const held = mgr.store.allocations.listByOwner(ipamOwner(conf.name, env.containerId, env.ifname));
  const mine = poolsOf(mgr, conf.name);
  const sets = setsOf(req);
  sets.forEach((_s, i) => {
    const ids = new Set(mine.filter((p) => p.id.startsWith(`${poolPrefix(conf.name)}${i}:`)).map((p) => p.id));
    if (!held.some((a) => ids.has(a.poolId))) {
      throw new CniError(CNI_ERR.NOT_FOUND, `container ${env.containerId} interface ${env.ifname} holds no address of range set ${i} on ${conf.name}`, 'CNI_CONTAINERID');
    }
  });
  for (const ip of req.prevResult?.ips ?? []) {
    const addr = ip.address.split('/')[0] ?? '';
    const inOurPools = mine.some((p) => cidrContains(p.subnet, addr));
    if (inOurPools && !held.some((a) => parseIp(a.ip).value === parseIp(addr).value)) {
      throw new CniError(CNI_ERR.CONFLICT, `prevResult address ${ip.address} is not allocated to container ${env.containerId}`, 'prevResult.ips');
    }
  }
}

async function gc(req: PluginRequest<IpamPluginConf>, host: CniHost): Promise<void> {
  const mgr = host.manager();
  const name = req.conf.name;
  const keep = new Set((req.validAttachments ?? []).map((a) => ipamOwner(name, a.containerID, a.ifname)));
  mgr.store.tx(() => {
    for (const p of poolsOf(mgr, name)) {
      for (const a of mgr.ipam.allocationsOf(p.id)) if (a.kind === 'endpoint' && !keep.has(a.owner)) mgr.ipam.release(p.id, a.ip);
    }
  });
}

async function status(req: PluginRequest<IpamPluginConf>, host: CniHost): Promise<void> {
  const mgr = managerForStatus(host);
  const mine = poolsOf(mgr, req.conf.name);
  if (mine.length === 0) return;
  const sets = new Map<string, boolean>();
  for (const p of mine) {
    const set = p.id.split(':').slice(0, -1).join(':');
    sets.set(set, (sets.get(set) ?? false) || poolHasFree(mgr, p));
  }
  for (const [set, free] of sets) {
    if (!free) throw new CniError(CNI_ERR.NOT_AVAILABLE, `range set ${set.split(':').pop() ?? ''} of ${req.conf.name} has no free address left`, 'ipam.ranges');
  }
}

export const ipamPlugin: CniPlugin<IpamPluginConf, CniHost> = {
  name: 'tsnet-ipam',
  knownArgs: ['IP'],
  parse, add, del, check, gc, status,
};
