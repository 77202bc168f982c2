/**
 * Pure encoders/decoders for the parts of rtnetlink the `netlink` package leaves raw:
 * IFLA_LINKINFO / IFLA_INFO_DATA per link kind, the veth peer (a nested ifinfomsg),
 * IFLA_PROTINFO for bridge ports, and MAC / IP / CIDR conversions. No I/O, no netns.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { Address6 } from 'ip-address';
import { AttrStream, rt, ifla } from 'netlink';
import { ConfigError } from '../errors.js';

export const NLA_F_NESTED = 0x8000;
export const AF_INET = 2;
export const AF_BRIDGE = 7;
export const AF_INET6 = 10;

// IFLA_LINKINFO nested attributes (linux/if_link.h)
const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
// per-kind IFLA_INFO_DATA attributes
const VETH_INFO_PEER = 1;
const IFLA_MACVLAN_MODE = 1;
const IFLA_IPVLAN_MODE = 1;
const IFLA_VLAN_ID = 1;
const IFLA_VXLAN = { ID: 1, LINK: 3, LOCAL: 4, LEARNING: 7, PORT: 15, LOCAL6: 17 } as const;
// bridge port (IFLA_PROTINFO nested, family AF_BRIDGE)
export const IFLA_PROTINFO = 12;
const IFLA_BRPORT_MODE = 4;
const IFLA_BR_MCAST_SNOOPING = 23;

export const MACVLAN_MODES = { private: 1, vepa: 2, bridge: 4, passthru: 8 } as const;
export const IPVLAN_MODES = { l2: 0, l3: 1, l3s: 2 } as const;
export type MacvlanMode = keyof typeof MACVLAN_MODES;
export type IpvlanMode = keyof typeof IPVLAN_MODES;

/** nlmsghdr types and flags shared by the rtnetlink and nfnetlink sockets. */
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLM_F_REQUEST = 0x1;
export const NLM_F_ACK = 0x4;

/**
 * One netlink message: nlmsghdr (port id 0: the kernel answers to the sending socket), then
 * the payload's parts written in place, padded to 4 bytes.
 */
export function nlmsg(type: number, flags: number, seq: number, payload: Uint8Array | Uint8Array[]): Buffer {
  const parts = Array.isArray(payload) ? payload : [payload];
  const len = parts.reduce((n, b) => n + b.length, 16);
  const out = Buffer.alloc((len + 3) & ~3);
  out.writeUInt32LE(len, 0);
  out.writeUInt16LE(type, 4);
  out.writeUInt16LE(flags, 6);
  out.writeUInt32LE(seq >>> 0, 8);
  let off = 16;
  for (const b of parts) {
    out.set(b, off);
    off += b.length;
  }
  return out;
}

/** One netlink attribute (header + payload + padding to 4 bytes). */
export function nlattr(type: number, payload: Uint8Array | Uint8Array[], nested = false): Buffer {
  const body = Buffer.concat(Array.isArray(payload) ? payload : [payload]);
  const len = 4 + body.length;
  const out = Buffer.alloc((len + 3) & ~3);
  out.writeUInt16LE(len, 0);
  out.writeUInt16LE(type | (nested ? NLA_F_NESTED : 0), 2);
  body.copy(out, 4);
  return out;
}

export const u8 = (v: number): Buffer => Buffer.from([v & 0xff]);
export const u16 = (v: number): Buffer => { const b = Buffer.alloc(2); b.writeUInt16LE(v); return b; };
export const u32 = (v: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32LE(v >>> 0); return b; };
export const be16 = (v: number): Buffer => { const b = Buffer.alloc(2); b.writeUInt16BE(v); return b; };
export const cstr = (s: string): Buffer => Buffer.from(`${s}\0`);

/** Appends already-encoded attributes to a stream the package built, keeping alignment. */
export function appendRaw(out: AttrStream, attrs: Buffer[]): void {
  const used = out.bufs.reduce((n, b) => n + b.length, 0);
  const pad = (4 - (used % 4)) % 4;
  if (pad) out.emit(Buffer.alloc(pad));
  for (const a of attrs) out.emit(a);
}

export function parseMac(mac: string, field = 'mac'): Buffer {
  if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(mac)) throw new ConfigError(`invalid MAC address "${mac}"`, field);
  return Buffer.from(mac.split(':').map((x) => parseInt(x, 16)));
}

