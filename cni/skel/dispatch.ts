/**
 * The plugin entry (the reference skel's PluginMain, as a pure function of env + stdin):
 * command, VERSION, decoding, version negotiation, environment, CNI_ARGS, the plugin's own
 * config parse, prevResult, GC's valid attachments; then the plugin's verb, and the result or
 * the error object as the only output. Nothing here prints or exits: the caller writes
 * `stdout` and exits with `exitCode` (standalone process, or the daemon's HTTP answer).
 */
import { decodeConf, type BaseConf } from './config.js';
import { CNI_ERR, CniError, errorObject, toCniError } from './errors.js';
import { knownArgs, parseCommand, parseEnv, type CniCommand, type CniEnv, type EnvMap, type KnownArgs } from './env.js';
import { formatResult, parseResult, type CniResult } from './result.js';
import { CURRENT_VERSION, SUPPORTED_VERSIONS, checkCommandAllowed, checkVersion, type CniVersion } from './version.js';

export interface Invocation {
  env: EnvMap;
  stdin: string;
}

export interface Output {
  stdout: string;
  exitCode: number;
}

/** A GC "valid attachment" (spec 1.1 `cni.dev/valid-attachments`). */
export interface Attachment {
  containerID: string;
  ifname: string;
}

export interface PluginRequest<C extends BaseConf = BaseConf> {
  command: CniCommand;
  env: CniEnv;
  version: CniVersion;
  conf: C;
  /** The CNI_ARGS keys the plugin declared (IgnoreUnknown applied). */
  args: KnownArgs;
  prevResult?: CniResult;
  /** GC only. */
  validAttachments?: Attachment[];
}

/** What a plugin implements; `H` is what it acts through (the network manager host). */
export interface CniPlugin<C extends BaseConf, H> {
  readonly name: string;
  /**
   * CNI_ARGS keys it understands besides IgnoreUnknown (others are code 4 unless
   * IgnoreUnknown), or null: it does not read CNI_ARGS at all, as the reference portmap and
   * bandwidth do not (a chain's `IP=` for the IPAM must not fail them, above all on DEL).
   */
  readonly knownArgs: readonly string[] | null;
  /** Validates the configuration (code 7 / 2 naming the field) and returns it typed. */
  parse(raw: Record<string, unknown>): C;
  add(req: PluginRequest<C>, host: H): Promise<CniResult>;
  del(req: PluginRequest<C>, host: H): Promise<void>;
  check(req: PluginRequest<C>, host: H): Promise<void>;
  gc(req: PluginRequest<C>, host: H): Promise<void>;
  status(req: PluginRequest<C>, host: H): Promise<void>;
}

function json(v: unknown): string {
  return `${JSON.stringify(v)}\n`;
}

function fail(err: unknown, version: string): Output {
  return { stdout: json(errorObject(toCniError(err), version)), exitCode: 1 };
}

/** VERSION's answer (cniVersion is the version tsnet implements, as the reference skel). */
export function versionInfo(): Record<string, unknown> {
  return { cniVersion: CURRENT_VERSION, supportedVersions: [...SUPPORTED_VERSIONS] };
}

/** Runs one CNI invocation of `plugin`; never throws. */
export async function dispatch<C extends BaseConf, H>(plugin: CniPlugin<C, H>, inv: Invocation, host: H): Promise<Output> {
  let version: string = CURRENT_VERSION;
  try {
    const command = parseCommand(inv.env);
    if (command === 'VERSION') return { stdout: json(versionInfo()), exitCode: 0 };
    const raw = decodeConf(inv.stdin);
    version = typeof raw['cniVersion'] === 'string' && raw['cniVersion'] ? raw['cniVersion'] : CURRENT_VERSION;
    const v = checkVersion(raw['cniVersion']);
    const env = parseEnv(inv.env, { readArgs: plugin.knownArgs !== null });
    checkCommandAllowed(command, v);
    const req: PluginRequest<C> = { command, env, version: v, args: plugin.knownArgs === null ? NO_ARGS : knownArgs(env.args, plugin.knownArgs), conf: plugin.parse(raw) };
    if (raw['prevResult'] !== undefined && raw['prevResult'] !== null) req.prevResult = parseResult(raw['prevResult'], v).result;
    if (command === 'GC') req.validAttachments = validAttachments(raw['cni.dev/valid-attachments']);
    switch (command) {
      case 'ADD': return { stdout: json(formatResult(await plugin.add(req, host), v)), exitCode: 0 };
      case 'DEL': await plugin.del(req, host); break;
      case 'CHECK': await plugin.check(req, host); break;
      case 'GC': await plugin.gc(req, host); break;
      case 'STATUS': await plugin.status(req, host); break;
    }
    return { stdout: '', exitCode: 0 };
  } catch (err) {
    return fail(err, version);
  }
}

const NO_ARGS: KnownArgs = Object.freeze({ ignoreUnknown: true, values: Object.freeze({}) });

/** Errors raised before a plugin is chosen (unknown plugin name), in the same format. */
export function failure(err: unknown, version: string = CURRENT_VERSION): Output {
  return fail(err, version);
}

function validAttachments(v: unknown): Attachment[] {
  const field = 'cni.dev/valid-attachments';
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new CniError(CNI_ERR.INVALID_CONFIG, `${field}: must be an array`, field);
  return v.map((a: unknown, i) => {
    const o = a as Record<string, unknown> | null;
    if (typeof o !== 'object' || o === null || typeof o['containerID'] !== 'string' || typeof o['ifname'] !== 'string') {
      throw new CniError(CNI_ERR.INVALID_CONFIG, `${field}[${i}]: must be {"containerID": string, "ifname": string}`, `${field}[${i}]`);
    }
    return { containerID: o['containerID'], ifname: o['ifname'] };
  });
}
