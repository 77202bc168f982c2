/**
 * The host-local IPAM configuration tsnet-ipam (and the in-process IPAM of tsnet-bridge /
 * tsnet-macvlan) accepts: `ranges` (range sets of {subnet, rangeStart, rangeEnd, gateway}),
 * the older single-range form (`subnet`... at the ipam level), `routes`, `dataDir`
 * (accepted; the tsnet store is used), `resolvConf`; the `ipRanges` capability replaces the
 * ranges; requested addresses come from CNI_ARGS IP=, args.cni.ips and the `ips` capability.
 * Pure (reading resolvConf aside).
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { isTsnetError } from '../../core/errors.js';
import { validatePoolSpec, cidrContains, formatIp, parseIp } from '../../ipam/index.js';
import { invalid, type BaseConf, type IpRange } from '../skel/config.js';
import { CNI_ERR, CniError } from '../skel/errors.js';
import { cidrFamily, parseDns, type CniDns, type CniRoute } from '../skel/result.js';
import type { KnownArgs } from '../skel/env.js';

export interface IpamRoute { dst: string; gw?: string }

export interface IpamConf {
  type: string;
  ranges?: IpRange[][];
  routes?: IpamRoute[];
  dataDir?: string;
  resolvConf?: string;
  subnet?: string;
  rangeStart?: string;
  rangeEnd?: string;
  gateway?: string;
}

const str = { type: 'string' } as const;
/** Schema of the `ipam` object (host-local's fields). */
export const ipamSchema = {
  type: 'object', required: ['type'],
  properties: {
    type: str, dataDir: str, resolvConf: str, subnet: str, rangeStart: str, rangeEnd: str, gateway: str,
    ranges: { type: 'array', items: { type: 'array', minItems: 1, items: { type: 'object', required: ['subnet'], properties: { subnet: str, rangeStart: str, rangeEnd: str, gateway: str } } } },
    routes: { type: 'array', items: { type: 'object', required: ['dst'], properties: { dst: str, gw: str } } },
  },
} as const;

/** A validated range with its family and where it came from (for error fields). */
export interface ResolvedRange extends IpRange {
  family: 4 | 6;
  field: string;
}

/**
 * The effective range sets: the ipRanges capability, else `ranges`, else the single-range
 * form; each range validated as a pool would be (code 7 naming e.g. ipam.ranges[0][0].subnet).
 * A set mixing families is code 7, and so are two ranges sharing an address, as in host-local.
 */
export function effectiveRanges(conf: BaseConf, ipam: IpamConf): ResolvedRange[][] {
  const rc = conf.runtimeConfig?.ipRanges;
  const [sets, base]: [IpRange[][], string] = rc && rc.length > 0 ? [rc, 'runtimeConfig.ipRanges']
    : ipam.ranges && ipam.ranges.length > 0 ? [ipam.ranges, 'ipam.ranges']
      : ipam.subnet ? [[[{ subnet: ipam.subnet, ...pickDefined(ipam) }]], 'ipam'] : [[], 'ipam.ranges'];
  const all: [ResolvedRange, Span][] = [];
  const out = sets.map((set, i) => {
    const resolved = set.map((r, j) => {
      const hit = resolveRange(r, base === 'ipam' ? 'ipam' : `${base}[${i}][${j}]`);
      all.push(hit);
      return hit[0];
    });
    const fam = resolved[0]?.family;
    if (resolved.some((r) => r.family !== fam)) throw invalid(`${base}[${i}]`, 'a range set mixes IPv4 and IPv6');
    return resolved;
  });
  refuseOverlaps(all);
  return out;
}

/**
 * Code 7 naming the later of two ranges that share an address, in one set or across sets
 * (host-local refuses both): each range is a pool of its own, keeping its own allocations,
 * so both would hand the address out. Split ranges of one subnet share none and stay allowed.
 */
function refuseOverlaps(all: readonly (readonly [ResolvedRange, Span])[]): void {
  all.forEach(([r, s], k) => {
    const hit = all.slice(0, k).find(([, o]) => o.family === s.family && o.lo <= s.hi && s.lo <= o.hi);
    if (hit) throw invalid(r.field, `range ${spanText(s)} overlaps ${hit[0].field} (${spanText(hit[1])})`);
  });
}

function pickDefined(ipam: IpamConf): Partial<IpRange> {
  return {
    ...(ipam.rangeStart ? { rangeStart: ipam.rangeStart } : {}),
    ...(ipam.rangeEnd ? { rangeEnd: ipam.rangeEnd } : {}),
    ...(ipam.gateway ? { gateway: ipam.gateway } : {}),
  };
}

/** The addresses a range can hand out (inclusive; lo > hi when none): its pool's usable range. */
interface Span { family: 4 | 6; lo: bigint; hi: bigint }

const spanText = (s: Span) => `${formatIp(s.family, s.lo)}-${formatIp(s.family, s.hi)}`;

/**
 * Ranges already validated (tsnetd sees the same few configurations on every call; parsing
 * them again costs ~0.07 ms per ADD): keyed by the range's fields, errors never cached.
 */
const validated = new Map<string, Span>();
const VALIDATED_MAX = 1024;

