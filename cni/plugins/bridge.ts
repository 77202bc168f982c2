/**
 * tsnet-bridge: the reference `bridge` plugin's configuration on tsnet's bridge driver. A CNI
 * network is the tsnet network "cni-bridge-<name>" (a Linux bridge, default "cni0", its
 * pools from the `ipam` block: tsnet-ipam or host-local fields, allocated from the tsnet
 * store in-process). ADD attaches a veth whose peer is created in CNI_NETNS; DEL detaches
 * (idempotent, netns optional); CHECK compares kernel, store and prevResult; GC releases
 * attachments not listed as valid. Host netns: the bridge, host veth ends, iptables rules.
 */
import { run } from '../../core/exec/index.js';
import * as nl from '../../core/netlink/index.js';
import { checkIfname, checkMac, parseMtu, type EndpointInfo, type NetworkInfo, type RouteRequest } from '../../drivers/index.js';
import { baseSchema, compileSchema, dnsSchema, invalid, unsupported, validate, type BaseConf } from '../skel/config.js';
import type { CniPlugin, PluginRequest } from '../skel/dispatch.js';
import { dnsIsSet, type CniDns, type CniInterface, type CniResult, type CniRoute } from '../skel/result.js';
import { endpointId, ensureCniNetwork, releaseStale, requireNetns, type CniHost } from './common.js';
import {
  assignRequested, effectiveRanges, ipamDns, ipamRoutes, ipamSchema, requestedIps, type IpamConf, type ResolvedRange,
} from './ipam-conf.js';
import { attachmentVerbs } from './main-common.js';

export interface BridgeConf extends BaseConf {
  bridge?: string;
  isGateway?: boolean;
  isDefaultGateway?: boolean;
  forceAddress?: boolean;
  ipMasq?: boolean;
  ipMasqBackend?: string;
  mtu?: number;
  hairpinMode?: boolean;
  promiscMode?: boolean;
  mac?: string;
  vlan?: number;
  vlanTrunk?: unknown[];
  preserveDefaultVlan?: boolean;
  enabledad?: boolean;
  macspoofchk?: boolean;
  disableContainerInterface?: boolean;
  portIsolation?: boolean;
  ipam: IpamConf;
}

const bool = { type: 'boolean' } as const;
const schema = {
  allOf: [baseSchema, {
    type: 'object',
    properties: {
      bridge: { type: 'string' }, isGateway: bool, isDefaultGateway: bool, forceAddress: bool, ipMasq: bool,
      ipMasqBackend: { type: 'string', enum: ['iptables', 'nftables'] }, mtu: { type: 'integer' }, hairpinMode: bool,
      promiscMode: bool, mac: { type: 'string' }, vlan: { type: 'integer', minimum: 0, maximum: 4094 }, vlanTrunk: { type: 'array' },
      preserveDefaultVlan: bool, enabledad: bool, macspoofchk: bool, disableContainerInterface: bool, portIsolation: bool,
      ipam: ipamSchema, dns: dnsSchema,
    },
  }],
};

export const KIND = 'bridge';
export const DEFAULT_BRIDGE = 'cni0';
export const IPAM_TYPES = ['tsnet-ipam', 'host-local'];

let compiled: ReturnType<typeof compileSchema> | undefined;

/** Validates a tsnet-bridge configuration: code 7 naming the field, code 2 for what the kernel here cannot do. */
export function parseBridgeConf(raw: Record<string, unknown>): BridgeConf {
  compiled ??= compileSchema(schema);
  const c = validate<BridgeConf>(compiled, raw);
  if (c.vlan) throw unsupported('vlan', c.vlan, 'VLAN filtering on the bridge is not supported by tsnet-bridge');
  if (c.vlanTrunk?.length) throw unsupported('vlanTrunk', c.vlanTrunk, 'VLAN trunks are not supported by tsnet-bridge');
  if (c.macspoofchk) throw unsupported('macspoofchk', true, 'MAC spoof checking is not supported by tsnet-bridge');
  if (c.disableContainerInterface) throw unsupported('disableContainerInterface', true, 'the container interface is always brought up');
  if (c.portIsolation) throw unsupported('portIsolation', true, 'bridge port isolation is not supported by tsnet-bridge');
  if (c.bridge !== undefined) wrap('bridge', () => checkIfname(c.bridge ?? '', 'bridge'));
  if (c.mtu !== undefined) wrap('mtu', () => parseMtu(c.mtu ?? 0, 'mtu'));
  if (c.mac !== undefined) wrap('mac', () => checkMac(c.mac ?? '', 'mac'));
  if (!c.ipam?.type) throw unsupported('ipam', c.ipam ?? null, 'tsnet-bridge needs an ipam block of type tsnet-ipam or host-local (an L2-only bridge is not supported)');
  if (!IPAM_TYPES.includes(c.ipam.type)) throw unsupported('ipam.type', c.ipam.type, `tsnet-bridge allocates in-process; use ${IPAM_TYPES.join(' or ')}`);
  return c;
}

/** Runs a drivers/ validator and rethrows its ConfigError under the CNI field name. */
export function wrap(field: string, fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    throw invalid(field, (err as Error).message.replace(/^[^:]+: /, ''));
  }
}

