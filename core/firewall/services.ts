/**
 * The rules of tsnet's firewall services as pure builders: the base chains and jumps,
 * per-network isolation/forwarding/masquerade, and per-mapping DNAT for published ports.
 * Specs are written in iptables-save's canonical order (e.g. `-s` before `-o`, `-m tcp`
 * after `-p tcp`, addresses with a prefix length) so what tsnet writes reads back equal.
 * No kernel access; golden files in testdata/ pin the output.
 */
import { Address4, Address6 } from 'ip-address';
import { ConfigError } from '../errors.js';
import type { ChainRef, Family, Rule, RuleSet } from './types.js';

export const FORWARD_CHAIN = 'TSNET-FORWARD';
export const ISOLATION1_CHAIN = 'TSNET-ISOLATION-1';
export const ISOLATION2_CHAIN = 'TSNET-ISOLATION-2';
export const DNAT_CHAIN = 'TSNET-DNAT';
export const POSTROUTING_CHAIN = 'TSNET-POSTROUTING';
export const INPUT_CHAIN = 'TSNET-INPUT';

const LOCAL_DST = ['-m', 'addrtype', '--dst-type', 'LOCAL'];
/**
 * Packets from other hosts to a local address, but never to 127.0.0.0/8: NAT prerouting runs
 * before routing's martian check, so a neighbour routing 127/8 via this host would reach
 * ports published on 127.0.0.1 only (the host's own 127.0.0.1 traffic is DNATed in OUTPUT).
 * IPv6 needs nothing: the kernel drops ::1 from a non-loopback device before prerouting.
 */
const REMOTE_TO_LOCAL: Record<Family, string[]> = { 4: ['!', '-d', '127.0.0.0/8', ...LOCAL_DST], 6: LOCAL_DST };

/** Base chains and the jumps into them from the built-in chains (jumps go first). */
export function baseRules(family: Family): RuleSet {
  const chains: ChainRef[] = [
    ...(family === 4 ? [{ table: 'filter', name: INPUT_CHAIN } as const] : []),
    { table: 'filter', name: FORWARD_CHAIN },
    { table: 'filter', name: ISOLATION1_CHAIN },
    { table: 'filter', name: ISOLATION2_CHAIN },
    { table: 'nat', name: DNAT_CHAIN },
    { table: 'nat', name: POSTROUTING_CHAIN },
  ];
  const rules: Rule[] = [
    ...(family === 4 ? [{ table: 'filter', chain: 'INPUT', spec: ['-j', INPUT_CHAIN], insert: true } as const] : []),
    { table: 'filter', chain: 'FORWARD', spec: ['-j', FORWARD_CHAIN], insert: true },
    { table: 'filter', chain: FORWARD_CHAIN, spec: ['-j', ISOLATION1_CHAIN], insert: true },
    { table: 'nat', chain: 'PREROUTING', spec: [...REMOTE_TO_LOCAL[family], '-j', DNAT_CHAIN], insert: true },
    // Host-originated traffic too (127.0.0.1 included): there is no userland proxy.
    { table: 'nat', chain: 'OUTPUT', spec: [...LOCAL_DST, '-j', DNAT_CHAIN], insert: true },
    { table: 'nat', chain: 'POSTROUTING', spec: ['-j', POSTROUTING_CHAIN], insert: true },
  ];
  return { family, chains, rules };
}

export interface NetworkFirewall {
  id: string;
  bridge: string;
  /** CIDRs of both families; each RuleSet takes those of its family. */
  subnets: readonly string[];
  internal: boolean;
  icc: boolean;
  masquerade: boolean;
  /**
   * Families in gateway mode `nat` (Docker's default): traffic forwarded into the bridge from
   * anywhere but the bridge itself passes only as a reply (RELATED/ESTABLISHED) or to a
   * published port (DNAT); the rest is dropped, so a neighbour routing the subnet via this
   * host cannot reach unpublished ports. The other families (`nat-unprotected`, CNI's
   * default) forward anything into the bridge, as the built-in FORWARD policy decides.
   */
  protect: readonly Family[];
}

/**
 * The version of what baseRules and renderPortMapLayout make: bump it with either, so that
 * a process that finds an older one recorded re-makes the port table and removes
 * legacyBaseRules (NetworkManager's firewall.layout mark). 2: the 127.0.0.0/8 exclusions.
 */
