/**
 * RTNETLINK handles: one socket per network namespace (core/native's, driven synchronously:
 * the requests of one turn go to the kernel in one sendmsg), failures raised as KernelError
 * with a positive errno. A socket belongs to the netns it was created in.
 */
import { statSync } from 'node:fs';
import { getSystemErrorMap } from 'node:util';
import { parseError, rt, type NetlinkMessage } from 'netlink';
import { KernelError } from '../errors.js';
import { native } from '../native/index.js';
import { NLM_F_ACK, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR, nlmsg } from './encode.js';

export interface NlHandle {
  /** 'host' or the netns path/label the socket was opened in. */
  readonly netns: string;
  /** Closes the socket (a socket keeps its netns alive until closed). Idempotent. */
  close(): void;
}

const NLM_F_DUMP = 0x300;
/** Requests per sendmsg (see flush). */
const NL_BATCH_MAX = 32;

interface Pending { msg: Buffer; seq: number; dump: boolean; op: string; resolve: (m: NetlinkMessage[]) => void; reject: (e: unknown) => void }

/**
 * A handle over a socket of core/native (synchronous: the kernel answers rtnetlink requests
 * inside sendmsg). The requests made in one turn of the event loop (up to the next
 * process.nextTick, i.e. once the running promise chains settle) go to the kernel together in
 * one sendmsg and are applied in call order; a dump goes alone (one dump per socket at a
 * time). No socket wrapper, no event-loop round trip per request.
 */
class NlSocket implements NlHandle {
  readonly netns: string;
  closed = false;
  private seq = 0;
  private pending: Pending[] = [];

  constructor(label: string, private readonly sock: number) {
    this.netns = label;
  }

  request(op: string, type: number, bufs: Uint8Array[], flags: number): Promise<NetlinkMessage[]> {
    if (this.closed) return Promise.reject(new KernelError(op, 9, 'EBADF', `netlink handle (${this.netns}) is closed`));
    const seq = this.seq = (this.seq % 0x7fffffff) + 1;
    const msg = nlmsg(type, NLM_F_REQUEST | NLM_F_ACK | flags, seq, bufs);
    return new Promise((resolve, reject) => {
      if (this.pending.length === 0) process.nextTick(() => this.flush());
      this.pending.push({ msg, seq, dump: isDump(type, flags), op, resolve, reject });
    });
  }

  /**
   * Sends what is pending: runs of plain requests in transactions of at most NL_BATCH_MAX,
   * every dump alone. The cap keeps one transaction's answers within the socket's receive
   * queue (native NL_SOCK_RCVBUF): the kernel drops answers that overflow it after applying
   * their requests (ENOBUFS), which would leave made links without their undo.
   */
  private flush(): void {
    const all = this.pending;
    this.pending = [];
    for (let i = 0; i < all.length;) {
      let j = i + 1;
      if (!all[i]?.dump) while (j < all.length && j - i < NL_BATCH_MAX && !all[j]?.dump) j++;
      this.transact(all.slice(i, j));
      i = j;
    }
  }

  private transact(batch: Pending[]): void {
    const first = batch[0];
    const last = batch[batch.length - 1];
    if (!first || !last) return;
    let raw: Buffer;
    try {
      if (this.closed) throw new KernelError(first.op, 9, 'EBADF', `netlink handle (${this.netns}) is closed`);
      raw = native().nlTransact(this.sock, Buffer.concat(batch.map((p) => p.msg)), first.seq, last.seq);
    } catch (err) {
      for (const p of batch) p.reject(toKernelError(p.op, err));
      return;
    }
    const bySeq = splitMessages(raw);
    for (const p of batch) p.resolve(bySeq.get(p.seq) ?? []);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    native().nlClose(this.sock);
  }
}

/**
 * A dump request: a GET (rtnetlink's RTM_GET* types are 2 mod 4) with NLM_F_DUMP. The flag
 * bits mean other things on NEW requests (NLM_F_EXCL is NLM_F_MATCH's bit), which must not
 * be taken for dumps: they would each go to the kernel alone.
 */
export function isDump(type: number, flags: number): boolean {
  return type % 4 === 2 && (flags & NLM_F_DUMP) === NLM_F_DUMP;
}

