/**
 * What tsnet's CNI plugins share: the host they act through (a NetworkManager: the daemon's,
 * or one a standalone process opens on TSNET_ROOT), deterministic endpoint ids from
 * (network, container, ifname) so DEL / CHECK / GC find what ADD made, CNI networks as tsnet
 * networks created on first ADD, and the sandbox routes CNI asks for.
 * Kernel work happens in the host netns (the manager's) and in CNI_NETNS.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { ConfigError, TryAgainError, isTsnetError, log } from '../../core/index.js';
import { isNetns } from '../../core/netns/index.js';
import { cidrsOverlap, parseCidr, type PoolSpec } from '../../ipam/index.js';
import { CNI_KIND_LABEL, isCniNetwork, type CreateNetworkRequest, type NetworkInfo, type NetworkManager } from '../../drivers/index.js';
import { CNI_ERR, CniError } from '../skel/errors.js';
import type { CniEnv } from '../skel/env.js';
import type { Attachment } from '../skel/dispatch.js';
import type { ResolvedRange } from './ipam-conf.js';
import { claimCreation, creationClaimed, releaseCreation } from './network-claim.js';

/** What the plugins act through. The daemon hands its own manager; standalone opens one. */
export interface CniHost {
  manager(): NetworkManager;
}

/** Ids of tsnet-ipam's pools start with this (cni/plugins/ipam.ts). */
export const CNI_IPAM_POOL_PREFIX = 'cni-ipam:';

/**
 * Which existing pools a CNI network's may overlap: other CNI networks' and tsnet-ipam's, as
 * host-local keeps each network's addresses apart and the reference plugins allow the same
 * subnet in two networks (two VLANs on macvlan; a network re-made under another name while
 * the old one's record stays). Never an engine or Docker network's.
 */
export function cniMayOverlap(mgr: NetworkManager): NonNullable<PoolSpec['mayOverlap']> {
  return (p) => p.id.startsWith(CNI_IPAM_POOL_PREFIX) || (p.networkId !== undefined && isCniNetwork(mgr.store.networks.get(p.networkId)?.labels ?? {}));
}

/** Deterministic endpoint id (64 hex) of an attachment of `kind` on CNI network `name`. */
export function endpointId(kind: string, name: string, containerId: string, ifname: string): string {
  return createHash('sha256').update(`tsnet-cni\0${kind}\0${name}\0${containerId}\0${ifname}`).digest('hex');
}

/** The ids of GC's valid attachments for (kind, name). */
export function validIds(kind: string, name: string, valid: readonly Attachment[]): Set<string> {
  return new Set(valid.map((a) => endpointId(kind, name, a.containerID, a.ifname)));
}

/** The tsnet network behind CNI network `name` of plugin kind `kind` ("cni-bridge-mynet"). */
export function networkName(kind: string, name: string): string {
  return `cni-${kind}-${name}`;
}

/** ADD/CHECK need CNI_NETNS to be a network namespace: code 3 when it is gone, 4 when it is something else. */
export function requireNetns(env: CniEnv): void {
  if (!existsSync(env.netns)) throw new CniError(CNI_ERR.UNKNOWN_CONTAINER, `netns ${env.netns} does not exist`, 'CNI_NETNS');
  if (!isNetns(env.netns)) throw new CniError(CNI_ERR.INVALID_ENV, `CNI_NETNS ${env.netns} is not a network namespace`, 'CNI_NETNS');
}

export interface CniNetworkSpec {
  kind: string;
  confName: string;
  driver: string;
  options: Record<string, string>;
  ranges: ResolvedRange[][];
}

const READY_KEY = 'cni.ready:';
const FINGERPRINT = 'tsnet.cni.fingerprint';
const WAIT_MS = 15_000;

function fingerprint(spec: CniNetworkSpec): string {
  const ranges = spec.ranges.map((set) => set.map((r) => [r.subnet, r.rangeStart ?? '', r.rangeEnd ?? '', r.gateway ?? '']));
  return createHash('sha256').update(JSON.stringify([spec.driver, Object.entries(spec.options).sort(), ranges])).digest('hex').slice(0, 32);
}

/**
 * Whether the network has a subnet of a family none of the ranges has: older versions gave
 * a conf with only IPv6 ranges a default IPv4 subnet too (every pod got an IPv4 address).
 */
