/**
 * CNI error objects (spec 1.1 "Error"): `{cniVersion, code, msg, details}` printed on stdout
 * with a non-zero exit. Codes 1-99 are the spec's; 100 and up are tsnet's own. Pure.
 */
import { isTsnetError, KernelError, ExecError } from '../../core/errors.js';

/** The spec's well-known codes, and ours from 100. */
export const CNI_ERR = {
  INCOMPATIBLE_VERSION: 1,
  UNSUPPORTED_FIELD: 2,
  UNKNOWN_CONTAINER: 3,
  INVALID_ENV: 4,
  IO_FAILURE: 5,
  DECODE: 6,
  INVALID_CONFIG: 7,
  TRY_AGAIN: 11,
  NOT_AVAILABLE: 50,
  NOT_AVAILABLE_DAMAGED: 51,
  /** tsnet: anything unexpected. */
  INTERNAL: 100,
  /** tsnet: a netlink / syscall failure (details carry the errno). */
  KERNEL: 101,
  /** tsnet: a conflict (interface or address taken, network with another configuration). */
  CONFLICT: 102,
  /** tsnet: something the operation needs is missing (CHECK of an unknown attachment). */
  NOT_FOUND: 103,
  /** tsnet: a helper program (iptables-restore) failed. */
  EXEC: 104,
  /** tsnet: the daemon could not be reached mid-request (fast path). */
  DAEMON: 105,
} as const;

export type CniErrorCode = (typeof CNI_ERR)[keyof typeof CNI_ERR] | number;

export class CniError extends Error {
  readonly code: number;
  readonly details: string;

  constructor(code: number, msg: string, details = '') {
    super(msg);
    this.name = 'CniError';
    this.code = code;
    this.details = details;
  }
}

/** The error as the spec's JSON object (key order as the reference plugins print it). */
export interface CniErrorObject {
  cniVersion: string;
  code: number;
  msg: string;
  details?: string;
}

/** Maps anything thrown to a CniError: tsnet's typed errors by their code. */
export function toCniError(err: unknown): CniError {
  if (err instanceof CniError) return err;
  if (isTsnetError(err)) {
    const field = err.field ? `field: ${err.field}` : '';
    switch (err.code) {
      case 'config': return new CniError(CNI_ERR.INVALID_CONFIG, err.message, field);
      case 'try-again': return new CniError(CNI_ERR.TRY_AGAIN, err.message, field);
      case 'conflict': return new CniError(CNI_ERR.CONFLICT, err.message, field);
      case 'not-found': return new CniError(CNI_ERR.NOT_FOUND, err.message, field);
      case 'kernel': return new CniError(CNI_ERR.KERNEL, err.message, err instanceof KernelError ? `errno ${err.errno} (${err.errnoCode})` : '');
      case 'exec': return new CniError(CNI_ERR.EXEC, err.message, err instanceof ExecError ? err.stderr.trim().slice(0, 500) : '');
      default: return new CniError(CNI_ERR.INTERNAL, err.message, field);
    }
  }
  return new CniError(CNI_ERR.INTERNAL, err instanceof Error ? err.message : String(err));
}

export function errorObject(err: CniError, cniVersion: string): CniErrorObject {
  return { cniVersion, code: err.code, msg: err.message, ...(err.details ? { details: err.details } : {}) };
}
