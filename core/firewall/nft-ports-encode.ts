/**
 * Pure encoders for the nftables netlink messages PortMap sends (NETLINK_NETFILTER,
 * subsystem NFNL_SUBSYS_NFTABLES): set-element add/delete messages and the
 * NFNL_MSG_BATCH_BEGIN / NFNL_MSG_BATCH_END frame around them, plus the key/data bytes of
 * a port mapping in tsnet's maps. Byte layouts match what `nft --debug=mnl` sends.
 * No I/O, no netns.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { Address6 } from 'ip-address';
import { ConfigError } from '../errors.js';

export const NETLINK_NETFILTER = 12;
export const NFNL_SUBSYS_NFTABLES = 10;
export const NFNL_MSG_BATCH_BEGIN = 0x10;
export const NFNL_MSG_BATCH_END = 0x11;
export const NFT_MSG_NEWSETELEM = 12;
export const NFT_MSG_DELSETELEM = 14;
export const NLMSG_ERROR = 2;

export const NLM_F_REQUEST = 0x1;
export const NLM_F_ACK = 0x4;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
export const NLM_F_CAPPED = 0x100;
export const NLM_F_ACK_TLVS = 0x200;

const NFPROTO_UNSPEC = 0;
const NFPROTO_INET = 1;
const NLA_F_NESTED = 0x8000;
// enum nft_set_elem_list_attributes / nft_set_elem_attributes / nft_data_attributes
const NFTA_SET_ELEM_LIST_TABLE = 1;
const NFTA_SET_ELEM_LIST_SET = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS = 3;
const NFTA_LIST_ELEM = 1;
const NFTA_SET_ELEM_KEY = 1;
const NFTA_SET_ELEM_DATA = 2;
const NFTA_DATA_VALUE = 1;
const NLMSGERR_ATTR_MSG = 1;

/** tsnet's nftables table (family inet) and its four DNAT maps. */
export const NFT_TABLE = 'tsnet';
export type MapName = 'dnat4' | 'dnat4ip' | 'dnat6' | 'dnat6ip';

/** A published port: host (proto, [hostIp,] hostPort) is DNAT'd to containerIp:containerPort. */
export interface NftPortMapping {
  proto: 'tcp' | 'udp';
  /** Host address to publish on; undefined, '', 0.0.0.0 or :: means every local address. */
  hostIp?: string;
  hostPort: number;
  containerIp: string;
  containerPort: number;
}

/** One map element: the map it lives in and its key/data bytes (concatenation layout). */
export interface MapElement {
  map: MapName;
  key: Buffer;
  data: Buffer;
}

const PROTO_NUMBER = { tcp: 6, udp: 17 } as const;

/** Pure: the map element for a mapping; ConfigError naming the bad field. */
export function mappingElement(m: NftPortMapping): MapElement {
  if (m.proto !== 'tcp' && m.proto !== 'udp') throw new ConfigError(`unsupported protocol ${String(m.proto)} (tcp or udp)`, 'proto');
  checkPort(m.hostPort, 'hostPort');
  checkPort(m.containerPort, 'containerPort');
  const container = ipBytes(m.containerIp, 'containerIp');
  const family = container.length === 4 ? 4 : 6;
  const proto = component(Buffer.from([PROTO_NUMBER[m.proto]]));
  const hostPort = component(be16(m.hostPort));
  const data = Buffer.concat([component(container), component(be16(m.containerPort))]);
  if (isAnyAddress(m.hostIp)) return { map: family === 4 ? 'dnat4' : 'dnat6', key: Buffer.concat([proto, hostPort]), data };
  const host = ipBytes(m.hostIp ?? '', 'hostIp');
  if (host.length !== container.length) {
    throw new ConfigError(`hostIp ${m.hostIp} is not an IPv${family} address like containerIp ${m.containerIp}`, 'hostIp');
  }
  return { map: family === 4 ? 'dnat4ip' : 'dnat6ip', key: Buffer.concat([proto, component(host), hostPort]), data };
}

/** Pure: the mapping an element of `map` encodes (inverse of mappingElement; canonical IPs). */
export function elementMapping(map: MapName, key: Buffer, data: Buffer): NftPortMapping {
  const v6 = map === 'dnat6' || map === 'dnat6ip';
  const ipLen = v6 ? 16 : 4;
  const protoNum = key[0];
  const proto = protoNum === 6 ? 'tcp' : protoNum === 17 ? 'udp' : undefined;
  if (!proto) throw new ConfigError(`element of ${map} has protocol ${String(protoNum)}`, 'proto');
  const withIp = map.endsWith('ip');
  const hostPort = key.readUInt16BE(withIp ? 4 + ipLen : 4);
  const m: NftPortMapping = {
    proto, hostPort, containerIp: formatIp(data.subarray(0, ipLen)), containerPort: data.readUInt16BE(ipLen),
  };
  if (withIp) m.hostIp = formatIp(key.subarray(4, 4 + ipLen));
  return m;
}

export function isAnyAddress(ip: string | undefined): boolean {
  return ip === undefined || ip === '' || ip === '0.0.0.0' || ip === '::';
}

function checkPort(port: number, field: string): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ConfigError(`${field} ${String(port)} is not a port (1-65535)`, field);
}

/** The 4 or 16 bytes of an IP address (network order); ConfigError naming `field`. */
export function ipBytes(ip: string, field: string): Buffer {
  if (isIPv4(ip)) return Buffer.from(ip.split('.').map(Number));
  if (isIPv6(ip) && !ip.includes('%')) {
    const bytes = Buffer.from(new Address6(ip).toUnsignedByteArray());
    const full = Buffer.alloc(16);
    bytes.copy(full, 16 - bytes.length); // leading zero bytes are dropped by the library
    return full;
  }
  throw new ConfigError(`${field} ${JSON.stringify(ip)} is not an IP address`, field);
}

