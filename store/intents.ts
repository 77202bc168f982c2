/**
 * The `intents` journal. A caller records what it is about to do to the kernel
 * (begin) before doing it, and marks it done afterwards; whatever is still pending
 * after a crash tells reconcile what to finish or undo.
 */
import { fromJson, guard, nowIso, toJson, type Statements } from './sql.js';
import type { IntentRow } from './types.js';

interface Raw { id: number; kind: string; subject: string; payload: string; created_at: string }

const COLS = 'id, kind, subject, payload, created_at';

function fromRaw(r: Raw): IntentRow {
  return { id: r.id, kind: r.kind, subject: r.subject, payload: fromJson(r.payload, null), createdAt: r.created_at };
}

export class IntentsRepo {
  constructor(private readonly st: Statements) {}

  /** Records an intent (committed at once when called outside a transaction); returns its id. */
  begin(kind: string, subject: string, payload: unknown = null): number {
    const info = guard(() => this.st.get('INSERT INTO intents (kind, subject, payload, created_at) VALUES (?, ?, ?, ?)')
      .run(kind, subject, toJson(payload), nowIso()));
    return Number(info.lastInsertRowid);
  }

  /** Closes an intent; false when it was already closed. */
  done(id: number): boolean {
    return guard(() => this.st.get('DELETE FROM intents WHERE id = ?').run(id).changes > 0);
  }

  get(id: number): IntentRow | undefined {
    const raw = guard(() => this.st.get(`SELECT ${COLS} FROM intents WHERE id = ?`).get(id)) as Raw | undefined;
    return raw && fromRaw(raw);
  }

  /** Open intents, oldest first; optionally only those about `subject`. */
  pending(subject?: string): IntentRow[] {
    const rows = guard(() => subject === undefined
      ? this.st.get(`SELECT ${COLS} FROM intents ORDER BY id`).all()
      : this.st.get(`SELECT ${COLS} FROM intents WHERE subject = ? ORDER BY id`).all(subject));
    return (rows as Raw[]).map(fromRaw);
  }
}