function strayFamily(net: NetworkInfo, spec: CniNetworkSpec): boolean {
  const families = new Set(spec.ranges.flat().map((r) => r.family));
  return families.size > 0 && net.subnets.some((s) => !families.has(s.family));
}

/**
 * The tsnet network of a CNI network, made on first use (kernel objects in the host netns,
 * pools in the store); the caller never removes it (as the reference bridge keeps cni0).
 * Concurrent first ADDs (other processes included) wait for the one that creates it. A
 * network recorded with another configuration is replaced while it has no endpoints,
 * otherwise it is code 7 (one an older version gave a stray default subnet is replaced while
 * unused, and kept as it is while it has attachments).
 */
export async function ensureCniNetwork(mgr: NetworkManager, spec: CniNetworkSpec): Promise<NetworkInfo> {
  const name = networkName(spec.kind, spec.confName);
  const fp = fingerprint(spec);
  for (let attempt = 0; attempt < 3; attempt++) {
    const existing = await waitReady(mgr, name);
    if (existing) {
      const count = () => mgr.store.endpoints.listByNetwork(existing.id).length; // not on the hot path
      if (existing.labels[FINGERPRINT] === fp) {
        if (!strayFamily(existing, spec) || count() > 0) return existing;
        log.info({ network: name }, 'cni network has a default subnet of a family its ranges lack (made by an older tsnet); re-creating it while unused');
        await removeCniNetwork(mgr, existing);
        continue;
      }
      const n = count();
      if (n > 0) {
        throw new ConfigError(`CNI network "${spec.confName}" exists with another configuration (ranges or ${spec.kind} options changed) and has ${n} attachment(s); remove them first`, 'ipam.ranges');
      }
      log.info({ network: name }, 'cni network configuration changed; re-creating it');
      await removeCniNetwork(mgr, existing);
      continue;
    }
    const claim = claimCreation(mgr, name);
    if (claim === undefined) continue; // another call claimed it meanwhile: wait for that one
    try {
      const left = mgr.store.networks.get(name);
      if (left && isReady(mgr, left)) continue; // made by a claim that ended meanwhile
      // What a creator that died left (claimed by this call now): undone, then made again.
      if (left) await removeCniNetwork(mgr, mgr.getNetwork(left.id));
      return await createCniNetwork(mgr, spec, name, fp);
    } catch (err) {
      if (isTsnetError(err) && err.code === 'conflict' && err.field === 'name') continue; // another process won
      throw err;
    } finally {
      releaseCreation(mgr, name, claim);
    }
  }
  throw new TryAgainError(`network ${name} is being changed by another process`);
}

async function createCniNetwork(mgr: NetworkManager, spec: CniNetworkSpec, name: string, fp: string): Promise<NetworkInfo> {
  const ranges = spec.ranges.map((set) => {
    if (set.length > 1) throw new CniError(CNI_ERR.UNSUPPORTED_FIELD, `unsupported field ${set[1]?.field ?? 'ipam.ranges'}: tsnet-${spec.kind} takes one range per range set`, set[1]?.field ?? 'ipam.ranges');
    return set[0] as ResolvedRange;
  });
  refuseSharedSubnets(ranges, spec.kind);
  const req: CreateNetworkRequest = {
    // Exactly the families of the ranges, as host-local: an IPv6-only conf gets no IPv4 default.
    name, driver: spec.driver, options: spec.options, ipv6: ranges.some((r) => r.family === 6),
    ...(ranges.length > 0 ? { ipv4: ranges.some((r) => r.family === 4) } : {}),
    labels: { 'tsnet.cni.name': spec.confName, [CNI_KIND_LABEL]: spec.kind, [FINGERPRINT]: fp },
    ...(ranges.length > 0 ? { subnets: ranges.map((r) => ({ subnet: r.subnet, ...(r.gateway ? { gateway: r.gateway } : {}) })) } : {}),
    mayOverlap: cniMayOverlap(mgr),
  };
  let net = await mgr.createNetwork(req);
  try {
    narrowRanges(mgr, net, ranges);
    net = mgr.getNetwork(net.id);
  } catch (err) {
    await removeCniNetwork(mgr, net).catch(() => undefined);
    throw err;
  }
  mgr.store.kv.set(READY_KEY + net.id, fp);
  return net;
}

/**
 * Code 2 for two range sets whose subnets overlap, even with disjoint ranges: the network's
 * pools and static addresses are matched by subnet alone, so one set's bounds went to the
 * other's pool (the first handed out its whole subnet) and a static address went to both.
 * tsnet-ipam, a pool per range, takes them.
 */