export function formatIp(b: Buffer): string {
  if (b.length === 4) return Array.from(b).join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  return new Address6(groups.join(':')).correctForm();
}

function be16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v);
  return b;
}

/** A concatenation component: nftables pads each one to a multiple of 4 bytes. */
function component(b: Buffer): Buffer {
  const out = Buffer.alloc((b.length + 3) & ~3);
  b.copy(out);
  return out;
}

/** One netlink attribute, padded to 4 bytes. */
export function nlattr(type: number, payload: Buffer | Buffer[], nested = false): Buffer {
  const body = Array.isArray(payload) ? Buffer.concat(payload) : payload;
  const out = Buffer.alloc((4 + body.length + 3) & ~3);
  out.writeUInt16LE(4 + body.length, 0);
  out.writeUInt16LE(type | (nested ? NLA_F_NESTED : 0), 2);
  body.copy(out, 4);
  return out;
}

function cstr(s: string): Buffer {
  return Buffer.from(`${s}\0`);
}

/** struct nfgenmsg: family, version NFNETLINK_V0, res_id (big endian). */
function nfgenmsg(family: number, resId: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt8(family, 0);
  b.writeUInt16BE(resId, 2);
  return b;
}

/** One netlink message: nlmsghdr (port id 0: the kernel answers to the sending socket). */
export function nlmsg(type: number, flags: number, seq: number, payload: Buffer): Buffer {
  const out = Buffer.alloc(16 + ((payload.length + 3) & ~3));
  out.writeUInt32LE(16 + payload.length, 0);
  out.writeUInt16LE(type, 4);
  out.writeUInt16LE(flags, 6);
  out.writeUInt32LE(seq >>> 0, 8);
  payload.copy(out, 16);
  return out;
}

export type ElementOp = 'add' | 'delete';

/** A message of a batch before sequence numbers are assigned. */
export interface BatchMessage {
  type: number;
  flags: number;
  payload: Buffer;
}

/**
 * Pure: NFT_MSG_NEWSETELEM (NLM_F_CREATE without NLM_F_EXCL: an element that exists with
 * the same data is accepted) or NFT_MSG_DELSETELEM (key only) for one element, NLM_F_ACK
 * set so the kernel answers every message.
 */
export function elementMessage(op: ElementOp, el: MapElement, table = NFT_TABLE): BatchMessage {
  const attrs = [nlattr(NFTA_SET_ELEM_KEY, nlattr(NFTA_DATA_VALUE, el.key), true)];
  if (op === 'add') attrs.push(nlattr(NFTA_SET_ELEM_DATA, nlattr(NFTA_DATA_VALUE, el.data), true));
  const payload = Buffer.concat([
    nfgenmsg(NFPROTO_INET, 0),
    nlattr(NFTA_SET_ELEM_LIST_TABLE, cstr(table)),
    nlattr(NFTA_SET_ELEM_LIST_SET, cstr(el.map)),
    nlattr(NFTA_SET_ELEM_LIST_ELEMENTS, nlattr(NFTA_LIST_ELEM, attrs, true), true),
  ]);
  const type = (NFNL_SUBSYS_NFTABLES << 8) | (op === 'add' ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM);
  const flags = NLM_F_REQUEST | NLM_F_ACK | (op === 'add' ? NLM_F_CREATE : 0);
  return { type, flags, payload };
}

/**
 * Pure: one datagram holding BATCH_BEGIN, the messages, BATCH_END (res_id
 * NFNL_SUBSYS_NFTABLES), numbered from `firstSeq`. Returns the bytes and the sequence
 * numbers: begin, one per message (in order), end.
 */
export function encodeBatch(msgs: readonly BatchMessage[], firstSeq: number): { bytes: Buffer; begin: number; seqs: number[]; end: number } {
  const frame = nfgenmsg(NFPROTO_UNSPEC, NFNL_SUBSYS_NFTABLES);
  const seqAt = (i: number) => ((firstSeq + i - 1) % 0xffffffff) + 1; // 1..2^32-1, wraps past 0
  const begin = seqAt(0);
  const seqs = msgs.map((_, i) => seqAt(i + 1));
  const end = seqAt(msgs.length + 1);
  const bytes = Buffer.concat([
    nlmsg(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, begin, frame),
    ...msgs.map((m, i) => nlmsg(m.type, m.flags, seqs[i] ?? 0, m.payload)),
    nlmsg(NFNL_MSG_BATCH_END, NLM_F_REQUEST, end, frame),
  ]);
  return { bytes, begin, seqs, end };
}

/** Pure: the payload of an NLMSG_ERROR message: errno (positive, 0 = ACK) and the kernel's
 * extended-ACK text when it sent one. */
export function parseErrorPayload(data: Buffer, flags: number): { errno: number; text?: string } {
  if (data.length < 4) return { errno: 5 };
  const errno = -data.readInt32LE(0);
  if (!(flags & NLM_F_ACK_TLVS) || data.length < 20) return { errno };
  // struct nlmsgerr: error, then the request's header (and, unless capped, its payload).
  let off = 4 + ((flags & NLM_F_CAPPED) ? 16 : data.readUInt32LE(4));
  while (off + 4 <= data.length) {
    const len = data.readUInt16LE(off);
    const type = data.readUInt16LE(off + 2) & ~NLA_F_NESTED;
    if (len < 4 || off + len > data.length) break;
    if (type === NLMSGERR_ATTR_MSG) return { errno, text: data.subarray(off + 4, off + len).toString().replace(/\0+$/, '') };
    off += (len + 3) & ~3;
  }
  return { errno };
}
