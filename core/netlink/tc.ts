/**
 * Traffic control over rtnetlink, the pieces tsnet-bandwidth needs: a TBF root qdisc, an
 * ingress qdisc, a u32 match-all filter redirecting (mirred) to another device; for shaping
 * by subnet an HTB root qdisc with two classes, fifo leaves and u32 filters classifying on an
 * IPv4/IPv6 prefix; and the read-back of those. Messages are built as data (struct tcmsg +
 * attributes, layouts from linux/pkt_sched.h, pkt_cls.h, tc_act/tc_mirred.h); the encoders
 * are pure.
 */
import { FlagsGet, FlagsNew, rt } from 'netlink';
import { ConfigError } from '../errors.js';
import { cstr, eachAttr, nlattr, u32 } from './encode.js';
import { request, requestOr, type NlHandle } from './socket.js';

export const TC_H_ROOT = 0xffff_ffff;
export const TC_H_INGRESS = 0xffff_fff1;
/** The ingress qdisc's handle (ffff:) and the parent of its filters. */
export const INGRESS_HANDLE = 0xffff_0000;
/** The root qdisc's handle (1:), TBF or HTB; the HTB classes are 1:<minor>. */
export const TBF_HANDLE = 0x0001_0000;
export const HTB_HANDLE = TBF_HANDLE;
/** The HTB class of traffic not limited (1:1) and of limited traffic (1:30, minor 0x30), as the reference bandwidth plugin numbers them. */
export const HTB_UNSHAPED_CLASS = 0x0001_0001;
export const HTB_SHAPED_CLASS = 0x0001_0030;
/** The fifo leaves under 1:1 and 1:30 (10: and 30:). */
export const UNSHAPED_LEAF_HANDLE = 0x0010_0000;
export const SHAPED_LEAF_HANDLE = 0x0030_0000;
export const ETH_P_ALL = 0x0003;
export const ETH_P_IP = 0x0800;
export const ETH_P_IPV6 = 0x86dd;
const TC_LINKLAYER_ETHERNET = 1;
const TC_ACT_STOLEN = 4;
const TCA_EGRESS_REDIR = 1;
const TC_U32_TERMINAL = 1;
/** One psched tick is 64 ns (PSCHED_SHIFT 6). */
const NS_PER_TICK = 64;
const U32_MAX = 0xffff_ffff;

const TCA_KIND = 1;
const TCA_OPTIONS = 2;
const TBF = { PARMS: 1, RATE64: 4, BURST: 6 } as const;
const HTB = { PARMS: 1, INIT: 2, RATE64: 6, CEIL64: 7 } as const;
/** TC_HTB_PROTOVER, and the rate-to-quantum divisor tc and the reference use. */
const HTB_VERSION = 3;
const HTB_R2Q = 10;
const U32 = { CLASSID: 1, SEL: 5, ACT: 7 } as const;
const ACT = { KIND: 1, OPTIONS: 2 } as const;
const TCA_MIRRED_PARMS = 2;
const ENOENT = 2;
const EINVAL = 22;
const ENODEV = 19;

/** A TBF in the kernel's units: bytes per second, bytes. */
export interface TbfSpec { rateBytes: number; burstBytes: number; limitBytes: number }

/** A qdisc as read back: tbf carries its rate, burst (derived from the kernel's buffer time) and limit. */
export interface QdiscInfo {
  kind: string;
  handle: number;
  parent: number;
  tbf?: TbfSpec;
  /** HTB: the default class's minor number. */
  htbDefault?: number;
  /** pfifo (packets) or bfifo (bytes). */
  fifoLimit?: number;
}

/** An HTB class in the kernel's units: bytes per second, bytes (bursts are kept as time at the rate). */
export interface HtbClassSpec { rateBytes: number; ceilBytes: number; burstBytes: number; cburstBytes: number; quantum: number }

/** A class as read back. */
export interface ClassInfo { kind: string; handle: number; parent: number; htb?: HtbClassSpec }

