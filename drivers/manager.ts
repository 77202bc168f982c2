/**
 * The network manager: the one entry point the front-ends (CNI, libnetwork, engine) use.
 * It validates everything before acting, records intent in the store before touching the
 * kernel (networks 'creating', endpoints 'attaching'), runs every kernel step through an
 * undo stack, and programs masquerade / isolation / DNAT through core/firewall.
 * All kernel work happens in the process's netns (the "host") and the sandboxes' netns.
 */
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { ConfigError, ConflictError, KernelError, NotFoundError, TryAgainError, paths, withContext, log } from '../core/index.js';
import * as nl from '../core/netlink/index.js';
import { DYING_GROUP, linkDeletesDeferred, settleRetired, sweepRetired } from '../core/link-reaper/index.js';
import { deleteFlows, flowDeletesDeferred } from '../core/flow-sweeper/index.js';
import { isNetns, withNetlinkAt } from '../core/netns/index.js';
import { FIREWALL_LAYOUT, Firewall, PortMap, networkRules, type NftPortMapping, type RuleSet } from '../core/firewall/index.js';
import { hostIpsClash, openStore, portsClash, type Store, type NetworkRow, type EndpointRow } from '../store/index.js';
import { Ipam, cidrContains, macFromIp, normalizeIp, parseIp, type PoolSpec } from '../ipam/index.js';
import { getDriver, usesIpam, type AnyDriver } from './registry.js';
import { bridgeName, protectedFamilies, type BridgeOptions } from './bridge.js';
import { isCniNetwork } from './labels.js';
import { checkIfname, checkMac, hostIfnameFor, parseMtu } from './options.js';
import { HostPortHolds, hostPortFree } from './host-ports.js';
import { expandForEndpoint, validatePortRequest, type PortBinding, type PortRequest, type Proto } from './ports.js';
import { UndoStack } from './undo.js';
import { addDefaultRouteAt } from './configure.js';
import type { EndpointAddress, EndpointPlan, Network, NetworkSubnet, Placement, RouteRequest } from './types.js';

export interface SubnetRequest {
  subnet: string;
  /**
   * Adopt this existing, unassigned pool (one made by an IPAM caller, e.g. libnetwork's
   * RequestPool) instead of creating one: `subnet` must be the pool's. The network hands
   * it back, unassigned and with its allocations, when it is removed.
   */
  poolId?: string;
  ipRange?: string;
  gateway?: string;
  auxAddresses?: Record<string, string>;
}

export interface CreateNetworkRequest {
  name: string;
  driver?: string;
  subnets?: SubnetRequest[];
  internal?: boolean;
  /**
   * IPv6 on the network (a default IPv6 subnet when none is given, IPv6 forwarding). Unset:
   * on exactly when a subnet is IPv6. false with an IPv6 subnet is refused (Docker would
   * ignore that subnet; tsnet neither ignores it nor hands out its addresses silently).
   */
  ipv6?: boolean;
  /**
   * IPv4 on the network (a default IPv4 subnet when none is given). Default true; false
   * makes an IPv6-only network (Docker 28's `--ipv4=false`; a CNI conf with only IPv6
   * ranges), refused with an IPv4 subnet.
   */
  ipv4?: boolean;
  options?: Record<string, string>;
  labels?: Record<string, string>;
  /** Default: 64 random hex digits. */
  id?: string;
  /** Existing pools the new network's subnets may overlap (ipam PoolSpec.mayOverlap; CNI networks). */
  mayOverlap?: PoolSpec['mayOverlap'];
}

export interface NetworkInfo extends Network {
  labels: Record<string, string>;
  rawOptions: Record<string, string>;
  createdAt: string;
}

export interface AttachRequest {
  network: string;
  /** Who owns the endpoint: a container / sandbox id. */
  sandbox: string;
  placement: Placement;
  id?: string;
  ipv4?: string;
  ipv6?: string;
  /**
   * Static addresses, each for the subnet that contains it (CNI: one per range set, several
   * of one family possible); a subnet none falls in gets a dynamic one. Each must fall in one.
   */
  staticIps?: readonly string[];
  mac?: string;
  mtu?: number;
  ports?: PortRequest[];
  /** Exactly these routes in the sandbox instead of a default route per family (CNI's routes). */
  routes?: RouteRequest[];
  /**
   * `ipv4` / `ipv6` are already allocated in the network's pools by the caller (e.g. Docker
   * through libnetwork's IPAM RequestAddress): the endpoint uses them as they are and leaves
   * them allocated at detach; the caller releases them. A family without an address given
   * gets none.
   */
  preallocated?: boolean;
  /**
   * Docker's rule (moby's sandbox code does the same): with no IPv6 address, the sandbox
   * interface gets IPv6 disabled before it comes up, so it makes no link-local address and
   * sends no DAD, MLD or router solicitation, each flooded to every port of the bridge. The
   * engine asks for it; CNI does not (the reference plugins leave IPv6 as the netns has it).
   */
  ipv6OffWithoutAddress?: boolean;
  /**
   * IPv6 addresses get duplicate address detection and the attach waits for it (up to 10 s;
   * a duplicate fails the attach): CNI bridge's `enabledad`. Otherwise they are added with
   * IFA_F_NODAD, usable at once, as Docker and the reference plugins' default do.
   */
  dad?: boolean;
  /**
   * Hold the published host ports while they are published (host-ports.ts): a port a host
   * process has, or a host IP that is not the host's, is refused.
   */
  holdHostPorts?: boolean;
}

export interface EndpointInfo {
  id: string;
  networkId: string;
  networkName: string;
  sandbox: string;
  placement: Placement;
  ifname: string;
  hostIfname?: string;
  mac: string;
  addresses: EndpointAddress[];
  ports: PortBinding[];
}

/** What the manager keeps in an endpoint row's options column. */
interface EndpointOptions {
  placement: Placement;
  addresses: EndpointAddress[];
  mtu: number | null;
  hostIfname: string;
  /** The sandbox netns's inode at attach (netns placement; rows made before it have none). */
  netnsIno?: number;
}

/** Where the store records the firewall layout made in this host netns (core/firewall FIREWALL_LAYOUT). */
const FIREWALL_LAYOUT_KEY = 'firewall.layout';

/** The inode of what is at `path` (a netns bind mount: the netns's), or undefined. */
const inodeAt = (path: string): number | undefined => statSync(path, { throwIfNoEntry: false })?.ino;

