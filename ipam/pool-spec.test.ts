import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError } from '../core/errors.js';
import { formatIp } from './cidr.js';
import { validatePoolSpec, type PoolSpec } from './pool-spec.js';

function fails(spec: PoolSpec, field: string, match?: RegExp): void {
  try {
    validatePoolSpec(spec);
  } catch (err) {
    assert.instance(err, ConfigError);
    assert.is((err as ConfigError).field, field, (err as Error).message);
    if (match) assert.match((err as Error).message, match);
    return;
  }
  assert.unreachable(`expected ConfigError for ${JSON.stringify(spec)}`);
}

test('defaults: gateway .1, range = subnet minus network and broadcast', () => {
  const v = validatePoolSpec({ subnet: '10.1.0.0/24' });
  assert.is(v.subnet, '10.1.0.0/24');
  assert.is(v.gateway, '10.1.0.1');
  assert.is(formatIp(4, v.geo.start), '10.1.0.1');
  assert.is(formatIp(4, v.geo.end), '10.1.0.254');
  assert.equal(v.aux, {});
});

test('v6 defaults: gateway ::1, range ends at the last address (no broadcast)', () => {
  const v = validatePoolSpec({ subnet: 'fd00:1::/64' });
  assert.is(v.gateway, 'fd00:1::1');
  assert.is(formatIp(6, v.geo.end), 'fd00:1::ffff:ffff:ffff:ffff');
});

test('subnet: invalid and host bits', () => {
  fails({ subnet: 'nope' }, 'subnet');
  fails({ subnet: '10.0.0.0/33' }, 'subnet');
  fails({ subnet: '10.0.0.5/24' }, 'subnet', /should be 10\.0\.0\.0\/24/);
  fails({ subnet: 'fd00::1/64' }, 'subnet', /should be fd00::\/64/);
});

test('subnet: special-purpose blocks that no network can use are refused, naming the subnet', () => {
  for (const [subnet, block] of [
    ['127.0.0.0/24', '127.0.0.0/8'], ['127.0.0.0/8', '127.0.0.0/8'], ['224.1.0.0/24', '224.0.0.0/4'], ['239.255.0.0/16', '224.0.0.0/4'],
    ['240.0.0.0/24', '240.0.0.0/4'], ['255.255.255.0/24', '240.0.0.0/4'], ['0.0.0.0/8', '0.0.0.0/8'], ['0.0.0.0/0', '0.0.0.0/8'],
    ['0.0.0.0/1', '0.0.0.0/8'], ['::/0', '::/128'], ['::/64', '::/128'], ['::1/128', '::1/128'], ['::ffff:0:0/104', '::ffff:0:0/96'],
    ['fe80::/64', 'fe80::/10'], ['fe80:1::/64', 'fe80::/10'], ['ff05::/64', 'ff00::/8'], ['8000::/1', 'fe80::/10'],
  ] as const) {
    fails({ subnet }, 'subnet', new RegExp(`^subnet ${subnet.replace(/\./g, '\\.')} overlaps ${block.replace(/\./g, '\\.')} \\(`));
  }
  // Private, documentation, CGNAT, IPv4 link-local, ULA, global and NAT64 blocks are fine.
  for (const subnet of ['10.0.0.0/8', '192.0.2.0/24', '100.64.0.0/10', '169.254.3.0/24', '223.255.255.0/24', 'fd00::/8', '2001:db8::/64', '64:ff9b::/96', '::2/127']) {
    assert.is(validatePoolSpec({ subnet }).subnet, subnet);
  }
});

test('ipRange: inside the subnet, aligned, usable', () => {
  fails({ subnet: '10.0.0.0/24', ipRange: '10.0.1.0/25' }, 'ipRange');
  fails({ subnet: '10.0.0.0/24', ipRange: '10.0.0.0/23' }, 'ipRange');
  fails({ subnet: '10.0.0.0/24', ipRange: '10.0.0.1/25' }, 'ipRange');
  fails({ subnet: '10.0.0.0/24', ipRange: 'fd00::/120' }, 'ipRange');
  fails({ subnet: '10.0.0.0/24', ipRange: 'garbage' }, 'ipRange');
  const v = validatePoolSpec({ subnet: '10.0.0.0/24', ipRange: '10.0.0.128/25' });
  assert.is(formatIp(4, v.geo.start), '10.0.0.128');
  assert.is(formatIp(4, v.geo.end), '10.0.0.254');
});

test('rangeStart/rangeEnd (host-local style)', () => {
  const v = validatePoolSpec({ subnet: '10.0.0.0/24', rangeStart: '10.0.0.10', rangeEnd: '10.0.0.20' });
  assert.is(formatIp(4, v.geo.start), '10.0.0.10');
  assert.is(formatIp(4, v.geo.end), '10.0.0.20');
  fails({ subnet: '10.0.0.0/24', rangeStart: '10.0.1.10' }, 'rangeStart');
  fails({ subnet: '10.0.0.0/24', rangeEnd: '10.0.1.10' }, 'rangeEnd');
  fails({ subnet: '10.0.0.0/24', rangeStart: '10.0.0.20', rangeEnd: '10.0.0.10' }, 'rangeEnd');
  fails({ subnet: '10.0.0.0/24', ipRange: '10.0.0.0/25', rangeStart: '10.0.0.200' }, 'rangeStart');
});

test('gateway: inside, not network/broadcast, or none', () => {
  fails({ subnet: '10.0.0.0/24', gateway: '10.0.1.1' }, 'gateway', /not in subnet/);
  fails({ subnet: '10.0.0.0/24', gateway: '10.0.0.0' }, 'gateway', /network address/);
  fails({ subnet: '10.0.0.0/24', gateway: '10.0.0.255' }, 'gateway', /broadcast/);
  fails({ subnet: '10.0.0.0/24', gateway: 'x' }, 'gateway');
  fails({ subnet: '10.0.0.0/24', gateway: 'fd00::1' }, 'gateway');
  assert.is(validatePoolSpec({ subnet: '10.0.0.0/24', gateway: '10.0.0.254' }).gateway, '10.0.0.254');
  assert.is(validatePoolSpec({ subnet: '10.0.0.0/24', gateway: false }).gateway, undefined);
  assert.is(validatePoolSpec({ subnet: 'fd00::/64', gateway: 'FD00::FFFF' }).gateway, 'fd00::ffff');
});

test('auxAddresses: inside, distinct, not the gateway', () => {
  fails({ subnet: '10.0.0.0/24', aux: { a: '10.9.0.1' } }, 'auxAddresses', /aux address a/);
  fails({ subnet: '10.0.0.0/24', aux: { a: '10.0.0.255' } }, 'auxAddresses');
  fails({ subnet: '10.0.0.0/24', aux: { a: '10.0.0.1' } }, 'auxAddresses', /gateway/);
  fails({ subnet: '10.0.0.0/24', aux: { a: '10.0.0.5', b: '10.0.0.5' } }, 'auxAddresses', /aux address a/);
  fails({ subnet: '10.0.0.0/24', aux: { a: 'bad' } }, 'auxAddresses');
  assert.equal(validatePoolSpec({ subnet: '10.0.0.0/24', aux: { router: '10.0.0.5' } }).aux, { router: '10.0.0.5' });
});

test('/31 and /32: every address usable', () => {
  const v = validatePoolSpec({ subnet: '10.0.0.0/31', gateway: false });
  assert.is(formatIp(4, v.geo.start), '10.0.0.0');
  assert.is(formatIp(4, v.geo.end), '10.0.0.1');
  assert.is(validatePoolSpec({ subnet: '10.0.0.7/32' }).gateway, undefined);
});

test.run();
