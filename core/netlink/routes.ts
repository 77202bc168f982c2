/**
 * Routes (main table by default). Every function acts in the netns of the handle `h`.
 * The caller removes what it adds (delRoute), or deletes the link/netns they hang off.
 */
import { AttrStream, FlagsGet, FlagsNew, rt } from 'netlink';
import { ConfigError } from '../errors.js';
import { AF_INET, AF_INET6, formatIp, networkOf, parseCidr, parseIp } from './encode.js';
import { linkIndex, listLinks } from './links.js';
import { request, requestOr, type NlHandle } from './socket.js';

export interface RouteSpec {
  /** A CIDR or 'default'. */
  dst: string;
  family?: 4 | 6;
  gateway?: string;
  /** Output device by name, or by ifindex (saves a lookup when the caller knows it). */
  dev?: string | number;
  table?: number;
  scope?: 'universe' | 'link' | 'host';
  metric?: number;
}

/** The main routing table (the one listRoutes lists). */
export const RT_TABLE_MAIN = 254;
const ENETUNREACH = 101;
const EHOSTUNREACH = 113;
const EINVAL = 22;
const RTPROT_BOOT = 3;
const RTN_UNICAST = 1;
const SCOPES = { universe: 0, link: 253, host: 254 } as const;
const SCOPE_NOWHERE = 255;
const ESRCH = 3;
const ENODEV = 19;

function routeFamily(r: RouteSpec): 4 | 6 {
  const fromDst = r.dst === 'default' ? undefined : parseCidr(r.dst, 'dst').family;
  const fromGw = r.gateway === undefined ? undefined : parseIp(r.gateway, 'gateway').family;
  const family = r.family ?? fromDst ?? fromGw ?? 4;
  if ((fromDst && fromDst !== family) || (fromGw && fromGw !== family)) {
    throw new ConfigError(`route ${r.dst}: mixed address families`, 'gateway');
  }
  return family;
}

/**
 * Pure: the RTM_NEWROUTE/DELROUTE body. Scope defaults as iproute2 does: link for a v4
 * route without gateway, universe otherwise; deletes match any scope.
 */
export function routeMessage(r: RouteSpec, oif: number | undefined, forDelete: boolean): Uint8Array[] {
  const family = routeFamily(r);
  const table = r.table ?? RT_TABLE_MAIN;
  const data: rt.Route = { family: family === 4 ? AF_INET : AF_INET6, table: table < 256 ? table : 0, type: RTN_UNICAST };
  const attrs: rt.RouteAttrs = {};
  if (r.dst !== 'default') {
    const d = parseCidr(r.dst, 'dst');
    data.dstLen = d.prefixLen;
    attrs.dst = networkOf(d.bytes, d.prefixLen);
  } else {
    data.dstLen = 0;
  }
  if (r.gateway !== undefined) attrs.gateway = parseIp(r.gateway, 'gateway').bytes;
  if (oif !== undefined) attrs.oif = oif;
  if (r.metric !== undefined) attrs.priority = r.metric;
  if (table >= 256) attrs.table = table;
  if (forDelete) {
    data.scope = r.scope === undefined ? SCOPE_NOWHERE : SCOPES[r.scope];
  } else {
    data.protocol = RTPROT_BOOT;
    data.scope = SCOPES[r.scope ?? (family === 4 && r.gateway === undefined ? 'link' : 'universe')];
  }
  const out = new AttrStream();
  rt.formatRouteMessage({ kind: 'route', data, attrs }, out);
  return out.bufs;
}

const describe = (r: RouteSpec): string =>
  `${r.dst}${r.gateway ? ` via ${r.gateway}` : ''}${r.dev ? ` dev ${r.dev}` : ''}${r.table ? ` table ${r.table}` : ''}`;

/**
 * Adds a route in h's netns. EEXIST (17) when a route to the same destination with the same
 * metric exists, or with `append` (`ip route append`) only when an identical one does: the
 * new one is then listed after the others (IPv4: used once they are gone; IPv6: another
 * nexthop of the route).
 */
