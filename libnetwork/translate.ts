/**
 * Pure translation between Docker's remote-driver wire forms and tsnet's NetworkManager
 * requests: CreateNetwork options and IPAM data, port bindings, interface names.
 * No store, no kernel: every function here is unit tested on its own.
 */
import { OWNER_LABEL, OWNER_DOCKER } from '../drivers/index.js';
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { ConfigError } from '../core/errors.js';
import { parseCidr } from '../ipam/index.js';
import type { CreateNetworkRequest, PortBinding, PortRequest, SubnetRequest } from '../drivers/index.js';
import {
  ENABLE_IPV4, ENABLE_IPV6, GENERIC, INTERNAL,
  type CreateNetworkWire, type IpamData, type PortBindingWire, type TransportPortWire,
} from './wire.js';

/** Label that marks the tsnet networks Docker created through this plugin (defined with the drivers). */
export { OWNER_LABEL, OWNER_DOCKER };

/** Generic option choosing tsnet's driver for a Docker network (default: bridge, or macvlan when `parent` is set). */
export const DRIVER_OPTION = 'tsnet.driver';
const DOCKER_DRIVERS = ['bridge', 'macvlan'] as const;

/** The tsnet name of a Docker network (Docker does not send its own name): "docker-" + 12 chars of the id. */
export function dockerNetworkName(networkId: string): string {
  return `docker-${networkId.slice(0, 12)}`;
}

/**
 * The temporary name of an endpoint's interface in the daemon's netns between Join and
 * Docker moving it into the sandbox: "tsn" + 12 hex of sha256(endpoint id), 15 bytes.
 */
export function joinIfname(endpointId: string): string {
  return `tsn${createHash('sha256').update(endpointId).digest('hex').slice(0, 12)}`;
}

/** Option values arrive as JSON: strings, and sometimes numbers or booleans. */
function optionString(key: string, v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new ConfigError(`option "${key}" must be a string`, key);
}

function flag(v: unknown): boolean {
  return v === true || v === 'true' || v === '1';
}

/** An option said off (absent is not off). */
function offFlag(v: unknown): boolean {
  return v === false || v === 'false' || v === '0';
}

/** Docker's driver options (`docker network create -o k=v`) as strings. */
export function genericOptions(options: Record<string, unknown> | null | undefined): Record<string, string> {
  const g = options?.[GENERIC];
  if (g === undefined || g === null) return {};
  if (typeof g !== 'object' || Array.isArray(g)) throw new ConfigError(`option "${GENERIC}" must be an object`, GENERIC);
  return Object.fromEntries(Object.entries(g as Record<string, unknown>).map(([k, v]) => [k, optionString(k, v)]));
}

/**
 * One IPAM data entry as a subnet request. `adoptable(subnet)` returns the id of a pool
 * tsnet's IPAM handed Docker for this subnet (RequestPool), which the network then adopts;
 * otherwise (Docker's own IPAM) a pool is created with Docker's gateway and aux addresses.
 */
function subnetFrom(d: IpamData, family: 4 | 6, field: string, adoptable: (subnet: string) => string | undefined): SubnetRequest {
  const pool = parseCidr(d.Pool, `${field}.Pool`);
  if (pool.family !== family) throw new ConfigError(`${field}.Pool ${d.Pool} is not an IPv${family} subnet`, `${field}.Pool`);
  const poolId = adoptable(pool.cidr);
  if (poolId) return { subnet: pool.cidr, poolId };
  const gateway = d.Gateway ? parseCidr(d.Gateway, `${field}.Gateway`).ip : undefined;
  const aux = Object.entries(d.AuxAddresses ?? {}).map(([k, v]) => [k, v.split('/')[0] ?? v] as const);
  return {
    subnet: pool.cidr, ...(gateway ? { gateway } : {}),
    ...(aux.length > 0 ? { auxAddresses: Object.fromEntries(aux) } : {}),
  };
}

/**
 * CreateNetwork → the NetworkManager's request: Docker's network id kept as tsnet's, name
 * `docker-<id12>`, label tsnet.owner=docker, driver from `tsnet.driver` (or macvlan when a
 * `parent` option is given), the remaining generic options handed to that driver (which
 * rejects unknown ones), internal / IPv6 from libnetwork's flags.
 */
