/**
 * bridge: a Linux bridge in the host netns (default network's bridge is "tsnet0"), the
 * gateway address on it, and per endpoint a veth pair whose host end is a bridge port and
 * whose peer is created directly inside the sandbox netns under its final name.
 * Firewall rules (masquerade, isolation, ICC) are the manager's, not this file's.
 */
import * as nl from '../core/netlink/index.js';
import { openNetns, closeNetns, sysctlSet } from '../core/netns/index.js';
import { removeVeth, settleRetired } from '../core/link-reaper/index.js';
import { ConfigError, ConflictError, KernelError } from '../core/index.js';
import { checkBridgeName, hostMacFor, parseBool, parseIpv4, parseMtu, parseQueues, pick, rejectUnknown, stableMac } from './options.js';
import { configureInterface, checkInterface, disableIpv6, setIpv6Conf, settleAll } from './configure.js';
import { isCniNetwork } from './labels.js';
import type { Driver, Network, Placement } from './types.js';

export interface BridgeOptions {
  /** Bridge device name; default "tsbr-" + 10 hex of the network id. */
  bridge?: string;
  icc: boolean;
  masquerade: boolean;
  hostBindingIp?: string;
  mtu?: number;
  hairpin: boolean;
  /** IGMP/MLD snooping on the bridge; off by default (see createBridge). */
  mcastSnooping: boolean;
  /** TX/RX queues of each veth end; default 1 (see attach). */
  vethQueues?: number;
  /** Docker's gateway mode per family; unset: the network's default (see gatewayMode). */
  gatewayModeIpv4?: GatewayMode;
  gatewayModeIpv6?: GatewayMode;
}

/**
 * Docker's `gateway_mode_ipv4/6`: `nat` drops traffic forwarded into the bridge from outside
 * unless it answers the network or goes to a published port; `nat-unprotected` does not.
 * Both masquerade (unless ip_masquerade=false). Docker's `routed` and `isolated` are refused.
 */
export const GATEWAY_MODES = ['nat', 'nat-unprotected'] as const;
export type GatewayMode = (typeof GATEWAY_MODES)[number];

const KNOWN = [
  'com.docker.network.bridge.name', 'bridge',
  'com.docker.network.bridge.enable_icc', 'icc',
  'com.docker.network.bridge.enable_ip_masquerade', 'ip_masquerade',
  'com.docker.network.bridge.host_binding_ipv4', 'host_binding_ipv4',
  'com.docker.network.driver.mtu', 'mtu',
  'com.docker.network.bridge.gateway_mode_ipv4', 'gateway_mode_ipv4',
  'com.docker.network.bridge.gateway_mode_ipv6', 'gateway_mode_ipv6',
  'hairpin', 'mcast_snooping', 'veth_queues',
] as const;

function parseGatewayMode(value: string, field: string): GatewayMode {
  const mode = GATEWAY_MODES.find((m) => m === value);
  if (mode !== undefined) return mode;
  const why = value === 'routed' || value === 'isolated' ? 'is not supported by tsnet' : 'is not a gateway mode';
  throw new ConfigError(`${field}: "${value}" ${why} (${GATEWAY_MODES.join(' or ')})`, field);
}

/** A stable, locally administered unicast MAC for a network's bridge, from its id. */
export function bridgeMac(networkId: string): string {
  return stableMac(`tsnet-bridge:${networkId}`);
}

/**
 * The families whose gateway mode is `nat` (protected): as the options say, else `nat`, but
 * `nat-unprotected` for a CNI network, as the reference bridge plugin drops nothing (pods are
 * routed to from other nodes).
 */
export function protectedFamilies(o: BridgeOptions, labels: Readonly<Record<string, string>>): (4 | 6)[] {
  const fallback: GatewayMode = isCniNetwork(labels) ? 'nat-unprotected' : 'nat';
  const modes = [[4, o.gatewayModeIpv4], [6, o.gatewayModeIpv6]] as const;
  return modes.filter(([, m]) => (m ?? fallback) === 'nat').map(([f]) => f);
}

export function bridgeName(net: Pick<Network<BridgeOptions>, 'id' | 'options'>): string {
  return net.options.bridge ?? `tsbr-${net.id.slice(0, 10)}`;
}

