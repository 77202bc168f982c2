/**
 * Default subnets: where tsnet picks a block when the user gives none.
 * IPv4: /24s from 10.213.0.0/16, a block outside Docker's default pools
 * (172.17.0.0/16-172.31.0.0/16, 192.168.0.0/16) and podman's (10.88.0.0/16, 10.89.0.0/16).
 * IPv6: /64s from the ULA fd74:736e:6574::/48 ('tsnet' in the global ID bytes).
 * Pure functions; nothing here reads the store or the kernel.
 */
import { ConflictError } from '../core/errors.js';
import { formatIp, parseCidr, type Family } from './cidr.js';

export interface DefaultSpace {
  base: string;
  prefixLen: number;
}

export const DEFAULT_SPACES: Readonly<Record<Family, DefaultSpace>> = {
  4: { base: '10.213.0.0/16', prefixLen: 24 },
  6: { base: 'fd74:736e:6574::/48', prefixLen: 64 },
};

/** Blocks a default subnet must never fall in (other engines' defaults). */
export const AVOIDED_DEFAULTS: readonly string[] = [
  '172.17.0.0/16', '172.18.0.0/15', '172.20.0.0/14', '172.24.0.0/13', // 172.17-172.31
  '192.168.0.0/16', '10.88.0.0/16', '10.89.0.0/16',
];

/**
 * The first `prefixLen` block of `base` that overlaps none of `taken` (CIDRs of any
 * family; other families, `default` and /0 routes are ignored). Skips past each
 * blocker at once, so the cost is bounded by the number of blockers, not the space.
 */
export function firstFreeSubnet(base: string, prefixLen: number, taken: readonly string[]): string | undefined {
  const b = parseCidr(base, 'base');
  const size = 1n << BigInt(b.bits - prefixLen);
  const blockers = taken.filter((t) => t !== 'default').map((t) => parseCidr(t, 'routed'))
    .filter((t) => t.family === b.family && t.prefixLen > 0);
  blockers.push(...AVOIDED_DEFAULTS.map((a) => parseCidr(a)).filter((a) => a.family === b.family));
  let cand = b.network;
  while (cand + size - 1n <= b.last) {
    const last = cand + size - 1n;
    const hit = blockers.find((t) => t.network <= last && cand <= t.last);
    if (!hit) return `${formatIp(b.family, cand)}/${prefixLen}`;
    cand = alignUp(hit.last + 1n, size);
  }
  return undefined;
}

function alignUp(v: bigint, size: bigint): bigint {
  return ((v + size - 1n) / size) * size;
}

/** Like firstFreeSubnet over the family's default space; ConflictError when it is full. */
export function pickDefaultSubnet(family: Family, taken: readonly string[]): string {
  const space = DEFAULT_SPACES[family];
  const found = firstFreeSubnet(space.base, space.prefixLen, taken);
  if (!found) throw new ConflictError(`no free default IPv${family} subnet left in ${space.base}`, 'subnet');
  return found;
}
