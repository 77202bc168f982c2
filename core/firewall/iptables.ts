/**
 * The iptables backend: renders ops to an `iptables-restore --noflush` batch (one exec per
 * family, stdin only, never a shell), reads tsnet's rules back from `iptables-save`, and
 * tells which tables of a failed batch were committed anyway (iptables-nft commits each
 * table at its COMMIT line, so a batch is atomic per table, not across tables).
 * Acts in the caller's network namespace.
 */
import { ConfigError, ExecError } from '../errors.js';
import { run } from '../exec/index.js';
import { FirewallState } from './state.js';
import { isOwnedChain, ownedTarget, opTable, TABLES, type Family, type Op, type Table } from './types.js';

/** What a firewall backend does. An nftables backend would render `nft -f` text. */
export interface Backend {
  readonly name: string;
  /** The batch text for ops (pure). Throws ConfigError for an unrenderable token. */
  render(ops: readonly Op[]): string;
  /** Applies ops in one exec. Rejects with ExecError (stderr included) on failure. */
  apply(family: Family, ops: readonly Op[]): Promise<void>;
  /** Reads tsnet's chains and the jumps into them. */
  read(family: Family): Promise<FirewallState>;
  /** The ops of a failed apply that took effect regardless (to be undone). */
  committed(ops: readonly Op[], error: ExecError): Op[];
}

export interface IptablesOptions {
  /** Program names per family (defaults: iptables-restore/-save, ip6tables-restore/-save). */
  programs?: { restore4?: string; save4?: string; restore6?: string; save6?: string };
  timeoutMs?: number;
}

export class IptablesBackend implements Backend {
  readonly name = 'iptables';
  private readonly programs: Required<NonNullable<IptablesOptions['programs']>>;
  private readonly timeoutMs: number;

  constructor(options: IptablesOptions = {}) {
    this.programs = {
      restore4: 'iptables-restore',
      save4: 'iptables-save',
      restore6: 'ip6tables-restore',
      save6: 'ip6tables-save',
      ...options.programs,
    };
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  render(ops: readonly Op[]): string {
    return renderRestore(ops);
  }

  async apply(family: Family, ops: readonly Op[]): Promise<void> {
    if (ops.length === 0) return;
    const restore = family === 4 ? this.programs.restore4 : this.programs.restore6;
    await run([restore, '-w', '--noflush'], { input: renderRestore(ops), timeoutMs: this.timeoutMs });
  }

  async read(family: Family): Promise<FirewallState> {
    const save = family === 4 ? this.programs.save4 : this.programs.save6;
    const { stdout } = await run([save], { timeoutMs: this.timeoutMs });
    return parseSave(stdout);
  }

  committed(ops: readonly Op[], error: ExecError): Op[] {
    const line = /Error occurred at line: (\d+)/.exec(error.stderr)?.[1];
    if (line === undefined) return [];
    const failedAt = Number(line);
    return renderSections(ops)
      .filter((s) => s.commitLine < failedAt)
      .flatMap((s) => s.ops);
  }
}

interface Section {
  table: Table;
  ops: Op[];
  lines: string[];
  /** 1-based line number of this section's COMMIT in the whole batch. */
  commitLine: number;
}

function renderSections(ops: readonly Op[]): Section[] {
  const sections: Section[] = [];
  let lineNo = 0;
  for (const table of TABLES) {
    const mine = ops.filter((op) => opTable(op) === table);
    if (mine.length === 0) continue;
    const lines = [`*${table}`, ...mine.map(renderOp), 'COMMIT'];
    lineNo += lines.length;
    sections.push({ table, ops: mine, lines, commitLine: lineNo });
  }
  return sections;
}

/** iptables-restore text for ops: one `*table` … `COMMIT` section per table, ops in order
 * within a table. Pure. */
export function renderRestore(ops: readonly Op[]): string {
  return renderSections(ops)
    .map((s) => s.lines.join('\n') + '\n')
    .join('');
}

function renderOp(op: Op): string {
  switch (op.kind) {
    case 'new-chain':
      return `:${word(op.chain)} - [0:0]`;
    case 'flush-chain':
      return `-F ${word(op.chain)}`;
    case 'del-chain':
      return `-X ${word(op.chain)}`;
    case 'del-rule':
      return line(['-D', op.rule.chain, ...op.rule.spec]);
    case 'add-rule':
      if (op.position !== undefined) return line(['-I', op.rule.chain, String(op.position), ...op.rule.spec]);
      return line([op.rule.insert ? '-I' : '-A', op.rule.chain, ...op.rule.spec]);
  }
}

function line(argv: readonly string[]): string {
  return argv.map(word).join(' ');
}

/** One argv word for iptables-restore: quoted when it has spaces. Characters the restore
 * tokenizer would treat specially (quotes, backslashes, line breaks) are refused. */
function word(token: string): string {
  if (token === '' || /["'\\\u0000-\u001f\u007f]/.test(token)) {
    throw new ConfigError(`firewall rule word ${JSON.stringify(token)} cannot be rendered`, 'spec');
  }
  return /\s/.test(token) ? `"${token}"` : token;
}

/** Splits one iptables-save line into words (double quotes group, backslash escapes). */
export function tokenize(text: string): string[] {
  const words: string[] = [];
  let current = '';
  let inWord = false;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (ch === '\\' && i + 1 < text.length) {
      current += text[++i];
      inWord = true;
    } else if (ch === '"') {
      quoted = !quoted;
      inWord = true;
    } else if (!quoted && /\s/.test(ch)) {
      if (inWord) words.push(current);
      current = '';
      inWord = false;
    } else {
      current += ch;
      inWord = true;
    }
  }
  if (inWord) words.push(current);
  return words;
}

/** tsnet's part of iptables-save output: TSNET chains, their rules, and the rules of
 * other chains that jump into them. Pure. */
export function parseSave(text: string): FirewallState {
  const state = new FirewallState();
  let table: Table | undefined;
  for (const raw of text.split('\n')) {
    const l = raw.trim();
    if (l.startsWith('*')) {
      const name = l.slice(1);
      table = (TABLES as readonly string[]).includes(name) ? (name as Table) : undefined;
    } else if (table !== undefined && l.startsWith(':')) {
      const chain = l.slice(1).split(/\s+/)[0] ?? '';
      if (isOwnedChain(chain)) state.addChain(table, chain);
    } else if (table !== undefined && l.startsWith('-A ')) {
      const [, chain, ...spec] = tokenize(l);
      if (chain !== undefined && (isOwnedChain(chain) || ownedTarget(spec) !== undefined)) {
        state.addRule({ table, chain, spec });
      }
    }
  }
  return state;
}
