/**
 * ipam/: address pools and allocation over the state store, plus the pure address
 * helpers drivers need (cidr.ts). No kernel, no netns.
 */
export { Ipam, type Pool, type AllocateRequest, type Allocation } from './ipam.js';
export type { PoolSpec } from './pool-spec.js';
export { validatePoolSpec } from './pool-spec.js';
export { rowGeometry } from './pool-geometry.js';
export { DEFAULT_SPACES, AVOIDED_DEFAULTS, firstFreeSubnet, pickDefaultSubnet } from './defaults.js';
export {
  parseIp, formatIp, normalizeIp, ipFamily, parseCidr, cidrContains, cidrsOverlap, macFromIp,
  type Family, type IpValue, type ParsedCidr,
} from './cidr.js';
