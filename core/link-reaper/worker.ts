/**
 * The link reaper's worker thread (see index.ts): deletes the DYING link group in the host
 * netns or in a sandbox's netns, one request per batch. Its own netlink sockets: the host one
 * lives in this thread's netns (the process's), a sandbox one is opened per sweep and closed.
 * A sweep starts 50 ms after the first request; requests arriving meanwhile, or while a
 * deletion runs, are answered by the same or the next one (one batch).
 */
import { parentPort } from 'node:worker_threads';
import * as nl from '../netlink/index.js';
import { isNetns, withNetlinkAt } from '../netns/index.js';

/** One sweep asked for: delete link `group` in the host netns (null) or in the netns at that path. */
interface Sweep { seq: number; netns: string | null; group: number }

const queue = new Map<string | null, number[]>();
let group = 0;
const BATCH_MS = 50;
let busy = false;

parentPort?.on('message', (m: Sweep) => {
  group = m.group;
  const seqs = queue.get(m.netns) ?? [];
  seqs.push(m.seq);
  queue.set(m.netns, seqs);
  if (busy) return;
  busy = true;
  // Wait a little for more: one delete per batch costs the kernel one RCU barrier and one
  // round of teardown work, which otherwise competes with the requests that follow.
  setTimeout(() => void drain(), BATCH_MS);
});

async function drain(): Promise<void> {
  busy = true;
  while (queue.size > 0) {
    const [netns, seqs] = queue.entries().next().value as [string | null, number[]];
    queue.delete(netns);
    let error: string | undefined;
    try {
      await deleteGroup(netns);
    } catch (err) {
      error = (err as Error).message;
    }
    for (const seq of seqs) parentPort?.postMessage({ seq, netns, ...(error ? { error } : {}) });
  }
  busy = false;
}

async function deleteGroup(netns: string | null): Promise<void> {
  if (netns === null) return void (await nl.deleteLinkGroup(nl.hostNetlink(), group));
  if (!isNetns(netns)) return; // the sandbox went away, and its links with it
  await withNetlinkAt(netns, (h) => nl.deleteLinkGroup(h, group));
}
