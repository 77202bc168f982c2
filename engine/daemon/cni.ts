/**
 * The CNI fast path. The compiled shim (cni/shim) forwards one plugin invocation
 * {argv0, env, stdin, hostNetns?} and relays the plugin's stdout and exit code; the plugin code
 * is the standalone one (cni/), run in-process on the daemon's NetworkManager.
 *
 * Two ways in, same work (docs/api.md):
 * - `POST /v1/cni` (HTTP, for scripts): `{stdout, exitCode}`, or with `?raw=1` the stdout as the
 *   body and the exit code in the X-Cni-Exit-Code header.
 * - the CNI wire on the same socket (what the shim speaks): one length-prefixed frame each way,
 *   no HTTP parsing or header objects (~0.4 ms less per exec on the 2-core machine).
 * A caller in another network namespace than the daemon's is told to run the plugin itself
 * (409 / `fallback`): its host netns differs.
 */
import type net from 'node:net';
import { ConfigError, ConflictError, log } from '../../core/index.js';
import { netnsInode } from '../../core/netns/index.js';
import { runCni } from '../../cni/index.js';
import type { Output } from '../../cni/skel/index.js';
import type { Engine } from '../engine.js';
import { bodyCheck, errorReply, type Route } from './http.js';

const schema = {
  type: 'object', required: ['argv0', 'env', 'stdin'], additionalProperties: false,
  properties: {
    argv0: { type: 'string', minLength: 1 },
    env: { type: 'object', additionalProperties: { type: 'string' } },
    stdin: { type: 'string' },
    hostNetns: { type: 'integer' },
  },
};

interface CniBody { argv0: string; env: Record<string, string>; stdin: string; hostNetns?: number }
/** One compiled check for both ways in. */
const checkBody = bodyCheck(schema);
type Host = { manager: () => Engine['mgr'] };

/** Only the CNI_* variables reach the plugin: the daemon's own paths and settings stay its own. */
function cniEnv(env: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('CNI_')));
}

/** Checks and runs one forwarded invocation; ConflictError when the caller must run it itself. */
async function invoke(body: unknown, host: Host): Promise<Output> {
  checkBody(body);
  const b = body as CniBody;
  if (b.hostNetns !== undefined && b.hostNetns !== netnsInode()) {
    throw new ConflictError('tsnetd runs in another network namespace than the caller', 'hostNetns');
  }
  return runCni(b.argv0, { env: cniEnv(b.env), stdin: b.stdin }, host);
}

export function cniRoutes(engine: Pick<Engine, 'mgr'>): Route[] {
  const host = { manager: () => engine.mgr };
  return [{
    method: 'POST', path: '/v1/cni', handler: async (r) => {
      const out = await invoke(r.body, host);
      if (r.query.get('raw') !== '1') return { body: out };
      return {
        stream: (res) => {
          const body = Buffer.from(out.stdout);
          res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': body.length, 'X-Cni-Exit-Code': String(out.exitCode) });
          res.end(body);
        },
      };
    },
  }];
}

/*
 * The CNI wire. Request: "\0CNI1 <length>\n" then <length> bytes of the JSON body above.
 * Answer: "\0CNI1 <kind> <n> <length>\n" then <length> bytes, kind one of
 *   exit      n = the plugin's exit code, body = its stdout;
 *   fallback  n = 0, body = why: the caller runs the plugin standalone (other netns);
 *   error     n = the HTTP status the same refusal would get, body = {"message","code","field"?}.
 * The daemon closes the connection after the answer. A leading NUL byte never starts an HTTP
 * request, which is how the API socket tells the two apart (listener.ts).
 */
export const WIRE_MAGIC = '\0CNI1 ';
const MAX_FRAME = (1 << 20) + 64;

/** Serves one CNI wire connection whose first bytes (`first`) were already read. */
export function cniWireHandler(engine: Pick<Engine, 'mgr'>): (socket: net.Socket, first: Buffer) => void {
  const host = { manager: () => engine.mgr };
  return (socket, first) => {
    socket.on('error', (err) => log.debug({ err }, 'cni wire connection failed'));
    readFrame(socket, first)
      .then((body) => invoke(body, host))
      .then((out) => frame('exit', out.exitCode, out.stdout), refusal)
      .then((frame) => socket.end(frame), (err: unknown) => {
        log.error({ err }, 'cni wire answer failed');
        socket.destroy();
      });
  };
}

function refusal(err: unknown): Buffer {
  if (err instanceof ConflictError && err.field === 'hostNetns') return frame('fallback', 0, err.message);
  const { status, body } = errorReply(err, { path: 'cni wire' });
  return frame('error', status, JSON.stringify(body));
}

function frame(kind: 'exit' | 'fallback' | 'error', n: number, body: string): Buffer {
  const b = Buffer.from(body);
  return Buffer.concat([Buffer.from(`${WIRE_MAGIC}${kind} ${n} ${b.length}\n`), b]);
}

/** Reads "\0CNI1 <length>\n<body>" from `socket` (starting with `first`) and parses the body. */
function readFrame(socket: net.Socket, first: Buffer): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let buf = first;
    const done = (err?: Error, body?: unknown): void => {
      socket.off('data', onData).off('end', onEnd);
      if (err) reject(err);
      else resolve(body);
    };
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      check();
    };
    const onEnd = (): void => done(new ConfigError('cni request ended before its body', 'body'));
    const check = (): void => {
      const nl = buf.indexOf(10);
      if (nl < 0) return void (buf.length > 64 && done(new ConfigError('cni request header is malformed', 'body')));
      const m = /^\0CNI1 (\d{1,8})$/.exec(buf.subarray(0, nl).toString('latin1'));
      if (!m) return done(new ConfigError('cni request header is malformed', 'body'));
      const len = Number(m[1]);
      if (nl + 1 + len > MAX_FRAME) return done(new ConfigError('cni request body is larger than 1 MiB', 'body'));
      if (buf.length < nl + 1 + len) return;
      try {
        done(undefined, JSON.parse(buf.subarray(nl + 1, nl + 1 + len).toString()));
      } catch (err) {
        done(new ConfigError(`cni request body is not valid JSON: ${(err as Error).message}`, 'body'));
      }
    };
    socket.on('data', onData).on('end', onEnd);
    socket.resume();
    check();
  });
}
