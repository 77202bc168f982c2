/**
 * Parsing of the CLI's option values (key=value lists, filters) and docker's pairing of
 * --subnet / --ip-range / --gateway / --aux-address. Pure except for the lazy import of
 * ip-address (loaded only when several subnets must be matched).
 */
import { InvalidArgumentError } from 'commander';
import { ConfigError } from '../core/errors.js';
import type { NetworkCreateRequest } from './types.js';

/** argParser for a repeatable option: collects every value in order. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** "key=value" → [key, value]; with `allowBare`, "key" → [key, ""] (docker's --label). */
export function splitKeyValue(text: string, allowBare = false): [string, string] {
  const eq = text.indexOf('=');
  if (eq === 0 || (eq < 0 && !allowBare)) throw new InvalidArgumentError(`expected key=value, got "${text}"`);
  return eq < 0 ? [text, ''] : [text.slice(0, eq), text.slice(eq + 1)];
}

/** argParser for repeatable key=value options (-o, --aux-address). */
export function collectKeyValue(value: string, previous: [string, string][] | undefined): [string, string][] {
  return [...(previous ?? []), splitKeyValue(value)];
}

/** argParser for repeatable labels: "key=value" or a bare "key". */
export function collectLabel(value: string, previous: [string, string][] | undefined): [string, string][] {
  return [...(previous ?? []), splitKeyValue(value, true)];
}

export type Filters = Map<string, string[]>;

/** argParser for repeatable `-f key=value` filters; keys outside `allowed` are refused. */
export function filterParser(allowed: readonly string[]) {
  return (value: string, previous: Filters | undefined): Filters => {
    const [key, val] = splitKeyValue(value);
    if (!allowed.includes(key)) throw new InvalidArgumentError(`invalid filter "${key}" (valid: ${allowed.join(', ')})`);
    const next = new Map(previous ?? []);
    next.set(key, [...(next.get(key) ?? []), val]);
    return next;
  };
}

/** Entries as a plain object, undefined when there are none (so the field is left out). */
export function toRecord(entries: readonly [string, string][] | undefined): Record<string, string> | undefined {
  if (!entries || entries.length === 0) return undefined;
  return Object.fromEntries(entries);
}

type SubnetRequest = NonNullable<NetworkCreateRequest['Subnets']>[number];

interface IpLib {
  contains(subnet: string, candidate: string): boolean;
}

async function loadIpLib(): Promise<IpLib> {
  const { Address4, Address6 } = await import('ip-address');
  const parse = (text: string, what: string): InstanceType<typeof Address4> | InstanceType<typeof Address6> => {
    try {
      return text.includes(':') ? new Address6(text) : new Address4(text);
    } catch {
      throw new ConfigError(`invalid ${what} "${text}"`, what);
    }
  };
  return {
    contains(subnet, candidate) {
      const s = parse(subnet, 'subnet');
      const c = parse(candidate, 'address');
      if (s instanceof Address4 !== c instanceof Address4) return false;
      return (c as InstanceType<typeof Address4>).isInSubnet(s as InstanceType<typeof Address4>);
    },
  };
}

/**
 * Docker's IPAM pairing: each --ip-range, --gateway and --aux-address goes to the --subnet
 * that contains it (with a single subnet, to that one; the daemon checks containment).
 * At most one range and one gateway per subnet. Throws ConfigError with docker's messages.
 */
export async function pairSubnets(
  subnets: readonly string[],
  ranges: readonly string[],
  gateways: readonly string[],
  aux: readonly [string, string][],
): Promise<SubnetRequest[] | undefined> {
  if (subnets.length === 0) {
    if (ranges.length + gateways.length + aux.length > 0) {
      throw new ConfigError('every ip-range, gateway or aux-address must have a corresponding --subnet', 'Subnet');
    }
    return undefined;
  }
  const out: SubnetRequest[] = subnets.map((s) => ({ Subnet: s }));
  const lib = subnets.length > 1 ? await loadIpLib() : undefined;
  const owner = (value: string, what: string, field: string): SubnetRequest => {
    const found = lib ? out.find((s) => lib.contains(s.Subnet, value)) : out[0];
    if (!found) throw new ConfigError(`no matching subnet for ${what} ${value}`, field);
    return found;
  };
  for (const r of ranges) {
    const s = owner(r, 'range', 'IPRange');
    if (s.IPRange) throw new ConfigError(`cannot configure multiple ranges (${s.IPRange}, ${r}) on the same subnet (${s.Subnet})`, 'IPRange');
    s.IPRange = r;
  }
  for (const g of gateways) {
    const s = owner(g, 'gateway', 'Gateway');
    if (s.Gateway) throw new ConfigError(`cannot configure multiple gateways (${s.Gateway}, ${g}) for the same subnet (${s.Subnet})`, 'Gateway');
    s.Gateway = g;
  }
  for (const [name, ip] of aux) {
    const s = owner(ip, 'aux-address', 'AuxAddresses');
    s.AuxAddresses = { ...(s.AuxAddresses ?? {}), [name]: ip };
  }
  return out;
}
