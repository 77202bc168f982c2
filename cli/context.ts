/**
 * What every command action gets: the API client (built on first use from --host /
 * TSNET_HOST / the run dir), output sinks and the clock. Commands never touch
 * process.stdout or process.exit directly, so main() decides the exit status.
 */
import { ConfigError } from '../core/errors.js';
import { paths } from '../core/paths.js';
import { ApiClient, DEFAULT_TIMEOUT_MS } from './client.js';

export interface Io {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Reads one line from stdin (without the newline), "" at end of input. */
  readLine(): Promise<string>;
  now(): number;
}

export class Ctx {
  /** The status main() returns; commands raise it for partial failures. */
  exitCode = 0;
  private api: ApiClient | undefined;

  constructor(
    readonly io: Io,
    private readonly hostOption: () => string | undefined,
    private readonly timeoutOption: () => number | undefined = () => undefined,
  ) {}

  /** The socket path: --host, else TSNET_HOST, else $TSNET_RUN/tsnetd.sock, else /run/tsnet/tsnetd.sock. */
  socketPath(): string {
    return this.hostOption() ?? paths().apiSocket;
  }

  /** The limit on each answer in ms: --timeout, else TSNET_TIMEOUT (seconds; 0: none), else 120 s. */
  timeoutMs(): number {
    const flag = this.timeoutOption();
    if (flag !== undefined) return flag * 1000;
    const env = process.env['TSNET_TIMEOUT'];
    if (env === undefined || env === '') return DEFAULT_TIMEOUT_MS;
    const seconds = parseSeconds(env);
    if (seconds === undefined) throw new ConfigError(`TSNET_TIMEOUT: "${env}" is not a number of seconds`, 'TSNET_TIMEOUT');
    return seconds * 1000;
  }

  client(): ApiClient {
    this.api ??= new ApiClient(this.socketPath(), this.timeoutMs());
    return this.api;
  }

  out(text: string): void {
    this.io.stdout(text);
  }

  /** Prints `value` as indented JSON (4 spaces, as docker inspect). */
  json(value: unknown): void {
    this.io.stdout(JSON.stringify(value, null, 4) + '\n');
  }

  /** Reports one failed target ("Error: ..." on stderr) and makes the command exit 1. */
  fail(err: unknown): void {
    this.io.stderr(`Error: ${err instanceof Error ? err.message : String(err)}\n`);
    this.exitCode = Math.max(this.exitCode, 1);
  }

  /**
   * Runs `fn` for every target in order, like docker's multi-argument verbs: a failure is
   * reported and the others still run. Resolves with the results of the targets that worked.
   */
  async eachTarget<T>(targets: readonly string[], fn: (target: string) => Promise<T>): Promise<T[]> {
    const results: T[] = [];
    for (const t of targets) {
      try {
        results.push(await fn(t));
      } catch (err) {
        if (isUnreachable(err)) throw err;
        this.fail(err);
      }
    }
    return results;
  }
}

/** A daemon that cannot be reached, or did not answer in time, will not answer the next target either. */
function isUnreachable(err: unknown): boolean {
  return err instanceof Error && (err.name === 'DaemonUnreachableError' || err.name === 'DaemonTimeoutError');
}

/** A non-negative number of seconds ('2', '0.5'), else undefined. */
export function parseSeconds(text: string): number | undefined {
  if (!/^\d+(\.\d+)?$/.test(text.trim())) return undefined;
  return Number(text);
}