/** Answers by seq, without the end-of-dump and plain-ACK markers (an error answer is kept). */
function splitMessages(raw: Buffer): Map<number, NetlinkMessage[]> {
  const out = new Map<number, NetlinkMessage[]>();
  for (let off = 0; off + 16 <= raw.length;) {
    const len = raw.readUInt32LE(off);
    if (len < 16 || off + len > raw.length) break;
    const type = raw.readUInt16LE(off + 4);
    const flags = raw.readUInt16LE(off + 6);
    const seq = raw.readUInt32LE(off + 8);
    const data = raw.subarray(off + 16, off + len);
    let list = out.get(seq);
    if (!list) out.set(seq, (list = []));
    const ack = type === NLMSG_ERROR && data.length >= 4 && data.readInt32LE(0) === 0 && list.length > 0;
    if (type !== NLMSG_DONE && !ack) list.push({ type, flags, seq, port: raw.readUInt32LE(off + 12), data });
    off += (len + 3) & ~3;
  }
  return out;
}

/**
 * Opens an RTNETLINK handle in the netns behind `netnsFd` (the socket is made there and acts
 * there for its whole life; core/netns netlinkIn), or in the calling thread's. The caller closes it.
 */
export function openNetlink(label = 'host', netnsFd = -1): NlHandle {
  try {
    return new NlSocket(label, native().nlOpenIn(netnsFd));
  } catch (err) {
    throw toKernelError(`open netlink socket (${label})`, err);
  }
}

let host: NlSocket | undefined;
const loadNetnsInode = statSync('/proc/thread-self/ns/net').ino;

/**
 * Throws KernelError(op, EINVAL) unless the calling thread is in the netns the process
 * started in: the process's shared sockets (rtnetlink, nftables, conntrack) must be the host's.
 */
export function assertLoadNetns(op: string): void {
  if (statSync('/proc/thread-self/ns/net').ino !== loadNetnsInode) {
    throw new KernelError(op, 22, 'EINVAL', 'the calling thread is inside another netns');
  }
}

/**
 * The cached handle for the process's own netns (the one it started in). Shared: callers
 * do not close it (if someone does, the next call opens a new one).
 */
export function hostNetlink(): NlHandle {
  if (host && !host.closed) return host;
  assertLoadNetns('open host netlink socket');
  host = openNetlink('host') as NlSocket;
  return host;
}

/** Linux errnos the kernel's link code gives that libuv's map lacks. */
const LINUX_ERRNOS = new Map<number, [string, string]>([
  [54, ['EXFULL', 'exchange full']], // a bridge out of port numbers
]);

/** Pure: errno (positive) to its code and message. */
export function errnoName(errno: number): { code: string; message: string } {
  const entry = getSystemErrorMap().get(-errno) ?? LINUX_ERRNOS.get(errno);
  return entry ? { code: entry[0], message: entry[1] } : { code: `E${errno}`, message: `errno ${errno}` };
}

/** Pure: KernelError for op failing with errno (positive). */
export function kernelError(op: string, errno: number): KernelError {
  const { code, message } = errnoName(errno);
  return new KernelError(op, errno, code, message);
}

function toKernelError(op: string, err: unknown): KernelError {
  if (err instanceof KernelError) return err;
  const e = err as { errno?: unknown; message?: string; syscall?: string };
  // SO_RCVTIMEO ran out (core/native): the kernel never answered.
  if (e.syscall === 'recvmsg' && e.errno === 11) return new KernelError(op, 110, 'ETIMEDOUT', 'no answer from the kernel', err);
  if (typeof e.errno === 'number' && e.errno !== 0) {
    return new KernelError(op, Math.abs(e.errno), errnoName(Math.abs(e.errno)).code, e.message ?? 'failed', err);
  }
  return new KernelError(op, 5, 'EIO', e.message ?? String(err), err);
}

/**
 * Sends one rtnetlink request on h and returns the parsed answers (empty for a plain ACK).
 * An NLMSG_ERROR answer becomes KernelError(op, errno). `flags` excludes REQUEST|ACK.
 */
export function request(h: NlHandle, op: string, type: rt.MessageType, bufs: Uint8Array[], flags = 0): Promise<rt.Message[]> {
  if (!(h instanceof NlSocket)) return Promise.reject(new KernelError(op, 22, 'EINVAL', 'not a tsnet netlink handle'));
  return h.request(op, type, bufs, flags).then((msgs) => answers(op, msgs));
}

/** The answers to one request: its error as KernelError, else the parsed messages (none for an ACK). */
function answers(op: string, msgs: NetlinkMessage[]): rt.Message[] {
  const first = msgs[0];
  if (first && first.type === NLMSG_ERROR) {
    const errno = -parseError(first.data, first.flags).errno;
    if (errno !== 0) throw kernelError(op, errno);
    return [];
  }
  return msgs.map((m) => rt.parseMessage(m.type, m.data));
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