export const FIREWALL_LAYOUT = 3;

/**
 * Jumps older tsnet versions made and baseRules no longer does, removed by ensureBase: the
 * IPv4 PREROUTING jump that also took 127.0.0.0/8 (REMOTE_TO_LOCAL).
 */
export function legacyBaseRules(family: Family): RuleSet {
  const rules: Rule[] = family === 4 ? [{ table: 'nat', chain: 'PREROUTING', spec: [...LOCAL_DST, '-j', DNAT_CHAIN] }] : [];
  return { family, chains: [], rules };
}

/** One RuleSet per family that has a subnet. Needs baseRules applied first. */
export function networkRules(n: NetworkFirewall): RuleSet[] {
  checkId(n.id);
  checkIfname(n.bridge, 'bridge');
  const subnets = n.subnets.map((s) => canonicalCidr(s));
  return ([4, 6] as const)
    .map((family) => ({ family, cidrs: subnets.filter((s) => s.family === family).map((s) => s.cidr) }))
    .filter((f) => f.cidrs.length > 0)
    .map((f) => ({ family: f.family, chains: [], rules: [...filterRules(n, f.family), ...natRules(n, f.family, f.cidrs)] }));
}

function comment(id: string): string[] {
  return ['-m', 'comment', '--comment', `tsnet:${id}`];
}

function filterRules(n: NetworkFirewall, family: Family): Rule[] {
  const br = n.bridge;
  const c = comment(n.id);
  const fwd = (spec: string[], target: string): Rule => ({ table: 'filter', chain: FORWARD_CHAIN, spec: [...spec, ...c, '-j', target] });
  const rules: Rule[] = [
    { table: 'filter', chain: ISOLATION1_CHAIN, spec: ['-i', br, '!', '-o', br, ...c, '-j', ISOLATION2_CHAIN] },
    { table: 'filter', chain: ISOLATION2_CHAIN, spec: ['-o', br, ...c, '-j', 'DROP'] },
  ];
  // The bridge has route_localnet (for host -> 127.0.0.1:published port), which would also
  // route a container's packets to 127.0.0.0/8 via its gateway to the host's loopback-only
  // services. Only replies and DNATed traffic may come in that way (kube-proxy's
  // KUBE-FIREWALL rule for the same sysctl, CVE-2020-8558).
  if (family === 4) {
    rules.push({ table: 'filter', chain: INPUT_CHAIN, spec: ['-d', '127.0.0.0/8', '-i', br, '-m', 'conntrack', '!', '--ctstate', 'RELATED,ESTABLISHED,DNAT', ...c, '-j', 'DROP'] });
  }
  if (n.internal) {
    rules.push(
      { table: 'filter', chain: ISOLATION1_CHAIN, spec: ['-i', br, '!', '-o', br, ...c, '-j', 'DROP'] },
      { table: 'filter', chain: ISOLATION1_CHAIN, spec: ['!', '-i', br, '-o', br, ...c, '-j', 'DROP'] },
    );
  } else {
    rules.push(
      fwd(['-o', br, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED'], 'ACCEPT'),
      fwd(['-o', br, '-m', 'conntrack', '--ctstate', 'DNAT'], 'ACCEPT'),
    );
    // Only after the two accepts (replies, published ports); `! -i` leaves traffic within the
    // bridge (ICC below, hairpin to a published port) alone.
    if (n.protect.includes(family)) rules.push(fwd(['!', '-i', br, '-o', br], 'DROP'));
    rules.push(fwd(['-i', br, '!', '-o', br], 'ACCEPT'));
  }
  rules.push(fwd(['-i', br, '-o', br], n.icc ? 'ACCEPT' : 'DROP'));
  return rules;
}

function natRules(n: NetworkFirewall, family: Family, cidrs: string[]): Rule[] {
  if (n.internal) return [];
  const br = n.bridge;
  const c = comment(n.id);
  const post = (spec: string[]): Rule => ({ table: 'nat', chain: POSTROUTING_CHAIN, spec });
  const rules: Rule[] = [];
  if (n.masquerade) rules.push(...cidrs.map((s) => post(['-s', s, '!', '-o', br, ...c, '-j', 'MASQUERADE'])));
  // Host -> 127.0.0.1:port -> container (route_localnet): the source must not stay 127.0.0.1.
  if (family === 4) rules.push(post(['-o', br, '-m', 'addrtype', '--src-type', 'LOCAL', ...c, '-j', 'MASQUERADE']));
  // Container -> host address:port -> container on the same bridge (hairpin).
  rules.push(...cidrs.map((s) => post(['-s', s, '-o', br, '-m', 'conntrack', '--ctstate', 'DNAT', ...c, '-j', 'MASQUERADE'])));
  return rules;
}

export interface PortMapping {
  bridge: string;
  proto: 'tcp' | 'udp';
  /** Host address to publish on; absent, 0.0.0.0 or :: means every local address. */
  hostIp?: string;
  hostPort: number;
  containerIp: string;
  containerPort: number;
  family: Family;
  /** Network id, for the rule comment. */
  networkId?: string;
}

/** The DNAT rule of one published port (one RuleSet, so it is removed symmetrically).
 * Forwarding is accepted by the network's `--ctstate DNAT` rule. Needs baseRules. */
export function portRules(m: PortMapping): RuleSet {
  checkIfname(m.bridge, 'bridge');
  if (m.proto !== 'tcp' && m.proto !== 'udp') throw new ConfigError(`unsupported protocol ${String(m.proto)}`, 'proto');
  checkPort(m.hostPort, 'hostPort');
  checkPort(m.containerPort, 'containerPort');
  const cip = canonicalIp(m.containerIp, m.family, 'containerIp');
  const dst: string[] = [];
  if (m.hostIp !== undefined && m.hostIp !== '' && m.hostIp !== '0.0.0.0' && m.hostIp !== '::') {
    dst.push('-d', `${canonicalIp(m.hostIp, m.family, 'hostIp')}/${m.family === 4 ? 32 : 128}`);
  }
  const c = m.networkId === undefined ? [] : (checkId(m.networkId), comment(m.networkId));
  const to = m.family === 4 ? `${cip}:${m.containerPort}` : `[${cip}]:${m.containerPort}`;
  const spec = [...dst, '-p', m.proto, '-m', m.proto, '--dport', String(m.hostPort), ...c, '-j', 'DNAT', '--to-destination', to];
  return { family: m.family, chains: [], rules: [{ table: 'nat', chain: DNAT_CHAIN, spec }] };
}

function checkPort(port: number, field: string): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ConfigError(`${field} ${port} is not a port (1-65535)`, field);
}

function checkId(id: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,200}$/.test(id)) throw new ConfigError(`network id ${JSON.stringify(id)} is not usable in a rule`, 'id');
}