/** One u32 key: the 32-bit word at `off` (from the network header), masked, equals val (host numbers of the big-endian words). */
export interface U32Key { mask: number; val: number; off: number }

/** A u32 filter that sends what its keys match to an HTB class. */
export interface ClassifyFilter { prio: number; ethProto: number; keys: U32Key[]; classid: number }

/**
 * A filter as read back: prio and protocol (tcm_info); for a u32 rule (not its hash table)
 * the keys and flowid; the ifindexes its mirred egress-redirect actions send to.
 */
export interface FilterInfo { kind: string; handle: number; prio: number; ethProto: number; keys?: U32Key[]; classid?: number; redirectTo: number[] }

/** struct tcmsg: family, pad, ifindex, handle, parent, info (20 bytes). */
export function tcmsg(ifindex: number, handle: number, parent: number, info = 0): Buffer {
  return rt.formatTc({ ifindex, handle, parent, info });
}

const swap16 = (v: number): number => ((v & 0xff) << 8) | ((v >> 8) & 0xff);

/** tcm_info of a filter: prio in the upper 16 bits, the protocol (network byte order) in the lower. */
export function filterInfo(prio: number, ethProto: number): number {
  return ((prio << 16) | swap16(ethProto)) >>> 0;
}

/** struct tc_ratespec (12 bytes), linklayer ethernet: the kernel computes times without a rate table. */
export function ratespec(rateBytes: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt8(TC_LINKLAYER_ETHERNET, 1);
  b.writeUInt32LE(Math.min(rateBytes, U32_MAX), 8);
  return b;
}

/** Psched ticks to send `bytes` at `rateBytes` per second, clamped to u32. */
export function xmitTicks(bytes: number, rateBytes: number): number {
  return Math.min(U32_MAX, Math.floor((bytes * 1e9) / rateBytes / NS_PER_TICK));
}

const u64 = (v: number): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(v));
  return b;
};

/** TCA_OPTIONS payload of a TBF: PARMS (struct tc_tbf_qopt, 36 bytes), RATE64 beyond u32, BURST. */
export function tbfOptions(t: TbfSpec): Buffer[] {
  if (!(t.rateBytes >= 1 && t.burstBytes >= 1 && t.burstBytes <= U32_MAX && t.limitBytes <= U32_MAX)) {
    throw new ConfigError(`invalid tbf rate ${t.rateBytes} B/s burst ${t.burstBytes} B limit ${t.limitBytes} B`, 'tbf');
  }
  const qopt = Buffer.alloc(36); // rate, peakrate (0: none), limit, buffer, mtu (0 without peakrate)
  ratespec(t.rateBytes).copy(qopt, 0);
  qopt.writeUInt32LE(t.limitBytes, 24);
  qopt.writeUInt32LE(xmitTicks(t.burstBytes, t.rateBytes), 28);
  const out = [nlattr(TBF.PARMS, qopt)];
  if (t.rateBytes > U32_MAX) out.push(nlattr(TBF.RATE64, u64(t.rateBytes)));
  // With the burst in bytes the kernel derives the buffer time itself (tbf_change).
  out.push(nlattr(TBF.BURST, u32(t.burstBytes)));
  return out;
}

/**
 * A whole qdisc, class or filter request body: tcmsg (`info`: a filter's prio and protocol),
 * TCA_KIND and, when given, TCA_OPTIONS: nested attributes (an array) or one raw struct (a
 * Buffer: the fifos' tc_fifo_qopt).
 */
export function tcMessage(ifindex: number, handle: number, parent: number, kind?: string, options?: Buffer[] | Buffer, info = 0): Buffer {
  const parts = [tcmsg(ifindex, handle, parent, info)];
  if (kind) parts.push(nlattr(TCA_KIND, cstr(kind)));
  if (options) parts.push(Array.isArray(options) ? nlattr(TCA_OPTIONS, options, true) : nlattr(TCA_OPTIONS, options));
  return Buffer.concat(parts);
}

