/**
 * tsnet-bandwidth: the reference `bandwidth` plugin's role (chained after a main plugin that
 * made a veth; static rates or the `bandwidth` capability). Ingress (to the container) is a
 * TBF as root qdisc of the host veth; egress (from the container) enters the host veth, so an
 * ingress qdisc there redirects it (u32 match-all, mirred egress redirect) to an IFB device
 * whose root TBF shapes it. Stateless like the reference: the IFB's name derives from
 * (CNI_CONTAINERID, CNI_IFNAME), its alias names the CNI network so GC finds it; the veth's
 * qdiscs go with the veth. Everything is rtnetlink requests built as data (core/netlink tc.ts:
 * no tc/ip process): the IFB is created up, then given its alias (ignored at creation); the
 * independent qdiscs are sent together, the filter last (only on the ingress qdisc this ADD
 * made). Host netns only; CNI_NETNS is read to find the veth peer of CNI_IFNAME.
 *
 * With `shapedSubnets` or `unshapedSubnets` each root qdisc is an HTB instead (the reference's
 * layout): class 1:30 limited as the TBF would be, class 1:1 not limited, u32 filters sending
 * the listed prefixes to one of them, the other the default class. The prefix is the peer's
 * address: the source on the veth (traffic to the container), the destination on the IFB.
 */
import { createHash } from 'node:crypto';
import * as nl from '../../core/netlink/index.js';
import { KernelError } from '../../core/errors.js';
import { withNetlinkAt } from '../../core/netns/index.js';
import { removeHostLink } from '../../core/link-reaper/index.js';
import { baseSchema, compileSchema, invalid, validate, type BaseConf, type RuntimeConfig } from '../skel/config.js';
import { CNI_ERR, CniError } from '../skel/errors.js';
import type { CniPlugin, PluginRequest } from '../skel/dispatch.js';
import type { CniEnv } from '../skel/env.js';
import type { CniResult } from '../skel/result.js';
import { requireNetns, type CniHost } from './common.js';
import { UndoStack, settleAll } from '../../drivers/index.js';

/** Rates in bits per second, bursts in bits, as the reference (0 or absent: no limit that way). */
export interface BandwidthEntry {
  ingressRate?: number;
  ingressBurst?: number;
  egressRate?: number;
  egressBurst?: number;
  shapedSubnets?: string[];
  unshapedSubnets?: string[];
}

export interface BandwidthConf extends BaseConf, BandwidthEntry {
  runtimeConfig?: RuntimeConfig & { bandwidth?: BandwidthEntry };
}

const bits = { type: 'integer', minimum: 0 } as const;
const strArr = { type: 'array', items: { type: 'string' } } as const;
const entrySchema = {
  type: 'object',
  properties: { ingressRate: bits, ingressBurst: bits, egressRate: bits, egressBurst: bits, shapedSubnets: strArr, unshapedSubnets: strArr },
} as const;
const schema = {
  allOf: [baseSchema, entrySchema, { type: 'object', properties: { runtimeConfig: { type: 'object', properties: { bandwidth: entrySchema } } } }],
};
let compiled: ReturnType<typeof compileSchema> | undefined;

const IFB_PREFIX = 'bwp';
const ALIAS_PREFIX = 'tsnet-bandwidth:';
/** The reference's TBF latency: the queue holds rate × 25 ms beyond the burst. */
const LATENCY_S = 0.025;
const U32_MAX = 0xffff_ffff;
const MAX_BURST_S = (2 ** 32 * 64) / 1e9;

function parse(raw: Record<string, unknown>): BandwidthConf {
  compiled ??= compileSchema(schema);
  const c = validate<BandwidthConf>(compiled, raw);
  checkEntry(c, '');
  if (c.runtimeConfig?.bandwidth) checkEntry(c.runtimeConfig.bandwidth, 'runtimeConfig.bandwidth.');
  return c;
}

