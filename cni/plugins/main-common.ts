/**
 * What the main plugins (tsnet-bridge, tsnet-macvlan) share: reading the requested addresses,
 * MAC, routes and DNS and attaching (ADD); DEL, CHECK (the attachment in the store, the kernel
 * through the manager's check and the prevResult must agree), GC and STATUS.
 */
import * as nl from '../../core/netlink/index.js';
import { closeNetns, netlinkIn, openNetns } from '../../core/netns/index.js';
import { cidrContains, normalizeIp, parseCidr, parseIp, rowGeometry, type Pool } from '../../ipam/index.js';
import { checkMac, type EndpointInfo, type NetworkInfo, type NetworkManager, type RouteRequest } from '../../drivers/index.js';
import { CNI_ERR, CniError } from '../skel/errors.js';
import type { PluginRequest } from '../skel/dispatch.js';
import { invalid, type BaseConf } from '../skel/config.js';
import { dnsIsSet, type CniDns, type CniRoute } from '../skel/result.js';
import { endpointId, ensureCniNetwork, findCniNetwork, managerForStatus, releaseStale, requireNetns, validIds, type CniHost, type CniNetworkSpec } from './common.js';
import { assignRequested, effectiveRanges, ipamDns, ipamRoutes, requestedIps, type IpamConf, type ResolvedRange } from './ipam-conf.js';

type Verb = (req: PluginRequest<BaseConf>, host: CniHost) => Promise<void>;

/**
 * DEL, CHECK, GC and STATUS of a main plugin whose attachments are the endpoints of the
 * tsnet network `cni-<kind>-<name>` (one endpoint per container id + ifname).
 */
export function attachmentVerbs(kind: string): { del: Verb; check: Verb; gc: Verb; status: Verb } {
  const idOf = (req: PluginRequest<BaseConf>) => endpointId(kind, req.conf.name, req.env.containerId, req.env.ifname);
  return {
    async del(req, host) {
      await host.manager().detach(idOf(req));
    },
    async check(req, host) {
      requireNetns(req.env);
      await checkAttachment(host.manager(), idOf(req), req, `network ${req.conf.name}`);
    },
    async gc(req, host) {
      const mgr = host.manager();
      const net = findCniNetwork(mgr, kind, req.conf.name);
      if (!net) return;
      const keep = validIds(kind, req.conf.name, req.validAttachments ?? []);
      for (const ep of mgr.listEndpoints(net.id)) if (!keep.has(ep.id)) await mgr.detach(ep.id);
    },
    async status(req, host) {
      const mgr = managerForStatus(host);
      const net = findCniNetwork(mgr, kind, req.conf.name);
      if (net && !poolsAvailable(mgr, net)) {
        throw new CniError(CNI_ERR.NOT_AVAILABLE, `network ${req.conf.name} has no free address left`, 'ipam');
      }
    },
  };
}

/**
 * Code 7 without prevResult, 103 when the store has no such attachment, 102 when the kernel,
 * the store and prevResult disagree (interface, MAC, addresses, netns).
 */
export async function checkAttachment(mgr: NetworkManager, id: string, req: PluginRequest, what: string): Promise<void> {
  const { env } = req;
  const prev = req.prevResult;
  if (!prev) throw new CniError(CNI_ERR.INVALID_CONFIG, 'prevResult: CHECK needs the result of ADD as prevResult', 'prevResult');
  const ep = mgr.getEndpoint(id);
  if (!ep) throw new CniError(CNI_ERR.NOT_FOUND, `no attachment of container ${env.containerId} interface ${env.ifname} on ${what}`, 'CNI_CONTAINERID');
  if (ep.placement.kind === 'netns' && ep.placement.netnsPath !== env.netns) {
    throw new CniError(CNI_ERR.CONFLICT, `interface ${env.ifname} was attached in ${ep.placement.netnsPath}, not ${env.netns}`, 'CNI_NETNS');
  }
  await mgr.check(id);
  const idx = (prev.interfaces ?? []).findIndex((i) => i.name === env.ifname && i.sandbox === env.netns);
  if (idx < 0) throw new CniError(CNI_ERR.CONFLICT, `prevResult has no interface ${env.ifname} in ${env.netns}`, 'prevResult.interfaces');
  const iface = prev.interfaces?.[idx];
  if (iface?.mac && iface.mac.toLowerCase() !== ep.mac.toLowerCase()) {
    throw new CniError(CNI_ERR.CONFLICT, `prevResult says ${env.ifname} has MAC ${iface.mac}, it has ${ep.mac}`, 'prevResult.interfaces');
  }
  const want = new Set((prev.ips ?? []).filter((ip) => ip.interface === idx).map((ip) => ip.address));
  const have = new Set(ep.addresses.map((a) => a.cidr));
  for (const a of want) if (!have.has(a)) throw new CniError(CNI_ERR.CONFLICT, `prevResult address ${a} is not on ${env.ifname}`, 'prevResult.ips');
  await checkRoutes(env.netns, prev.routes ?? []);
}