export interface ReconcileReport {
  networksRestored: string[];
  networksRemoved: string[];
  endpointsReleased: string[];
  orphanLinks: string[];
}

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
/** Intent kind: a sandbox netns (subject) holds a link retired for the reaper (Driver.retiresInSandbox). */
const SWEEP_INTENT = 'sweep-sandbox';

export class NetworkManager {
  readonly store: Store;
  readonly ipam: Ipam;
  readonly firewall: Firewall;
  readonly portMap: PortMap;
  private portMapReady: Promise<void> | undefined;
  /** Host ports held for published ports (holdHostPorts), in this process. */
  private readonly holds = new HostPortHolds();
  private readonly lazyPortTable: boolean;
  /** While reconcile runs: the bindings whose UDP flows it forgets at its end, in one dump. */
  private reconciledFlows: nl.ConntrackMatch[] | undefined;

  /**
   * `lazyPortTable`: for a process that makes one change and exits (a standalone CNI plugin):
   * published ports go straight into the port table, which is created (one `nft -f`, ~16 ms)
   * only when missing, instead of re-asserted once per process; tsnetd re-asserts it at start.
   */
  constructor(deps: { store: Store; ipam?: Ipam; firewall?: Firewall; portMap?: PortMap; lazyPortTable?: boolean }) {
    this.store = deps.store;
    this.ipam = deps.ipam ?? new Ipam(deps.store);
    this.firewall = deps.firewall ?? new Firewall();
    this.portMap = deps.portMap ?? new PortMap();
    this.lazyPortTable = deps.lazyPortTable ?? false;
  }

  /** Opens the store at TSNET_ROOT (or `dbFile`). The caller closes it with close(). */
  static open(dbFile = paths().dbFile, opts: { lazyPortTable?: boolean } = {}): NetworkManager {
    return new NetworkManager({ store: openStore(dbFile), ...opts });
  }

  close(): void {
    this.holds.releaseAll();
    this.store.close();
  }

  // ---------------------------------------------------------------- networks

  /** Validates, records, then makes the network's kernel objects and rules; all or nothing. */
  async createNetwork(req: CreateNetworkRequest): Promise<NetworkInfo> {
    return withContext(`create network "${req.name}"`, async () => {
      const { row, driver } = await this.recordNetwork(req);
      const net = this.toNetwork(row);
      try {
        await driver.ensureNetwork(net);
        const rules = this.networkRuleSets(net);
        // The shared TSNET-* base chains stay once made, like Docker's DOCKER-* chains.
        if (rules.length > 0) await this.firewall.ensureBase();
        await this.firewall.apply({ add: rules });
      } catch (err) {
        // The create's own failure is the one to report; the undo's is logged (reconcile retries).
        await this.undoNetwork(net, driver).catch((undoErr: unknown) => log.error({ err: undoErr, network: net.name }, 'cannot undo a failed network create'));
        throw err;
      }
      this.store.networks.update(row.id, { state: 'ready' });
      return this.getNetwork(row.id);
    });
  }

  /** Creates the default networks "bridge" (on tsnet0), "host" and "none" when missing. */
  async ensureDefaultNetworks(): Promise<void> {
    if (!this.store.networks.get('bridge')) {
      await this.createNetwork({ name: 'bridge', driver: 'bridge', options: { 'com.docker.network.bridge.name': 'tsnet0' } });
    }
    for (const d of ['host', 'none']) {
      if (!this.store.networks.get(d)) await this.createNetwork({ name: d, driver: d });
    }
  }

  /** Removes a network without endpoints: rules, kernel objects, pools, record. */
  async removeNetwork(idOrName: string): Promise<void> {
    const net = this.getNetwork(idOrName);
    await withContext(`remove network "${net.name}"`, async () => {
      // One transaction with attach's (recordEndpoint): an attach either came first and is
      // counted here, or comes after and finds the network removing.
      this.store.tx(() => {
        const eps = this.store.endpoints.listByNetwork(net.id);
        if (eps.length > 0) throw new ConflictError(`network "${net.name}" has ${eps.length} active endpoint(s)`);
        this.store.networks.update(net.id, { state: 'removing' });
      });
      await this.undoNetwork(net, getDriver(net.driver));
    });
  }

  /** By name, id or unique id prefix (store resolve); NotFoundError when none. */
  getNetwork(idOrName: string): NetworkInfo {
    const row = this.store.networks.resolve(idOrName);
    if (!row) throw new NotFoundError(`network "${idOrName}" not found`);
    return this.toNetwork(row);
  }

  /**
   * Checks a static address as attach will allocate it (an address of `family`, in the
   * network's subnet of that family, not reserved, free now) without allocating: for a
   * front-end that records the address now and attaches later. Errors name `field`.
   */
  checkStaticAddress(network: string, ip: string, family: 4 | 6, field: string): void {
    const net = this.getNetwork(network);
    if (parseIp(ip, field).family !== family) throw new ConfigError(`${ip} is not an IPv${family} address`, field);
    const subnets = net.subnets.filter((s) => s.family === family);
    if (subnets.length === 0) throw new ConfigError(`network "${net.name}" has no IPv${family} subnet for ${ip}`, field);
    // The subnet holding it (a network may have several of a family); else the first one's error.
    const s = subnets.find((x) => cidrContains(x.subnet, ip)) ?? subnets[0];
    if (s) this.ipam.checkAddress(s.poolId, ip, field);
  }

  listNetworks(): NetworkInfo[] {
    return this.store.networks.list().map((r) => this.toNetwork(r));
  }

