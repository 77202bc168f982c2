/**
 * Validation of a pool request (pure). Errors are ConfigErrors naming the field:
 * subnet, ipRange, rangeStart, rangeEnd, gateway, auxAddresses.
 * A subnet with host bits set ('10.0.0.5/24') is rejected, as Docker and host-local do,
 * with the normalized form in the message.
 */
import { ConfigError } from '../core/errors.js';
import { cidrsOverlap, formatIp, parseCidr, parseIp, type Family, type ParsedCidr } from './cidr.js';
import { geometry, isReservedAddress, type PoolGeometry } from './pool-geometry.js';

export interface PoolSpec {
  /** Pool id; a random one when omitted. */
  id?: string;
  networkId?: string;
  subnet: string;
  /** Dynamic allocations come from this CIDR inside the subnet (Docker's --ip-range). */
  ipRange?: string;
  /** host-local style bounds (inclusive) inside the subnet / ipRange. */
  rangeStart?: string;
  rangeEnd?: string;
  /** The gateway; default the first host address of the subnet; false for none. */
  gateway?: string | false;
  /** Reserved addresses by name (Docker's --aux-address). */
  aux?: Record<string, string>;
  /**
   * Pools this one may overlap (default none). CNI networks may overlap each other, as
   * host-local keeps each network's addresses apart and the reference plugins allow it.
   */
  mayOverlap?: (pool: { id: string; networkId?: string }) => boolean;
}

export interface ValidPool {
  family: Family;
  subnet: string;
  geo: PoolGeometry;
  gateway?: string;
  aux: Record<string, string>;
}

/**
 * Special-purpose blocks (RFC 6890) a network's subnet may not overlap: the kernel takes
 * addresses there on a bridge, but nothing works. Loopback and "this network" sources are
 * martians, multicast and class E are no host's, IPv4-mapped IPv6 is dropped on the wire,
 * and IPv6 link-local is never forwarded (each interface already has its own fe80::/64).
 * IPv4 link-local (169.254.0.0/16) stays allowed: Linux forwards and masquerades it.
 */
const UNUSABLE_BLOCKS: readonly (readonly [string, string])[] = [
  ['0.0.0.0/8', 'this network'], ['127.0.0.0/8', 'loopback'], ['224.0.0.0/4', 'multicast'],
  ['240.0.0.0/4', 'reserved, class E and broadcast'],
  ['::/128', 'unspecified'], ['::1/128', 'loopback'], ['::ffff:0:0/96', 'IPv4-mapped'],
  ['fe80::/10', 'link-local'], ['ff00::/8', 'multicast'],
];

function parseSubnet(text: string): ParsedCidr {
  const s = parseCidr(text, 'subnet');
  if (s.hostBits) throw new ConfigError(`invalid subnet ${text}: host bits set, it should be ${s.cidr}`, 'subnet');
  for (const [block, what] of UNUSABLE_BLOCKS) {
    if (cidrsOverlap(s.cidr, block)) throw new ConfigError(`subnet ${s.cidr} overlaps ${block} (${what}), which no network can use`, 'subnet');
  }
  return s;
}

/** An address of the subnet that may be used as a host (gateway, aux). */
function hostAddress(s: ParsedCidr, text: string, field: string, what: string): bigint {
  const ip = parseIp(text, field);
  if (ip.family !== s.family || ip.value < s.network || ip.value > s.last) {
    throw new ConfigError(`${what} ${text} is not in subnet ${s.cidr}`, field);
  }
  if (isReservedAddress({ family: s.family, prefixLen: s.prefixLen, network: s.network, last: s.last }, ip.value)) {
    const kind = ip.value === s.network ? 'the network address' : 'the broadcast address';
    throw new ConfigError(`${what} ${text} is ${kind} of ${s.cidr}`, field);
  }
  return ip.value;
}

function rangeBounds(s: ParsedCidr, spec: PoolSpec): [bigint, bigint] {
  let lo = s.network, hi = s.last;
  if (spec.ipRange !== undefined) {
    const r = parseCidr(spec.ipRange, 'ipRange');
    if (r.hostBits) throw new ConfigError(`invalid ipRange ${spec.ipRange}: host bits set, it should be ${r.cidr}`, 'ipRange');
    if (r.family !== s.family || r.network < s.network || r.last > s.last) {
      throw new ConfigError(`ipRange ${spec.ipRange} is not inside subnet ${s.cidr}`, 'ipRange');
    }
    [lo, hi] = [r.network, r.last];
  }
  const bound = (text: string | undefined, field: 'rangeStart' | 'rangeEnd', dflt: bigint): bigint => {
    if (text === undefined) return dflt;
    const ip = parseIp(text, field);
    if (ip.family !== s.family || ip.value < lo || ip.value > hi) {
      throw new ConfigError(`${field} ${text} is not inside ${spec.ipRange ?? s.cidr}`, field);
    }
    return ip.value;
  };
  const start = bound(spec.rangeStart, 'rangeStart', lo);
  const end = bound(spec.rangeEnd, 'rangeEnd', hi);
  if (start > end) throw new ConfigError(`rangeStart ${spec.rangeStart ?? ''} is after rangeEnd ${spec.rangeEnd ?? ''}`, 'rangeEnd');
  return [start, end];
}

function defaultGateway(s: ParsedCidr): string | undefined {
  const bits = s.family === 4 ? 32 : 128;
  if (s.prefixLen >= bits) return undefined; // a single address: no room for a gateway
  return formatIp(s.family, s.prefixLen === bits - 1 ? s.network : s.network + 1n);
}

function validateAux(s: ParsedCidr, aux: Record<string, string>, gateway: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  const seen = new Map<string, string>();
  if (gateway !== undefined) seen.set(gateway, 'the gateway');
  for (const [name, text] of Object.entries(aux)) {
    const ip = formatIp(s.family, hostAddress(s, text, 'auxAddresses', `aux address ${name}`));
    const other = seen.get(ip);
    if (other) throw new ConfigError(`aux address ${name} (${ip}) is already used by ${other}`, 'auxAddresses');
    seen.set(ip, `aux address ${name}`);
    out[name] = ip;
  }
  return out;
}

/** Validates and normalizes a pool request. Pure; overlap with other pools is the caller's check. */
export function validatePoolSpec(spec: PoolSpec): ValidPool {
  const s = parseSubnet(spec.subnet);
  const [rangeStart, rangeEnd] = rangeBounds(s, spec);
  const geo = geometry(s.family, s.cidr, rangeStart, rangeEnd);
  if (geo.start > geo.end) throw new ConfigError(`ipRange of ${s.cidr} has no usable address`, spec.ipRange ? 'ipRange' : 'subnet');
  let gateway: string | undefined;
  if (spec.gateway === undefined) gateway = defaultGateway(s);
  else if (spec.gateway !== false) gateway = formatIp(s.family, hostAddress(s, spec.gateway, 'gateway', 'gateway'));
  const aux = validateAux(s, spec.aux ?? {}, gateway);
  const out: ValidPool = { family: s.family, subnet: s.cidr, geo, aux };
  if (gateway !== undefined) out.gateway = gateway;
  return out;
}
