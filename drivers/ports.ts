/**
 * Port publishing requests: parsing Docker's `-p` syntax, validation, and expansion of
 * ranges into one binding per port. Pure; the manager reserves bindings in the store and
 * programs DNAT through core/firewall.
 */
import { isIP } from 'node:net';
import { ConfigError } from '../core/index.js';
import { cidrContains, normalizeIp } from '../ipam/index.js';

export type Proto = 'tcp' | 'udp';

export interface PortRequest {
  proto: Proto;
  containerPort: number;
  /** Inclusive end of a container port range. */
  containerPortEnd?: number;
  /** Default: the network's host binding IP, else all addresses (0.0.0.0). */
  hostIp?: string;
  /** Absent: an ephemeral host port is chosen. */
  hostPort?: number;
  hostPortEnd?: number;
}

export interface PortBinding {
  proto: Proto;
  hostIp: string;
  hostPort: number;
  containerIp: string;
  containerPort: number;
}

/** Docker's ephemeral range (net.ipv4.ip_local_port_range upper part it uses). */
export const EPHEMERAL_FIRST = 49153;
export const EPHEMERAL_LAST = 60999;

function port(value: string, field: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 65535) throw new ConfigError(`${field}: invalid port "${value}"`, field);
  return n;
}

function range(text: string, field: string): [number, number | undefined] {
  const [a, b, ...rest] = text.split('-');
  if (a === undefined || rest.length > 0) throw new ConfigError(`${field}: invalid port range "${text}"`, field);
  const first = port(a, field);
  if (b === undefined) return [first, undefined];
  const last = port(b, field);
  if (last < first) throw new ConfigError(`${field}: port range "${text}" ends before it starts`, field);
  return [first, last];
}

/**
 * Parses `[hostIp:][hostPort[-end]:]containerPort[-end][/proto]`, IPv6 host IPs in
 * brackets (`[::1]:8080:80`). Throws ConfigError naming `field` (e.g. "publish").
 */
export function parsePortSpec(spec: string, field = 'publish'): PortRequest {
  try {
    return parseSpec(spec, field);
  } catch (err) {
    if (err instanceof ConfigError && !err.message.includes(`"${spec}"`)) {
      throw new ConfigError(`${err.message} in port mapping "${spec}"`, field);
    }
    throw err;
  }
}

function parseSpec(spec: string, field: string): PortRequest {
  const slash = spec.lastIndexOf('/');
  const protoText = slash >= 0 ? spec.slice(slash + 1) : 'tcp';
  if (protoText !== 'tcp' && protoText !== 'udp') throw new ConfigError(`${field}: unsupported protocol "${protoText}" in "${spec}"`, field);
  let rest = slash >= 0 ? spec.slice(0, slash) : spec;
  let hostIp: string | undefined;
  const v6 = /^\[([^\]]+)\]:(.*)$/.exec(rest);
  if (v6) {
    hostIp = v6[1];
    rest = v6[2] ?? '';
  }
  const parts = rest.split(':');
  if (parts.length > 3 || (v6 && parts.length !== 2) || parts.some((p, i) => p === '' && i !== parts.length - 2)) {
    throw new ConfigError(`${field}: invalid port mapping "${spec}"`, field);
  }
  if (parts.length === 3) hostIp = parts.shift();
  const containerText = parts.pop() ?? '';
  const hostText = parts.pop();
  const [containerPort, containerPortEnd] = range(containerText, field);
  const req: PortRequest = { proto: protoText, containerPort, ...(containerPortEnd ? { containerPortEnd } : {}) };
  if (hostIp) req.hostIp = hostIp;
  if (hostText) {
    const [hostPort, hostPortEnd] = range(hostText, field);
    req.hostPort = hostPort;
    if (hostPortEnd) req.hostPortEnd = hostPortEnd;
  }
  validatePortRequest(req, field);
  return req;
}

/** Checks a structured request (as API callers send it). */
export function validatePortRequest(req: PortRequest, field = 'ports'): void {
  if (req.proto !== 'tcp' && req.proto !== 'udp') throw new ConfigError(`${field}: unsupported protocol "${String(req.proto)}"`, field);
  for (const [name, v] of [['containerPort', req.containerPort], ['containerPortEnd', req.containerPortEnd], ['hostPort', req.hostPort], ['hostPortEnd', req.hostPortEnd]] as const) {
    if (v !== undefined && (!Number.isInteger(v) || v < 1 || v > 65535)) throw new ConfigError(`${field}: ${name} ${v} is out of range 1-65535`, field);
  }
  if (req.hostIp !== undefined && isIP(req.hostIp) === 0) throw new ConfigError(`${field}: invalid host IP "${req.hostIp}"`, field);
  // ::1 is never routed off the host, so nothing DNATed from it reaches a container.
  if (req.hostIp !== undefined && isIP(req.hostIp) === 6 && normalizeIp(req.hostIp, field) === '::1') {
    throw new ConfigError(`${field}: host IP ::1 cannot reach a container (the kernel routes no ::1 packet off the host); use 127.0.0.1`, field);
  }
  // An IPv4-mapped IPv6 address is no address a socket binds nor DNAT matches: say so.
  if (req.hostIp !== undefined && isIP(req.hostIp) === 6 && cidrContains('::ffff:0:0/96', req.hostIp)) {
    throw new ConfigError(`${field}: host IP "${req.hostIp}" is IPv4-mapped; give the IPv4 address`, field);
  }
  const cLen = (req.containerPortEnd ?? req.containerPort) - req.containerPort + 1;
  if (cLen < 1) throw new ConfigError(`${field}: container port range ends before it starts`, field);
  if (req.hostPort !== undefined && req.hostPortEnd !== undefined) {
    const hLen = req.hostPortEnd - req.hostPort + 1;
    if (hLen < 1) throw new ConfigError(`${field}: host port range ends before it starts`, field);
    if (cLen > 1 && hLen !== cLen) throw new ConfigError(`${field}: host range ${req.hostPort}-${req.hostPortEnd} and container range ${req.containerPort}-${req.containerPortEnd} differ in size`, field);
  } else if (req.hostPort !== undefined && cLen > 1) {
    throw new ConfigError(`${field}: a container port range needs a host port range of the same size`, field);
  }
}

