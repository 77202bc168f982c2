/**
 * The daemon API client: HTTP/1.1 + JSON over tsnetd's unix socket (docs/api.md).
 * Pure client: no namespace, kernel or store access; it opens one connection per request
 * and closes it (no keep-alive pool to hold the process open).
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { TsnetError, type ErrorCode } from '../core/errors.js';
import type { ApiErrorBody } from './types.js';

const CODES: readonly ErrorCode[] = ['config', 'not-found', 'conflict', 'try-again', 'kernel', 'exec', 'internal'];
const STATUS_CODES: Record<number, ErrorCode> = { 400: 'config', 404: 'not-found', 409: 'conflict', 503: 'try-again' };

/** A non-2xx answer of the daemon; `message` is the daemon's, `status` the HTTP status. */
export class ApiError extends TsnetError {
  readonly status: number;

  constructor(status: number, body: ApiErrorBody) {
    const code = CODES.includes(body.code as ErrorCode) ? (body.code as ErrorCode) : (STATUS_CODES[status] ?? 'internal');
    super(code, body.message ?? `daemon answered HTTP ${status}`, { field: body.field });
    this.name = 'ApiError';
    this.status = status;
  }
}

/** The socket could not be reached (no daemon, stale socket, no permission). */
export class DaemonUnreachableError extends TsnetError {
  readonly socketPath: string;
  readonly errnoCode: string;

  constructor(socketPath: string, errnoCode: string, cause: unknown) {
    const hint = errnoCode === 'EACCES' ? 'permission denied (run as root?)' : 'is it running? Start it with: tsnetd &';
    super('try-again', `cannot reach tsnetd at ${socketPath}: ${hint} (or point --host / TSNET_HOST at its socket)`, { cause });
    this.name = 'DaemonUnreachableError';
    this.socketPath = socketPath;
    this.errnoCode = errnoCode;
  }
}

const UNREACHABLE = new Set(['ENOENT', 'ECONNREFUSED', 'EACCES', 'ENOTSOCK']);

export type Method = 'GET' | 'POST' | 'DELETE';

/** Builds `/v1/<segments...>?query`, encoding every path segment (names may hold anything). */
export function apiPath(segments: readonly string[], query: Record<string, string | undefined> = {}): string {
  const path = '/v1/' + segments.map((s) => encodeURIComponent(s)).join('/');
  const q = Object.entries(query).filter((e): e is [string, string] => e[1] !== undefined);
  return q.length === 0 ? path : `${path}?${new URLSearchParams(q).toString()}`;
}

export class ApiClient {
  constructor(readonly socketPath: string) {}

  /**
   * Sends one request and parses the JSON answer (undefined for 204 / an empty body).
   * Rejects with ApiError on a non-2xx answer, DaemonUnreachableError when nobody listens.
   */
  async request<T>(method: Method, path: string, body?: unknown): Promise<T> {
    const res = await this.open(method, path, body);
    const text = (await readAll(res)).toString('utf8');
    const status = res.statusCode ?? 0;
    if (status < 200 || status > 299) throw new ApiError(status, parseErrorBody(text));
    if (text.trim() === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new TsnetError('internal', `daemon sent invalid JSON for ${method} ${path}: ${text.slice(0, 200)}`);
    }
  }

  /**
   * Sends one request and hands each chunk of a 2xx answer's body to `onData` as it arrives
   * (logs --follow). Resolves when the daemon ends the body.
   */
  async stream(method: Method, path: string, onData: (chunk: Buffer) => void, body?: unknown): Promise<void> {
    const res = await this.open(method, path, body);
    const status = res.statusCode ?? 0;
    if (status < 200 || status > 299) throw new ApiError(status, parseErrorBody((await readAll(res)).toString('utf8')));
    await new Promise<void>((resolve, reject) => {
      res.on('data', onData);
      res.on('end', resolve);
      res.on('error', reject);
      res.on('aborted', () => reject(new TsnetError('try-again', `tsnetd closed the stream of ${path}`)));
    });
  }

  private open(method: Method, path: string, body: unknown): Promise<IncomingMessage> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string | number> = { Accept: 'application/json' };
    if (payload) Object.assign(headers, { 'Content-Type': 'application/json', 'Content-Length': payload.length });
    return new Promise((resolve, reject) => {
      const req = httpRequest({ socketPath: this.socketPath, method, path, headers, agent: false }, resolve);
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code && UNREACHABLE.has(err.code)) reject(new DaemonUnreachableError(this.socketPath, err.code, err));
        else reject(new TsnetError('internal', `${method} ${path}: ${err.message}`, { cause: err }));
      });
      req.end(payload);
    });
  }
}

function readAll(res: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks)));
    res.on('error', reject);
  });
}

function parseErrorBody(text: string): ApiErrorBody {
  try {
    const parsed = JSON.parse(text) as unknown;
    if (parsed && typeof parsed === 'object') return parsed as ApiErrorBody;
  } catch {
    // not JSON: fall through and use the text itself
  }
  return text.trim() ? { message: text.trim() } : {};
}
