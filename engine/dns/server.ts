/**
 * The embedded DNS server of tsnetd: one object in the daemon's process serving many
 * addresses (one `listen` per network gateway), each with a UDP socket and a TCP listener.
 * Names of ours are answered from the resolve functions; everything else is forwarded
 * unchanged to the host's upstream resolvers and the answer relayed (SERVFAIL when none
 * answers). All sockets live in the netns of the calling thread (tsnetd: the host netns,
 * where the gateway addresses are); `unlisten`/`close` release what `listen` opened.
 *
 * TTL: our answers carry TTL 0 by default. Container addresses change whenever a container
 * restarts or reconnects, the server sits on the container's own gateway (a local query
 * costs microseconds), so caching buys nothing and a stale cached address is a real bug.
 * Docker uses 600 s; pass `ttl` to choose otherwise.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { ConfigError, ConflictError, KernelError } from '../../core/errors.js';
import { log as rootLog, type Logger } from '../../core/log.js';
import { decide, servfail, type Decision, type Handlers } from './answer.js';
import { forward, frame, parseUpstream, type Transport, type Upstream } from './forward.js';
import type { QueryClient, Resolve, ResolvePtr } from './names.js';

export interface DnsServerOptions {
  /** Default resolve function for every address (a `listen` may bring its own). */
  resolve: Resolve;
  resolvePtr?: ResolvePtr;
  /** Upstream resolvers, `ip`, `ip:port` or `[ipv6]:port`, tried in order. */
  upstreams: readonly string[];
  log?: Logger;
  /** TTL of our answers in seconds (default 0, see the module comment). */
  ttl?: number;
  /** Wait per upstream before trying the next (default 2000 ms). */
  forwardTimeoutMs?: number;
  /** Forwards in flight at once; queries needing a forward beyond this are dropped (default 256). */
  maxPendingForwards?: number;
  /** An idle TCP client is disconnected after this (default 10000 ms). */
  tcpIdleTimeoutMs?: number;
  /** TCP clients per address (default 128). */
  maxTcpConnections?: number;
}

/** Per-address resolve functions, e.g. `NameTable.gatewayResolver(network)`. */
export interface ListenHandlers {
  resolve?: Resolve;
  resolvePtr?: ResolvePtr;
}

interface Listener {
  address: string;
  port: number;
  udp: dgram.Socket;
  tcp: net.Server;
  conns: Set<net.Socket>;
  handlers: Handlers;
  closed: boolean;
}

const TCP_LIMIT = 65535;
const TCP_MAX_BACKLOG = 1 << 20;

function kernelError(op: string, err: unknown): KernelError {
  const e = err as NodeJS.ErrnoException;
  return new KernelError(op, Math.abs(e.errno ?? 0), e.code ?? 'UNKNOWN', e.message, err);
}

function bindUdp(address: string, port: number): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket({ type: net.isIPv6(address) ? 'udp6' : 'udp4', reuseAddr: false });
    const onError = (err: Error): void => {
      sock.close();
      reject(kernelError(`bind dns udp ${address}:${port}`, err));
    };
    sock.once('error', onError);
    sock.bind({ address, port, exclusive: true }, () => {
      sock.off('error', onError);
      resolve(sock);
    });
  });
}

function listenTcp(address: string, port: number, onConn: (c: net.Socket) => void): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer(onConn);
    const onError = (err: Error): void => reject(kernelError(`listen dns tcp ${address}:${port}`, err));
    server.once('error', onError);
    server.listen({ host: address, port, exclusive: true }, () => {
      server.off('error', onError);
      resolve(server);
    });
  });
}

export class DnsServer {
  private readonly opts: Required<Omit<DnsServerOptions, 'resolvePtr' | 'log' | 'upstreams'>>;
  private readonly defaults: Handlers;
  private readonly log: Logger;
  private upstreams: Upstream[];
  private readonly listeners = new Map<string, Promise<Listener>>();
  private readonly inflight = new Set<AbortController>();
  private pending = 0;
  private saturated = false;

