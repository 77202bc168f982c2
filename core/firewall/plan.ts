/**
 * Turns a change set into the minimal ordered list of operations against a known state,
 * which makes add and remove idempotent and symmetric: a rule already present is not
 * added again, a rule already absent is not deleted. Also plans teardown and the undo of
 * a list of operations. Pure: no kernel access; the caller applies the ops.
 */
import { ConflictError, NotFoundError } from '../errors.js';
import { FirewallState } from './state.js';
import { isOwnedChain, ownedTarget, type ChainRef, type ChangeSet, type Op, type Rule } from './types.js';

export interface Plan {
  ops: Op[];
  /** The state once the ops are applied. */
  next: FirewallState;
}

const key = (c: ChainRef): string => `${c.table}\u0000${c.name}`;

/** Removes first (rules, then owned chains), then adds (chains, then rules). */
export function planChanges(state: FirewallState, changes: ChangeSet): Plan {
  const next = state.clone();
  const ops: Op[] = [];
  planRemovals(next, changes, ops);
  planAdditions(next, changes, ops);
  return { ops, next };
}

function planRemovals(next: FirewallState, changes: ChangeSet, ops: Op[]): void {
  const dropping = new Map<string, ChainRef>();
  for (const set of changes.remove ?? []) {
    for (const c of set.chains) if (isOwnedChain(c.name) && next.hasChain(c.table, c.name)) dropping.set(key(c), c);
  }
  for (const set of changes.remove ?? []) {
    for (const rule of set.rules) {
      if (dropping.has(key({ table: rule.table, name: rule.chain }))) continue; // the flush removes it
      const position = next.delRule(rule);
      if (position > 0) ops.push({ kind: 'del-rule', rule, position: isOwnedChain(rule.chain) ? position : undefined });
    }
  }
  for (const c of dropping.values()) {
    const previous = next.flushChain(c.table, c.name);
    if (previous.length > 0) ops.push({ kind: 'flush-chain', table: c.table, chain: c.name, previous });
  }
  for (const c of dropping.values()) {
    next.delChain(c.table, c.name);
    ops.push({ kind: 'del-chain', table: c.table, chain: c.name });
  }
  assertNoDanglingJumps(next);
}

function assertNoDanglingJumps(next: FirewallState): void {
  for (const rule of next.allRules()) {
    const target = ownedTarget(rule.spec);
    if (target !== undefined && !next.hasChain(rule.table, target)) {
      throw new ConflictError(`chain ${target} (${rule.table}) is still used by a rule in ${rule.chain}: remove that rule too`);
    }
  }
}

function planAdditions(next: FirewallState, changes: ChangeSet, ops: Op[]): void {
  for (const set of changes.add ?? []) {
    for (const c of set.chains) {
      if (next.hasChain(c.table, c.name)) continue;
      next.addChain(c.table, c.name);
      ops.push({ kind: 'new-chain', table: c.table, chain: c.name });
    }
  }
  for (const set of changes.add ?? []) {
    for (const rule of set.rules) {
      assertChainsExist(next, rule);
      if (next.has(rule)) continue;
      next.addRule(rule, rule.insert ? 1 : undefined);
      ops.push({ kind: 'add-rule', rule });
    }
  }
}

function assertChainsExist(next: FirewallState, rule: Rule): void {
  const target = ownedTarget(rule.spec);
  for (const chain of [rule.chain, target]) {
    if (chain !== undefined && !next.hasChain(rule.table, chain)) {
      throw new NotFoundError(`chain ${chain} (${rule.table}) does not exist: ensure the base chains first`);
    }
  }
}

/** Every jump into a TSNET chain, then every TSNET chain (flushed, then deleted). */
export function planTeardown(state: FirewallState): Plan {
  const next = state.clone();
  const ops: Op[] = [];
  for (const rule of state.allRules()) {
    if (isOwnedChain(rule.chain)) continue;
    next.delRule(rule);
    ops.push({ kind: 'del-rule', rule: { ...rule, insert: true } });
  }
  const chains = state.ownedChains();
  for (const c of chains) {
    const previous = next.flushChain(c.table, c.name);
    if (previous.length > 0) ops.push({ kind: 'flush-chain', table: c.table, chain: c.name, previous });
  }
  for (const c of chains) {
    next.delChain(c.table, c.name);
    ops.push({ kind: 'del-chain', table: c.table, chain: c.name });
  }
  return { ops, next };
}

/** The ops that undo `ops` (applied in order), in the order to apply them. */
export function invertOps(ops: readonly Op[]): Op[] {
  return [...ops].reverse().flatMap((op): Op[] => {
    switch (op.kind) {
      case 'new-chain':
        return [{ kind: 'del-chain', table: op.table, chain: op.chain }];
      case 'del-chain':
        return [{ kind: 'new-chain', table: op.table, chain: op.chain }];
      case 'flush-chain':
        return op.previous.map((spec) => ({ kind: 'add-rule', rule: { table: op.table, chain: op.chain, spec } }));
      case 'add-rule':
        return [{ kind: 'del-rule', rule: op.rule }];
      case 'del-rule':
        return [{ kind: 'add-rule', rule: op.rule, position: op.position }];
    }
  });
}
