/**
 * tsnet-bridge: the reference `bridge` plugin's configuration on tsnet's bridge driver. A CNI
 * network is the tsnet network "cni-bridge-<name>" (a Linux bridge, default "cni0", its
 * pools from the `ipam` block: tsnet-ipam or host-local fields, allocated from the tsnet
 * store in-process). ADD attaches a veth whose peer is created in CNI_NETNS; DEL detaches
 * (idempotent, netns optional); CHECK compares kernel, store and prevResult; GC releases
 * attachments not listed as valid. Host netns: the bridge, host veth ends, iptables rules.
 */
import * as nl from '../../core/netlink/index.js';
import { bridgeLink, checkIfname, checkMac, hostMacFor, parseMtu, parseQueues, type NetworkInfo } from '../../drivers/index.js';
import { baseSchema, compileSchema, dnsSchema, unsupported, validate, type BaseConf } from '../skel/config.js';
import type { CniPlugin, PluginRequest } from '../skel/dispatch.js';
import type { CniInterface, CniResult } from '../skel/result.js';
import type { CniHost } from './common.js';
import { ipamSchema, type IpamConf } from './ipam-conf.js';
import { IPAM_TYPES, attachMain, attachmentVerbs, wrap } from './main-common.js';

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
  /** tsnet's own: IGMP/MLD snooping on a bridge this plugin creates (default off). */
  mcastSnooping?: boolean;
  /** tsnet's own: TX/RX queues of each veth end (default 1). */
  vethQueues?: number;
  /** tsnet's own: IPv6 off on the container interface when it gets no IPv6 address (default false). */
  ipv6OffWithoutAddress?: boolean;
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
      mcastSnooping: bool, vethQueues: { type: 'integer' }, ipv6OffWithoutAddress: bool, ipam: ipamSchema, dns: dnsSchema,
    },
  }],
};

export const KIND = 'bridge';
export const DEFAULT_BRIDGE = 'cni0';

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
  if (c.vethQueues !== undefined) wrap('vethQueues', () => parseQueues(c.vethQueues ?? 0, 'vethQueues'));
  if (!c.ipam?.type) throw unsupported('ipam', c.ipam ?? null, 'tsnet-bridge needs an ipam block of type tsnet-ipam or host-local (an L2-only bridge is not supported)');
  if (!IPAM_TYPES.includes(c.ipam.type)) throw unsupported('ipam.type', c.ipam.type, `tsnet-bridge allocates in-process; use ${IPAM_TYPES.join(' or ')}`);
  return c;
}

/** Runs a drivers/ validator and rethrows its ConfigError under the CNI field name. */
function networkOptions(c: BridgeConf): Record<string, string> {
  return {
    bridge: c.bridge ?? DEFAULT_BRIDGE, icc: 'true', ip_masquerade: String(c.ipMasq ?? false), hairpin: String(c.hairpinMode ?? false),
    ...(c.mtu ? { mtu: String(c.mtu) } : {}),
    ...(c.mcastSnooping ? { mcast_snooping: 'true' } : {}),
    ...(c.vethQueues ? { veth_queues: String(c.vethQueues) } : {}),
  };
}

async function setPromisc(net: NetworkInfo): Promise<void> {
  const br = (net.options as { bridge?: string }).bridge ?? DEFAULT_BRIDGE;
  await nl.setLinkPromisc(nl.hostNetlink(), br, true);
}

async function add(req: PluginRequest<BridgeConf>, host: CniHost): Promise<CniResult> {
  const c = req.conf;
  const { env } = req;
  const { ep, net, routes, dns } = await attachMain(req, host, {
    kind: KIND, driver: 'bridge', options: networkOptions(c),
  }, c.isDefaultGateway ?? false);
  try {
    // On every ADD that asks, as the reference does: a network made without it gets it too.
    if (c.promiscMode) await setPromisc(net);
    const bridgeName = (net.options as { bridge?: string }).bridge ?? DEFAULT_BRIDGE;
    // Both MACs without asking the kernel: the bridge's is cached by the driver, the host
    // end's is the one the driver gave it.
    const br = await bridgeLink(bridgeName);
    const interfaces: CniInterface[] = [
      { name: bridgeName, mac: br.mac },
      { name: ep.hostIfname ?? '', mac: hostMacFor(ep.id) },
      { name: env.ifname, mac: ep.mac, ...(c.mtu ? { mtu: c.mtu } : {}), sandbox: env.netns },
    ];
    return {
      interfaces,
      ips: ep.addresses.map((a) => ({ address: a.cidr, ...(a.gateway ? { gateway: a.gateway } : {}), interface: 2 })),
      routes,
      ...(dns ? { dns } : {}),
    };
  } catch (err) {
    await host.manager().detach(ep.id);
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