/** TCA_OPTIONS of an HTB qdisc: TCA_HTB_INIT, struct tc_htb_glob (version, rate2quantum, defcls, debug, direct_pkts). */
export function htbQdiscOptions(defaultMinor: number): Buffer[] {
  const glob = Buffer.alloc(20);
  glob.writeUInt32LE(HTB_VERSION, 0);
  glob.writeUInt32LE(HTB_R2Q, 4);
  glob.writeUInt32LE(defaultMinor, 8);
  return [nlattr(HTB.INIT, glob)];
}

/** The quantum the kernel derives at r2q 10 (rate / 10 within 1000..200000), given explicitly so it does not warn about it. */
export function htbQuantum(rateBytes: number): number {
  return Math.max(1000, Math.min(200_000, Math.floor(rateBytes / HTB_R2Q)));
}

/**
 * TCA_OPTIONS of an HTB class: TCA_HTB_PARMS (struct tc_htb_opt, 44 bytes: rate, ceil,
 * buffer and cbuffer in ticks, quantum, level, prio), then RATE64 / CEIL64 beyond u32. Link
 * layer ethernet: the kernel needs no rate tables (TCA_HTB_RTAB/CTAB).
 */
export function htbClassOptions(c: HtbClassSpec): Buffer[] {
  const ok = (v: number, min: number) => Number.isSafeInteger(v) && v >= min;
  if (!(ok(c.rateBytes, 1) && ok(c.ceilBytes, c.rateBytes) && ok(c.burstBytes, 1) && ok(c.cburstBytes, 1) && ok(c.quantum, 1) && c.quantum <= U32_MAX)) {
    throw new ConfigError(`invalid htb class rate ${c.rateBytes} B/s ceil ${c.ceilBytes} B/s burst ${c.burstBytes} B cburst ${c.cburstBytes} B quantum ${c.quantum}`, 'htb');
  }
  const opt = Buffer.alloc(44);
  ratespec(c.rateBytes).copy(opt, 0);
  ratespec(c.ceilBytes).copy(opt, 12);
  opt.writeUInt32LE(xmitTicks(c.burstBytes, c.rateBytes), 24);
  opt.writeUInt32LE(xmitTicks(c.cburstBytes, c.ceilBytes), 28);
  opt.writeUInt32LE(c.quantum, 32);
  const out = [nlattr(HTB.PARMS, opt)];
  if (c.rateBytes > U32_MAX) out.push(nlattr(HTB.RATE64, u64(c.rateBytes)));
  if (c.ceilBytes > U32_MAX) out.push(nlattr(HTB.CEIL64, u64(c.ceilBytes)));
  return out;
}

/** TCA_OPTIONS payload of pfifo (packets) or bfifo (bytes): struct tc_fifo_qopt, not nested. */
export function fifoOptions(limit: number): Buffer {
  return u32(limit);
}

/**
 * struct tc_u32_sel (16 bytes: flags, offshift, nkeys, pad, offmask, off, offoff, hoff,
 * hmask) then struct tc_u32_key each (16 bytes: __be32 mask, __be32 val, int off, int
 * offmask); terminal, so a match classifies (or runs the action).
 */
export function u32Sel(keys: U32Key[]): Buffer {
  const b = Buffer.alloc(16 + 16 * keys.length);
  b.writeUInt8(TC_U32_TERMINAL, 0);
  b.writeUInt8(keys.length, 2);
  keys.forEach((k, i) => {
    b.writeUInt32BE(k.mask >>> 0, 16 + 16 * i);
    b.writeUInt32BE((k.val & k.mask) >>> 0, 20 + 16 * i);
    b.writeInt32LE(k.off, 24 + 16 * i);
  });
  return b;
}

const MATCH_ALL: U32Key = { mask: 0, val: 0, off: 0 };

/** The selector with one key mask 0 val 0 at offset 0: matches every packet. */
export function u32MatchAllSel(): Buffer {
  return u32Sel([MATCH_ALL]);
}

/** Offsets of the addresses in the IPv4 header (12, 16) and the IPv6 header (8, 24). */
const ADDR_OFF = { 4: { src: 12, dst: 16 }, 6: { src: 8, dst: 24 } } as const;

