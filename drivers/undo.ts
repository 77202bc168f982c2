/**
 * All-or-nothing attach: every kernel step runs through `step`, which first records
 * nothing, then does the work, then pushes its undo. On failure the caller runs
 * `rollback()`, which undoes in reverse and never throws (errors are logged).
 *
 * Fault injection for tests: `setFaultInjector(fn)` is called with each step's name
 * before the step runs and may throw to simulate a kernel failure at that point.
 */
import { log } from '../core/index.js';

type Injector = (step: string) => void;
let injector: Injector | undefined;

/** Test hook: called before every step with its name; throw to fail that step. */
export function setFaultInjector(fn: Injector | undefined): void {
  injector = fn;
}

export class UndoStack {
  private readonly undos: { name: string; fn: () => Promise<unknown> | unknown }[] = [];
  readonly steps: string[] = [];

  /** Runs one step; its undo is pushed only after it succeeded. */
  async step<T>(name: string, run: () => Promise<T> | T, undo?: (value: T) => Promise<unknown> | unknown): Promise<T> {
    this.steps.push(name);
    injector?.(name);
    const value = await run();
    if (undo) this.undos.push({ name, fn: () => undo(value) });
    return value;
  }

  /** Pushes an undo for work the caller did itself. */
  push(name: string, fn: () => Promise<unknown> | unknown): void {
    this.undos.push({ name, fn });
  }

  /** Undoes every completed step in reverse order; best effort, never throws. */
  async rollback(): Promise<void> {
    for (const { name, fn } of this.undos.splice(0).reverse()) {
      try {
        await fn();
      } catch (err) {
        log.warn({ step: name, err }, 'undo step failed');
      }
    }
  }

  /** Forgets the undos once the whole operation succeeded. */
  commit(): void {
    this.undos.length = 0;
  }
}
