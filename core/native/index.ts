/**
 * core/native: the N-API addon (build/Release/tsnet_netns.node, core/netns/native/*.c),
 * loaded on first use: the network-namespace syscalls, the synchronous RTNETLINK socket and
 * the host-port holding socket Node cannot make itself. core/netns, core/netlink and
 * core/host-port wrap it; nothing else imports it.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from '../paths.js';

export interface Addon {
  createNetns(path: string): void;
  umountNetns(path: string): boolean;
  withNetns<T>(fd: number, fn: () => T): T;
  nsType(fd: number): number;
  /** An RTNETLINK socket created in the netns behind fd (-1: the calling thread's); its fd. */
  nlOpenIn(fd: number): number;
  /** One sendmsg of req, then every answer up to the final one of each seq in firstSeq..lastSeq. */
  nlTransact(sock: number, req: Buffer, firstSeq: number, lastSeq: number): Buffer;
  nlClose(sock: number): void;
  /** A socket holding (family, TCP or UDP, ip, port) in the calling thread's netns (hold-port.c); its fd. */
  holdPort(family: 4 | 6, stream: boolean, ip: string, port: number): number;
  CLONE_NEWNET: number;
}

let addon: Addon | undefined;

export function native(): Addon {
  addon ??= createRequire(import.meta.url)(join(packageRoot(), 'build', 'Release', 'tsnet_netns.node')) as Addon;
  return addon;
}
