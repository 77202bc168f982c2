/**
 * Configuration inside a sandbox netns shared by the drivers: addresses, link up,
 * default routes. Runs over a netlink socket opened inside the netns (core/netns).
 * Nothing here needs its own undo: the caller's undo deletes the interface, and the
 * kernel drops its addresses and routes with it.
 */
import * as nl from '../core/netlink/index.js';
import { openNetns, closeNetns, netlinkIn, sysctlSet, withNetlinkAt } from '../core/netns/index.js';
import { ConflictError, KernelError } from '../core/index.js';
import type { EndpointAddress, EndpointPlan, RouteRequest } from './types.js';
import type { UndoStack } from './undo.js';

/**
 * In netns `fd`: `ifname` without IPv6 when the plan says so, up (unless the driver created
 * it up), its addresses, and a default route per family with a gateway unless the sandbox
 * already has one (a sandbox on several networks keeps the first network's, as Docker does)
 * and the network is not internal, or exactly the plan's routes. Routes and addresses go away with the interface, so the
 * caller's undo (deleting the interface) covers them.
 */
export async function configureInterface(fd: number, ifname: string, ep: Pick<EndpointPlan, 'addresses' | 'routes' | 'ipv6Off' | 'dad' | 'noDefaultRoute'>, undo: UndoStack, bringUp: boolean): Promise<void> {
  const { addresses: addrs, routes } = ep;
  if (ep.ipv6Off) await undo.step('disable IPv6', () => disableIpv6(fd, ifname));
  const h = netlinkIn(fd);
  try {
    const link = await nl.getLink(h, ifname);
    if (!link) throw new ConflictError(`interface ${ifname} vanished from the sandbox`);
    // Sent back to back on one socket: the kernel applies them in this order (link up, then
    // addresses, then routes through them), and we wait for all the answers at once.
    const steps: Promise<unknown>[] = [];
    if (bringUp) steps.push(undo.step('set link up', () => nl.setLinkUp(h, ifname, true)));
    for (const a of addrs) steps.push(undo.step(`add address ${fam(a)}`, () => nl.addAddr(h, link.index, a.cidr, { noDad: !ep.dad })));
    if (routes) {
      for (const r of routes) steps.push(undo.step(`add route ${r.dst}`, () => addRequestedRoute(h, r, addrs, link.index)));
    } else if (!ep.noDefaultRoute) {
      for (const a of addrs) {
        const gateway = a.gateway;
        if (gateway) steps.push(undo.step(`add default route ${fam(a)}`, () => addDefaultRoute(h, a.family, gateway, link.index)));
      }
    }
    await settleAll(steps);
    const v6 = addrs.filter((a) => a.family === 6).map((a) => a.cidr);
    if (ep.dad && v6.length > 0) await undo.step('duplicate address detection', () => nl.waitForDad(h, link.index, v6, DAD_TIMEOUT_MS));
  } finally {
    h.close();
  }
}

/** How long an attach with `dad` waits for IPv6 DAD (the reference bridge plugin's 10 s). */
const DAD_TIMEOUT_MS = 10_000;

/**
 * disable_ipv6 on `ifname` in netns `fd` (the caller's without one); nothing to do where the
 * kernel made no IPv6 for it (moby's rule too): a kernel without IPv6, or an MTU below 1280.
 */
export function disableIpv6(fd: number | undefined, ifname: string): void {
  setIpv6Conf(fd, ifname, 'disable_ipv6', '1');
}

/** net.ipv6.conf.<ifname>.<key> in the netns of `fd` (host: undefined); nothing when the kernel has no IPv6 (ENOENT). */
export function setIpv6Conf(fd: number | undefined, ifname: string, key: string, value: string): void {
  try {
    sysctlSet(`net/ipv6/conf/${ifname}/${key}`, value, fd);
  } catch (err) {
    if (!(err instanceof KernelError && err.errnoCode === 'ENOENT')) throw err;
  }
}

/** Waits for every promise, then throws the first failure (none is left unobserved). */
export async function settleAll(ps: Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(ps);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

const fam = (a: EndpointAddress) => (a.family === 4 ? 'v4' : 'v6');

/**
 * A requested route (CNI `routes`); the gateway defaults to the endpoint's gateway of that
 * family. Appended, as the reference plugins do since 1.0: a sandbox on two networks whose
 * routes share a destination (two default gateways, a service CIDR on each) gets both, the
 * first one added in use. Only an identical route already there (EEXIST) is taken as done.
 */
async function addRequestedRoute(h: nl.NlHandle, r: RouteRequest, addrs: EndpointAddress[], dev: number): Promise<void> {
  const family: 4 | 6 = r.dst.includes(':') ? 6 : 4;
  const dst = r.dst === '0.0.0.0/0' || r.dst === '::/0' ? 'default' : r.dst;
  const gateway = r.gateway ?? addrs.find((a) => a.family === family)?.gateway;
  try {
    await nl.addRoute(h, { dst, family, dev, ...(gateway ? { gateway } : {}), ...(r.metric !== undefined ? { metric: r.metric } : {}) }, { append: true });
  } catch (err) {
    if (!(err instanceof KernelError && err.errnoCode === 'EEXIST')) throw err;
  }
}

/** Adds a default route unless one exists (EEXIST with NLM_F_EXCL: no dump needed). */
async function addDefaultRoute(h: nl.NlHandle, family: 4 | 6, gateway: string, dev: number): Promise<void> {
  try {
    await nl.addRoute(h, { dst: 'default', family, gateway, dev });
  } catch (err) {
    if (!(err instanceof KernelError && err.errno === 17)) throw err;
  }
}

/** In the sandbox netns at `path`: a default route of `family` via `gateway` on `ifname` unless one exists. */
export async function addDefaultRouteAt(path: string, ifname: string, family: 4 | 6, gateway: string): Promise<void> {
  await withNetlinkAt(path, async (h) => {
    const link = await nl.getLink(h, ifname);
    if (link) await addDefaultRoute(h, family, gateway, link.index);
  });
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
