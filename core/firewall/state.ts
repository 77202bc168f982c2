/**
 * The in-process picture of tsnet's rules in one address family: the TSNET chains that
 * exist and, in order, the rules of those chains plus the jump rules into them from other
 * (built-in) chains. Nothing else is tracked. Pure data; no kernel access.
 */
import { isOwnedChain, type ChainRef, type Family, type Rule, type RuleSet, type Table } from './types.js';

type Spec = readonly string[];

function chainKey(table: Table, chain: string): string {
  return `${table}\u0000${chain}`;
}

function sameSpec(a: Spec, b: Spec): boolean {
  return a.length === b.length && a.every((t, i) => t === b[i]);
}

export class FirewallState {
  /** TSNET chains that exist, in discovery order. */
  private readonly owned = new Map<string, ChainRef>();
  /** Rules per chain (owned chains and built-in chains holding jumps), in kernel order. */
  private readonly rules = new Map<string, { table: Table; chain: string; specs: Spec[] }>();

  /** Does the chain exist? Non-TSNET chains are assumed to (they are the kernel's). */
  hasChain(table: Table, chain: string): boolean {
    return !isOwnedChain(chain) || this.owned.has(chainKey(table, chain));
  }

  addChain(table: Table, chain: string): void {
    this.owned.set(chainKey(table, chain), { table, name: chain });
  }

  /** Forgets the chain and its rules. */
  delChain(table: Table, chain: string): void {
    this.owned.delete(chainKey(table, chain));
    this.rules.delete(chainKey(table, chain));
  }

  /** Empties the chain; returns the rules it had. */
  flushChain(table: Table, chain: string): Spec[] {
    const entry = this.rules.get(chainKey(table, chain));
    this.rules.delete(chainKey(table, chain));
    return entry?.specs ?? [];
  }

  /** 1-based position of the rule in its chain, or 0 when absent. */
  position(rule: Rule): number {
    const specs = this.rules.get(chainKey(rule.table, rule.chain))?.specs ?? [];
    return specs.findIndex((s) => sameSpec(s, rule.spec)) + 1;
  }

  has(rule: Rule): boolean {
    return this.position(rule) > 0;
  }

  /** Adds at a 1-based position (insert), or at the end. */
  addRule(rule: Rule, position?: number): void {
    const key = chainKey(rule.table, rule.chain);
    let entry = this.rules.get(key);
    if (!entry) {
      entry = { table: rule.table, chain: rule.chain, specs: [] };
      this.rules.set(key, entry);
    }
    const at = position === undefined ? entry.specs.length : Math.min(position - 1, entry.specs.length);
    entry.specs.splice(at, 0, [...rule.spec]);
  }

  /** Removes the rule; returns its former 1-based position, or 0 when it was absent. */
  delRule(rule: Rule): number {
    const entry = this.rules.get(chainKey(rule.table, rule.chain));
    const pos = this.position(rule);
    if (entry && pos > 0) entry.specs.splice(pos - 1, 1);
    return pos;
  }

  ownedChains(): ChainRef[] {
    return [...this.owned.values()];
  }

  /** All tracked rules: jump rules in built-in chains first, then owned chains' rules. */
  allRules(): Rule[] {
    const entries = [...this.rules.values()];
    const builtinFirst = [...entries.filter((e) => !isOwnedChain(e.chain)), ...entries.filter((e) => isOwnedChain(e.chain))];
    return builtinFirst.flatMap((e) => e.specs.map((spec) => ({ table: e.table, chain: e.chain, spec: [...spec] })));
  }

  toRuleSet(family: Family): RuleSet {
    return { family, chains: this.ownedChains(), rules: this.allRules() };
  }

  clone(): FirewallState {
    const copy = new FirewallState();
    for (const [k, v] of this.owned) copy.owned.set(k, { ...v });
    for (const [k, v] of this.rules) copy.rules.set(k, { table: v.table, chain: v.chain, specs: [...v.specs] });
    return copy;
  }
}