  private async recordNetwork(req: CreateNetworkRequest): Promise<{ row: NetworkRow; driver: AnyDriver }> {
    if (!NAME_RE.test(req.name)) throw new ConfigError(`invalid network name "${req.name}"`, 'name');
    const driver = getDriver(req.driver ?? 'bridge');
    const parsed = driver.parseOptions(req.options ?? {});
    const ipv6 = ipv6Wanted(req);
    const defaults = usesIpam(driver.name) ? await this.defaultSubnetPicker(req.subnets ?? [], familiesWanted(req, ipv6)) : () => [];
    const id = req.id ?? randomBytes(32).toString('hex');
    const adopted = (req.subnets ?? []).flatMap((s) => (s.poolId ? [s.poolId] : []));
    const row = this.store.tx(() => {
      if (this.store.networks.get(req.name)) throw new ConflictError(`network "${req.name}" already exists`, 'name');
      if (driver.name === 'bridge') this.checkBridgeFree(req, id, parsed as BridgeOptions);
      const subnets = usesIpam(driver.name) ? [...(req.subnets ?? []), ...defaults()] : [];
      const r = this.store.networks.insert({
        id, name: req.name, driver: driver.name, options: { raw: req.options ?? {}, parsed, ...(adopted.length > 0 ? { adoptedPools: adopted } : {}) },
        internal: req.internal ?? false, ipv6, labels: req.labels ?? {}, state: 'creating',
      });
      subnets.forEach((s) => (s.poolId ? this.adoptPool(s.poolId, s.subnet, id) : this.ipam.createPool({
        networkId: id, subnet: s.subnet, ...(s.ipRange ? { ipRange: s.ipRange } : {}),
        ...(s.gateway ? { gateway: s.gateway } : {}), ...(s.auxAddresses ? { aux: s.auxAddresses } : {}),
        ...(req.mayOverlap ? { mayOverlap: req.mayOverlap } : {}),
      })));
      return r;
    });
    return { row, driver };
  }

  /**
   * Refuses a bridge another network already uses (inside the create tx): networks on one
   * bridge are not isolated from each other (the isolation rules match bridge names), which
   * is why Docker's bridge driver refuses it too. CNI networks (labels tsnet.cni.*) may share
   * one among themselves, as every conflist naming the reference plugin's cni0 does; never
   * with an engine or Docker network, either way round.
   */
  private checkBridgeFree(req: CreateNetworkRequest, id: string, parsed: BridgeOptions): void {
    const name = bridgeName({ id, options: parsed });
    const cni = isCniNetwork(req.labels ?? {});
    const other = this.store.networks.list().find((n) => n.driver === 'bridge' && !(cni && isCniNetwork(n.labels)) &&
      bridgeName({ id: n.id, options: (n.options as { parsed: BridgeOptions }).parsed }) === name);
    if (!other) return;
    const field = Object.keys(req.options ?? {}).find((k) => k === 'com.docker.network.bridge.name' || k === 'bridge') ?? 'com.docker.network.bridge.name';
    throw new ConflictError(`${field}: bridge "${name}" is already used by network "${other.name}"`, field);
  }

  /** Assigns an unassigned pool whose subnet is `subnet` to network `id` (inside the caller's tx). */
  private adoptPool(poolId: string, subnet: string, id: string): void {
    const pool = this.ipam.getPool(poolId);
    if (!pool) throw new NotFoundError(`pool ${poolId} not found`);
    if (pool.networkId !== undefined) throw new ConflictError(`pool ${pool.subnet} already belongs to network ${pool.networkId}`, 'subnet');
    if (pool.subnet !== subnet) throw new ConfigError(`pool ${poolId} is ${pool.subnet}, not ${subnet}`, 'subnet');
    this.ipam.assignPool(poolId, id);
  }

  /**
   * What picks a free default subnet for each wanted family the request has none of
   * (avoiding routed subnets): the routes are read now, the pick is made inside the
   * caller's transaction, which creates the pools, so two creates never pick one subnet.
   */
  private async defaultSubnetPicker(requested: SubnetRequest[], families: (4 | 6)[]): Promise<() => SubnetRequest[]> {
    const missing = families.filter((f) => !requested.some((s) => (s.subnet.includes(':') ? 6 : 4) === f));
    const routed = await Promise.all(missing.map(async (f) => (await nl.listRoutes(nl.hostNetlink(), f)).map((r) => r.dst).filter((d) => d !== 'default')));
    return () => missing.map((f, i) => ({ subnet: this.ipam.defaultSubnet(f, routed[i] ?? []) }));
  }

  /** Best-effort teardown of a network (rollback of create, or remove). */
  private async undoNetwork(net: NetworkInfo, driver: AnyDriver): Promise<void> {
    const others = this.listNetworks().filter((n) => n.id !== net.id && n.driver === net.driver);
    // Every kernel step is tried (the bridge goes even when its rules would not); after a
    // failure the record and its pools stay, for reconcile to try again, and it is thrown.
    let failure: unknown;
    for (const step of [() => this.firewall.apply({ remove: this.networkRuleSets(net) }), () => driver.removeNetwork(net, others)]) {
      try {
        await step();
      } catch (err) {
        failure ??= err;
      }
    }
    if (failure !== undefined) throw failure;
    const adopted = new Set((this.store.networks.get(net.id)?.options as { adoptedPools?: string[] } | undefined)?.adoptedPools ?? []);
    this.store.tx(() => {
      // Adopted pools go back to their IPAM caller (unassigned) before the row's cascade.
      for (const s of net.subnets) {
        if (adopted.has(s.poolId)) this.ipam.assignPool(s.poolId, null);
        else this.ipam.deletePool(s.poolId);
      }
      this.store.networks.remove(net.id);
    });
  }

  private networkRuleSets(net: NetworkInfo): RuleSet[] {
    if (net.driver !== 'bridge') return [];
    const o = net.options as BridgeOptions;
    return networkRules({
      id: net.id, bridge: bridgeName(net as Network<BridgeOptions>), subnets: net.subnets.map((s) => s.subnet),
      internal: net.internal, icc: o.icc, masquerade: o.masquerade, protect: protectedFamilies(o, net.labels),
    });
  }

  private toNetwork(row: NetworkRow): NetworkInfo {
    const opts = row.options as { raw: Record<string, string>; parsed: unknown };
    const subnets: NetworkSubnet[] = this.ipam.poolsOf(row.id).map((p) => ({
      poolId: p.id, family: p.family, subnet: p.subnet, ...(p.gateway ? { gateway: p.gateway } : {}),
      ...(p.ipRange ? { ipRange: p.ipRange } : {}), ...(Object.keys(p.aux).length > 0 ? { auxAddresses: p.aux } : {}),
    }));
    return {
      id: row.id, name: row.name, driver: row.driver, internal: row.internal, ipv6: row.ipv6,
      options: opts.parsed, rawOptions: opts.raw, subnets, labels: row.labels, createdAt: row.createdAt,
    };
  }