/**
 * u32 keys matching the source or destination address of a prefix: one key per 32-bit word
 * the prefix covers (IPv6 /48: two), host bits ignored; a /0 is the match-all key.
 */
export function prefixKeys(p: { family: 4 | 6; bytes: Buffer; prefixLen: number }, field: 'src' | 'dst'): U32Key[] {
  const keys: U32Key[] = [];
  for (let w = 0; w * 32 < p.prefixLen; w++) {
    const bits = Math.min(32, p.prefixLen - w * 32);
    const mask = bits === 32 ? U32_MAX : (U32_MAX - (U32_MAX >>> bits)) >>> 0;
    keys.push({ mask, val: (p.bytes.readUInt32BE(w * 4) & mask) >>> 0, off: ADDR_OFF[p.family][field] + w * 4 });
  }
  return keys.length > 0 ? keys : [MATCH_ALL];
}

/**
 * The filter classifying a prefix's packets into an HTB class: protocol ip at prio 16, ipv6 at
 * prio 15, as the reference (a prio holds one protocol: the kernel refuses a second).
 */
export function prefixFilter(p: { family: 4 | 6; bytes: Buffer; prefixLen: number }, field: 'src' | 'dst', classid: number): ClassifyFilter {
  return p.family === 4
    ? { prio: 16, ethProto: ETH_P_IP, keys: prefixKeys(p, field), classid }
    : { prio: 15, ethProto: ETH_P_IPV6, keys: prefixKeys(p, field), classid };
}

/** The filter request body: u32 on `parent` with TCA_U32_CLASSID (flowid) and the selector. */
export function classifyFilterMessage(ifindex: number, parent: number, f: ClassifyFilter): Buffer {
  const options = [nlattr(U32.CLASSID, u32(f.classid)), nlattr(U32.SEL, u32Sel(f.keys))];
  return tcMessage(ifindex, 0, parent, 'u32', options, filterInfo(f.prio, f.ethProto));
}

/** struct tc_mirred (28 bytes): tc_gen (index, capab, action, refcnt, bindcnt), eaction, ifindex. */
export function mirredParms(ifindex: number): Buffer {
  const b = Buffer.alloc(28);
  b.writeInt32LE(TC_ACT_STOLEN, 8);
  b.writeInt32LE(TCA_EGRESS_REDIR, 20);
  b.writeUInt32LE(ifindex, 24);
  return b;
}

/** TCA_OPTIONS payload of the u32 filter: the match-all selector and action 1, mirred egress redirect. */
export function u32RedirectOptions(toIfindex: number): Buffer[] {
  const action = [nlattr(ACT.KIND, cstr('mirred')), nlattr(ACT.OPTIONS, nlattr(TCA_MIRRED_PARMS, mirredParms(toIfindex)), true)];
  return [nlattr(U32.SEL, u32MatchAllSel()), nlattr(U32.ACT, nlattr(1, action, true), true)];
}

/** The filter request body: on parent ffff:, protocol all, prio 1, u32 redirecting to toIfindex. */
export function redirectFilterMessage(ifindex: number, toIfindex: number): Buffer {
  return tcMessage(ifindex, 0, INGRESS_HANDLE, 'u32', u32RedirectOptions(toIfindex), filterInfo(1, ETH_P_ALL));
}

const cstrOf = (b: Buffer | undefined): string => (b ? b.toString('utf8').replace(/\0+$/, '') : '');

const attrMap = (buf: Buffer): Map<number, Buffer> => {
  const m = new Map<number, Buffer>();
  eachAttr(buf, (t, d) => m.set(t, d));
  return m;
};

