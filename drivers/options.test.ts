import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError } from '../core/index.js';
import { bridgeDriver, protectedFamilies } from './bridge.js';
import { CNI_KIND_LABEL } from './labels.js';
import { macvlanDriver } from './macvlan.js';
import { checkIfname, hostIfnameFor } from './options.js';

const t = suite('driver options');

function configError(fn: () => unknown, field: string): void {
  try {
    fn();
    assert.unreachable('accepted');
  } catch (err) {
    assert.instance(err, ConfigError);
    assert.is((err as ConfigError).field, field);
  }
}

t('bridge: docker option names and defaults', () => {
  assert.equal(bridgeDriver.parseOptions({}), { icc: true, masquerade: true, hairpin: true, mcastSnooping: false });
  assert.equal(bridgeDriver.parseOptions({
    'com.docker.network.bridge.name': 'br-x', 'com.docker.network.bridge.enable_icc': 'false',
    'com.docker.network.bridge.enable_ip_masquerade': 'false', 'com.docker.network.bridge.host_binding_ipv4': '127.0.0.1',
    'com.docker.network.driver.mtu': '1400', mcast_snooping: 'on', veth_queues: '4',
  }), { bridge: 'br-x', icc: false, masquerade: false, hostBindingIp: '127.0.0.1', mtu: 1400, hairpin: true, mcastSnooping: true, vethQueues: 4 });
});

t('bridge: gateway modes per family; unset is nat, or nat-unprotected for a CNI network', () => {
  const o = bridgeDriver.parseOptions({ 'com.docker.network.bridge.gateway_mode_ipv4': 'nat-unprotected', gateway_mode_ipv6: 'nat' });
  assert.equal([o.gatewayModeIpv4, o.gatewayModeIpv6], ['nat-unprotected', 'nat']);
  assert.equal(protectedFamilies(o, {}), [6]);
  const unset = bridgeDriver.parseOptions({});
  assert.equal(protectedFamilies(unset, {}), [4, 6]);
  assert.equal(protectedFamilies(unset, { [CNI_KIND_LABEL]: 'bridge' }), []);
  assert.equal(protectedFamilies({ ...unset, gatewayModeIpv6: 'nat' }, { [CNI_KIND_LABEL]: 'bridge' }), [6]);
  for (const v of ['routed', 'isolated', 'NAT', '']) {
    configError(() => bridgeDriver.parseOptions({ 'com.docker.network.bridge.gateway_mode_ipv4': v }), 'com.docker.network.bridge.gateway_mode_ipv4');
    configError(() => bridgeDriver.parseOptions({ gateway_mode_ipv6: v }), 'gateway_mode_ipv6');
  }
  assert.throws(() => bridgeDriver.parseOptions({ gateway_mode_ipv4: 'routed' }), /gateway_mode_ipv4: "routed" is not supported by tsnet \(nat or nat-unprotected\)/);
});

t('bridge: bad options name the option', () => {
  configError(() => bridgeDriver.parseOptions({ colour: 'blue' }), 'colour');
  configError(() => bridgeDriver.parseOptions({ 'com.docker.network.bridge.name': 'a-very-long-bridge-name' }), 'com.docker.network.bridge.name');
  configError(() => bridgeDriver.parseOptions({ mtu: '67' }), 'mtu');
  configError(() => bridgeDriver.parseOptions({ 'com.docker.network.driver.mtu': '70000' }), 'com.docker.network.driver.mtu');
  configError(() => bridgeDriver.parseOptions({ icc: 'maybe' }), 'icc');
  configError(() => bridgeDriver.parseOptions({ mcast_snooping: 'sometimes' }), 'mcast_snooping');
  for (const q of ['0', '4097', '1.5', 'many']) configError(() => bridgeDriver.parseOptions({ veth_queues: q }), 'veth_queues');
  for (const ip of ['garbage', '300.1.1.1', '10.0.0.1/24', '::1', '', '224.0.0.1', '255.255.255.255']) {
    configError(() => bridgeDriver.parseOptions({ host_binding_ipv4: ip }), 'host_binding_ipv4');
    configError(() => bridgeDriver.parseOptions({ 'com.docker.network.bridge.host_binding_ipv4': ip }), 'com.docker.network.bridge.host_binding_ipv4');
  }
  assert.is(bridgeDriver.parseOptions({ host_binding_ipv4: '0.0.0.0' }).hostBindingIp, '0.0.0.0');
});

t('macvlan: parent required, modes checked', () => {
  assert.equal(macvlanDriver.parseOptions({ parent: 'eth1' }), { parent: 'eth1', mode: 'bridge' });
  assert.equal(macvlanDriver.parseOptions({ parent: 'eth1', macvlan_mode: 'vepa', mtu: '1400' }), { parent: 'eth1', mode: 'vepa', mtu: 1400 });
  configError(() => macvlanDriver.parseOptions({}), 'parent');
  configError(() => macvlanDriver.parseOptions({ parent: 'eth1', macvlan_mode: 'weird' }), 'macvlan_mode');
});

t('interface names', () => {
  assert.is(checkIfname('eth0', 'ifname'), 'eth0');
  configError(() => checkIfname('0123456789abcdef', 'ifname'), 'ifname');
  configError(() => checkIfname('a/b', 'ifname'), 'ifname');
  configError(() => checkIfname('', 'ifname'), 'ifname');
  assert.is(hostIfnameFor('abc').length, 11);
  assert.is(hostIfnameFor('abc'), hostIfnameFor('abc'));
  assert.is.not(hostIfnameFor('abc'), hostIfnameFor('abd'));
});

t.run();
