// Pure translation of Docker's remote-driver wire forms (no store, no kernel).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError } from '../core/errors.js';
import {
  bindingsToWire, dockerNetworkName, exposedPortsFrom, genericOptions, joinIfname, networkRequestFrom, portRequestsFrom,
} from './translate.js';

const ID = 'a'.repeat(64);
const none = () => undefined;

test('CreateNetwork: bridge by default, Docker id and name, owner label, generic options to the driver', () => {
  const req = networkRequestFrom({
    NetworkID: ID,
    Options: { 'com.docker.network.enable_ipv6': false, 'com.docker.network.generic': { 'com.docker.network.driver.mtu': '1400', 'com.docker.network.bridge.enable_icc': 'false' } },
    IPv4Data: [{ AddressSpace: 'x', Pool: '10.9.0.0/24', Gateway: '10.9.0.1/24', AuxAddresses: { r: '10.9.0.5/24' } }],
    IPv6Data: [],
  }, none);
  assert.equal(req, {
    id: ID, name: 'docker-aaaaaaaaaaaa', driver: 'bridge',
    options: { 'com.docker.network.driver.mtu': '1400', 'com.docker.network.bridge.enable_icc': 'false' },
    internal: false, ipv6: false, labels: { 'tsnet.owner': 'docker' },
    subnets: [{ subnet: '10.9.0.0/24', gateway: '10.9.0.1', auxAddresses: { r: '10.9.0.5' } }],
  });
});

test('CreateNetwork: a pool of tsnet\'s IPAM is adopted, not re-created', () => {
  const req = networkRequestFrom({ NetworkID: ID, IPv4Data: [{ Pool: '10.9.0.0/24', Gateway: '10.9.0.1/24' }] }, (s) => (s === '10.9.0.0/24' ? 'p1' : undefined));
  assert.equal(req.subnets, [{ subnet: '10.9.0.0/24', poolId: 'p1' }]);
});

test('CreateNetwork: macvlan from parent or tsnet.driver, internal and IPv6 flags', () => {
  const mv = networkRequestFrom({ NetworkID: ID, Options: { 'com.docker.network.generic': { parent: 'eth9', macvlan_mode: 'bridge' } } }, none);
  assert.is(mv.driver, 'macvlan');
  assert.equal(mv.options, { parent: 'eth9', macvlan_mode: 'bridge' });
  const explicit = networkRequestFrom({
    NetworkID: ID,
    Options: { 'com.docker.network.internal': true, 'com.docker.network.enable_ipv6': true, 'com.docker.network.generic': { 'tsnet.driver': 'bridge', mtu: 1300 } },
    IPv6Data: [{ Pool: 'fd00:1::/64', Gateway: 'fd00:1::1/64' }],
  }, none);
  assert.is(explicit.driver, 'bridge');
  assert.equal(explicit.options, { mtu: '1300' });
  assert.is(explicit.internal, true);
  assert.is(explicit.ipv6, true);
  assert.equal(explicit.subnets, [{ subnet: 'fd00:1::/64', gateway: 'fd00:1::1' }]);
  assert.not.ok('subnets' in networkRequestFrom({ NetworkID: ID }, none), 'no IPAM data: tsnet picks');
  const v6only = networkRequestFrom({ NetworkID: ID, Options: { 'com.docker.network.enable_ipv4': false, 'com.docker.network.enable_ipv6': true }, IPv6Data: [{ Pool: 'fd74:9::/64' }] }, none);
  assert.is(v6only.ipv4, false, 'Docker 28 --ipv4=false: no IPv4 subnet is made up');
  assert.not.ok('ipv4' in networkRequestFrom({ NetworkID: ID, Options: { 'com.docker.network.enable_ipv4': true } }, none), 'on: as by default');
});

