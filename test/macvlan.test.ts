// macvlan on a veth parent (the kernel here has no dummy links): bridge mode connects
// sandboxes on one parent, private mode separates them; MTU above the parent's is refused.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError } from '../core/index.js';
import type { NetworkManager } from '../drivers/index.js';
import { addrsOf, canPing, cleanup, dropSandbox, inNs, ipJson, linkNames, newManager, newSandbox } from './helpers.js';

const t = suite('macvlan driver');
let mgr: NetworkManager;
let dbFile: string;
const sbs: string[] = [];

t.before(async () => {
  ({ mgr, dbFile } = newManager());
  for (const n of ['m1', 'm2']) sbs.push(await newSandbox(n));
  await inNs(undefined, ['ip', 'link', 'add', 'mvparent', 'mtu', '1500', 'type', 'veth', 'peer', 'name', 'mvpeer']);
  await inNs(undefined, ['ip', 'link', 'set', 'mvparent', 'up']);
  await inNs(undefined, ['ip', 'link', 'set', 'mvpeer', 'up']);
});

t.after(async () => {
  await cleanup(mgr, dbFile);
  await inNs(undefined, ['ip', 'link', 'del', 'mvparent'], [1]);
  for (const p of sbs) dropSandbox(p);
});

for (const mode of ['bridge', 'private'] as const) {
  t(`mode ${mode}: two sandboxes on one parent ${mode === 'bridge' ? 'reach' : 'do not reach'} each other`, async () => {
    await mgr.createNetwork({ name: `mv-${mode}`, driver: 'macvlan', subnets: [{ subnet: '10.213.60.0/24' }], options: { parent: 'mvparent', macvlan_mode: mode } });
    const [s1, s2] = [sbs[0]!, sbs[1]!];
    const e1 = await mgr.attach({ network: `mv-${mode}`, sandbox: 'm1', placement: { kind: 'netns', netnsPath: s1, ifname: 'eth0' } });
    const e2 = await mgr.attach({ network: `mv-${mode}`, sandbox: 'm2', placement: { kind: 'netns', netnsPath: s2, ifname: 'eth0' } });
    const [l] = await ipJson<{ link_type: string; address: string; linkinfo?: { info_kind: string; info_data?: { mode: string } } }[]>(s1, ['-d', 'link', 'show', 'eth0']);
    assert.is(l?.linkinfo?.info_kind, 'macvlan');
    assert.is(l?.linkinfo?.info_data?.mode, mode);
    assert.is(l?.address, e1.mac);
    assert.equal(await addrsOf(s1, 'eth0'), [e1.addresses[0]!.cidr]);
    assert.not.ok((await linkNames()).some((n) => n.startsWith('veth')), 'no veth on the host');
    if (mode === 'bridge') {
      // ipv6OffWithoutAddress on a macvlan (made up in the sandbox): IPv6 off, no link-local left.
      const e3 = await mgr.attach({ network: 'mv-bridge', sandbox: 'm1', placement: { kind: 'netns', netnsPath: s1, ifname: 'eth1' }, ipv6OffWithoutAddress: true });
      assert.is((await inNs(s1, ['cat', '/proc/sys/net/ipv6/conf/eth1/disable_ipv6'])).stdout.trim(), '1');
      const [a] = await ipJson<{ addr_info: { family: string }[] }[]>(s1, ['addr', 'show', 'dev', 'eth1']);
      assert.equal(a?.addr_info.map((x) => x.family), ['inet']);
      await mgr.detach(e3.id);
    }
    const reach = await canPing(s1, e2.addresses[0]!.ip);
    assert.is(reach, mode === 'bridge');
    await mgr.detach(e1.id);
    await mgr.detach(e2.id);
    assert.not.ok((await linkNames(s1)).includes('eth0'));
    await mgr.removeNetwork(`mv-${mode}`);
  });
}

t('MTU larger than the parent and a missing parent are config errors, nothing made', async () => {
  for (const [options, field] of [[{ parent: 'mvparent', mtu: '9000' }, 'mtu'], [{ parent: 'nosuchparent' }, 'parent']] as const) {
    try {
      await mgr.createNetwork({ name: 'mvbad', driver: 'macvlan', subnets: [{ subnet: '10.213.61.0/24' }], options });
      assert.unreachable('accepted');
    } catch (err) {
      assert.instance(err, ConfigError);
      assert.is((err as ConfigError).field, field);
    }
    assert.is(mgr.listNetworks().length, 0);
  }
  // The failed creates released their pools: the subnet is free again.
  await mgr.createNetwork({ name: 'mvok', driver: 'macvlan', subnets: [{ subnet: '10.213.61.0/24' }], options: { parent: 'mvparent', mtu: '1400' } });
  await mgr.removeNetwork('mvok');
});

t('a parent that is not Ethernet (loopback, a tun) is refused at create naming its link type, nothing made', async () => {
  await inNs(undefined, ['ip', 'tuntap', 'add', 'mode', 'tun', 'name', 'mvtun0']);
  try {
    const links = await linkNames();
    for (const [parent, type] of [['lo', 'loopback'], ['mvtun0', 'none']] as const) {
      try {
        await mgr.createNetwork({ name: 'mvnotether', driver: 'macvlan', subnets: [{ subnet: '10.213.61.0/24' }], options: { parent } });
        assert.unreachable(`parent ${parent} accepted`);
      } catch (err) {
        assert.instance(err, ConfigError);
        assert.is((err as ConfigError).field, 'parent');
        assert.match((err as Error).message, `parent interface "${parent}" has link type ${type}, not ether: macvlan needs an Ethernet device`);
      }
      assert.is(mgr.listNetworks().length, 0, 'no network recorded');
      assert.equal(mgr.ipam.listPools(), [], 'its pool released');
    }
    assert.equal(await linkNames(), links, 'no link made');
  } finally {
    await inNs(undefined, ['ip', 'link', 'del', 'mvtun0'], [1]);
  }
});

t.run();