/**
 * Each route of prevResult is in the container's main table, as the reference CHECK requires:
 * same destination and, when given, same gateway (a default route by destination alone).
 * Routes a 1.1 result puts in another table are not looked for (no tsnet plugin makes them).
 */
async function checkRoutes(netnsPath: string, all: readonly CniRoute[]): Promise<void> {
  const routes = [...all.entries()].filter(([, r]) => r.table === undefined || r.table === nl.RT_TABLE_MAIN);
  if (routes.length === 0) return;
  const fd = openNetns(netnsPath);
  const h = netlinkIn(fd);
  try {
    const have = [...(await nl.listRoutes(h, 4)), ...(await nl.listRoutes(h, 6))];
    for (const [i, r] of routes) {
      const { family, cidr } = parseCidr(r.dst, `prevResult.routes[${i}].dst`);
      const isDefault = cidr === '0.0.0.0/0' || cidr === '::/0';
      const gw = r.gw === undefined || isDefault ? undefined : normalizeIp(r.gw, `prevResult.routes[${i}].gw`);
      const found = have.some((x) => x.family === family && x.dst === (isDefault ? 'default' : cidr) && (gw === undefined || x.gateway === gw));
      if (!found) throw new CniError(CNI_ERR.CONFLICT, `prevResult route ${r.dst}${r.gw ? ` via ${r.gw}` : ''} is not in the container's routing table`, `prevResult.routes[${i}]`);
    }
  } finally {
    h.close();
    closeNetns(fd);
  }
}

/** False when a pool of the network is full (an ADD would fail). */
export function poolsAvailable(mgr: NetworkManager, net: NetworkInfo): boolean {
  return net.subnets.every((s) => {
    const pool = mgr.ipam.getPool(s.poolId);
    return !pool || poolHasFree(mgr, pool);
  });
}

/**
 * True when the pool's usable range has an address no one holds: the range allocate hands
 * out from (rowGeometry), not one re-derived here (that took an IPv6 /127's or /128's
 * network address as reserved, so STATUS said full while ADD still succeeded).
 */
export function poolHasFree(mgr: NetworkManager, p: Pool): boolean {
  const { start, end } = rowGeometry(p);
  const used = mgr.ipam.allocationsOf(p.id).filter((a) => { const v = parseIp(a.ip).value; return v >= start && v <= end; }).length;
  return BigInt(used) < end - start + 1n;
}


export const IPAM_TYPES = ['tsnet-ipam', 'host-local'];

/** Runs `fn`; its error becomes a CNI invalid-config error naming `field`. */
export function wrap(field: string, fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    throw invalid(field, (err as Error).message.replace(/^[^:]+: /, ''));
  }
}

/** The MAC asked for: runtimeConfig.mac > args.cni.mac > CNI_ARGS MAC > conf mac. */
export function requestedMac(req: PluginRequest<BaseConf & { mac?: string }>): string | undefined {
  const mac = req.conf.runtimeConfig?.mac ?? req.conf.args?.cni?.mac ?? req.args.values['MAC'] ?? req.conf.mac;
  if (mac !== undefined) wrap('mac', () => checkMac(mac, 'mac'));
  return mac?.toLowerCase();
}

/**
 * Static addresses for the manager: each inside a configured range set, at most one per set
 * (assignRequested), so two sets of one family may each get one, as host-local gives them.
 */
