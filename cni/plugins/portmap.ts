/**
 * tsnet-portmap: the reference `portmap` plugin's role (chained after a main plugin, the
 * `portMappings` capability) on tsnet's firewall: each mapping is an element of tsnet's
 * nftables port map (the same DNAT every tsnet front-end uses, constant cost); with
 * `conditionsV4/V6` (-s, -d, -i matches) the mappings are iptables DNAT rules in TSNET-DNAT
 * instead; `masqAll` adds a MASQUERADE of DNAT'd traffic. Mappings are reserved in the store (clashes with any
 * other tsnet publication are refused) under an endpoint of the tsnet network
 * "cni-portmap-<name>" (driver host: no kernel objects); the exact rules added are kept in
 * the store so DEL and GC remove exactly them. Host netns: iptables rules only.
 */
import { isIP } from 'node:net';
import { portRules, POSTROUTING_CHAIN, type Rule, type RuleSet } from '../../core/firewall/index.js';
import { isNetns } from '../../core/netns/index.js';
import { parseCidr } from '../../ipam/index.js';
import type { NetworkManager, PortBinding } from '../../drivers/index.js';
import type { PortMappingRow } from '../../store/index.js';
import { baseSchema, compileSchema, invalid, unsupported, validate, type BaseConf, type PortMapping } from '../skel/config.js';
import { CNI_ERR, CniError } from '../skel/errors.js';
import type { CniPlugin, PluginRequest } from '../skel/dispatch.js';
import { cidrFamily, type CniResult } from '../skel/result.js';
import { endpointId, ensureCniNetwork, findCniNetwork, managerForStatus, validIds, type CniHost } from './common.js';

export interface PortmapConf extends BaseConf {
  snat?: boolean;
  masqAll?: boolean;
  markMasqBit?: number;
  externalSetMarkChain?: string;
  conditionsV4?: string[];
  conditionsV6?: string[];
}

const strArr = { type: 'array', items: { type: 'string' } } as const;
const schema = {
  allOf: [baseSchema, {
    type: 'object',
    properties: {
      snat: { type: 'boolean' }, masqAll: { type: 'boolean' }, markMasqBit: { type: 'integer', minimum: 0, maximum: 31 },
      externalSetMarkChain: { type: 'string' }, conditionsV4: strArr, conditionsV6: strArr,
    },
  }],
};
const KIND = 'portmap';
const RULES_KEY = 'cni-portmap.rules:';
let compiled: ReturnType<typeof compileSchema> | undefined;

/** Extra matches of the DNAT rules, in iptables-save's order (-s, -d, -i). */
export interface Conditions {
  src?: string[];
  dst?: string[];
  inIf?: string[];
}

function parse(raw: Record<string, unknown>): PortmapConf {
  compiled ??= compileSchema(schema);
  const c = validate<PortmapConf>(compiled, raw);
  parseConditions(c.conditionsV4 ?? [], 4, 'conditionsV4');
  parseConditions(c.conditionsV6 ?? [], 6, 'conditionsV6');
  return c;
}

/** Parses iptables match arguments; only [!] -s/-d CIDR and [!] -i IFNAME are supported (code 2 otherwise). */
export function parseConditions(tokens: readonly string[], family: 4 | 6, field: string): Conditions {
  const out: Conditions = {};
  for (let i = 0; i < tokens.length; i++) {
    const neg = tokens[i] === '!';
    if (neg) i++;
    const flag = tokens[i];
    const value = tokens[i + 1];
    i++;
    if (value === undefined || !['-s', '--source', '-d', '--destination', '-i', '--in-interface'].includes(flag ?? '')) {
      throw unsupported(field, tokens, 'only "[!] -s CIDR", "[!] -d CIDR" and "[!] -i IFNAME" conditions are supported');
    }
    const prefix = neg ? ['!'] : [];
    if (flag === '-i' || flag === '--in-interface') {
      if (!/^[A-Za-z0-9_.+-]{1,15}$/.test(value)) throw invalid(field, `"${value}" is not an interface name`);
      out.inIf = [...prefix, '-i', value];
      continue;
    }
    const cidr = value.includes('/') ? value : `${value}/${family === 4 ? 32 : 128}`;
    if (cidrFamily(cidr) !== family) throw invalid(field, `"${value}" is not an IPv${family} address or CIDR`);
    const canonical = parseCidr(cidr, field).cidr;
    if (flag === '-s' || flag === '--source') out.src = [...prefix, '-s', canonical];
    else out.dst = [...prefix, '-d', canonical];
  }
  return out;
}

