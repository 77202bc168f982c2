/**
 * host: the sandbox is the host netns; attach touches no link.
 * none: the sandbox keeps only loopback, brought up.
 * Neither has addresses, IPAM pools or firewall rules.
 */
import * as nl from '../core/netlink/index.js';
import { openNetns, closeNetns, netlinkIn } from '../core/netns/index.js';
import { rejectUnknown } from './options.js';
import type { Driver } from './types.js';

export const hostDriver: Driver<Record<string, never>> = {
  name: 'host',
  parseOptions(raw) {
    rejectUnknown(raw, [], 'host');
    return {};
  },
  async ensureNetwork() {},
  async removeNetwork() {},
  async attach(_net, ep, placement) {
    return { ifname: placement.ifname, mac: ep.mac };
  },
  async detach() {},
  async check() {},
};

export const noneDriver: Driver<Record<string, never>> = {
  name: 'none',
  parseOptions(raw) {
    rejectUnknown(raw, [], 'none');
    return {};
  },
  async ensureNetwork() {},
  async removeNetwork() {},
  async attach(_net, ep, placement, undo) {
    if (placement.kind === 'netns') {
      const fd = openNetns(placement.netnsPath);
      const h = netlinkIn(fd);
      try {
        // Loopback lives as long as the netns; bringing it up needs no undo.
        await undo.step('set lo up', () => nl.setLinkUp(h, 'lo', true));
      } finally {
        h.close();
        closeNetns(fd);
      }
    }
    return { ifname: 'lo', mac: ep.mac }; // the endpoint's record as planned: loopback has no MAC of its own
  },
  async detach() {},
  async check() {},
};
