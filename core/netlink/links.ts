/**
 * Links: create (bridge, veth, macvlan, vxlan, ipvlan, vlan, dummy, ifb), delete, inspect, change.
 * Every function acts in the netns of the handle `h`; a link created with netnsFd (or a veth
 * peer with peerNetnsFd) lives in that other netns. The caller deletes what it creates
 * (deleting one end of a veth removes both; destroying a netns removes the links inside it).
 */
import { AttrStream, FlagsGet, FlagsNew, rt, ifla } from 'netlink';
import { ConfigError, KernelError } from '../errors.js';
import {
  appendRaw, bridgeData, bridgeSlaveHairpin, formatMac, ipvlanData, linkInfo, linkKindOf, macvlanData,
  parseMac, queueAttrs, u32, vethPeer, vlanData, vxlanData, type IpvlanMode, type MacvlanMode,
} from './encode.js';
import { request, requestOr, type NlHandle } from './socket.js';

export type LinkKind = 'bridge' | 'veth' | 'macvlan' | 'vxlan' | 'ipvlan' | 'vlan' | 'dummy' | 'ifb';

export interface LinkInfo {
  index: number;
  name: string;
  kind?: string;
  mtu: number;
  mac: string;
  up: boolean;
  /** The link layer (ARPHRD_*) as `ip link` names it: 'ether', 'loopback', 'none' (a tun), ... */
  linkType?: string;
  masterIndex?: number;
  /** IFLA_LINK: the parent (macvlan, vlan) or the veth peer's index (maybe in another netns). */
  parentIndex?: number;
  /** IFLA_LINK_NETNSID: set when the parent/peer lives in another netns (its id as seen from here). */
  parentNetnsId?: number;
  /** IFLA_IFALIAS, when set. */
  alias?: string;
}

export interface CreateLinkSpec {
  name: string;
  kind: LinkKind;
  mtu?: number;
  mac?: string;
  up?: boolean;
  /**
   * TX and RX queues (IFLA_NUM_TX/RX_QUEUES). A veth otherwise gets one of each per possible
   * CPU, each a sysfs object made at creation; the peer gets the same count.
   */
  queues?: number;
  /** A bridge in the handle's netns, by name or ifindex (not allowed together with netnsFd). */
  master?: string | number;
  /** Create the link directly in that netns. */
  netnsFd?: number;
  /** The peer is created in peerNetnsFd (default: h's netns), with peerMtu defaulting to mtu. */
  veth?: { peerName: string; peerNetnsFd?: number; peerMac?: string; peerMtu?: number; peerUp?: boolean };
  macvlan?: { parent: string; mode: MacvlanMode };
  /** Bridge attributes; unset ones keep the kernel's defaults. */
  bridge?: { mcastSnooping?: boolean };
  /** Default port 4789 (IANA), not the kernel's legacy 8472. `dev` is looked up in the handle's netns. */
  vxlan?: { vni: number; port?: number; local?: string; dev?: string; learning?: boolean };
  /** Extensions beyond the contract, for kernels that have them. */
  ipvlan?: { parent: string; mode: IpvlanMode };
  vlan?: { parent: string; id: number };
}

const NEWLINK = rt.MessageType.NEWLINK;
const SETLINK = rt.MessageType.SETLINK;
const ENODEV = 19;
const EOPNOTSUPP = 95;

/** ifindex of `name` in h's netns; KernelError ENODEV naming op when it is missing. */
export async function linkIndex(h: NlHandle, name: string, op: string): Promise<number> {
  const link = await getLinkMessage(h, name, op);
  if (!link?.data.index) throw new KernelError(op, ENODEV, 'ENODEV', `no link "${name}"`);
  return link.data.index;
}

async function getLinkMessage(h: NlHandle, name: string, op: string): Promise<rt.LinkMessage | undefined> {
  const msgs = await requestOr(h, op, rt.MessageType.GETLINK, linkMessage({}, { ifname: name }), 0, [ENODEV]);
  const m = msgs?.[0];
  return m?.kind === 'link' ? m : undefined;
}

