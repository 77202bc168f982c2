/**
 * Validation of the names the runtime turns into paths and runc arguments. Pure.
 */
import { isAbsolute, normalize } from 'node:path';
import { ConfigError } from '../../core/errors.js';

const IMAGE_NAME = /^[a-z0-9][a-z0-9_.:-]{0,127}$/;
const CONTAINER_ID = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;
const HOSTNAME_LABEL = /^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/;

/** An image name: lowercase letters, digits, `_ . : -`, at most 128, not starting with a symbol. */
export function checkImageName(name: string, field = 'name'): string {
  if (typeof name !== 'string' || !IMAGE_NAME.test(name)) {
    throw new ConfigError(`invalid image name "${String(name)}": use [a-z0-9][a-z0-9_.:-]*, at most 128 characters`, field);
  }
  return name;
}

/** A container id as runc accepts it (and as a directory name): [a-zA-Z0-9][a-zA-Z0-9_.-]*. */
export function checkContainerId(id: string, field = 'id'): string {
  if (typeof id !== 'string' || !CONTAINER_ID.test(id)) {
    throw new ConfigError(`invalid container id "${String(id)}": use [a-zA-Z0-9][a-zA-Z0-9_.-]*, at most 128 characters`, field);
  }
  return id;
}

/** A hostname: dot-separated RFC 1123 labels, at most 64 characters in all (the kernel's limit). */
export function checkHostname(hostname: string, field = 'hostname'): string {
  const ok = typeof hostname === 'string' && hostname.length > 0 && hostname.length <= 64
    && hostname.split('.').every((l) => HOSTNAME_LABEL.test(l));
  if (!ok) throw new ConfigError(`invalid hostname "${String(hostname)}"`, field);
  return hostname;
}

/** An absolute, normalised host path (no `..` games). */
export function checkAbsolutePath(path: string, field: string): string {
  if (typeof path !== 'string' || !isAbsolute(path) || normalize(path) !== path || path.includes('\0')) {
    throw new ConfigError(`${field} must be an absolute, normalised path (got "${String(path)}")`, field);
  }
  return path;
}
