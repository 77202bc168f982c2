/**
 * Host ports held for published ports, as Docker's port allocator holds them when it runs no
 * userland proxy: while a port is published, a socket of this process (core/host-port:
 * bound, TCP listening, every packet dropped) keeps any process of the host from binding it,
 * so a server started later fails with EADDRINUSE instead of silently losing its traffic to
 * DNAT. Taking the socket is also the check before publishing: EADDRINUSE (a process of the
 * host has the port: sshd on 22...) is a conflict, EADDRNOTAVAIL (the host IP is no address
 * of this host, unless net.ipv4/ipv6.ip_nonlocal_bind allows it) a bad request; Docker refuses
 * both the same way. The engine and the Docker plugin ask for it (tsnetd holds the sockets;
 * after a restart NetworkManager.reconcile takes them again); CNI's portmap holds nothing, as
 * the reference does not. Host netns (the calling thread's).
 */
import { ConfigError, ConflictError, KernelError } from '../core/index.js';
import { holdHostPort, releaseHostPort } from '../core/host-port/index.js';
import type { PortBinding } from './ports.js';

const key = (b: PortBinding) => `${b.proto}/${b.hostIp}/${b.hostPort}`;

export class HostPortHolds {
  /** endpoint id -> binding key -> socket fd */
  private readonly held = new Map<string, Map<string, number>>();

  /**
   * Holds the bindings of an endpoint not held yet, all or nothing; throws the first refusal
   * naming its binding. Returns what it took, for dropping them again on a later failure.
   */
  hold(endpointId: string, bindings: readonly PortBinding[]): PortBinding[] {
    const mine = this.held.get(endpointId) ?? new Map<string, number>();
    const taken: PortBinding[] = [];
    try {
      for (const b of bindings) {
        if (mine.has(key(b))) continue;
        mine.set(key(b), holdOne(b));
        taken.push(b);
      }
    } catch (err) {
      this.close(endpointId, mine, taken.map(key));
      throw err;
    }
    if (mine.size > 0) this.held.set(endpointId, mine);
    return taken;
  }

  /** Releases the given bindings of an endpoint (default: all of them). Idempotent. */
  release(endpointId: string, bindings?: readonly PortBinding[]): void {
    const mine = this.held.get(endpointId);
    if (mine) this.close(endpointId, mine, bindings ? bindings.map(key) : [...mine.keys()]);
  }

  /** Releases every held port (the manager closing). */
  releaseAll(): void {
    for (const id of [...this.held.keys()]) this.release(id);
  }

  /** Closes the sockets of `keys` among the endpoint's (`mine`). */
  private close(endpointId: string, mine: Map<string, number>, keys: readonly string[]): void {
    for (const k of keys) {
      const fd = mine.get(k);
      if (fd === undefined) continue;
      mine.delete(k);
      releaseHostPort(fd);
    }
    if (mine.size === 0) this.held.delete(endpointId);
  }
}

/**
 * Whether no process of the host has the port: for picking a host port from a range (an
 * ephemeral port may be a host connection's local port). Other refusals (a host IP that is
 * not the host's) count as free here: the hold that follows reports them.
 */
export function hostPortFree(b: Pick<PortBinding, 'proto' | 'hostIp' | 'hostPort'>): boolean {
  try {
    releaseHostPort(holdHostPort(b));
    return true;
  } catch (err) {
    return !(err instanceof KernelError && err.errnoCode === 'EADDRINUSE');
  }
}

/** One binding's socket; ConflictError (port in use on the host) or ConfigError (not a host address). */
function holdOne(b: PortBinding): number {
  const where = `${b.hostPort}/${b.proto} on ${b.hostIp}`;
  try {
    return holdHostPort(b);
  } catch (err) {
    const code = err instanceof KernelError ? err.errnoCode : undefined;
    if (code === 'EADDRINUSE') throw new ConflictError(`port ${where} is in use by a process of the host`, 'ports');
    if (code === 'EADDRNOTAVAIL') throw new ConfigError(`cannot publish port ${where}: ${b.hostIp} is not an address of this host`, 'ports');
    throw err;
  }
}