function networkOptions(c: BridgeConf): Record<string, string> {
  return {
    bridge: c.bridge ?? DEFAULT_BRIDGE, icc: 'true', ip_masquerade: String(c.ipMasq ?? false), hairpin: String(c.hairpinMode ?? false),
    ...(c.mtu ? { mtu: String(c.mtu) } : {}),
  };
}

/** The MAC asked for: runtimeConfig.mac > args.cni.mac > CNI_ARGS MAC > conf mac. */
export function requestedMac(req: PluginRequest<BaseConf & { mac?: string }>): string | undefined {
  const mac = req.conf.runtimeConfig?.mac ?? req.conf.args?.cni?.mac ?? req.args.values['MAC'] ?? req.conf.mac;
  if (mac !== undefined) wrap('mac', () => checkMac(mac, 'mac'));
  return mac?.toLowerCase();
}

/** Static addresses by family for the manager (one per family, each inside a configured range set). */
export function staticAddresses(req: PluginRequest, ranges: ResolvedRange[][]): { ipv4?: string; ipv6?: string } {
  const ips = requestedIps(req.conf, req.args);
  if (ranges.length > 0) assignRequested(ranges, ips);
  const out: { ipv4?: string; ipv6?: string } = {};
  for (const ip of ips) {
    const k = ip.includes(':') ? 'ipv6' : 'ipv4';
    if (out[k]) throw invalid('ips', `more than one IPv${k === 'ipv4' ? 4 : 6} address requested (${out[k] ?? ''}, ${ip})`);
    out[k] = ip;
  }
  return out;
}

/** Routes the result lists and the sandbox gets: ipam routes, plus defaults when isDefaultGateway. */
export function routesFor(ep: EndpointInfo, ipamRoutesList: CniRoute[], defaultGw: boolean): CniRoute[] {
  const routes = [...ipamRoutesList];
  if (defaultGw) {
    for (const a of ep.addresses) {
      if (a.gateway) routes.push({ dst: a.family === 4 ? '0.0.0.0/0' : '::/0', gw: a.gateway });
    }
  }
  return routes;
}

/** A CNI route as the manager's route request (added inside the sandbox by the driver). */
export function routeRequest(r: CniRoute): RouteRequest {
  return { dst: r.dst, ...(r.gw ? { gateway: r.gw } : {}), ...(r.priority !== undefined ? { metric: r.priority } : {}) };
}

export function dnsFor(conf: BaseConf, ipam: IpamConf | undefined): CniDns | undefined {
  return dnsIsSet(conf.dns) ? conf.dns : ipamDns(ipam);
}

async function setPromisc(net: NetworkInfo): Promise<void> {
  const br = (net.options as { bridge?: string }).bridge ?? DEFAULT_BRIDGE;
  await run(['ip', 'link', 'set', 'dev', br, 'promisc', 'on']);
}

async function add(req: PluginRequest<BridgeConf>, host: CniHost): Promise<CniResult> {
  const c = req.conf;
  const { env } = req;
  requireNetns(env);
  const ranges = effectiveRanges(c, c.ipam);
  const routes = ipamRoutes(c.ipam);
  const dns = dnsFor(c, c.ipam);
  const addrs = staticAddresses(req, ranges);
  const mac = requestedMac(req);
  const mgr = host.manager();
  const net = await ensureCniNetwork(mgr, {
    kind: KIND, confName: c.name, driver: 'bridge', options: networkOptions(c), ranges,
    ...(c.promiscMode ? { afterCreate: setPromisc } : {}),
  });
  const id = endpointId(KIND, c.name, env.containerId, env.ifname);
  await releaseStale(mgr, id, env, `network ${c.name}`);
  const defaults = c.isDefaultGateway ? net.subnets.filter((sn) => sn.gateway).map((sn) => ({ dst: sn.family === 4 ? '0.0.0.0/0' : '::/0' })) : [];
  const ep = await mgr.attach({
    network: net.id, sandbox: env.containerId, id, placement: { kind: 'netns', netnsPath: env.netns, ifname: env.ifname },
    ...addrs, ...(mac ? { mac } : {}), routes: [...routes.map(routeRequest), ...defaults],
  });
  try {
    const all = routesFor(ep, routes, c.isDefaultGateway ?? false);
    const h = nl.hostNetlink();
    const bridgeName = (net.options as { bridge?: string }).bridge ?? DEFAULT_BRIDGE;
    const [br, veth] = await Promise.all([nl.getLink(h, bridgeName), ep.hostIfname ? nl.getLink(h, ep.hostIfname) : undefined]);
    const interfaces: CniInterface[] = [
      { name: bridgeName, ...(br ? { mac: br.mac } : {}) },
      { name: ep.hostIfname ?? '', ...(veth ? { mac: veth.mac } : {}) },
      { name: env.ifname, mac: ep.mac, ...(c.mtu ? { mtu: c.mtu } : {}), sandbox: env.netns },
    ];
    return {
      interfaces,
      ips: ep.addresses.map((a) => ({ address: a.cidr, ...(a.gateway ? { gateway: a.gateway } : {}), interface: 2 })),
      routes: all,
      ...(dns ? { dns } : {}),
    };
  } catch (err) {
    await mgr.detach(id);
    throw err;
  }
}

export const bridgePlugin: CniPlugin<BridgeConf, CniHost> = {
  name: 'tsnet-bridge',
  knownArgs: ['IP', 'MAC'],
  parse: parseBridgeConf,
  add,
  ...attachmentVerbs(KIND),
};
