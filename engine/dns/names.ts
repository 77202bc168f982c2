/**
 * The name table of the embedded DNS: for every network, the containers on it with their
 * names, aliases and addresses. Pure in-memory data (no sockets, no netns); the engine keeps
 * it in step with endpoints (add on attach, remove on detach) and owns its lifetime.
 *
 * On network N a container is found by its name or any alias, bare or as `name.N`
 * (Docker's forms). Lookups are case-insensitive and ignore a trailing dot. Several
 * containers sharing an alias give the union of their addresses (round-robin DNS).
 */
import { isIP } from 'node:net';
import { Address6 } from 'ip-address';
import { ConfigError } from '../../core/errors.js';

export type AddressType = 'A' | 'AAAA';

/** Client seen by the server: `address` is the querier, `local` the listening address. */
export interface QueryClient {
  address: string;
  local: string;
}

/** `[]`: the name is ours but has no address of that type; `undefined`: not ours. */
export type Resolve = (name: string, type: AddressType, client?: QueryClient) => string[] | undefined;
/** The name (without trailing dot) for one of our addresses, or `undefined` when not ours. */
export type ResolvePtr = (ip: string, client?: QueryClient) => string | undefined;

export interface NameEntry {
  /** Stable key of the endpoint or container (re-adding the same id replaces it). */
  id: string;
  name: string;
  aliases?: readonly string[];
  ips: readonly string[];
}

interface Stored {
  id: string;
  name: string;
  keys: string[];
  ips: string[];
}

/** Lower-case, no trailing dot: the form every lookup key is stored and compared in. */
export function normalizeName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/** Canonical text of an IP (IPv6 compressed, lower-case); ConfigError when not an IP. */
export function canonicalIp(ip: string): string {
  const family = isIP(ip);
  if (family === 4) return ip;
  if (family === 6) return new Address6(ip).correctForm();
  throw new ConfigError(`not an IP address: ${ip}`, 'ips');
}

function familyOf(type: AddressType): 4 | 6 {
  return type === 'A' ? 4 : 6;
}

export class NameTable {
  /** network name (as given: networks are case-sensitive) → entry id → entry */
  private readonly networks = new Map<string, Map<string, Stored>>();

  /** Adds (or replaces, by id) a container's names and addresses on a network. */
  add(network: string, entry: NameEntry): void {
    if (!entry.name) throw new ConfigError('a DNS entry needs a name', 'name');
    const keys = [entry.name, ...(entry.aliases ?? [])].map(normalizeName).filter((k) => k !== '');
    const stored: Stored = { id: entry.id, name: entry.name, keys: [...new Set(keys)], ips: entry.ips.map(canonicalIp) };
    let entries = this.networks.get(network);
    if (!entries) this.networks.set(network, (entries = new Map()));
    entries.set(entry.id, stored);
  }

  /** Removes one entry; false when it was not there. */
  remove(network: string, id: string): boolean {
    const entries = this.networks.get(network);
    const removed = entries?.delete(id) ?? false;
    if (entries && entries.size === 0) this.networks.delete(network);
    return removed;
  }

  /** Forgets a whole network (on network removal). */
  removeNetwork(network: string): void {
    this.networks.delete(network);
  }

  /** The networks an address is registered on, via the entry that holds it. */
  networksOfIp(ip: string): string[] {
    const canon = isIP(ip) ? canonicalIp(ip) : ip;
    const ids = new Set<string>();
    for (const entries of this.networks.values()) {
      for (const e of entries.values()) if (e.ips.includes(canon)) ids.add(e.id);
    }
    const out: string[] = [];
    for (const [net, entries] of this.networks) {
      if ([...ids].some((id) => entries.has(id))) out.push(net);
    }
    return out;
  }

  /** Addresses of `name` (bare or `name.network`) of the given type across `networkNames`. */
  lookup(name: string, type: AddressType, networkNames: readonly string[]): string[] | undefined {
    const q = normalizeName(name);
    let found = false;
    const ips = new Set<string>();
    for (const network of networkNames) {
      const entries = this.networks.get(network);
      if (!entries) continue;
      // The `name.network` form: DNS compares names case-insensitively.
      const suffix = `.${normalizeName(network)}`;
      const bare = q.endsWith(suffix) ? q.slice(0, -suffix.length) : undefined;
      for (const e of entries.values()) {
        if (!e.keys.includes(q) && (bare === undefined || !e.keys.includes(bare))) continue;
        found = true;
        for (const ip of e.ips) if (isIP(ip) === familyOf(type)) ips.add(ip);
      }
    }
    return found ? [...ips] : undefined;
  }

  /** `name.network` of the entry holding `ip` on the first of `networkNames` that has it. */
  lookupPtr(ip: string, networkNames: readonly string[]): string | undefined {
    if (!isIP(ip)) return undefined;
    const canon = canonicalIp(ip);
    for (const network of networkNames) {
      for (const e of this.networks.get(network)?.values() ?? []) {
        if (e.ips.includes(canon)) return `${e.name.toLowerCase()}.${normalizeName(network)}`;
      }
    }
    return undefined;
  }

  /** A fixed-scope resolve function: names on exactly these networks. */
  resolver(networkNames: readonly string[]): Resolve {
    const nets = [...networkNames];
    return (name, type) => this.lookup(name, type, nets);
  }

  /** A fixed-scope PTR function for these networks. */
  ptrResolver(networkNames: readonly string[]): ResolvePtr {
    const nets = [...networkNames];
    return (ip) => this.lookupPtr(ip, nets);
  }

  /**
   * For a server bound to `network`'s gateway: the scope is `network` plus every other
   * network the querying container is attached to (found by its source address), so a
   * container on two networks resolves names on both, as with Docker.
   */
  gatewayResolver(network: string): Resolve {
    return (name, type, client) => this.lookup(name, type, this.scopeFor(network, client));
  }

  /** PTR counterpart of `gatewayResolver`. */
  gatewayPtrResolver(network: string): ResolvePtr {
    return (ip, client) => this.lookupPtr(ip, this.scopeFor(network, client));
  }

  private scopeFor(network: string, client: QueryClient | undefined): string[] {
    const extra = client ? this.networksOfIp(client.address).filter((n) => n !== network) : [];
    return [network, ...extra];
  }
}
