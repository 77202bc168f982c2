/**
 * A small JSON-over-HTTP router for tsnetd's unix-socket API: routes are data
 * (method, path pattern, handler), bodies are JSON validated by ajv schemas, and
 * TsnetErrors become {"message","code","field"} with the matching status.
 */
import http from 'node:http';
import { Ajv, type ValidateFunction } from 'ajv';
import { ConfigError, NotFoundError, log, toTsnetError, type ErrorCode } from '../../core/index.js';

export interface Request {
  params: Record<string, string>;
  query: URLSearchParams;
  body: unknown;
  raw: http.IncomingMessage;
}

/** What a handler returns: a JSON body (200, or `status`), nothing (204), or a stream writer. */
export type Reply = { status?: number; body?: unknown } | { stream: (res: http.ServerResponse) => void } | undefined;

export interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  schema?: object;
  handler: (req: Request) => Promise<Reply | void> | Reply | void;
}

const STATUS: Record<ErrorCode, number> = {
  config: 400, 'not-found': 404, conflict: 409, 'try-again': 503, kernel: 500, exec: 500, internal: 500,
};
const MAX_BODY = 1 << 20;
const ajv = new Ajv({ allErrors: false, strict: false, validateSchema: false });

interface Compiled { method: string; re: RegExp; keys: string[]; check?: (body: unknown) => void; handler: Route['handler'] }

function compile(r: Route): Compiled {
  const keys: string[] = [];
  const re = new RegExp(`^${r.path.replace(/:(\w+)/g, (_m, k: string) => (keys.push(k), '([^/]+)'))}$`);
  return { method: r.method, re, keys, ...(r.schema ? { check: bodyCheck(r.schema) } : {}), handler: r.handler };
}

/** A body check for `schema`: throws ConfigError naming the field (what a route's `schema` does). */
export function bodyCheck(schema: object): (body: unknown) => void {
  const validate = ajv.compile(schema);
  return (body) => {
    if (!validate(body)) throw schemaError(validate);
  };
}

/** A failure as the API reports it: the status of its code and {message, code, field}; 5xx are logged. */
export function errorReply(err: unknown, where: Record<string, unknown>): { status: number; body: { message: string; code: ErrorCode; field?: string } } {
  const e = toTsnetError(err);
  const status = STATUS[e.code];
  if (status >= 500) log.error({ err: e, ...where }, 'api request failed');
  return { status, body: { message: e.message, code: e.code, ...(e.field ? { field: e.field } : {}) } };
}

/** An http.Server answering `routes`; the caller listens on the socket and closes it. */
export function createApiServer(routes: Route[]): http.Server {
  const table = routes.map(compile);
  return http.createServer((req, res) => {
    void handle(table, req, res);
  });
}

async function handle(table: Compiled[], req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://tsnetd');
  try {
    const match = find(table, req.method ?? 'GET', url.pathname);
    const body = await readBody(req);
    match.route.check?.(body);
    const reply = await match.route.handler({ params: match.params, query: url.searchParams, body, raw: req });
    if (reply && 'stream' in reply) return reply.stream(res);
    send(res, reply?.status ?? (reply?.body === undefined ? 204 : 200), reply?.body);
  } catch (err) {
    const { status, body } = errorReply(err, { method: req.method, path: url.pathname });
    send(res, status, body);
  }
}

function find(table: Compiled[], method: string, path: string): { route: Compiled; params: Record<string, string> } {
  let pathMatched = false;
  for (const route of table) {
    const m = route.re.exec(path);
    if (!m) continue;
    pathMatched = true;
    if (route.method !== method) continue;
    const params: Record<string, string> = {};
    route.keys.forEach((k, i) => (params[k] = decodeURIComponent(m[i + 1] ?? '')));
    return { route, params };
  }
  if (pathMatched) throw new ConfigError(`method ${method} not allowed on ${path}`);
  throw new NotFoundError(`no such endpoint ${method} ${path}`);
}

function schemaError(v: ValidateFunction): ConfigError {
  const e = v.errors?.[0];
  const where = e?.instancePath ? e.instancePath.slice(1).replace(/\//g, '.') : (e?.params as { missingProperty?: string } | undefined)?.missingProperty ?? 'body';
  const field = e?.keyword === 'required' ? (e.params as { missingProperty: string }).missingProperty : where;
  const msg = e?.keyword === 'additionalProperties' ? `unknown field "${(e.params as { additionalProperty: string }).additionalProperty}"` : `${field}: ${e?.message ?? 'invalid'}`;
  return new ConfigError(msg, e?.keyword === 'additionalProperties' ? (e.params as { additionalProperty: string }).additionalProperty : field);
}

function readBody(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (b: Buffer) => {
      size += b.length;
      if (size > MAX_BODY) {
        reject(new ConfigError('request body is larger than 1 MiB', 'body'));
        req.destroy();
      } else chunks.push(b);
    });
    req.on('end', () => {
      if (size === 0) return resolve(undefined);
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString()));
      } catch (err) {
        reject(new ConfigError(`request body is not valid JSON: ${(err as Error).message}`, 'body'));
      }
    });
    req.on('error', reject);
  });
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return void res.end();
  if (status === 204 || body === undefined) {
    res.writeHead(status === 200 ? 204 : status).end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) }).end(text);
}