export function formatMac(b: Uint8Array | undefined): string {
  if (!b) return '';
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':');
}

export interface ParsedIp { family: 4 | 6; bytes: Buffer; text: string }

export function parseIp(ip: string, field = 'ip'): ParsedIp {
  if (isIPv4(ip)) return { family: 4, bytes: Buffer.from(ip.split('.').map(Number)), text: ip };
  if (isIPv6(ip)) {
    const bytes = Buffer.from(new Address6(ip).toUnsignedByteArray());
    const full = Buffer.alloc(16);
    bytes.copy(full, 16 - bytes.length); // toUnsignedByteArray drops leading zero bytes
    return { family: 6, bytes: full, text: formatIp(full) };
  }
  throw new ConfigError(`invalid IP address "${ip}"`, field);
}

export function formatIp(b: Uint8Array): string {
  if (b.length === 4) return Array.from(b).join('.');
  if (b.length === 16) return Address6.fromUnsignedByteArray(Array.from(b)).correctForm();
  throw new ConfigError(`address of ${b.length} bytes`);
}

export interface ParsedCidr extends ParsedIp { prefixLen: number }

export function parseCidr(cidr: string, field = 'cidr'): ParsedCidr {
  const slash = cidr.indexOf('/');
  if (slash < 0) throw new ConfigError(`"${cidr}" is not in CIDR notation (addr/len)`, field);
  const ip = parseIp(cidr.slice(0, slash), field);
  const lenText = cidr.slice(slash + 1);
  const prefixLen = Number(lenText);
  const max = ip.family === 4 ? 32 : 128;
  if (!/^\d+$/.test(lenText) || prefixLen > max) throw new ConfigError(`invalid prefix length in "${cidr}"`, field);
  return { ...ip, prefixLen };
}

/** The v4 broadcast address of addr/len (undefined for /31 and /32, as the kernel treats them). */
export function broadcast4(addr: Buffer, prefixLen: number): Buffer | undefined {
  if (prefixLen >= 31) return undefined;
  const host = prefixLen === 0 ? 0xffffffff : (0xffffffff >>> prefixLen);
  return u32be((addr.readUInt32BE(0) | host) >>> 0);
}

/** Zeroes the host bits: network address of addr/len (routes need the canonical prefix). */
export function networkOf(addr: Buffer, prefixLen: number): Buffer {
  const out = Buffer.from(addr);
  for (let i = 0; i < out.length; i++) {
    const bits = Math.max(0, Math.min(8, prefixLen - i * 8));
    out[i] = (out[i] ?? 0) & ((0xff << (8 - bits)) & 0xff);
  }
  return out;
}

function u32be(v: number): Buffer { const b = Buffer.alloc(4); b.writeUInt32BE(v); return b; }

/** The peer of a veth: a struct ifinfomsg followed by link attributes (VETH_INFO_PEER). */
/** IFLA_NUM_TX_QUEUES and IFLA_NUM_RX_QUEUES, both `n` (the kernel refuses 0 and more than 4096: EINVAL). */
export function queueAttrs(n: number): { numTxQueues: number; numRxQueues: number } {
  return { numTxQueues: n, numRxQueues: n };
}

export function vethPeer(peer: { name: string; netnsFd?: number; mac?: string; mtu?: number; up?: boolean; queues?: number | undefined }): Buffer {
  const s = new AttrStream();
  // The kernel applies the peer's ifinfomsg flags after creating it: up in the same request.
  s.emit(rt.formatLink(peer.up ? { flags: { up: true }, change: { up: true } } : {}));
  const attrs: ifla.LinkAttrs = { ifname: peer.name };
  if (peer.netnsFd !== undefined) attrs.netNsFd = peer.netnsFd;
  if (peer.mac !== undefined) attrs.address = parseMac(peer.mac, 'veth.peerMac');
  if (peer.mtu !== undefined) attrs.mtu = peer.mtu;
  if (peer.queues !== undefined) Object.assign(attrs, queueAttrs(peer.queues));
  s.emit(ifla.formatLinkAttrs(attrs));
  return nlattr(VETH_INFO_PEER, s.bufs, true);
}

export interface VxlanData { vni: number; port: number; local?: string; devIndex?: number; learning?: boolean }