/** Rate and burst go together (code 7 naming the missing one); the subnet lists are exclusive CIDR lists (code 7). */
function checkEntry(e: BandwidthEntry, at: string): void {
  for (const dir of ['ingress', 'egress'] as const) {
    const rate = e[`${dir}Rate`] ?? 0;
    const burst = e[`${dir}Burst`] ?? 0;
    if (rate > 0 && burst === 0) throw invalid(`${at}${dir}Burst`, `is required when ${dir}Rate is set`);
    if (burst > 0 && rate === 0) throw invalid(`${at}${dir}Rate`, `is required when ${dir}Burst is set`);
    if (rate > 0 && rate < 8) throw invalid(`${at}${dir}Rate`, 'must be at least 8 bits per second (1 byte)');
    if (burst > 0 && burst < 8) throw invalid(`${at}${dir}Burst`, 'must be at least 8 bits (1 byte)');
    if (Math.floor(burst / 8) >= U32_MAX) throw invalid(`${at}${dir}Burst`, 'cannot be more than 4GB');
    // The kernel keeps a TBF's burst as time (u32 psched ticks of 64 ns): a longer one wraps.
    if (rate >= 8 && Math.floor(burst / 8) / Math.floor(rate / 8) >= MAX_BURST_S) {
      throw invalid(`${at}${dir}Burst`, `cannot last more than ${Math.floor(MAX_BURST_S)} s at ${dir}Rate (the kernel keeps the burst as time)`);
    }
  }
  if ((e.shapedSubnets?.length ?? 0) > 0 && (e.unshapedSubnets?.length ?? 0) > 0) {
    throw invalid(`${at}shapedSubnets`, 'cannot be given with unshapedSubnets: list either the subnets to shape or those not to shape');
  }
  selectionOf(e, at);
}

/** Which peers are shaped: only the listed prefixes (shapedSubnets) or all but them (unshapedSubnets). */
export interface SubnetSelection { field: 'shapedSubnets' | 'unshapedSubnets'; prefixes: ReturnType<typeof nl.parseCidr>[] }

/** The subnet selection of an entry (undefined: shape everything); a bad CIDR is code 7 naming the field. */
export function selectionOf(e: BandwidthEntry, at = ''): SubnetSelection | undefined {
  const field = (e.shapedSubnets?.length ?? 0) > 0 ? 'shapedSubnets' : (e.unshapedSubnets?.length ?? 0) > 0 ? 'unshapedSubnets' : undefined;
  if (!field) return undefined;
  const prefixes = (e[field] ?? []).map((c, i) => {
    try {
      return nl.parseCidr(c, `${at}${field}`);
    } catch (err) {
      throw invalid(`${at}${field}`, `[${i}] ${JSON.stringify(c)} is not a CIDR (${(err as Error).message})`);
    }
  });
  return { field, prefixes };
}

/** The limits in effect: the capability wins over the static fields. */
export function effectiveBandwidth(c: BandwidthConf): BandwidthEntry {
  return c.runtimeConfig?.bandwidth ?? c;
}

/** The TBF of one direction in the kernel's units (bytes), as the reference computes it; undefined when not limited. */
export function tbfOf(e: BandwidthEntry, dir: 'ingress' | 'egress'): nl.TbfSpec | undefined {
  const rate = e[`${dir}Rate`] ?? 0;
  const burst = e[`${dir}Burst`] ?? 0;
  if (rate === 0 || burst === 0) return undefined;
  const rateBytes = Math.floor(rate / 8);
  const burstBytes = Math.floor(burst / 8);
  const limitBytes = Math.min(U32_MAX, Math.floor(rateBytes * LATENCY_S) + burstBytes);
  return { rateBytes, burstBytes, limitBytes };
}

/** The two HTB classes and their fifo leaves: what the TBF would do in 1:30, nothing limited in 1:1. */
const UNSHAPED_RATE = 100_000_000_000; // bytes/s, the reference's "uncapped" class (tc shows 800Gbit)
const UNSHAPED_BURST = UNSHAPED_RATE / 1000; // 1 ms at that rate: no per-packet wait for tokens
/** The unshaped class's queue in packets: a veth's txqueuelen (an IFB's default is 32). */
const UNSHAPED_QLEN = 1000;