function linkMessage(data: rt.Link, attrs: ifla.LinkAttrs, raw: Buffer[] = []): Uint8Array[] {
  const out = new AttrStream();
  rt.formatLinkMessage({ kind: 'link', data, attrs }, out);
  if (raw.length) appendRaw(out, raw);
  return out.bufs;
}

/** Pure: a parsed RTM_NEWLINK answer as LinkInfo. */
export function toLinkInfo(m: rt.LinkMessage): LinkInfo {
  const a = m.attrs;
  const info: LinkInfo = {
    index: m.data.index ?? 0,
    name: a.ifname ?? '',
    mtu: a.mtu ?? 0,
    mac: formatMac(a.address),
    up: Boolean(m.data.flags?.up),
  };
  const kind = linkKindOf(a.linkinfo);
  if (kind) info.kind = kind;
  const type = linkTypeName(m.data.type);
  if (type) info.linkType = type;
  if (a.master) info.masterIndex = a.master;
  const parent = a.link && a.link.length >= 4 ? a.link.readUInt32LE(0) : 0;
  // A veth's IFLA_LINK is its peer's index in the peer's netns, which may equal its own.
  if (parent && (parent !== info.index || kind === 'veth')) info.parentIndex = parent;
  if (a.linkNetnsid !== undefined) info.parentNetnsId = a.linkNetnsid;
  if (a.ifalias) info.alias = a.ifalias;
  return info;
}

/** ARPHRD_* as the package parses it (its key, or a number it has no name for), lowercased. */
function linkTypeName(t: rt.Link['type']): string | undefined {
  if (t === undefined) return undefined;
  if (typeof t === 'string') return t.toLowerCase();
  return rt.LinkType[t]?.toLowerCase() ?? String(t);
}

/** Resolves names and encodes kind-specific data: [IFLA_LINKINFO payload, IFLA_LINK index?]. */
async function kindData(h: NlHandle, spec: CreateLinkSpec, op: string): Promise<[Buffer, number | undefined]> {
  const need = <T>(v: T | undefined, field: string): T => {
    if (v === undefined) throw new ConfigError(`${spec.kind} link ${spec.name} needs "${field}"`, field);
    return v;
  };
  switch (spec.kind) {
    case 'veth': {
      const v = need(spec.veth, 'veth');
      const peer = { name: v.peerName, netnsFd: v.peerNetnsFd, mac: v.peerMac, mtu: v.peerMtu ?? spec.mtu, up: v.peerUp, queues: spec.queues };
      return [linkInfo('veth', [vethPeer(peer)]), undefined];
    }
    case 'macvlan': {
      const m = need(spec.macvlan, 'macvlan');
      return [linkInfo('macvlan', macvlanData(m.mode)), await linkIndex(h, m.parent, op)];
    }
    case 'ipvlan': {
      const m = need(spec.ipvlan, 'ipvlan');
      return [linkInfo('ipvlan', ipvlanData(m.mode)), await linkIndex(h, m.parent, op)];
    }
    case 'vlan': {
      const m = need(spec.vlan, 'vlan');
      return [linkInfo('vlan', vlanData(m.id)), await linkIndex(h, m.parent, op)];
    }
    case 'vxlan': {
      const x = need(spec.vxlan, 'vxlan');
      const devIndex = x.dev === undefined ? undefined : await linkIndex(h, x.dev, op);
      const data = vxlanData({ vni: x.vni, port: x.port ?? 4789, local: x.local, devIndex, learning: x.learning });
      return [linkInfo('vxlan', data), undefined];
    }
    case 'bridge':
      return [linkInfo('bridge', bridgeData(spec.bridge ?? {})), undefined];
    case 'dummy':
    case 'ifb':
      return [linkInfo(spec.kind), undefined];
    default:
      throw new ConfigError(`unknown link kind "${String(spec.kind)}"`, 'kind');
  }
}

/**
 * Creates a link in h's netns, or directly in spec.netnsFd; a veth peer goes to
 * spec.veth.peerNetnsFd. Fails with KernelError EEXIST (17) when the name is taken.
 * The caller deletes the link (deleteLink) or the netns it lives in.
 */
