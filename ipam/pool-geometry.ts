/**
 * The numeric shape of a pool, derived once from its row: subnet bounds, the usable
 * dynamic range (the configured range minus the network address and, for IPv4, the
 * broadcast address) and the gateway. Pure.
 */
import type { PoolRow } from '../store/index.js';
import { formatIp, parseCidr, parseIp, type Family } from './cidr.js';

export interface PoolGeometry {
  family: Family;
  prefixLen: number;
  /** Subnet bounds (network address, last address). */
  network: bigint;
  last: bigint;
  /** Configured range bounds, as stored. */
  rangeStart: bigint;
  rangeEnd: bigint;
  /** Usable dynamic range (inclusive); start > end means empty. */
  start: bigint;
  end: bigint;
}

/** True when `v` may never be handed out: the network address, or the IPv4 broadcast. */
export function isReservedAddress(g: Pick<PoolGeometry, 'family' | 'prefixLen' | 'network' | 'last'>, v: bigint): boolean {
  const bits = g.family === 4 ? 32 : 128;
  if (g.prefixLen >= bits - 1) return false; // /31, /32, /127, /128: every address is a host (RFC 3021)
  return v === g.network || (g.family === 4 && v === g.last);
}

/** Computes the usable range of a subnet and a configured range. */
export function geometry(family: Family, subnet: string, rangeStart: bigint, rangeEnd: bigint): PoolGeometry {
  const s = parseCidr(subnet, 'subnet');
  const g = { family, prefixLen: s.prefixLen, network: s.network, last: s.last, rangeStart, rangeEnd, start: rangeStart, end: rangeEnd };
  if (isReservedAddress(g, g.start)) g.start += 1n;
  if (isReservedAddress(g, g.end)) g.end -= 1n;
  return g;
}

/** Geometry of a stored pool row (or of an ipam Pool, which carries the same fields). */
export function rowGeometry(p: Pick<PoolRow, 'family' | 'subnet' | 'rangeStart' | 'rangeEnd'>): PoolGeometry {
  return geometry(p.family, p.subnet, parseIp(p.rangeStart).value, parseIp(p.rangeEnd).value);
}

/** The range as a CIDR when it is an aligned block smaller than the subnet, else undefined. */
export function rangeAsCidr(g: PoolGeometry): string | undefined {
  if (g.rangeStart === g.network && g.rangeEnd === g.last) return undefined;
  const size = g.rangeEnd - g.rangeStart + 1n;
  if (size <= 0n || (size & (size - 1n)) !== 0n || g.rangeStart % size !== 0n) return undefined;
  const bits = g.family === 4 ? 32 : 128;
  return `${formatIp(g.family, g.rangeStart)}/${bits - (size.toString(2).length - 1)}`;
}