export function shapedClass(t: nl.TbfSpec): nl.HtbClassSpec {
  return { rateBytes: t.rateBytes, ceilBytes: t.rateBytes, burstBytes: t.burstBytes, cburstBytes: t.burstBytes, quantum: nl.htbQuantum(t.rateBytes) };
}
export const unshapedClass: nl.HtbClassSpec = {
  rateBytes: UNSHAPED_RATE, ceilBytes: UNSHAPED_RATE, burstBytes: UNSHAPED_BURST, cburstBytes: UNSHAPED_BURST, quantum: nl.htbQuantum(UNSHAPED_RATE),
};

/** The listed prefixes go to the class the default is not. */
const listedClass = (sel: SubnetSelection) => (sel.field === 'shapedSubnets' ? nl.HTB_SHAPED_CLASS : nl.HTB_UNSHAPED_CLASS);
const defaultMinor = (sel: SubnetSelection) => (sel.field === 'shapedSubnets' ? nl.HTB_UNSHAPED_CLASS : nl.HTB_SHAPED_CLASS) & 0xffff;

/** The classifying filters of one direction: the peer is the source on the veth, the destination on the IFB. */
export function subnetFilters(sel: SubnetSelection, peer: 'src' | 'dst'): nl.ClassifyFilter[] {
  return sel.prefixes.map((p) => nl.prefixFilter(p, peer, listedClass(sel)));
}

/** The IFB of an attachment: "bwp" + 12 hex of (container id, ifname): 15 bytes, a valid ifname. */
export function ifbName(containerId: string, ifname: string): string {
  return IFB_PREFIX + createHash('sha256').update(`${containerId}\0${ifname}`).digest('hex').slice(0, 15 - IFB_PREFIX.length);
}

/** The veth end in the host netns of CNI_IFNAME (by its peer index, as the reference), among prevResult's host-side interfaces. */
async function hostVeth(prev: CniResult, env: CniEnv): Promise<nl.LinkInfo> {
  const names = (prev.interfaces ?? []).filter((i) => !i.sandbox && i.name).map((i) => i.name);
  if (names.length === 0) throw invalid('prevResult.interfaces', 'no host-side interface (one without "sandbox"): tsnet-bandwidth shapes the host end of a veth');
  requireNetns(env);
  const peer = await withNetlinkAt(env.netns, async (h) => {
    const link = await nl.getLink(h, env.ifname);
    if (!link) throw new CniError(CNI_ERR.NOT_FOUND, `no interface ${env.ifname} in ${env.netns}`, 'CNI_IFNAME');
    return link.kind === 'veth' ? link.parentIndex : undefined;
  });
  if (!peer) throw new CniError(CNI_ERR.INVALID_CONFIG, `container interface ${env.ifname} is not a veth: tsnet-bandwidth shapes the host end of a veth`, 'CNI_IFNAME');
  const h = nl.hostNetlink();
  const links = await Promise.all(names.map((n) => nl.getLink(h, n)));
  const found = links.find((l) => l?.index === peer);
  if (!found) throw invalid('prevResult.interfaces', `the veth peer of ${env.ifname} (ifindex ${peer}) is none of ${names.join(', ')}`);
  return found;
}

const EEXIST = 17;

/** A qdisc or IFB already there (a second ADD without DEL, another tool's qdisc) is a conflict. */
function toCni(err: unknown): unknown {
  if (err instanceof KernelError && err.errno === EEXIST) {
    return new CniError(CNI_ERR.CONFLICT, `already shaped (${err.message}): DEL the attachment first`, 'CNI_CONTAINERID');
  }
  return err;
}

/** The prevResult a chained ADD or CHECK needs (code 7 without it). */
function needPrev(req: PluginRequest<BandwidthConf>): CniResult {
  if (!req.prevResult) throw new CniError(CNI_ERR.INVALID_CONFIG, 'prevResult: tsnet-bandwidth must be chained after a plugin that makes a veth', 'prevResult');
  return req.prevResult;
}

/** The root qdisc of one direction: the TBF, or with a subnet selection the HTB (its classes come after). */
function addRoot(h: nl.NlHandle, ifindex: number, t: nl.TbfSpec, sel: SubnetSelection | undefined): Promise<void> {
  return sel ? nl.addHtbQdisc(h, ifindex, defaultMinor(sel)) : nl.addTbfQdisc(h, ifindex, t);
}

