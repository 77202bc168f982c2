/**
 * Where tsnet keeps things. Overridable by env so tests and several daemons can run
 * side by side: TSNET_ROOT (state: the SQLite store), TSNET_RUN (netns bind mounts,
 * sockets, locks), TSNET_HOST (the daemon API socket).
 */
import { dirname, join, resolve } from 'node:path';
import { existsSync, mkdirSync } from 'node:fs';
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

/**
 * mkdir -p. Not Node's recursive mkdirSync: Node 20's loops forever where mkdir fails with
 * ENOENT under an existing parent (a path under /proc), which would hang a CNI plugin given
 * such a TSNET_ROOT; here that ENOENT is the error. `mode` applies to each directory made.
 */
export function makeDirs(dir: string, mode?: number): void {
  const missing: string[] = [];
  for (let d = resolve(dir); !existsSync(d) && dirname(d) !== d; d = dirname(d)) missing.push(d);
  for (const d of missing.reverse()) {
    try {
      mkdirSync(d, mode === undefined ? {} : { mode });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}