/**
 * Creates the bridge (in the host netns; removeNetwork deletes it) with what keeps a port's
 * attach and detach from doing work over every other port:
 * - a fixed MAC: otherwise the kernel gives the bridge its lowest port's MAC (which changes as
 *   containers come and go, confusing neighbours' ARP caches) and re-derives MAC and STP id;
 * - a pinned MTU: the kernel keeps re-deriving the MTU from all ports unless it was changed
 *   after creation (BROPT_MTU_SET_BY_USER), hence created one off and then set;
 * - multicast snooping off unless asked for: with it, each port state change re-arms the
 *   query timers of every port (br_port_state_selection -> br_multicast_enable_port), which
 *   measured 0.5 ms per attach at 1000 ports. Off, multicast is flooded like broadcast.
 */
async function createBridge(h: nl.NlHandle, name: string, net: Network<BridgeOptions>): Promise<void> {
  const mtu = net.options.mtu ?? 1500;
  // A network recorded before the option existed has none: off too.
  const bridge = { mcastSnooping: net.options.mcastSnooping ?? false };
  await nl.createLink(h, { name, kind: 'bridge', mac: bridgeMac(net.id), mtu: mtu > 68 ? mtu - 1 : mtu + 1, bridge });
  await Promise.all([nl.setLinkMtu(h, name, mtu), nl.setLinkAlias(h, name, BRIDGE_ALIAS)]);
}

/**
 * Whether `link` is the bridge tsnet created for `net`, alias set or not: it has the MAC
 * derived from the network's id (createBridge). The alias follows the creation in a second
 * request, so a process killed in between leaves a bridge known by its MAC only.
 */
function madeForIt(link: nl.LinkInfo, net: Network<BridgeOptions>): boolean {
  return link.kind === 'bridge' && link.mac === bridgeMac(net.id);
}

/**
 * The alias of a bridge tsnet made (removeNetwork deletes only those, as Docker deletes only
 * the bridges libnetwork created): a bridge that existed before is someone else's.
 */
export const BRIDGE_ALIAS = 'tsnet';

const gatewayCidrs = (net: Network<BridgeOptions>): string[] =>
  net.subnets.flatMap((s) => (s.gateway ? [`${s.gateway}/${s.subnet.split('/')[1]}`] : []));

