/**
 * The driver contract (CNM terms): a network (a bridge, a macvlan parent, ...), an
 * endpoint (an interface with addresses) and a sandbox (a netns). Drivers do kernel work
 * only; the manager (manager.ts) owns the store, IPAM, port publishing and the undo stack.
 */
import type { UndoStack } from './undo.js';

/** One address block of a network, as allocated by IPAM. */
export interface NetworkSubnet {
  poolId: string;
  family: 4 | 6;
  subnet: string;
  gateway?: string;
  /** The dynamic range, when it is a CIDR smaller than the subnet (Docker's --ip-range). */
  ipRange?: string;
  /** Reserved addresses by name (Docker's --aux-address); absent when there are none. */
  auxAddresses?: Record<string, string>;
}

/** A network as drivers see it: identity, parsed driver options and its subnets. */
export interface Network<O = unknown> {
  id: string;
  name: string;
  driver: string;
  internal: boolean;
  ipv6: boolean;
  options: O;
  subnets: NetworkSubnet[];
}

/** Where the endpoint's interface ends up. */
export type Placement =
  /** Configure the interface inside this netns (CNI, the engine). */
  | {
    kind: 'netns'; netnsPath: string; ifname: string;
    /**
     * Set by the manager at detach when the netns at netnsPath is no longer the one attached
     * to (deleted, another mounted at the path): nothing of the endpoint is in this one.
     */
    replaced?: boolean;
  }
  /** Leave the interface in the host netns for the caller to move (libnetwork Join). */
  | { kind: 'host-end'; ifname: string };

/** An address the endpoint gets, with its prefix and the network's gateway. */
export interface EndpointAddress {
  family: 4 | 6;
  cidr: string;
  ip: string;
  gateway?: string;
}

/** A route inside the sandbox through the endpoint's interface. */
export interface RouteRequest {
  /** CIDR, or 'default' (0.0.0.0/0 and ::/0 are read as default). */
  dst: string;
  /** Default: the network's gateway of the route's family. */
  gateway?: string;
  metric?: number;
}

/** What the manager hands a driver to attach: addresses are already allocated. */
export interface EndpointPlan {
  id: string;
  networkId: string;
  sandbox: string;
  mac: string;
  mtu?: number;
  addresses: EndpointAddress[];
  /** Name the host end gets (veth) or the temporary name for host-end placement. */
  hostIfname: string;
  /** Exactly these routes instead of a default route per family with a gateway (CNI's ipam routes). */
  routes?: RouteRequest[];
  /** IPv6 disabled on the sandbox interface (AttachRequest.ipv6OffWithoutAddress, no IPv6 address). */
  ipv6Off?: boolean;
  /** IPv6 addresses go through duplicate address detection, awaited (AttachRequest.dad). */
  dad?: boolean;
  /** No default route through this endpoint (an internal network: Docker never takes the gateway from one). */
  noDefaultRoute?: boolean;
}

/** What an attach produced, persisted with the endpoint. */
export interface AttachResult {
  /** Host-side interface name (veth end), if any. */
  hostIfname?: string;
  /** Interface name as it exists now (inside the netns, or in the host for host-end). */
  ifname: string;
  mac: string;
  mtu?: number;
}

export interface Driver<O = unknown> {
  readonly name: string;
  /** Pure: validates raw key/value options; throws ConfigError naming the option. */
  parseOptions(raw: Record<string, string>): O;
  /** Idempotent: makes the network's kernel objects exist (host netns). */
  ensureNetwork(net: Network<O>): Promise<void>;
  /**
   * Idempotent: removes what ensureNetwork made (host netns). `others` are the driver's other
   * networks still recorded: what they share with `net` (a bridge) stays.
   */
  removeNetwork(net: Network<O>, others: readonly Network<O>[]): Promise<void>;
  /** Creates and configures the endpoint; pushes an undo for every kernel step. */
  attach(net: Network<O>, ep: EndpointPlan, placement: Placement, undo: UndoStack): Promise<AttachResult>;
  /** Idempotent; succeeds when the netns or the link is already gone. */
  detach(net: Network<O>, ep: EndpointPlan, placement: Placement): Promise<void>;
  /**
   * detach may leave the sandbox's link retired in the sandbox netns for the link reaper to
   * delete (core/link-reaper): the manager journals that netns until the reaper is done, so
   * a restart after a crash finishes the deletion.
   */
  readonly retiresInSandbox?: boolean;
  /** Throws a NotFoundError / ConflictError when the kernel differs from the plan. */
  check(net: Network<O>, ep: EndpointPlan, placement: Placement): Promise<void>;
}