/** Pure: a TBF's TCA_OPTIONS (as dumped) in bytes; the burst is the buffer time at the rate (may be off by a byte). */
export function parseTbfOptions(opts: Buffer): TbfSpec | undefined {
  const a = attrMap(opts);
  const parms = a.get(TBF.PARMS);
  if (!parms || parms.length < 36) return undefined;
  const r64 = a.get(TBF.RATE64);
  const rateBytes = r64 && r64.length >= 8 ? Number(r64.readBigUInt64LE(0)) : parms.readUInt32LE(8);
  const buffer = parms.readUInt32LE(28);
  return { rateBytes, burstBytes: Math.round((rateBytes * buffer * NS_PER_TICK) / 1e9), limitBytes: parms.readUInt32LE(24) };
}

/** Pure: an HTB qdisc's default class minor from its TCA_OPTIONS (TCA_HTB_INIT). */
export function parseHtbDefault(opts: Buffer): number | undefined {
  const init = attrMap(opts).get(HTB.INIT);
  return init && init.length >= 12 ? init.readUInt32LE(8) : undefined;
}

/** Pure: an HTB class's TCA_OPTIONS (as dumped) in bytes; bursts from the buffer times at the rates. */
export function parseHtbClassOptions(opts: Buffer): HtbClassSpec | undefined {
  const a = attrMap(opts);
  const p = a.get(HTB.PARMS);
  if (!p || p.length < 44) return undefined;
  const r64 = a.get(HTB.RATE64);
  const c64 = a.get(HTB.CEIL64);
  const rateBytes = r64 && r64.length >= 8 ? Number(r64.readBigUInt64LE(0)) : p.readUInt32LE(8);
  const ceilBytes = c64 && c64.length >= 8 ? Number(c64.readBigUInt64LE(0)) : p.readUInt32LE(20);
  const bytesOf = (ticks: number, rate: number) => Math.round((rate * ticks * NS_PER_TICK) / 1e9);
  return { rateBytes, ceilBytes, burstBytes: bytesOf(p.readUInt32LE(24), rateBytes), cburstBytes: bytesOf(p.readUInt32LE(28), ceilBytes), quantum: p.readUInt32LE(32) };
}

/** Pure: a fifo's limit from its TCA_OPTIONS (struct tc_fifo_qopt). */
export function parseFifoLimit(opts: Buffer): number | undefined {
  return opts.length >= 4 ? opts.readUInt32LE(0) : undefined;
}

/** Pure: the keys of a u32 selector (TCA_U32_SEL as dumped); undefined when it is short. */
export function parseU32Sel(sel: Buffer): U32Key[] | undefined {
  if (sel.length < 16) return undefined;
  const n = sel.readUInt8(2);
  if (sel.length < 16 + 16 * n) return undefined;
  return Array.from({ length: n }, (_, i) => ({ mask: sel.readUInt32BE(16 + 16 * i), val: sel.readUInt32BE(20 + 16 * i), off: sel.readInt32LE(24 + 16 * i) }));
}

/** Pure: the selector keys and flowid of a u32 rule's TCA_OPTIONS (a hash table's have neither). */
export function parseU32Classify(opts: Buffer): { keys?: U32Key[]; classid?: number } {
  const a = attrMap(opts);
  const sel = a.get(U32.SEL);
  const cls = a.get(U32.CLASSID);
  const out: { keys?: U32Key[]; classid?: number } = {};
  const keys = sel ? parseU32Sel(sel) : undefined;
  if (keys) out.keys = keys;
  if (cls && cls.length >= 4) out.classid = cls.readUInt32LE(0);
  return out;
}

/** Pure: the egress-redirect targets of the mirred actions in a u32 filter's TCA_OPTIONS. */
export function parseU32Redirects(opts: Buffer): number[] {
  const out: number[] = [];
  const acts = attrMap(opts).get(U32.ACT);
  if (!acts) return out;
  eachAttr(acts, (_prio, act) => {
    const a = attrMap(act);
    if (cstrOf(a.get(ACT.KIND)) !== 'mirred') return;
    const parms = attrMap(a.get(ACT.OPTIONS) ?? Buffer.alloc(0)).get(TCA_MIRRED_PARMS);
    if (parms && parms.length >= 28 && parms.readInt32LE(20) === TCA_EGRESS_REDIR) out.push(parms.readUInt32LE(24));
  });
  return out;
}

