/**
 * The conntrack sweeper's worker thread (see index.ts): one deleteConntrack per walk, over its
 * own ctnetlink socket in this thread's netns (the process's: the host). A walk starts 20 ms
 * after the first request; every request pending when it starts shares it, and one that arrives
 * during a walk waits for the next (a burst of container starts costs the kernel a few walks,
 * not one per port).
 */
import { parentPort } from 'node:worker_threads';
import { conntrackMatchKey, deleteConntrack, type ConntrackMatch } from '../netlink/index.js';
import type { SweepReply } from './index.js';

interface Request { seq: number; matches: ConntrackMatch[] }

const BATCH_MS = 20;
const pending: Request[] = [];
let busy = false;
let walks = 0;

parentPort?.on('message', (m: Request) => {
  pending.push(m);
  if (busy) return;
  busy = true;
  setTimeout(() => void drain(), BATCH_MS);
});

async function drain(): Promise<void> {
  while (pending.length > 0) {
    const batch = pending.splice(0);
    const reply: Omit<SweepReply, 'seq'> = { walk: ++walks };
    try {
      reply.deleted = await deleteConntrack(unique(batch.flatMap((r) => r.matches)));
    } catch (err) {
      reply.error = (err as Error).message;
    }
    for (const r of batch) parentPort?.postMessage({ seq: r.seq, ...reply });
  }
  busy = false;
}

function unique(matches: ConntrackMatch[]): ConntrackMatch[] {
  return [...new Map(matches.map((m) => [conntrackMatchKey(m), m])).values()];
}
