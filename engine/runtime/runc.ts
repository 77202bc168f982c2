/**
 * Thin argv wrappers over the runc CLI (`runc --root <dir> ...`), through core/exec. runc's
 * state dir (`--root`) persists across daemon restarts, so any process with the same root
 * sees the same containers. Acts in the caller's netns; containers live in their own.
 */
import { run, type RunResult } from '../../core/exec/index.js';
import { ConflictError, ExecError, NotFoundError } from '../../core/errors.js';

/** `runc state` output (the fields tsnet reads). */
export interface RuncState {
  id: string;
  pid: number;
  /** creating, created, running, paused, stopped. */
  status: string;
  bundle: string;
  created: string;
}

const MISSING = /does not exist/;
const NOT_RUNNING = /not running|process already finished|container is stopped/i;

/** runc's error line (`time=... level=error msg="..."`) as plain text. */
export function runcMessage(stderr: string): string {
  const msgs = [...stderr.matchAll(/level=(?:error|fatal) msg="((?:[^"\\]|\\.)*)"/g)].map((m) => (m[1] ?? '').replace(/\\"/g, '"'));
  return msgs.length > 0 ? msgs.join('; ') : stderr.trim();
}

export class Runc {
  constructor(readonly root: string, readonly binary = 'runc') {}

  /** The full argv of a runc subcommand. */
  argv(...args: string[]): string[] {
    return [this.binary, '--root', this.root, ...args];
  }

  /** A container's state, or undefined when runc does not know it. */
  async state(id: string): Promise<RuncState | undefined> {
    const r = await run(this.argv('state', id), { okCodes: [1], timeoutMs: 10_000 });
    if (r.exitCode === 0) return JSON.parse(r.stdout) as RuncState;
    if (MISSING.test(r.stderr)) return undefined;
    throw new ExecError(this.argv('state', id), r.exitCode, r.stderr);
  }

  /** Every container under this root. */
  async list(): Promise<RuncState[]> {
    const r = await run(this.argv('list', '--format', 'json'), { timeoutMs: 10_000 });
    return (JSON.parse(r.stdout.trim() || 'null') as RuncState[] | null) ?? [];
  }

  /** Signals the container's init. False when it is not running (or missing). */
  async kill(id: string, signal: string): Promise<boolean> {
    const r = await run(this.argv('kill', id, signal), { okCodes: [1], timeoutMs: 10_000 });
    if (r.exitCode === 0) return true;
    if (MISSING.test(r.stderr) || NOT_RUNNING.test(r.stderr)) return false;
    throw new ExecError(this.argv('kill', id, signal), r.exitCode, r.stderr);
  }

  /** Deletes the container (kills it first); idempotent. */
  async delete(id: string): Promise<void> {
    await run(this.argv('delete', '--force', id), { timeoutMs: 30_000 });
  }

  /**
   * Runs argv inside a running container with its spec's env and capabilities, capturing
   * output; runc is killed after timeoutMs (what it started inside may outlive that).
   * runc does not parse flags after the id, so argv goes through as is. A program that
   * cannot be started gives exit code 127 and runc's message on stderr (as `docker exec`).
   * NotFoundError when the container is missing, ConflictError when it is not running.
   */
  async exec(id: string, argv: readonly string[], timeoutMs: number, env: readonly string[] = []): Promise<RunResult> {
    const full = this.argv('exec', ...env.flatMap((e) => ['--env', e]), id, ...argv);
    const r = await run(full, { timeoutMs, okCodes: Array.from({ length: 255 }, (_, i) => i + 1) });
    if (r.exitCode !== 255 || !/level=(error|fatal) msg="exec failed/.test(r.stderr)) return r;
    const msg = runcMessage(r.stderr);
    if (MISSING.test(msg)) throw new NotFoundError(`container ${id} does not exist`);
    if (/stopped container|not running/.test(msg)) throw new ConflictError(`container ${id} is not running`);
    if (/unable to start container process/.test(msg)) return { stdout: r.stdout, stderr: `${msg}\n`, exitCode: 127 };
    throw new ExecError(full, r.exitCode, r.stderr);
  }
}
