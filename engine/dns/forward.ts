/**
 * Forwarding of queries we do not answer: the query bytes go unchanged to each upstream
 * in turn (UDP for UDP queries, TCP for TCP queries) until one answers with the same id.
 * Sockets are opened in the caller's netns (tsnetd's: the host's), one per attempt on a
 * fresh ephemeral port, and are closed by the attempt itself (answer, error, timeout or
 * abort) — nothing outlives a call.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { ConfigError } from '../../core/errors.js';

export interface Upstream {
  host: string;
  port: number;
}

/** Parses `ip`, `ip:port` or `[ipv6]:port` (port 53 by default); ConfigError otherwise. */
export function parseUpstream(spec: string): Upstream {
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(spec);
  let host = spec;
  let port = '53';
  if (bracket) {
    host = bracket[1] ?? '';
    port = bracket[2] ?? '53';
  } else if (net.isIPv4(spec.split(':')[0] ?? '') && spec.includes(':')) {
    [host = '', port = ''] = spec.split(':');
  }
  const p = Number(port);
  if (!net.isIP(host) || !Number.isInteger(p) || p < 1 || p > 65535) {
    throw new ConfigError(`bad DNS upstream ${JSON.stringify(spec)} (want ip, ip:port or [ipv6]:port)`, 'upstreams');
  }
  return { host, port: p };
}

export type Transport = 'udp' | 'tcp';

export interface AttemptOptions {
  timeoutMs: number;
  signal: AbortSignal;
}

/** True when `msg` is a response (QR set) carrying the id of `query`. */
export function answers(msg: Buffer, query: Buffer): boolean {
  return msg.length >= 12 && query.length >= 2 && msg.readUInt16BE(0) === query.readUInt16BE(0) && (msg[2]! & 0x80) !== 0;
}

/**
 * The bounded frame of one exchange: `start` gets `finish`, which settles once (answer or
 * undefined) on the first of answer, timeout, abort or error, and then `close`s the socket.
 */
function bounded(opts: AttemptOptions, close: () => void, start: (finish: (answer: Buffer | undefined) => void) => void): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (answer: Buffer | undefined): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      opts.signal.removeEventListener('abort', onAbort);
      close();
      resolve(answer);
    };
    const onAbort = (): void => finish(undefined);
    const timer = setTimeout(() => finish(undefined), opts.timeoutMs);
    opts.signal.addEventListener('abort', onAbort);
    start(finish);
  });
}

/** One UDP exchange with `up`: resolves with the answer, or undefined on timeout/error/abort. */
export function udpExchange(query: Buffer, up: Upstream, opts: AttemptOptions): Promise<Buffer | undefined> {
  const sock = dgram.createSocket(net.isIPv6(up.host) ? 'udp6' : 'udp4');
  let closed = false;
  return bounded(opts, () => ((closed = true), sock.close()), (finish) => {
    sock.on('error', () => finish(undefined)); // e.g. ECONNREFUSED from an ICMP unreachable
    sock.on('message', (msg) => {
      if (answers(msg, query)) finish(msg);
    });
    // connect(): only the upstream's datagrams are delivered, and refusals surface as errors.
    // A failed connect (ENETUNREACH: no route to the upstream) calls back with the error and
    // leaves the socket unconnected, where send(query, cb) would throw from the callback and
    // end the daemon: that upstream just has no answer.
    sock.connect(up.port, up.host, (err?: unknown) => {
      if (closed) return;
      if (err) {
        finish(undefined);
        return;
      }
      sock.send(query, (sendErr) => sendErr && finish(undefined));
    });
  });
}

/** One TCP exchange (2-byte length framing) with `up`; undefined on timeout/error/abort. */
export function tcpExchange(query: Buffer, up: Upstream, opts: AttemptOptions): Promise<Buffer | undefined> {
  const sock = net.connect({ host: up.host, port: up.port });
  let buffered: Buffer = Buffer.alloc(0);
  return bounded(opts, () => sock.destroy(), (finish) => {
    sock.on('error', () => finish(undefined));
    sock.on('end', () => finish(undefined));
    sock.on('connect', () => sock.write(frame(query)));
    sock.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length < 2) return;
      const len = buffered.readUInt16BE(0);
      if (buffered.length < len + 2) return;
      const msg = buffered.subarray(2, len + 2);
      finish(answers(msg, query) ? Buffer.from(msg) : undefined);
    });
  });
}

/** A DNS message with its TCP 2-byte length prefix. */
export function frame(msg: Buffer): Buffer {
  const len = Buffer.alloc(2);
  len.writeUInt16BE(msg.length);
  return Buffer.concat([len, msg]);
}

/**
 * Tries each upstream in order until one answers; undefined when none did. Bounded by
 * `timeoutMs` per upstream. The caller relays the answer (it already carries the client's id).
 */
export async function forward(query: Buffer, upstreams: readonly Upstream[], transport: Transport, opts: AttemptOptions): Promise<Buffer | undefined> {
  const exchange = transport === 'udp' ? udpExchange : tcpExchange;
  for (const up of upstreams) {
    if (opts.signal.aborted) return undefined;
    const answer = await exchange(query, up, opts);
    if (answer) return answer;
  }
  return undefined;
}