export const bridgeDriver: Driver<BridgeOptions> = {
  name: 'bridge',

  parseOptions(raw) {
    rejectUnknown(raw, KNOWN, 'bridge');
    const name = pick(raw, 'com.docker.network.bridge.name', 'bridge');
    const icc = pick(raw, 'com.docker.network.bridge.enable_icc', 'icc');
    const masq = pick(raw, 'com.docker.network.bridge.enable_ip_masquerade', 'ip_masquerade');
    const hostIp = pick(raw, 'com.docker.network.bridge.host_binding_ipv4', 'host_binding_ipv4');
    const mtu = pick(raw, 'com.docker.network.driver.mtu', 'mtu');
    const hairpin = pick(raw, 'hairpin');
    const snooping = pick(raw, 'mcast_snooping');
    const queues = pick(raw, 'veth_queues');
    const gw4 = pick(raw, 'com.docker.network.bridge.gateway_mode_ipv4', 'gateway_mode_ipv4');
    const gw6 = pick(raw, 'com.docker.network.bridge.gateway_mode_ipv6', 'gateway_mode_ipv6');
    return {
      ...(name ? { bridge: checkBridgeName(name[1], name[0]) } : {}),
      icc: icc ? parseBool(icc[1], icc[0]) : true,
      masquerade: masq ? parseBool(masq[1], masq[0]) : true,
      ...(hostIp ? { hostBindingIp: parseIpv4(hostIp[1], hostIp[0]) } : {}),
      ...(mtu ? { mtu: parseMtu(mtu[1], mtu[0]) } : {}),
      hairpin: hairpin ? parseBool(hairpin[1], hairpin[0]) : true,
      mcastSnooping: snooping ? parseBool(snooping[1], snooping[0]) : false,
      ...(queues ? { vethQueues: parseQueues(queues[1], queues[0]) } : {}),
      ...(gw4 ? { gatewayModeIpv4: parseGatewayMode(gw4[1], gw4[0]) } : {}),
      ...(gw6 ? { gatewayModeIpv6: parseGatewayMode(gw6[1], gw6[0]) } : {}),
    };
  },

  async ensureNetwork(net) {
    const h = nl.hostNetlink();
    const name = bridgeName(net);
    const link = await nl.getLink(h, name);
    if (link && link.kind !== 'bridge') throw new ConflictError(`interface "${name}" exists and is not a bridge`, 'bridge');
    if (!link) await createBridge(h, name, net);
    else if (madeForIt(link, net) && link.alias !== BRIDGE_ALIAS) await nl.setLinkAlias(h, name, BRIDGE_ALIAS); // its creator was cut short
    // No DAD on the link-local address of a bridge we made (its MAC is ours, bridgeMac; older
    // versions' bridges too): the kernel runs it each time the bridge's carrier comes up (its
    // first port), and while the address is tentative sends no neighbour solicitation for
    // forwarded packets, so DNATed or routed IPv6 to a network's first container went
    // unanswered for ~2 s. Someone else's bridge keeps its settings.
    if (!link || madeForIt(link, net)) setIpv6Conf(undefined, name, 'accept_dad', '0');
    for (const cidr of gatewayCidrs(net)) await ignoreExists(nl.addAddr(h, name, cidr, { noDad: true }));
    await nl.setLinkUp(h, name, true);
    // Routing between the bridge and the outside world, and DNAT from 127.0.0.1.
    sysctlSet('net.ipv4.ip_forward', '1');
    sysctlSet(`net/ipv4/conf/${name}/route_localnet`, '1');
    if (net.ipv6) sysctlSet('net.ipv6.conf.all.forwarding', '1');
    // ICC off is enforced by iptables on bridged frames: bridge-nf (per netns) must be on,
    // for ip6tables too on an IPv6 network (hardened hosts turn bridge-nf-call-ip6tables off).
    if (!net.options.icc) {
      sysctlSet('net.bridge.bridge-nf-call-iptables', '1');
      if (net.ipv6) sysctlSet('net.bridge.bridge-nf-call-ip6tables', '1');
    }
  },

  async removeNetwork(net, others) {
    const h = nl.hostNetlink();
    const name = bridgeName(net);
    bridges.delete(name);
    // Someone else's bridge stays as it is, as Docker and the reference plugin leave one
    // (addresses included: an identical one may have been there before).
    const link = await nl.getLink(h, name);
    if (!link || (link.alias !== BRIDGE_ALIAS && !madeForIt(link, net))) return;
    const sharing = others.filter((o) => bridgeName(o) === name);
    if (sharing.length === 0) {
      await nl.deleteLink(h, name);
      return;
    }
    // Another network still uses it: only this network's gateways that no other one has go.
    const kept = new Set(sharing.flatMap(gatewayCidrs));
    for (const cidr of gatewayCidrs(net)) if (!kept.has(cidr)) await nl.delAddr(h, name, cidr);
  },

  async attach(net, ep, placement, undo) {
    const h = nl.hostNetlink();
    const mtu = ep.mtu ?? net.options.mtu;
    const master = (await bridgeLink(bridgeName(net))).index;
    // The host end is made down, loses IPv6 (a bridge port needs no addresses, and link-local
    // DAD/MLD/RS work on hundreds of ports contends for the kernel's rtnl lock), then one
    // request sets hairpin and brings it up.
    const hostEnd = () => {
      disableIpv6(undefined, ep.hostIfname);
      return nl.setBridgePortHairpin(h, ep.hostIfname, net.options.hairpin, { up: true });
    };
    // One request: host end enslaved, peer created in the sandbox under its final name
    // (the peer cannot be brought up in the same request: veth_open needs the pair linked first).
    // One TX/RX queue per end unless asked: the kernel's default (one per possible CPU) makes a
    // sysfs object per queue, 0.15-0.2 ms more per create on a 2-CPU machine; only XDP on the
    // veth uses more than one.
    const queues = net.options.vethQueues ?? 1;
    const veth = (peerNetnsFd?: number) => nl.createLink(h, {
      name: ep.hostIfname, kind: 'veth', master, mac: hostMacFor(ep.id), queues, ...(mtu ? { mtu } : {}),
      veth: { peerName: placement.ifname, peerMac: ep.mac, ...(mtu ? { peerMtu: mtu } : {}), ...(peerNetnsFd === undefined ? {} : { peerNetnsFd }) },
    });
    // Deleting the host end deletes the peer too, wherever it is: the one undo needed.
    const deleteVeth = () => nl.deleteLink(h, ep.hostIfname);
    const bridge = bridgeName(net);
    if (placement.kind === 'host-end') {
      await undo.step('create veth', () => explainCreate(veth(), bridge, ep.hostIfname, placement), deleteVeth);
      await undo.step('set up host end', hostEnd);
      return { hostIfname: ep.hostIfname, ifname: placement.ifname, mac: ep.mac, ...(mtu ? { mtu } : {}) };
    }
    // A macvlan detached from this netns a moment ago keeps the name until the reaper ran.
    await settleRetired(placement.netnsPath);
    const fd = openNetns(placement.netnsPath);
    try {
      await undo.step('create veth', () => explainCreate(veth(fd), bridge, ep.hostIfname, placement), deleteVeth);
      // The host end (host socket) and the sandbox end (its own socket) are set up at once.
      await settleAll([undo.step('set up host end', hostEnd), configureInterface(fd, placement.ifname, ep, undo, true)]);
    } finally {
      closeNetns(fd);
    }
    return { hostIfname: ep.hostIfname, ifname: placement.ifname, mac: ep.mac, ...(mtu ? { mtu } : {}) };
  },

  async detach(_net, ep, placement) {
    // The peer (in the sandbox or, for host-end, wherever the caller moved it) goes with it;
    // a vanished netns already destroyed both ends. In tsnetd the deletion finishes later
    // (core/link-reaper): both ends are down and renamed when this resolves.
    await removeVeth(ep.hostIfname, placement.kind === 'netns' && !placement.replaced ? placement.netnsPath : undefined);
  },

  async check(net, ep, placement) {
    const host = await nl.getLink(nl.hostNetlink(), ep.hostIfname);
    const br = await nl.getLink(nl.hostNetlink(), bridgeName(net));
    if (!host || !br || host.masterIndex !== br.index) throw new ConflictError(`host interface ${ep.hostIfname} is missing or not on bridge ${bridgeName(net)}`);
    if (placement.kind === 'netns') await checkInterface(placement.netnsPath, placement.ifname, ep);
  },
};

