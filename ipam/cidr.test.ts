import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError } from '../core/errors.js';
import { cidrContains, cidrsOverlap, formatIp, ipFamily, macFromIp, normalizeIp, parseCidr, parseIp } from './cidr.js';

function throwsConfig(fn: () => unknown, field: string): void {
  try {
    fn();
  } catch (err) {
    assert.instance(err, ConfigError);
    assert.is((err as ConfigError).field, field);
    return;
  }
  assert.unreachable('expected a ConfigError');
}

test('parseIp: both families, canonical formatting', () => {
  assert.equal(parseIp('10.0.0.1'), { family: 4, value: 0x0a000001n });
  assert.is(parseIp('fd00::1').family, 6);
  assert.is(normalizeIp('FD00:0:0::01'), 'fd00::1');
  assert.is(formatIp(4, 0xffffffffn), '255.255.255.255');
  assert.is(formatIp(6, 0n), '::');
});

test('parseIp: rejects garbage, prefixes and zones', () => {
  for (const bad of ['', '1.2.3', '300.1.1.1', '10.0.0.1/24', 'fe80::1%eth0', 'x', '01.2.3.4']) throwsConfig(() => parseIp(bad), 'ip');
  throwsConfig(() => parseIp('nope', 'gateway'), 'gateway');
});

test('parseCidr: network, last, host bits', () => {
  const c = parseCidr('10.0.0.5/24');
  assert.is(c.cidr, '10.0.0.0/24');
  assert.is(c.ip, '10.0.0.5');
  assert.ok(c.hostBits);
  assert.is(formatIp(4, c.last), '10.0.0.255');
  assert.is(parseCidr('10.0.0.0/24').hostBits, false);
  const v6 = parseCidr('fd00:1::/48');
  assert.is(v6.prefixLen, 48);
  assert.is(formatIp(6, v6.last), 'fd00:1:0:ffff:ffff:ffff:ffff:ffff');
  for (const bad of ['10.0.0.0', '10.0.0.0/33', '10.0.0.0/', '10.0.0.0/24/1', 'fd00::/129', '10.0.0.0/-1', '10.0.0.0/ 8']) {
    throwsConfig(() => parseCidr(bad, 'subnet'), 'subnet');
  }
});

test('cidrContains and cidrsOverlap', () => {
  assert.ok(cidrContains('10.0.0.0/24', '10.0.0.7'));
  assert.ok(cidrContains('10.0.0.0/24', '10.0.0.128/25'));
  assert.not.ok(cidrContains('10.0.0.0/24', '10.0.0.0/23'));
  assert.not.ok(cidrContains('10.0.0.0/24', '10.0.1.1'));
  assert.not.ok(cidrContains('10.0.0.0/24', '::a00:1'));
  assert.ok(cidrContains('fd00::/64', 'fd00::ffff'));
  assert.ok(cidrsOverlap('10.0.0.0/16', '10.0.5.0/24'));
  assert.ok(cidrsOverlap('10.0.5.0/24', '10.0.0.0/16'));
  assert.not.ok(cidrsOverlap('10.0.0.0/24', '10.0.1.0/24'));
  assert.ok(cidrsOverlap('10.0.0.0/24', '10.0.0.9'));
  assert.not.ok(cidrsOverlap('10.0.0.0/8', 'fd00::/8'));
});

test('ipFamily', () => {
  assert.is(ipFamily('10.0.0.1'), 4);
  assert.is(ipFamily('10.0.0.0/8'), 4);
  assert.is(ipFamily('fd00::1/64'), 6);
  assert.is(ipFamily('bogus'), undefined);
});

test('macFromIp: Docker rule for v4, 06 + low 40 bits for v6', () => {
  assert.is(macFromIp('10.0.0.2'), '02:42:0a:00:00:02');
  assert.is(macFromIp('172.17.255.254'), '02:42:ac:11:ff:fe');
  assert.is(macFromIp('fd00::a:2'), '06:00:00:0a:00:02');
  assert.is(macFromIp('fd00::1:2:3:4'), '06:02:00:03:00:04');
});

test.run();