/**
 * Expands a request into bindings. `isFree(proto, hostIp, port)` says whether a host port is
 * unpublished; single container ports with a host range or no host port take the first
 * free candidate (ephemeral: 49153-60999, searched from a rotating start).
 */
export function expandPorts(req: PortRequest, containerIp: string, defaultHostIp: string,
  isFree: (proto: Proto, hostIp: string, port: number) => boolean, field = 'ports'): PortBinding[] {
  // "::" for an IPv4 container forwards every IPv4 address (DNAT has no IPv6-to-IPv4): it is
  // 0.0.0.0, for the port table's conflicts and the host port's hold as well.
  const asked = normalizeIp(req.hostIp ?? defaultHostIp, field); // '0:0::0' is '::'
  const hostIp = asked === '::' && !containerIp.includes(':') ? '0.0.0.0' : asked;
  const cEnd = req.containerPortEnd ?? req.containerPort;
  const bind = (hostPort: number, containerPort: number): PortBinding => ({ proto: req.proto, hostIp, hostPort, containerIp, containerPort });
  if (req.hostPort !== undefined && (req.hostPortEnd === undefined || cEnd > req.containerPort)) {
    const out: PortBinding[] = [];
    for (let p = req.containerPort; p <= cEnd; p++) out.push(bind(req.hostPort + (p - req.containerPort), p));
    return out;
  }
  const first = req.hostPort ?? EPHEMERAL_FIRST;
  const last = req.hostPortEnd ?? EPHEMERAL_LAST;
  const out: PortBinding[] = [];
  for (let c = req.containerPort; c <= cEnd; c++) {
    const hostPort = findFree(first, last, (p) => isFree(req.proto, hostIp, p) && !out.some((b) => b.hostPort === p));
    if (hostPort === undefined) throw new ConfigError(`${field}: no free host port in ${first}-${last} for ${c}/${req.proto}`, field);
    out.push(bind(hostPort, c));
  }
  return out;
}

/** The endpoint's addresses a port can be published to. */
export interface PublishTargets { v4?: string | undefined; v6?: string | undefined }

type IsFree = (proto: Proto, hostIp: string, port: number) => boolean;

/**
 * Expands a request for an endpoint with these addresses, as Docker (27+) publishes: with no
 * host IP asked (and the network's default binding the wildcard), on every family the
 * endpoint has, one host port number for both (an ephemeral pick is free in both); an IPv6
 * host IP ("::" or one address) publishes IPv6 only, when the endpoint has an IPv6 address
 * (for an IPv4-only one "::" means every IPv4 address, as before); an IPv4 host IP, IPv4 only.
 */
export function expandForEndpoint(req: PortRequest, to: PublishTargets, defaultHostIp: string, isFree: IsFree, field = 'ports'): PortBinding[] {
  const asked = req.hostIp === undefined ? undefined : normalizeIp(req.hostIp, field);
  const askedFamily = asked === undefined ? undefined : isIP(asked);
  if (to.v6 !== undefined && (askedFamily === 6 || (to.v4 === undefined && askedFamily === undefined))) {
    // A network that binds its ports to one IPv4 address (host_binding_ipv4) has none to give here.
    if (askedFamily === undefined && defaultHostIp !== '0.0.0.0') {
      throw new ConfigError(`${field}: the network publishes on ${defaultHostIp} (host_binding_ipv4) and the endpoint has no IPv4 address; give a host IP`, field);
    }
    return expandPorts({ ...req, hostIp: asked ?? '::' }, to.v6, '::', isFree, field);
  }
  if (askedFamily === 6 && asked !== '::') {
    throw new ConfigError(`${field}: host IP ${asked} is IPv6 and the endpoint has no IPv6 address`, field);
  }
  if (to.v4 === undefined) {
    throw new ConfigError(to.v6 === undefined ? `${field}: the endpoint has no address to publish ports to` : `${field}: host IP ${asked} is IPv4 and the endpoint has no IPv4 address`, field);
  }
  const both = to.v6 !== undefined && asked === undefined && defaultHostIp === '0.0.0.0';
  const free: IsFree = both ? (proto, hostIp, p) => isFree(proto, hostIp, p) && isFree(proto, '::', p) : isFree;
  const v4 = expandPorts(req, to.v4, defaultHostIp, free, field);
  const v6 = to.v6;
  return both && v6 !== undefined ? [...v4, ...v4.map((b) => ({ ...b, hostIp: '::', containerIp: v6 }))] : v4;
}

let rotor = 0;
function findFree(first: number, last: number, free: (p: number) => boolean): number | undefined {
  const size = last - first + 1;
  const start = first === EPHEMERAL_FIRST && last === EPHEMERAL_LAST ? rotor++ % size : 0;
  for (let i = 0; i < size; i++) {
    const p = first + ((start + i) % size);
    if (free(p)) return p;
  }
  return undefined;
}
