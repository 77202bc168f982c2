/**
 * CNI spec versions tsnet speaks, and what each allows: CHECK from 0.4.0, GC and STATUS
 * from 1.1.0. Pure.
 */
import { CNI_ERR, CniError } from './errors.js';

export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
export type CniVersion = (typeof SUPPORTED_VERSIONS)[number];
/** The version tsnet implements (VERSION's answer, errors raised before a config is read). */
export const CURRENT_VERSION: CniVersion = '1.1.0';

/** Numeric comparison of dotted versions ('0.3.1' < '0.4.0' < '1.0.0'); -1, 0 or 1. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? 0, y = pb[i] ?? 0;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

export function isSupportedVersion(v: string): v is CniVersion {
  return (SUPPORTED_VERSIONS as readonly string[]).includes(v);
}

/**
 * The config's cniVersion, checked: code 1 (incompatible version) when absent (the reference
 * treats absent as 0.1.0), not a string, or not one tsnet supports.
 */
export function checkVersion(v: unknown, field = 'cniVersion'): CniVersion {
  if (v === undefined || v === '') {
    throw new CniError(CNI_ERR.INCOMPATIBLE_VERSION, `${field} is missing (it would mean 0.1.0); supported: ${SUPPORTED_VERSIONS.join(', ')}`, field);
  }
  if (typeof v !== 'string') throw new CniError(CNI_ERR.INCOMPATIBLE_VERSION, `${field} must be a string`, field);
  if (!isSupportedVersion(v)) {
    throw new CniError(CNI_ERR.INCOMPATIBLE_VERSION, `incompatible CNI versions: ${field} is "${v}", tsnet supports ${SUPPORTED_VERSIONS.join(', ')}`, field);
  }
  return v;
}

/** Throws code 1 when `command` is newer than the config's version (CHECK < 0.4.0; GC, STATUS < 1.1.0). */
export function checkCommandAllowed(command: string, version: CniVersion): void {
  const since = command === 'CHECK' ? '0.4.0' : command === 'GC' || command === 'STATUS' ? '1.1.0' : undefined;
  if (since && compareVersions(version, since) < 0) {
    throw new CniError(CNI_ERR.INCOMPATIBLE_VERSION, `config version ${version} does not allow ${command} (needs ${since} or later)`, 'cniVersion');
  }
}
