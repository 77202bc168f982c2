/**
 * What the Docker front-end remembers between calls, in the store's kv table, so that a
 * tsnetd restart loses nothing (dockerd never re-sends Activate or CreateNetwork):
 * the pools handed out by RequestPool and the endpoints recorded by CreateEndpoint.
 * Networks, pools, allocations and attached endpoints themselves live in their own tables.
 * No kernel work; every write runs inside the caller's Store.tx when it needs atomicity.
 */
import type { Store } from '../store/index.js';
import type { PortBindingWire, TransportPortWire } from './wire.js';

/** A pool that tsnet's IPAM gave Docker (RequestPool); the pool row itself is in `pools`. */
export interface PoolRecord {
  addressSpace: string;
  v6: boolean;
  subPool?: string;
  options: Record<string, string>;
  /**
   * Docker released the pool while its network still existed (dockerd calls ReleasePool
   * before DeleteNetwork): DeleteNetwork deletes it once the network is gone.
   */
  released?: boolean;
}

/** An endpoint Docker created (CreateEndpoint); the NetworkManager's endpoint exists from Join to Leave. */
export interface EndpointRecord {
  networkId: string;
  /** Bare addresses; absent when the endpoint has none of that family. */
  ipv4?: string;
  ipv6?: string;
  mac: string;
  /** Ports Docker said the container exposes (ProgramExternalConnectivity). */
  exposed: TransportPortWire[];
  /** The port bindings Docker asked for last (ProgramExternalConnectivity). */
  portmap: PortBindingWire[];
  /**
   * The SandboxKey of the Join whose interface the NetworkManager has now; absent before
   * Join and while a re-Join is under way. A record with it and no manager endpoint lost
   * its sandbox (see NetworkDriverApi.forgetLostEndpoints).
   */
  sandboxKey?: string;
  /**
   * DeleteEndpoint is under way: dockerd still holds the endpoint's IPAM addresses and
   * releases them itself (ReleaseAddress) after it, so a restart that finds the record must
   * not give them back (another container could get one before that late release frees it).
   */
  deleting?: boolean;
}

/** Owner of the allocations made by IpamDriver.RequestAddress (released by ReleaseAddress). */
export const IPAM_OWNER = 'libnetwork-ipam';

/** Owner of the addresses an endpoint holds itself (Docker's own IPAM): released by DeleteEndpoint. */
export function endpointOwner(endpointId: string): string {
  return `libnetwork-ep:${endpointId}`;
}

const POOL = 'libnetwork/pool/';
const ENDPOINT = 'libnetwork/endpoint/';

export class DockerState {
  constructor(private readonly store: Store) {}

  pool(id: string): PoolRecord | undefined {
    return read<PoolRecord>(this.store.kv.get(POOL + id));
  }

  setPool(id: string, rec: PoolRecord): void {
    this.store.kv.set(POOL + id, JSON.stringify(rec));
  }

  deletePool(id: string): void {
    this.store.kv.delete(POOL + id);
  }

  /** Every pool record, with its id. */
  pools(): { id: string; rec: PoolRecord }[] {
    return this.records<PoolRecord>(POOL);
  }

  endpoint(id: string): EndpointRecord | undefined {
    return read<EndpointRecord>(this.store.kv.get(ENDPOINT + id));
  }

  setEndpoint(id: string, rec: EndpointRecord): void {
    this.store.kv.set(ENDPOINT + id, JSON.stringify(rec));
  }

  /** Every endpoint record, with its id. */
  endpoints(): { id: string; rec: EndpointRecord }[] {
    return this.records<EndpointRecord>(ENDPOINT);
  }

  private records<T>(prefix: string): { id: string; rec: T }[] {
    return this.store.kv.list(prefix).map((e) => ({ id: e.key.slice(prefix.length), rec: JSON.parse(e.value) as T }));
  }

  deleteEndpoint(id: string): void {
    this.store.kv.delete(ENDPOINT + id);
  }
}

function read<T>(text: string | undefined): T | undefined {
  return text === undefined ? undefined : (JSON.parse(text) as T);
}
