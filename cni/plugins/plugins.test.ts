import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CniError, knownArgs, parseCniArgs } from '../skel/index.js';
import { parseBridgeConf } from './bridge.js';
import { parseMacvlanConf } from './macvlan.js';
import { assignRequested, effectiveRanges, parseResolvConf, requestedIps } from './ipam-conf.js';
import { bindings, containerIps, mappingRules, parseConditions } from './portmap.js';
import { endpointId } from './common.js';

const base = { cniVersion: '1.0.0', name: 'n1', type: 'tsnet-bridge' };
const ipam = { type: 'host-local', ranges: [[{ subnet: '10.1.0.0/24', rangeStart: '10.1.0.10', rangeEnd: '10.1.0.20' }], [{ subnet: 'fd01::/64' }]] };
const err = (fn: () => unknown): CniError => { try { fn(); } catch (e) { return e as CniError; } throw new Error('no error'); };

test('bridge conf: reference fields accepted, unsupported ones are code 2, bad values code 7 naming the field', () => {
  const c = parseBridgeConf({ ...base, bridge: 'cni0', isGateway: true, ipMasq: true, hairpinMode: true, mtu: 1400, ipam, unknownField: 1 });
  assert.is(c.bridge, 'cni0');
  assert.is(err(() => parseBridgeConf({ ...base, vlan: 10, ipam })).code, 2);
  assert.is(err(() => parseBridgeConf({ ...base, macspoofchk: true, ipam })).details, 'macspoofchk');
  assert.is(err(() => parseBridgeConf({ ...base, ipam: { type: 'dhcp' } })).details, 'ipam.type');
  assert.is(err(() => parseBridgeConf({ ...base })).code, 2);
  const mtu = err(() => parseBridgeConf({ ...base, mtu: 10, ipam }));
  assert.is(mtu.code, 7);
  assert.is(mtu.details, 'mtu');
  assert.is(err(() => parseBridgeConf({ ...base, bridge: 'a-name-longer-than-15', ipam })).details, 'bridge');
  assert.is(parseBridgeConf({ ...base, vethQueues: 2, ipam }).vethQueues, 2);
  for (const q of [0, 5000, 1.5, '2']) assert.is(err(() => parseBridgeConf({ ...base, vethQueues: q, ipam })).details, 'vethQueues');
  assert.is(err(() => parseBridgeConf({ ...base, isGateway: 'yes', ipam })).details, 'isGateway');
  assert.is(err(() => parseBridgeConf({ ...base, ipam: { type: 'host-local', ranges: [[{ gateway: '1.2.3.4' }]] } })).details, 'ipam.ranges[0][0].subnet');
  assert.is(err(() => parseBridgeConf({ ...base, name: 'bad name', ipam })).details, 'name');
  assert.is(err(() => parseMacvlanConf({ ...base, type: 'tsnet-macvlan', linkInContainer: true, ipam })).code, 2);
  assert.is(err(() => parseMacvlanConf({ ...base, type: 'tsnet-macvlan', mode: 'weird', ipam })).details, 'mode');
});

test('ipam conf: ranges, single-range form, ipRanges capability, validation naming the range', () => {
  const sets = effectiveRanges(base, ipam);
  assert.is(sets.length, 2);
  assert.is(sets[1]?.[0]?.family, 6);
  assert.equal(effectiveRanges(base, { type: 'host-local', subnet: '10.9.0.0/16', gateway: '10.9.0.254' })[0]?.[0]?.gateway, '10.9.0.254');
  const rc = effectiveRanges({ ...base, runtimeConfig: { ipRanges: [[{ subnet: '10.7.0.0/24' }]] } }, ipam);
  assert.equal(rc.map((s) => s[0]?.subnet), ['10.7.0.0/24']);
  const hostBits = err(() => effectiveRanges(base, { type: 'host-local', ranges: [[{ subnet: '10.1.0.5/24' }]] }));
  assert.is(hostBits.code, 7);
  assert.is(hostBits.details, 'ipam.ranges[0][0].subnet');
  assert.match(hostBits.message, '10.1.0.0/24');
  assert.is(err(() => effectiveRanges(base, { type: 'host-local', ranges: [[{ subnet: '10.1.0.0/24', rangeStart: '10.2.0.1' }]] })).details, 'ipam.ranges[0][0].rangeStart');
  assert.is(err(() => effectiveRanges(base, { type: 'host-local', ranges: [[{ subnet: '10.1.0.0/24' }, { subnet: 'fd00::/64' }]] })).code, 7);
  assert.is(err(() => effectiveRanges(base, { type: 'host-local', ranges: [[{ subnet: 'nonsense' }]] })).code, 7);
});

test('requested addresses from CNI_ARGS IP, args.cni.ips and the ips capability, matched to range sets', () => {
  const args = knownArgs(parseCniArgs('IP=10.1.0.15'), ['IP']);
  const ips = requestedIps({ ...base, args: { cni: { ips: ['fd01::5'] } }, runtimeConfig: { ips: ['10.1.0.15/24'] } }, args);
  assert.equal(ips, ['10.1.0.15', 'fd01::5']);
  const sets = effectiveRanges(base, ipam);
  assert.equal([...assignRequested(sets, ips)], [[0, '10.1.0.15'], [1, 'fd01::5']]);
  assert.is(err(() => assignRequested(sets, ['192.168.9.9'])).code, 7);
  assert.is(err(() => assignRequested(sets, ['10.1.0.13', '10.1.0.14'])).code, 7);
  // In the subnet but outside rangeStart-rangeEnd: refused, as host-local refuses it.
  for (const outside of ['10.1.0.9', '10.1.0.21', '10.1.0.200']) {
    const e = err(() => assignRequested(sets, [outside]));
    assert.equal([e.code, e.message], [7, `ips: requested address ${outside} is not in any configured range (in 10.1.0.0/24 but outside 10.1.0.10-10.1.0.20)`]);
  }
  assert.equal([...assignRequested(sets, ['10.1.0.10', 'fd01::ffff'])], [[0, '10.1.0.10'], [1, 'fd01::ffff']]);
  assert.equal([...assignRequested(sets, ['10.1.0.20'])], [[0, '10.1.0.20']]);
  assert.is(err(() => requestedIps(base, knownArgs(parseCniArgs('IP=notanip'), ['IP']))).code, 7);
});