export function vxlanData(v: VxlanData): Buffer[] {
  if (!Number.isInteger(v.vni) || v.vni < 0 || v.vni > 0xffffff) throw new ConfigError(`invalid VNI ${v.vni}`, 'vxlan.vni');
  const out = [nlattr(IFLA_VXLAN.ID, u32(v.vni)), nlattr(IFLA_VXLAN.PORT, be16(v.port))];
  if (v.local !== undefined) {
    const ip = parseIp(v.local, 'vxlan.local');
    out.push(nlattr(ip.family === 4 ? IFLA_VXLAN.LOCAL : IFLA_VXLAN.LOCAL6, ip.bytes));
  }
  if (v.devIndex !== undefined) out.push(nlattr(IFLA_VXLAN.LINK, u32(v.devIndex)));
  if (v.learning !== undefined) out.push(nlattr(IFLA_VXLAN.LEARNING, u8(v.learning ? 1 : 0)));
  return out;
}

/** IFLA_INFO_DATA of a bridge: multicast snooping on or off (the kernel's default is on). */
export const bridgeData = (b: { mcastSnooping?: boolean }): Buffer[] =>
  b.mcastSnooping === undefined ? [] : [nlattr(IFLA_BR_MCAST_SNOOPING, u8(b.mcastSnooping ? 1 : 0))];
export const macvlanData = (mode: MacvlanMode): Buffer[] => [nlattr(IFLA_MACVLAN_MODE, u32(MACVLAN_MODES[mode]))];
export const ipvlanData = (mode: IpvlanMode): Buffer[] => [nlattr(IFLA_IPVLAN_MODE, u16(IPVLAN_MODES[mode]))];
export const vlanData = (id: number): Buffer[] => {
  if (!Number.isInteger(id) || id < 1 || id > 4094) throw new ConfigError(`invalid VLAN id ${id}`, 'vlan.id');
  return [nlattr(IFLA_VLAN_ID, u16(id))];
};

/** Payload of IFLA_LINKINFO: the kind and, when given, its IFLA_INFO_DATA. */
export function linkInfo(kind: string, data: Buffer[] = []): Buffer {
  const parts = [nlattr(IFLA_INFO_KIND, cstr(kind))];
  if (data.length) parts.push(nlattr(IFLA_INFO_DATA, data, true));
  return Buffer.concat(parts);
}

const IFLA_INFO_SLAVE_KIND = 4;
const IFLA_INFO_SLAVE_DATA = 5;

/**
 * Payload of IFLA_LINKINFO setting hairpin on a bridge port through RTM_NEWLINK by name
 * (`ip link set X type bridge_slave hairpin on`): no ifindex lookup needed.
 */
export function bridgeSlaveHairpin(on: boolean): Buffer {
  return Buffer.concat([
    nlattr(IFLA_INFO_SLAVE_KIND, cstr('bridge')),
    nlattr(IFLA_INFO_SLAVE_DATA, nlattr(IFLA_BRPORT_MODE, u8(on ? 1 : 0)), true),
  ]);
}

/** IFLA_PROTINFO (nested, as br_setlink requires) carrying IFLA_BRPORT_MODE = hairpin. */
export function bridgePortHairpin(on: boolean): Buffer {
  return nlattr(IFLA_PROTINFO, nlattr(IFLA_BRPORT_MODE, u8(on ? 1 : 0)), true);
}

/** Walks a stream of attributes; calls fn(type without flags, payload). */
export function eachAttr(buf: Buffer, fn: (type: number, data: Buffer) => void): void {
  let off = 0;
  while (off + 4 <= buf.length) {
    const len = buf.readUInt16LE(off);
    if (len < 4 || off + len > buf.length) break;
    fn(buf.readUInt16LE(off + 2) & 0x3fff, buf.subarray(off + 4, off + len));
    off += (len + 3) & ~3;
  }
}

/** IFLA_INFO_KIND from a raw IFLA_LINKINFO payload. */
export function linkKindOf(linkinfo: Buffer | undefined): string | undefined {
  if (!linkinfo) return undefined;
  let kind: string | undefined;
  eachAttr(linkinfo, (type, data) => {
    if (type === IFLA_INFO_KIND) kind = data.toString('utf8').replace(/\0+$/, '');
  });
  return kind;
}
