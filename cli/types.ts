/**
 * The daemon API's wire types (docs/api.md), as far as the CLI reads them. Every field the
 * CLI does not strictly need is optional: the CLI prints what it gets and never fails on a
 * missing field. Pure types, no runtime code.
 */

export interface ApiErrorBody {
  message?: string;
  code?: string;
  field?: string;
}

export interface IpamConfig {
  Subnet?: string;
  Gateway?: string;
  IPRange?: string;
  AuxiliaryAddresses?: Record<string, string>;
}

export interface NetworkContainer {
  Name?: string;
  EndpointID?: string;
  MacAddress?: string;
  IPv4Address?: string;
  IPv6Address?: string;
}

export interface NetworkInspect {
  Name: string;
  Id: string;
  Created?: string;
  Scope?: string;
  Driver?: string;
  EnableIPv6?: boolean;
  Internal?: boolean;
  Attachable?: boolean;
  IPAM?: { Driver?: string; Config?: IpamConfig[] };
  Options?: Record<string, string>;
  Labels?: Record<string, string>;
  Containers?: Record<string, NetworkContainer>;
}

/** The body of POST /v1/networks. */
// Request bodies are the daemon's own types (type-only import: nothing loads at run time).
export type { CreateNetworkBody as NetworkCreateRequest, CreateContainerBody as ContainerCreateRequest } from '../engine/types.js';

/** A published port as the daemon reports it (GET .../port, topology, ps). */
export interface PortBinding {
  ContainerPort?: string | number;
  Proto?: string;
  HostIp?: string;
  HostPort?: string | number;
  /** Docker's list shape, accepted too. */
  IP?: string;
  PrivatePort?: number;
  PublicPort?: number;
  Type?: string;
}

export interface ContainerSummary {
  Id: string;
  Name?: string;
  Image?: string;
  Command?: string | string[];
  State?: string;
  Status?: string;
  Created?: string | number;
  StartedAt?: string;
  FinishedAt?: string;
  ExitCode?: number;
  Ports?: (PortBinding | string)[];
  Networks?: (string | { Name?: string })[] | Record<string, unknown>;
}

export interface ExecResult {
  ExitCode: number;
  Stdout?: string;
  Stderr?: string;
}

export interface ImageSummary {
  Name: string;
  Id?: string;
  Created?: string | number;
  Size?: number;
}

export interface TopologyEndpoint {
  Container?: string;
  ContainerId?: string;
  Interface?: string;
  HostInterface?: string;
  IPv4Address?: string;
  IPv6Address?: string;
  MacAddress?: string;
  Ports?: PortBinding[];
}

export interface TopologyNetwork {
  Name: string;
  Id?: string;
  Driver?: string;
  Bridge?: string;
  Subnets?: string[];
  Endpoints?: TopologyEndpoint[];
}

export interface TopologyContainer {
  Name?: string;
  Id: string;
  State?: string;
  SandboxKey?: string;
  NetworkMode?: string;
}

export interface Topology {
  Networks?: TopologyNetwork[];
  Containers?: TopologyContainer[];
}
