/**
 * Row types of the state store. Fields are camelCase; the columns are snake_case
 * (created_at <-> createdAt). JSON columns are parsed on read and serialized on write.
 */

export type JsonObject = Record<string, unknown>;

export type NetworkState = 'creating' | 'ready' | 'removing';

export interface NetworkRow {
  id: string;
  name: string;
  driver: string;
  /** Driver options as given (JSON). */
  options: JsonObject;
  internal: boolean;
  ipv6: boolean;
  labels: Record<string, string>;
  state: NetworkState;
  /** ISO 8601. */
  createdAt: string;
}

/** What `networks.insert` needs; the rest defaults (options {}, state 'ready', now). */
export type NetworkInsert = Pick<NetworkRow, 'id' | 'name' | 'driver'> &
  Partial<Omit<NetworkRow, 'id' | 'name' | 'driver'>>;

export type NetworkPatch = Partial<Omit<NetworkRow, 'id' | 'createdAt'>>;

export type EndpointState = 'attaching' | 'attached' | 'detaching';

export interface EndpointRow {
  id: string;
  networkId: string;
  /** The sandbox (netns path, container id) the endpoint sits in, once known. */
  sandbox?: string;
  /** Interface name inside the sandbox. */
  ifname?: string;
  /** Host-side interface name (veth end), if any. */
  hostIfname?: string;
  mac?: string;
  /** Addresses as CIDRs ('10.0.0.2/24'). */
  addrs: string[];
  options: JsonObject;
  state: EndpointState;
  createdAt: string;
}

export type EndpointInsert = Pick<EndpointRow, 'id' | 'networkId'> &
  Partial<Omit<EndpointRow, 'id' | 'networkId'>>;

/** `null` clears an optional field. */
export interface EndpointPatch {
  sandbox?: string | null;
  ifname?: string | null;
  hostIfname?: string | null;
  mac?: string | null;
  addrs?: string[];
  options?: JsonObject;
  state?: EndpointState;
}

export type Proto = 'tcp' | 'udp' | 'sctp';

export interface PortMappingRow {
  proto: Proto;
  /** Canonical address; '0.0.0.0' / '::' are the wildcards of their family. */
  hostIp: string;
  hostPort: number;
  endpointId: string;
  networkId: string;
  containerIp: string;
  containerPort: number;
}

export interface PortFilter {
  endpointId?: string;
  networkId?: string;
  proto?: Proto;
  hostPort?: number;
}

export interface IntentRow {
  id: number;
  kind: string;
  subject: string;
  payload: unknown;
  createdAt: string;
}

export interface PoolRow {
  id: string;
  networkId?: string;
  family: 4 | 6;
  /** Canonical block, '10.0.0.0/24'. */
  subnet: string;
  /** First and last address handed out dynamically (inclusive). */
  rangeStart: string;
  rangeEnd: string;
  gateway?: string;
  /** The last dynamically allocated address; the next search starts after it. */
  cursor?: string;
  /** Reserved auxiliary addresses by name. */
  aux: Record<string, string>;
}

export type AllocationKind = 'endpoint' | 'gateway' | 'aux';

export interface AllocationRow {
  poolId: string;
  /** Canonical address text. */
  ip: string;
  owner: string;
  kind: AllocationKind;
}

export type ContainerState = 'created' | 'running' | 'exited' | 'removing';

export interface ContainerRow {
  id: string;
  name: string;
  image: string;
  /** The engine's container configuration (JSON). */
  config: JsonObject;
  state: ContainerState;
  /** The sandbox netns path while it has one. */
  sandbox?: string;
  pid?: number;
  exitCode?: number;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
}

export type ContainerInsert = Pick<ContainerRow, 'id' | 'name' | 'image'> & Partial<Omit<ContainerRow, 'id' | 'name' | 'image'>>;

/** `null` clears an optional field. */
export type ContainerPatch = { [K in keyof Omit<ContainerRow, 'id'>]?: ContainerRow[K] | null };
