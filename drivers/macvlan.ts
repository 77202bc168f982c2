/**
 * macvlan: a macvlan sub-interface of a parent link in the host netns, created directly
 * inside the sandbox netns under its final name (IFLA_NET_NS_FD), so the host never sees it.
 * The container's traffic leaves through the parent; there is no bridge and no NAT.
 */
import * as nl from '../core/netlink/index.js';
import { openNetns, closeNetns, isNetns, withNetlinkAt } from '../core/netns/index.js';
import { removeLinkIn, settleRetired } from '../core/link-reaper/index.js';
import { ConfigError, ConflictError, KernelError } from '../core/index.js';
import { checkIfname, parseMtu, pick, rejectUnknown } from './options.js';
import { checkInterface, configureInterface } from './configure.js';
import type { Driver } from './types.js';

export type MacvlanMode = 'bridge' | 'private' | 'vepa' | 'passthru';
const MODES: readonly MacvlanMode[] = ['bridge', 'private', 'vepa', 'passthru'];

export interface MacvlanOptions {
  parent: string;
  mode: MacvlanMode;
  mtu?: number;
}

const KNOWN = ['parent', 'macvlan_mode', 'mode', 'com.docker.network.driver.mtu', 'mtu'] as const;

export const macvlanDriver: Driver<MacvlanOptions> = {
  name: 'macvlan',
  retiresInSandbox: true,

  parseOptions(raw) {
    rejectUnknown(raw, KNOWN, 'macvlan');
    const parent = pick(raw, 'parent');
    if (!parent) throw new ConfigError('macvlan needs a "parent" interface', 'parent');
    const mode = pick(raw, 'macvlan_mode', 'mode');
    if (mode && !MODES.includes(mode[1] as MacvlanMode)) {
      throw new ConfigError(`${mode[0]}: "${mode[1]}" is not one of ${MODES.join(', ')}`, mode[0]);
    }
    const mtu = pick(raw, 'com.docker.network.driver.mtu', 'mtu');
    return {
      parent: checkIfname(parent[1], 'parent'),
      mode: (mode?.[1] ?? 'bridge') as MacvlanMode,
      ...(mtu ? { mtu: parseMtu(mtu[1], mtu[0]) } : {}),
    };
  },

  async ensureNetwork(net) {
    const parent = await nl.getLink(nl.hostNetlink(), net.options.parent);
    if (!parent) throw new ConfigError(`parent interface "${net.options.parent}" not found`, 'parent');
    // The kernel makes a macvlan only on an Ethernet device that is not loopback (EINVAL at
    // the first attach otherwise): said at create, naming what the parent is instead.
    if (parent.linkType !== 'ether') {
      throw new ConfigError(`parent interface "${net.options.parent}" has link type ${parent.linkType ?? 'unknown'}, not ether: macvlan needs an Ethernet device`, 'parent');
    }
    if (net.options.mtu !== undefined) await checkParentMtu(nl.hostNetlink(), net.options.parent, net.options.mtu, parent);
  },

  async removeNetwork() {
    // Nothing of ours exists per network: the parent belongs to the host.
  },

  async attach(net, ep, placement, undo) {
    const h = nl.hostNetlink();
    const { parent, mode } = net.options;
    const mtu = ep.mtu ?? net.options.mtu;
    if (ep.mtu !== undefined) await checkParentMtu(h, parent, ep.mtu);
    const spec = { name: placement.ifname, kind: 'macvlan' as const, mac: ep.mac, up: true, macvlan: { parent, mode }, ...(mtu ? { mtu } : {}) };
    if (placement.kind === 'host-end') {
      await undo.step('create macvlan', () => nl.createLink(h, spec), () => nl.deleteLink(h, placement.ifname));
      const mac = mode === 'passthru' ? await kernelMac(h, placement.ifname, ep.mac) : ep.mac;
      return { ifname: placement.ifname, mac, ...(mtu ? { mtu } : {}) };
    }
    // A macvlan removed from this netns a moment ago keeps its name until the reaper ran.
    await settleRetired(placement.netnsPath);
    const netnsPath = placement.netnsPath;
    const fd = openNetns(netnsPath);
    let mac = ep.mac;
    try {
      // The undo opens the netns again by its path: this fd is closed below, before the
      // caller's rollback runs (and its number may be another netns's by then).
      await undo.step('create macvlan', () => createIn(fd, spec, netnsPath), () => deleteAt(netnsPath, placement.ifname));
      if (mode === 'passthru') mac = await withNetlinkAt(netnsPath, (h2) => kernelMac(h2, placement.ifname, ep.mac));
      await configureInterface(fd, placement.ifname, ep, undo, false);
    } finally {
      closeNetns(fd);
    }
    return { ifname: placement.ifname, mac, ...(mtu ? { mtu } : {}) };
  },

  async detach(_net, ep, placement) {
    if (placement.kind === 'host-end') {
      await nl.deleteLink(nl.hostNetlink(), placement.ifname);
      return;
    }
    // A vanished netns took the macvlan with it; in tsnetd the deletion finishes later. A
    // netns now at the path is someone else's: its interface of that name is not ours.
    if (placement.replaced) return;
    await removeLinkIn(placement.netnsPath, placement.ifname, ep.mac);
  },

  async check(_net, ep, placement) {
    if (placement.kind === 'netns') await checkInterface(placement.netnsPath, placement.ifname, ep);
  },
};

/** Creates the macvlan directly inside netns `fd`; a taken name is a ConflictError. */
async function createIn(fd: number, spec: nl.CreateLinkSpec, path: string): Promise<void> {
  try {
    await nl.createLink(nl.hostNetlink(), { ...spec, netnsFd: fd });
  } catch (err) {
    if (err instanceof KernelError && err.errno === 17) throw new ConflictError(`interface ${spec.name} already exists in ${path}`, 'ifname');
    throw err;
  }
}

/** Deletes `ifname` inside the netns at `path` at once; no error when it or the netns is gone. */
async function deleteAt(path: string, ifname: string): Promise<void> {
  if (!isNetns(path)) return;
  await withNetlinkAt(path, (h) => nl.deleteLink(h, ifname));
}

/**
 * The MAC a passthru macvlan has: the kernel gives it its parent's (the parent's only user),
 * whatever was asked. Other modes keep the one asked for, read back by nobody.
 */
async function kernelMac(h: nl.NlHandle, ifname: string, asked: string): Promise<string> {
  return (await nl.getLink(h, ifname))?.mac ?? asked;
}

/** A macvlan's MTU may not exceed its parent's (the kernel's EINVAL would not say so). */
async function checkParentMtu(h: nl.NlHandle, parent: string, mtu: number, link?: nl.LinkInfo): Promise<void> {
  const p = link ?? await nl.getLink(h, parent);
  if (p && mtu > p.mtu) throw new ConfigError(`mtu ${mtu} is larger than parent ${parent}'s ${p.mtu}`, 'mtu');
}
