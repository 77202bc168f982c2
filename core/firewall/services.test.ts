// Golden tests: the rendered iptables-restore text of each service (pure).
// UPDATE_GOLDEN=1 rewrites core/firewall/testdata/*.rules.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../paths.js';
import { ConfigError } from '../errors.js';
import {
  baseRules,
  FirewallState,
  networkRules,
  planChanges,
  planTeardown,
  portRules,
  renderRestore,
  type Family,
  type NetworkFirewall,
  type Op,
  type RuleSet,
} from './index.js';

const dir = join(packageRoot(), 'core', 'firewall', 'testdata');

function golden(name: string, ops: readonly Op[]): void {
  const file = join(dir, `${name}.rules`);
  const text = renderRestore(ops);
  if (process.env['UPDATE_GOLDEN'] === '1' || !existsSync(file)) {
    if (process.env['UPDATE_GOLDEN'] !== '1') assert.unreachable(`golden file ${file} missing (run with UPDATE_GOLDEN=1)`);
    writeFileSync(file, text);
    return;
  }
  assert.fixture(text, readFileSync(file, 'utf8'), name);
}

function stateWith(...sets: RuleSet[]): FirewallState {
  return planChanges(new FirewallState(), { add: sets }).next;
}

const net: NetworkFirewall = { id: 'net1', bridge: 'tsbr-net1', subnets: ['10.89.0.0/24', 'fd89:0::/64'], internal: false, icc: true, masquerade: true, protect: [4, 6] };

function netSet(n: NetworkFirewall, family: Family): RuleSet {
  const set = networkRules(n).find((s) => s.family === family);
  if (!set) throw new Error(`no IPv${family} set`);
  return set;
}

test('base chains and jumps', () => {
  golden('base-v4', planChanges(new FirewallState(), { add: [baseRules(4)] }).ops);
  golden('base-v6', planChanges(new FirewallState(), { add: [baseRules(6)] }).ops);
});

test('network: masquerade, icc, hairpin', () => {
  golden('network-v4', planChanges(stateWith(baseRules(4)), { add: [netSet(net, 4)] }).ops);
  golden('network-v6', planChanges(stateWith(baseRules(6)), { add: [netSet(net, 6)] }).ops);
});

test('network: internal, no icc', () => {
  const n = { ...net, id: 'int1', bridge: 'tsbr-int1', subnets: ['10.90.0.7/24'], internal: true, icc: false };
  golden('network-internal', planChanges(stateWith(baseRules(4)), { add: networkRules(n) }).ops);
});

test('network: no masquerade, no icc', () => {
  const n = { ...net, id: 'nm', subnets: ['10.91.0.0/16', '10.92.0.0/16'], icc: false, masquerade: false };
  golden('network-nomasq', planChanges(stateWith(baseRules(4)), { add: networkRules(n) }).ops);
});

test('network: nat-unprotected in IPv4 (no drop into the bridge), nat in IPv6', () => {
  const n = { ...net, id: 'unp', protect: [6] as const };
  golden('network-unprotected-v4', planChanges(stateWith(baseRules(4)), { add: [netSet(n, 4)] }).ops);
  assert.ok(netSet(n, 6).rules.some((r) => r.spec.join(' ') === '! -i tsbr-net1 -o tsbr-net1 -m comment --comment tsnet:unp -j DROP'));
});

test('network: only the families it has subnets in', () => {
  assert.equal(networkRules({ ...net, subnets: ['10.1.0.0/16'] }).map((s) => s.family), [4]);
  assert.equal(networkRules({ ...net, subnets: ['fd00::/64'] }).map((s) => s.family), [6]);
});

test('port mappings', () => {
  const v4 = [
    portRules({ bridge: 'tsbr-net1', proto: 'tcp', hostIp: '127.0.0.1', hostPort: 8080, containerIp: '10.89.0.2', containerPort: 80, family: 4, networkId: 'net1' }),
    portRules({ bridge: 'tsbr-net1', proto: 'udp', hostPort: 5353, containerIp: '10.89.0.3', containerPort: 53, family: 4 }),
    portRules({ bridge: 'tsbr-net1', proto: 'tcp', hostIp: '0.0.0.0', hostPort: 443, containerIp: '10.89.0.3', containerPort: 8443, family: 4 }),
  ];
  golden('port-v4', planChanges(stateWith(baseRules(4)), { add: v4 }).ops);
  const v6 = [
    portRules({ bridge: 'tsbr-net1', proto: 'tcp', hostIp: 'fd89:0:0::1', hostPort: 8080, containerIp: 'fd89::2', containerPort: 80, family: 6, networkId: 'net1' }),
    portRules({ bridge: 'tsbr-net1', proto: 'udp', hostIp: '::', hostPort: 5353, containerIp: 'fd89::3', containerPort: 53, family: 6 }),
  ];
  golden('port-v6', planChanges(stateWith(baseRules(6)), { add: v6 }).ops);
});

test('removing a network, and teardown', () => {
  const port = portRules({ bridge: 'tsbr-net1', proto: 'tcp', hostPort: 8080, containerIp: '10.89.0.2', containerPort: 80, family: 4 });
  const full = stateWith(baseRules(4), netSet(net, 4), port);
  golden('remove-network-v4', planChanges(full, { remove: [port, netSet(net, 4)] }).ops);
  golden('teardown-v4', planTeardown(full).ops);
});

test('builders refuse bad input with ConfigError naming the field', () => {
  const bad: [() => unknown, string][] = [
    [() => portRules({ bridge: 'br0', proto: 'tcp', hostPort: 0, containerIp: '10.0.0.2', containerPort: 80, family: 4 }), 'hostPort'],
    [() => portRules({ bridge: 'br0', proto: 'tcp', hostPort: 80, containerIp: 'fd00::2', containerPort: 80, family: 4 }), 'containerIp'],
    [() => portRules({ bridge: 'br0', proto: 'tcp', hostIp: '10.0.0.1', hostPort: 80, containerIp: 'fd00::2', containerPort: 80, family: 6 }), 'hostIp'],
    [() => portRules({ bridge: 'br 0', proto: 'tcp', hostPort: 80, containerIp: '10.0.0.2', containerPort: 80, family: 4 }), 'bridge'],
    [() => networkRules({ ...net, subnets: ['10.0.0.1'] }), 'subnets'],
    [() => networkRules({ ...net, id: 'a"b' }), 'id'],
  ];
  for (const [fn, field] of bad) {
    try {
      fn();
      assert.unreachable(`expected ConfigError for ${field}`);
    } catch (err) {
      assert.instance(err, ConfigError);
      assert.is((err as ConfigError).field, field);
    }
  }
});

test.run();