/** Whether rules can name interface `name` (`-i`/`-o`): letters, digits, '_', '.', '-', at most 15. */
export function ruleIfnameValid(name: string): boolean {
  return /^[A-Za-z0-9_.-]{1,15}$/.test(name);
}

function checkIfname(name: string, field: string): void {
  if (!ruleIfnameValid(name)) throw new ConfigError(`interface name ${JSON.stringify(name)} is not valid`, field);
}

/** '10.1.2.3' -> '10.1.2.3', 'fd00:0::1' -> 'fd00::1'; ConfigError when not of `family`. */
function canonicalIp(ip: string, family: Family, field: string): string {
  if (family === 4 && Address4.isValid(ip) && !ip.includes('/')) return new Address4(ip).correctForm();
  if (family === 6 && Address6.isValid(ip) && !ip.includes('/')) return new Address6(ip).correctForm();
  throw new ConfigError(`${ip} is not an IPv${family} address`, field);
}

/** '10.1.2.3/24' -> '10.1.2.0/24' (network address, as iptables-save prints it). */
function canonicalCidr(cidr: string): { family: Family; cidr: string } {
  if (cidr.includes('/') && Address4.isValid(cidr)) {
    const a = new Address4(cidr);
    return { family: 4, cidr: `${a.startAddress().correctForm()}/${a.subnetMask}` };
  }
  if (cidr.includes('/') && Address6.isValid(cidr)) {
    const a = new Address6(cidr);
    return { family: 6, cidr: `${a.startAddress().correctForm()}/${a.subnetMask}` };
  }
  throw new ConfigError(`${cidr} is not a subnet (CIDR)`, 'subnets');
}