export async function createLink(h: NlHandle, spec: CreateLinkSpec): Promise<void> {
  const op = `create link ${spec.name} (${spec.kind})`;
  if (spec.master !== undefined && spec.netnsFd !== undefined) {
    throw new ConfigError(`${op}: master and netnsFd cannot be combined`, 'master');
  }
  const [info, parent] = await kindData(h, spec, op);
  const attrs: ifla.LinkAttrs = { ifname: spec.name, linkinfo: info };
  if (spec.mtu !== undefined) attrs.mtu = spec.mtu;
  if (spec.mac !== undefined) attrs.address = parseMac(spec.mac);
  if (spec.queues !== undefined) Object.assign(attrs, queueAttrs(spec.queues));
  if (spec.master !== undefined) attrs.master = typeof spec.master === 'number' ? spec.master : await linkIndex(h, spec.master, op);
  if (spec.netnsFd !== undefined) attrs.netNsFd = spec.netnsFd;
  if (parent !== undefined) attrs.link = u32(parent);
  const data: rt.Link = spec.up ? { flags: { up: true }, change: { up: true } } : {};
  try {
    await request(h, op, NEWLINK, linkMessage(data, attrs), FlagsNew.CREATE | FlagsNew.EXCL);
  } catch (err) {
    if (err instanceof KernelError && err.errno === EOPNOTSUPP) {
      throw new KernelError(op, EOPNOTSUPP, err.errnoCode, `Unknown device type (this kernel has no ${spec.kind} support)`);
    }
    throw err;
  }
}

/** Deletes a link in h's netns (a veth takes its peer along). false when it was already gone. */
export async function deleteLink(h: NlHandle, name: string): Promise<boolean> {
  const res = await requestOr(h, `delete link ${name}`, rt.MessageType.DELLINK, linkMessage({}, { ifname: name }), 0, [ENODEV]);
  return res !== undefined;
}

/**
 * Takes a link out of service without waiting for its deletion: released from its bridge
 * (when `enslaved`: the bridge's per-port work is done now, by the caller, rather than under
 * the rtnl lock of the later delete, where it would stall other requests), down, renamed to
 * `newName` (its name is free again at once) and put in link `group` for deleteLinkGroup.
 * Found by ifindex in h's netns; pipelined requests. false when it is already gone.
 */
export async function retireLink(h: NlHandle, index: number, newName: string, group: number, enslaved = false): Promise<boolean> {
  const op = `retire link ${index} as ${newName}`;
  const set = (data: rt.Link, attrs: ifla.LinkAttrs) => requestOr(h, op, SETLINK, linkMessage({ index, ...data }, attrs), 0, [ENODEV]);
  const results = await Promise.all([
    ...(enslaved ? [set({}, { master: 0 })] : []),
    set({ flags: {}, change: { up: true } }, {}),
    set({}, { ifname: newName, group }),
  ]);
  return results.every((r) => r !== undefined);
}

/** Puts a link (by ifindex, in h's netns) in link `group`, nothing else. false when it is gone. */
export async function setLinkGroup(h: NlHandle, index: number, group: number): Promise<boolean> {
  const res = await requestOr(h, `set link ${index} group ${group}`, SETLINK, linkMessage({ index }, { group }), 0, [ENODEV]);
  return res !== undefined;
}

/**
 * Deletes every link of `group` in h's netns in one request: the kernel unregisters them as
 * one batch, so its closing RCU barrier (~15 ms, paid by the sender) is paid once per batch.
 * Resolves to false when the group has no link.
 */
export async function deleteLinkGroup(h: NlHandle, group: number): Promise<boolean> {
  const res = await requestOr(h, `delete link group ${group}`, rt.MessageType.DELLINK, linkMessage({}, { group }), 0, [ENODEV]);
  return res !== undefined;
}

/** The link called `name` in h's netns, or undefined. */
export async function getLink(h: NlHandle, name: string): Promise<LinkInfo | undefined> {
  const m = await getLinkMessage(h, name, `get link ${name}`);
  return m ? toLinkInfo(m) : undefined;
}