function protoOf(m: PortMapping, i: number): 'tcp' | 'udp' {
  const p = (m.protocol ?? 'tcp').toLowerCase();
  if (p === 'sctp') throw unsupported(`runtimeConfig.portMappings[${i}].protocol`, m.protocol, 'SCTP is not published by tsnet');
  if (p !== 'tcp' && p !== 'udp') throw invalid(`runtimeConfig.portMappings[${i}].protocol`, `"${m.protocol ?? ''}" is not tcp or udp`);
  return p;
}

/**
 * The container's address of each family from prevResult, picked as the reference portmap
 * does: the first one of the family, skipping addresses on an interface known to be another
 * one than CNI_IFNAME or outside the sandbox (an address without an `interface` index counts).
 */
export function containerIps(prev: CniResult, ifname: string): string[] {
  const ifaces = prev.interfaces ?? [];
  const byFamily = new Map<number, string>();
  for (const ip of prev.ips ?? []) {
    const addr = ip.address.split('/')[0] ?? '';
    const family = isIP(addr);
    if (byFamily.has(family)) continue;
    const iface = ip.interface === undefined ? undefined : ifaces[ip.interface];
    if (iface && (iface.name !== ifname || !iface.sandbox)) continue;
    byFamily.set(family, addr);
  }
  return [...byFamily.values()];
}

/** One row per (mapping, container address of the mapping's family). */
export function bindings(maps: readonly PortMapping[], ips: readonly string[], endpoint: string, networkId: string): PortMappingRow[] {
  const rows: PortMappingRow[] = [];
  maps.forEach((m, i) => {
    const field = `runtimeConfig.portMappings[${i}]`;
    if (m.hostPort < 1) throw invalid(`${field}.hostPort`, 'must be 1-65535');
    if (m.containerPort < 1) throw invalid(`${field}.containerPort`, 'must be 1-65535');
    const hostFam = m.hostIP ? isIP(m.hostIP) : 0;
    if (m.hostIP && hostFam === 0) throw invalid(`${field}.hostIP`, `"${m.hostIP}" is not an IP address`);
    const proto = protoOf(m, i);
    for (const ip of ips) {
      const fam = isIP(ip);
      if (hostFam !== 0 && fam !== hostFam) continue;
      const hostIp = m.hostIP && m.hostIP !== '0.0.0.0' && m.hostIP !== '::' ? m.hostIP : fam === 4 ? '0.0.0.0' : '::';
      rows.push({ proto, hostIp, hostPort: m.hostPort, endpointId: endpoint, networkId, containerIp: ip, containerPort: m.containerPort });
    }
  });
  return rows;
}

/** The rule sets of the bindings: DNAT (with conditions) and, with masqAll, a MASQUERADE of DNAT'd traffic. */
export function mappingRules(rows: readonly PortMappingRow[], conf: PortmapConf, networkId: string, bridge: string): RuleSet[] {
  const cond = { 4: parseConditions(conf.conditionsV4 ?? [], 4, 'conditionsV4'), 6: parseConditions(conf.conditionsV6 ?? [], 6, 'conditionsV6') };
  return rows.map((b) => {
    const family = isIP(b.containerIp) === 6 ? 6 : 4;
    const proto = b.proto === 'udp' ? 'udp' : 'tcp';
    const base = portRules({ bridge, proto, hostIp: b.hostIp, hostPort: b.hostPort, containerIp: b.containerIp, containerPort: b.containerPort, family, networkId });
    const c = cond[family];
    const rules: Rule[] = base.rules.map((r) => {
      const hasDst = r.spec[0] === '-d';
      if (hasDst && c.dst) throw invalid(`conditionsV${family}`, 'a -d condition cannot be combined with a hostIP');
      const dst = hasDst ? r.spec.slice(0, 2) : c.dst ?? [];
      return { ...r, spec: [...(c.src ?? []), ...dst, ...(c.inIf ?? []), ...r.spec.slice(hasDst ? 2 : 0)] };
    });
    if (conf.masqAll) {
      const plen = family === 4 ? 32 : 128;
      rules.push({
        table: 'nat', chain: POSTROUTING_CHAIN,
        spec: ['-d', `${b.containerIp}/${plen}`, '-p', proto, '-m', proto, '--dport', String(b.containerPort), '-m', 'conntrack', '--ctstate', 'DNAT', '-m', 'comment', '--comment', `tsnet:${networkId}`, '-j', 'MASQUERADE'],
      });
    }
    return { family, chains: [], rules };
  });
}

