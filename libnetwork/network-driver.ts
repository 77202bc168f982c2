/**
 * Docker's remote NetworkDriver over the NetworkManager. Docker's network and endpoint ids
 * are kept as tsnet's. CreateEndpoint only records (and, with Docker's own IPAM, reserves
 * the addresses Docker chose); Join makes the interface through the manager with a
 * host-end placement: it stays in the daemon's netns under a temporary name and Docker
 * moves it into the sandbox, renames it and sets its addresses and routes. Leave detaches.
 * Ports are published by ProgramExternalConnectivity through the manager's DNAT.
 * Kernel work happens only inside the manager (daemon's netns).
 */
import { randomBytes } from 'node:crypto';
import { Ajv } from 'ajv';
import { ConfigError, ConflictError, NotFoundError, log } from '../core/index.js';
import { cidrContains, macFromIp, parseCidr, type ParsedCidr } from '../ipam/index.js';
import { checkMac, type NetworkInfo, type NetworkManager } from '../drivers/index.js';
import { DockerState, IPAM_OWNER, endpointOwner, type EndpointRecord } from './state.js';
import {
  OWNER_DOCKER, OWNER_LABEL, bindingsToWire, exposedPortsFrom, joinIfname, networkRequestFrom, portRequestsFrom,
} from './translate.js';
import {
  EXPOSED_PORTS, EXPOSED_PORTS_SCHEMA, PORT_MAP, PORT_MAP_SCHEMA,
  type CreateEndpointWire, type CreateNetworkWire, type EndpointRefWire, type JoinResponseWire, type JoinWire,
  type PortBindingWire, type ProgramWire, type TransportPortWire,
} from './wire.js';

const ajv = new Ajv({ strict: false });
const validPortMap = ajv.compile(PORT_MAP_SCHEMA);
const validExposed = ajv.compile(EXPOSED_PORTS_SCHEMA);

export class NetworkDriverApi {
  constructor(private readonly mgr: NetworkManager, private readonly state: DockerState) {}

  capabilities(): Record<string, unknown> {
    return { Scope: 'local', ConnectivityScope: 'local' };
  }

  /** Creates the tsnet network (same id), adopting the pools tsnet's IPAM gave Docker. */
  async createNetwork(w: CreateNetworkWire): Promise<Record<string, unknown>> {
    const req = networkRequestFrom(w, (subnet) => this.adoptablePool(subnet));
    await this.mgr.createNetwork(req);
    return {};
  }

  /**
   * Removes the network with whatever endpoints tsnet still has in it; its adopted pools go
   * back to the IPAM side, or go away if Docker already released them. dockerd calls this
   * only after it removed its endpoints, and forgets the network whatever the answer: an
   * endpoint left here (its Leave / DeleteEndpoint lost) would otherwise keep the bridge,
   * rules, ports and pool forever. (tsnet's own `network rm` still refuses endpoints.)
   */
  async deleteNetwork(w: { NetworkID: string }): Promise<Record<string, unknown>> {
    const net = this.dockerNetwork(w.NetworkID);
    const left = this.mgr.listEndpoints(net.id);
    if (left.length > 0) log.warn({ network: net.id, endpoints: left.map((e) => e.id) }, 'DeleteNetwork: removing endpoints dockerd did not delete');
    for (const ep of left) await this.mgr.detach(ep.id);
    this.mgr.store.tx(() => {
      for (const { id, rec } of this.state.endpoints()) if (rec.networkId === net.id) this.forget(id);
    });
    await this.mgr.removeNetwork(net.id);
    this.mgr.store.tx(() => {
      for (const s of net.subnets) {
        if (!this.state.pool(s.poolId)?.released) continue;
        this.mgr.ipam.deletePool(s.poolId, { force: true });
        this.state.deletePool(s.poolId);
      }
    });
    return {};
  }

