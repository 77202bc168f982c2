/**
 * Configuration inside a sandbox netns shared by the drivers: addresses, link up,
 * default routes. Runs over a netlink socket opened inside the netns (core/netns).
 * Nothing here needs its own undo: the caller's undo deletes the interface, and the
 * kernel drops its addresses and routes with it.
 */
import * as nl from '../core/netlink/index.js';
import { openNetns, closeNetns, netlinkIn } from '../core/netns/index.js';
import { ConflictError } from '../core/index.js';
import type { EndpointAddress, EndpointPlan } from './types.js';
import type { UndoStack } from './undo.js';

/** In netns `fd`: addresses on `ifname`, link up, a default route per family with a gateway. */
export async function configureInterface(fd: number, ifname: string, addrs: EndpointAddress[], undo: UndoStack): Promise<void> {
  const h = netlinkIn(fd);
  try {
    for (const a of addrs) await undo.step(`add address ${a.family === 4 ? 'v4' : 'v6'}`, () => nl.addAddr(h, ifname, a.cidr, { noDad: true }));
    await undo.step('set link up', () => nl.setLinkUp(h, ifname, true));
    for (const a of addrs) {
      const gateway = a.gateway;
      if (!gateway) continue;
      // A sandbox on several networks keeps the default route of the first one (as Docker);
      // the route goes away with its interface, so it needs no undo of its own.
      const routes = await nl.listRoutes(h, a.family);
      if (routes.some((r) => r.dst === 'default')) continue;
      await undo.step(`add default route ${a.family === 4 ? 'v4' : 'v6'}`, () => nl.addRoute(h, { dst: 'default', family: a.family, gateway, dev: ifname }));
    }
  } finally {
    h.close();
  }
}

/** In the sandbox netns at `path`: the interface exists with the planned MAC and addresses. */
export async function checkInterface(path: string, ifname: string, ep: EndpointPlan): Promise<void> {
  const fd = openNetns(path);
  const h = netlinkIn(fd);
  try {
    const link = await nl.getLink(h, ifname);
    if (!link) throw new ConflictError(`interface ${ifname} is missing in ${path}`);
    if (link.mac.toLowerCase() !== ep.mac.toLowerCase()) throw new ConflictError(`interface ${ifname} has MAC ${link.mac}, expected ${ep.mac}`);
    const have = new Set((await nl.listAddrs(h, ifname)).map((a) => a.cidr));
    for (const a of ep.addresses) if (!have.has(a.cidr)) throw new ConflictError(`interface ${ifname} lacks address ${a.cidr}`);
  } finally {
    h.close();
    closeNetns(fd);
  }
}