function resolveRange(r: IpRange, field: string): [ResolvedRange, Span] {
  const key = `${r.subnet}|${r.rangeStart ?? ''}|${r.rangeEnd ?? ''}|${r.gateway ?? ''}`;
  let span = validated.get(key);
  if (!span) {
    span = validateRange(r, field);
    if (validated.size >= VALIDATED_MAX) validated.clear();
    validated.set(key, span);
  }
  return [{ ...r, family: span.family, field }, span];
}

function validateRange(r: IpRange, field: string): Span {
  try {
    const v = validatePoolSpec({ subnet: r.subnet, ...(r.rangeStart ? { rangeStart: r.rangeStart } : {}), ...(r.rangeEnd ? { rangeEnd: r.rangeEnd } : {}), ...(r.gateway ? { gateway: r.gateway } : {}) });
    return { family: v.family, lo: v.geo.start, hi: v.geo.end };
  } catch (err) {
    if (isTsnetError(err) && err.code === 'config') {
      const sub = err.field ?? 'subnet';
      throw new CniError(CNI_ERR.INVALID_CONFIG, `${field}.${sub}: ${err.message}`, `${field}.${sub}`);
    }
    throw err;
  }
}

/** Requested static addresses (CNI_ARGS IP=, args.cni.ips, runtimeConfig.ips), prefix stripped; code 7 for a non-address. */
export function requestedIps(conf: BaseConf, args: KnownArgs): string[] {
  const sources: [string, string[]][] = [
    ['CNI_ARGS IP', (args.values['IP'] ?? '').split(',').filter(Boolean)],
    ['args.cni.ips', conf.args?.cni?.ips ?? []],
    ['runtimeConfig.ips', conf.runtimeConfig?.ips ?? []],
  ];
  const out: string[] = [];
  for (const [field, list] of sources) {
    for (const text of list) {
      const ip = text.split('/')[0] ?? '';
      if (isIP(ip) === 0) throw invalid(field, `"${text}" is not an IP address`);
      if (!out.includes(ip)) out.push(ip);
    }
  }
  return out;
}

/**
 * Matches requested addresses to range sets (at most one per set); an address belongs to a
 * range when it is in its subnet and between its rangeStart and rangeEnd, as in host-local.
 * Code 7 when an address fits no range or two fit the same set. Returns the address for
 * each set index.
 */
export function assignRequested(sets: ResolvedRange[][], ips: string[]): Map<number, string> {
  const out = new Map<number, string>();
  for (const ip of ips) {
    const i = sets.findIndex((set) => set.some((r) => inRange(r, ip)));
    if (i < 0) {
      const near = sets.flat().find((r) => inSubnet(r, ip));
      const bounds = near ? ` (in ${near.subnet} but outside ${near.rangeStart ?? 'its start'}-${near.rangeEnd ?? 'its end'})` : '';
      throw invalid('ips', `requested address ${ip} is not in any configured range${bounds}`);
    }
    if (out.has(i)) throw invalid('ips', `requested addresses ${out.get(i) ?? ''} and ${ip} fall in the same range set`);
    out.set(i, ip);
  }
  return out;
}

const inSubnet = (r: ResolvedRange, ip: string) => cidrContains(r.subnet, `${ip}/${ip.includes(':') ? 128 : 32}`);

function inRange(r: ResolvedRange, ip: string): boolean {
  if (!inSubnet(r, ip)) return false;
  const v = parseIp(ip, 'ips').value;
  return (r.rangeStart === undefined || v >= parseIp(r.rangeStart).value) && (r.rangeEnd === undefined || v <= parseIp(r.rangeEnd).value);
}

/** ipam.routes as result routes (gw kept only when configured). */
export function ipamRoutes(ipam: IpamConf | undefined): CniRoute[] {
  return (ipam?.routes ?? []).map((r, i) => {
    const fam = cidrFamily(r.dst);
    if (fam === undefined) throw invalid(`ipam.routes[${i}].dst`, `"${r.dst}" is not a CIDR`);
    if (r.gw !== undefined && isIP(r.gw) !== fam) throw invalid(`ipam.routes[${i}].gw`, `"${r.gw}" is not an IPv${fam} address`);
    return { dst: r.dst, ...(r.gw ? { gw: r.gw } : {}) };
  });
}

/** resolv.conf lines (nameserver, domain, search, options) as a result's dns. */
export function parseResolvConf(text: string): CniDns {
  const dns: { nameservers: string[]; domain?: string; search: string[]; options: string[] } = { nameservers: [], search: [], options: [] };
  for (const line of text.split('\n')) {
    const [key, ...vals] = line.replace(/[#;].*$/, '').trim().split(/\s+/);
    if (key === 'nameserver' && vals[0]) dns.nameservers.push(vals[0]);
    else if (key === 'domain' && vals[0]) dns.domain = vals[0];
    else if (key === 'search') dns.search = vals;
    else if (key === 'options') dns.options.push(...vals);
  }
  return parseDns(dns, 'resolvConf');
}

/** ipam.resolvConf read and parsed; code 7 naming the field when it cannot be read. */
export function ipamDns(ipam: IpamConf | undefined): CniDns | undefined {
  if (!ipam?.resolvConf) return undefined;
  try {
    return parseResolvConf(readFileSync(ipam.resolvConf, 'utf8'));
  } catch (err) {
    throw invalid('ipam.resolvConf', `cannot read ${ipam.resolvConf}: ${(err as Error).message}`);
  }
}
