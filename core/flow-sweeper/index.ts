/**
 * Conntrack entries of published UDP ports, deleted off the request path. A deletion is one
 * ctnetlink dump, and the kernel walks its whole conntrack hash table for it (sized by the
 * machine's memory and shared by every netns: 262,144 buckets and ~9 ms on the test VM) inside
 * the recvmsg that asks, whatever matches. A process that answers requests (tsnetd) hands the
 * walk to a worker thread: a publish is done once its DNAT is in place, the event loop never
 * blocks on the walk, and the requests that arrive during a walk share the next one.
 * Processes that exit after one request (standalone CNI, tests) delete in the call.
 * Netns: the host's; the worker is started from the main thread, whose netns it inherits.
 * Who waits: settleFlows() before exit (tsnetd's engine.close).
 */
import { createRequire } from 'node:module';
import type { Worker } from 'node:worker_threads';
import { KernelError } from '../errors.js';
import { log } from '../log.js';
import { checkConntrackMatch, deleteConntrack, type ConntrackMatch } from '../netlink/index.js';

/** The worker's answer to one request: the walk that served it, and what it deleted or why it failed. */
export interface SweepReply { seq: number; walk: number; deleted?: number; error?: string }

interface Waiter { resolve: (n: number) => void; reject: (err: Error) => void; settled: Promise<void> }

let deferred = false;
let worker: Worker | undefined;
let seq = 0;
let walks = 0;
const waiting = new Map<number, Waiter>();

/**
 * Turns the worker on (tsnetd) or off (default: entries are deleted before a call resolves).
 * On, the worker starts now, so the first publish's walk does not wait for its start-up.
 */
export function deferFlowDeletes(on: boolean): void {
  deferred = on;
  if (on && worker === undefined) startWorker().unref();
}

export function flowDeletesDeferred(): boolean {
  return deferred;
}

/**
 * Deletes the host netns's conntrack entries that one of `matches` selects (core/netlink's
 * deleteConntrack); resolves with the number deleted, by this call's walk (deferred: by the
 * walk it shared with other requests). A bad match rejects with ConfigError before anything runs.
 */
export async function deleteFlows(matches: readonly ConntrackMatch[]): Promise<number> {
  matches.forEach((m, i) => checkConntrackMatch(m, `matches[${i}]`));
  if (!deferred || matches.length === 0) return deleteConntrack(matches);
  const w = worker ?? startWorker();
  const n = ++seq;
  let resolve!: Waiter['resolve'];
  let reject!: Waiter['reject'];
  const done = new Promise<number>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  waiting.set(n, { resolve, reject, settled: done.then(() => undefined, () => undefined) });
  w.ref();
  w.postMessage({ seq: n, matches });
  return done;
}

/** Resolves when every deletion asked for so far has finished (done or failed). */
export async function settleFlows(): Promise<void> {
  await Promise.all([...waiting.values()].map((w) => w.settled));
}

/** Walks the worker has made (tests: requests during a walk share the next one). */
export function flowWalks(): number {
  return walks;
}

function startWorker(): Worker {
  // Loaded here, in tsnetd only: one-shot processes need not pay for worker_threads.
  const { Worker: WorkerThread } = createRequire(import.meta.url)('node:worker_threads') as typeof import('node:worker_threads');
  const w = new WorkerThread(new URL('./worker.js', import.meta.url));
  w.on('message', (m: SweepReply) => {
    walks = Math.max(walks, m.walk);
    const waiter = waiting.get(m.seq);
    waiting.delete(m.seq);
    if (m.error === undefined) waiter?.resolve(m.deleted ?? 0);
    else waiter?.reject(new KernelError('delete conntrack entries (worker)', 5, 'EIO', m.error));
    if (waiting.size === 0) w.unref();
  });
  w.on('error', (err) => {
    log.error({ err }, 'conntrack sweeper worker failed');
    for (const waiter of waiting.values()) waiter.reject(err);
    waiting.clear();
    worker = undefined;
  });
  worker = w;
  return w;
}
