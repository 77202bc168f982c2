/**
 * CNI results (spec "Success"), held internally in the 1.1.0 shape and converted on the way
 * out or in: 0.3.0/0.3.1/0.4.0 carry `version` ("4"/"6") in each ip; 1.0.0 has no 1.1-only
 * fields (interface mtu/socketPath/pciID, route mtu/advmss/priority/table/scope). Pure.
 */
import { isIP } from 'node:net';
import { CNI_ERR, CniError } from './errors.js';
import { compareVersions, isSupportedVersion, type CniVersion } from './version.js';

export interface CniInterface {
  name: string;
  mac?: string;
  /** 1.1.0 */
  mtu?: number;
  sandbox?: string;
  /** 1.1.0 */
  socketPath?: string;
  /** 1.1.0 */
  pciID?: string;
}

export interface CniIpConfig {
  /** CIDR: address with prefix length. */
  address: string;
  gateway?: string;
  /** Index into interfaces. */
  interface?: number;
}

export interface CniRoute {
  dst: string;
  gw?: string;
  /** 1.1.0 */
  mtu?: number;
  advmss?: number;
  priority?: number;
  table?: number;
  scope?: number;
}

export interface CniDns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

/** A result in the internal (1.1.0) shape; cniVersion is set when formatting. */
export interface CniResult {
  interfaces?: CniInterface[];
  ips?: CniIpConfig[];
  routes?: CniRoute[];
  dns?: CniDns;
}

const V11_IFACE = ['mtu', 'socketPath', 'pciID'] as const;
const V11_ROUTE = ['mtu', 'advmss', 'priority', 'table', 'scope'] as const;

/** CIDR's family from its address part; undefined when it is not an IP/prefix. */
export function cidrFamily(cidr: string): 4 | 6 | undefined {
  const [ip, len, ...rest] = cidr.split('/');
  if (ip === undefined || len === undefined || rest.length > 0 || !/^\d{1,3}$/.test(len)) return undefined;
  const f = isIP(ip);
  if (f === 0 || Number(len) > (f === 4 ? 32 : 128)) return undefined;
  return f as 4 | 6;
}

function omit<T extends object>(o: T, keys: readonly string[]): T {
  const out = { ...o } as Record<string, unknown>;
  for (const k of keys) delete out[k];
  return out as T;
}

/** The result as `version` prints it: key order cniVersion, interfaces, ips, routes, dns. */
export function formatResult(r: CniResult, version: CniVersion): Record<string, unknown> {
  const pre1 = compareVersions(version, '1.0.0') < 0;
  const pre11 = compareVersions(version, '1.1.0') < 0;
  const out: Record<string, unknown> = { cniVersion: version };
  if (r.interfaces?.length) out['interfaces'] = r.interfaces.map((i) => (pre11 ? omit(i, V11_IFACE) : { ...i }));
  if (r.ips?.length) {
    out['ips'] = r.ips.map((ip) => {
      if (!pre1) return { ...ip };
      const fam = cidrFamily(ip.address);
      const { address, gateway, interface: iface } = ip;
      return { version: String(fam ?? 4), ...(iface === undefined ? {} : { interface: iface }), address, ...(gateway ? { gateway } : {}) };
    });
  }
  if (r.routes?.length) out['routes'] = r.routes.map((rt) => (pre11 ? omit(rt, V11_ROUTE) : { ...rt }));
  out['dns'] = { ...(r.dns ?? {}) };
  return out;
}

function bad(field: string, what: string): CniError {
  return new CniError(CNI_ERR.DECODE, `${field}: ${what}`, field);
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function strArray(v: unknown, field: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw bad(field, 'must be an array of strings');
  return v as string[];
}

function optStr(o: Record<string, unknown>, k: string, field: string): string | undefined {
  const v = o[k];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw bad(`${field}.${k}`, 'must be a string');
  return v;
}

function optNum(o: Record<string, unknown>, k: string, field: string): number | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw bad(`${field}.${k}`, 'must be an integer');
  return v;
}

/**
 * Parses a result in any supported version (a prevResult, or a delegated plugin's output)
 * into the internal shape. `field` names it in errors (code 6, decode failure).
 */
