/**
 * POST /v1/cni: the CNI fast path. The compiled shim (cni/shim) forwards one plugin
 * invocation {argv0, env, stdin, hostNetns?} and relays the answer {stdout, exitCode}; the
 * plugin code is the standalone one (cni/), run in-process on the daemon's NetworkManager.
 * With `?raw=1` the answer is the plugin's stdout as the body and the exit code in the
 * X-Cni-Exit-Code header (what the shim reads). A caller in another network namespace than
 * the daemon's gets 409, and the shim then runs the plugin itself (its host netns differs).
 */
import { ConflictError } from '../../core/index.js';
import { netnsInode } from '../../core/netns/index.js';
import { runCni } from '../../cni/index.js';
import type { Engine } from '../engine.js';
import type { Route } from './http.js';

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

/** Only the CNI_* variables reach the plugin: the daemon's own paths and settings stay its own. */
function cniEnv(env: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('CNI_')));
}

export function cniRoutes(engine: Pick<Engine, 'mgr'>): Route[] {
  const host = { manager: () => engine.mgr };
  return [{
    method: 'POST', path: '/v1/cni', schema, handler: async (r) => {
      const b = r.body as CniBody;
      if (b.hostNetns !== undefined && b.hostNetns !== netnsInode()) {
        throw new ConflictError('tsnetd runs in another network namespace than the caller', 'hostNetns');
      }
      const out = await runCni(b.argv0, { env: cniEnv(b.env), stdin: b.stdin }, host);
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
