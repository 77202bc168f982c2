/**
 * `node:net`'s address checks for the standalone CNI bundle only (scripts/bundle-cni.mjs puts
 * this module in place of `node:net` for importers that take nothing else from it). Loading
 * `node:net` builds its stream and socket machinery: ~1.7 ms of every standalone plugin exec,
 * for three address checks. These are ip-address's (a dependency the bundle loads anyway, for
 * ipam and the firewall), with its extensions that `node:net` refuses turned away first:
 * - a prefix length (`10.0.0.1/24`, `fd00::1/64`): ip-address parses it, node:net refuses any `/`;
 * - an IPv4 octet with a leading zero (`010.0.0.1`: octal to some parsers): ip-address refuses
 *   it since a 10.x release, but the oldest release package.json allows (10.0.1) takes it;
 * - the zone of an IPv6 address: ip-address takes anything after the first `%` but a line
 *   break; node:net takes one or more letters, digits, `-`, `.` or `:` (`fe80::1%eth0`), and
 *   no zone on IPv4.
 * standalone/net.test.ts compares the answers with `node:net`'s on every run.
 */
import { Address4, Address6 } from 'ip-address';

/** A dotted-quad octet written with a leading zero. */
const LEADING_ZERO = /(?:^|\.)0\d/;

/** The characters node:net accepts in an IPv6 zone id. */
const ZONE = /^[0-9A-Za-z.:-]+$/;

/** node:net's checks take any value and test its string form: `${input}` does the same (and throws on a Symbol, as they do). */
const text = (input: string): string => `${input}`;

export function isIPv4(input: string): boolean {
  const s = text(input);
  return !s.includes('/') && !LEADING_ZERO.test(s) && Address4.isValid(s);
}

export function isIPv6(input: string): boolean {
  const s = text(input);
  if (s.includes('/')) return false;
  const zoneAt = s.indexOf('%');
  if (zoneAt === -1) return Address6.isValid(s);
  return ZONE.test(s.slice(zoneAt + 1)) && Address6.isValid(s.slice(0, zoneAt));
}

/** 4, 6, or 0 when `input` is neither (as `node:net`'s isIP). */
export function isIP(input: string): number {
  if (isIPv4(input)) return 4;
  if (isIPv6(input)) return 6;
  return 0;
}