export function networkRequestFrom(w: CreateNetworkWire, adoptable: (subnet: string) => string | undefined): CreateNetworkRequest {
  const generic = genericOptions(w.Options);
  const { [DRIVER_OPTION]: chosen, ...driverOptions } = generic;
  const driver = chosen ?? (generic['parent'] !== undefined ? 'macvlan' : 'bridge');
  if (!(DOCKER_DRIVERS as readonly string[]).includes(driver)) {
    throw new ConfigError(`${DRIVER_OPTION}: "${driver}" is not one of ${DOCKER_DRIVERS.join(', ')}`, DRIVER_OPTION);
  }
  const subnets = [
    ...(w.IPv4Data ?? []).map((d, i) => subnetFrom(d, 4, `IPv4Data[${i}]`, adoptable)),
    ...(w.IPv6Data ?? []).map((d, i) => subnetFrom(d, 6, `IPv6Data[${i}]`, adoptable)),
  ];
  return {
    id: w.NetworkID, name: dockerNetworkName(w.NetworkID), driver, options: driverOptions,
    internal: flag(w.Options?.[INTERNAL]), ipv6: flag(w.Options?.[ENABLE_IPV6]),
    ...(offFlag(w.Options?.[ENABLE_IPV4]) ? { ipv4: false } : {}),
    labels: { [OWNER_LABEL]: OWNER_DOCKER }, ...(subnets.length > 0 ? { subnets } : {}),
  };
}

const PROTOS: Record<number, 'tcp' | 'udp'> = { 6: 'tcp', 17: 'udp' };
const PROTO_NUMBERS = { tcp: 6, udp: 17 } as const;

function protoOf(n: number, field: string): 'tcp' | 'udp' {
  const p = PROTOS[n];
  if (!p) throw new ConfigError(`${field}: unsupported IP protocol ${n} (tcp 6 and udp 17 are)`, field);
  return p;
}

/**
 * Docker's `com.docker.network.portmap` → tsnet port requests. HostPort 0 means any
 * (ephemeral) port, HostPort..HostPortEnd a range to pick from. A binding on an IPv6 host
 * address needs an endpoint with an IPv6 address (`ipv6`); without one it is left out
 * (`skipped`). An empty HostIP publishes on each family the endpoint has (the manager).
 */
export function portRequestsFrom(list: readonly PortBindingWire[] | null | undefined, opts: { ipv6?: boolean } = {}): { ports: PortRequest[]; skipped: PortBindingWire[] } {
  const ports: PortRequest[] = [];
  const skipped: PortBindingWire[] = [];
  (list ?? []).forEach((b, i) => {
    const field = `portmap[${i}]`;
    const hostIp = b.HostIP ?? '';
    if (hostIp !== '' && isIP(hostIp) === 0) throw new ConfigError(`${field}: invalid host IP "${hostIp}"`, field);
    // An IPv6 host address reaches an endpoint with an IPv6 address (DNAT has no IPv6 to IPv4).
    if (isIP(hostIp) === 6 && opts.ipv6 !== true) return void skipped.push(b);
    const req: PortRequest = { proto: protoOf(b.Proto, field), containerPort: b.Port };
    if (hostIp !== '') req.hostIp = hostIp;
    const start = b.HostPort ?? 0;
    const end = b.HostPortEnd ?? 0;
    if (start !== 0) req.hostPort = start;
    if (start !== 0 && end > start) req.hostPortEnd = end;
    ports.push(req);
  });
  return { ports, skipped };
}

/** tsnet bindings in Docker's PortBinding form (as EndpointOperInfo reports them). */
export function bindingsToWire(bindings: readonly PortBinding[]): PortBindingWire[] {
  return bindings.map((b) => ({
    Proto: PROTO_NUMBERS[b.proto], IP: b.containerIp, Port: b.containerPort, HostIP: b.hostIp, HostPort: b.hostPort, HostPortEnd: b.hostPort,
  }));
}

/** Exposed ports as Docker sends them, checked (protocol numbers and port range). */
export function exposedPortsFrom(list: readonly TransportPortWire[] | null | undefined): TransportPortWire[] {
  return (list ?? []).map((p, i) => {
    if (![6, 17, 132].includes(p.Proto)) throw new ConfigError(`exposedports[${i}]: unknown IP protocol ${p.Proto}`, `exposedports[${i}]`);
    if (!Number.isInteger(p.Port) || p.Port < 1 || p.Port > 65535) throw new ConfigError(`exposedports[${i}]: port ${p.Port} is out of range`, `exposedports[${i}]`);
    return { Proto: p.Proto, Port: p.Port };
  });
}
