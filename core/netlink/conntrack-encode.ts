/**
 * Pure encoders and parsers for ctnetlink (NETLINK_NETFILTER, subsystem NFNL_SUBSYS_CTNETLINK):
 * the dump request that selects conntrack entries by their original tuple, the parse of each
 * dumped entry, and the delete request of one entry by its original tuple. No I/O, no netns.
 * Numbers from the kernel's uapi (linux/netfilter/nfnetlink_conntrack.h) and, for the filter
 * flags, the values the kernel checks CTA_FILTER_ORIG_FLAGS against (CTA_FILTER_F_* in
 * net/netfilter/nf_internals.h, the same in libnetfilter_conntrack).
 */
import { ConfigError } from '../errors.js';
import { AF_INET, AF_INET6, be16, eachAttr, nlattr, parseIp, u32, u8 } from './encode.js';
import { nfgenmsg } from './nfnetlink.js';

export const NFNL_SUBSYS_CTNETLINK = 1;
const IPCTNL_MSG_CT_NEW = 0;
const IPCTNL_MSG_CT_GET = 1;
const IPCTNL_MSG_CT_DELETE = 2;
/** nlmsg types: the subsystem in the high byte, the message in the low one. */
export const CT_GET = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET;
export const CT_DELETE = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE;
/** What each entry of a dump is (the kernel answers a GET with NEW messages). */
export const CT_ENTRY = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW;

// enum ctattr_type (top level)
const CTA_TUPLE_ORIG = 1;
const CTA_TUPLE_REPLY = 2;
const CTA_ID = 12;
/** Kernel 5.9+ (dump filter); older kernels ignore it and dump the whole family. */
const CTA_FILTER = 25;
// enum ctattr_tuple, ctattr_ip, ctattr_l4proto, ctattr_filter
const CTA_TUPLE_IP = 1;
const CTA_TUPLE_PROTO = 2;
const CTA_IP_V4_SRC = 1;
const CTA_IP_V4_DST = 2;
const CTA_IP_V6_SRC = 3;
const CTA_IP_V6_DST = 4;
const CTA_PROTO_NUM = 1;
const CTA_PROTO_SRC_PORT = 2;
const CTA_PROTO_DST_PORT = 3;
const CTA_FILTER_ORIG_FLAGS = 1;
// CTA_FILTER_ORIG_FLAGS bits: which fields of the original tuple the kernel compares.
const FILTER_IP_DST = 1 << 1;
const FILTER_PROTO_NUM = 1 << 3;
const FILTER_PROTO_DST_PORT = 1 << 5;

export const IPPROTO = { tcp: 6, udp: 17 } as const;

/** Which entries to delete: protocol and original destination port, and address when given. */
export interface ConntrackMatch {
  family: 4 | 6;
  proto: keyof typeof IPPROTO;
  /** Original destination port (the published host port). */
  port: number;
  /** Original destination address; any when absent. */
  dst?: string;
  /**
   * Only entries whose original destination was the host itself (a local address of its netns,
   * as `fib daddr type local`): a wildcard host port, whose DNAT sees nothing else, so flows
   * the host forwards or sends to that port number elsewhere (containers' own) are kept.
   */
  local?: boolean;
  /**
   * The target a port now DNATs to (after a publish): an entry whose reply comes from it was
   * made by the current mapping and is kept (deleting it would send the container's reply
   * out without the reverse NAT); only entries from before the mapping go.
   */
  keepTo?: { ip: string; port: number };
}

/** One dumped entry: its original tuple, as parsed and as the kernel sent it. */
export interface ConntrackEntry {
  family: 4 | 6;
  proto: number;
  src?: Buffer;
  dst?: Buffer;
  sport?: number;
  dport?: number;
  /** CTA_ID (network order as sent), so a delete hits this entry and not a newer one. */
  id?: Buffer;
  /** The reply tuple's source (who answers: after DNAT, the container) and its port. */
  replySrc?: Buffer;
  replySport?: number;
  /** The CTA_TUPLE_ORIG payload, sent back as is to delete the entry. */
  tuple: Buffer;
}

const afOf = (family: 4 | 6): number => (family === 4 ? AF_INET : AF_INET6);

/**
 * Pure: the payload of a dump (CT_GET with NLM_F_DUMP) of one family's entries, asking the
 * kernel to keep only those the matches could select: by protocol when they share one, and by
 * port (and IPv4 address) when they share one. The caller still checks each entry (entryMatches).
 */
export function dumpRequest(family: 4 | 6, matches: readonly ConntrackMatch[]): Buffer {
  const head = nfgenmsg(afOf(family), 0);
  const same = <T>(values: T[]): T | undefined => (values.length > 0 && values.every((v) => v === values[0]) ? values[0] : undefined);
  const proto = same(matches.map((m) => m.proto));
  if (proto === undefined) return head;
  const port = same(matches.map((m) => m.port));
  // IPv4 only: the kernel's IPv6 address filter is inverted (ctnetlink_filter_match_tuple
  // treats equal addresses as no match), so an IPv6 dump filters by port and this side by address.
  const dst = port === undefined || family === 6 ? undefined : same(matches.map((m) => m.dst && parseIp(m.dst, 'dst').text));
  const l4 = [nlattr(CTA_PROTO_NUM, u8(IPPROTO[proto]))];
  if (port !== undefined) l4.push(nlattr(CTA_PROTO_DST_PORT, be16(port)));
  const tuple = [nlattr(CTA_TUPLE_PROTO, l4, true)];
  if (dst !== undefined) tuple.push(nlattr(CTA_TUPLE_IP, nlattr(family === 4 ? CTA_IP_V4_DST : CTA_IP_V6_DST, parseIp(dst).bytes), true));
  const flags = FILTER_PROTO_NUM | (port !== undefined ? FILTER_PROTO_DST_PORT : 0) | (dst !== undefined ? FILTER_IP_DST : 0);
  return Buffer.concat([head, nlattr(CTA_TUPLE_ORIG, tuple, true), nlattr(CTA_FILTER, nlattr(CTA_FILTER_ORIG_FLAGS, u32(flags)), true)]);
}

