/**
 * Published ports as elements of nftables maps, changed over NETLINK_NETFILTER directly:
 * no exec and no table dump per change, so adding or removing a mapping costs one netlink
 * round trip whatever the number of mappings present. Layout (created by ensure()):
 *
 *   table inet tsnet {
 *     map dnat4   { type inet_proto . inet_service : ipv4_addr . inet_service }   any host IPv4
 *     map dnat4ip { type inet_proto . ipv4_addr . inet_service : ipv4_addr . inet_service }
 *     map dnat6 / dnat6ip   likewise with ipv6_addr
 *     chain prerouting { type nat hook prerouting priority dstnat; ip daddr 127.0.0.0/8 return;
 *                        fib daddr type local jump ports }
 *     chain output     { type nat hook output priority -100; fib daddr type local jump ports }
 *     chain ports      { dnat from the address-specific map first, then the any-address map }
 *     chain loopback6  { type filter hook output priority -150; ::1 to a key of dnat6: reject }
 *   }
 *
 * A packet whose key is in no map is left alone. Everything acts in the process's own
 * (host) netns; what add() puts in the maps stays until remove() or teardown().
 */
import { ExecError, KernelError, ConfigError } from '../errors.js';
import { run } from '../exec/index.js';
import {
  elementMapping, elementMessage, isAnyAddress, mappingElement, NFT_TABLE,
  type BatchMessage, type MapElement, type MapName, type NftPortMapping,
} from './nft-ports-encode.js';
import { nftKernelError, nftSocket, type MessageResult } from '../netlink/nfnetlink.js';

const EEXIST = 17;
const ENOENT = 2;
const MAP_NAMES: readonly MapName[] = ['dnat4', 'dnat4ip', 'dnat6', 'dnat6ip'];

export interface PortMapOptions {
  /** nftables table (family inet); default 'tsnet'. */
  table?: string;
  /** nft program (default 'nft'). */
  nft?: string;
  timeoutMs?: number;
}

/** Pure: the `nft -f` text of ensure(): declares table, maps and chains (no-ops when they
 * exist), flushes the chains and re-adds their rules, in one transaction. Maps are never
 * flushed, so their elements survive. */
export function renderPortMapLayout(table = NFT_TABLE): string {
  const t = `inet ${table}`;
  const maps: [MapName, string][] = [
    ['dnat4', 'inet_proto . inet_service : ipv4_addr . inet_service'],
    ['dnat4ip', 'inet_proto . ipv4_addr . inet_service : ipv4_addr . inet_service'],
    ['dnat6', 'inet_proto . inet_service : ipv6_addr . inet_service'],
    ['dnat6ip', 'inet_proto . ipv6_addr . inet_service : ipv6_addr . inet_service'],
  ];
  const chains: { name: string; base?: string; rules: string[] }[] = [
    // Not 127.0.0.0/8 from other hosts (services.ts REMOTE_TO_LOCAL says why).
    { name: 'prerouting', base: 'type nat hook prerouting priority dstnat; policy accept;', rules: ['ip daddr 127.0.0.0/8 return', 'fib daddr type local jump ports'] },
    { name: 'output', base: 'type nat hook output priority -100; policy accept;', rules: ['fib daddr type local jump ports'] },
    // A host client to [::1]:port of a port published on [::]: no DNAT can take it (the kernel
    // routes no ::1 source off the host) and the port's hold socket drops its SYN, so it hung
    // for the TCP timeout. Refused here, before NAT, as an unpublished port would be.
    {
      name: 'loopback6',
      base: 'type filter hook output priority -150; policy accept;',
      rules: [
        'ip6 daddr ::1 meta l4proto tcp meta l4proto . th dport @dnat6 reject with tcp reset',
        'ip6 daddr ::1 meta l4proto udp meta l4proto . th dport @dnat6 reject',
      ],
    },
    {
      name: 'ports',
      rules: [
        'meta nfproto ipv4 dnat ip to meta l4proto . ip daddr . th dport map @dnat4ip',
        'meta nfproto ipv4 dnat ip to meta l4proto . th dport map @dnat4',
        'meta nfproto ipv6 dnat ip6 to meta l4proto . ip6 daddr . th dport map @dnat6ip',
        'meta nfproto ipv6 dnat ip6 to meta l4proto . th dport map @dnat6',
      ],
    },
  ];
  return [
    `add table ${t}`,
    ...maps.map(([name, type]) => `add map ${t} ${name} { type ${type}; }`),
    ...chains.map((c) => `add chain ${t} ${c.name}${c.base ? ` { ${c.base} }` : ''}`),
    ...chains.map((c) => `flush chain ${t} ${c.name}`),
    ...chains.flatMap((c) => c.rules.map((r) => `add rule ${t} ${c.name} ${r}`)),
    '',
  ].join('\n');
}

