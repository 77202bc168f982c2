/**
 * Deletes conntrack entries of the process's own (host) netns over ctnetlink: one dump of the
 * candidates per address family (the kernel filters it where it can, 5.9+), then a delete of
 * each matching entry by its original tuple. Published ports are DNAT, decided by the kernel on
 * the first packet of a flow only: an entry made before a port was published (or while it
 * went to another container) keeps its old decision for as long as the flow lives, which for
 * a UDP client with a fixed source port is forever. No exec, no fork.
 */
import { existsSync } from 'node:fs';
import { createNetlink, type NetlinkMessage, type NetlinkSocket } from 'netlink';
import type { KernelError } from '../errors.js';
import { SerialQueues } from '../serial.js';
import { formatIp, NLMSG_ERROR } from './encode.js';
import { NETLINK_NETFILTER, nftKernelError, parseErrorPayload } from './nfnetlink.js';
import { assertLoadNetns, hostNetlink } from './socket.js';
import { isLocalAddress } from './routes.js';
import {
  CT_DELETE, CT_ENTRY, CT_GET, checkMatch, deleteRequest, dumpRequest, matcher, parseEntry,
  type ConntrackEntry, type ConntrackMatch,
} from './conntrack-encode.js';

const NLM_F_DUMP = 0x300;
const ENOENT = 2;
const ETIMEDOUT = 110;
const TIMEOUT_MS = 10_000;
/** Requests awaiting their answer at once: their answers must fit the receive buffer (BUFFER_BYTES, or the kernel cap). */
const REQUESTS_IN_FLIGHT = 128;
const BUFFER_BYTES = 1 << 20;
/**
 * Exists once nf_conntrack is loaded (read in the calling thread's netns): without it there
 * is no entry to delete, and asking ctnetlink would load the module for nothing.
 */
const CONNTRACK_SYSCTL = '/proc/sys/net/netfilter/nf_conntrack_count';

/** KernelError for a request the socket could not send or the kernel did not answer. */
function requestError(op: string, err: unknown): KernelError {
  const e = err as { errno?: unknown; message?: string };
  if (typeof e.errno === 'number' && e.errno !== 0) return nftKernelError(op, Math.abs(e.errno));
  if (/timeout/i.test(e.message ?? '')) return nftKernelError(op, ETIMEDOUT, 'no answer from the kernel');
  return nftKernelError(op, 5, e.message);
}

/** A NETLINK_NETFILTER socket of the host netns for ctnetlink requests (the package pairs answers with requests by seq). */
class CtSocket {
  private readonly sock: NetlinkSocket;
  /** Rejecters of the requests awaiting an answer, failed together if the socket breaks. */
  private readonly waiting = new Set<(err: KernelError) => void>();
  closed = false;

  constructor() {
    this.sock = createNetlink(NETLINK_NETFILTER, { ref: false, recvBufferSize: BUFFER_BYTES, sendBufferSize: BUFFER_BYTES });
    this.sock.on('error', (err) => {
      const failure = nftKernelError('conntrack netlink socket', Math.abs(err.errno) || 5);
      for (const fail of [...this.waiting]) fail(failure);
      this.close();
    });
  }