const EXCL = FlagsNew.CREATE | FlagsNew.EXCL;

/** Adds a TBF as root qdisc (handle 1:) of ifindex; KernelError EEXIST when one is there. */
export async function addTbfQdisc(h: NlHandle, ifindex: number, t: TbfSpec): Promise<void> {
  const op = `add tbf qdisc on ifindex ${ifindex}`;
  await request(h, op, rt.MessageType.NEWQDISC, [tcMessage(ifindex, TBF_HANDLE, TC_H_ROOT, 'tbf', tbfOptions(t))], EXCL);
}

/** Adds the ingress qdisc (ffff:) of ifindex; KernelError EEXIST when one is there. */
export async function addIngressQdisc(h: NlHandle, ifindex: number): Promise<void> {
  const op = `add ingress qdisc on ifindex ${ifindex}`;
  await request(h, op, rt.MessageType.NEWQDISC, [tcMessage(ifindex, INGRESS_HANDLE, TC_H_INGRESS, 'ingress')], EXCL);
}

/** Adds, on the ingress qdisc of ifindex, a u32 match-all filter redirecting every packet to toIfindex's egress. */
export async function addRedirectFilter(h: NlHandle, ifindex: number, toIfindex: number): Promise<void> {
  const op = `add redirect filter on ifindex ${ifindex} to ifindex ${toIfindex}`;
  await request(h, op, rt.MessageType.NEWTFILTER, [redirectFilterMessage(ifindex, toIfindex)], EXCL);
}

/** Adds an HTB as root qdisc (handle 1:) of ifindex, unclassified packets to class 1:defaultMinor; KernelError EEXIST when a root qdisc is there. */
export async function addHtbQdisc(h: NlHandle, ifindex: number, defaultMinor: number): Promise<void> {
  const op = `add htb qdisc on ifindex ${ifindex}`;
  await request(h, op, rt.MessageType.NEWQDISC, [tcMessage(ifindex, HTB_HANDLE, TC_H_ROOT, 'htb', htbQdiscOptions(defaultMinor))], EXCL);
}

/** Adds HTB class `classid` under the root HTB (1:) of ifindex. */
export async function addHtbClass(h: NlHandle, ifindex: number, classid: number, c: HtbClassSpec): Promise<void> {
  const op = `add htb class ${tcHandle(classid)} on ifindex ${ifindex}`;
  await request(h, op, rt.MessageType.NEWTCLASS, [tcMessage(ifindex, classid, HTB_HANDLE, 'htb', htbClassOptions(c))], EXCL);
}

/** Adds a pfifo (limit in packets) or bfifo (bytes) qdisc `handle` under class `parent` of ifindex. */
export async function addFifoQdisc(h: NlHandle, ifindex: number, kind: 'pfifo' | 'bfifo', handle: number, parent: number, limit: number): Promise<void> {
  const op = `add ${kind} qdisc under ${tcHandle(parent)} on ifindex ${ifindex}`;
  await request(h, op, rt.MessageType.NEWQDISC, [tcMessage(ifindex, handle, parent, kind, fifoOptions(limit))], EXCL);
}

/** Adds, on qdisc `parent` of ifindex, a u32 filter classifying what its keys match into f.classid. */
export async function addClassifyFilter(h: NlHandle, ifindex: number, parent: number, f: ClassifyFilter): Promise<void> {
  const op = `add u32 filter to ${tcHandle(f.classid)} on ifindex ${ifindex}`;
  await request(h, op, rt.MessageType.NEWTFILTER, [classifyFilterMessage(ifindex, parent, f)], EXCL);
}

/** A handle as tc prints it (major:minor in hex). */
export function tcHandle(handle: number): string {
  const minor = handle & 0xffff;
  return `${(handle >>> 16).toString(16)}:${minor ? minor.toString(16) : ''}`;
}

