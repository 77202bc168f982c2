/**
 * Network configuration on stdin: decoding (code 6), the fields every plugin shares and the
 * capability arguments runtimes inject under `runtimeConfig` (portMappings, ips, mac,
 * ipRanges) and `args.cni` (ips, mac), validated by JSON schemas (ajv) whose errors name
 * the field (code 7). Unknown fields are ignored, as the reference plugins do. Pure.
 *
 * The plugins' schemas are compiled at build time (scripts/gen-cni-validators.mjs writes ajv
 * "standalone" code to validators.generated.cjs beside this file): loading ajv and compiling
 * took ~55 ms of every standalone plugin exec. A schema without generated code (a build
 * that skipped the step, a schema changed since) is compiled at run time, same options.
 */
import { createRequire } from 'node:module';
import type { ErrorObject, Options, ValidateFunction } from 'ajv';
import { CNI_ERR, CniError } from './errors.js';

export interface PortMapping {
  hostPort: number;
  containerPort: number;
  protocol?: string;
  hostIP?: string;
}

export interface IpRange {
  subnet: string;
  rangeStart?: string;
  rangeEnd?: string;
  gateway?: string;
}

export interface RuntimeConfig {
  portMappings?: PortMapping[];
  ips?: string[];
  mac?: string;
  ipRanges?: IpRange[][];
}

/** The fields of every plugin's configuration. */
export interface BaseConf {
  cniVersion: string;
  name: string;
  type: string;
  args?: { cni?: { ips?: string[]; mac?: string } };
  runtimeConfig?: RuntimeConfig;
  prevResult?: unknown;
  dns?: { nameservers?: string[]; domain?: string; search?: string[]; options?: string[] };
  ipam?: { type?: string };
}

const str = { type: 'string' } as const;
const strArr = { type: 'array', items: str } as const;
const port = { type: 'integer', minimum: 0, maximum: 65535 } as const;

export const ipRangeSchema = {
  type: 'object', required: ['subnet'],
  properties: { subnet: str, rangeStart: str, rangeEnd: str, gateway: str },
} as const;
export const rangeSetsSchema = { type: 'array', items: { type: 'array', minItems: 1, items: ipRangeSchema } } as const;
export const dnsSchema = { type: 'object', properties: { nameservers: strArr, domain: str, search: strArr, options: strArr } } as const;

/** JSON schema of BaseConf; plugins extend it with allOf. */
export const baseSchema = {
  type: 'object',
  required: ['cniVersion', 'name', 'type'],
  properties: {
    cniVersion: str,
    // Spec 1.0: the network name is alphanumeric plus _ . - and starts alphanumeric.
    name: { type: 'string', pattern: '^[a-zA-Z0-9][a-zA-Z0-9_.\\-]*$', maxLength: 200 },
    type: str,
    args: { type: 'object', properties: { cni: { type: 'object', properties: { ips: strArr, mac: str } } } },
    runtimeConfig: {
      type: 'object',
      properties: {
        portMappings: {
          type: 'array',
          items: { type: 'object', required: ['hostPort', 'containerPort'], properties: { hostPort: port, containerPort: port, protocol: str, hostIP: str } },
        },
        ips: strArr,
        mac: str,
        ipRanges: rangeSetsSchema,
      },
    },
    prevResult: { type: 'object' },
    dns: dnsSchema,
    ipam: { type: 'object', properties: { type: str } },
  },
} as const;

/** The options of every validator, run-time compiled or generated (the generator adds code.source). */
export const AJV_OPTIONS: Readonly<Options> = { allErrors: false, strict: false, validateSchema: false };

/** The name of the generated module beside this file (dist/cni/skel). */
export const GENERATED_VALIDATORS = 'validators.generated.cjs';

/** What the generated module exports: validators `v0`..`vN` for the schemas in `keys` (JSON texts). */
interface Generated {
  keys: string[];
  [name: string]: ValidateFunction | string[];
}

const require = createRequire(import.meta.url);
let loadModule = (): Generated => require(`./${GENERATED_VALIDATORS}`) as Generated;
let generated: Map<string, ValidateFunction> | undefined;
let ajv: { compile(schema: object): ValidateFunction } | undefined;
const seen: object[] = [];

