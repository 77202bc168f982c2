/** Option builders shared by the command files. */
import { Option } from 'commander';

/** `--format <format>` limited to `choices`, defaulting to the first. */
export function formatOption(choices: readonly string[] = ['table', 'json']): Option {
  return new Option('--format <format>', 'output format').choices(choices).default(choices[0]);
}

/** `-q, --quiet`: only ids. */
export function quietOption(what = 'IDs'): Option {
  return new Option('-q, --quiet', `only display ${what}`);
}