/** Pure: the payload of a CT_DELETE of one dumped entry (its original tuple and id). */
export function deleteRequest(e: ConntrackEntry): Buffer {
  const parts = [nfgenmsg(afOf(e.family), 0), nlattr(CTA_TUPLE_ORIG, e.tuple, true)];
  if (e.id) parts.push(nlattr(CTA_ID, e.id));
  return Buffer.concat(parts);
}

/** Pure: an entry from the payload of a dumped message (nfgenmsg, then attributes); undefined without an original tuple. */
export function parseEntry(data: Buffer): ConntrackEntry | undefined {
  const af = data.length >= 4 ? data.readUInt8(0) : 0;
  if (af !== AF_INET && af !== AF_INET6) return undefined;
  let entry: ConntrackEntry | undefined;
  let id: Buffer | undefined;
  let reply: ConntrackEntry | undefined;
  eachAttr(data.subarray(4), (type, payload) => {
    if (type === CTA_TUPLE_ORIG) entry = parseTuple(af === AF_INET ? 4 : 6, payload);
    else if (type === CTA_TUPLE_REPLY) reply = parseTuple(af === AF_INET ? 4 : 6, payload);
    else if (type === CTA_ID) id = payload;
  });
  if (entry && id) entry.id = id;
  if (entry && reply?.src) entry.replySrc = reply.src;
  if (entry && reply?.sport !== undefined) entry.replySport = reply.sport;
  return entry;
}

function parseTuple(family: 4 | 6, tuple: Buffer): ConntrackEntry {
  const e: ConntrackEntry = { family, proto: 0, tuple };
  eachAttr(tuple, (type, payload) => {
    if (type === CTA_TUPLE_IP) {
      eachAttr(payload, (t, v) => {
        if (t === CTA_IP_V4_DST || t === CTA_IP_V6_DST) e.dst = v;
        else if (t === CTA_IP_V4_SRC || t === CTA_IP_V6_SRC) e.src = v;
      });
    } else if (type === CTA_TUPLE_PROTO) {
      eachAttr(payload, (t, v) => {
        if (t === CTA_PROTO_NUM) e.proto = v.readUInt8(0);
        else if (t === CTA_PROTO_SRC_PORT && v.length >= 2) e.sport = v.readUInt16BE(0);
        else if (t === CTA_PROTO_DST_PORT && v.length >= 2) e.dport = v.readUInt16BE(0);
      });
    }
  });
  return e;
}

/** Whether an entry is selected; `isLocal` says whether an address is the host's own (a `local` match selects none without it). */
export type EntryTest = (e: ConntrackEntry, isLocal?: (ip: Buffer) => boolean) => boolean;

/**
 * Pure: the test of m against an entry's original tuple (and, with keepTo, its reply), its
 * addresses parsed once: a dump is tested entry by entry, and a dump filtered by protocol
 * only (several ports) may hold every UDP flow of the host.
 */
export function matcher(m: ConntrackMatch): EntryTest {
  const proto = IPPROTO[m.proto];
  const dst = m.dst === undefined ? undefined : parseIp(m.dst, 'dst').bytes;
  const keepIp = m.keepTo === undefined ? undefined : parseIp(m.keepTo.ip, 'keepTo.ip').bytes;
  return (e, isLocal) => {
    if (e.family !== m.family || e.proto !== proto || e.dport !== m.port) return false;
    if (m.local === true && (e.dst === undefined || isLocal === undefined || !isLocal(e.dst))) return false;
    if (keepIp && e.replySport === m.keepTo?.port && e.replySrc?.equals(keepIp)) return false;
    return dst === undefined || (e.dst !== undefined && e.dst.equals(dst));
  };
}

/** Pure: matcher(m) applied once (tests, single checks). */
export function entryMatches(e: ConntrackEntry, m: ConntrackMatch, isLocal?: (ip: Buffer) => boolean): boolean {
  return matcher(m)(e, isLocal);
}

/** Throws ConfigError for a match that could select nothing sensible (checked before the kernel is asked). */
/** A key naming everything a match selects by (batches merge only equal matches). */
export function matchKey(m: ConntrackMatch): string {
  return [m.family, m.proto, m.port, m.dst ?? '', m.local === true ? 'local' : '', m.keepTo ? `${m.keepTo.ip}#${m.keepTo.port}` : ''].join('/');
}

export function checkMatch(m: ConntrackMatch, field = 'match'): void {
  if (!Number.isInteger(m.port) || m.port < 1 || m.port > 65535) throw new ConfigError(`invalid port ${m.port}`, `${field}.port`);
  if (!(m.proto in IPPROTO)) throw new ConfigError(`invalid protocol "${String(m.proto)}"`, `${field}.proto`);
  if (m.dst !== undefined && parseIp(m.dst, `${field}.dst`).family !== m.family) {
    throw new ConfigError(`${m.dst} is not an IPv${m.family} address`, `${field}.dst`);
  }
  if (m.keepTo !== undefined && (parseIp(m.keepTo.ip, `${field}.keepTo.ip`).family !== m.family || !Number.isInteger(m.keepTo.port) || m.keepTo.port < 1 || m.keepTo.port > 65535)) {
    throw new ConfigError(`keepTo ${m.keepTo.ip}:${m.keepTo.port} is not an IPv${m.family} address and port`, `${field}.keepTo`);
  }
}