  /**
   * Records the endpoint. Addresses Docker gives must lie in the network's subnets; in a
   * pool of tsnet's IPAM they must be allocated already (RequestAddress), otherwise they
   * are reserved here for the endpoint. Without any address from Docker (null IPAM) one
   * is allocated per subnet family. The answer carries only what Docker did not give.
   */
  createEndpoint(w: CreateEndpointWire): Record<string, unknown> {
    const net = this.dockerNetwork(w.NetworkID);
    const iface = w.Interface ?? {};
    const mac = iface.MacAddress ? checkMac(iface.MacAddress, 'Interface.MacAddress') : undefined;
    const v4 = iface.Address ? parseCidr(iface.Address, 'Interface.Address') : undefined;
    const v6 = iface.AddressIPv6 ? parseCidr(iface.AddressIPv6, 'Interface.AddressIPv6') : undefined;
    if (v4 && v4.family !== 4) throw new ConfigError(`Interface.Address ${iface.Address ?? ''} is not IPv4`, 'Interface.Address');
    if (v6 && v6.family !== 6) throw new ConfigError(`Interface.AddressIPv6 ${iface.AddressIPv6 ?? ''} is not IPv6`, 'Interface.AddressIPv6');
    const owner = endpointOwner(w.EndpointID);
    return this.mgr.store.tx(() => {
      if (this.state.endpoint(w.EndpointID)) throw new ConflictError(`endpoint ${w.EndpointID} already exists`, 'EndpointID');
      const given = v4 !== undefined || v6 !== undefined;
      const ipv4 = v4 ? this.hold(net, v4, owner, 'Interface.Address') : given ? undefined : this.allocate(net, 4, owner);
      const ipv6 = v6 ? this.hold(net, v6, owner, 'Interface.AddressIPv6') : given ? undefined : this.allocate(net, 6, owner);
      const rec: EndpointRecord = {
        networkId: net.id, ...(ipv4 ? { ipv4: ipv4.ip } : {}), ...(ipv6 ? { ipv6: ipv6.ip } : {}),
        mac: mac ?? (ipv4 ? macFromIp(ipv4.ip) : randomMac()), exposed: [], portmap: [],
      };
      this.state.setEndpoint(w.EndpointID, rec);
      const answer = {
        ...(!given && ipv4 ? { Address: ipv4.cidr } : {}), ...(!given && ipv6 ? { AddressIPv6: ipv6.cidr } : {}),
        ...(mac ? {} : { MacAddress: rec.mac }),
      };
      return Object.keys(answer).length > 0 ? { Interface: answer } : {};
    });
  }

  /** The endpoint as tsnet has it: addresses, interface names, published and exposed ports. */
  endpointOperInfo(w: EndpointRefWire): Record<string, unknown> {
    const rec = this.endpointRecord(w);
    const ep = this.mgr.getEndpoint(w.EndpointID);
    return {
      Value: {
        'tsnet.network': rec.networkId, 'tsnet.joined': ep !== undefined, 'tsnet.mac': rec.mac,
        ...(rec.ipv4 ? { 'tsnet.ipv4': rec.ipv4 } : {}), ...(rec.ipv6 ? { 'tsnet.ipv6': rec.ipv6 } : {}),
        ...(ep?.hostIfname ? { 'tsnet.host_ifname': ep.hostIfname } : {}), ...(ep ? { 'tsnet.sandbox': ep.sandbox } : {}),
        [PORT_MAP]: bindingsToWire(ep?.ports ?? []), [EXPOSED_PORTS]: rec.exposed,
      },
    };
  }

  /** Detaches the endpoint (interface, ports) if it joined, releases what it holds, forgets it. */
  async deleteEndpoint(w: EndpointRefWire): Promise<Record<string, unknown>> {
    const rec = this.endpointRecord(w);
    // Marked first: a tsnetd killed before forget() leaves a record forgetLostEndpoints must
    // not take for one dockerd gave up on (dockerd's ReleaseAddress follows this call).
    this.state.setEndpoint(w.EndpointID, { ...rec, deleting: true });
    await this.mgr.detach(w.EndpointID);
    this.mgr.store.tx(() => this.forget(w.EndpointID));
    return {};
  }

  /**
   * Deletes the pools Docker released (ReleasePool) while their network still existed, when
   * that network is gone now: a tsnetd killed during DeleteNetwork (reconcile then finished
   * the removal) never got to them, and dockerd, having forgotten both, never asks again;
   * each would hold its subnet (and a default one) for good. Run after reconcile. Their ids.
   */
  forgetReleasedPools(): string[] {
    const gone = this.state.pools().filter(({ id, rec }) => rec.released && this.mgr.ipam.getPool(id)?.networkId === undefined);
    this.mgr.store.tx(() => {
      for (const { id } of gone) {
        if (this.mgr.ipam.getPool(id)) this.mgr.ipam.deletePool(id, { force: true });
        this.state.deletePool(id);
      }
    });
    return gone.map((g) => g.id);
  }