  constructor(options: DnsServerOptions) {
    this.opts = {
      resolve: options.resolve,
      ttl: options.ttl ?? 0,
      forwardTimeoutMs: options.forwardTimeoutMs ?? 2000,
      maxPendingForwards: options.maxPendingForwards ?? 256,
      tcpIdleTimeoutMs: options.tcpIdleTimeoutMs ?? 10_000,
      maxTcpConnections: options.maxTcpConnections ?? 128,
    };
    this.defaults = { resolve: options.resolve, resolvePtr: options.resolvePtr };
    this.log = options.log ?? rootLog.child({ component: 'dns' });
    this.upstreams = options.upstreams.map(parseUpstream);
  }

  /** Replaces the upstream list (e.g. after the host's resolv.conf changed). */
  setUpstreams(upstreams: readonly string[]): void {
    this.upstreams = upstreams.map(parseUpstream);
  }

  /** Forwards currently in flight. */
  get pendingForwards(): number {
    return this.pending;
  }

  /**
   * Serves `address:port` over UDP and TCP in the calling thread's netns (tsnetd: the host
   * netns, on a network's gateway address). Idempotent for the same address and port;
   * ConflictError for the same address with another port; KernelError when the kernel
   * refuses the bind (EADDRINUSE, EADDRNOTAVAIL...). Released by `unlisten` or `close`.
   */
  async listen(address: string, port = 53, handlers: ListenHandlers = {}): Promise<void> {
    if (!net.isIP(address)) throw new ConfigError(`not an IP address: ${address}`, 'address');
    const existing = this.listeners.get(address);
    if (existing) {
      const l = await existing;
      if (l.port !== port) throw new ConflictError(`dns already served on ${address}:${l.port}`, 'address');
      return;
    }
    const merged: Handlers = { resolve: handlers.resolve ?? this.defaults.resolve, resolvePtr: handlers.resolvePtr ?? this.defaults.resolvePtr };
    const starting = this.open(address, port, merged);
    this.listeners.set(address, starting);
    try {
      await starting;
    } catch (err) {
      this.listeners.delete(address);
      throw err;
    }
  }

  /** Stops serving `address` (both sockets, its TCP clients); false when it was not served. */
  async unlisten(address: string): Promise<boolean> {
    const starting = this.listeners.get(address);
    if (!starting) return false;
    this.listeners.delete(address);
    const l = await starting.catch(() => undefined);
    if (!l) return false;
    await this.shut(l);
    return true;
  }

  /** Stops serving every address and abandons forwards in flight. */
  async close(): Promise<void> {
    for (const ac of this.inflight) ac.abort();
    await Promise.all([...this.listeners.keys()].map((a) => this.unlisten(a)));
  }

  /** The addresses served, with their port. */
  async addresses(): Promise<{ address: string; port: number }[]> {
    const ls = await Promise.all([...this.listeners.values()].map((p) => p.catch(() => undefined)));
    return ls.filter((l): l is Listener => l !== undefined).map((l) => ({ address: l.address, port: l.port }));
  }

  private async open(address: string, port: number, handlers: Handlers): Promise<Listener> {
    const udp = await bindUdp(address, port);
    const boundPort = udp.address().port;
    const conns = new Set<net.Socket>();
    let l: Listener | undefined;
    let tcp: net.Server;
    try {
      tcp = await listenTcp(address, boundPort, (c) => (l ? this.onTcpConnection(l, c) : c.destroy()));
    } catch (err) {
      udp.close();
      throw err;
    }
    tcp.maxConnections = this.opts.maxTcpConnections;
    l = { address, port: boundPort, udp, tcp, conns, handlers, closed: false };
    const listener = l;
    udp.on('error', (err) => this.log.error({ err, address, port: boundPort }, 'dns udp socket error'));
    udp.on('message', (msg, rinfo) => this.onUdp(listener, msg, rinfo));
    tcp.on('error', (err) => this.log.error({ err, address, port: boundPort }, 'dns tcp listener error'));
    this.log.info({ address, port: boundPort }, 'dns listening');
    return listener;
  }

  private async shut(l: Listener): Promise<void> {
    l.closed = true;
    for (const c of l.conns) c.destroy();
    await Promise.all([
      new Promise<void>((r) => l.udp.close(() => r())),
      new Promise<void>((r) => l.tcp.close(() => r())),
    ]);
    this.log.info({ address: l.address, port: l.port }, 'dns stopped');
  }

