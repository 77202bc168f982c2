/**
 * Whether a host port can be published without taking it from someone: a probe socket is
 * bound to (host IP, port, protocol) in the calling process's netns (the host's) and closed
 * at once. EADDRINUSE: a process of the host has it (sshd on 22...), and DNAT would silently
 * steal its traffic; EADDRNOTAVAIL: the host IP is no address of this host (unless
 * net.ipv4/ipv6.ip_nonlocal_bind allows it, as for a floating VIP). Docker refuses both the
 * same way (its port allocator binds the port). The engine and the Docker plugin ask for it;
 * CNI's portmap does not (the reference does not check). node:net / node:dgram load lazily:
 * a standalone CNI plugin never probes and never pays for them.
 */
import { createRequire } from 'node:module';
import { ConfigError, ConflictError } from '../core/errors.js';
import type { PortBinding } from './ports.js';

type Net = typeof import('node:net');
type Dgram = typeof import('node:dgram');
const load = <T>(id: string): T => createRequire(import.meta.url)(id) as T;

function bindTcp(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = load<Net>('node:net').createServer();
    server.once('error', reject);
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve()));
  });
}

function bindUdp(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = load<Dgram>('node:dgram').createSocket(host.includes(':') ? 'udp6' : 'udp4');
    sock.once('error', (err) => {
      sock.close();
      reject(err);
    });
    sock.bind({ address: host, port, exclusive: true }, () => sock.close(() => resolve()));
  });
}

/** Probes every binding (at once: they are independent); throws the first binding's refusal. */
export async function probeHostPorts(bindings: readonly PortBinding[]): Promise<void> {
  const results = await Promise.allSettled(bindings.map(probeHostPort));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/** Throws ConflictError (port in use on the host) or ConfigError (not a host address) naming the binding. */
async function probeHostPort(b: PortBinding): Promise<void> {
  const where = `${b.hostPort}/${b.proto} on ${b.hostIp}`;
  try {
    await (b.proto === 'udp' ? bindUdp : bindTcp)(b.hostIp, b.hostPort);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new ConflictError(`port ${where} is in use by a process of the host`, 'ports');
    if (code === 'EADDRNOTAVAIL') throw new ConfigError(`cannot publish port ${where}: ${b.hostIp} is not an address of this host`, 'ports');
    throw err;
  }
}
