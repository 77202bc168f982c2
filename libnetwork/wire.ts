/**
 * Wire types of Docker's remote plugin protocols (libnetwork's remote NetworkDriver and
 * IpamDriver, plugin API v1.2), and JSON schemas for the request bodies. Field names are
 * Docker's. Pure data: no store, no kernel.
 */

export const CONTENT_TYPE = 'application/vnd.docker.plugins.v1.2+json';

/** Docker's IPAM option that marks a gateway request in RequestAddress. */
export const REQUEST_ADDRESS_TYPE = 'RequestAddressType';
export const GATEWAY_TYPE = 'com.docker.network.gateway';

/** Option keys libnetwork puts into CreateNetwork / CreateEndpoint / Join options. */
export const GENERIC = 'com.docker.network.generic';
export const ENABLE_IPV6 = 'com.docker.network.enable_ipv6';
/** Docker 28's `--ipv4=false`: false for an IPv6-only network (absent: on). */
export const ENABLE_IPV4 = 'com.docker.network.enable_ipv4';
export const INTERNAL = 'com.docker.network.internal';
export const PORT_MAP = 'com.docker.network.portmap';
export const EXPOSED_PORTS = 'com.docker.network.endpoint.exposedports';

export interface IpamData {
  AddressSpace?: string;
  /** The pool, a CIDR: '10.0.0.0/24'. */
  Pool: string;
  /** The gateway with the pool's prefix: '10.0.0.1/24'. */
  Gateway?: string;
  /** name -> 'ip/prefix'. */
  AuxAddresses?: Record<string, string> | null;
}

export interface CreateNetworkWire {
  NetworkID: string;
  Options?: Record<string, unknown> | null;
  IPv4Data?: IpamData[] | null;
  IPv6Data?: IpamData[] | null;
}

export interface EndpointInterfaceWire {
  /** 'ip/prefix' or ''. */
  Address?: string;
  AddressIPv6?: string;
  MacAddress?: string;
}

export interface CreateEndpointWire {
  NetworkID: string;
  EndpointID: string;
  Interface?: EndpointInterfaceWire | null;
  Options?: Record<string, unknown> | null;
}

export interface EndpointRefWire {
  NetworkID: string;
  EndpointID: string;
}

export interface JoinWire extends EndpointRefWire {
  SandboxKey: string;
  Options?: Record<string, unknown> | null;
}

export interface ProgramWire extends EndpointRefWire {
  Options?: Record<string, unknown> | null;
}

/** Docker's types.TransportPort: Proto is an IP protocol number (6 tcp, 17 udp, 132 sctp). */
export interface TransportPortWire {
  Proto: number;
  Port: number;
}

/** Docker's types.PortBinding. HostPort 0: any; HostPortEnd > HostPort: a range. */
export interface PortBindingWire {
  Proto: number;
  IP?: string;
  Port: number;
  HostIP?: string;
  HostPort?: number;
  HostPortEnd?: number;
}

export interface StaticRouteWire {
  Destination: string;
  /** 0: via NextHop; 1: connected. */
  RouteType: number;
  NextHop?: string;
}

export interface JoinResponseWire {
  InterfaceName: { SrcName: string; DstPrefix: string };
  Gateway?: string;
  GatewayIPv6?: string;
  StaticRoutes: StaticRouteWire[];
  DisableGatewayService: boolean;
}

export interface RequestPoolWire {
  AddressSpace?: string;
  Pool?: string;
  SubPool?: string;
  Options?: Record<string, string> | null;
  V6?: boolean;
}

export interface RequestAddressWire {
  PoolID: string;
  Address?: string;
  Options?: Record<string, string> | null;
}

export interface ReleaseAddressWire {
  PoolID: string;
  Address: string;
}

// ------------------------------------------------------------------ schemas (ajv)

const str = { type: 'string' } as const;
const id = { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,128}$' } as const;
const anyMap = { type: ['object', 'null'] } as const;
const strMap = { type: ['object', 'null'], additionalProperties: str } as const;
const ipamData = {
  type: 'object', required: ['Pool'],
  properties: { AddressSpace: str, Pool: str, Gateway: str, AuxAddresses: strMap },
} as const;
const ipamList = { type: ['array', 'null'], items: ipamData } as const;
const ref = { type: 'object', required: ['NetworkID', 'EndpointID'], properties: { NetworkID: id, EndpointID: id } } as const;

/** Request schemas by plugin method (the URL path without the leading slash). */
export const SCHEMAS: Record<string, object> = {
  'NetworkDriver.CreateNetwork': {
    type: 'object', required: ['NetworkID'],
    properties: { NetworkID: id, Options: anyMap, IPv4Data: ipamList, IPv6Data: ipamList },
  },
  'NetworkDriver.DeleteNetwork': { type: 'object', required: ['NetworkID'], properties: { NetworkID: id } },
  'NetworkDriver.CreateEndpoint': {
    type: 'object', required: ['NetworkID', 'EndpointID'],
    properties: {
      NetworkID: id, EndpointID: id, Options: anyMap,
      Interface: { type: ['object', 'null'], properties: { Address: str, AddressIPv6: str, MacAddress: str } },
    },
  },
  'NetworkDriver.EndpointOperInfo': ref,
  'NetworkDriver.DeleteEndpoint': ref,
  'NetworkDriver.Join': {
    type: 'object', required: ['NetworkID', 'EndpointID', 'SandboxKey'],
    properties: { NetworkID: id, EndpointID: id, SandboxKey: str, Options: anyMap },
  },
  'NetworkDriver.Leave': ref,
  'NetworkDriver.ProgramExternalConnectivity': { ...ref, properties: { ...ref.properties, Options: anyMap } },
  'NetworkDriver.RevokeExternalConnectivity': ref,
  'IpamDriver.RequestPool': {
    type: 'object',
    properties: { AddressSpace: str, Pool: str, SubPool: str, Options: strMap, V6: { type: 'boolean' } },
  },
  'IpamDriver.ReleasePool': { type: 'object', required: ['PoolID'], properties: { PoolID: id } },
  'IpamDriver.RequestAddress': {
    type: 'object', required: ['PoolID'], properties: { PoolID: id, Address: str, Options: strMap },
  },
  'IpamDriver.ReleaseAddress': { type: 'object', required: ['PoolID', 'Address'], properties: { PoolID: id, Address: str } },
};

const portBinding = {
  type: 'object', required: ['Proto', 'Port'],
  properties: {
    Proto: { type: 'integer' }, IP: { type: ['string', 'null'] }, Port: { type: 'integer' },
    HostIP: { type: ['string', 'null'] }, HostPort: { type: 'integer' }, HostPortEnd: { type: 'integer' },
  },
} as const;
/** Schemas of option values that Docker sends inside `Options`. */
export const PORT_MAP_SCHEMA = { type: ['array', 'null'], items: portBinding } as const;
export const EXPOSED_PORTS_SCHEMA = {
  type: ['array', 'null'],
  items: { type: 'object', required: ['Proto', 'Port'], properties: { Proto: { type: 'integer' }, Port: { type: 'integer' } } },
} as const;