  /**
   * Forgets, as DeleteEndpoint and ReleaseAddress would, the endpoints that had joined a
   * sandbox and whose interface reconcile released because the sandbox is gone
   * (NetworkManager.sandboxGone): dockerd removed the container while tsnetd was down, gave
   * up on Leave, DeleteEndpoint and ReleaseAddress and forgot the endpoint, so nothing
   * would ever release its addresses. A record marked `deleting` (tsnetd killed inside
   * DeleteEndpoint) keeps its addresses: dockerd still holds them and releases them itself.
   * Run after reconcile, before serving. Returns their ids.
   */
  forgetLostEndpoints(): string[] {
    const lost = this.state.endpoints().filter(({ id, rec }) => rec.sandboxKey !== undefined && !this.mgr.getEndpoint(id));
    for (const { id, rec } of lost) {
      this.mgr.store.tx(() => {
        if (!rec.deleting) this.releaseIpamAddresses(rec);
        this.forget(id);
      });
    }
    return lost.map((l) => l.id);
  }

  /**
   * Creates the interface in the daemon's netns under a temporary name (a veth whose other
   * end is on the bridge, or a macvlan on the parent) and answers its name, the gateways
   * (none on an internal network) and no static routes.
   */
  async join(w: JoinWire): Promise<JoinResponseWire> {
    const rec = this.endpointRecord(w);
    const { sandboxKey: _, ...unjoined } = rec;
    // A re-Join after Leave (same sandbox or not) starts from a fresh interface; the record
    // is not joined meanwhile, so a failed attach leaves nothing forgetLostEndpoints takes for lost.
    if (this.mgr.getEndpoint(w.EndpointID)) {
      this.state.setEndpoint(w.EndpointID, unjoined);
      await this.mgr.detach(w.EndpointID);
    }
    const net = this.mgr.getNetwork(rec.networkId);
    const ep = await this.mgr.attach({
      network: net.id, sandbox: w.SandboxKey, id: w.EndpointID, placement: { kind: 'host-end', ifname: joinIfname(w.EndpointID) },
      mac: rec.mac, preallocated: true, ...(rec.ipv4 ? { ipv4: rec.ipv4 } : {}), ...(rec.ipv6 ? { ipv6: rec.ipv6 } : {}),
    });
    this.state.setEndpoint(w.EndpointID, { ...unjoined, sandboxKey: w.SandboxKey });
    const gateway = (family: 4 | 6) => (net.internal ? undefined : ep.addresses.find((a) => a.family === family)?.gateway);
    const gw4 = gateway(4);
    const gw6 = gateway(6);
    return {
      InterfaceName: { SrcName: ep.ifname, DstPrefix: 'eth' },
      ...(gw4 ? { Gateway: gw4 } : {}), ...(gw6 ? { GatewayIPv6: gw6 } : {}),
      StaticRoutes: [], DisableGatewayService: !gw4 && !gw6,
    };
  }

  /**
   * Unpublishes the endpoint's ports; idempotent for a known endpoint. The interface goes
   * at DeleteEndpoint, as with Docker's own drivers: after Leave dockerd moves it back out
   * of the sandbox under its SrcName (a macvlan would otherwise survive in the host).
   */
  async leave(w: EndpointRefWire): Promise<Record<string, unknown>> {
    this.endpointRecord(w);
    await this.mgr.unpublish(w.EndpointID);
    return {};
  }

  /**
   * Publishes Docker's `com.docker.network.portmap` bindings as DNAT rules (bridge networks;
   * other drivers have no NAT and ignore them, as Docker's macvlan does) and records the
   * exposed ports. A second call replaces the first one's bindings.
   */
  async programExternalConnectivity(w: ProgramWire): Promise<Record<string, unknown>> {
    const rec = this.endpointRecord(w);
    const ep = this.mgr.getEndpoint(w.EndpointID);
    if (!ep) throw new NotFoundError(`endpoint ${w.EndpointID} has not joined a sandbox`);
    const portmap = optionOf<PortBindingWire[]>(w.Options, PORT_MAP, validPortMap) ?? [];
    const exposed = exposedPortsFrom(optionOf<TransportPortWire[]>(w.Options, EXPOSED_PORTS, validExposed));
    const { ports, skipped } = portRequestsFrom(portmap, { ipv6: ep.addresses.some((a) => a.family === 6) });
    if (skipped.length > 0) log.warn({ endpoint: w.EndpointID, skipped }, 'port bindings on IPv6 host addresses are not published: the endpoint has no IPv6 address');
    const net = this.mgr.getNetwork(ep.networkId);
    this.state.setEndpoint(w.EndpointID, { ...rec, exposed, portmap });
    if (net.driver !== 'bridge') {
      if (ports.length > 0) log.warn({ endpoint: w.EndpointID, driver: net.driver }, 'port bindings ignored: the network has no NAT');
      return {};
    }
    await this.mgr.unpublish(w.EndpointID);
    await this.mgr.publish(w.EndpointID, ports, { holdHostPorts: true }); // Docker's allocator holds the port too
    return {};
  }

