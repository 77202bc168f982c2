import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError } from '../core/index.js';
import { expandForEndpoint, expandPorts, parsePortSpec, validatePortRequest, EPHEMERAL_FIRST, EPHEMERAL_LAST } from './ports.js';

const t = suite('ports');

t('parses docker -p forms', () => {
  assert.equal(parsePortSpec('80'), { proto: 'tcp', containerPort: 80 });
  assert.equal(parsePortSpec('8080:80'), { proto: 'tcp', containerPort: 80, hostPort: 8080 });
  assert.equal(parsePortSpec('127.0.0.1:8080:80/udp'), { proto: 'udp', containerPort: 80, hostIp: '127.0.0.1', hostPort: 8080 });
  assert.equal(parsePortSpec('127.0.0.1::80'), { proto: 'tcp', containerPort: 80, hostIp: '127.0.0.1' });
  assert.equal(parsePortSpec('[fd00::1]:8080:80'), { proto: 'tcp', containerPort: 80, hostIp: 'fd00::1', hostPort: 8080 });
  assert.throws(() => parsePortSpec('[::1]:8080:80'), /host IP ::1 cannot reach a container/);
  assert.equal(parsePortSpec('8000-8002:80-82'), { proto: 'tcp', containerPort: 80, containerPortEnd: 82, hostPort: 8000, hostPortEnd: 8002 });
  assert.equal(parsePortSpec('9000-9010:80'), { proto: 'tcp', containerPort: 80, hostPort: 9000, hostPortEnd: 9010 });
});

t('rejects bad -p syntax, naming the field', () => {
  for (const bad of ['', 'abc', '0', '70000', '1:2:3:4', '80/sctp', '8000-8002:80-81', '300.1.1.1:80:80', '90-80', '8080:', ':80:']) {
    try {
      parsePortSpec(bad);
      assert.unreachable(`"${bad}" was accepted`);
    } catch (err) {
      assert.instance(err, ConfigError, `"${bad}"`);
      assert.is((err as ConfigError).field, 'publish');
    }
  }
});

t('host IPs: an IPv4-mapped one is a ConfigError naming the field; any spelling of :: is ::', () => {
  try {
    validatePortRequest({ proto: 'tcp', containerPort: 80, hostPort: 8080, hostIp: '::ffff:127.0.0.1' }, 'ports[0]');
    assert.unreachable('accepted');
  } catch (err) {
    assert.instance(err, ConfigError);
    assert.is((err as ConfigError).field, 'ports[0]');
  }
  const free = () => true;
  assert.is(expandPorts({ proto: 'tcp', containerPort: 80, hostPort: 8080, hostIp: '0:0::0' }, '10.0.0.2', '0.0.0.0', free)[0]?.hostIp, '0.0.0.0');
  assert.is(expandPorts({ proto: 'tcp', containerPort: 80, hostPort: 8080, hostIp: 'FD00:0::1' }, 'fd00::2', '::', free)[0]?.hostIp, 'fd00::1');
});

t('expands ranges one to one and picks free ports', () => {
  const free = () => true;
  const b = expandPorts(parsePortSpec('8000-8002:80-82'), '10.0.0.2', '0.0.0.0', free);
  assert.equal(b.map((x) => [x.hostPort, x.containerPort]), [[8000, 80], [8001, 81], [8002, 82]]);
  const taken = new Set([9000, 9001]);
  const r = expandPorts(parsePortSpec('9000-9010:80'), '10.0.0.2', '0.0.0.0', (_p, _ip, port) => !taken.has(port));
  assert.is(r[0]?.hostPort, 9002);
  const e = expandPorts(parsePortSpec('80-81'), '10.0.0.2', '127.0.0.1', free);
  assert.is(e.length, 2);
  for (const x of e) {
    assert.ok(x.hostPort >= EPHEMERAL_FIRST && x.hostPort <= EPHEMERAL_LAST);
    assert.is(x.hostIp, '127.0.0.1');
  }
  assert.is.not(e[0]?.hostPort, e[1]?.hostPort);
  assert.throws(() => expandPorts(parsePortSpec('9000-9001:80'), '10.0.0.2', '0.0.0.0', () => false), /no free host port/);
});

t('per endpoint: both families with no host IP asked, one family for a host IP of it, as Docker 27+', () => {
  const free = () => true;
  const dual = { v4: '10.0.0.2', v6: 'fd00::2' };
  const summary = (bs: { hostIp: string; hostPort: number; containerIp: string }[]) => bs.map((b) => `${b.hostIp}:${b.hostPort}->${b.containerIp}`);
  assert.equal(summary(expandForEndpoint(parsePortSpec('8080:80'), dual, '0.0.0.0', free)), ['0.0.0.0:8080->10.0.0.2', ':::8080->fd00::2']);
  assert.equal(summary(expandForEndpoint(parsePortSpec('0.0.0.0:8080:80'), dual, '0.0.0.0', free)), ['0.0.0.0:8080->10.0.0.2'], 'an IPv4 host IP: IPv4 only');
  assert.equal(summary(expandForEndpoint(parsePortSpec('[::]:8080:80'), dual, '0.0.0.0', free)), [':::8080->fd00::2'], ':: on a dual-stack endpoint: IPv6 only');
  assert.equal(summary(expandForEndpoint(parsePortSpec('8080:80'), dual, '192.0.2.7', free)), ['192.0.2.7:8080->10.0.0.2'], 'a network default binding address: its family');
  assert.equal(summary(expandForEndpoint(parsePortSpec('[::]:8080:80'), { v4: '10.0.0.2' }, '0.0.0.0', free)), ['0.0.0.0:8080->10.0.0.2'], ':: on IPv4 only: every IPv4 address, as before');
  assert.equal(summary(expandForEndpoint(parsePortSpec('8080:80'), { v6: 'fd00::2' }, '0.0.0.0', free)), [':::8080->fd00::2'], 'IPv6-only endpoint');
  assert.throws(() => expandForEndpoint(parsePortSpec('127.0.0.1:8080:80'), { v6: 'fd00::2' }, '0.0.0.0', free), /127\.0\.0\.1 is IPv4 and the endpoint has no IPv4 address/);
  assert.throws(() => expandForEndpoint(parsePortSpec('8080:80'), {}, '0.0.0.0', free), /no address/);
  // An ephemeral pick is free in both families: 49153 is taken on :: only.
  const takenV6 = (_p: string, ip: string, port: number) => !(ip === '::' && port === EPHEMERAL_FIRST);
  const picked = expandForEndpoint({ proto: 'tcp', containerPort: 80, hostPort: EPHEMERAL_FIRST, hostPortEnd: EPHEMERAL_FIRST + 5 }, dual, '0.0.0.0', takenV6);
  assert.equal(picked.map((b) => b.hostPort), [EPHEMERAL_FIRST + 1, EPHEMERAL_FIRST + 1]);
});

t.run();
