/**
 * Neighbour (ARP/NDP) entries and bridge/vxlan forwarding database entries.
 * Every function acts in the netns of the handle `h`; the caller removes what it adds
 * (delNeigh/delFdb) or deletes the link holding the entries.
 */
import { AttrStream, FlagsGet, FlagsNew, rt } from 'netlink';
import { AF_BRIDGE, AF_INET, AF_INET6, formatIp, formatMac, parseIp, parseMac } from './encode.js';
import { linkIndex, listLinks } from './links.js';
import { request, requestOr, type NlHandle } from './socket.js';

export interface NeighSpec { dev: string; ip: string; mac: string; permanent?: boolean }
export interface FdbSpec {
  dev: string;
  mac: string;
  /** Remote VTEP address (vxlan devices). */
  dst?: string;
  /** Entry in the device's own table (NTF_SELF, default, as `bridge fdb add`); false: its master bridge's. */
  self?: boolean;
}
export interface NeighInfo { dev?: string; ifindex: number; ip: string; mac?: string; permanent: boolean }
export interface FdbInfo { dev?: string; ifindex: number; mac: string; dst?: string; self: boolean; master?: number }

const ENOENT = 2;
const ENODEV = 19;
const ZERO_MAC = '00:00:00:00:00:00';

/** Pure: RTM_NEWNEIGH/DELNEIGH body for an IP neighbour. */
export function neighMessage(ifindex: number, ip: string, mac: string | undefined, permanent: boolean): Uint8Array[] {
  const p = parseIp(ip);
  const data: rt.Neighbor = { family: p.family === 4 ? AF_INET : AF_INET6, ifindex, state: permanent ? { permanent: true } : { reachable: true } };
  const attrs: rt.NeighborAttrs = { dst: p.bytes };
  if (mac !== undefined) attrs.lladdr = parseMac(mac);
  const out = new AttrStream();
  rt.formatNeighborMessage({ kind: 'neighbor', data, attrs }, out);
  return out.bufs;
}

/** Pure: RTM_NEWNEIGH/DELNEIGH body for a bridge FDB entry (family AF_BRIDGE). */
export function fdbMessage(ifindex: number, f: Omit<FdbSpec, 'dev'>): Uint8Array[] {
  const data: rt.Neighbor = {
    family: AF_BRIDGE, ifindex, state: { permanent: true }, flags: f.self === false ? { master: true } : { self: true },
  };
  const attrs: rt.NeighborAttrs = { lladdr: parseMac(f.mac) };
  if (f.dst !== undefined) attrs.dst = parseIp(f.dst, 'dst').bytes;
  const out = new AttrStream();
  rt.formatNeighborMessage({ kind: 'neighbor', data, attrs }, out);
  return out.bufs;
}

async function indexOrGone(h: NlHandle, dev: string, op: string): Promise<number | undefined> {
  try {
    return await linkIndex(h, dev, op);
  } catch (err) {
    if ((err as { errno?: number }).errno === ENODEV) return undefined;
    throw err;
  }
}

/** Adds or replaces a neighbour entry in h's netns (permanent unless permanent === false). */
export async function addNeigh(h: NlHandle, n: NeighSpec): Promise<void> {
  const op = `add neighbour ${n.ip} lladdr ${n.mac} dev ${n.dev}`;
  const index = await linkIndex(h, n.dev, op);
  const body = neighMessage(index, n.ip, n.mac, n.permanent !== false);
  await request(h, op, rt.MessageType.NEWNEIGH, body, FlagsNew.CREATE | FlagsNew.REPLACE);
}

/** Deletes a neighbour entry in h's netns. false when it (or dev) was already gone. */
export async function delNeigh(h: NlHandle, n: { dev: string; ip: string }): Promise<boolean> {
  const op = `delete neighbour ${n.ip} dev ${n.dev}`;
  const index = await indexOrGone(h, n.dev, op);
  if (index === undefined) return false;
  const res = await requestOr(h, op, rt.MessageType.DELNEIGH, neighMessage(index, n.ip, undefined, true), 0, [ENOENT]);
  return res !== undefined;
}

/**
 * Adds an FDB entry in h's netns: replaced if the MAC exists; the all-zero MAC (a vxlan
 * flood destination) is appended, so several remote VTEPs can share it.
 */
export async function addFdb(h: NlHandle, f: FdbSpec): Promise<void> {
  const op = `add fdb ${f.mac}${f.dst ? ` dst ${f.dst}` : ''} dev ${f.dev}`;
  const index = await linkIndex(h, f.dev, op);
  const mode = f.mac === ZERO_MAC ? FlagsNew.APPEND : FlagsNew.REPLACE;
  await request(h, op, rt.MessageType.NEWNEIGH, fdbMessage(index, f), FlagsNew.CREATE | mode);
}

/** Deletes an FDB entry in h's netns. false when it (or dev) was already gone. */
export async function delFdb(h: NlHandle, f: FdbSpec): Promise<boolean> {
  const op = `delete fdb ${f.mac}${f.dst ? ` dst ${f.dst}` : ''} dev ${f.dev}`;
  const index = await indexOrGone(h, f.dev, op);
  if (index === undefined) return false;
  const res = await requestOr(h, op, rt.MessageType.DELNEIGH, fdbMessage(index, f), 0, [ENOENT]);
  return res !== undefined;
}

async function dumpNeigh(h: NlHandle, op: string, family: number): Promise<rt.NeighborMessage[]> {
  const out = new AttrStream();
  rt.formatNeighborMessage({ kind: 'neighbor', data: { family }, attrs: {} }, out);
  const msgs = await request(h, op, rt.MessageType.GETNEIGH, out.bufs, FlagsGet.DUMP);
  return msgs.filter((m): m is rt.NeighborMessage => m.kind === 'neighbor');
}

/** IP neighbour entries in h's netns (both families), optionally only dev's. */
export async function listNeighs(h: NlHandle, dev?: string): Promise<NeighInfo[]> {
  const names = new Map((await listLinks(h)).map((l) => [l.index, l.name]));
  const msgs = [...await dumpNeigh(h, 'list neighbours', AF_INET), ...await dumpNeigh(h, 'list neighbours', AF_INET6)];
  return msgs.flatMap((m) => {
    const ifindex = m.data.ifindex ?? 0;
    const name = names.get(ifindex);
    if (!m.attrs.dst || (dev !== undefined && name !== dev)) return [];
    const info: NeighInfo = { ifindex, ip: formatIp(m.attrs.dst), permanent: Boolean(m.data.state?.permanent) };
    if (name !== undefined) info.dev = name;
    if (m.attrs.lladdr) info.mac = formatMac(m.attrs.lladdr);
    return [info];
  });
}

/** Bridge/vxlan FDB entries in h's netns, optionally only dev's. */
export async function listFdb(h: NlHandle, dev?: string): Promise<FdbInfo[]> {
  const names = new Map((await listLinks(h)).map((l) => [l.index, l.name]));
  const msgs = await dumpNeigh(h, 'list fdb', AF_BRIDGE);
  return msgs.flatMap((m) => {
    const ifindex = m.data.ifindex ?? 0;
    const name = names.get(ifindex);
    if (!m.attrs.lladdr || (dev !== undefined && name !== dev)) return [];
    const info: FdbInfo = { ifindex, mac: formatMac(m.attrs.lladdr), self: Boolean(m.data.flags?.self) };
    if (name !== undefined) info.dev = name;
    if (m.attrs.dst) info.dst = formatIp(m.attrs.dst);
    if (m.attrs.master) info.master = m.attrs.master;
    return [info];
  });
}