test('resolv.conf parsing', () => {
  assert.equal(parseResolvConf('# c\nnameserver 10.0.0.1\nnameserver fd00::1\ndomain example.org\nsearch a.org b.org\noptions ndots:2 edns0\n'), {
    nameservers: ['10.0.0.1', 'fd00::1'], domain: 'example.org', search: ['a.org', 'b.org'], options: ['ndots:2', 'edns0'],
  });
});

test('portmap: the container address of each family as the reference picks it', () => {
  const ifaces = [{ name: 'cni0' }, { name: 'veth1' }, { name: 'eth0', sandbox: '/run/netns/x' }, { name: 'net1', sandbox: '/run/netns/x' }];
  const ips = (list: [string, number?][]) => ({ interfaces: ifaces, ips: list.map(([address, i]) => ({ address, ...(i === undefined ? {} : { interface: i }) })) });
  // Two IPv4 addresses on eth0: only the first is published (one row per mapping and family).
  assert.equal(containerIps(ips([['10.1.0.2/24', 2], ['10.2.0.2/24', 2], ['fd01::2/64', 2]]), 'eth0'), ['10.1.0.2', 'fd01::2']);
  // Addresses on the bridge, the host veth or another container interface are skipped.
  assert.equal(containerIps(ips([['10.1.0.1/24', 0], ['10.3.0.2/24', 3], ['10.1.0.2/24', 2]]), 'eth0'), ['10.1.0.2']);
  // No interface index (optional in the spec): the address counts.
  assert.equal(containerIps(ips([['10.55.0.5/24']]), 'eth0'), ['10.55.0.5']);
  assert.equal(containerIps({ ips: [{ address: '10.55.0.5/24' }] }, 'eth0'), ['10.55.0.5']);
});

test('portmap: conditions, bindings per family, rules in iptables-save order', () => {
  assert.equal(parseConditions(['!', '-s', '10.0.0.0/8', '-i', 'eth1'], 4, 'conditionsV4'), { src: ['!', '-s', '10.0.0.0/8'], inIf: ['-i', 'eth1'] });
  assert.equal(parseConditions(['-d', '192.168.1.5'], 4, 'c').dst, ['-d', '192.168.1.5/32']);
  assert.is(err(() => parseConditions(['-m', 'comment'], 4, 'conditionsV4')).code, 2);
  assert.is(err(() => parseConditions(['-s', 'fd00::1'], 4, 'conditionsV4')).code, 7);
  const rows = bindings([{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }, { hostPort: 53, containerPort: 53, protocol: 'UDP', hostIP: '127.0.0.1' }], ['10.1.0.2', 'fd01::2'], 'ep', 'net');
  assert.equal(rows.map((r) => `${r.proto} ${r.hostIp}:${r.hostPort}->${r.containerIp}:${r.containerPort}`), [
    'tcp 0.0.0.0:8080->10.1.0.2:80', 'tcp :::8080->fd01::2:80', 'udp 127.0.0.1:53->10.1.0.2:53',
  ]);
  assert.is(err(() => bindings([{ hostPort: 1, containerPort: 1, protocol: 'sctp' }], ['10.1.0.2'], 'e', 'n')).code, 2);
  const sets = mappingRules(rows.slice(0, 1), { ...base, type: 'tsnet-portmap', conditionsV4: ['-s', '10.5.0.0/16'], masqAll: true }, 'net1', 'cni0');
  assert.equal(sets[0]?.rules.map((r) => `${r.chain} ${r.spec.join(' ')}`), [
    'TSNET-DNAT -s 10.5.0.0/16 -p tcp -m tcp --dport 8080 -m comment --comment tsnet:net1 -j DNAT --to-destination 10.1.0.2:80',
    'TSNET-POSTROUTING -d 10.1.0.2/32 -p tcp -m tcp --dport 80 -m conntrack --ctstate DNAT -m comment --comment tsnet:net1 -j MASQUERADE',
  ]);
  const withHost = mappingRules(rows.slice(2), { ...base, type: 'tsnet-portmap', conditionsV4: ['-s', '10.5.0.0/16'] }, 'net1', 'cni0');
  assert.equal(withHost[0]?.rules[0]?.spec.slice(0, 4), ['-s', '10.5.0.0/16', '-d', '127.0.0.1/32']);
});

test('endpoint ids are deterministic per (kind, network, container, ifname)', () => {
  assert.is(endpointId('bridge', 'n', 'c', 'eth0'), endpointId('bridge', 'n', 'c', 'eth0'));
  assert.is.not(endpointId('bridge', 'n', 'c', 'eth0'), endpointId('bridge', 'n', 'c', 'eth1'));
  assert.is.not(endpointId('bridge', 'n', 'c', 'eth0'), endpointId('macvlan', 'n', 'c', 'eth0'));
  assert.match(endpointId('bridge', 'n', 'c', 'eth0'), /^[0-9a-f]{64}$/);
});

test.run();
