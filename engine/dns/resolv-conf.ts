/**
 * resolv.conf reading (pure parsing plus one file read) and the two nameserver views the
 * engine needs: the upstreams tsnetd forwards to (it runs in the host netns, so a loopback
 * stub like 127.0.0.53 is reachable) and the nameservers written into a container's
 * resolv.conf when DNS is not embedded (loopback ones dropped, as Docker does, because
 * the container's loopback is not the host's).
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { canonicalIp } from './names.js';

export interface ResolvConf {
  nameservers: string[];
  search: string[];
  options: string[];
}

/** The address part of a nameserver entry (an IPv6 zone such as `%eth0` removed). */
function bareAddress(ns: string): string {
  const pct = ns.indexOf('%');
  return pct === -1 ? ns : ns.slice(0, pct);
}

/**
 * Parses resolv.conf text. Comments start with `#` or `;`; `nameserver` lines that are not
 * IP addresses are skipped; the last `search` or `domain` line wins (glibc's rule).
 */
export function parseResolvConf(text: string): ResolvConf {
  const conf: ResolvConf = { nameservers: [], search: [], options: [] };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const [key, ...values] = line.split(/\s+/);
    if (key === 'nameserver' && values[0] !== undefined && isIP(bareAddress(values[0]))) {
      conf.nameservers.push(values[0]);
    } else if (key === 'search' || key === 'domain') {
      conf.search = values.filter((v) => v !== '');
    } else if (key === 'options') {
      conf.options.push(...values.filter((v) => v !== ''));
    }
  }
  return conf;
}

/**
 * Reads and parses a resolv.conf (host filesystem, no netns involved). A missing file
 * gives empty lists, like a resolver with no configuration; other read errors throw.
 */
export function readResolvConf(path = '/etc/resolv.conf'): ResolvConf {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return parseResolvConf('');
    throw err;
  }
  return parseResolvConf(text);
}

/** True for 127.0.0.0/8 and ::1 (any spelling of it). */
export function isLoopback(ip: string): boolean {
  const bare = bareAddress(ip);
  if (isIP(bare) === 4) return bare.startsWith('127.');
  if (isIP(bare) === 6) return canonicalIp(bare) === '::1';
  return false;
}

/**
 * The upstreams the embedded server forwards unknown names to: every nameserver, loopback
 * ones included (tsnetd lives in the host netns and reaches the host's stub resolver).
 */
export function upstreamsFor(conf: ResolvConf): string[] {
  return [...conf.nameservers];
}

/** Nameservers for a container's own resolv.conf when DNS is not embedded: loopback dropped. */
export function containerNameservers(conf: ResolvConf): string[] {
  return conf.nameservers.filter((ns) => !isLoopback(ns));
}