  /**
   * After a restart: finishes or undoes half-done work and makes the kernel match the store.
   * Networks left 'creating'/'removing' are removed; ready ones get their bridge, addresses
   * and rules back (idempotent); endpoints left 'attaching'/'detaching', or whose sandbox is
   * gone (sandboxGone), are detached (addresses, ports and rules released); published ports get their
   * DNAT rules back; veths on our bridges that no endpoint owns are deleted. The UDP flows of
   * every port published or unpublished meanwhile are forgotten at the end, in one dump
   * (forgetUdpFlows). Host netns; before any other request (tsnetd's start-up).
   */
  async reconcile(): Promise<ReconcileReport> {
    this.reconciledFlows = [];
    try {
      return await this.reconcileAll();
    } finally {
      const flows = this.reconciledFlows;
      this.reconciledFlows = undefined;
      await this.deleteUdpFlows(flows);
    }
  }

  private async reconcileAll(): Promise<ReconcileReport> {
    const report: ReconcileReport = { networksRestored: [], networksRemoved: [], endpointsReleased: [], orphanLinks: [] };
    await this.reconcileStep('retired links', () => sweepRetired());
    await this.reconcileStep('retired sandbox links', () => this.sweepSandboxes());
    for (const net of this.listNetworks()) {
      const state = this.store.networks.get(net.id)?.state;
      await this.reconcileStep(`network ${net.name}`, async () => {
        if (state !== 'ready') {
          if (this.store.endpoints.listByNetwork(net.id).length > 0) return;
          await this.undoNetwork(net, getDriver(net.driver));
          report.networksRemoved.push(net.name);
          return;
        }
        await getDriver(net.driver).ensureNetwork(net);
        const rules = this.networkRuleSets(net);
        if (rules.length > 0) await this.firewall.ensureBase();
        await this.firewall.apply({ add: rules });
        if (net.driver === 'bridge') await this.reattachPorts(net as NetworkInfo & Network<BridgeOptions>);
        report.networksRestored.push(net.name);
      });
    }
    for (const row of this.store.endpoints.list()) {
      await this.reconcileStep(`endpoint ${row.id.slice(0, 12)}`, async () => {
        if (row.state !== 'attached' || await this.sandboxGone(row)) {
          await this.detach(row.id);
          report.endpointsReleased.push(row.id);
        } else {
          const ports = this.endpointInfo(row.id).ports;
          if (ports.length > 0) {
            await this.publishRules(ports);
            this.holdAgain(row, ports);
          }
        }
      });
    }
    await this.reconcileStep('orphan veths', async () => void report.orphanLinks.push(...(await this.removeOrphanVeths())));
    return report;
  }

  /**
   * Whether an endpoint's sandbox is gone, so that nothing will ever detach it. netns
   * placement: its path is no netns any more. host-end placement (libnetwork's Join): the
   * caller moves the interface into its sandbox right after attach and back into the host,
   * under the temporary name, only when the sandbox goes (dockerd does so even when its
   * Leave and DeleteEndpoint then fail because tsnetd is down), and a destroyed netns takes
   * a veth pair with it. So: the interface in the host under that name, or the veth's host
   * end missing. The sandbox path itself tells nothing here: dockerd mounts it in its own
   * mount namespace (and may leave the file for a minute). In the milliseconds between Join
   * and dockerd's move the interface is in the host too: a restart right then fails that
   * container's start rather than leak. Host netns.
   */
  private async sandboxGone(row: EndpointRow): Promise<boolean> {
    const placement = placementNow(row);
    if (placement.kind === 'netns') return placement.replaced === true || !isNetns(placement.netnsPath);
    const h = nl.hostNetlink();
    if (await nl.getLink(h, placement.ifname)) return true;
    return row.hostIfname !== undefined && !(await nl.getLink(h, row.hostIfname));
  }

  /**
   * After a restart, the held host ports of an endpoint of an engine or Docker network (CNI
   * networks hold none) are taken again. A port a host process took meanwhile stays
   * published (the container keeps it) and is reported: DNAT takes that process's traffic.
   */
  private holdAgain(row: EndpointRow, ports: readonly PortBinding[]): void {
    if (isCniNetwork(this.getNetwork(row.networkId).labels)) return;
    for (const p of ports) {
      try {
        this.holds.hold(row.id, [p]);
      } catch (err) {
        log.warn({ err, endpoint: row.id, port: `${p.hostPort}/${p.proto} on ${p.hostIp}` }, 'a published host port was taken while tsnetd was down');
      }
    }
  }

  /**
   * A bridge deleted behind our back and re-created by ensureNetwork has lost its ports:
   * the endpoints' host veths (still alive) are enslaved to it again. Host netns.
   */
  private async reattachPorts(net: NetworkInfo & Network<BridgeOptions>): Promise<void> {
    const h = nl.hostNetlink();
    const br = await nl.getLink(h, bridgeName(net));
    if (!br) return;
    for (const ep of this.listEndpoints(net.id)) {
      if (!ep.hostIfname) continue;
      const link = await nl.getLink(h, ep.hostIfname);
      if (!link || link.masterIndex === br.index) continue;
      await nl.setLinkMaster(h, ep.hostIfname, bridgeName(net));
      await nl.setBridgePortHairpin(h, ep.hostIfname, net.options.hairpin, { up: true });
    }
  }

