/**
 * The standalone CNI executable's body (bin/tsnet-cni): the plugin is chosen by `--plugin
 * NAME` or by the name it was invoked under (a link named tsnet-bridge...). It reads
 * stdin and the environment, runs the plugin against the store at TSNET_ROOT (default
 * /var/lib/tsnet; several such processes at once are safe: the store serialises), prints
 * only the result (or error object) on stdout, logs to stderr / TSNET_LOG_FILE. Acts in the
 * process's netns (the host) and CNI_NETNS; it keeps nothing open when it returns.
 */
import { readFileSync, writeSync } from 'node:fs';
import { basename } from 'node:path';
import { log } from '../core/log.js';
import { parseCommand, versionInfo, type Output } from './skel/index.js';
import type { NetworkManager } from '../drivers/index.js';

/** The plugin name from argv: `--plugin NAME` wins, else the script's own name. */
export function pluginFromArgv(argv: readonly string[]): string {
  const i = argv.indexOf('--plugin');
  if (i >= 0 && argv[i + 1]) return argv[i + 1] as string;
  return basename(argv[1] ?? '');
}

function readStdin(): string {
  try {
    return readFileSync(0, 'utf8');
  } catch {
    return '';
  }
}

function write(text: string): void {
  const buf = Buffer.from(text);
  for (let off = 0; off < buf.length;) off += writeSync(1, buf, off);
}

const NAMES = ['tsnet-bridge', 'tsnet-macvlan', 'tsnet-ipam', 'tsnet-portmap', 'tsnet-bandwidth'];

/** Runs one invocation; resolves with the exit status after writing stdout. */
export async function main(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const name = pluginFromArgv(argv);
  const out = await invoke(name, env);
  write(out.stdout);
  return out.exitCode;
}

async function invoke(name: string, env: NodeJS.ProcessEnv): Promise<Output> {
  // VERSION needs neither the store nor the kernel: answered before loading them.
  if (NAMES.includes(name) && safeCommand(env) === 'VERSION') return { stdout: `${JSON.stringify(versionInfo())}\n`, exitCode: 0 };
  const stdin = readStdin();
  const [{ runCni }, { NetworkManager }, { paths }] = await Promise.all([
    import('./index.js'), import('../drivers/index.js'), import('../core/paths.js'),
  ]);
  let mgr: NetworkManager | undefined;
  try {
    return await runCni(name, { env, stdin }, {
      // One change and exit: the port table is created when missing, not re-asserted (tsnetd does that).
      manager: () => (mgr ??= NetworkManager.open(paths(env).dbFile, { lazyPortTable: true })),
    });
  } finally {
    try {
      mgr?.close();
    } catch (err) {
      log.warn({ err }, 'closing the store failed');
    }
  }
}

function safeCommand(env: NodeJS.ProcessEnv): string | undefined {
  try {
    return parseCommand(env);
  } catch {
    return undefined;
  }
}