  /** One request (REQUEST|ACK added); its answers: a dump's messages, or one NLMSG_ERROR (an ACK when errno is 0). */
  ask(op: string, type: number, payload: Buffer, flags = 0): Promise<NetlinkMessage[]> {
    if (this.closed) return Promise.reject(nftKernelError(op, 9, 'closed'));
    return new Promise((resolve, reject) => {
      const fail = (err: KernelError) => {
        this.waiting.delete(fail);
        reject(err);
      };
      this.waiting.add(fail);
      this.sock.request(type, payload, { flags, timeout: TIMEOUT_MS, checkError: false }).then(([msgs]) => {
        this.waiting.delete(fail);
        resolve(msgs);
      }, (err: unknown) => fail(requestError(op, err)));
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sock.close();
  }
}

let shared: CtSocket | undefined;
/** One dump per socket at a time: calls run one after the other. */
const queue = new SerialQueues<'host'>();

function ctSocket(): CtSocket {
  if (shared && !shared.closed) return shared;
  assertLoadNetns('open conntrack netlink socket');
  try {
    shared = new CtSocket();
  } catch (err) {
    throw requestError('open conntrack netlink socket', err);
  }
  return shared;
}

/** Closes the shared socket (tests, before exit); the next call opens a new one. */
export function closeConntrackSocket(): void {
  shared?.close();
  shared = undefined;
}

/** The errno of an NLMSG_ERROR answer (0: an ACK, or not an error message). */
function errnoOf(m: NetlinkMessage | undefined): number {
  return m?.type === NLMSG_ERROR ? parseErrorPayload(m.data, m.flags).errno : 0;
}

function describeEntry(e: ConntrackEntry): string {
  const end = (ip: Buffer | undefined, port: number | undefined) => {
    const text = ip ? formatIp(ip) : '?';
    return `${e.family === 6 ? `[${text}]` : text}:${port ?? '?'}`;
  };
  return `proto ${e.proto} ${end(e.src, e.sport)} -> ${end(e.dst, e.dport)}`;
}

/** The family's entries that one of the matches selects (one dump; `local` matches: a route lookup per destination). */
async function dumpMatching(sock: CtSocket, family: 4 | 6, matches: readonly ConntrackMatch[]): Promise<ConntrackEntry[]> {
  const op = `dump IPv${family} conntrack entries`;
  const msgs = await sock.ask(op, CT_GET, dumpRequest(family, matches), NLM_F_DUMP);
  const errno = errnoOf(msgs[0]);
  if (errno !== 0) throw nftKernelError(op, errno);
  const tests = matches.map(matcher);
  const candidates: ConntrackEntry[] = [];
  for (const m of msgs) {
    const e = m.type === CT_ENTRY ? parseEntry(m.data) : undefined;
    if (e && tests.some((t) => t(e, () => true))) candidates.push(e);
  }
  if (!matches.some((m) => m.local)) return candidates;
  const isLocal = await localAmong(candidates);
  return candidates.filter((e) => tests.some((t) => t(e, isLocal)));
}

/** fn over items, at most REQUESTS_IN_FLIGHT awaiting their answer at once; the results in order. */
async function inFlight<T, R>(items: readonly T[], fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += REQUESTS_IN_FLIGHT) out.push(...await Promise.all(items.slice(i, i + REQUESTS_IN_FLIGHT).map(fn)));
  return out;
}

/**
 * Which of the candidates' destinations the host delivers to itself, asked of the routing
 * code (in this thread's netns: the host's) once per distinct address: an entry made to a
 * local address is what a wildcard port's DNAT would have taken.
 */
async function localAmong(entries: readonly ConntrackEntry[]): Promise<(ip: Buffer) => boolean> {
  const dsts = [...new Set(entries.flatMap((e) => (e.dst ? [e.dst.toString('hex')] : [])))];
  const answers = await inFlight(dsts, (hex) => isLocalAddress(hostNetlink(), formatIp(Buffer.from(hex, 'hex'))));
  const local = new Set(dsts.filter((_, i) => answers[i]));
  return (ip) => local.has(ip.toString('hex'));
}

/** Deletes one entry; true when the kernel did, false when it was gone already (ENOENT). */
async function deleteEntry(sock: CtSocket, e: ConntrackEntry): Promise<boolean> {
  const op = `delete conntrack entry ${describeEntry(e)}`;
  const errno = errnoOf((await sock.ask(op, CT_DELETE, deleteRequest(e)))[0]);
  if (errno !== 0 && errno !== ENOENT) throw nftKernelError(op, errno);
  return errno === 0;
}

async function deleteAll(sock: CtSocket, entries: readonly ConntrackEntry[]): Promise<number> {
  return (await inFlight(entries, (e) => deleteEntry(sock, e))).filter(Boolean).length;
}

/**
 * Deletes the conntrack entries of the process's netns (the host) whose original tuple one of
 * `matches` selects (protocol, destination port, destination address when given): one dump
 * per address family among the matches, then one delete per entry found. Resolves with the
 * number deleted; 0 without nf_conntrack (nothing to delete, no request made). An entry gone
 * meanwhile is not an error. Throws ConfigError for a bad match before any request, and
 * KernelError(op, errno) when the kernel refuses the dump or a delete.
 */
export async function deleteConntrack(matches: readonly ConntrackMatch[]): Promise<number> {
  matches.forEach((m, i) => checkMatch(m, `matches[${i}]`));
  if (matches.length === 0 || !existsSync(CONNTRACK_SYSCTL)) return 0;
  return queue.run('host', async () => {
    const sock = ctSocket();
    let deleted = 0;
    for (const family of [4, 6] as const) {
      const mine = matches.filter((m) => m.family === family);
      if (mine.length > 0) deleted += await deleteAll(sock, await dumpMatching(sock, family, mine));
    }
    return deleted;
  });
}