  private async reconcileStep(what: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      log.error({ what, err }, 'reconcile step failed');
    }
  }

  /** Deletes host veths named like ours, enslaved to one of our bridges, that no endpoint owns. */
  private async removeOrphanVeths(): Promise<string[]> {
    const h = nl.hostNetlink();
    const links = await nl.listLinks(h);
    const ourBridges = new Set(this.listNetworks().filter((n) => n.driver === 'bridge').map((n) => bridgeName(n as Network<BridgeOptions>)));
    const bridgeIdx = new Set(links.filter((l) => ourBridges.has(l.name)).map((l) => l.index));
    const owned = new Set(this.listEndpoints().map((e) => e.hostIfname));
    const orphans = links.filter((l) => /^veth[0-9a-f]{7}$/.test(l.name) && l.masterIndex !== undefined && bridgeIdx.has(l.masterIndex) && !owned.has(l.name));
    for (const l of orphans) await nl.deleteLink(h, l.name);
    return orphans.map((l) => l.name);
  }

  // ---------------------------------------------------------------- endpoints

  /** Creates an endpoint in the placement; all or nothing (kernel, IPAM, ports, rules). */
  async attach(req: AttachRequest): Promise<EndpointInfo> {
    const net = this.getNetwork(req.network);
    const driver = getDriver(net.driver);
    return withContext(`attach to network "${net.name}"`, async () => {
      const { plan, bindings } = this.recordEndpoint(net, req);
      const undo = new UndoStack();
      try {
        if (req.holdHostPorts) await undo.step('hold host ports', () => this.holds.hold(plan.id, bindings), (taken) => this.holds.release(plan.id, taken));
        const result = await driver.attach(net, plan, req.placement, undo);
        if (bindings.length > 0) {
          await undo.step('publish ports', () => this.publishRules(bindings), () => this.unpublishRules(bindings));
        }
        // The MAC as the kernel gave it (a passthru macvlan takes its parent's).
        this.store.endpoints.update(plan.id, { state: 'attached', hostIfname: result.hostIfname ?? null, ifname: result.ifname, mac: result.mac });
        undo.commit();
        return this.endpointInfo(plan.id);
      } catch (err) {
        await undo.rollback();
        this.forgetEndpoint(plan.id);
        throw err;
      }
    });
  }

  /** Removes an endpoint; idempotent, and tolerant of a vanished netns or link. */
  async detach(endpointId: string): Promise<void> {
    const row = this.store.endpoints.get(endpointId);
    if (!row) return;
    const net = this.getNetwork(row.networkId);
    await withContext(`detach endpoint ${endpointId.slice(0, 12)} from "${net.name}"`, async () => {
      this.store.endpoints.update(row.id, { state: 'detaching' });
      const ep = this.endpointInfo(row.id);
      ep.placement = placementNow(row);
      if (ep.ports.length > 0) await this.unpublishRules(ep.ports);
      this.holds.release(row.id); // after the DNAT rules: the port is never free while DNATed
      const driver = getDriver(net.driver);
      const sweep = driver.retiresInSandbox && ep.placement.kind === 'netns' && !ep.placement.replaced ? ep.placement.netnsPath : undefined;
      const intent = sweep === undefined ? undefined : this.store.intents.begin(SWEEP_INTENT, sweep);
      await driver.detach(net, this.planOf(row), ep.placement);
      this.forgetEndpoint(row.id);
      if (ep.placement.kind === 'netns' && !ep.placement.replaced) await this.handOverDefaultRoutes(row, ep.addresses, net, ep.placement.netnsPath);
      // Closed once the reaper has deleted the retired link (not awaited: DEL answers first);
      // at once when deletes are not deferred (the link is gone already).
      if (sweep !== undefined && intent !== undefined) {
        if (!linkDeletesDeferred()) this.store.intents.done(intent);
        else void settleRetired(sweep).then(() => this.store.intents.done(intent)).catch((err: unknown) => log.warn({ err, netns: sweep }, 'cannot close sandbox sweep intent'));
      }
    });
  }

  /**
   * After `left` was detached from a sandbox that has other endpoints: a default route per
   * family `left` could have carried, through the first other endpoint with a gateway of
   * that family, as Docker moves the gateway (else the sandbox keeps no default route).
   * EEXIST: the sandbox still has one. Not for CNI networks (the runtime owns their routes)
   * nor internal ones. Best effort: the detach is done whatever happens here.
   */
  private async handOverDefaultRoutes(left: EndpointRow, addresses: EndpointAddress[], net: NetworkInfo, netnsPath: string): Promise<void> {
    if (left.sandbox === undefined || net.internal || isCniNetwork(net.labels)) return;
    const families = new Set(addresses.filter((a) => a.gateway).map((a) => a.family));
    // The common case, a sandbox on one network, ends at this indexed query.
    const others = families.size === 0 ? [] : this.store.endpoints.listBySandbox(left.sandbox);
    if (others.length === 0 || !isNetns(netnsPath)) return;
    for (const other of others) {
      const o = other.options as unknown as EndpointOptions;
      const onet = this.store.networks.get(other.networkId);
      if (other.state !== 'attached' || o.placement.kind !== 'netns' || o.placement.netnsPath !== netnsPath) continue;
      if (!onet || onet.internal || isCniNetwork(onet.labels)) continue;
      for (const a of o.addresses) {
        if (!a.gateway || !families.delete(a.family)) continue;
        const ifname = other.ifname ?? o.placement.ifname;
        await addDefaultRouteAt(netnsPath, ifname, a.family, a.gateway)
          .catch((err: unknown) => log.warn({ err, netns: netnsPath, ifname }, 'cannot move the default route to another endpoint'));
      }
    }
  }

  /**
   * Links retired in sandboxes by a process that died before its reaper deleted them (a
   * macvlan detached just before a crash): deleted now, in each sandbox netns still there.
   */
  private async sweepSandboxes(): Promise<void> {
    for (const intent of this.store.intents.pending().filter((i) => i.kind === SWEEP_INTENT)) {
      if (isNetns(intent.subject)) await withNetlinkAt(intent.subject, (h) => nl.deleteLinkGroup(h, DYING_GROUP));
      this.store.intents.done(intent.id);
    }
  }

  /** Compares the kernel with the endpoint's record; throws when they differ. */
  async check(endpointId: string): Promise<void> {
    const row = this.store.endpoints.get(endpointId);
    if (!row) throw new NotFoundError(`endpoint ${endpointId} not found`);
    const net = this.getNetwork(row.networkId);
    const ep = this.endpointInfo(row.id);
    await getDriver(net.driver).check(net, this.planOf(row), ep.placement);
  }

  /**
   * Publishes ports of an existing endpoint of a bridge network (libnetwork's
   * ProgramExternalConnectivity): reserves them and adds their DNAT rules (host netns), all
   * or nothing. Returns the new bindings; unpublish or detach removes them.
   */
  async publish(endpointId: string, ports: PortRequest[], opts: { holdHostPorts?: boolean } = {}): Promise<PortBinding[]> {
    const row = this.store.endpoints.get(endpointId);
    if (!row) throw new NotFoundError(`endpoint ${endpointId} not found`);
    ports.forEach((p, i) => validatePortRequest(p, `ports[${i}]`));
    if (ports.length === 0) return [];
    const net = this.getNetwork(row.networkId);
    checkPublishable(net, ports);
    // A port this endpoint already publishes may be asked again (idempotent): a failure
    // releases only the rows this call made, the earlier publish stays whole.
    const { bindings, fresh } = this.store.tx(() => {
      const had = new Set(this.store.ports.list({ endpointId }).map(portKey));
      const all = this.reservePorts(net, endpointId, this.planOf(row).addresses, ports, opts.holdHostPorts);
      return { bindings: all, fresh: all.filter((b) => !had.has(portKey(b))) };
    });
    let held: PortBinding[] = [];
    try {
      if (opts.holdHostPorts) held = this.holds.hold(endpointId, bindings);
      await this.publishRules(bindings);
    } catch (err) {
      this.holds.release(endpointId, held);
      this.store.tx(() => fresh.forEach((b) => this.store.ports.release(b.proto, b.hostIp, b.hostPort)));
      throw err;
    }
    return bindings;
  }

  /** Removes every published port of an endpoint (rules, then reservations); idempotent. */
  async unpublish(endpointId: string): Promise<void> {
    const ep = this.getEndpoint(endpointId);
    if (!ep || ep.ports.length === 0) return;
    await this.unpublishRules(ep.ports);
    this.holds.release(endpointId);
    this.store.tx(() => this.store.ports.releaseEndpoint(endpointId));
  }

  getEndpoint(id: string): EndpointInfo | undefined {
    return this.store.endpoints.get(id) ? this.endpointInfo(id) : undefined;
  }

  listEndpoints(networkId?: string): EndpointInfo[] {
    const rows = networkId ? this.store.endpoints.listByNetwork(this.getNetwork(networkId).id) : this.store.endpoints.list();
    return rows.map((r) => this.endpointInfo(r.id));
  }

  /** Validates the request, then in one transaction allocates addresses and ports and records the endpoint. */
  private recordEndpoint(net: NetworkInfo, req: AttachRequest): { plan: EndpointPlan; bindings: PortBinding[] } {
    checkIfname(req.placement.ifname, 'ifname');
    const reqMac = req.mac === undefined ? undefined : checkMac(req.mac, 'mac'); // lower case, as the kernel shows it
    if (req.mtu !== undefined) parseMtu(req.mtu, 'mtu');
    const ports = req.ports ?? [];
    ports.forEach((p, i) => validatePortRequest(p, `ports[${i}]`));
    checkPublishable(net, ports);
    const id = req.id ?? randomBytes(32).toString('hex');
    const netnsIno = req.placement.kind === 'netns' ? inodeAt(req.placement.netnsPath) : undefined;
    return this.store.tx(() => {
      checkUsable(net, this.store.networks.get(net.id)?.state);
      if (this.store.endpoints.get(id)) throw new ConflictError(`endpoint ${id} already exists`, 'id');
      const statics = req.staticIps ?? [];
      const stray = statics.find((ip) => !net.subnets.some((s) => cidrContains(s.subnet, ip)));
      if (stray) throw new ConfigError(`address ${stray} is in no subnet of network "${net.name}"`, 'ips');
      const addresses = req.preallocated || isCniNetwork(net.labels)
        ? net.subnets.flatMap((s) => {
          const ip = statics.find((a) => cidrContains(s.subnet, a)) ?? (s.family === 4 ? req.ipv4 : req.ipv6);
          if (req.preallocated) return ip && cidrContains(s.subnet, ip) ? [this.heldAddress(s, ip)] : [];
          return [this.allocate(s, id, ip)]; // CNI: one address per range set (subnet)
        })
        : ([4, 6] as const).flatMap((f) => this.allocateFamily(net, f, id, f === 4 ? req.ipv4 : req.ipv6));
      for (const [f, ip] of [[4, req.ipv4], [6, req.ipv6]] as const) {
        if (ip && !net.subnets.some((s) => s.family === f)) throw new ConfigError(`network "${net.name}" has no IPv${f} subnet for ${ip}`, f === 4 ? 'ipv4' : 'ipv6');
        if (ip && req.preallocated && !addresses.some((a) => a.family === f)) throw new ConfigError(`address ${ip} is in no subnet of network "${net.name}"`, f === 4 ? 'ipv4' : 'ipv6');
      }
      const v4 = addresses.find((a) => a.family === 4);
      const mac = reqMac ?? (v4 ? macFromIp(v4.ip) : randomMac());
      const plan: EndpointPlan = {
        id, networkId: net.id, sandbox: req.sandbox, mac, addresses,
        hostIfname: hostIfnameFor(id), ...(req.mtu ? { mtu: req.mtu } : {}), ...(req.routes ? { routes: req.routes } : {}),
        ...(req.ipv6OffWithoutAddress && !addresses.some((a) => a.family === 6) ? { ipv6Off: true } : {}),
        ...(req.dad ? { dad: true } : {}),
        ...(net.internal ? { noDefaultRoute: true } : {}),
      };
      this.store.endpoints.insert({
        id, networkId: net.id, sandbox: req.sandbox, ifname: req.placement.ifname, mac, addrs: addresses.map((a) => a.cidr),
        options: { placement: req.placement, addresses, mtu: req.mtu ?? null, hostIfname: plan.hostIfname, ...(netnsIno === undefined ? {} : { netnsIno }) }, state: 'attaching',
      });
      return { plan, bindings: this.reservePorts(net, id, addresses, ports, req.holdHostPorts) };
    });
  }

  /**
   * One address of `family` (none when the network has no subnet of it), as Docker gives
   * an endpoint: from the subnet holding `ip` when asked, else from the first subnet with a
   * free address, in the network's order. ConfigError when `ip` is in none of them.
   */
  private allocateFamily(net: NetworkInfo, family: 4 | 6, owner: string, ip: string | undefined): EndpointAddress[] {
    const subnets = net.subnets.filter((s) => s.family === family);
    if (subnets.length === 0) return [];
    if (ip !== undefined) {
      const s = subnets.find((x) => cidrContains(x.subnet, ip));
      if (!s) throw new ConfigError(`address ${ip} is in no subnet of network "${net.name}"`, family === 4 ? 'ipv4' : 'ipv6');
      return [this.allocate(s, owner, ip)];
    }
    for (const [i, s] of subnets.entries()) {
      try {
        return [this.allocate(s, owner, undefined)];
      } catch (err) {
        if (!(err instanceof ConflictError) || i === subnets.length - 1) throw err; // full: the next subnet
      }
    }
    return [];
  }

  private allocate(s: NetworkSubnet, owner: string, ip: string | undefined): EndpointAddress {
    const a = this.ipam.allocate(s.poolId, { owner, ...(ip ? { ip } : {}) });
    return { family: s.family, ip: a.ip, cidr: a.cidr, ...(s.gateway ? { gateway: s.gateway } : {}) };
  }

  /** An address the caller allocated in pool `s` (preallocated attach); ConflictError when it is not. */
  private heldAddress(s: NetworkSubnet, ip: string): EndpointAddress {
    const field = s.family === 4 ? 'ipv4' : 'ipv6';
    const canonical = normalizeIp(ip, field);
    const pool = this.ipam.getPool(s.poolId);
    const held = this.store.allocations.get(s.poolId, canonical);
    if (!pool || !held || held.kind !== 'endpoint') throw new ConflictError(`address ${ip} is not allocated in ${s.subnet}`, field);
    return { family: s.family, ip: canonical, cidr: `${canonical}/${pool.prefixLen}`, ...(s.gateway ? { gateway: s.gateway } : {}) };
  }

  /**
   * Reserves the requested ports in the store, on each family of the endpoint's addresses
   * that the request covers (expandForEndpoint); with `held`, a port picked from a range is
   * one no host process has.
   */
  private reservePorts(net: NetworkInfo, endpointId: string, addresses: readonly EndpointAddress[], ports: PortRequest[], held = false): PortBinding[] {
    if (ports.length === 0) return [];
    const to = { v4: addresses.find((a) => a.family === 4)?.ip, v6: addresses.find((a) => a.family === 6)?.ip };
    if (!to.v4 && !to.v6) throw new ConfigError(`network "${net.name}" gave the endpoint no address to publish ports to`, 'ports');
    const defaultHostIp = (net.options as BridgeOptions).hostBindingIp ?? '0.0.0.0';
    const bindings: PortBinding[] = [];
    // One indexed lookup per candidate port (proto, host_port): constant in the number of
    // mappings. The ports this call took already count, so an ephemeral pick avoids them.
    const isFree = (proto: Proto, hostIp: string, hostPort: number) => !bindings.some((b) => portsClash(b, { proto, hostIp, hostPort })) &&
      !this.store.ports.list({ proto, hostPort }).some((t) => hostIpsClash(t.hostIp, hostIp)) &&
      (!held || hostPortFree({ proto, hostIp, hostPort }));
    ports.forEach((p, i) => bindings.push(...expandForEndpoint(p, to, defaultHostIp, isFree, `ports[${i}]`)));
    this.store.ports.reserve(bindings.map((b) => ({ ...b, endpointId, networkId: net.id })));
    return bindings;
  }

  /**
   * DNAT for published ports: elements of tsnet's nftables maps (core/firewall PortMap),
   * changed over netlink at constant cost; the table is ensured once per process. Public for
   * front-ends that reserve ports themselves (tsnet-portmap chained after a main plugin).
   */
  async publishRules(bindings: PortBinding[]): Promise<void> {
    await this.addMappings(bindings.map(toNft));
    await this.forgetUdpFlows(bindings, { published: true });
  }

  private async addMappings(mappings: NftPortMapping[]): Promise<void> {
    if (this.lazyPortTable && !this.portMapReady && this.layoutCurrent() && await this.addIfTable(mappings)) return;
    this.portMapReady ??= this.ensureLayout().catch((err: unknown) => {
      this.portMapReady = undefined;
      throw err;
    });
    await this.portMapReady;
    await this.portMap.add(mappings);
  }

  /**
   * Whether the port table and the iptables jumps are the ones this version makes, as far as
   * this store knows (FIREWALL_LAYOUT_KEY): a one-shot process (standalone CNI) adds to an
   * existing table without re-making it, which after an upgrade would keep an older layout
   * (before v2: prerouting DNATed 127.0.0.0/8 from other hosts) on hosts with no tsnetd.
   */
  private layoutCurrent(): boolean {
    return this.store.kv.get(FIREWALL_LAYOUT_KEY) === String(FIREWALL_LAYOUT);
  }

  /** Makes the port table (chains re-made, maps kept), drops older versions' jumps once, and records the layout. */
  private async ensureLayout(): Promise<void> {
    await this.portMap.ensure();
    if (this.layoutCurrent()) return;
    try {
      await this.firewall.removeLegacy();
    } catch (err) {
      // No iptables to read: no old jump either. Logged, and not tried again.
      log.warn({ err }, 'cannot check for firewall jumps of older versions');
    }
    this.store.kv.set(FIREWALL_LAYOUT_KEY, String(FIREWALL_LAYOUT));
  }

  /** Adds the mappings when the port table exists (true); false when it is missing. */
  private async addIfTable(mappings: NftPortMapping[]): Promise<boolean> {
    try {
      await this.portMap.add(mappings);
      return true;
    } catch (err) {
      if (err instanceof KernelError && err.errno === 2) return false; // ENOENT: no table or map
      throw err;
    }
  }

  /** Idempotent: mappings already gone (or never made) are fine. */
  async unpublishRules(bindings: PortBinding[]): Promise<void> {
    await this.portMap.remove(bindings.map(toNft));
    await this.forgetUdpFlows(bindings);
  }

  /**
   * Deletes the host netns's conntrack entries of the UDP host ports in `bindings`, once their
   * DNAT was added or removed, as Docker does: the kernel decides NAT on a flow's first packet
   * only, so a UDP client with a fixed source port (DNS forwarder, syslog, WireGuard, QUIC)
   * that sent before the publish would never be DNATed, and one DNATed to a former target
   * would keep going there. Nothing for TCP (a connection to an unpublished port never
   * established); one dump per call (tsnetd: per walk of the sweeper's worker). After a
   * publish (`published`), entries the new mapping made are kept: deleting one would send the
   * container's reply out without the reverse NAT. A failure is logged, not raised: the
   * mapping is in place.
   */
  async forgetUdpFlows(bindings: readonly PortBinding[], opts: { published?: boolean } = {}): Promise<void> {
    await this.deleteUdpFlows(udpFlowMatches(bindings, opts.published));
  }

  private async deleteUdpFlows(matches: nl.ConntrackMatch[]): Promise<void> {
    if (this.reconciledFlows) {
      this.reconciledFlows.push(...matches);
      return;
    }
    if (matches.length === 0) return;
    const deleted = deleteFlows(matches).catch((err: unknown) => {
      log.warn({ err, ports: matches.map((m) => m.port) }, 'cannot delete the conntrack entries of published UDP ports');
    });
    // tsnetd: the worker walks the table while the call returns (settleFlows before exit).
    if (!flowDeletesDeferred()) await deleted;
  }

  /** Removes every tsnet firewall object (iptables chains and the nftables table); tests, uninstall. */
  async teardownFirewall(): Promise<void> {
    await this.firewall.teardown();
    await this.portMap.teardown();
    this.portMapReady = undefined;
  }


  /** Releases the endpoint's addresses and ports and deletes its record, in one transaction. */
  private forgetEndpoint(id: string): void {
    this.holds.release(id);
    try {
      this.store.tx(() => {
        this.ipam.releaseOwner(id);
        this.store.ports.releaseEndpoint(id);
        this.store.endpoints.remove(id);
      });
    } catch (err) {
      log.error({ endpoint: id, err }, 'cannot release endpoint records');
      throw err;
    }
  }

  private planOf(row: EndpointRow): EndpointPlan {
    const o = row.options as unknown as EndpointOptions;
    return {
      id: row.id, networkId: row.networkId, sandbox: row.sandbox ?? '', mac: row.mac ?? '',
      addresses: o.addresses, hostIfname: row.hostIfname ?? o.hostIfname, ...(o.mtu ? { mtu: o.mtu } : {}),
    };
  }

  private endpointInfo(id: string): EndpointInfo {
    const row = this.store.endpoints.get(id);
    if (!row) throw new NotFoundError(`endpoint ${id} not found`);
    const net = this.store.networks.get(row.networkId);
    const o = row.options as unknown as EndpointOptions;
    return {
      id: row.id, networkId: row.networkId, networkName: net?.name ?? row.networkId, sandbox: row.sandbox ?? '',
      placement: o.placement, ifname: row.ifname ?? o.placement.ifname, ...(row.hostIfname ? { hostIfname: row.hostIfname } : {}),
      mac: row.mac ?? '', addresses: o.addresses,
      ports: this.store.ports.list({ endpointId: id }).map((p) => ({ proto: p.proto as Proto, hostIp: p.hostIp, hostPort: p.hostPort, containerIp: p.containerIp, containerPort: p.containerPort })),
    };
  }
}