/** Steps filling the HTB root of ifindex (the classes, leaves and filters go with it: no undo of their own). */
function fillHtb(undo: UndoStack, h: nl.NlHandle, dev: string, ifindex: number, t: nl.TbfSpec, sel: SubnetSelection, peer: 'src' | 'dst'): Promise<unknown>[] {
  return [
    undo.step(`${dev} htb classes`, () => settleAll([
      nl.addHtbClass(h, ifindex, nl.HTB_UNSHAPED_CLASS, unshapedClass),
      nl.addHtbClass(h, ifindex, nl.HTB_SHAPED_CLASS, shapedClass(t)),
      // Leaves after their classes, same batch: the kernel applies the requests in order.
      nl.addFifoQdisc(h, ifindex, 'pfifo', nl.UNSHAPED_LEAF_HANDLE, nl.HTB_UNSHAPED_CLASS, UNSHAPED_QLEN),
      nl.addFifoQdisc(h, ifindex, 'bfifo', nl.SHAPED_LEAF_HANDLE, nl.HTB_SHAPED_CLASS, t.limitBytes),
    ])),
    undo.step(`${dev} subnet filters`, () => settleAll(subnetFilters(sel, peer).map((f) => nl.addClassifyFilter(h, ifindex, nl.HTB_HANDLE, f)))),
  ];
}

async function add(req: PluginRequest<BandwidthConf>): Promise<CniResult> {
  const { conf, env } = req;
  const prev = needPrev(req);
  const bw = effectiveBandwidth(conf);
  const ingress = tbfOf(bw, 'ingress');
  const egress = tbfOf(bw, 'egress');
  if (!ingress && !egress) return prev;
  const sel = selectionOf(bw);
  const veth = await hostVeth(prev, env);
  const h = nl.hostNetlink();
  const undo = new UndoStack();
  try {
    let ifbIndex: number | undefined;
    if (egress) {
      const ifb = ifbName(env.containerId, env.ifname);
      await undo.step('create IFB', () => nl.createLink(h, { name: ifb, kind: 'ifb', mtu: veth.mtu, up: true }), () => nl.deleteLink(h, ifb));
      [, ifbIndex] = await Promise.all([nl.setLinkAlias(h, ifb, ALIAS_PREFIX + conf.name), nl.linkIndex(h, ifb, `find IFB ${ifb}`)]);
    }
    // Independent of each other, sent together: a failing one leaves the others to the rollback.
    await settleAll([
      ...(ingress ? [undo.step('veth root qdisc', () => addRoot(h, veth.index, ingress, sel), () => nl.deleteQdisc(h, veth.index, 'root'))] : []),
      ...(egress && ifbIndex !== undefined ? [
        undo.step('IFB root qdisc', () => addRoot(h, ifbIndex, egress, sel)), // goes with the IFB
        undo.step('veth ingress qdisc', () => nl.addIngressQdisc(h, veth.index), () => nl.deleteQdisc(h, veth.index, 'ingress')), // takes the filter along
      ] : []),
    ]);
    // Only now: the qdiscs are this ADD's, never someone else's; what goes under them goes with them.
    await settleAll([
      ...(ingress && sel ? fillHtb(undo, h, 'veth', veth.index, ingress, sel, 'src') : []),
      ...(egress && sel && ifbIndex !== undefined ? fillHtb(undo, h, 'IFB', ifbIndex, egress, sel, 'dst') : []),
      ...(ifbIndex !== undefined ? [undo.step('redirect filter', () => nl.addRedirectFilter(h, veth.index, ifbIndex))] : []),
    ]);
    undo.commit();
  } catch (err) {
    await undo.rollback();
    throw toCni(err);
  }
  return prev;
}

async function del(req: PluginRequest<BandwidthConf>): Promise<void> {
  // The veth's qdiscs go with the veth (the main plugin's DEL); only the IFB is ours alone.
  // In tsnetd the IFB is retired now and deleted by the reaper (a netdev delete blocks ~15-20 ms).
  await removeHostLink(ifbName(req.env.containerId, req.env.ifname));
}

