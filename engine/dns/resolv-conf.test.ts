import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { containerNameservers, isLoopback, parseResolvConf, readResolvConf, upstreamsFor } from './resolv-conf.js';
import { parseUpstream } from './forward.js';

const SAMPLE = `# generated
nameserver 127.0.0.53
nameserver 192.0.2.1 ; trailing comment
nameserver ::1
nameserver fe80::1%eth0
nameserver not-an-ip
domain old.example
search corp.example  lab.example
options edns0 trust-ad
options ndots:2
`;

test('parses nameservers, search (last wins), options, comments', () => {
  const c = parseResolvConf(SAMPLE);
  assert.equal(c.nameservers, ['127.0.0.53', '192.0.2.1', '::1', 'fe80::1%eth0']);
  assert.equal(c.search, ['corp.example', 'lab.example']);
  assert.equal(c.options, ['edns0', 'trust-ad', 'ndots:2']);
  assert.equal(parseResolvConf('search a.example\ndomain b.example\n').search, ['b.example']);
});

test('upstreams keep loopback, container nameservers drop it', () => {
  const c = parseResolvConf(SAMPLE);
  assert.equal(upstreamsFor(c), ['127.0.0.53', '192.0.2.1', '::1', 'fe80::1%eth0']);
  assert.equal(containerNameservers(c), ['192.0.2.1', 'fe80::1%eth0']);
  assert.ok(isLoopback('127.255.0.1'));
  assert.ok(isLoopback('0:0:0:0:0:0:0:1'));
  assert.not.ok(isLoopback('::'));
  assert.not.ok(isLoopback('128.0.0.1'));
});

test('reads a file; a missing file is an empty configuration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsnet-resolv-'));
  try {
    const file = join(dir, 'resolv.conf');
    writeFileSync(file, SAMPLE);
    assert.equal(readResolvConf(file).search, ['corp.example', 'lab.example']);
    assert.equal(readResolvConf(join(dir, 'missing')), { nameservers: [], search: [], options: [] });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('upstream specs', () => {
  assert.equal(parseUpstream('192.0.2.1'), { host: '192.0.2.1', port: 53 });
  assert.equal(parseUpstream('127.0.0.2:5353'), { host: '127.0.0.2', port: 5353 });
  assert.equal(parseUpstream('::1'), { host: '::1', port: 53 });
  assert.equal(parseUpstream('[fd00::1]:5353'), { host: 'fd00::1', port: 5353 });
  assert.throws(() => parseUpstream('dns.example'), /bad DNS upstream/);
  assert.throws(() => parseUpstream('1.2.3.4:0'), /bad DNS upstream/);
  assert.throws(() => parseUpstream('1.2.3.4:99999'), /bad DNS upstream/);
});

test.run();
