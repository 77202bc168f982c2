/**
 * Traffic control over rtnetlink, the pieces tsnet-bandwidth needs: a TBF root qdisc, an
 * ingress qdisc, a u32 match-all filter redirecting (mirred) to another device, and the
 * read-back of those. Messages are built as data (struct tcmsg + attributes, layouts from
 * linux/pkt_sched.h, pkt_cls.h, tc_act/tc_mirred.h); the encoders are pure.
 */
import { AttrStream, FlagsGet, FlagsNew, rt } from 'netlink';
import { ConfigError } from '../errors.js';
import { cstr, eachAttr, nlattr, u32 } from './encode.js';
import { request, requestOr, type NlHandle } from './socket.js';

export const TC_H_ROOT = 0xffff_ffff;
export const TC_H_INGRESS = 0xffff_fff1;
/** The ingress qdisc's handle (ffff:) and the parent of its filters. */
export const INGRESS_HANDLE = 0xffff_0000;
/** The TBF's handle (1:). */
export const TBF_HANDLE = 0x0001_0000;
const ETH_P_ALL = 0x0003;
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
const U32 = { SEL: 5, ACT: 7 } as const;
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
}

/** A filter as read back: the ifindexes its mirred egress-redirect actions send to. */
export interface FilterInfo { kind: string; handle: number; redirectTo: number[] }

/** struct tcmsg: family, pad, ifindex, handle, parent, info (20 bytes). */
export function tcmsg(ifindex: number, handle: number, parent: number, info = 0): Buffer {
  return rt.formatTc({ ifindex, handle, parent, info });
}

/** tcm_info of a filter: prio in the upper 16 bits, the protocol (network byte order) in the lower. */
export function filterInfo(prio: number, ethProto: number): number {
  const be = ((ethProto & 0xff) << 8) | ((ethProto >> 8) & 0xff);
  return ((prio << 16) | be) >>> 0;
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
  if (t.rateBytes > U32_MAX) {
    const r64 = Buffer.alloc(8);
    r64.writeBigUInt64LE(BigInt(t.rateBytes));
    out.push(nlattr(TBF.RATE64, r64));
  }
  // With the burst in bytes the kernel derives the buffer time itself (tbf_change).
  out.push(nlattr(TBF.BURST, u32(t.burstBytes)));
  return out;
}

/** A whole qdisc request body: tcmsg, TCA_KIND and (when given) nested TCA_OPTIONS. */
export function qdiscMessage(ifindex: number, handle: number, parent: number, kind?: string, options?: Buffer[]): Buffer {
  const parts = [tcmsg(ifindex, handle, parent)];
  if (kind) parts.push(nlattr(TCA_KIND, cstr(kind)));
  if (options) parts.push(nlattr(TCA_OPTIONS, options, true));
  return Buffer.concat(parts);
}

/** struct tc_u32_sel (16 bytes) with one key (16 bytes) mask 0 val 0 at offset 0: matches every packet; terminal so the action runs. */
export function u32MatchAllSel(): Buffer {
  const b = Buffer.alloc(32);
  b.writeUInt8(TC_U32_TERMINAL, 0);
  b.writeUInt8(1, 2); // nkeys
  return b;
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
  return Buffer.concat([
    tcmsg(ifindex, 0, INGRESS_HANDLE, filterInfo(1, ETH_P_ALL)),
    nlattr(TCA_KIND, cstr('u32')),
    nlattr(TCA_OPTIONS, u32RedirectOptions(toIfindex), true),
  ]);
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

function tcBufs(body: Buffer): Uint8Array[] {
  const s = new AttrStream();
  s.emit(body);
  return s.bufs;
}

const EXCL = FlagsNew.CREATE | FlagsNew.EXCL;

/** Adds a TBF as root qdisc (handle 1:) of ifindex; KernelError EEXIST when one is there. */
export async function addTbfQdisc(h: NlHandle, ifindex: number, t: TbfSpec): Promise<void> {
  const op = `add tbf qdisc on ifindex ${ifindex}`;
  await request(h, op, rt.MessageType.NEWQDISC, tcBufs(qdiscMessage(ifindex, TBF_HANDLE, TC_H_ROOT, 'tbf', tbfOptions(t))), EXCL);
}

/** Adds the ingress qdisc (ffff:) of ifindex; KernelError EEXIST when one is there. */
export async function addIngressQdisc(h: NlHandle, ifindex: number): Promise<void> {
  const op = `add ingress qdisc on ifindex ${ifindex}`;
  await request(h, op, rt.MessageType.NEWQDISC, tcBufs(qdiscMessage(ifindex, INGRESS_HANDLE, TC_H_INGRESS, 'ingress')), EXCL);
}

/** Adds, on the ingress qdisc of ifindex, a u32 match-all filter redirecting every packet to toIfindex's egress. */
export async function addRedirectFilter(h: NlHandle, ifindex: number, toIfindex: number): Promise<void> {
  const op = `add redirect filter on ifindex ${ifindex} to ifindex ${toIfindex}`;
  await request(h, op, rt.MessageType.NEWTFILTER, tcBufs(redirectFilterMessage(ifindex, toIfindex)), EXCL);
}

/** Deletes the root (or ingress) qdisc of ifindex; false when there was none (or no such link). */
export async function deleteQdisc(h: NlHandle, ifindex: number, which: 'root' | 'ingress'): Promise<boolean> {
  const parent = which === 'root' ? TC_H_ROOT : TC_H_INGRESS;
  const res = await requestOr(h, `delete ${which} qdisc of ifindex ${ifindex}`, rt.MessageType.DELQDISC, tcBufs(qdiscMessage(ifindex, 0, parent)), 0, [ENOENT, EINVAL, ENODEV]);
  return res !== undefined;
}

/** The qdiscs of ifindex (the kernel dumps every device's: filtered here, as tc does). */
export async function listQdiscs(h: NlHandle, ifindex: number): Promise<QdiscInfo[]> {
  const msgs = await request(h, `list qdiscs of ifindex ${ifindex}`, rt.MessageType.GETQDISC, tcBufs(tcmsg(ifindex, 0, 0)), FlagsGet.DUMP);
  const out: QdiscInfo[] = [];
  for (const m of msgs) {
    if (m.kind !== 'tc' || m.data.ifindex !== ifindex) continue;
    const q: QdiscInfo = { kind: m.attrs.kind ?? '', handle: m.data.handle ?? 0, parent: m.data.parent ?? 0 };
    if (q.kind === 'tbf' && m.attrs.options) {
      const tbf = parseTbfOptions(m.attrs.options);
      if (tbf) q.tbf = tbf;
    }
    out.push(q);
  }
  return out;
}

/** The filters attached to ifindex's ingress qdisc; [] when it has none (or no ingress qdisc). */
export async function listIngressFilters(h: NlHandle, ifindex: number): Promise<FilterInfo[]> {
  const op = `list ingress filters of ifindex ${ifindex}`;
  const msgs = await requestOr(h, op, rt.MessageType.GETTFILTER, tcBufs(tcmsg(ifindex, 0, INGRESS_HANDLE)), FlagsGet.DUMP, [ENOENT, EINVAL]);
  return (msgs ?? []).flatMap((m) => {
    if (m.kind !== 'tc' || m.data.ifindex !== ifindex) return [];
    const kind = m.attrs.kind ?? '';
    const redirectTo = kind === 'u32' && m.attrs.options ? parseU32Redirects(m.attrs.options) : [];
    return [{ kind, handle: m.data.handle ?? 0, redirectTo }];
  });
}
