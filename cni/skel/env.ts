/**
 * The CNI environment (spec 1.1 "Parameters"): CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS,
 * CNI_IFNAME, CNI_ARGS, CNI_PATH, which of them each command needs, and CNI_ARGS
 * ("K=V;K2=V2", with IgnoreUnknown). Errors are code 4 naming the variable. Pure.
 */
import { CNI_ERR, CniError } from './errors.js';

export const COMMANDS = ['ADD', 'DEL', 'CHECK', 'GC', 'STATUS', 'VERSION'] as const;
export type CniCommand = (typeof COMMANDS)[number];

export type EnvMap = Readonly<Record<string, string | undefined>>;

export interface CniEnv {
  command: CniCommand;
  containerId: string;
  /** Empty when not given (DEL may come without a netns). */
  netns: string;
  ifname: string;
  /** CNI_ARGS as raw pairs, in order. */
  args: [string, string][];
  path: string[];
}

const REQUIRED: Record<string, readonly CniCommand[]> = {
  CNI_CONTAINERID: ['ADD', 'CHECK', 'DEL'],
  CNI_NETNS: ['ADD', 'CHECK'],
  CNI_IFNAME: ['ADD', 'CHECK', 'DEL'],
  CNI_PATH: ['ADD', 'CHECK', 'DEL', 'GC', 'STATUS'],
};

/** Spec 1.0: a container id is alphanumeric plus `_`, `.` and `-`, starting alphanumeric. */
const CONTAINER_ID_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** CNI_COMMAND alone (code 4 when missing or unknown). */
export function parseCommand(env: EnvMap): CniCommand {
  const c = env['CNI_COMMAND'];
  if (!c) throw new CniError(CNI_ERR.INVALID_ENV, 'required env variables [CNI_COMMAND] missing', 'CNI_COMMAND');
  if (!(COMMANDS as readonly string[]).includes(c)) {
    throw new CniError(CNI_ERR.INVALID_ENV, `unknown CNI_COMMAND "${c}" (known: ${COMMANDS.join(', ')})`, 'CNI_COMMAND');
  }
  return c as CniCommand;
}

/**
 * Reads and checks the variables `command` needs; code 4 naming every missing one. With
 * `readArgs` false (a plugin that does not read CNI_ARGS, as the reference portmap and
 * bandwidth), CNI_ARGS is not parsed at all, so a malformed one is no error.
 */
export function parseEnv(env: EnvMap, opts: { readArgs?: boolean } = {}): CniEnv {
  const command = parseCommand(env);
  const missing = Object.entries(REQUIRED).filter(([k, cmds]) => cmds.includes(command) && !env[k]).map(([k]) => k);
  if (missing.length > 0) throw new CniError(CNI_ERR.INVALID_ENV, `required env variables [${missing.join(' ')}] missing`, missing.join(','));
  const containerId = env['CNI_CONTAINERID'] ?? '';
  if (containerId && !CONTAINER_ID_RE.test(containerId)) {
    throw new CniError(CNI_ERR.INVALID_ENV, `CNI_CONTAINERID "${containerId}" has invalid characters (allowed: letters, digits, _ . -)`, 'CNI_CONTAINERID');
  }
  const ifname = env['CNI_IFNAME'] ?? '';
  if (ifname) checkEnvIfname(ifname);
  const netns = env['CNI_NETNS'] ?? '';
  if (netns && !netns.startsWith('/')) throw new CniError(CNI_ERR.INVALID_ENV, `CNI_NETNS "${netns}" is not an absolute path`, 'CNI_NETNS');
  return {
    command, containerId, netns, ifname,
    args: opts.readArgs === false ? [] : parseCniArgs(env['CNI_ARGS'] ?? ''),
    path: (env['CNI_PATH'] ?? '').split(':').filter(Boolean),
  };
}

function checkEnvIfname(name: string): void {
  const bad = Buffer.byteLength(name) > 15 ? 'is longer than 15 bytes'
    : name === '.' || name === '..' || /[/:\s]/.test(name) ? 'has invalid characters' : undefined;
  if (bad) throw new CniError(CNI_ERR.INVALID_ENV, `CNI_IFNAME "${name}" ${bad}`, 'CNI_IFNAME');
}

/** "K=V;K2=V2" into pairs; code 4 for a pair without '=' or with an empty key. */
export function parseCniArgs(text: string): [string, string][] {
  if (text.trim() === '') return [];
  return text.split(';').filter((p) => p !== '').map((pair) => {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new CniError(CNI_ERR.INVALID_ENV, `CNI_ARGS: invalid pair "${pair}" (expected KEY=VALUE)`, 'CNI_ARGS');
    return [pair.slice(0, eq), pair.slice(eq + 1)];
  });
}

/** Go's UnmarshallableBool: 1/true/True, 0/false/False. */
function argBool(key: string, v: string): boolean {
  if (['1', 'true', 'True', 'TRUE'].includes(v)) return true;
  if (['0', 'false', 'False', 'FALSE'].includes(v)) return false;
  throw new CniError(CNI_ERR.INVALID_ENV, `CNI_ARGS: ${key}="${v}" is not a boolean`, 'CNI_ARGS');
}

/** The CNI_ARGS keys a plugin understands, with IgnoreUnknown applied. */
export interface KnownArgs {
  ignoreUnknown: boolean;
  values: Record<string, string>;
}

/**
 * Keeps the keys in `known` (IgnoreUnknown is always known); any other key is code 4 unless
 * IgnoreUnknown is true, as the reference plugins' LoadArgs does.
 */
export function knownArgs(pairs: readonly [string, string][], known: readonly string[]): KnownArgs {
  const ig = pairs.find(([k]) => k === 'IgnoreUnknown');
  const ignoreUnknown = ig ? argBool('IgnoreUnknown', ig[1]) : false;
  const values: Record<string, string> = {};
  const unknown: string[] = [];
  for (const [k, v] of pairs) {
    if (k === 'IgnoreUnknown') continue;
    if (known.includes(k)) values[k] = v;
    else unknown.push(`${k}=${v}`);
  }
  if (unknown.length > 0 && !ignoreUnknown) {
    throw new CniError(CNI_ERR.INVALID_ENV, `CNI_ARGS: unknown args [${unknown.join(' ')}] (set IgnoreUnknown=1 to ignore them)`, 'CNI_ARGS');
  }
  return { ignoreUnknown, values };
}
