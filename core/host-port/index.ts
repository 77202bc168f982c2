/**
 * Sockets that hold host ports (core/native holdPort): bound in the calling thread's netns
 * (tsnetd's main thread: the host's), TCP listening, every packet dropped by a socket filter
 * so the socket never answers. While one is open no process of the host can bind the port.
 * Failures are KernelErrors with the errno (EADDRINUSE: someone has the port; EADDRNOTAVAIL:
 * the IP is not this host's). The caller closes what it holds with releaseHostPort.
 */
import { closeSync } from 'node:fs';
import { KernelError } from '../errors.js';
import { native } from '../native/index.js';

export interface HostPort {
  proto: 'tcp' | 'udp';
  hostIp: string;
  hostPort: number;
}

/** Opens the holding socket for `p`; its fd. */
export function holdHostPort(p: HostPort): number {
  const family = p.hostIp.includes(':') ? 6 : 4;
  try {
    return native().holdPort(family, p.proto === 'tcp', p.hostIp, p.hostPort);
  } catch (err) {
    const e = err as { errno?: number; code?: string; message?: string };
    throw new KernelError(`hold host port ${p.hostPort}/${p.proto} on ${p.hostIp}`, e.errno ?? 0, e.code ?? 'EUNKNOWN', e.message ?? String(err), err);
  }
}

/** Closes a holding socket; the port is free at once (a listener leaves no TIME_WAIT). */
export function releaseHostPort(fd: number): void {
  closeSync(fd);
}