/**
 * ifindex and MAC of a bridge in the host netns, cached: ifindexes are not reused while a
 * netns lives, so a stale entry (bridge deleted by someone else) fails with ENODEV rather
 * than enslaving to another device; the cache is dropped on any create failure. The MAC
 * of a bridge tsnet made is fixed (bridgeMac); one made by someone else keeps its own.
 */
const bridges = new Map<string, { index: number; mac: string }>();
export async function bridgeLink(name: string): Promise<{ index: number; mac: string }> {
  const cached = bridges.get(name);
  if (cached !== undefined) return cached;
  const link = await nl.getLink(nl.hostNetlink(), name);
  if (!link || link.kind !== 'bridge') throw new ConflictError(`bridge ${name} is missing`);
  const entry = { index: link.index, mac: link.mac };
  bridges.set(name, entry);
  return entry;
}

/** Port numbers a Linux bridge can give (BR_MAX_PORTS is 1024, number 0 is never used). */
export const BRIDGE_MAX_PORTS = 1023;

/**
 * A veth create's failure in the caller's terms: EEXIST names neither end, so say which name
 * is taken; EXFULL ("Exchange full") is the bridge out of port numbers. The cached bridge is
 * dropped on any failure (it may be the stale entry that failed).
 */
async function explainCreate(p: Promise<void>, bridge: string, hostIfname: string, placement: Placement): Promise<void> {
  try {
    await p;
  } catch (err) {
    bridges.clear();
    if (!(err instanceof KernelError)) throw err;
    if (err.errnoCode === 'EXFULL') throw new ConflictError(`bridge ${bridge} is full: the kernel gives a bridge at most ${BRIDGE_MAX_PORTS} ports`);
    if (err.errnoCode !== 'EEXIST') throw err;
    if (await nl.getLink(nl.hostNetlink(), hostIfname)) throw new ConflictError(`host interface ${hostIfname} already exists`);
    const where = placement.kind === 'netns' ? placement.netnsPath : 'the host netns';
    throw new ConflictError(`interface ${placement.ifname} already exists in ${where}`, 'ifname');
  }
}

async function ignoreExists(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (err) {
    if (!(err instanceof KernelError && err.errnoCode === 'EEXIST')) throw err;
  }
}

