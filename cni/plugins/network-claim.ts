/**
 * Who is creating a CNI network. The first ADD of a CNI network makes its tsnet network
 * (bridge, rules, pools) while other ADDs, possibly in other processes, wait for it. A
 * standalone plugin killed in the middle would leave the network 'creating' for good (no
 * daemon reconciles a standalone store), and every later ADD would wait and fail with code 11.
 * So the creator claims the creation in the store first (kv `cni.creator:<network>`, in a
 * transaction: one claim at a time): its pid, the process's start time (a reused pid has
 * another), its pid namespace and a token of the call (tsnetd serves several ADDs at once).
 * A claim whose process is dead counts as none: the next ADD claims and undoes the half-made
 * network. A creator in another pid namespace cannot be checked and counts as alive.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { NetworkManager } from '../../drivers/index.js';

const CREATOR_KEY = 'cni.creator:';

interface Creator {
  pid: number;
  /** Field 22 of /proc/<pid>/stat: clock ticks after boot. */
  start: string;
  /** Inode of the pid namespace the pid is counted in. */
  pidns: number;
  /** One per claim: a process's concurrent calls are told apart. */
  token: string;
}

/** The start time of process `pid` (from /proc), undefined when there is no such process. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The command name (field 2) may hold spaces and parentheses: count after its last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function pidNamespace(): number {
  return statSync('/proc/self/ns/pid').ino;
}

/** A creator record for this process and call (JSON, compared as text). */
function record(): string {
  return JSON.stringify({ pid: process.pid, start: startTime(process.pid) ?? '', pidns: pidNamespace(), token: randomBytes(8).toString('hex') } satisfies Creator);
}

function isAlive(rec: string): boolean {
  let c: Creator;
  try {
    c = JSON.parse(rec) as Creator;
  } catch {
    return false; // unreadable: nobody can finish from it
  }
  if (c.pidns !== pidNamespace()) return true;
  return startTime(c.pid) === c.start;
}

/**
 * Claims the creation of network `name` for this call: its claim (for releaseCreation) when
 * unclaimed or claimed by a dead process; undefined while a live one (this process's other
 * calls included) holds it.
 */
export function claimCreation(mgr: NetworkManager, name: string): string | undefined {
  return mgr.store.tx(() => {
    const cur = mgr.store.kv.get(CREATOR_KEY + name);
    if (cur !== undefined && isAlive(cur)) return undefined;
    const mine = record();
    mgr.store.kv.set(CREATOR_KEY + name, mine);
    return mine;
  });
}

/** Ends a claim (once the network is ready, or its creation failed and was undone). */
export function releaseCreation(mgr: NetworkManager, name: string, claim: string): void {
  mgr.store.tx(() => {
    if (mgr.store.kv.get(CREATOR_KEY + name) === claim) mgr.store.kv.delete(CREATOR_KEY + name);
  });
}

/** Whether a live process holds a claim on creating `name`. */
export function creationClaimed(mgr: NetworkManager, name: string): boolean {
  const cur = mgr.store.kv.get(CREATOR_KEY + name);
  return cur !== undefined && isAlive(cur);
}
