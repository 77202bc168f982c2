/**
 * The daemon API client: HTTP/1.1 + JSON over tsnetd's unix socket (docs/api.md).
 * Pure client: no namespace, kernel or store access; it opens one connection per request
 * and closes it (no keep-alive pool to hold the process open).
 */
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
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

/** The daemon took the request but sent no answer within the client's time limit. */
export class DaemonTimeoutError extends TsnetError {
  constructor(socketPath: string, what: string, ms: number) {
    super('try-again', `tsnetd at ${socketPath} did not answer ${what} within ${ms / 1000} s (a longer limit: --timeout or TSNET_TIMEOUT, in seconds; 0 for none)`);
    this.name = 'DaemonTimeoutError';
  }
}

const UNREACHABLE = new Set(['ENOENT', 'ECONNREFUSED', 'EACCES', 'ENOTSOCK']);

/** How long a request may wait for the daemon's whole answer unless told otherwise. */
export const DEFAULT_TIMEOUT_MS = 120_000;

export type Method = 'GET' | 'POST' | 'DELETE';

export interface RequestOptions {
  /** No time limit: the answer comes when something happens (wait for a container's exit). */
  noTimeout?: boolean;
  /** Added to the limit: the daemon is asked to take that long (stop -t N). */
  extraMs?: number;
}

/** Builds `/v1/<segments...>?query`, encoding every path segment (names may hold anything). */
export function apiPath(segments: readonly string[], query: Record<string, string | undefined> = {}): string {
  const path = '/v1/' + segments.map((s) => encodeURIComponent(s)).join('/');
  const q = Object.entries(query).filter((e): e is [string, string] => e[1] !== undefined);
  return q.length === 0 ? path : `${path}?${new URLSearchParams(q).toString()}`;
}

export class ApiClient {
  /** `timeoutMs`: the limit on each answer (0: none); a daemon that accepts and never answers must not hang the CLI. */
  constructor(readonly socketPath: string, readonly timeoutMs = DEFAULT_TIMEOUT_MS) {}

  /**
   * Sends one request and parses the JSON answer (undefined for 204 / an empty body).
   * Rejects with ApiError on a non-2xx answer, DaemonUnreachableError when nobody listens,
   * DaemonTimeoutError when the whole answer takes longer than the limit.
   */
  async request<T>(method: Method, path: string, body?: unknown, opts: RequestOptions = {}): Promise<T> {
    const { req, response } = this.open(method, path, body);
    const { res, text } = await this.bounded(req, `${method} ${path}`, opts, response.then(async (r) => ({ res: r, text: (await readAll(r)).toString('utf8') })));
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
   * (logs --follow). Resolves when the daemon ends the body. The time limit covers the
   * answer's head only: a followed log may stay quiet for as long as its container does.
   */
  async stream(method: Method, path: string, onData: (chunk: Buffer) => void, body?: unknown): Promise<void> {
    const { req, response } = this.open(method, path, body);
    const res = await this.bounded(req, `${method} ${path}`, {}, response);
    const status = res.statusCode ?? 0;
    if (status < 200 || status > 299) throw new ApiError(status, parseErrorBody((await readAll(res)).toString('utf8')));
    await new Promise<void>((resolve, reject) => {
      res.on('data', onData);
      res.on('end', resolve);
      res.on('error', reject);
      res.on('aborted', () => reject(new TsnetError('try-again', `tsnetd closed the stream of ${path}`)));
    });
  }

  private open(method: Method, path: string, body: unknown): { req: ClientRequest; response: Promise<IncomingMessage> } {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string | number> = { Accept: 'application/json' };
    if (payload) Object.assign(headers, { 'Content-Type': 'application/json', 'Content-Length': payload.length });
    const req = httpRequest({ socketPath: this.socketPath, method, path, headers, agent: false });
    const response = new Promise<IncomingMessage>((resolve, reject) => {
      req.on('response', resolve);
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code && UNREACHABLE.has(err.code)) reject(new DaemonUnreachableError(this.socketPath, err.code, err));
        else reject(new TsnetError('internal', `${method} ${path}: ${err.message}`, { cause: err }));
      });
    });
    req.end(payload);
    return { req, response };
  }

  /** `work` within the request's time limit; past it the request is dropped and DaemonTimeoutError thrown. */
  private async bounded<T>(req: ClientRequest, what: string, opts: RequestOptions, work: Promise<T>): Promise<T> {
    if (opts.noTimeout || this.timeoutMs <= 0) return work;
    const ms = this.timeoutMs + (opts.extraMs ?? 0);
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        reject(new DaemonTimeoutError(this.socketPath, what, ms));
        req.destroy(); // closes the socket, so the process can exit
      }, ms);
    });
    try {
      return await Promise.race([work, expired]);
    } finally {
      clearTimeout(timer);
    }
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
