import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError } from '../errors.js';
import { sysctlPath } from './index.js';

test('sysctl keys map to /proc/sys paths', () => {
  assert.is(sysctlPath('net.ipv4.ip_forward'), '/proc/sys/net/ipv4/ip_forward');
  assert.is(sysctlPath('net/ipv4/conf/eth0.10/forwarding'), '/proc/sys/net/ipv4/conf/eth0.10/forwarding');
  for (const bad of ['net..ipv4', 'net/../../etc/passwd', '', 'net/ipv4/']) {
    assert.throws(() => sysctlPath(bad), (e: unknown) => e instanceof ConfigError, bad);
  }
});

test.run();