/**
 * What an attachment programmed, kept in the store so DEL/GC/CHECK see exactly it: DNAT as
 * elements of tsnet's nftables port map (constant cost) unless conditions ask for iptables
 * matches, and iptables rules for conditions and masqAll.
 */
interface Recorded {
  sets: RuleSet[];
  mapped: PortBinding[];
}

function readRecord(mgr: NetworkManager, id: string): Recorded | undefined {
  const text = mgr.store.kv.get(RULES_KEY + id);
  if (!text) return undefined;
  const parsed = JSON.parse(text) as Recorded | RuleSet[];
  return Array.isArray(parsed) ? { sets: parsed, mapped: [] } : parsed;
}

/** Removes the attachment's recorded rules and map elements, then its endpoint and port reservations (idempotent). */
async function release(mgr: NetworkManager, id: string): Promise<void> {
  const recorded = readRecord(mgr, id);
  if (recorded) {
    await mgr.firewall.apply({ remove: recorded.sets });
    // The endpoint's detach below unpublishes its reserved ports (and forgets their UDP flows)
    // once; here only what it would not find.
    const reserved = mgr.getEndpoint(id)?.ports ?? [];
    const leftover = recorded.mapped.filter((m) => !reserved.some((r) => samePublication(r, m)));
    if (leftover.length > 0) await mgr.unpublishRules(leftover);
  }
  mgr.store.kv.delete(RULES_KEY + id);
  await mgr.detach(id);
}

const samePublication = (a: PortBinding, b: PortBinding) =>
  a.proto === b.proto && a.hostIp === b.hostIp && a.hostPort === b.hostPort && a.containerIp === b.containerIp && a.containerPort === b.containerPort;

const hasConditions = (c: PortmapConf) => (c.conditionsV4?.length ?? 0) > 0 || (c.conditionsV6?.length ?? 0) > 0;

/** iptables rules for what the map cannot express: the conditioned DNAT rules, or only masqAll's MASQUERADE. */
function iptablesPart(sets: RuleSet[], conf: PortmapConf): RuleSet[] {
  if (hasConditions(conf)) return sets;
  return sets.map((set) => ({ ...set, rules: set.rules.filter((r) => r.chain === POSTROUTING_CHAIN) })).filter((set) => set.rules.length > 0);
}

async function add(req: PluginRequest<PortmapConf>, host: CniHost): Promise<CniResult> {
  const { conf, env } = req;
  const prev = req.prevResult;
  if (!prev) throw new CniError(CNI_ERR.INVALID_CONFIG, 'prevResult: tsnet-portmap must be chained after a plugin that returns the container\'s addresses', 'prevResult');
  const maps = conf.runtimeConfig?.portMappings ?? [];
  if (maps.length === 0) return prev;
  const mgr = host.manager();
  const id = endpointId(KIND, conf.name, env.containerId, env.ifname);
  const existing = mgr.getEndpoint(id);
  if (existing) {
    const p = existing.placement;
    if (p.kind === 'netns' && p.netnsPath === env.netns && isNetns(p.netnsPath)) {
      throw new CniError(CNI_ERR.CONFLICT, `container ${env.containerId} interface ${env.ifname} already has port mappings on ${conf.name}`, 'CNI_IFNAME');
    }
    await release(mgr, id);
  }
  const net = await ensureCniNetwork(mgr, { kind: KIND, confName: conf.name, driver: 'host', options: {}, ranges: [] });
  const rows = bindings(maps, containerIps(prev, env.ifname), id, net.id);
  if (rows.length === 0) return prev;
  const bridge = (prev.interfaces ?? []).find((i) => !i.sandbox && /^[A-Za-z0-9_.-]{1,15}$/.test(i.name))?.name ?? 'lo';
  const sets = iptablesPart(mappingRules(rows, conf, net.id, bridge), conf);
  const published = rows.map(({ proto, hostIp, hostPort, containerIp, containerPort }) => ({ proto: proto === 'udp' ? 'udp' as const : 'tcp' as const, hostIp, hostPort, containerIp, containerPort }));
  const mapped = hasConditions(conf) ? [] : published;
  await mgr.attach({ network: net.id, sandbox: env.containerId, id, placement: { kind: 'netns', netnsPath: env.netns, ifname: env.ifname } });
  try {
    mgr.store.ports.reserve(rows);
    mgr.store.kv.set(RULES_KEY + id, JSON.stringify({ sets, mapped } satisfies Recorded));
    if (sets.length > 0) {
      await mgr.firewall.ensureBase();
      await mgr.firewall.apply({ add: sets });
    }
    // DNAT as map elements (publishRules forgets the UDP flows that began before), or as the
    // iptables rules just added, after which the same is done here.
    if (mapped.length > 0) await mgr.publishRules(mapped);
    else await mgr.forgetUdpFlows(published, { published: true });
  } catch (err) {
    await release(mgr, id);
    throw err;
  }
  return prev;
}

