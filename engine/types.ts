/** The engine's container configuration, kept as JSON in the containers table. */
import type { PortRequest } from '../drivers/index.js';

export interface ContainerNetwork {
  /** Network id. */
  network: string;
  aliases: string[];
  ipv4?: string;
}

export interface ContainerConfig {
  cmd: string[];
  env: string[];
  hostname: string;
  /** 'bridge' | 'host' | 'none' | 'container:<id>' | a user network's name (as given). */
  networkMode: string;
  /** Networks to attach at start (bridge and user-defined modes), in order: eth0, eth1, ... */
  networks: ContainerNetwork[];
  /** Published on the first network. */
  ports: PortRequest[];
  portSpecs: string[];
  exposed: string[];
  publishAll: boolean;
  autoRemove: boolean;
}

export interface CreateContainerBody {
  Name?: string;
  Image: string;
  Cmd?: string[];
  Hostname?: string;
  Env?: string[];
  NetworkMode?: string;
  IPv4Address?: string;
  Aliases?: string[];
  Ports?: string[];
  /** Container ports `80`, `53/udp`, `8000-8010/tcp`: what -P publishes. */
  ExposedPorts?: string[];
  PublishAll?: boolean;
  AutoRemove?: boolean;
}

export interface CreateNetworkBody {
  Name: string;
  Driver?: string;
  Subnets?: { Subnet: string; IPRange?: string; Gateway?: string; AuxAddresses?: Record<string, string> }[];
  Internal?: boolean;
  IPv6?: boolean;
  /** false: an IPv6-only network (Docker 28's EnableIPv4). */
  IPv4?: boolean;
  Options?: Record<string, string>;
  Labels?: Record<string, string>;
}
