/**
 * What the embedded server does with one query (pure: bytes in, decision out, no sockets):
 * answer it from our names, or hand it to the forwarder unchanged, or drop it.
 *
 * Our answers carry TTL `ttl` (the server's default is 0, see server.ts), the AA and RA
 * bits, and the query's RD/CD bits. A name of ours with no record of the asked type gets
 * NOERROR with no answers (so resolvers do not fall through to search domains).
 */
import dnsPacket from 'dns-packet';
import type { Answer, DecodedPacket, Question } from 'dns-packet';
import { isIPv4 } from 'node:net';
import { canonicalIp, normalizeName, type QueryClient, type Resolve, type ResolvePtr } from './names.js';

export type Decision =
  | { kind: 'reply'; packet: Buffer; error?: unknown }
  | { kind: 'forward'; id: number }
  | { kind: 'drop'; reason: string; error?: unknown };

export interface Handlers {
  resolve: Resolve;
  resolvePtr?: ResolvePtr | undefined;
}

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

/** Largest UDP answer for this query: 512, or its EDNS payload size (at most 4096). */
export function udpLimit(query: DecodedPacket): number {
  const opt = query.additionals?.find((a) => a.type === 'OPT');
  const size = opt && 'udpPayloadSize' in opt ? opt.udpPayloadSize : 512;
  return Math.min(4096, Math.max(512, size));
}

/** The address an `in-addr.arpa` / `ip6.arpa` name stands for, or undefined. */
export function ptrToIp(name: string): string | undefined {
  const n = normalizeName(name);
  if (n.endsWith('.in-addr.arpa')) {
    const ip = n.slice(0, -'.in-addr.arpa'.length).split('.').reverse().join('.');
    return isIPv4(ip) ? ip : undefined;
  }
  if (n.endsWith('.ip6.arpa')) {
    const nibbles = n.slice(0, -'.ip6.arpa'.length).split('.').reverse();
    if (nibbles.length !== 32 || !nibbles.every((x) => /^[0-9a-f]$/.test(x))) return undefined;
    const groups: string[] = [];
    for (let i = 0; i < 32; i += 4) groups.push(nibbles.slice(i, i + 4).join(''));
    return canonicalIp(groups.join(':'));
  }
  return undefined;
}

/** Encodes a response to `query` with `rcode` and `answers`, truncating (TC) above `limit`. */
export function buildReply(query: DecodedPacket, rcode: number, answers: Answer[], limit: number, aa = false): Buffer {
  const echoed = (dnsPacket.RECURSION_DESIRED | dnsPacket.CHECKING_DISABLED | 0x7800) & (query.flags ?? 0);
  const flags = echoed | dnsPacket.RECURSION_AVAILABLE | (aa ? dnsPacket.AUTHORITATIVE_ANSWER : 0) | rcode;
  const base = { type: 'response' as const, id: query.id ?? 0, questions: query.questions ?? [] };
  const full = dnsPacket.encode({ ...base, flags, answers });
  if (full.length <= limit) return full;
  return dnsPacket.encode({ ...base, flags: flags | dnsPacket.TRUNCATED_RESPONSE, answers: [] });
}

function addressAnswers(q: Question, ips: string[], ttl: number): Answer[] {
  const type = q.type === 'A' ? 'A' : 'AAAA';
  return ips.map((ip) => ({ type, name: q.name, class: 'IN', ttl, data: ip }));
}

/** Our answer for a single IN question, or undefined when the name is not ours. */
function localAnswers(q: Question, h: Handlers, client: QueryClient | undefined, ttl: number): Answer[] | undefined {
  if (q.type === 'A' || q.type === 'AAAA') {
    const ips = h.resolve(q.name, q.type, client);
    return ips === undefined ? undefined : addressAnswers(q, ips, ttl);
  }
  if (q.type === 'PTR') {
    const ip = ptrToIp(q.name);
    const target = ip === undefined ? undefined : h.resolvePtr?.(ip, client);
    if (target !== undefined) return [{ type: 'PTR', name: q.name, class: 'IN', ttl, data: target }];
  }
  // Any other type on a name of ours: it exists, with no data of this type.
  const exists = h.resolve(q.name, 'A', client) !== undefined || h.resolve(q.name, 'AAAA', client) !== undefined;
  return exists ? [] : undefined;
}

function decode(buf: Buffer): DecodedPacket | undefined {
  try {
    return dnsPacket.decode(buf);
  } catch {
    return undefined;
  }
}

/**
 * Decides what to do with one query datagram/frame. `limit` is the transport's size limit
 * (UDP: pass undefined to use the query's own 512/EDNS limit; TCP: 65535).
 */
export function decide(buf: Buffer, h: Handlers, opts: { ttl: number; client?: QueryClient; limit?: number }): Decision {
  const query = decode(buf);
  if (!query) return { kind: 'drop', reason: 'malformed' };
  if (query.type !== 'query') return { kind: 'drop', reason: 'not a query' };
  const limit = opts.limit ?? udpLimit(query);
  try {
    if (((query.flags ?? 0) & 0x7800) !== 0) return { kind: 'reply', packet: buildReply(query, RCODE.NOTIMP, [], limit) };
    const q = query.questions?.[0];
    if (!q || query.questions?.length !== 1) return { kind: 'reply', packet: buildReply(query, RCODE.FORMERR, [], limit) };
    if (q.class !== undefined && q.class !== 'IN') return { kind: 'forward', id: query.id ?? 0 };
    let answers: Answer[] | undefined;
    try {
      answers = localAnswers(q, h, opts.client, opts.ttl);
    } catch (error) {
      return { kind: 'reply', packet: buildReply(query, RCODE.SERVFAIL, [], limit), error };
    }
    if (answers === undefined) return { kind: 'forward', id: query.id ?? 0 };
    return { kind: 'reply', packet: buildReply(query, RCODE.NOERROR, answers, limit, true) };
  } catch (error) {
    return { kind: 'drop', reason: 'unencodable', error };
  }
}

/** SERVFAIL for a query we could not forward (decodes again: only on the failure path). */
export function servfail(buf: Buffer, limit?: number): Buffer | undefined {
  const query = decode(buf);
  if (!query) return undefined;
  try {
    return buildReply(query, RCODE.SERVFAIL, [], limit ?? udpLimit(query));
  } catch {
    return undefined;
  }
}