/** Every link in h's netns. */
export async function listLinks(h: NlHandle): Promise<LinkInfo[]> {
  const msgs = await request(h, 'list links', rt.MessageType.GETLINK, linkMessage({}, {}), FlagsGet.DUMP);
  return msgs.flatMap((m) => (m.kind === 'link' ? [toLinkInfo(m)] : []));
}

/** Sets attributes of an existing link, found by name in h's netns. */
async function setLink(h: NlHandle, op: string, name: string, data: rt.Link, attrs: ifla.LinkAttrs): Promise<void> {
  await request(h, op, SETLINK, linkMessage(data, { ...attrs, ifname: name }));
}

/** Brings a link in h's netns up or down. */
export async function setLinkUp(h: NlHandle, name: string, up: boolean): Promise<void> {
  const flags = up ? { up: true as const } : {};
  await setLink(h, `set link ${name} ${up ? 'up' : 'down'}`, name, { flags, change: { up: true } }, {});
}

/** Turns promiscuous mode of a link in h's netns on or off. */
export async function setLinkPromisc(h: NlHandle, name: string, on: boolean): Promise<void> {
  const flags = on ? { promisc: true as const } : {};
  await setLink(h, `set link ${name} promisc ${on ? 'on' : 'off'}`, name, { flags, change: { promisc: true } }, {});
}

/** Sets the MTU of a link in h's netns. */
export async function setLinkMtu(h: NlHandle, name: string, mtu: number): Promise<void> {
  await setLink(h, `set link ${name} mtu ${mtu}`, name, {}, { mtu });
}

/** Sets the alias (IFLA_IFALIAS) of a link in h's netns; '' removes it. The kernel ignores an alias given at creation. */
export async function setLinkAlias(h: NlHandle, name: string, alias: string): Promise<void> {
  await setLink(h, `set link ${name} alias ${alias}`, name, {}, { ifalias: alias });
}

/** Sets the MAC address of a link in h's netns. */
export async function setLinkMac(h: NlHandle, name: string, mac: string): Promise<void> {
  await setLink(h, `set link ${name} address ${mac}`, name, {}, { address: parseMac(mac) });
}

/** Enslaves a link to a bridge in h's netns (null releases it). */
export async function setLinkMaster(h: NlHandle, name: string, master: string | null): Promise<void> {
  const op = `set link ${name} master ${master ?? 'none'}`;
  const index = master === null ? 0 : await linkIndex(h, master, op);
  await setLink(h, op, name, {}, { master: index });
}

/** Renames a link in h's netns (the kernel refuses while it is up: EBUSY). */
export async function renameLink(h: NlHandle, name: string, newName: string): Promise<void> {
  const op = `rename link ${name} to ${newName}`;
  const index = await linkIndex(h, name, op);
  await request(h, op, SETLINK, linkMessage({ index }, { ifname: newName }));
}

/** Moves a link from h's netns into the netns behind nsFd (the caller keeps nsFd open until this resolves). */
export async function moveLinkToNetns(h: NlHandle, name: string, nsFd: number): Promise<void> {
  await setLink(h, `move link ${name} to netns fd ${nsFd}`, name, {}, { netNsFd: nsFd });
}

/** Turns hairpin mode on a bridge port in h's netns on or off (IFLA_BRPORT_MODE), optionally bringing it up. */
export async function setBridgePortHairpin(h: NlHandle, name: string, on: boolean, opts: { up?: boolean } = {}): Promise<void> {
  // RTM_NEWLINK on an existing link by name with bridge slave data: one request, no lookup;
  // the same request can bring the port up (do_setlink applies flags and slave data).
  const data: rt.Link = opts.up ? { flags: { up: true }, change: { up: true } } : {};
  await request(h, `set bridge port ${name} hairpin ${on ? 'on' : 'off'}${opts.up ? ' up' : ''}`, NEWLINK, linkMessage(data, { ifname: name, linkinfo: bridgeSlaveHairpin(on) }));
}
