import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as nodeNet from 'node:net';
import { isIP, isIPv4, isIPv6 } from './net.js';

const CASES = [
  '', '0.0.0.0', '10.213.0.1', '255.255.255.255', '256.1.1.1', '1.2.3', '1.2.3.4.5', '01.2.3.4', '1.2.3.04', '1.2.3.4 ', ' 1.2.3.4',
  '1.2.3.4/24', '1.2.3.4/', '1.2.3.4%eth0', '::', '::1', 'fd74:736e:6574::1', '0001::', '00001::', 'ABCD::EF', 'g::1', '12345::',
  'fe80::1%eth0', 'fe80::1%', 'fe80::1%a-b.c:d', 'fe80::1%a_b', 'fe80::1%a%b', 'fe80::1%eth 0', 'fe80::1%\u00e9', 'fe80::1%eth0\n',
  'fe80::1%eth0/64', 'fd00::1/64%eth0', '::1.2.3.4%eth0',
  '::ffff:10.0.0.1', '::FFFF:1.2.3.4', '::ffff:01.2.3.4', '::ffff:1.2.3', '::ffff:1.2.3.256', '::1.2.3.4', '1.2.3.4::',
  '1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:7:1.2.3.4', '0000:0000:0000:0000:0000:0000:255.255.255.255',
  '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7::', '::1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8::', '1::2::3', ':::', ':1::', '1::1:',
  'abcd:ef01:2345:6789:abcd:ef01:2345:6789', 'localhost', '1.2.3.4\n', '::1\n', ' ::1', '[::1]', 'fd00::/64', '::/0', '\uff11.2.3.4',
];

function same(c: string): void {
  assert.is(isIP(c), nodeNet.isIP(c), JSON.stringify(c));
  assert.is(isIPv4(c), nodeNet.isIPv4(c), JSON.stringify(c));
  assert.is(isIPv6(c), nodeNet.isIPv6(c), JSON.stringify(c));
}

/** A deterministic generator: a failure names an input that fails on every run. */
function random(seed: number): () => number {
  return () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
}

test('isIP, isIPv4, isIPv6 answer as node:net does', () => {
  for (const c of CASES) same(c);
});

test('values that are not strings are tested by their string form, as node:net does', () => {
  for (const v of [undefined, null, 123, 1.5, {}, ['1.2.3.4']]) {
    assert.is(isIP(v as unknown as string), nodeNet.isIP(v as unknown as string), String(v));
  }
});

test('random address-like strings: same answers as node:net', () => {
  const next = random(7);
  const alphabet = '0123456789abcdefABCDEFgz:.%/-_ \n[]';
  for (let i = 0; i < 5000; i++) {
    same(Array.from({ length: 1 + Math.floor(next() * 24) }, () => alphabet[Math.floor(next() * alphabet.length)]).join(''));
  }
});

test('random address-shaped strings (groups, ::, IPv4 tails, zones, prefixes): same answers as node:net', () => {
  const next = random(11);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(next() * a.length)] as T;
  const hex = (): string => Array.from({ length: Math.floor(next() * 6) }, () => pick([...'0123456789abcdefABCDEF'])).join('');
  const octet = (): string => pick(['0', '9', '10', '99', '100', '199', '249', '250', '255', '256', '01', '000', '1000', String(Math.floor(next() * 300))]);
  const v4 = (): string => Array.from({ length: pick([3, 4, 4, 4, 5]) }, octet).join('.');
  const zone = (): string => pick(['', '%eth0', '%', '%a-b.c:d', '%a_b', '%a%b', '%x y', '%x\n', `%${hex()}`]);
  const v6 = (): string => {
    const groups = Array.from({ length: Math.floor(next() * 10) }, hex);
    if (next() < 0.3) groups.push(v4());
    let s = groups.join(':');
    if (next() < 0.6) {
      const at = Math.floor(next() * (s.length + 1));
      s = s.slice(0, at) + pick(['::', ':', ':::']) + s.slice(at);
    }
    return s + (next() < 0.3 ? zone() : '') + (next() < 0.1 ? pick(['/64', '/', ' ', '\n', ']']) : '');
  };
  const seen = { 4: 0, 6: 0, 0: 0 };
  for (let i = 0; i < 20000; i++) {
    const c = next() < 0.3 ? v4() : v6();
    same(c);
    seen[nodeNet.isIP(c) as 0 | 4 | 6]++;
  }
  // The generator must reach both families and both answers, or this test compares little.
  assert.ok(seen[4] > 500 && seen[6] > 500 && seen[0] > 500, JSON.stringify(seen));
});

test.run();
