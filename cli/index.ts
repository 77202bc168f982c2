/**
 * `tsnet`: the command-line client of tsnetd. It only speaks the daemon's HTTP API over
 * its unix socket (it loads no driver, store or kernel code, so it starts fast) and acts in
 * no network namespace itself. Exit status: 0 ok, 1 an error (the daemon's message on
 * stderr as "Error: ..."), 2 a usage error, or the container's status for `run` / `exec`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { packageRoot } from '../core/paths.js';
import { registerCniCommands } from './cni-commands.js';
import { registerContainerCommands } from './container-commands.js';
import { Ctx, parseSeconds, type Io } from './context.js';
import { registerImageCommands } from './image-commands.js';
import { registerNetworkCommands } from './network-commands.js';
import { registerSystemCommands } from './system-commands.js';

export { ApiClient, ApiError, DaemonTimeoutError, DaemonUnreachableError, apiPath } from './client.js';
export type { Io } from './context.js';

function clientVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version?: string }).version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** Reads one line from this process's stdin ("" at end of input), then lets stdin go. */
function readStdinLine(): Promise<string> {
  return new Promise((resolve) => {
    let buf = '';
    const done = (): void => {
      process.stdin.off('data', onData);
      process.stdin.off('end', done);
      process.stdin.pause();
      resolve(buf.split('\n')[0] ?? '');
    };
    const onData = (chunk: Buffer): void => {
      buf += chunk.toString('utf8');
      if (buf.includes('\n')) done();
    };
    process.stdin.on('data', onData);
    process.stdin.on('end', done);
  });
}

export const processIo: Io = {
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
  readLine: readStdinLine,
  now: () => Date.now(),
};

function secondsArg(value: string): number {
  const n = parseSeconds(value);
  if (n === undefined) throw new InvalidArgumentError(`"${value}" is not a number of seconds`);
  return n;
}

/** Builds the commander program; actions act through `ctx`. */
export function buildProgram(ctx: Ctx, io: Io): Command {
  const program = new Command('tsnet')
    .description('tsnet: networks and containers, a client of tsnetd')
    .option('-H, --host <path>', 'tsnetd API socket (default: $TSNET_HOST, else $TSNET_RUN/tsnetd.sock, else /run/tsnet/tsnetd.sock)')
    .option('--timeout <seconds>', 'give up on an answer of tsnetd after this long, 0 for never (default: $TSNET_TIMEOUT, else 120; wait and followed logs have none)', secondsArg)
    .version(clientVersion(), '-v, --version', 'print the client version')
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .showHelpAfterError('(add --help for usage)');
  registerNetworkCommands(program, ctx);
  registerContainerCommands(program, ctx);
  registerImageCommands(program, ctx);
  registerSystemCommands(program, ctx, clientVersion());
  registerCniCommands(program, ctx);
  return program;
}

/** Flags that, as in docker's CLI, take an optional `=true|false` (commander: `--x` / `--no-x`). */
const BOOL_FLAGS = new Set(['--ipv4', '--ipv6']);

/** `--ipv4=false` → `--no-ipv4`, `--ipv4=true` → `--ipv4`; any other value is left for commander to refuse. */
export function dockerBoolFlags(argv: readonly string[]): string[] {
  return argv.map((a) => {
    const eq = a.indexOf('=');
    if (eq < 0 || !BOOL_FLAGS.has(a.slice(0, eq))) return a;
    const v = a.slice(eq + 1);
    if (/^(true|1)$/i.test(v)) return a.slice(0, eq);
    if (/^(false|0)$/i.test(v)) return `--no-${a.slice(2, eq)}`;
    return a;
  });
}

/** Runs the CLI on `argv` (without node and script) and resolves with the exit status. */
export async function main(argv: readonly string[], io: Io = processIo): Promise<number> {
  let program: Command | undefined;
  const ctx = new Ctx(io, () => program?.opts<{ host?: string }>().host, () => program?.opts<{ timeout?: number }>().timeout);
  program = buildProgram(ctx, io);
  if (argv.length === 0) {
    io.stdout(program.helpInformation());
    return 0;
  }
  try {
    await program.parseAsync(dockerBoolFlags(argv), { from: 'user' });
    return ctx.exitCode;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    ctx.fail(err);
    return 1;
  }
}
