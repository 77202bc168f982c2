/**
 * Docker-shaped JSON for `network inspect`, `inspect CTR`, `ps` and `topology`. Pure:
 * built from store rows and the manager's endpoint records.
 */
import type { ContainerRow } from '../store/index.js';
import { bridgeName, type BridgeOptions, type EndpointInfo, type Network, type NetworkInfo, type NetworkSubnet, type PortBinding } from '../drivers/index.js';
import type { ContainerConfig } from './types.js';

export function networkInspect(net: NetworkInfo, endpoints: EndpointInfo[], names: Map<string, string>): Record<string, unknown> {
  const containers: Record<string, unknown> = {};
  for (const ep of endpoints) {
    const v4 = ep.addresses.find((a) => a.family === 4);
    const v6 = ep.addresses.find((a) => a.family === 6);
    containers[ep.sandbox] = {
      Name: names.get(ep.sandbox) ?? ep.sandbox, EndpointID: ep.id, MacAddress: ep.mac,
      IPv4Address: v4?.cidr ?? '', IPv6Address: v6?.cidr ?? '',
    };
  }
  return {
    Name: net.name, Id: net.id, Created: net.createdAt, Scope: 'local', Driver: net.driver,
    EnableIPv4: !(net.ipv6 && net.subnets.length > 0 && net.subnets.every((s) => s.family === 6)), EnableIPv6: net.ipv6,
    Internal: net.internal, Attachable: true,
    IPAM: { Driver: 'tsnet', Config: net.subnets.map(ipamConfig) },
    Options: net.rawOptions, Labels: net.labels, Containers: containers,
    ...(net.driver === 'bridge' ? { Bridge: bridgeName(net as Network<BridgeOptions>) } : {}),
  };
}

/** One IPAM.Config entry as Docker shows it: only the fields that are set. */
function ipamConfig(s: NetworkSubnet): Record<string, unknown> {
  return {
    Subnet: s.subnet, ...(s.ipRange ? { IPRange: s.ipRange } : {}), ...(s.gateway ? { Gateway: s.gateway } : {}),
    ...(s.auxAddresses ? { AuxiliaryAddresses: s.auxAddresses } : {}),
  };
}

type PortMap = Record<string, { HostIp: string; HostPort: string }[]>;

export function portMap(ports: PortBinding[]): PortMap {
  const out: PortMap = {};
  for (const p of ports) (out[`${p.containerPort}/${p.proto}`] ??= []).push({ HostIp: p.hostIp, HostPort: String(p.hostPort) });
  return out;
}

export function containerInspect(c: ContainerRow, eps: EndpointInfo[], nets: Map<string, NetworkInfo>): Record<string, unknown> {
  const cfg = c.config as unknown as ContainerConfig;
  const ports = eps.flatMap((e) => e.ports);
  const networks: Record<string, unknown> = {};
  for (const ep of eps) {
    const net = nets.get(ep.networkId);
    const v4 = ep.addresses.find((a) => a.family === 4);
    const v6 = ep.addresses.find((a) => a.family === 6);
    const wanted = cfg.networks.find((n) => n.network === ep.networkId);
    networks[net?.name ?? ep.networkId] = {
      NetworkID: ep.networkId, EndpointID: ep.id, Gateway: v4?.gateway ?? '', IPAddress: v4?.ip ?? '',
      IPPrefixLen: v4 ? Number(v4.cidr.split('/')[1]) : 0, IPv6Gateway: v6?.gateway ?? '', GlobalIPv6Address: v6?.ip ?? '',
      MacAddress: ep.mac, Aliases: wanted?.aliases ?? [], Interface: ep.ifname, HostInterface: ep.hostIfname ?? '',
    };
  }
  const running = c.state === 'running';
  return {
    Id: c.id, Name: c.name, Created: c.createdAt, Path: cfg.cmd[0] ?? '', Args: cfg.cmd.slice(1), Image: c.image,
    State: {
      Status: c.state, Running: running, Pid: running ? c.pid ?? 0 : 0, ExitCode: c.exitCode ?? 0,
      StartedAt: c.startedAt ?? '', FinishedAt: c.finishedAt ?? '',
    },
    HostConfig: { NetworkMode: cfg.networkMode, AutoRemove: cfg.autoRemove, PortBindings: requestedBindings(cfg), PublishAllPorts: cfg.publishAll },
    Config: { Hostname: cfg.hostname, Image: c.image, Cmd: cfg.cmd, Env: cfg.env, ExposedPorts: Object.fromEntries((cfg.exposed ?? []).map((e) => [e.includes('/') ? e : `${e}/tcp`, {}])) },
    NetworkSettings: { SandboxKey: running ? c.sandbox ?? '' : '', Ports: portMap(ports), Networks: networks },
  };
}

function requestedBindings(cfg: ContainerConfig): PortMap {
  const out: PortMap = {};
  for (const p of cfg.ports) {
    (out[`${p.containerPort}/${p.proto}`] ??= []).push({ HostIp: p.hostIp ?? '', HostPort: p.hostPort === undefined ? '' : String(p.hostPort) });
  }
  return out;
}

export function containerSummary(c: ContainerRow, eps: EndpointInfo[], nets: Map<string, NetworkInfo>): Record<string, unknown> {
  const cfg = c.config as unknown as ContainerConfig;
  return {
    Id: c.id, Name: c.name, Image: c.image, Command: cfg.cmd.join(' '), Created: c.createdAt, State: c.state,
    StartedAt: c.startedAt ?? '', FinishedAt: c.finishedAt ?? '', ExitCode: c.exitCode ?? 0,
    Ports: eps.flatMap((e) => e.ports).map((p) => ({ ContainerPort: `${p.containerPort}/${p.proto}`, HostIp: p.hostIp, HostPort: String(p.hostPort) })),
    Networks: cfg.networkMode.startsWith('container:') || cfg.networkMode === 'host' || cfg.networkMode === 'none'
      ? [cfg.networkMode] : cfg.networks.map((n) => nets.get(n.network)?.name ?? n.network),
  };
}