test('CreateNetwork: bad driver, bad pools and bad option shapes are ConfigErrors naming the field', () => {
  const err = (f: () => unknown, field: string) => {
    try {
      f();
      assert.unreachable('should throw');
    } catch (e) {
      assert.instance(e, ConfigError);
      assert.is((e as ConfigError).field, field);
    }
  };
  err(() => networkRequestFrom({ NetworkID: ID, Options: { 'com.docker.network.generic': { 'tsnet.driver': 'overlay' } } }, none), 'tsnet.driver');
  err(() => networkRequestFrom({ NetworkID: ID, IPv4Data: [{ Pool: 'nonsense' }] }, none), 'IPv4Data[0].Pool');
  err(() => networkRequestFrom({ NetworkID: ID, IPv4Data: [{ Pool: 'fd00::/64' }] }, none), 'IPv4Data[0].Pool');
  err(() => networkRequestFrom({ NetworkID: ID, Options: { 'com.docker.network.generic': 'x' } }, none), 'com.docker.network.generic');
  err(() => genericOptions({ 'com.docker.network.generic': { k: { nested: 1 } } }), 'k');
});

test('portmap: protocols, host IP, fixed / ranged / ephemeral host ports, IPv6 host addresses skipped unless the endpoint has IPv6', () => {
  const { ports, skipped } = portRequestsFrom([
    { Proto: 6, IP: '', Port: 80, HostIP: '127.0.0.1', HostPort: 18080, HostPortEnd: 18080 },
    { Proto: 17, Port: 53, HostIP: '', HostPort: 0, HostPortEnd: 0 },
    { Proto: 6, Port: 443, HostPort: 9000, HostPortEnd: 9010 },
    { Proto: 6, Port: 22, HostIP: '::1', HostPort: 2222 },
  ]);
  assert.equal(ports, [
    { proto: 'tcp', containerPort: 80, hostIp: '127.0.0.1', hostPort: 18080 },
    { proto: 'udp', containerPort: 53 },
    { proto: 'tcp', containerPort: 443, hostPort: 9000, hostPortEnd: 9010 },
  ]);
  assert.is(skipped.length, 1);
  assert.equal(portRequestsFrom([{ Proto: 6, Port: 22, HostIP: '::', HostPort: 2222 }], { ipv6: true }).ports, [
    { proto: 'tcp', containerPort: 22, hostIp: '::', hostPort: 2222 },
  ], 'an endpoint with an IPv6 address: published');
  assert.throws(() => portRequestsFrom([{ Proto: 132, Port: 1 }]), (e: unknown) => e instanceof ConfigError && /protocol 132/.test(e.message));
  assert.throws(() => portRequestsFrom([{ Proto: 6, Port: 1, HostIP: 'nope' }]), /invalid host IP/);
  assert.equal(portRequestsFrom(null).ports, []);
});

test('bindings and exposed ports in Docker form', () => {
  assert.equal(bindingsToWire([{ proto: 'udp', hostIp: '0.0.0.0', hostPort: 5353, containerIp: '10.0.0.2', containerPort: 53 }]),
    [{ Proto: 17, IP: '10.0.0.2', Port: 53, HostIP: '0.0.0.0', HostPort: 5353, HostPortEnd: 5353 }]);
  assert.equal(exposedPortsFrom([{ Proto: 6, Port: 80 }, { Proto: 132, Port: 9 }]), [{ Proto: 6, Port: 80 }, { Proto: 132, Port: 9 }]);
  assert.throws(() => exposedPortsFrom([{ Proto: 6, Port: 0 }]), /out of range/);
});

test('names: docker-<id12> and a 15-byte temporary interface name, stable per endpoint', () => {
  assert.is(dockerNetworkName('0123456789abcdef'), 'docker-0123456789ab');
  const a = joinIfname('e'.repeat(64));
  assert.match(a, /^tsn[0-9a-f]{12}$/);
  assert.is(a, joinIfname('e'.repeat(64)));
  assert.is.not(a, joinIfname('f'.repeat(64)));
});

test.run();
