/**
 * The plugin's method table: `/Plugin.Activate`, `/NetworkDriver.*`, `/IpamDriver.*`.
 * `handle(method, text)` parses and checks the body, runs the call and shapes the answer
 * as the protocol wants it, so the HTTP server around it only moves bytes:
 * - NetworkDriver errors: `{"Err": msg}` with 400 (bad request), 404 (unknown network or
 *   endpoint; 500 for ProgramExternalConnectivity, where Docker reads 404 as "method not
 *   implemented" and would carry on), 409 (conflict) or 500.
 * - IpamDriver errors: `{"Error": msg}` with 200, as libnetwork's IPAM client reads the
 *   Error field of a successful answer; 400 when the request itself is malformed.
 * Acts through the NetworkManager (daemon's netns, store).
 */
import { Ajv, type ValidateFunction } from 'ajv';
import { ConfigError, NotFoundError, log, toTsnetError, type ErrorCode } from '../core/index.js';
import type { NetworkManager } from '../drivers/index.js';
import { IpamDriverApi } from './ipam-driver.js';
import { NetworkDriverApi } from './network-driver.js';
import { DockerState } from './state.js';
import { SCHEMAS } from './wire.js';

export interface PluginAnswer {
  status: number;
  body: unknown;
}

type Kind = 'plugin' | 'network' | 'ipam';

interface Method {
  kind: Kind;
  validate?: ValidateFunction;
  call: (body: never) => unknown;
  /** HTTP status for a not-found error (default 404). */
  notFoundStatus?: number;
}

const STATUS: Record<ErrorCode, number> = {
  config: 400, 'not-found': 404, conflict: 409, 'try-again': 503, kernel: 500, exec: 500, internal: 500,
};

const ajv = new Ajv({ strict: false, allErrors: false });

export class DockerPlugin {
  readonly network: NetworkDriverApi;
  readonly ipam: IpamDriverApi;
  private readonly methods = new Map<string, Method>();

  /** Serves Docker for `mgr`; the caller keeps owning (and closes) the manager. */
  constructor(mgr: NetworkManager) {
    const state = new DockerState(mgr.store);
    this.network = new NetworkDriverApi(mgr, state);
    this.ipam = new IpamDriverApi(mgr, state);
    const n = this.network;
    const i = this.ipam;
    const ok = () => ({});
    this.add('Plugin.Activate', 'plugin', () => ({ Implements: ['NetworkDriver', 'IpamDriver'] }));
    this.add('NetworkDriver.GetCapabilities', 'network', () => n.capabilities());
    this.add('NetworkDriver.CreateNetwork', 'network', (b) => n.createNetwork(b));
    this.add('NetworkDriver.DeleteNetwork', 'network', (b) => n.deleteNetwork(b));
    this.add('NetworkDriver.CreateEndpoint', 'network', (b) => n.createEndpoint(b));
    this.add('NetworkDriver.EndpointOperInfo', 'network', (b) => n.endpointOperInfo(b));
    this.add('NetworkDriver.DeleteEndpoint', 'network', (b) => n.deleteEndpoint(b));
    this.add('NetworkDriver.Join', 'network', (b) => n.join(b));
    this.add('NetworkDriver.Leave', 'network', (b) => n.leave(b));
    this.add('NetworkDriver.ProgramExternalConnectivity', 'network', (b) => n.programExternalConnectivity(b), 500);
    this.add('NetworkDriver.RevokeExternalConnectivity', 'network', (b) => n.revokeExternalConnectivity(b));
    this.add('NetworkDriver.DiscoverNew', 'network', ok);
    this.add('NetworkDriver.DiscoverDelete', 'network', ok);
    this.add('IpamDriver.GetCapabilities', 'ipam', () => i.capabilities());
    this.add('IpamDriver.GetDefaultAddressSpaces', 'ipam', () => i.defaultAddressSpaces());
    this.add('IpamDriver.RequestPool', 'ipam', (b) => i.requestPool(b));
    this.add('IpamDriver.ReleasePool', 'ipam', (b) => i.releasePool(b));
    this.add('IpamDriver.RequestAddress', 'ipam', (b) => i.requestAddress(b));
    this.add('IpamDriver.ReleaseAddress', 'ipam', (b) => i.releaseAddress(b));
  }

  private add(name: string, kind: Kind, call: (body: never) => unknown, notFoundStatus?: number): void {
    const schema = SCHEMAS[name];
    this.methods.set(name, { kind, call, ...(schema ? { validate: ajv.compile(schema) } : {}), ...(notFoundStatus ? { notFoundStatus } : {}) });
  }

  /** Names of the methods served (e.g. "NetworkDriver.Join"). */
  methodNames(): string[] {
    return [...this.methods.keys()];
  }

  /** Answers one call: `method` is the URL path without its leading "/", `text` the raw body. */
  async handle(method: string, text: string): Promise<PluginAnswer> {
    const m = this.methods.get(method);
    const kind: Kind = m?.kind ?? (method.startsWith('IpamDriver.') ? 'ipam' : 'network');
    try {
      if (!m) throw new NotFoundError(`unknown plugin method "${method}"`);
      const body = parseBody(text, m.validate);
      log.debug({ method, body }, 'docker plugin call');
      const answer = await m.call(body as never);
      return { status: 200, body: answer ?? {} };
    } catch (err) {
      return errorAnswer(method, kind, m, err);
    }
  }
}

function parseBody(text: string, validate: ValidateFunction | undefined): unknown {
  let body: unknown = {};
  if (text.trim() !== '') {
    try {
      body = JSON.parse(text);
    } catch (err) {
      throw new Malformed(`request body is not valid JSON: ${(err as Error).message}`);
    }
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new Malformed('request body must be a JSON object');
  if (validate && !validate(body)) {
    const e = validate.errors?.[0];
    const where = e?.instancePath ? e.instancePath.slice(1).replace(/\//g, '.') : '';
    const missing = (e?.params as { missingProperty?: string } | undefined)?.missingProperty;
    throw new Malformed(missing ? `missing field "${missing}"` : `${where || 'body'}: ${e?.message ?? 'invalid'}`);
  }
  return body;
}

/** A request the plugin cannot decode: always a 4xx, whatever the driver. */
class Malformed extends ConfigError {}

function errorAnswer(method: string, kind: Kind, m: Method | undefined, err: unknown): PluginAnswer {
  const e = toTsnetError(err);
  const malformed = err instanceof Malformed;
  let status = STATUS[e.code];
  if (e.code === 'not-found' && m?.notFoundStatus) status = m.notFoundStatus;
  if (status >= 500) log.error({ err: e, method }, 'docker plugin call failed');
  else log.warn({ method, message: e.message, code: e.code }, 'docker plugin call refused');
  if (kind === 'ipam') return { status: malformed || !m ? (malformed ? 400 : 404) : 200, body: { Error: e.message } };
  return { status, body: { Err: e.message } };
}