export function staticAddresses(req: PluginRequest, ranges: ResolvedRange[][]): { staticIps?: string[] } {
  const ips = requestedIps(req.conf, req.args);
  if (ranges.length > 0) assignRequested(ranges, ips);
  return ips.length > 0 ? { staticIps: ips } : {};
}

/** A CNI route as the manager's route request (added inside the sandbox by the driver). */
export function routeRequest(r: CniRoute): RouteRequest {
  return { dst: r.dst, ...(r.gw ? { gateway: r.gw } : {}), ...(r.priority !== undefined ? { metric: r.priority } : {}) };
}

export function dnsFor(conf: BaseConf, ipam: IpamConf | undefined): CniDns | undefined {
  return dnsIsSet(conf.dns) ? conf.dns : ipamDns(ipam);
}

/**
 * ADD of a main plugin up to the attachment: reads the requested addresses, MAC, routes and
 * DNS, makes sure the tsnet network exists, drops a stale attachment of the same container
 * and ifname, and attaches with the routes. With `defaultGateway`, a default route via each
 * gateway too, except for a family whose default ipam.routes has already (as the reference
 * skips it). Returns the routes as the result lists them, defaults with their gateways.
 */
export async function attachMain(req: PluginRequest<BaseConf & { mac?: string; ipam: IpamConf; ipv6OffWithoutAddress?: boolean; enabledad?: boolean }>, host: CniHost,
  spec: Omit<CniNetworkSpec, 'confName' | 'ranges'>, defaultGateway: boolean): Promise<{ ep: EndpointInfo; net: NetworkInfo; routes: CniRoute[]; dns: CniDns | undefined }> {
  const c = req.conf;
  const { env } = req;
  requireNetns(env);
  const ranges = effectiveRanges(c, c.ipam);
  const routes = ipamRoutes(c.ipam);
  const dns = dnsFor(c, c.ipam);
  const addrs = staticAddresses(req, ranges);
  const mac = requestedMac(req);
  const mgr = host.manager();
  const net = await ensureCniNetwork(mgr, { ...spec, confName: c.name, ranges });
  const id = endpointId(spec.kind, c.name, env.containerId, env.ifname);
  await releaseStale(mgr, id, env, `network ${c.name}`);
  const addDefault = (family: 4 | 6) => defaultGateway && !routes.some((r) => r.dst === defaultDst(family));
  const defaults = net.subnets.filter((sn) => sn.gateway && addDefault(sn.family)).map((sn) => ({ dst: defaultDst(sn.family) }));
  const ep = await mgr.attach({
    network: net.id, sandbox: env.containerId, id, placement: { kind: 'netns', netnsPath: env.netns, ifname: env.ifname },
    ...addrs, ...(mac ? { mac } : {}), routes: [...routes.map(routeRequest), ...defaults],
    ...(c.ipv6OffWithoutAddress ? { ipv6OffWithoutAddress: true } : {}),
    ...(c.enabledad ? { dad: true } : {}), // only tsnet-bridge's schema has it, as the reference's
  });
  const addresses = inRangeOrder(ep.addresses, ranges);
  const withDefaults = [...routes, ...addresses.flatMap((a) => (a.gateway && addDefault(a.family) ? [{ dst: defaultDst(a.family), gw: a.gateway }] : []))];
  return { ep: { ...ep, addresses }, net, routes: withDefaults, dns };
}

const defaultDst = (family: 4 | 6): string => (family === 4 ? '0.0.0.0/0' : '::/0');

/**
 * The addresses in the order of their range sets, as host-local lists them (runtimes take
 * the first of `ips` as the pod's address); the store keeps pools in no such order.
 */
function inRangeOrder(addrs: EndpointInfo['addresses'], ranges: ResolvedRange[][]): EndpointInfo['addresses'] {
  const setOf = (a: EndpointInfo['addresses'][number]) => ranges.findIndex((set) => set.some((r) => cidrContains(r.subnet, `${a.ip}/${a.family === 4 ? 32 : 128}`)));
  return [...addrs].sort((a, b) => setOf(a) - setOf(b));
}
