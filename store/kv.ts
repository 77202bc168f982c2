/** The `kv` table: small settings and markers (string values; JSON is the caller's business). */
import { guard, type Statements } from './sql.js';

export class KvRepo {
  constructor(private readonly st: Statements) {}

  get(key: string): string | undefined {
    const r = guard(() => this.st.get('SELECT value FROM kv WHERE key = ?').get(key)) as { value: string } | undefined;
    return r?.value;
  }

  set(key: string, value: string): void {
    guard(() => this.st.get('INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value')
      .run(key, value));
  }

  /** The entries whose key starts with `prefix`, by key. */
  list(prefix: string): { key: string; value: string }[] {
    return guard(() => this.st.get('SELECT key, value FROM kv WHERE substr(key, 1, ?) = ? ORDER BY key')
      .all(prefix.length, prefix)) as { key: string; value: string }[];
  }

  delete(key: string): boolean {
    return guard(() => this.st.get('DELETE FROM kv WHERE key = ?').run(key).changes > 0);
  }
}
