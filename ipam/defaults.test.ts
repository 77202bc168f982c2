import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cidrsOverlap } from './cidr.js';
import { AVOIDED_DEFAULTS, DEFAULT_SPACES, firstFreeSubnet, pickDefaultSubnet } from './defaults.js';

test('default spaces avoid Docker and podman defaults', () => {
  for (const a of AVOIDED_DEFAULTS) assert.not.ok(cidrsOverlap(DEFAULT_SPACES[4].base, a), a);
  for (const docker of ['172.17.0.0/16', '172.31.0.0/16', '192.168.0.0/20', '10.88.0.0/16', '10.89.0.0/16']) {
    assert.ok(AVOIDED_DEFAULTS.some((a) => cidrsOverlap(a, docker)), docker);
  }
});

test('first /24 when nothing is taken', () => {
  assert.is(pickDefaultSubnet(4, []), '10.213.0.0/24');
  assert.is(pickDefaultSubnet(6, []), 'fd74:736e:6574::/64');
});

test('skips taken pools and routed subnets, other families and default routes ignored', () => {
  assert.is(pickDefaultSubnet(4, ['10.213.0.0/24', '10.213.1.0/24']), '10.213.2.0/24');
  assert.is(pickDefaultSubnet(4, ['10.213.0.0/23', '10.213.2.128/25']), '10.213.3.0/24');
  assert.is(pickDefaultSubnet(4, ['10.213.0.7/32']), '10.213.1.0/24');
  assert.is(pickDefaultSubnet(4, ['default', '0.0.0.0/0', 'fd74:736e:6574::/64']), '10.213.0.0/24');
  assert.is(pickDefaultSubnet(4, ['10.0.0.0/9', '10.213.0.0/17']), '10.213.128.0/24');
  assert.is(pickDefaultSubnet(6, ['fd74:736e:6574::/63']), 'fd74:736e:6574:2::/64');
});

test('full space: a conflict error', () => {
  assert.throws(() => pickDefaultSubnet(4, ['10.0.0.0/8']), /no free default IPv4 subnet/);
  assert.is(firstFreeSubnet('10.213.0.0/16', 24, ['10.213.0.0/16']), undefined);
});

test('skip-ahead stays cheap over a whole /48 of blockers', () => {
  const taken = Array.from({ length: 2000 }, (_, i) => `fd74:736e:6574:${i.toString(16)}::/64`);
  assert.is(pickDefaultSubnet(6, taken), 'fd74:736e:6574:7d0::/64');
});

test.run();
