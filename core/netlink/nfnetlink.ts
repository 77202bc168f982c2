/**
 * NETLINK_NETFILTER (nfnetlink) for nftables: batch framing (NFNL_MSG_BATCH_BEGIN / END
 * around messages, res_id NFNL_SUBSYS_NFTABLES), error parsing, and the process's socket.
 * Pure encoders plus one shared socket in the process's own (host) netns. The messages
 * themselves (set elements, ...) are built by their users (core/firewall/nft-ports).
 */
import { getSystemErrorMap } from 'node:util';
import { createNetlink, type NetlinkMessage, type NetlinkSocket } from 'netlink';
import { KernelError } from '../errors.js';
import { NLM_F_ACK, NLM_F_REQUEST, NLMSG_ERROR, nlattr, nlmsg } from './encode.js';
import { assertLoadNetns } from './socket.js';

export { NLM_F_ACK, NLM_F_REQUEST, NLMSG_ERROR, nlattr, nlmsg };

export const NETLINK_NETFILTER = 12;
export const NFNL_SUBSYS_NFTABLES = 10;
export const NFNL_MSG_BATCH_BEGIN = 0x10;
export const NFNL_MSG_BATCH_END = 0x11;

export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
export const NLM_F_CAPPED = 0x100;
export const NLM_F_ACK_TLVS = 0x200;

const NFPROTO_UNSPEC = 0;
const NLA_F_NESTED = 0x8000;
const NLMSGERR_ATTR_MSG = 1;

/** struct nfgenmsg: family, version NFNETLINK_V0, res_id (big endian). */
export function nfgenmsg(family: number, resId: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt8(family, 0);
  b.writeUInt16BE(resId, 2);
  return b;
}

/** A message of a batch before sequence numbers are assigned. */
export interface BatchMessage {
  type: number;
  flags: number;
  payload: Buffer;
}

/**
 * Pure: one datagram holding BATCH_BEGIN, the messages, BATCH_END (res_id
 * NFNL_SUBSYS_NFTABLES), numbered from `firstSeq`. Returns the bytes and the sequence
 * numbers: begin, one per message (in order), end.
 */
export function encodeBatch(msgs: readonly BatchMessage[], firstSeq: number): { bytes: Buffer; begin: number; seqs: number[]; end: number } {
  const frame = nfgenmsg(NFPROTO_UNSPEC, NFNL_SUBSYS_NFTABLES);
  const seqAt = (i: number) => ((firstSeq + i - 1) % 0xffffffff) + 1; // 1..2^32-1, wraps past 0
  const begin = seqAt(0);
  const seqs = msgs.map((_, i) => seqAt(i + 1));
  const end = seqAt(msgs.length + 1);
  const bytes = Buffer.concat([
    nlmsg(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, begin, frame),
    ...msgs.map((m, i) => nlmsg(m.type, m.flags, seqs[i] ?? 0, m.payload)),
    nlmsg(NFNL_MSG_BATCH_END, NLM_F_REQUEST, end, frame),
  ]);
  return { bytes, begin, seqs, end };
}

/** Pure: the payload of an NLMSG_ERROR message: errno (positive, 0 = ACK) and the kernel's
 * extended-ACK text when it sent one. */
export function parseErrorPayload(data: Buffer, flags: number): { errno: number; text?: string } {
  if (data.length < 4) return { errno: 5 };
  const errno = -data.readInt32LE(0);
  if (!(flags & NLM_F_ACK_TLVS) || data.length < 20) return { errno };
  // struct nlmsgerr: error, then the request's header (and, unless capped, its payload).
  let off = 4 + ((flags & NLM_F_CAPPED) ? 16 : data.readUInt32LE(4));
  while (off + 4 <= data.length) {
    const len = data.readUInt16LE(off);
    const type = data.readUInt16LE(off + 2) & ~NLA_F_NESTED;
    if (len < 4 || off + len > data.length) break;
    if (type === NLMSGERR_ATTR_MSG) return { errno, text: data.subarray(off + 4, off + len).toString().replace(/\0+$/, '') };
    off += (len + 3) & ~3;
  }
  return { errno };
}

const BATCH_TIMEOUT_MS = 10_000;
/** Socket buffers asked for (the kernel caps them at net.core.[rw]mem_max). */
const BUFFER_BYTES = 4 << 20;

/** The kernel's answer to one message of a batch: errno 0 is success. */
export interface MessageResult {
  errno: number;
  text?: string;
}

interface Pending {
  results: (MessageResult | undefined)[];
  left: number;
  done: (err?: KernelError) => void;
}

