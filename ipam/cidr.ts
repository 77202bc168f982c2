/**
 * Pure address math for IPAM and drivers: parsing, containment, overlap, MAC derivation.
 * Parsing and validation go through the `ip-address` package; arithmetic is BigInt so
 * IPv4 and IPv6 share one code path. Nothing here touches the kernel, a netns or the store.
 */
import { Address4, Address6 } from 'ip-address';
import { ConfigError } from '../core/errors.js';

export type Family = 4 | 6;

/** An address as a number. */
export interface IpValue {
  family: Family;
  value: bigint;
}

/** A parsed `address/prefix`; `ip` keeps the given address, `network` has host bits cleared. */
export interface ParsedCidr {
  family: Family;
  /** The address as given, canonical text ('10.0.0.5' for '10.0.0.5/24'). */
  ip: string;
  ipValue: bigint;
  prefixLen: number;
  /** 32 or 128. */
  bits: number;
  /** First address of the block (host bits cleared). */
  network: bigint;
  /** Last address of the block. */
  last: bigint;
  /** The block in canonical form: '10.0.0.0/24', 'fd00::/64'. */
  cidr: string;
  /** True when the given address had host bits set ('10.0.0.5/24'). */
  hostBits: boolean;
}

const V4_MAX = (1n << 32n) - 1n;

function bitsOf(family: Family): number {
  return family === 4 ? 32 : 128;
}

/** The mask of the host part for a prefix length. */
function hostMask(bits: number, prefixLen: number): bigint {
  return (1n << BigInt(bits - prefixLen)) - 1n;
}

/** Parses one address (no prefix, no zone). Throws ConfigError naming `field`. */
export function parseIp(text: string, field = 'ip'): IpValue {
  if (typeof text !== 'string' || text.includes('/') || text.includes('%')) {
    throw new ConfigError(`invalid IP address ${JSON.stringify(text)}`, field);
  }
  try {
    if (text.includes(':')) return { family: 6, value: new Address6(text).bigInt() };
    return { family: 4, value: new Address4(text).bigInt() };
  } catch {
    throw new ConfigError(`invalid IP address ${JSON.stringify(text)}`, field);
  }
}

/** Formats a numeric address in canonical text (dotted quad; RFC 5952 for IPv6). */
export function formatIp(family: Family, value: bigint): string {
  if (family === 4) {
    if (value < 0n || value > V4_MAX) throw new RangeError(`IPv4 value out of range: ${value}`);
    const n = Number(value);
    return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
  }
  return Address6.fromBigInt(value).correctForm();
}

/** Canonical text of an address ('FD00:0::1' -> 'fd00::1'). Throws ConfigError on garbage. */
export function normalizeIp(text: string, field = 'ip'): string {
  const { family, value } = parseIp(text, field);
  return formatIp(family, value);
}

/** The family of an address or CIDR text, or undefined when it is neither. */
export function ipFamily(text: string): Family | undefined {
  const addr = text.split('/')[0] ?? '';
  if (Address4.isValid(addr) && !addr.includes(':')) return 4;
  if (Address6.isValid(addr) && !addr.includes('%')) return 6;
  return undefined;
}

/**
 * Parses 'address/prefix' (both families). Host bits are allowed here (interface
 * addresses like '10.0.0.2/24' are CIDRs too); `hostBits` reports them and `cidr` is the
 * normalized block. Throws ConfigError naming `field`.
 */
export function parseCidr(text: string, field = 'cidr'): ParsedCidr {
  const bad = () => new ConfigError(`invalid CIDR ${JSON.stringify(text)}`, field);
  if (typeof text !== 'string') throw bad();
  const slash = text.indexOf('/');
  if (slash < 0 || text.indexOf('/', slash + 1) >= 0) throw bad();
  const prefixText = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText)) throw bad();
  let ip: IpValue;
  try {
    ip = parseIp(text.slice(0, slash), field);
  } catch {
    throw bad();
  }
  const bits = bitsOf(ip.family);
  const prefixLen = Number(prefixText);
  if (prefixLen > bits) throw bad();
  const mask = hostMask(bits, prefixLen);
  const network = ip.value & ~mask;
  return {
    family: ip.family,
    ip: formatIp(ip.family, ip.value),
    ipValue: ip.value,
    prefixLen,
    bits,
    network,
    last: network | mask,
    cidr: `${formatIp(ip.family, network)}/${prefixLen}`,
    hostBits: network !== ip.value,
  };
}

/** Parses either a bare address (a /32 or /128 block) or a CIDR. */
function parseBlock(text: string, field: string): ParsedCidr {
  if (text.includes('/')) return parseCidr(text, field);
  const ip = parseIp(text, field);
  const bits = bitsOf(ip.family);
  const s = formatIp(ip.family, ip.value);
  return { family: ip.family, ip: s, ipValue: ip.value, prefixLen: bits, bits, network: ip.value,
    last: ip.value, cidr: `${s}/${bits}`, hostBits: false };
}

/**
 * True when `inner` (an address or a CIDR) lies entirely inside the block `outer`
 * (host bits of `outer` are ignored). Different families never contain each other.
 */
export function cidrContains(outer: string, inner: string): boolean {
  const o = parseCidr(outer, 'cidr');
  const i = parseBlock(inner, 'ip');
  return o.family === i.family && i.network >= o.network && i.last <= o.last;
}

/** True when two blocks share at least one address (same family only). */
export function cidrsOverlap(a: string, b: string): boolean {
  const x = parseBlock(a, 'cidr');
  const y = parseBlock(b, 'cidr');
  return x.family === y.family && x.network <= y.last && y.network <= x.last;
}

/**
 * A stable, locally administered unicast MAC derived from an address.
 * IPv4: Docker's rule, 02:42 followed by the four address bytes (10.0.0.2 -> 02:42:0a:00:00:02).
 * IPv6: 06 followed by the low 40 bits of the address (fd00::a:2 -> 06:00:00:0a:00:02);
 * the different first octet keeps it from ever equalling an IPv4-derived MAC.
 */
export function macFromIp(ip: string): string {
  const { family, value } = parseIp(ip);
  const bytes: number[] = family === 4 ? [0x02, 0x42] : [0x06];
  const n = family === 4 ? 4 : 5;
  for (let i = n - 1; i >= 0; i--) bytes.push(Number((value >> BigInt(8 * i)) & 0xffn));
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}
