/**
 * Pure encoders for the nftables netlink messages PortMap sends (NETLINK_NETFILTER,
 * subsystem NFNL_SUBSYS_NFTABLES): set-element add/delete messages and the
 * NFNL_MSG_BATCH_BEGIN / NFNL_MSG_BATCH_END frame around them, plus the key/data bytes of
 * a port mapping in tsnet's maps. Byte layouts match what `nft --debug=mnl` sends.
 * No I/O, no netns.
 */
import { isIP } from 'node:net';
import { ConfigError } from '../errors.js';
import { formatIp, parseIp } from '../netlink/index.js';
import {
  nfgenmsg, nlattr, NFNL_SUBSYS_NFTABLES, NLM_F_ACK, NLM_F_CREATE, NLM_F_REQUEST,
  type BatchMessage,
} from '../netlink/nfnetlink.js';

// The batch framing and the socket live in core/netlink (the only user of the netlink package).
export { encodeBatch, parseErrorPayload, nlmsg, NLM_F_EXCL, NETLINK_NETFILTER, NFNL_SUBSYS_NFTABLES, NFNL_MSG_BATCH_BEGIN, NFNL_MSG_BATCH_END, NLMSG_ERROR, NLM_F_ACK, NLM_F_CREATE, NLM_F_REQUEST, type BatchMessage } from '../netlink/nfnetlink.js';

export const NFT_MSG_NEWSETELEM = 12;
export const NFT_MSG_DELSETELEM = 14;
const NFPROTO_INET = 1;

// enum nft_set_elem_list_attributes / nft_set_elem_attributes / nft_data_attributes
const NFTA_SET_ELEM_LIST_TABLE = 1;
const NFTA_SET_ELEM_LIST_SET = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS = 3;
const NFTA_LIST_ELEM = 1;
const NFTA_SET_ELEM_KEY = 1;
const NFTA_SET_ELEM_DATA = 2;
const NFTA_DATA_VALUE = 1;

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
/** The address's bytes (4 or 16), as core/netlink encodes them; ConfigError naming `field`. */
export function ipBytes(ip: string, field: string): Buffer {
  if (isIP(ip) === 0 || ip.includes('%')) throw new ConfigError(`${field} ${JSON.stringify(ip)} is not an IP address`, field);
  return parseIp(ip, field).bytes;
}

export { formatIp };

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

function cstr(s: string): Buffer {
  return Buffer.from(`${s}\0`);
}

export type ElementOp = 'add' | 'delete';

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

