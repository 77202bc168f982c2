/**
 * The only user of child_process in tsnet. Programs are run by argv (never a shell),
 * with a timeout, stdin as data, and failures raised as ExecError carrying argv + stderr.
 * Runs in the caller's network namespace (the daemon's / test's "host" netns).
 */
import { createRequire } from 'node:module';
import { constants } from 'node:os';
import { ExecError } from '../errors.js';

/**
 * node:child_process, loaded on the first exec: it pulls in net, dgram and streams (~2 ms),
 * which a standalone CNI plugin on an existing network never needs.
 */
let childProcess: typeof import('node:child_process') | undefined;
const cp = (): typeof import('node:child_process') =>
  (childProcess ??= createRequire(import.meta.url)('node:child_process') as typeof import('node:child_process'));

export interface RunOptions {
  /** Written to the child's stdin, then closed. */
  input?: string;
  /** Killed with SIGKILL after this many ms (default 30 s). */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /** Exit codes other than 0 that count as success (e.g. a "not found" probe). */
  okCodes?: readonly number[];
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** Runs argv[0] with argv[1..]; resolves on an accepted exit code, rejects with ExecError. */
export function run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const [file, ...args] = argv;
  if (file === undefined) return Promise.reject(new ExecError(argv, null, '', 'empty argv'));
  return new Promise((resolve, reject) => {
    const child = cp().spawn(file, args, { env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new ExecError(argv, null, '', e.message));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const result = { stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), exitCode: code ?? -1 };
      if (code === 0 || (code !== null && options.okCodes?.includes(code))) resolve(result);
      else reject(new ExecError(argv, code, result.stderr));
    });
    child.stdin.on('error', () => undefined); // the child may exit before reading stdin
    child.stdin.end(options.input ?? '');
  });
}

export interface Started {
  pid: number;
  /** Resolves with the exit code (null on a signal) once the process has ended. */
  exited: Promise<number | null>;
  /** Collected output so far. */
  output(): { stdout: string; stderr: string };
  /** Ends this process (SIGTERM, then SIGKILL after `graceMs`) and waits for it. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Starts a long-running program by argv (servers in tests, daemons). The caller owns it
 * and ends it with stop(); it is only ever signalled by its own PID.
 */
export function start(argv: readonly string[], options: { env?: NodeJS.ProcessEnv; input?: string } = {}): Started {
  const [file, ...args] = argv;
  if (file === undefined) throw new ExecError(argv, null, '', 'empty argv');
  const env = options.env ?? process.env;
  const child = options.input === undefined
    ? cp().spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
    : cp().spawn(file, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
  // EPIPE when it reads no stdin is no error of ours.
  if (child.stdin) child.stdin.on('error', () => undefined).end(options.input);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<number | null>((resolve) => {
    child.on('error', () => resolve(null));
    child.on('close', (code) => resolve(code));
  });
  let done = false;
  void exited.then(() => (done = true));
  return {
    pid: child.pid ?? -1,
    exited,
    output: () => ({ stdout, stderr }),
    async stop(graceMs = 2000) {
      if (done) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

export interface DetachedOptions {
  /** File descriptor for the child's stdout (e.g. an O_APPEND log file); default /dev/null. */
  stdoutFd?: number;
  /** File descriptor for the child's stderr; default /dev/null. */
  stderrFd?: number;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

export interface Detached {
  pid: number;
  /**
   * Resolves with the exit status once the process has ended: its exit code, or 128 + the
   * signal number when a signal ended it (the shell's convention). Only the process that
   * started it can learn this; it is lost if that process dies first.
   */
  exited: Promise<number>;
}

/**
 * Starts argv in its own session and process group (setsid), stdin from /dev/null, stdout
 * and stderr on the given fds, and does not keep the event loop alive for it: a SIGTERM to
 * the caller's process group, a terminal hang-up or the caller's death (even kill -9) leave
 * it running. Resolves once the process exists (rejects with ExecError when it cannot be
 * spawned). The caller may close the fds it passed once this resolves. Who ends it is the
 * caller's business (by its PID, or by the protocol of the program, e.g. `runc kill`).
 */
export function startDetached(argv: readonly string[], options: DetachedOptions = {}): Promise<Detached> {
  const [file, ...args] = argv;
  if (file === undefined) return Promise.reject(new ExecError(argv, null, '', 'empty argv'));
  return new Promise((resolve, reject) => {
    const child = cp().spawn(file, args, {
      detached: true,
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', options.stdoutFd ?? 'ignore', options.stderrFd ?? 'ignore'],
    });
    const exited = new Promise<number>((done) => {
      child.once('exit', (code, signal) => done(code ?? 128 + (signal ? constants.signals[signal] ?? 0 : 0)));
    });
    child.once('error', (e) => reject(new ExecError(argv, null, '', e.message)));
    child.once('spawn', () => {
      child.unref();
      resolve({ pid: child.pid ?? -1, exited });
    });
  });
}