export async function addRoute(h: NlHandle, r: RouteSpec, opts: { append?: boolean } = {}): Promise<void> {
  const op = `${opts.append ? 'append' : 'add'} route ${describe(r)}`;
  const oif = r.dev === undefined ? undefined : typeof r.dev === 'number' ? r.dev : await linkIndex(h, r.dev, op);
  const flags = FlagsNew.CREATE | (opts.append ? FlagsNew.APPEND : FlagsNew.EXCL);
  await request(h, op, rt.MessageType.NEWROUTE, routeMessage(r, oif, false), flags);
}

/** Deletes a route in h's netns. false when it (or its dev) was already gone. */
export async function delRoute(h: NlHandle, r: RouteSpec): Promise<boolean> {
  const op = `delete route ${describe(r)}`;
  let oif: number | undefined;
  try {
    oif = r.dev === undefined ? undefined : typeof r.dev === 'number' ? r.dev : await linkIndex(h, r.dev, op);
  } catch (err) {
    if ((err as { errno?: number }).errno === ENODEV) return false;
    throw err;
  }
  const res = await requestOr(h, op, rt.MessageType.DELROUTE, routeMessage(r, oif, true), 0, [ESRCH]);
  return res !== undefined;
}

const scopeName = (s: number): RouteSpec['scope'] | undefined =>
  s === 0 ? 'universe' : s === 253 ? 'link' : s === 254 ? 'host' : undefined;

/**
 * Whether h's netns delivers `ip` to itself (`ip route get`: a route of type local: its own
 * addresses, 127.0.0.0/8, ::1, AnyIP prefixes), as nftables' `fib daddr type local` decides.
 * One request, whatever the size of the routing tables; no route (ENETUNREACH...) is not local.
 */
export async function isLocalAddress(h: NlHandle, ip: string): Promise<boolean> {
  const a = parseIp(ip, 'ip');
  const out = new AttrStream();
  rt.formatRouteMessage({ kind: 'route', data: { family: a.family === 4 ? AF_INET : AF_INET6, dstLen: a.family === 4 ? 32 : 128 }, attrs: { dst: a.bytes } }, out);
  const msgs = await requestOr(h, `get route to ${a.text}`, rt.MessageType.GETROUTE, out.bufs, 0, [ENETUNREACH, EHOSTUNREACH, EINVAL]);
  return msgs?.some((m) => m.kind === 'route' && m.data.type === 'LOCAL') ?? false;
}

/** Unicast routes of the main table in h's netns, for one family. */
export async function listRoutes(h: NlHandle, family: 4 | 6): Promise<(RouteSpec & { protocol: number })[]> {
  const names = new Map((await listLinks(h)).map((l) => [l.index, l.name]));
  const out = new AttrStream();
  rt.formatRouteMessage({ kind: 'route', data: { family: family === 4 ? AF_INET : AF_INET6 }, attrs: {} }, out);
  const msgs = await request(h, `list routes (IPv${family})`, rt.MessageType.GETROUTE, out.bufs, FlagsGet.DUMP);
  const result: (RouteSpec & { protocol: number })[] = [];
  for (const m of msgs) {
    if (m.kind !== 'route') continue;
    const table = m.attrs.table ?? m.data.table;
    if (table !== RT_TABLE_MAIN || m.data.type !== 'UNICAST') continue;
    const route: RouteSpec & { protocol: number } = {
      dst: m.attrs.dst ? `${formatIp(m.attrs.dst)}/${m.data.dstLen ?? 0}` : 'default',
      family,
      table,
      protocol: typeof m.data.protocol === 'number' ? m.data.protocol : (rt.RouteProtocol[m.data.protocol ?? 'KERNEL'] ?? 0),
    };
    if (m.attrs.gateway) route.gateway = formatIp(m.attrs.gateway);
    const dev = m.attrs.oif === undefined ? undefined : names.get(m.attrs.oif);
    if (dev !== undefined) route.dev = dev;
    const scope = scopeName(typeof m.data.scope === 'number' ? m.data.scope : rt.RouteScope[m.data.scope ?? 'UNIVERSE']);
    if (scope) route.scope = scope;
    if (m.attrs.priority !== undefined) route.metric = m.attrs.priority;
    result.push(route);
  }
  return result;
}
