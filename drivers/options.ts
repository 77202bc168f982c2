/** Pure parsers shared by the drivers' parseOptions. Each error names the option. */
import { createHash } from 'node:crypto';
import { ConfigError } from '../core/index.js';
import { ruleIfnameValid } from '../core/firewall/index.js';
import { formatIp, parseIp, type IpValue } from '../ipam/index.js';

/** Interface names: 1..15 bytes (IFNAMSIZ-1), no '/', ':', '%' or whitespace, not '.', '..', 'all' or 'default'. */
export function checkIfname(name: string, field: string): string {
  if (name.length === 0) throw new ConfigError(`${field}: interface name is empty`, field);
  if (Buffer.byteLength(name) > 15) throw new ConfigError(`${field}: interface name "${name}" is longer than 15 bytes`, field);
  // '%' makes the kernel number the name (eth%d -> eth0): tsnet would not know what it made.
  // 'all' and 'default' are the names of the sysctl folders every interface has beside its own.
  if (['.', '..', 'all', 'default'].includes(name) || /[/:%\s]/.test(name)) throw new ConfigError(`${field}: invalid interface name "${name}"`, field);
  return name;
}

/**
 * A bridge's name: also written into firewall rules (`-i`/`-o`), so it must be one
 * core/firewall takes (ruleIfnameValid). Checked before anything is made.
 */
export function checkBridgeName(name: string, field: string): string {
  checkIfname(name, field);
  if (!ruleIfnameValid(name)) throw new ConfigError(`${field}: bridge name "${name}" may hold only letters, digits, "_", "." and "-" (firewall rules name it)`, field);
  return name;
}

export function parseBool(value: string, field: string): boolean {
  switch (value.toLowerCase()) {
    case 'true': case '1': case 'yes': case 'on': return true;
    case 'false': case '0': case 'no': case 'off': return false;
    default: throw new ConfigError(`${field}: "${value}" is not a boolean`, field);
  }
}

/** An integer option in [min, max]; the error names the field and what the number is. */
function intIn(value: string | number, field: string, what: string, min: number, max: number): number {
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`${field}: ${what} ${value} is out of range ${min}-${max}`, field);
  return n;
}

/** MTU: 68 (IPv4 minimum) .. 65535. */
export function parseMtu(value: string | number, field: string): number {
  return intIn(value, field, 'MTU', 68, 65535);
}

/** A link's TX/RX queue count: 1..4096 (the kernel's limit). */
export function parseQueues(value: string | number, field: string): number {
  return intIn(value, field, 'queue count', 1, 4096);
}

/**
 * A unicast IPv4 address (e.g. the bridge's host_binding_ipv4: published ports are DNAT'd
 * from it, and the port maps hold IPv4 there), canonical; 0.0.0.0 means every address.
 */
export function parseIpv4(value: string, field: string): string {
  let ip: IpValue | undefined;
  try {
    ip = parseIp(value, field);
  } catch {
    // reported below, with the option's name
  }
  if (ip?.family !== 4) throw new ConfigError(`${field}: "${value}" is not an IPv4 address`, field);
  if (ip.value >= 0xe0000000n) throw new ConfigError(`${field}: ${value} is a multicast or reserved address, not a host's`, field);
  return formatIp(4, ip.value);
}

export function checkMac(mac: string, field: string): string {
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(mac)) throw new ConfigError(`${field}: invalid MAC address "${mac}"`, field);
  if ((parseInt(mac.slice(0, 2), 16) & 1) === 1) throw new ConfigError(`${field}: MAC address "${mac}" is multicast`, field);
  return mac.toLowerCase();
}

/** Rejects keys not in `known`, naming the first unknown one. */
export function rejectUnknown(raw: Record<string, string>, known: readonly string[], driver: string): void {
  for (const key of Object.keys(raw)) {
    if (!known.includes(key)) throw new ConfigError(`unknown ${driver} option "${key}"`, key);
  }
}

/** Returns the first present key's value among aliases (e.g. a Docker name and a short name). */
export function pick(raw: Record<string, string>, ...keys: string[]): [string, string] | undefined {
  for (const k of keys) {
    const v = raw[k];
    if (v !== undefined) return [k, v];
  }
  return undefined;
}

/**
 * Deterministic MAC of an endpoint's host-side veth end (locally administered, unicast): the
 * CNI result reports it without asking the kernel, and it stays the same across re-creation.
 */
export function hostMacFor(endpointId: string): string {
  return stableMac(`tsnet-host-end:${endpointId}`);
}

/** A locally administered unicast MAC derived from `seed` (same seed, same MAC). */
export function stableMac(seed: string): string {
  const b = createHash('sha256').update(seed).digest().subarray(0, 6);
  b[0] = ((b[0] ?? 0) & 0xfe) | 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** Deterministic host-side name for an endpoint: "veth" + 7 hex of its id (11 bytes). */
export function hostIfnameFor(endpointId: string, prefix = 'veth'): string {
  return prefix + createHash('sha256').update(endpointId).digest('hex').slice(0, Math.min(7, 15 - prefix.length));
}