  private onUdp(l: Listener, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const client: QueryClient = { address: rinfo.address, local: l.address };
    const reply = (buf: Buffer): void => {
      if (l.closed) return;
      try {
        l.udp.send(buf, rinfo.port, rinfo.address, (err) => {
          if (err) this.log.warn({ err, client: rinfo.address }, 'dns udp reply failed');
        });
      } catch (err) {
        this.log.warn({ err, client: rinfo.address }, 'dns udp reply failed');
      }
    };
    this.handle(decide(msg, l.handlers, { ttl: this.opts.ttl, client }), msg, 'udp', client, reply);
  }

  private onTcpConnection(l: Listener, conn: net.Socket): void {
    if (l.closed) {
      conn.destroy();
      return;
    }
    l.conns.add(conn);
    const client: QueryClient = { address: conn.remoteAddress ?? '', local: l.address };
    let buffered: Buffer = Buffer.alloc(0);
    conn.setTimeout(this.opts.tcpIdleTimeoutMs, () => conn.destroy());
    conn.on('close', () => l.conns.delete(conn));
    conn.on('error', (err) => this.log.warn({ err, client: client.address, address: l.address }, 'dns tcp connection error'));
    const reply = (buf: Buffer): void => {
      if (conn.destroyed || !conn.writable) return;
      // A client that sends without reading is cut off rather than buffered without bound.
      if (conn.writableLength > TCP_MAX_BACKLOG) conn.destroy();
      else conn.write(frame(buf));
    };
    conn.on('data', (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2 && buffered.length >= buffered.readUInt16BE(0) + 2) {
        const msg = Buffer.from(buffered.subarray(2, buffered.readUInt16BE(0) + 2));
        buffered = buffered.subarray(msg.length + 2);
        this.handle(decide(msg, l.handlers, { ttl: this.opts.ttl, client, limit: TCP_LIMIT }), msg, 'tcp', client, reply);
      }
    });
  }

  private handle(d: Decision, msg: Buffer, transport: Transport, client: QueryClient, reply: (b: Buffer) => void): void {
    if (d.kind === 'drop') {
      this.log.debug({ reason: d.reason, err: d.error, client: client.address, transport }, 'dns query dropped');
    } else if (d.kind === 'reply') {
      if (d.error) this.log.error({ err: d.error, client: client.address }, 'dns resolve failed');
      reply(d.packet);
    } else {
      this.forwardAndReply(msg, transport, client, reply).catch((err: unknown) =>
        this.log.error({ err, client: client.address, transport }, 'dns forward failed'));
    }
  }

  /** Upstreams minus our own listening endpoints (forwarding to ourselves would loop). */
  private async targets(): Promise<Upstream[]> {
    const own = await this.addresses();
    return this.upstreams.filter((u) => !own.some((o) => o.address === u.host && o.port === u.port));
  }

  private async forwardAndReply(msg: Buffer, transport: Transport, client: QueryClient, reply: (b: Buffer) => void): Promise<void> {
    if (this.pending >= this.opts.maxPendingForwards) {
      // Logged once per saturation episode, not once per dropped query.
      if (!this.saturated) this.log.warn({ client: client.address, pending: this.pending }, 'dns forwards saturated, dropping queries');
      this.saturated = true;
      return;
    }
    this.saturated = false;
    this.pending++;
    const ac = new AbortController();
    this.inflight.add(ac);
    let answer: Buffer | undefined;
    try {
      const targets = await this.targets();
      answer = await forward(msg, targets, transport, { timeoutMs: this.opts.forwardTimeoutMs, signal: ac.signal });
      if (!answer) this.log.warn({ client: client.address, upstreams: targets.length, transport }, 'dns no upstream answered');
    } finally {
      this.pending--;
      this.inflight.delete(ac);
    }
    if (ac.signal.aborted) return;
    const out = answer ?? servfail(msg, transport === 'tcp' ? TCP_LIMIT : undefined);
    if (out) reply(out);
  }
}