/**
 * How to load the generated module when it is not beside this file: the standalone bundle
 * (scripts/bundle-cni.mjs) has it inside and hands a loader here. Call before compileSchema.
 */
export function setGeneratedValidators(load: () => unknown): void {
  loadModule = load as () => Generated;
  generated = undefined;
}

function loadGenerated(): Map<string, ValidateFunction> {
  const out = new Map<string, ValidateFunction>();
  let mod: Generated;
  try {
    mod = loadModule();
  } catch {
    return out; // not generated: compile at run time
  }
  mod.keys.forEach((key, i) => out.set(key, mod[`v${i}`] as ValidateFunction));
  return out;
}

/** The validator of a schema (once per process; the caller keeps the function): generated, else compiled. */
export function compileSchema(schema: object): ValidateFunction {
  if (!seen.includes(schema)) seen.push(schema);
  generated ??= loadGenerated();
  const pre = generated.get(JSON.stringify(schema));
  if (pre) return pre;
  // Our schemas are fixed and tested: skip validating them against the meta-schema at
  // run time (about 20 ms of every standalone plugin exec).
  ajv ??= new (require('ajv') as typeof import('ajv')).Ajv({ ...AJV_OPTIONS });
  return ajv.compile(schema);
}

/** True when `v` came from the generated module (a test checks every plugin's schema has one). */
export function isGenerated(v: ValidateFunction): boolean {
  generated ??= loadGenerated();
  for (const g of generated.values()) if (g === v) return true;
  return false;
}

/** The schemas compileSchema was asked for in this process, in order (the generator's input). */
export function compiledSchemas(): readonly object[] {
  return seen;
}

/** '/ipam/ranges/0/1/subnet' -> 'ipam.ranges[0][1].subnet'. */
export function fieldPath(instancePath: string, extra?: string): string {
  const parts = instancePath.split('/').filter(Boolean);
  if (extra !== undefined) parts.push(extra);
  let out = '';
  for (const p of parts) out += /^\d+$/.test(p) ? `[${p}]` : out === '' ? p : `.${p}`;
  return out || 'config';
}

function describe(e: ErrorObject): { field: string; msg: string } {
  if (e.keyword === 'required') {
    const field = fieldPath(e.instancePath, (e.params as { missingProperty: string }).missingProperty);
    return { field, msg: `${field}: is required` };
  }
  const field = fieldPath(e.instancePath);
  const value = e.data === undefined ? '' : ` (got ${JSON.stringify(e.data)?.slice(0, 80)})`;
  return { field, msg: `${field}: ${e.message ?? 'is invalid'}${value}` };
}

/** Validates with a compiled schema; code 7 naming the first failing field. */
export function validate<T>(v: ValidateFunction, raw: unknown): T {
  if (v(raw)) return raw as T;
  const e = v.errors?.[0];
  const { field, msg } = e ? describe({ ...e, data: e.data ?? dataAt(raw, e.instancePath) }) : { field: 'config', msg: 'invalid configuration' };
  throw new CniError(CNI_ERR.INVALID_CONFIG, msg, field);
}

function dataAt(raw: unknown, path: string): unknown {
  let cur: unknown = raw;
  for (const p of path.split('/').filter(Boolean)) cur = (cur as Record<string, unknown> | undefined)?.[p];
  return cur;
}

/** stdin as a JSON object; code 6 when it is not one. */
export function decodeConf(stdin: string): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = JSON.parse(stdin);
  } catch (err) {
    throw new CniError(CNI_ERR.DECODE, `failed to decode the network configuration on stdin: ${(err as Error).message}`, 'stdin');
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new CniError(CNI_ERR.DECODE, 'failed to decode the network configuration on stdin: not a JSON object', 'stdin');
  }
  return raw as Record<string, unknown>;
}

/** A field that tsnet knows but cannot honour with this value: code 2, naming key and value. */
export function unsupported(field: string, value: unknown, why: string): CniError {
  return new CniError(CNI_ERR.UNSUPPORTED_FIELD, `unsupported field ${field}=${JSON.stringify(value)}: ${why}`, field);
}

/** An invalid value tsnet's own checks found (beyond the schema): code 7. */
export function invalid(field: string, why: string): CniError {
  return new CniError(CNI_ERR.INVALID_CONFIG, `${field}: ${why}`, field);
}
