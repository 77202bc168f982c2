/**
 * core/netns: persistent network namespaces (bind mounts, like `ip netns add`), netns fds,
 * a synchronous "run inside this netns" window on the calling thread (native addon
 * build/Release/tsnet_netns.node), netlink sockets and sysctls inside a netns.
 */
import { makeDirs } from '../paths.js';
import { closeSync, fstatSync, openSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ConfigError, ConflictError, KernelError, NotFoundError } from '../errors.js';
import { openNetlink, type NlHandle } from '../netlink/index.js';
import { native } from '../native/index.js';

interface SysError { errno?: number; code?: string; message?: string }

/** A failed syscall as KernelError (errno positive). */
function kernelError(op: string, err: unknown): KernelError {
  const e = err as SysError;
  const errno = Math.abs(e.errno ?? 5);
  return new KernelError(op, errno, e.code ?? 'EIO', e.message ?? String(err), err);
}

/**
 * Creates a new, empty network namespace bind-mounted at `path` (its folder is created and
 * made a shared mount point, as iproute2 does for /run/netns). Acts on no existing netns;
 * the calling thread is back in its own netns on return. ConflictError when path exists.
 * The caller removes it with deleteNetns(path).
 */
export function createNetns(path: string): void {
  const op = `create netns ${path}`;
  try {
    makeDirs(dirname(path));
    native().createNetns(path);
  } catch (err) {
    if ((err as SysError).code === 'EEXIST') throw new ConflictError(`${op}: already exists`, 'path');
    throw kernelError(op, err);
  }
}

/**
 * Unmounts (MNT_DETACH) and removes a netns created by createNetns. The netns itself dies
 * when nothing else holds it (open fds, netlink sockets, processes). Idempotent: false
 * when nothing was there.
 */
export function deleteNetns(path: string): boolean {
  const op = `delete netns ${path}`;
  let mounted: boolean;
  try {
    mounted = native().umountNetns(path);
  } catch (err) {
    throw kernelError(op, err);
  }
  try {
    unlinkSync(path);
    return true;
  } catch (err) {
    if ((err as SysError).code === 'ENOENT') return mounted;
    throw kernelError(op, err);
  }
}

/**
 * Opens a netns file (a bind mount, or /proc/PID/ns/net) read-only, close-on-exec.
 * NotFoundError when missing, ConfigError when it is not a network namespace.
 * The caller closes the fd with closeNetns.
 */
export function openNetns(path: string): number {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    if ((err as SysError).code === 'ENOENT') throw new NotFoundError(`netns ${path} does not exist`);
    throw kernelError(`open netns ${path}`, err);
  }
  if (!isNetnsFd(fd)) {
    closeSync(fd);
    throw new ConfigError(`${path} is not a network namespace`, 'netns');
  }
  return fd;
}

/** Closes an fd from openNetns. */
export function closeNetns(fd: number): void {
  closeSync(fd);
}

function isNetnsFd(fd: number): boolean {
  try {
    const a = native();
    return a.nsType(fd) === a.CLONE_NEWNET;
  } catch {
    return false;
  }
}

/** True when path is a (mounted) network namespace file. */
export function isNetns(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return false;
  }
  try {
    return isNetnsFd(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Runs fn synchronously with the calling thread switched into the netns behind fd, and
 * switches back in C whatever happens (the process aborts if it cannot). fn must be
 * synchronous: anything it defers (promises, callbacks) runs back in the original netns.
 */
export function withNetns<T>(fd: number, fn: () => T): T {
  let result: T;
  let failed = false;
  let thrown: unknown;
  try {
    result = native().withNetns(fd, () => {
      try {
        return fn();
      } catch (err) {
        failed = true;
        thrown = err;
        return undefined;
      }
    }) as T;
  } catch (err) {
    throw kernelError(`enter netns fd ${fd}`, err);
  }
  if (failed) throw thrown;
  if (result && typeof (result as { then?: unknown }).then === 'function') {
    throw new ConfigError('withNetns: fn must be synchronous (it returned a promise)', 'fn');
  }
  return result;
}

/** Label for a netns fd: 'net:[INODE]'. */
function fdLabel(fd: number): string {
  return `net:[${fstatSync(fd).ino}]`;
}

/**
 * Opens an RTNETLINK socket inside the netns behind fd (made there by the addon between two
 * setns); every request on it acts there. The socket keeps that netns alive: the caller
 * closes the handle when done.
 */
export function netlinkIn(fd: number, label?: string): NlHandle {
  return openNetlink(label ?? fdLabel(fd), fd);
}

/**
 * Runs fn with a netlink handle inside the netns at `path` (and its fd); the handle and the
 * fd are closed when fn settles, whatever happens. NotFoundError when there is no such netns.
 */
export async function withNetlinkAt<T>(path: string, fn: (h: NlHandle, fd: number) => Promise<T>): Promise<T> {
  const fd = openNetns(path);
  try {
    const h = netlinkIn(fd, path);
    try {
      return await fn(h, fd);
    } finally {
      h.close();
    }
  } finally {
    closeNetns(fd);
  }
}

/** /proc/sys path of a sysctl key: dots separate ('net.ipv4.ip_forward') unless the key uses '/'. */
export function sysctlPath(key: string): string {
  const parts = key.includes('/') ? key.split('/') : key.split('.');
  if (parts.some((p) => p === '' || p === '.' || p === '..')) throw new ConfigError(`invalid sysctl key "${key}"`, 'key');
  return join('/proc/sys', ...parts);
}

/** Reads a sysctl in the process's netns, or in the netns behind nsFd. */
export function sysctlGet(key: string, nsFd?: number): string {
  const path = sysctlPath(key);
  const read = (): string => readFileSync(path, 'utf8').trim();
  try {
    return nsFd === undefined ? read() : withNetns(nsFd, read);
  } catch (err) {
    if (err instanceof ConfigError || err instanceof KernelError) throw err;
    throw kernelError(`sysctl get ${key}`, err);
  }
}

/**
 * Writes a sysctl in the process's netns, or in the netns behind nsFd (the /proc/sys file
 * is opened inside the netns, so the write lands there). Nothing to clean up beyond
 * restoring the value if the caller wants to.
 */
export function sysctlSet(key: string, value: string, nsFd?: number): void {
  const path = sysctlPath(key);
  const write = (): void => writeFileSync(path, value);
  try {
    if (nsFd === undefined) write();
    else withNetns(nsFd, write);
  } catch (err) {
    if (err instanceof ConfigError || err instanceof KernelError) throw err;
    throw kernelError(`sysctl set ${key}=${value}`, err);
  }
}

/** Inode of the netns behind fd, or of the calling thread's netns: compares netns identity. */
export function netnsInode(fd?: number): number {
  return fd === undefined ? statSync('/proc/thread-self/ns/net').ino : fstatSync(fd).ino;
}