/** The kernel keeps a burst as time at the rate: its read-back may round by a byte or so. */
const burstDiffers = (got: number, want: number) => Math.abs(got - want) > Math.max(2, want / 1000);

function checkTbf(qdiscs: nl.QdiscInfo[], dev: string, want: nl.TbfSpec, field: string): void {
  const q = qdiscs.find((x) => x.parent === nl.TC_H_ROOT && x.kind === 'tbf');
  if (!q) throw new CniError(CNI_ERR.NOT_FOUND, `no tbf root qdisc on ${dev}`, field);
  const rate = q.tbf?.rateBytes ?? -1;
  const burst = q.tbf?.burstBytes ?? -1;
  if (rate !== want.rateBytes || burstDiffers(burst, want.burstBytes)) {
    throw new CniError(CNI_ERR.CONFLICT, `tbf on ${dev} is rate ${rate} B/s burst ${burst} B, configured ${want.rateBytes} B/s burst ${want.burstBytes} B`, field);
  }
}

/** A u32 rule as text, to compare sets: protocol, prio, flowid, keys. */
const ruleText = (f: { ethProto: number; prio: number; classid?: number; keys?: nl.U32Key[] }) =>
  `proto 0x${f.ethProto.toString(16)} prio ${f.prio} flowid ${nl.tcHandle(f.classid ?? 0)} ${(f.keys ?? []).map((k) => `${k.val.toString(16)}/${k.mask.toString(16)}@${k.off}`).join(' ')}`;

/** The HTB root of one direction: default class, both classes with their rates, the leaves, exactly the configured filters. */
async function checkHtb(h: nl.NlHandle, qdiscs: nl.QdiscInfo[], dev: { name: string; index: number }, want: nl.TbfSpec, sel: SubnetSelection, peer: 'src' | 'dst', at: string, rateField: string): Promise<void> {
  const selField = `${at}${sel.field}`;
  const root = qdiscs.find((x) => x.parent === nl.TC_H_ROOT && x.kind === 'htb' && x.handle === nl.HTB_HANDLE);
  if (!root) throw new CniError(CNI_ERR.NOT_FOUND, `no htb root qdisc 1: on ${dev.name}`, rateField);
  if (root.htbDefault !== defaultMinor(sel)) {
    throw new CniError(CNI_ERR.CONFLICT, `htb on ${dev.name} defaults to 1:${(root.htbDefault ?? 0).toString(16)}, configured 1:${defaultMinor(sel).toString(16)} (${sel.field})`, selField);
  }
  const classes = await nl.listClasses(h, dev.index);
  const shaped = classes.find((c) => c.handle === nl.HTB_SHAPED_CLASS && c.kind === 'htb')?.htb;
  const unshaped = classes.find((c) => c.handle === nl.HTB_UNSHAPED_CLASS && c.kind === 'htb')?.htb;
  if (!shaped || !unshaped) throw new CniError(CNI_ERR.NOT_FOUND, `htb class ${shaped ? '1:1' : '1:30'} is missing on ${dev.name}`, rateField);
  if (shaped.rateBytes !== want.rateBytes || shaped.ceilBytes !== want.rateBytes || burstDiffers(shaped.burstBytes, want.burstBytes)) {
    throw new CniError(CNI_ERR.CONFLICT, `htb class 1:30 on ${dev.name} is rate ${shaped.rateBytes} B/s ceil ${shaped.ceilBytes} B/s burst ${shaped.burstBytes} B, configured ${want.rateBytes} B/s burst ${want.burstBytes} B`, rateField);
  }
  if (unshaped.rateBytes !== unshapedClass.rateBytes) throw new CniError(CNI_ERR.CONFLICT, `htb class 1:1 on ${dev.name} is rate ${unshaped.rateBytes} B/s, not unlimited`, rateField);
  const leaf = (parent: number, kind: string) => qdiscs.find((q) => q.parent === parent && q.kind === kind);
  if (!leaf(nl.HTB_SHAPED_CLASS, 'bfifo') || !leaf(nl.HTB_UNSHAPED_CLASS, 'pfifo')) throw new CniError(CNI_ERR.NOT_FOUND, `a fifo leaf of the htb classes is missing on ${dev.name}`, rateField);
  const got = new Set((await nl.listFilters(h, dev.index, nl.HTB_HANDLE)).filter((f) => f.keys).map(ruleText));
  const wanted = new Set(subnetFilters(sel, peer).map(ruleText));
  const missing = [...wanted].filter((r) => !got.has(r));
  if (missing.length > 0) throw new CniError(CNI_ERR.NOT_FOUND, `filters missing on ${dev.name}: ${missing.join('; ')}`, selField);
  const extra = [...got].filter((r) => !wanted.has(r));
  if (extra.length > 0) throw new CniError(CNI_ERR.CONFLICT, `filters on ${dev.name} not configured: ${extra.join('; ')}`, selField);
}

