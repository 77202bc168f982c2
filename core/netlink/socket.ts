/**
 * RTNETLINK handles: one socket per network namespace, dumps serialized per socket (the
 * kernel allows one dump at a time per socket), failures raised as KernelError
 * with a positive errno. The socket belongs to the netns of the thread that created it.
 */
import { statSync } from 'node:fs';
import { getSystemErrorMap } from 'node:util';
import { createRtNetlink, parseError, rt, type RtNetlinkSocket, type NetlinkMessage } from 'netlink';
import { KernelError } from '../errors.js';
import { log } from '../log.js';

export interface NlHandle {
  /** 'host' or the netns path/label the socket was opened in. */
  readonly netns: string;
  /** Closes the socket (a socket keeps its netns alive until closed). Idempotent. */
  close(): void;
}

const NLMSG_ERROR = 2;
const NLM_F_DUMP = 0x300;
const REQUEST_TIMEOUT_MS = 10_000;

class NlSocket implements NlHandle {
  readonly netns: string;
  readonly rt: RtNetlinkSocket;
  closed = false;
  private tail: Promise<unknown> = Promise.resolve();
  onClose: (() => void) | undefined;

  constructor(label: string) {
    this.netns = label;
    this.rt = createRtNetlink(); // unreferenced while idle: never keeps the event loop alive
    this.rt.socket.on('error', (err) => log.warn({ err, netns: label }, 'netlink socket error'));
  }

  /** Dumps queued or running on this socket. */
  dumps = 0;

  /** Runs fn after every earlier serialized request on this socket settled. */
  serialize<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => undefined);
    return next;
  }

  /**
   * Dumps run one at a time (the kernel allows one per socket). Other requests are sent at
   * once, in call order, unless a dump is queued: the kernel handles each request inside
   * sendmsg, so several in flight (e.g. address, route, link up) are applied in the order
   * they were sent, and the caller pays one round trip instead of several.
   */
  schedule<T>(fn: () => Promise<T>, dump: boolean): Promise<T> {
    if (!dump && this.dumps === 0) return fn();
    if (!dump) return this.serialize(fn);
    this.dumps++;
    return this.serialize(fn).finally(() => this.dumps--);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.rt.socket.close();
    this.onClose?.();
  }
}

/** Opens an RTNETLINK socket in the CALLING THREAD's netns. The caller closes it. */
export function openNetlink(label = 'host'): NlHandle {
  try {
    return new NlSocket(label);
  } catch (err) {
    throw toKernelError(`open netlink socket (${label})`, err);
  }
}

let host: NlSocket | undefined;
const loadNetnsInode = statSync('/proc/thread-self/ns/net').ino;

/**
 * The cached handle for the process's own netns (the one it started in). Shared: callers
 * do not close it (if someone does, the next call opens a new one).
 */
export function hostNetlink(): NlHandle {
  if (host && !host.closed) return host;
  if (statSync('/proc/thread-self/ns/net').ino !== loadNetnsInode) {
    throw new KernelError('open host netlink socket', 22, 'EINVAL', 'the calling thread is inside another netns');
  }
  const h = new NlSocket('host');
  h.onClose = () => { if (host === h) host = undefined; };
  host = h;
  return h;
}

function socketOf(h: NlHandle, op: string): NlSocket {
  if (!(h instanceof NlSocket)) throw new KernelError(op, 22, 'EINVAL', 'not a tsnet netlink handle');
  if (h.closed) throw new KernelError(op, 9, 'EBADF', `netlink handle (${h.netns}) is closed`);
  return h;
}

/** Pure: errno (positive) to its code and message. */
export function errnoName(errno: number): { code: string; message: string } {
  const entry = getSystemErrorMap().get(-errno);
  return entry ? { code: entry[0], message: entry[1] } : { code: `E${errno}`, message: `errno ${errno}` };
}

/** Pure: KernelError for op failing with errno (positive). */
export function kernelError(op: string, errno: number): KernelError {
  const { code, message } = errnoName(errno);
  return new KernelError(op, errno, code, message);
}

function toKernelError(op: string, err: unknown): KernelError {
  if (err instanceof KernelError) return err;
  const e = err as { errno?: unknown; message?: string };
  if (typeof e.errno === 'number' && e.errno !== 0) {
    return new KernelError(op, Math.abs(e.errno), errnoName(Math.abs(e.errno)).code, e.message ?? 'failed', err);
  }
  if (e.message === 'Timeout has been reached') return new KernelError(op, 110, 'ETIMEDOUT', 'no answer from the kernel', err);
  return new KernelError(op, 5, 'EIO', e.message ?? String(err), err);
}

/**
 * Sends one rtnetlink request on h and returns the parsed answers (empty for a plain ACK).
 * An NLMSG_ERROR answer becomes KernelError(op, errno). `flags` excludes REQUEST|ACK.
 */
export function request(h: NlHandle, op: string, type: rt.MessageType, bufs: Uint8Array[], flags = 0): Promise<rt.Message[]> {
  const s = socketOf(h, op);
  return s.schedule(async () => {
    let msgs: NetlinkMessage[];
    try {
      [msgs] = await s.rt.socket.request(type, bufs, { flags, checkError: false, timeout: REQUEST_TIMEOUT_MS });
    } catch (err) {
      throw toKernelError(op, err);
    }
    const first = msgs[0];
    if (first && first.type === NLMSG_ERROR) {
      const errno = -parseError(first.data, first.flags).errno;
      if (errno !== 0) throw kernelError(op, errno);
      return [];
    }
    return msgs.map((m) => rt.parseMessage(m.type, m.data));
  }, (flags & NLM_F_DUMP) !== 0);
}

/** Like request, but the kernel errnos in `gone` resolve to undefined (e.g. ENODEV on delete). */
export async function requestOr(
  h: NlHandle, op: string, type: rt.MessageType, bufs: Uint8Array[], flags: number, gone: readonly number[],
): Promise<rt.Message[] | undefined> {
  try {
    return await request(h, op, type, bufs, flags);
  } catch (err) {
    if (err instanceof KernelError && gone.includes(err.errno)) return undefined;
    throw err;
  }
}
