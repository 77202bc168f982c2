/**
 * Where tsnet keeps things. Overridable by env so tests and several daemons can run
 * side by side: TSNET_ROOT (state: the SQLite store), TSNET_RUN (netns bind mounts,
 * sockets, locks), TSNET_HOST (the daemon API socket).
 */
import { dirname, join } from 'node:path';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface Paths {
  root: string;
  run: string;
  netnsDir: string;
  dbFile: string;
  apiSocket: string;
}

export function paths(env: NodeJS.ProcessEnv = process.env): Paths {
  const root = env['TSNET_ROOT'] ?? '/var/lib/tsnet';
  const run = env['TSNET_RUN'] ?? '/run/tsnet';
  return {
    root,
    run,
    netnsDir: join(run, 'netns'),
    dbFile: join(root, 'tsnet.db'),
    apiSocket: env['TSNET_HOST'] ?? join(run, 'tsnetd.sock'),
  };
}

let cachedRoot: string | undefined;

/** The package root (the folder with package.json), for native addons and bundled files. */
export function packageRoot(): string {
  if (cachedRoot) return cachedRoot;
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('tsnet package root not found');
    dir = up;
  }
  cachedRoot = dir;
  return dir;
}
