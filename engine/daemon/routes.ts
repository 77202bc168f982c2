/** tsnetd's HTTP API (docs/api.md): routes as data, bodies checked by JSON schemas. */
import { isAbsolute } from 'node:path';
import { ConfigError } from '../../core/index.js';
import type { Engine } from '../engine.js';
import type { CreateContainerBody, CreateNetworkBody } from '../types.js';
import type { Route } from './http.js';
import { cniRoutes } from './cni.js';

const str = { type: 'string' } as const;
const strArr = { type: 'array', items: str } as const;
const strMap = { type: 'object', additionalProperties: str } as const;

const networkSchema = {
  type: 'object', required: ['Name'], additionalProperties: false,
  properties: {
    Name: str, Driver: str, Internal: { type: 'boolean' }, IPv6: { type: 'boolean' }, IPv4: { type: 'boolean' }, Options: strMap, Labels: strMap,
    Subnets: { type: 'array', items: { type: 'object', required: ['Subnet'], additionalProperties: false, properties: { Subnet: str, IPRange: str, Gateway: str, AuxAddresses: strMap } } },
  },
};
const containerSchema = {
  type: 'object', required: ['Image'], additionalProperties: false,
  properties: {
    Name: str, Image: str, Cmd: strArr, Hostname: str, Env: strArr, NetworkMode: str, IPv4Address: str,
    Aliases: strArr, Ports: strArr, ExposedPorts: strArr, PublishAll: { type: 'boolean' }, AutoRemove: { type: 'boolean' },
  },
};
const connectSchema = { type: 'object', required: ['Container'], additionalProperties: false, properties: { Container: str, IPv4Address: str, Aliases: strArr, Force: { type: 'boolean' } } };
const execSchema = { type: 'object', required: ['Cmd'], additionalProperties: false, properties: { Cmd: strArr } };
const importSchema = { type: 'object', required: ['Path', 'Name'], additionalProperties: false, properties: { Path: str, Name: str } };

const p = (params: Record<string, string>, k: string): string => params[k] ?? '';

export function routes(engine: Engine): Route[] {
  return [
    { method: 'GET', path: '/v1/ping', handler: () => ({ body: { ok: true, version: '0.1.0', pid: process.pid } }) },
    { method: 'GET', path: '/v1/topology', handler: () => ({ body: engine.topology() }) },
    ...cniRoutes(engine),

    { method: 'GET', path: '/v1/networks', handler: (r) => ({ body: engine.listNetworks(r.query.get('driver') ?? undefined) }) },
    { method: 'POST', path: '/v1/networks', schema: networkSchema, handler: async (r) => ({ status: 201, body: await engine.createNetwork(r.body as CreateNetworkBody) }) },
    { method: 'POST', path: '/v1/networks/prune', handler: async () => ({ body: { Removed: await engine.pruneNetworks() } }) },
    { method: 'GET', path: '/v1/networks/:id', handler: (r) => ({ body: engine.inspectNetwork(p(r.params, 'id')) }) },
    { method: 'DELETE', path: '/v1/networks/:id', handler: async (r) => void (await engine.removeNetwork(p(r.params, 'id'))) },
    {
      method: 'POST', path: '/v1/networks/:id/connect', schema: connectSchema, handler: async (r) => {
        const b = r.body as { Container: string; IPv4Address?: string; Aliases?: string[] };
        await engine.connect(p(r.params, 'id'), b.Container, { ...(b.IPv4Address ? { ipv4: b.IPv4Address } : {}), ...(b.Aliases ? { aliases: b.Aliases } : {}) });
      },
    },
    {
      method: 'POST', path: '/v1/networks/:id/disconnect', schema: connectSchema, handler: async (r) => {
        const b = r.body as { Container: string; Force?: boolean };
        await engine.disconnect(p(r.params, 'id'), b.Container, b.Force ?? false);
      },
    },

    { method: 'GET', path: '/v1/containers', handler: (r) => ({ body: engine.listContainers(['1', 'true'].includes(r.query.get('all') ?? '')) }) },
    { method: 'POST', path: '/v1/containers', schema: containerSchema, handler: async (r) => ({ status: 201, body: await engine.createContainer(r.body as CreateContainerBody) }) },
    { method: 'GET', path: '/v1/containers/:id', handler: (r) => ({ body: engine.inspectContainer(p(r.params, 'id')) }) },
    { method: 'DELETE', path: '/v1/containers/:id', handler: async (r) => void (await engine.removeContainer(p(r.params, 'id'), ['1', 'true'].includes(r.query.get('force') ?? ''))) },
    { method: 'POST', path: '/v1/containers/:id/start', handler: async (r) => void (await engine.startContainer(p(r.params, 'id'))) },
    { method: 'POST', path: '/v1/containers/:id/stop', handler: async (r) => void (await engine.stopContainer(p(r.params, 'id'), seconds(r.query.get('t')))) },
    { method: 'POST', path: '/v1/containers/:id/wait', handler: async (r) => ({ body: { StatusCode: await engine.waitContainer(p(r.params, 'id')) } }) },
    { method: 'GET', path: '/v1/containers/:id/port', handler: (r) => ({ body: engine.ports(p(r.params, 'id')) }) },
    { method: 'POST', path: '/v1/containers/:id/exec', schema: execSchema, handler: async (r) => ({ body: await engine.exec(p(r.params, 'id'), (r.body as { Cmd: string[] }).Cmd) }) },
    {
      method: 'GET', path: '/v1/containers/:id/logs', handler: (r) => {
        const id = p(r.params, 'id');
        if (!engine.knows(id)) engine.inspectContainer(id); // 404 before the stream starts
        return {
          stream: (res) => {
            res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
            engine.logs(id, ['1', 'true'].includes(r.query.get('follow') ?? ''), (b) => res.write(b))
              .catch((err: unknown) => res.write(`\n[tsnetd: ${(err as Error).message}]\n`))
              .finally(() => res.end());
          },
        };
      },
    },

    { method: 'GET', path: '/v1/images', handler: async () => ({ body: (await engine.images.listImages()).map((i) => ({ Name: i.name, Id: i.id, Created: i.created, Size: i.size })) }) },
    {
      method: 'POST', path: '/v1/images/import', schema: importSchema, handler: async (r) => {
        const b = r.body as { Path: string; Name: string };
        if (!isAbsolute(b.Path)) throw new ConfigError(`Path must be absolute: ${b.Path}`, 'Path');
        const i = await engine.images.importImage(b.Path, b.Name);
        return { status: 201, body: { Name: i.name, Id: i.id } };
      },
    },
  ];
}

function seconds(t: string | null): number {
  if (t === null) return 10;
  const n = Number(t);
  if (!Number.isInteger(n) || n < 0) throw new ConfigError(`t: invalid timeout "${t}"`, 't');
  return n;
}
