/**
 * Small helpers shared by the repositories: a prepared-statement cache, SQLite error
 * translation into tsnet's typed errors, and JSON / boolean column codecs.
 */
import type Database from 'better-sqlite3';
import { TryAgainError } from '../core/errors.js';

export type Db = Database.Database;
export type Stmt = Database.Statement<unknown[], unknown>;

/** Prepares each SQL text once per connection; `onWrite` hears of every write statement handed out. */
export class Statements {
  private readonly cache = new Map<string, { stmt: Stmt; write: boolean }>();
  constructor(private readonly db: Db, private readonly onWrite?: () => void) {}

  get(sql: string): Stmt {
    let s = this.cache.get(sql);
    if (!s) {
      s = { stmt: this.db.prepare(sql), write: /^\s*(INSERT|UPDATE|DELETE|REPLACE)\b/i.test(sql) };
      this.cache.set(sql, s);
    }
    if (s.write) this.onWrite?.();
    return s.stmt;
  }
}

/** The SQLite result code of a better-sqlite3 error ('SQLITE_BUSY', ...), if any. */
export function sqliteCode(err: unknown): string | undefined {
  if (err instanceof Error && 'code' in err && typeof err.code === 'string' && err.code.startsWith('SQLITE_')) {
    return err.code;
  }
  return undefined;
}

/** Lock contention that outlasted busy_timeout: a transient failure. */
export function isBusy(err: unknown): boolean {
  const code = sqliteCode(err);
  return code !== undefined && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));
}

/** Maps SQLITE_BUSY/LOCKED to TryAgainError; returns anything else unchanged. */
export function translateBusy(err: unknown): unknown {
  if (!isBusy(err)) return err;
  return new TryAgainError('state database is locked by another process; try again', err);
}

/** Runs `fn`, translating lock contention into TryAgainError. */
export function guard<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw translateBusy(err);
  }
}

export function toJson(v: unknown): string {
  return JSON.stringify(v ?? null);
}

export function fromJson<T>(text: unknown, fallback: T): T {
  if (typeof text !== 'string') return fallback;
  return JSON.parse(text) as T;
}

export function opt(v: unknown): string | undefined {
  return v === null || v === undefined ? undefined : String(v);
}

export function nowIso(): string {
  return new Date().toISOString();
}