async function del(req: PluginRequest<PortmapConf>, host: CniHost): Promise<void> {
  await release(host.manager(), endpointId(KIND, req.conf.name, req.env.containerId, req.env.ifname));
}

async function check(req: PluginRequest<PortmapConf>, host: CniHost): Promise<void> {
  const { conf, env } = req;
  if ((conf.runtimeConfig?.portMappings ?? []).length === 0) return;
  const mgr = host.manager();
  const id = endpointId(KIND, conf.name, env.containerId, env.ifname);
  const recorded = readRecord(mgr, id);
  if (!mgr.getEndpoint(id) || !recorded) throw new CniError(CNI_ERR.NOT_FOUND, `no port mappings recorded for container ${env.containerId} interface ${env.ifname}`, 'CNI_CONTAINERID');
  const { sets, mapped } = recorded;
  if (mapped.length > 0) {
    const have = new Set((await mgr.portMap.list()).map(mapKey));
    const missing = mapped.find((m) => !have.has(mapKey({ ...m, ...(m.hostIp === '0.0.0.0' || m.hostIp === '::' ? { hostIp: undefined } : {}) })));
    if (missing) throw new CniError(CNI_ERR.CONFLICT, `port mapping is missing: ${missing.proto} ${missing.hostIp}:${missing.hostPort} -> ${missing.containerIp}:${missing.containerPort}`, 'runtimeConfig.portMappings');
  }
  for (const family of [4, 6] as const) {
    const mine = sets.filter((s) => s.family === family).flatMap((s) => s.rules);
    if (mine.length === 0) continue;
    mgr.firewall.invalidate();
    const have = new Set((await mgr.firewall.list(family)).rules.map((r) => `${r.table} ${r.chain} ${r.spec.join(' ')}`));
    const missing = mine.find((r) => !have.has(`${r.table} ${r.chain} ${r.spec.join(' ')}`));
    if (missing) throw new CniError(CNI_ERR.CONFLICT, `port mapping rule is missing: -A ${missing.chain} ${missing.spec.join(' ')}`, 'runtimeConfig.portMappings');
  }
}

async function gc(req: PluginRequest<PortmapConf>, host: CniHost): Promise<void> {
  const mgr = host.manager();
  const net = findCniNetwork(mgr, KIND, req.conf.name);
  if (!net) return;
  const keep = validIds(KIND, req.conf.name, req.validAttachments ?? []);
  for (const ep of mgr.listEndpoints(net.id)) if (!keep.has(ep.id)) await release(mgr, ep.id);
}

async function status(_req: PluginRequest<PortmapConf>, host: CniHost): Promise<void> {
  managerForStatus(host);
}

function mapKey(m: { proto: string; hostIp?: string | undefined; hostPort: number; containerIp: string; containerPort: number }): string {
  return `${m.proto} ${m.hostIp ?? '*'} ${m.hostPort} ${m.containerIp} ${m.containerPort}`;
}

export const portmapPlugin: CniPlugin<PortmapConf, CniHost> = {
  name: 'tsnet-portmap',
  knownArgs: null,
  parse, add, del, check, gc, status,
};