function refuseSharedSubnets(ranges: ResolvedRange[], kind: string): void {
  ranges.forEach((r, k) => {
    const other = ranges.slice(0, k).find((o) => cidrsOverlap(o.subnet, r.subnet));
    if (other) {
      const field = `${r.field}.subnet`;
      throw new CniError(CNI_ERR.UNSUPPORTED_FIELD, `unsupported field ${field}: tsnet-${kind} takes range sets of disjoint subnets, ${r.subnet} overlaps ${other.subnet} of ${other.field}`, field);
    }
  });
}

/**
 * The manager's subnets take no rangeStart/rangeEnd: before the network is marked ready (no
 * endpoint can exist yet), each pool with host-local bounds is re-made with them, same id.
 */
function narrowRanges(mgr: NetworkManager, net: NetworkInfo, ranges: ResolvedRange[]): void {
  const bounded = ranges.filter((r) => r.rangeStart || r.rangeEnd);
  if (bounded.length === 0) return;
  mgr.store.tx(() => {
    for (const r of bounded) {
      const pool = mgr.ipam.poolsOf(net.id).find((p) => p.subnet === normalizeSubnet(r.subnet));
      if (!pool) continue;
      mgr.ipam.deletePool(pool.id);
      mgr.ipam.createPool({
        id: pool.id, networkId: net.id, subnet: pool.subnet, gateway: pool.gateway ?? false, mayOverlap: cniMayOverlap(mgr),
        ...(r.rangeStart ? { rangeStart: r.rangeStart } : {}), ...(r.rangeEnd ? { rangeEnd: r.rangeEnd } : {}),
      });
    }
  });
}

function normalizeSubnet(s: string): string {
  return parseCidr(s, 'subnet').cidr;
}

/** Removes a CNI network that has no endpoints (rules, bridge, pools, record). */
export async function removeCniNetwork(mgr: NetworkManager, net: NetworkInfo): Promise<void> {
  await mgr.removeNetwork(net.id);
  mgr.store.kv.delete(READY_KEY + net.id);
}

function isReady(mgr: NetworkManager, row: { id: string; state: string }): boolean {
  return row.state === 'ready' && mgr.store.kv.get(READY_KEY + row.id) !== undefined;
}

/**
 * The network once it is ready, waiting (bounded) while a live call creates it; undefined
 * when there is none to wait for: absent, or left half-made by a creator that died.
 */
async function waitReady(mgr: NetworkManager, name: string): Promise<NetworkInfo | undefined> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const row = mgr.store.networks.get(name);
    if (row && isReady(mgr, row)) return mgr.getNetwork(row.id);
    if (!creationClaimed(mgr, name)) return undefined;
    if (Date.now() > deadline) throw new TryAgainError(`network ${name} is still being created by another process`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * The manager for a STATUS verb: a store that cannot be opened (TSNET_ROOT not a directory,
 * not a database...) means the plugin cannot serve ADD, which STATUS reports as code 50.
 */
export function managerForStatus(host: CniHost): NetworkManager {
  try {
    return host.manager();
  } catch (err) {
    throw new CniError(CNI_ERR.NOT_AVAILABLE, `the store cannot be opened: ${err instanceof Error ? err.message : String(err)}`, 'TSNET_ROOT');
  }
}

/** The CNI network's tsnet network if it exists (DEL, CHECK, GC never create it). */
export function findCniNetwork(mgr: NetworkManager, kind: string, confName: string): NetworkInfo | undefined {
  const row = mgr.store.networks.get(networkName(kind, confName));
  return row ? mgr.getNetwork(row.id) : undefined;
}

/**
 * An ADD for an attachment the store already has: a stale record (its netns gone, or another
 * netns) is released first; a live one is code 102 (the interface exists).
 */
export async function releaseStale(mgr: NetworkManager, id: string, env: CniEnv, what: string): Promise<void> {
  const ep = mgr.getEndpoint(id);
  if (!ep) return;
  const p = ep.placement;
  if (p.kind === 'netns' && p.netnsPath === env.netns && isNetns(p.netnsPath)) {
    throw new CniError(CNI_ERR.CONFLICT, `container ${env.containerId} already has interface ${env.ifname} on ${what}`, 'CNI_IFNAME');
  }
  log.info({ endpoint: id }, 'releasing a stale cni attachment before ADD');
  await mgr.detach(id);
}