/** Pure: "tcp 127.0.0.1:8080 -> 10.0.0.2:80" (for error ops and logs). */
export function describeMapping(m: NftPortMapping): string {
  const hp = (ip: string | undefined, port: number) => (ip?.includes(':') ? `[${ip}]:${port}` : `${ip ?? '*'}:${port}`);
  return `${m.proto} ${hp(isAnyAddress(m.hostIp) ? undefined : m.hostIp, m.hostPort)} -> ${hp(m.containerIp, m.containerPort)}`;
}

interface Item {
  mapping: NftPortMapping;
  el: MapElement;
}

export class PortMap {
  readonly table: string;
  private readonly nft: string;
  private readonly timeoutMs: number;

  constructor(options: PortMapOptions = {}) {
    this.table = options.table ?? NFT_TABLE;
    if (!/^[A-Za-z][A-Za-z0-9_]{0,31}$/.test(this.table)) throw new ConfigError(`nftables table name ${JSON.stringify(this.table)} is not valid`, 'table');
    this.nft = options.nft ?? 'nft';
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  /** Creates the table, maps and chains or restores the chains' rules (one `nft -f`),
   * idempotent, in the process's netns; existing map elements are kept. teardown() removes it. */
  async ensure(): Promise<void> {
    await run([this.nft, '-f', '-'], { input: renderPortMapLayout(this.table), timeoutMs: this.timeoutMs });
  }

  /**
   * Adds mappings in the process's netns, in one netlink batch (several above a few
   * thousand, each atomic). A mapping already present with the same target is accepted.
   * Throws ConfigError (bad field) before touching the kernel, KernelError EEXIST when the
   * host side is mapped to another target (nothing of the batch is applied), ENOENT when
   * ensure() has not run. The caller removes what it added (remove or teardown).
   */
  async add(mappings: readonly NftPortMapping[]): Promise<void> {
    const items = this.items(mappings);
    for (const chunk of this.chunks(items, 1)) {
      const results = await nftSocket().send(chunk.map((i) => elementMessage('add', i.el, this.table)), `add ${chunk.length} port mapping(s)`);
      const failed = results.findIndex((r) => r.errno !== 0);
      const item = chunk[failed];
      if (item) throw this.failure('add', item, results[failed]);
    }
  }

  /**
   * Removes mappings in the process's netns. A mapping that is absent (or whose host side
   * now maps to another target, which is left alone) counts as removed, as does everything
   * when the table is missing. Each element is sent as "add it (same data), delete it" in
   * one batch: valid whether it is there or not, and it fails (EEXIST) only when the key
   * holds other data; such pairs are dropped and the rest re-sent (a failed batch is
   * aborted as a whole), so a call takes one round trip unless something was not ours.
   */
  async remove(mappings: readonly NftPortMapping[]): Promise<void> {
    for (const chunk of this.chunks(this.items(mappings), 2)) await this.removeChunk(chunk);
  }

  private async removeChunk(items: Item[]): Promise<void> {
    let pending = items;
    for (let round = 0; pending.length > 0 && round <= items.length; round++) {
      const msgs = pending.flatMap((i) => [elementMessage('add', i.el, this.table), elementMessage('delete', i.el, this.table)]);
      const results = await nftSocket().send(msgs, `remove ${pending.length} port mapping(s)`);
      if (results.every((r) => r.errno === 0)) return;
      const next: Item[] = [];
      pending.forEach((item, i) => {
        const added = results[2 * i] ?? { errno: 0 };
        const deleted = results[2 * i + 1] ?? { errno: 0 };
        if (added.errno === EEXIST || added.errno === ENOENT) return; // not there, or not ours
        if (added.errno !== 0) throw this.failure('remove', item, added);
        if (deleted.errno !== 0) throw this.failure('remove', item, deleted);
        next.push(item); // fine, but its batch was aborted by another element: send again
      });
      pending = next;
    }
  }

  /** The mappings in the maps now (via `nft -j`), in the process's netns; [] without a table. */
  async list(): Promise<NftPortMapping[]> {
    const r = await run([this.nft, '-j', 'list', 'table', 'inet', this.table], { okCodes: [1], timeoutMs: this.timeoutMs });
    if (r.exitCode !== 0) {
      if (/No such file or directory/.test(r.stderr)) return [];
      throw new ExecError([this.nft, '-j', 'list', 'table', 'inet', this.table], r.exitCode, r.stderr);
    }
    return parsePortMapList(r.stdout);
  }

  /** Deletes the whole table (maps, chains, every mapping) in the process's netns; no-op
   * when it is absent. */
  async teardown(): Promise<void> {
    const argv = [this.nft, 'delete', 'table', 'inet', this.table];
    const r = await run(argv, { okCodes: [1], timeoutMs: this.timeoutMs });
    if (r.exitCode !== 0 && !/No such file or directory/.test(r.stderr)) throw new ExecError(argv, r.exitCode, r.stderr);
  }

  private items(mappings: readonly NftPortMapping[]): Item[] {
    return mappings.map((mapping, i) => {
      try {
        return { mapping, el: mappingElement(mapping) };
      } catch (err) {
        throw err instanceof ConfigError ? err.addContext(`port mapping ${i}`) : err;
      }
    });
  }

  /** Splits items so each batch fits the socket: `perItem` messages per item. */
  private chunks(items: Item[], perItem: number): Item[][] {
    if (items.length === 0) return [];
    const sock = nftSocket();
    const maxItems = Math.max(1, Math.floor(sock.maxBatchMessages() / perItem));
    const maxBytes = sock.maxBatchBytes() - 64;
    const out: Item[][] = [[]];
    let bytes = 0;
    for (const item of items) {
      const size = perItem * (elementMessage('add', item.el, this.table).payload.length + 16);
      const last = out[out.length - 1] ?? [];
      if (last.length > 0 && (last.length >= maxItems || bytes + size > maxBytes)) {
        out.push([item]);
        bytes = size;
      } else {
        last.push(item);
        bytes += size;
      }
    }
    return out;
  }

  private failure(verb: 'add' | 'remove', item: Item, r: MessageResult | undefined): KernelError {
    const errno = r?.errno ?? 5;
    const hint = errno === EEXIST ? 'the host port is mapped to another target'
      : errno === ENOENT ? `table inet ${this.table} or map ${item.el.map} is missing (ensure() first)` : r?.text;
    return nftKernelError(`${verb} port mapping ${describeMapping(item.mapping)}`, errno, hint);
  }
}

type Json = Record<string, unknown>;

/** Pure: the mappings in `nft -j list table inet tsnet` output. */
export function parsePortMapList(json: string): NftPortMapping[] {
  const doc = JSON.parse(json) as { nftables?: Json[] };
  const out: NftPortMapping[] = [];
  for (const entry of doc.nftables ?? []) {
    const map = entry.map as { name?: string; elem?: unknown[] } | undefined;
    if (!map || !MAP_NAMES.includes(map.name as MapName)) continue;
    for (const e of map.elem ?? []) out.push(parseElement(map.name as MapName, e));
  }
  return out;
}

function parseElement(map: MapName, e: unknown): NftPortMapping {
  const [k, d] = Array.isArray(e) ? e : [];
  const key = concatOf(k);
  const data = concatOf(d);
  const proto = key[0] === 'tcp' || key[0] === 6 ? 'tcp' : key[0] === 'udp' || key[0] === 17 ? 'udp' : undefined;
  if (!proto) throw new ConfigError(`unexpected element in map ${map}: ${JSON.stringify(e)}`, 'proto');
  const withIp = map.endsWith('ip');
  const m: NftPortMapping = {
    proto,
    hostPort: Number(key[withIp ? 2 : 1]),
    containerIp: String(data[0]),
    containerPort: Number(data[1]),
  };
  if (withIp) m.hostIp = String(key[1]);
  // Round trip through the encoder: checks ports and addresses, canonical address text.
  const el = mappingElement(m);
  return elementMapping(map, el.key, el.data);
}

function concatOf(v: unknown): unknown[] {
  const val = (v as { elem?: { val?: unknown } } | undefined)?.elem?.val ?? v;
  const c = (val as { concat?: unknown[] } | undefined)?.concat;
  return Array.isArray(c) ? c : [];
}
