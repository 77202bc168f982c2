/**
 * Typed errors. Every error tsnet raises carries a stable `code` that the
 * front-ends translate (CNI error codes, libnetwork {"Err"}, CLI exit status).
 * Context is prepended at each boundary with `addContext`, so a message reads
 * outermost-first: "attach endpoint e1: add address 10.0.0.2/24 to eth0: File exists".
 */
export type ErrorCode =
  | 'config'
  | 'not-found'
  | 'conflict'
  | 'try-again'
  | 'kernel'
  | 'exec'
  | 'internal';

export interface ErrorDetails {
  /** The configuration field at fault (for config errors). */
  field?: string;
  cause?: unknown;
}

export class TsnetError extends Error {
  readonly code: ErrorCode;
  readonly field: string | undefined;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'TsnetError';
    this.code = code;
    this.field = details.field;
  }

  /** Prefixes the message with what the caller was doing; keeps code and fields. */
  addContext(context: string): this {
    this.message = `${context}: ${this.message}`;
    return this;
  }
}

/** Bad input: the caller must change the request. `field` names the offending field. */
export class ConfigError extends TsnetError {
  constructor(message: string, field?: string) {
    super('config', message, { field });
    this.name = 'ConfigError';
  }
}

export class NotFoundError extends TsnetError {
  constructor(message: string) {
    super('not-found', message);
    this.name = 'NotFoundError';
  }
}

export class ConflictError extends TsnetError {
  constructor(message: string, field?: string) {
    super('conflict', message, { field });
    this.name = 'ConflictError';
  }
}

/** Transient: the same request may succeed later (locks, exhausted retries). */
export class TryAgainError extends TsnetError {
  constructor(message: string, cause?: unknown) {
    super('try-again', message, { cause });
    this.name = 'TryAgainError';
  }
}

/** A netlink / syscall failure. `errno` is positive (e.g. 17 for EEXIST). */
export class KernelError extends TsnetError {
  readonly errno: number;
  readonly op: string;
  readonly errnoCode: string;

  constructor(op: string, errno: number, errnoCode: string, message: string, cause?: unknown) {
    super('kernel', `${op}: ${message}`, { cause });
    this.name = 'KernelError';
    this.op = op;
    this.errno = errno;
    this.errnoCode = errnoCode;
  }
}

/** A helper program failed. Carries its argv and stderr. */
export class ExecError extends TsnetError {
  readonly argv: readonly string[];
  readonly exitCode: number | null;
  readonly stderr: string;

  constructor(argv: readonly string[], exitCode: number | null, stderr: string, message?: string) {
    const detail = message ?? `exited with ${exitCode === null ? 'a signal' : `status ${exitCode}`}`;
    super('exec', `${argv.join(' ')}: ${detail}${stderr ? `: ${stderr.trim()}` : ''}`);
    this.name = 'ExecError';
    this.argv = argv;
    this.exitCode = exitCode;
    this.stderr = stderr;
  }
}

export function isTsnetError(err: unknown): err is TsnetError {
  return err instanceof TsnetError;
}

/** Wraps anything thrown into a TsnetError (code 'internal' unless it already is one). */
export function toTsnetError(err: unknown): TsnetError {
  if (err instanceof TsnetError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new TsnetError('internal', message, { cause: err });
}

/** Runs `fn`, and on failure prefixes the error with `context` (a boundary). */
export async function withContext<T>(context: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toTsnetError(err).addContext(context);
  }
}