/** Deletes the root (or ingress) qdisc of ifindex; false when there was none (or no such link). */
export async function deleteQdisc(h: NlHandle, ifindex: number, which: 'root' | 'ingress'): Promise<boolean> {
  const parent = which === 'root' ? TC_H_ROOT : TC_H_INGRESS;
  const res = await requestOr(h, `delete ${which} qdisc of ifindex ${ifindex}`, rt.MessageType.DELQDISC, [tcMessage(ifindex, 0, parent)], 0, [ENOENT, EINVAL, ENODEV]);
  return res !== undefined;
}

/** The qdiscs of ifindex (the kernel dumps every device's: filtered here, as tc does). */
export async function listQdiscs(h: NlHandle, ifindex: number): Promise<QdiscInfo[]> {
  const msgs = await request(h, `list qdiscs of ifindex ${ifindex}`, rt.MessageType.GETQDISC, [tcmsg(ifindex, 0, 0)], FlagsGet.DUMP);
  const out: QdiscInfo[] = [];
  for (const m of msgs) {
    if (m.kind !== 'tc' || m.data.ifindex !== ifindex) continue;
    const q: QdiscInfo = { kind: m.attrs.kind ?? '', handle: m.data.handle ?? 0, parent: m.data.parent ?? 0 };
    const opts = m.attrs.options;
    if (q.kind === 'tbf' && opts) {
      const tbf = parseTbfOptions(opts);
      if (tbf) q.tbf = tbf;
    }
    const htbDefault = q.kind === 'htb' && opts ? parseHtbDefault(opts) : undefined;
    if (htbDefault !== undefined) q.htbDefault = htbDefault;
    const fifoLimit = (q.kind === 'pfifo' || q.kind === 'bfifo') && opts ? parseFifoLimit(opts) : undefined;
    if (fifoLimit !== undefined) q.fifoLimit = fifoLimit;
    out.push(q);
  }
  return out;
}

/** The classes of ifindex (HTB ones with their rates). */
export async function listClasses(h: NlHandle, ifindex: number): Promise<ClassInfo[]> {
  const op = `list classes of ifindex ${ifindex}`;
  const msgs = await requestOr(h, op, rt.MessageType.GETTCLASS, [tcmsg(ifindex, 0, 0)], FlagsGet.DUMP, [ENOENT, EINVAL, ENODEV]);
  return (msgs ?? []).flatMap((m) => {
    if (m.kind !== 'tc' || m.data.ifindex !== ifindex) return [];
    const c: ClassInfo = { kind: m.attrs.kind ?? '', handle: m.data.handle ?? 0, parent: m.data.parent ?? 0 };
    const htb = c.kind === 'htb' && m.attrs.options ? parseHtbClassOptions(m.attrs.options) : undefined;
    if (htb) c.htb = htb;
    return [c];
  });
}

/** The filters attached to qdisc `parent` of ifindex; [] when it has none (or there is no such qdisc). */
export async function listFilters(h: NlHandle, ifindex: number, parent: number): Promise<FilterInfo[]> {
  const op = `list filters of ${tcHandle(parent)} on ifindex ${ifindex}`;
  const msgs = await requestOr(h, op, rt.MessageType.GETTFILTER, [tcmsg(ifindex, 0, parent)], FlagsGet.DUMP, [ENOENT, EINVAL, ENODEV]);
  return (msgs ?? []).flatMap((m) => {
    if (m.kind !== 'tc' || m.data.ifindex !== ifindex) return [];
    const kind = m.attrs.kind ?? '';
    const info = m.data.info ?? 0;
    const f: FilterInfo = { kind, handle: m.data.handle ?? 0, prio: info >>> 16, ethProto: swap16(info & 0xffff), redirectTo: [] };
    if (kind === 'u32' && m.attrs.options) Object.assign(f, parseU32Classify(m.attrs.options), { redirectTo: parseU32Redirects(m.attrs.options) });
    return [f];
  });
}

/** The filters attached to ifindex's ingress qdisc; [] when it has none (or no ingress qdisc). */
export function listIngressFilters(h: NlHandle, ifindex: number): Promise<FilterInfo[]> {
  return listFilters(h, ifindex, INGRESS_HANDLE);
}
