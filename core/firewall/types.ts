/**
 * Firewall rules as data. A Rule is one iptables rule: its table, its chain and the argv
 * that follows the chain name (`-A CHAIN <spec...>`). A RuleSet groups the chains and
 * rules one feature owns (the base chains, one network, one port mapping) so that the
 * feature can be added and removed symmetrically. Pure types; no kernel access.
 */

export type Family = 4 | 6;
export type Table = 'filter' | 'nat' | 'mangle' | 'raw';

/** Tables in the order a batch renders them. */
export const TABLES: readonly Table[] = ['filter', 'nat', 'mangle', 'raw'];

/** Every chain tsnet owns starts with this; tsnet never touches other chains' rules
 * except the jump rules into its own chains. */
export const CHAIN_PREFIX = 'TSNET-';

export interface Rule {
  table: Table;
  chain: string;
  /** iptables argv after the chain name, in iptables-save's canonical order. */
  spec: readonly string[];
  /** Insert at the top of the chain (`-I`) instead of appending (`-A`). Not part of the
   * rule's identity. */
  insert?: boolean;
}

export interface ChainRef {
  table: Table;
  name: string;
}

export interface RuleSet {
  family: Family;
  /** Chains this set owns: created when it is added, flushed and deleted when removed. */
  chains: ChainRef[];
  rules: Rule[];
}

export interface ChangeSet {
  add?: readonly RuleSet[];
  remove?: readonly RuleSet[];
}

/** One step of a batch. `position` (1-based) re-inserts a rule where it was (undo). */
export type Op =
  | { kind: 'new-chain'; table: Table; chain: string }
  | { kind: 'flush-chain'; table: Table; chain: string; previous: readonly (readonly string[])[] }
  | { kind: 'del-chain'; table: Table; chain: string }
  | { kind: 'add-rule'; rule: Rule; position?: number }
  | { kind: 'del-rule'; rule: Rule; position?: number };

export function opTable(op: Op): Table {
  return op.kind === 'add-rule' || op.kind === 'del-rule' ? op.rule.table : op.table;
}

export function isOwnedChain(name: string): boolean {
  return name.startsWith(CHAIN_PREFIX);
}

/** The TSNET chain a rule jumps or goes to, if any. */
export function ownedTarget(spec: readonly string[]): string | undefined {
  for (let i = 0; i < spec.length - 1; i++) {
    const t = spec[i + 1];
    if ((spec[i] === '-j' || spec[i] === '-g') && t !== undefined && isOwnedChain(t)) return t;
  }
  return undefined;
}
