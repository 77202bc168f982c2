/**
 * Link deletion off the request path. Deleting a netdev blocks the sending thread for the
 * kernel's closing RCU barrier (~15 ms here, whatever the link), so a process that answers
 * requests (tsnetd) *retires* links instead: released from their bridge, down, renamed
 * `tsdead<hex>` and put in link group DYING_GROUP (about a millisecond; their names are free
 * again at once, so the same container can attach again right away), and a worker thread
 * deletes the group in batches (one barrier per batch). Processes that exit after one request (standalone CNI, tests) keep
 * deleting directly. Who cleans up: the worker; settleRetired() waits for it before exit;
 * after a crash, reconcile calls sweepRetired() in the host netns.
 */
import { randomBytes } from 'node:crypto';
import { fstatSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Worker } from 'node:worker_threads';
import { log } from '../log.js';
import * as nl from '../netlink/index.js';
import { isNetns, withNetlinkAt } from '../netns/index.js';

/** IFLA_GROUP of retired links ('tsnd'): nothing else of ours uses link groups. */
export const DYING_GROUP = 0x74736e64;
export const DYING_PREFIX = 'tsdead';

interface SweepDone { seq: number; netns: string | null; error?: string }
/** A sweep asked for: in the host netns (ino null) or in the netns with that inode. */
interface Waiter { ino: number | null; done: Promise<void>; resolve: () => void }

let deferred = false;
let worker: Worker | undefined;
let seq = 0;
const waiting = new Map<number, Waiter>();

/** Turns retiring on (tsnetd) or off (default: links are deleted before a call resolves). */
export function deferLinkDeletes(on: boolean): void {
  deferred = on;
}

/** Whether link deletions are deferred to the worker (tsnetd) rather than done in the call. */
export function linkDeletesDeferred(): boolean {
  return deferred;
}

/**
 * Removes a veth by its host end (host netns); its peer goes with it. With deferral on, both
 * ends are retired now and the worker deletes them: the peer by the index the host end
 * names (nothing else is touched), inside `peerNetnsPath` when given, else when it is in the
 * host netns too (libnetwork: dockerd moves it back out before DeleteEndpoint); a peer in
 * some other netns keeps its name until the sweep. No error when already gone.
 */
export async function removeVeth(hostIfname: string, peerNetnsPath?: string): Promise<void> {
  await removeHostLink(hostIfname, (h, link) => {
    const peerIndex = link.parentIndex;
    if (peerIndex === undefined) return undefined;
    if (peerNetnsPath !== undefined) return retireIn(peerNetnsPath, peerIndex);
    return link.parentNetnsId === undefined ? nl.retireLink(h, peerIndex, dyingName(), DYING_GROUP) : undefined;
  });
}

/**
 * Removes a link of the host netns (an IFB; a veth's host end through removeVeth, whose
 * `alongside` retires the peer at the same time); deferred as described above. No error when gone.
 */
export async function removeHostLink(name: string, alongside?: (h: nl.NlHandle, link: nl.LinkInfo) => Promise<unknown> | undefined): Promise<void> {
  const h = nl.hostNetlink();
  if (!deferred) return void (await nl.deleteLink(h, name));
  const link = await nl.getLink(h, name);
  if (!link) return;
  await Promise.all([nl.retireLink(h, link.index, dyingName(), DYING_GROUP, link.masterIndex !== undefined), alongside?.(h, link)]);
  sweep(null);
}

/**
 * Removes link `ifname` inside the netns at `netnsPath` (a macvlan) if its MAC is `mac`; no
 * error when gone.
 * Deferred, it is only put in the DYING group: taking a macvlan down waits for an RCU grace
 * period (~11 ms, its hash removal), deleting it does not, so it keeps its name and state
 * until the worker deletes it; a new link in that netns first awaits settleRetired(netnsPath).
 */
export async function removeLinkIn(netnsPath: string, ifname: string, mac: string): Promise<void> {
  if (!isNetns(netnsPath)) return;
  await withNetlinkAt(netnsPath, async (h, fd) => {
    const link = await nl.getLink(h, ifname);
    // Another link of that name (a newer netns at the path, whose inode number may be the old one's): not ours.
    if (!link || link.mac.toLowerCase() !== mac.toLowerCase()) return;
    if (!deferred) return void (await nl.deleteLink(h, link.name));
    await nl.setLinkGroup(h, link.index, DYING_GROUP);
    sweep(netnsPath, fstatSync(fd).ino);
  });
}

/**
 * Resolves when every link retired so far is deleted (or its sweep failed and was logged);
 * with `netnsPath`, only those retired inside that netns.
 */
export async function settleRetired(netnsPath?: string): Promise<void> {
  if (waiting.size === 0) return; // the common case, on every attach: no stat
  // The netns by identity (inode): a new netns mounted at the same path has nothing pending.
  const ino = netnsPath === undefined ? undefined : statSync(netnsPath, { throwIfNoEntry: false })?.ino;
  if (netnsPath !== undefined && ino === undefined) return;
  const of = [...waiting.values()].filter((w) => ino === undefined || w.ino === ino);
  await Promise.all(of.map((w) => w.done));
}

/** Deletes retired links left in the host netns (e.g. by a daemon killed mid-sweep). */
export async function sweepRetired(): Promise<void> {
  await nl.deleteLinkGroup(nl.hostNetlink(), DYING_GROUP);
}

function dyingName(): string {
  return DYING_PREFIX + randomBytes(4).toString('hex');
}

/** Down + renamed in the sandbox: frees the name there (a re-ADD of the same ifname). */
async function retireIn(netnsPath: string, index: number): Promise<void> {
  if (!isNetns(netnsPath)) return;
  await withNetlinkAt(netnsPath, (h) => nl.retireLink(h, index, dyingName(), DYING_GROUP));
}

/** Asks the worker to delete the DYING group in the host netns (null) or in netnsPath. */
function sweep(netnsPath: string | null, ino: number | null = null): void {
  const w = worker ?? startWorker();
  const n = ++seq;
  let resolve = (): void => undefined;
  const done = new Promise<void>((r) => (resolve = r));
  waiting.set(n, { ino, done, resolve });
  w.ref();
  w.postMessage({ seq: n, netns: netnsPath, group: DYING_GROUP });
}

function startWorker(): Worker {
  // Loaded here, in tsnetd only (~2 ms that other processes need not pay).
  const { Worker: WorkerThread } = createRequire(import.meta.url)('node:worker_threads') as typeof import('node:worker_threads');
  const w = new WorkerThread(new URL('./worker.js', import.meta.url));
  w.on('message', (m: SweepDone) => {
    if (m.error) log.warn({ netns: m.netns ?? 'host', error: m.error }, 'deleting retired links failed; reconcile sweeps them');
    waiting.get(m.seq)?.resolve();
    waiting.delete(m.seq);
    if (waiting.size === 0) w.unref();
  });
  w.on('error', (err) => {
    log.error({ err }, 'link reaper worker failed; retired links stay until reconcile');
    for (const waiter of waiting.values()) waiter.resolve();
    waiting.clear();
    worker = undefined;
  });
  worker = w;
  return w;
}
