/**
 * tsnetd: the daemon. Parses flags (flag > env > default for TSNET_ROOT / TSNET_RUN /
 * TSNET_HOST), opens the engine (default networks, reconcile, DNS), serves the API on a
 * unix socket (mode 0600). SIGTERM/SIGINT stop serving and leave containers running.
 */
import net from 'node:net';
import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { Command } from 'commander';
import { log, makeDirs, paths } from '../../core/index.js';
import { deferLinkDeletes } from '../../core/link-reaper/index.js';
import { deferFlowDeletes } from '../../core/flow-sweeper/index.js';
import { Engine } from '../engine.js';
import { createApiServer } from './http.js';
import { cniWireHandler } from './cni.js';
import { createApiListener } from './listener.js';
import { routes } from './routes.js';
import { DOCKER_PLUGIN_DIR, startDockerPlugin, type DockerPluginServer } from './docker-plugin.js';

interface Flags { root?: string; run?: string; host?: string; dockerPluginDir?: string }

export async function main(argv: string[]): Promise<void> {
  const flags = new Command('tsnetd')
    .description('tsnet daemon: container networks, sandboxes and containers, served on a unix socket')
    .option('--root <dir>', 'state directory (env TSNET_ROOT, default /var/lib/tsnet)')
    .option('--run <dir>', 'run directory: netns mounts, runc state (env TSNET_RUN, default /run/tsnet)')
    .option('-H, --host <socket>', 'API socket path (env TSNET_HOST, default <run>/tsnetd.sock)')
    .option('--docker-plugin-dir <dir>', `Docker plugin socket directory, "" for none (env TSNET_DOCKER_PLUGIN_DIR, default ${DOCKER_PLUGIN_DIR})`)
    .parse(argv)
    .opts<Flags>();
  const env = { ...process.env };
  if (flags.root) env['TSNET_ROOT'] = flags.root;
  if (flags.run) env['TSNET_RUN'] = flags.run;
  if (flags.host) env['TSNET_HOST'] = flags.host;
  // Children (runc) and helpers resolve paths from the environment too.
  Object.assign(process.env, env);
  const p = paths(env);
  makeDirs(p.run, 0o700);
  await claimSocket(p.apiSocket);
  // Requests must not wait for the kernel's ~15 ms per deleted link: retire, delete later;
  // nor for its ~9 ms conntrack walk per UDP port change: a worker walks meanwhile.
  deferLinkDeletes(true);
  deferFlowDeletes(true);
  const engine = await Engine.open(p);
  const api = createApiServer(routes(engine));
  const server = createApiListener(api, cniWireHandler(engine));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(p.apiSocket, () => resolve());
  });
  chmodSync(p.apiSocket, 0o600);
  log.info({ socket: p.apiSocket, root: p.root, run: p.run }, 'tsnetd listening');
  const docker = await serveDocker(engine, flags.dockerPluginDir ?? process.env['TSNET_DOCKER_PLUGIN_DIR'] ?? DOCKER_PLUGIN_DIR);
  const stop = (signal: string) => {
    log.info({ signal }, 'tsnetd stopping; containers keep running');
    server.close();
    api.close();
    api.closeAllConnections();
    void (docker?.close() ?? Promise.resolve()).then(() => engine.close()).finally(() => {
      if (existsSync(p.apiSocket)) unlinkSync(p.apiSocket);
      process.exit(0);
    });
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

/** Serves the Docker plugin socket in `dir` ('' = not at all); a failure is logged, the API keeps serving. */
async function serveDocker(engine: Engine, dir: string): Promise<DockerPluginServer | undefined> {
  if (dir === '') return undefined;
  try {
    return await startDockerPlugin(engine.mgr, dir);
  } catch (err) {
    log.error({ err, dir }, 'cannot serve the docker plugin');
    return undefined;
  }
}

/** Refuses to start next to a live daemon on the same socket; removes a stale socket file. */
async function claimSocket(path: string): Promise<void> {
  makeDirs(dirname(path), 0o700);
  if (!existsSync(path)) return;
  const alive = await new Promise<boolean>((resolve) => {
    const s = net.connect(path, () => (s.destroy(), resolve(true)));
    s.on('error', () => resolve(false));
  });
  if (alive) throw new Error(`another tsnetd is serving ${path}`);
  unlinkSync(path);
}
