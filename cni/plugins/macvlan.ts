/**
 * tsnet-macvlan: the reference `macvlan` plugin's configuration on tsnet's macvlan driver. A
 * CNI network is the tsnet network "cni-macvlan-<name>" on `master` (default: the host's
 * default-route interface); the macvlan is created directly in CNI_NETNS. Addresses come
 * from the `ipam` block (tsnet-ipam / host-local fields) in-process; routes only from
 * ipam.routes, as the reference plugin. Host netns: nothing but the parent's lookup.
 */
import * as nl from '../../core/netlink/index.js';
import { checkIfname, parseMtu } from '../../drivers/index.js';
import { baseSchema, compileSchema, dnsSchema, invalid, unsupported, validate, type BaseConf } from '../skel/config.js';
import type { CniPlugin, PluginRequest } from '../skel/dispatch.js';
import type { CniResult } from '../skel/result.js';
import type { CniHost } from './common.js';
import { ipamSchema, type IpamConf } from './ipam-conf.js';
import { IPAM_TYPES, attachMain, attachmentVerbs, wrap } from './main-common.js';

export interface MacvlanConf extends BaseConf {
  master?: string;
  mode?: string;
  mtu?: number;
  mac?: string;
  linkInContainer?: boolean;
  /** tsnet's own: IPv6 off on the container interface when it gets no IPv6 address (default false). */
  ipv6OffWithoutAddress?: boolean;
  ipam: IpamConf;
}

const MODES = ['bridge', 'private', 'vepa', 'passthru'];
const schema = {
  allOf: [baseSchema, {
    type: 'object',
    properties: {
      master: { type: 'string' }, mode: { type: 'string' }, mtu: { type: 'integer' }, mac: { type: 'string' },
      linkInContainer: { type: 'boolean' }, ipv6OffWithoutAddress: { type: 'boolean' }, ipam: ipamSchema, dns: dnsSchema,
    },
  }],
};
const KIND = 'macvlan';
let compiled: ReturnType<typeof compileSchema> | undefined;

export function parseMacvlanConf(raw: Record<string, unknown>): MacvlanConf {
  compiled ??= compileSchema(schema);
  const c = validate<MacvlanConf>(compiled, raw);
  if (c.linkInContainer) throw unsupported('linkInContainer', true, 'the master must be in the host netns');
  if (c.mode === 'source') throw unsupported('mode', c.mode, 'macvlan source mode is not supported');
  if (c.mode !== undefined && !MODES.includes(c.mode)) throw invalid('mode', `"${c.mode}" is not one of ${MODES.join(', ')}`);
  if (c.master !== undefined) wrap('master', () => checkIfname(c.master ?? '', 'master'));
  if (c.mtu !== undefined) wrap('mtu', () => parseMtu(c.mtu ?? 0, 'mtu'));
  if (!c.ipam?.type) throw unsupported('ipam', c.ipam ?? null, 'tsnet-macvlan needs an ipam block of type tsnet-ipam or host-local');
  if (!IPAM_TYPES.includes(c.ipam.type)) throw unsupported('ipam.type', c.ipam.type, `tsnet-macvlan allocates in-process; use ${IPAM_TYPES.join(' or ')}`);
  return c;
}

/** The host's default-route interface (the reference plugin's default master); code 7 when there is none. */
async function defaultMaster(): Promise<string> {
  const h = nl.hostNetlink();
  // IPv4's default route first, else IPv6's (an IPv6-only host), as the reference looks at both.
  const routes = [...await nl.listRoutes(h, 4), ...await nl.listRoutes(h, 6)];
  const def = routes.find((r) => r.dst === 'default' && r.dev !== undefined);
  const dev = def?.dev;
  if (dev === undefined) throw invalid('master', 'no master given and the host has no default route to take it from');
  if (typeof dev === 'string') return dev;
  const link = (await nl.listLinks(h)).find((l) => l.index === dev);
  if (!link) throw invalid('master', 'the default route\'s interface vanished');
  return link.name;
}

async function add(req: PluginRequest<MacvlanConf>, host: CniHost): Promise<CniResult> {
  const c = req.conf;
  const { env } = req;
  const master = c.master ?? (await defaultMaster());
  const { ep, routes, dns } = await attachMain(req, host, {
    kind: KIND, driver: 'macvlan', options: { parent: master, mode: c.mode ?? 'bridge', ...(c.mtu ? { mtu: String(c.mtu) } : {}) },
  }, false);
  return {
    interfaces: [{ name: env.ifname, mac: ep.mac, ...(c.mtu ? { mtu: c.mtu } : {}), sandbox: env.netns }],
    ips: ep.addresses.map((a) => ({ address: a.cidr, ...(a.gateway ? { gateway: a.gateway } : {}), interface: 0 })),
    routes,
    ...(dns ? { dns } : {}),
  };
}

export const macvlanPlugin: CniPlugin<MacvlanConf, CniHost> = {
  name: 'tsnet-macvlan',
  knownArgs: ['IP', 'MAC'],
  parse: parseMacvlanConf,
  add,
  ...attachmentVerbs(KIND),
};