/** Whether a network to create has IPv6: as asked, else implied by an IPv6 subnet (see CreateNetworkRequest.ipv6). */
function ipv6Wanted(req: CreateNetworkRequest): boolean {
  const v6 = req.subnets?.find((s) => s.subnet.includes(':'));
  if (req.ipv6 === false && v6) throw new ConfigError(`subnet ${v6.subnet} is IPv6 but IPv6 is off for network "${req.name}"`, 'ipv6');
  return req.ipv6 ?? v6 !== undefined;
}

/** The families a network to create gets a default subnet in (see CreateNetworkRequest.ipv4). */
function familiesWanted(req: CreateNetworkRequest, ipv6: boolean): (4 | 6)[] {
  if (req.ipv4 !== false) return ipv6 ? [4, 6] : [4];
  const v4 = req.subnets?.find((s) => !s.subnet.includes(':'));
  if (v4) throw new ConfigError(`subnet ${v4.subnet} is IPv4 but IPv4 is off for network "${req.name}"`, 'ipv4');
  if (!ipv6) throw new ConfigError(`network "${req.name}" has neither IPv4 nor IPv6`, 'ipv4');
  return [6];
}

/**
 * Ports can be published on a bridge network that is not internal: an internal network
 * has no DNAT nor masquerade and drops traffic from outside, so its ports would be held
 * and reach nothing (Docker publishes nothing there either).
 */