  async revokeExternalConnectivity(w: EndpointRefWire): Promise<Record<string, unknown>> {
    const rec = this.endpointRecord(w);
    await this.mgr.unpublish(w.EndpointID);
    this.state.setEndpoint(w.EndpointID, { ...rec, portmap: [] });
    return {};
  }

  /** Releases what a Docker endpoint holds itself (Docker's own IPAM) and its record; inside the caller's tx. */
  private forget(id: string): void {
    this.mgr.ipam.releaseOwner(endpointOwner(id));
    this.state.deleteEndpoint(id);
  }

  /** Releases the endpoint's addresses that tsnet's IPAM gave Docker (ReleaseAddress's job); inside the caller's tx. */
  private releaseIpamAddresses(rec: EndpointRecord): void {
    if (!this.mgr.store.networks.get(rec.networkId)) return;
    const net = this.mgr.getNetwork(rec.networkId);
    for (const ip of [rec.ipv4, rec.ipv6]) {
      const s = ip === undefined ? undefined : net.subnets.find((x) => cidrContains(x.subnet, ip));
      if (!s || !ip || !this.state.pool(s.poolId)) continue;
      if (this.mgr.store.allocations.get(s.poolId, ip)?.owner === IPAM_OWNER) this.mgr.ipam.release(s.poolId, ip);
    }
  }

  /** A pool tsnet's IPAM handed Docker for `subnet` that no network uses yet. */
  private adoptablePool(subnet: string): string | undefined {
    // CNI pools may share a subnet (never with Docker's): only Docker's unassigned ones count.
    return this.mgr.ipam.listPools().find((p) => p.subnet === subnet && p.networkId === undefined && this.state.pool(p.id))?.id;
  }

  /** A network Docker created through this driver; NotFoundError for tsnet's own networks. */
  private dockerNetwork(id: string): NetworkInfo {
    const net = this.mgr.store.networks.get(id) ? this.mgr.getNetwork(id) : undefined;
    if (!net || net.id !== id || net.labels[OWNER_LABEL] !== OWNER_DOCKER) throw new NotFoundError(`network ${id} not found`);
    return net;
  }

  private endpointRecord(w: EndpointRefWire): EndpointRecord {
    const rec = this.state.endpoint(w.EndpointID);
    if (!rec || rec.networkId !== w.NetworkID) throw new NotFoundError(`endpoint ${w.EndpointID} not found in network ${w.NetworkID}`);
    return rec;
  }

  /**
   * An address Docker chose: in a pool of tsnet's IPAM it must already be allocated there
   * (by RequestAddress); in a pool made for Docker's own IPAM it is reserved for `owner`.
   * Runs inside the caller's transaction.
   */
  private hold(net: NetworkInfo, addr: ParsedCidr, owner: string, field: string): { ip: string; cidr: string } {
    const s = net.subnets.find((x) => x.family === addr.family && cidrContains(x.subnet, addr.ip));
    if (!s) throw new ConfigError(`${field} ${addr.ip} is in no subnet of network ${net.id}`, field);
    const prefix = Number(s.subnet.split('/')[1]);
    if (addr.prefixLen !== prefix) throw new ConfigError(`${field} ${addr.ip}/${addr.prefixLen} does not have the prefix of ${s.subnet}`, field);
    if (this.state.pool(s.poolId)) {
      const held = this.mgr.store.allocations.get(s.poolId, addr.ip);
      if (held?.owner !== IPAM_OWNER) throw new ConflictError(`${field} ${addr.ip} was not allocated by tsnet's IPAM`, field);
    } else {
      this.mgr.ipam.allocate(s.poolId, { owner, ip: addr.ip });
    }
    return { ip: addr.ip, cidr: `${addr.ip}/${prefix}` };
  }

  private allocate(net: NetworkInfo, family: 4 | 6, owner: string): { ip: string; cidr: string } | undefined {
    const s = net.subnets.find((x) => x.family === family);
    if (!s) return undefined;
    const a = this.mgr.ipam.allocate(s.poolId, { owner });
    return { ip: a.ip, cidr: a.cidr };
  }
}

/** An option value Docker sends as JSON, checked against its schema (ConfigError naming the key). */
function optionOf<T>(options: Record<string, unknown> | null | undefined, key: string, valid: (v: unknown) => boolean): T | undefined {
  const v = options?.[key];
  if (v === undefined || v === null) return undefined;
  if (!valid(v)) throw new ConfigError(`option "${key}" is malformed`, key);
  return v as T;
}

function randomMac(): string {
  const b = randomBytes(6);
  b[0] = ((b[0] ?? 0) & 0xfe) | 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}
