/**
 * Applies firewall change sets: one batch exec per address family, idempotent and
 * symmetric against an in-process cache of tsnet's rules (read once from the kernel,
 * re-read and retried once when a batch fails). A failed change leaves the rules as they
 * were: tables a failed batch committed anyway, and families applied before a later
 * family failed, are undone. Operations of one Firewall run one at a time.
 * Acts in the caller's network namespace; rules live until removed (teardown removes all).
 */
import { ExecError } from '../errors.js';
import { log } from '../log.js';
import { SerialQueues } from '../serial.js';
import { IptablesBackend, type Backend } from './iptables.js';
import { invertOps, planChanges, planTeardown, type Plan } from './plan.js';
import { baseRules, legacyBaseRules } from './services.js';
import type { FirewallState } from './state.js';
import type { ChangeSet, Family, Op, RuleSet } from './types.js';

export interface FirewallOptions {
  backend?: Backend;
  /** Families ensureBase/teardown cover (default both). */
  families?: readonly Family[];
}

export class Firewall {
  readonly backend: Backend;
  private readonly families: readonly Family[];
  private readonly cache = new Map<Family, FirewallState>();
  /** One queue: changes read and update the cached state with awaits in between. */
  private readonly queue = new SerialQueues<'firewall'>();

  constructor(options: FirewallOptions = {}) {
    this.backend = options.backend ?? new IptablesBackend();
    this.families = options.families ?? [4, 6];
  }

  /** Adds and removes rule sets (removals first) in the caller's netns; present/absent
   * rules are skipped. What it adds stays until the caller removes it (or teardown). */
  apply(changes: ChangeSet): Promise<void> {
    return this.serial(() => this.applyAll(changes));
  }

  /** Creates the base chains and the jumps into them (idempotent), in the caller's netns,
   * replacing jumps of older versions; teardown() removes them. */
  ensureBase(): Promise<void> {
    return this.apply({ remove: this.families.map(legacyBaseRules), add: this.families.map(baseRules) });
  }

  /** Removes the jumps older versions made that ensureBase no longer does (legacyBaseRules), if present. */
  removeLegacy(): Promise<void> {
    return this.apply({ remove: this.families.map(legacyBaseRules) });
  }

  /** Removes every TSNET chain and every jump into one, as found now in the caller's netns. */
  teardown(): Promise<void> {
    return this.serial(async () => {
      for (const family of this.families) {
        this.cache.delete(family);
        await this.applyFamily(family, planTeardown);
      }
    });
  }

  /** tsnet's current chains and rules in the caller's netns (re-read; refreshes the cache). */
  list(family: Family): Promise<RuleSet> {
    return this.serial(async () => {
      this.cache.delete(family);
      return (await this.state(family)).toRuleSet(family);
    });
  }

  /** Drops the cache (e.g. after another process changed the rules). */
  invalidate(): void {
    this.cache.clear();
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    return this.queue.run('firewall', fn);
  }

  private async state(family: Family): Promise<FirewallState> {
    let state = this.cache.get(family);
    if (!state) {
      state = await this.backend.read(family);
      this.cache.set(family, state);
    }
    return state;
  }

  private async applyAll(changes: ChangeSet): Promise<void> {
    const done: { family: Family; ops: Op[] }[] = [];
    for (const family of [4, 6] as const) {
      const mine: ChangeSet = {
        add: (changes.add ?? []).filter((s) => s.family === family),
        remove: (changes.remove ?? []).filter((s) => s.family === family),
      };
      if (mine.add?.length === 0 && mine.remove?.length === 0) continue;
      try {
        done.push({ family, ops: await this.applyFamily(family, (s) => planChanges(s, mine)) });
      } catch (err) {
        for (const d of done.reverse()) await this.undo(d.family, d.ops);
        throw err;
      }
    }
  }

  /** Plans against the cache and applies; on failure undoes what was committed, re-reads
   * the kernel and tries once more. Returns the ops applied. */
  private async applyFamily(family: Family, planner: (s: FirewallState) => Plan): Promise<Op[]> {
    for (let attempt = 0; ; attempt++) {
      const plan = planner(await this.state(family));
      if (plan.ops.length === 0) return [];
      try {
        await this.backend.apply(family, plan.ops);
        this.cache.set(family, plan.next);
        return plan.ops;
      } catch (err) {
        this.cache.delete(family);
        if (!(err instanceof ExecError)) throw err;
        await this.undo(family, this.backend.committed(plan.ops, err));
        if (attempt > 0) throw err.addContext(`apply IPv${family} firewall rules`);
        log.warn({ family, err: err.message }, 'firewall batch failed; re-reading rules and retrying');
      }
    }
  }

  private async undo(family: Family, ops: readonly Op[]): Promise<void> {
    if (ops.length === 0) return;
    this.cache.delete(family);
    try {
      await this.backend.apply(family, invertOps(ops));
    } catch (err) {
      log.error({ family, err: err instanceof Error ? err.message : String(err) }, 'firewall undo failed');
    }
  }
}