function checkPublishable(net: NetworkInfo, ports: readonly PortRequest[]): void {
  if (ports.length === 0) return;
  if (net.driver !== 'bridge') throw new ConfigError(`port publishing needs a bridge network, "${net.name}" is ${net.driver}`, 'ports');
  if (net.internal) throw new ConfigError(`network "${net.name}" is internal: nothing from outside reaches it, so it publishes no ports`, 'ports');
}

/** An attach goes to a network whose creation finished and that is not being removed (state read in the attach's transaction). */
function checkUsable(net: NetworkInfo, state: string | undefined): void {
  if (state === 'ready') return;
  if (state === 'creating') throw new TryAgainError(`network "${net.name}" is still being created`);
  throw new ConflictError(`network "${net.name}" is being removed`, 'network');
}

/**
 * The endpoint's placement, marked `replaced` when the netns at its path is not the one it
 * was attached to (engine sandbox paths are reused: a stale endpoint's detach must not
 * delete the interface of the same name in the new one).
 */
function placementNow(row: EndpointRow): Placement {
  const o = row.options as unknown as EndpointOptions;
  const p = o.placement;
  if (p.kind !== 'netns' || o.netnsIno === undefined || inodeAt(p.netnsPath) === o.netnsIno) return p;
  return { ...p, replaced: true };
}

