/**
 * tsnetd: the daemon. Parses flags (flag > env > default for TSNET_ROOT / TSNET_RUN /
 * TSNET_HOST), opens the engine (default networks, reconcile, DNS), serves the API on a
 * unix socket (mode 0600). SIGTERM/SIGINT stop serving and leave containers running.
 */
import net from 'node:net';
import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { Command } from 'commander';
import { log, paths } from '../../core/index.js';
import { Engine } from '../engine.js';
import { createApiServer } from './http.js';
import { routes } from './routes.js';

interface Flags { root?: string; run?: string; host?: string }

export async function main(argv: string[]): Promise<void> {
  const flags = new Command('tsnetd')
    .description('tsnet daemon: container networks, sandboxes and containers, served on a unix socket')
    .option('--root <dir>', 'state directory (env TSNET_ROOT, default /var/lib/tsnet)')
    .option('--run <dir>', 'run directory: netns mounts, runc state (env TSNET_RUN, default /run/tsnet)')
    .option('-H, --host <socket>', 'API socket path (env TSNET_HOST, default <run>/tsnetd.sock)')
    .parse(argv)
    .opts<Flags>();
  const env = { ...process.env };
  if (flags.root) env['TSNET_ROOT'] = flags.root;
  if (flags.run) env['TSNET_RUN'] = flags.run;
  if (flags.host) env['TSNET_HOST'] = flags.host;
  // Children (runc) and helpers resolve paths from the environment too.
  Object.assign(process.env, env);
  const p = paths(env);
  mkdirSync(p.run, { recursive: true, mode: 0o700 });
  await claimSocket(p.apiSocket);
  const engine = await Engine.open(p);
  const server = createApiServer(routes(engine));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(p.apiSocket, () => resolve());
  });
  chmodSync(p.apiSocket, 0o600);
  log.info({ socket: p.apiSocket, root: p.root, run: p.run }, 'tsnetd listening');
  const stop = (signal: string) => {
    log.info({ signal }, 'tsnetd stopping; containers keep running');
    server.close();
    server.closeAllConnections();
    void engine.close().finally(() => {
      if (existsSync(p.apiSocket)) unlinkSync(p.apiSocket);
      process.exit(0);
    });
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

/** Refuses to start next to a live daemon on the same socket; removes a stale socket file. */
async function claimSocket(path: string): Promise<void> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  if (!existsSync(path)) return;
  const alive = await new Promise<boolean>((resolve) => {
    const s = net.connect(path, () => (s.destroy(), resolve(true)));
    s.on('error', () => resolve(false));
  });
  if (alive) throw new Error(`another tsnetd is serving ${path}`);
  unlinkSync(path);
}