/** Pure: KernelError for op failing with errno (positive). */
export function nftKernelError(op: string, errno: number, text?: string): KernelError {
  const entry = getSystemErrorMap().get(-errno);
  const code = entry?.[0] ?? `E${errno}`;
  const message = (entry?.[1] ?? `errno ${errno}`) + (text ? ` (${text})` : '');
  return new KernelError(op, errno, code, message);
}

class NftSocket {
  private readonly sock: NetlinkSocket;
  private seq = 1;
  /** Sequence number -> [batch, index of the message or -1 for BATCH_BEGIN]. */
  private readonly bySeq = new Map<number, [Pending, number]>();
  private waiting = 0;
  closed = false;

  constructor() {
    // SO_RCVBUF/SO_SNDBUF are silently capped by the kernel, never refused.
    this.sock = createNetlink(NETLINK_NETFILTER, { ref: false, recvBufferSize: BUFFER_BYTES, sendBufferSize: BUFFER_BYTES });
    this.sock.on('message', (msgs) => this.receive(msgs));
    this.sock.on('error', (err) => this.failAll(nftKernelError('nftables netlink socket', Math.abs(err.errno) || 5)));
  }

  /** Largest batch datagram the socket accepts (netlink refuses more than sk_sndbuf - 32). */
  maxBatchBytes(): number {
    return Math.floor(this.sock.getSendBufferSize() / 2);
  }

  /** Most answers the receive buffer holds at once (an answer takes < 2 KiB of it). */
  maxBatchMessages(): number {
    return Math.max(64, Math.min(4096, Math.floor(this.sock.getRecvBufferSize() / 2048)));
  }

  /**
   * Sends msgs as one batch; resolves with the kernel's answer to each message (in order).
   * The kernel applied the batch iff every errno is 0. Rejects with KernelError(op) when
   * the batch as a whole failed, could not be sent, or was not answered in time.
   */
  send(msgs: readonly BatchMessage[], op: string): Promise<MessageResult[]> {
    const { bytes, begin, seqs } = encodeBatch(msgs, this.seq);
    this.seq = ((this.seq + msgs.length + 1) % 0xffffffff) + 1;
    return new Promise<MessageResult[]>((resolve, reject) => {
      const pending: Pending = { results: msgs.map(() => undefined), left: msgs.length, done: () => undefined };
      const timer = setTimeout(() => pending.done(nftKernelError(op, 110, 'no answer from the kernel')), BATCH_TIMEOUT_MS);
      pending.done = (err) => {
        clearTimeout(timer);
        this.bySeq.delete(begin);
        for (const s of seqs) this.bySeq.delete(s);
        if (--this.waiting === 0 && !this.closed) this.sock.ref(false);
        pending.done = () => undefined;
        if (err) reject(err);
        else resolve(pending.results.map((r) => r ?? { errno: 0 }));
      };
      this.bySeq.set(begin, [pending, -1]);
      seqs.forEach((s, i) => this.bySeq.set(s, [pending, i]));
      if (this.waiting++ === 0) this.sock.ref(true);
      if (msgs.length === 0) return pending.done();
      this.sock.socket.send(bytes, {}, (err) => {
        if (err) pending.done(nftKernelError(op, Math.abs(err.errno) || 5));
      });
    });
  }

  private receive(msgs: NetlinkMessage[]): void {
    for (const m of msgs) {
      if (m.type !== NLMSG_ERROR) continue;
      const entry = this.bySeq.get(m.seq);
      if (!entry) continue;
      const [pending, index] = entry;
      const answer = parseErrorPayload(m.data, m.flags);
      if (index < 0) {
        if (answer.errno !== 0) pending.done(nftKernelError('nftables batch', answer.errno, answer.text));
        continue;
      }
      if (pending.results[index] !== undefined) continue;
      pending.results[index] = answer;
      if (--pending.left === 0) pending.done();
    }
  }

  private failAll(err: KernelError): void {
    for (const [pending] of [...this.bySeq.values()]) pending.done(err);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.failAll(nftKernelError('nftables netlink socket', 9, 'closed'));
    this.sock.close();
  }
}

let shared: NftSocket | undefined;

/** The process's nftables socket (host netns), opened on first use; shared, never closed
 * by callers (closeNftSocket ends it, e.g. before exit in tests). */
export function nftSocket(): NftSocket {
  if (shared && !shared.closed) return shared;
  assertLoadNetns('open nftables netlink socket');
  try {
    shared = new NftSocket();
  } catch (err) {
    const e = err as { errno?: number; message?: string };
    throw nftKernelError('open nftables netlink socket', Math.abs(e.errno ?? 5) || 5, e.message);
  }
  return shared;
}

/** Closes the shared socket (pending batches fail with EBADF); the next use opens a new one. */
export function closeNftSocket(): void {
  shared?.close();
  shared = undefined;
}

export type { NftSocket };