const portKey = (b: { proto: string; hostIp: string; hostPort: number }) => `${b.proto}/${b.hostIp}/${b.hostPort}`;

function toNft(b: PortBinding): NftPortMapping {
  return { proto: b.proto, ...(b.hostIp === '0.0.0.0' || b.hostIp === '::' ? {} : { hostIp: b.hostIp }), hostPort: b.hostPort, containerIp: b.containerIp, containerPort: b.containerPort };
}

/**
 * The conntrack entries a change of these bindings leaves stale: UDP to the host port, in the
 * container's family, to the host IP when it is one address, else to any of the host's own
 * addresses (a flow to that port number elsewhere was never the port's). `published`: the
 * bindings' DNAT is in place, and entries whose reply comes from their target are its own.
 */
export function udpFlowMatches(bindings: readonly PortBinding[], published = false): nl.ConntrackMatch[] {
  const out = new Map<string, nl.ConntrackMatch>();
  for (const b of bindings) {
    if (b.proto !== 'udp') continue;
    const family = b.containerIp.includes(':') ? 6 : 4;
    const one = b.hostIp !== '0.0.0.0' && b.hostIp !== '::' && b.hostIp.includes(':') === (family === 6);
    const m: nl.ConntrackMatch = {
      family, proto: 'udp', port: b.hostPort, ...(one ? { dst: b.hostIp } : { local: true }),
      ...(published ? { keepTo: { ip: b.containerIp, port: b.containerPort } } : {}),
    };
    out.set(nl.conntrackMatchKey(m), m);
  }
  return [...out.values()];
}

function randomMac(): string {
  const b = randomBytes(6);
  b[0] = ((b[0] ?? 0) & 0xfe) | 0x02; // unicast, locally administered
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}