async function check(req: PluginRequest<BandwidthConf>): Promise<void> {
  const { conf, env } = req;
  const prev = needPrev(req);
  const bw = effectiveBandwidth(conf);
  const at = conf.runtimeConfig?.bandwidth ? 'runtimeConfig.bandwidth.' : '';
  const ingress = tbfOf(bw, 'ingress');
  const egress = tbfOf(bw, 'egress');
  if (!ingress && !egress) return;
  const sel = selectionOf(bw, at);
  const veth = await hostVeth(prev, env);
  const h = nl.hostNetlink();
  const vethQdiscs = await nl.listQdiscs(h, veth.index);
  if (ingress && sel) await checkHtb(h, vethQdiscs, veth, ingress, sel, 'src', at, `${at}ingressRate`);
  else if (ingress) checkTbf(vethQdiscs, veth.name, ingress, `${at}ingressRate`);
  if (!egress) return;
  const ifb = ifbName(env.containerId, env.ifname);
  const ifbLink = await nl.getLink(h, ifb);
  if (!ifbLink) throw new CniError(CNI_ERR.NOT_FOUND, `IFB ${ifb} is missing`, `${at}egressRate`);
  const ifbQdiscs = await nl.listQdiscs(h, ifbLink.index);
  if (sel) await checkHtb(h, ifbQdiscs, ifbLink, egress, sel, 'dst', at, `${at}egressRate`);
  else checkTbf(ifbQdiscs, ifb, egress, `${at}egressRate`);
  if (!vethQdiscs.some((q) => q.kind === 'ingress')) throw new CniError(CNI_ERR.NOT_FOUND, `no ingress qdisc on ${veth.name}`, `${at}egressRate`);
  const filters = await nl.listIngressFilters(h, veth.index);
  if (!filters.some((f) => f.redirectTo.includes(ifbLink.index))) throw new CniError(CNI_ERR.NOT_FOUND, `no filter on ${veth.name} redirects to ${ifb}`, `${at}egressRate`);
}

/** Deletes this network's IFBs (found by alias) that belong to no valid attachment. */
async function gc(req: PluginRequest<BandwidthConf>): Promise<void> {
  const keep = new Set((req.validAttachments ?? []).map((a) => ifbName(a.containerID, a.ifname)));
  const links = await nl.listLinks(nl.hostNetlink());
  const mine = links.filter((l) => l.kind === 'ifb' && l.alias === ALIAS_PREFIX + req.conf.name && l.name.startsWith(IFB_PREFIX) && !keep.has(l.name));
  for (const l of mine) await removeHostLink(l.name);
}

/** Ready when an rtnetlink socket opens (no program needed; the qdisc modules are checked by each ADD). */
async function status(): Promise<void> {
  try {
    nl.hostNetlink();
  } catch (err) {
    throw new CniError(CNI_ERR.NOT_AVAILABLE, `tsnet-bandwidth needs rtnetlink in the host netns: ${(err as Error).message}`, 'netlink');
  }
}

export const bandwidthPlugin: CniPlugin<BandwidthConf, CniHost> = {
  name: 'tsnet-bandwidth',
  knownArgs: null,
  parse, add, del, check, gc, status,
};