export function parseResult(raw: unknown, fallbackVersion: CniVersion, field = 'prevResult'): { version: CniVersion; result: CniResult } {
  if (!isObj(raw)) throw bad(field, 'must be an object');
  const v = raw['cniVersion'] ?? fallbackVersion;
  if (typeof v !== 'string' || !isSupportedVersion(v)) {
    throw new CniError(CNI_ERR.INCOMPATIBLE_VERSION, `${field}.cniVersion "${String(v)}" is not supported`, `${field}.cniVersion`);
  }
  const result: CniResult = {};
  if (raw['interfaces'] !== undefined && raw['interfaces'] !== null) {
    if (!Array.isArray(raw['interfaces'])) throw bad(`${field}.interfaces`, 'must be an array');
    result.interfaces = raw['interfaces'].map((i, n) => parseInterface(i, `${field}.interfaces[${n}]`));
  }
  if (raw['ips'] !== undefined && raw['ips'] !== null) {
    if (!Array.isArray(raw['ips'])) throw bad(`${field}.ips`, 'must be an array');
    result.ips = raw['ips'].map((i, n) => parseIpConfig(i, `${field}.ips[${n}]`, result.interfaces?.length));
  }
  if (raw['routes'] !== undefined && raw['routes'] !== null) {
    if (!Array.isArray(raw['routes'])) throw bad(`${field}.routes`, 'must be an array');
    result.routes = raw['routes'].map((r, n) => parseRoute(r, `${field}.routes[${n}]`));
  }
  if (raw['dns'] !== undefined && raw['dns'] !== null) result.dns = parseDns(raw['dns'], `${field}.dns`);
  return { version: v, result };
}

function parseInterface(i: unknown, field: string): CniInterface {
  if (!isObj(i)) throw bad(field, 'must be an object');
  const name = optStr(i, 'name', field);
  if (!name) throw bad(`${field}.name`, 'is required');
  const out: CniInterface = { name };
  const mac = optStr(i, 'mac', field), sandbox = optStr(i, 'sandbox', field), socketPath = optStr(i, 'socketPath', field), pciID = optStr(i, 'pciID', field);
  const mtu = optNum(i, 'mtu', field);
  if (mac) out.mac = mac;
  if (mtu !== undefined) out.mtu = mtu;
  if (sandbox) out.sandbox = sandbox;
  if (socketPath) out.socketPath = socketPath;
  if (pciID) out.pciID = pciID;
  return out;
}

function parseIpConfig(i: unknown, field: string, nIfaces: number | undefined): CniIpConfig {
  if (!isObj(i)) throw bad(field, 'must be an object');
  const address = optStr(i, 'address', field);
  if (!address || cidrFamily(address) === undefined) throw bad(`${field}.address`, `"${String(i['address'])}" is not an address with a prefix length`);
  const version = i['version'];
  if (version !== undefined && version !== String(cidrFamily(address))) throw bad(`${field}.version`, `"${String(version)}" does not match ${address}`);
  const out: CniIpConfig = { address };
  const gateway = optStr(i, 'gateway', field);
  if (gateway) {
    if (isIP(gateway) !== cidrFamily(address)) throw bad(`${field}.gateway`, `"${gateway}" is not an address of ${address}'s family`);
    out.gateway = gateway;
  }
  const iface = optNum(i, 'interface', field);
  if (iface !== undefined) {
    if (iface < 0 || (nIfaces !== undefined && iface >= nIfaces)) throw bad(`${field}.interface`, `index ${iface} is out of range`);
    out.interface = iface;
  }
  return out;
}

function parseRoute(r: unknown, field: string): CniRoute {
  if (!isObj(r)) throw bad(field, 'must be an object');
  const dst = optStr(r, 'dst', field);
  if (!dst || cidrFamily(dst) === undefined) throw bad(`${field}.dst`, `"${String(r['dst'])}" is not a CIDR`);
  const out: CniRoute = { dst };
  const gw = optStr(r, 'gw', field);
  if (gw) {
    if (isIP(gw) !== cidrFamily(dst)) throw bad(`${field}.gw`, `"${gw}" is not an address of ${dst}'s family`);
    out.gw = gw;
  }
  for (const k of V11_ROUTE) {
    const n = optNum(r, k, field);
    if (n !== undefined) out[k] = n;
  }
  return out;
}

export function parseDns(d: unknown, field: string): CniDns {
  if (!isObj(d)) throw bad(field, 'must be an object');
  const out: CniDns = {};
  const ns = strArray(d['nameservers'], `${field}.nameservers`);
  const search = strArray(d['search'], `${field}.search`);
  const options = strArray(d['options'], `${field}.options`);
  const domain = optStr(d, 'domain', field);
  if (ns?.length) out.nameservers = ns;
  if (domain) out.domain = domain;
  if (search?.length) out.search = search;
  if (options?.length) out.options = options;
  return out;
}

/** True when the DNS object sets anything. */
export function dnsIsSet(d: CniDns | undefined): boolean {
  return !!d && !!(d.nameservers?.length || d.domain || d.search?.length || d.options?.length);
}
