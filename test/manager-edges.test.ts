/**
 * Network manager edges a review found wrong (each test failed before its fix): two creates
 * without a subnet at once picked the same default subnet, an attach racing removeNetwork
 * left the network stuck in 'removing', a network with two IPv4 subnets gave each
 * endpoint an address in both and refused a static address of the second, a burst of
 * parallel attaches overflowed the netlink socket (every one failed, veths leaked), an MTU
 * below 1280 failed every attach, a bridge attach right after a macvlan detach of the same
 * name failed in tsnetd, detaching the endpoint with the default route left the sandbox
 * with none, an internal network took the default route, a MAC given in upper case was
 * recorded so, a stale endpoint's detach deleted the interface of the netns that
 * replaced its own at the same path, and a network whose rules could not be removed kept
 * its bridge.
 */
import { statSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ConflictError } from '../core/index.js';
import { run } from '../core/exec/index.js';
import { deferLinkDeletes, settleRetired } from '../core/link-reaper/index.js';
import { createNetns, deleteNetns } from '../core/netns/index.js';
import type { NetworkManager } from '../drivers/index.js';
import { addrsOf, cleanup, dropSandbox, inNs, ipJson, linkNames, newManager, newSandbox } from './helpers.js';

const t = suite('manager edges');
let mgr: NetworkManager;
let dbFile: string;
const sbx: Record<string, string> = {};
const sb = (n: string) => sbx[n] ?? '';
const netns = (s: string, ifname = 'eth0') => ({ kind: 'netns' as const, netnsPath: sb(s), ifname });

t.before(async () => {
  ({ mgr, dbFile } = newManager());
  for (const n of ['a', 'b', 'c']) sbx[n] = await newSandbox(`me-${n}`);
});

t.after.each(async () => {
  for (const ep of mgr.listEndpoints()) await mgr.detach(ep.id);
  for (const n of mgr.listNetworks()) await mgr.removeNetwork(n.id);
});

t.after(async () => {
  await cleanup(mgr, dbFile);
  for (const p of Object.values(sbx)) dropSandbox(p);
});

t('two creates without a subnet at once get two default subnets', async () => {
  const rs = await Promise.allSettled([mgr.createNetwork({ name: 'me-ra' }), mgr.createNetwork({ name: 'me-rb' })]);
  assert.equal(rs.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason)), []);
  const subnets = mgr.listNetworks().filter((n) => n.name.startsWith('me-r')).map((n) => n.subnets[0]?.subnet);
  assert.is(new Set(subnets).size, 2, JSON.stringify(subnets));
});

t('an attach racing removeNetwork: the removal wins, the attach is refused, nothing is stuck', async () => {
  await mgr.createNetwork({ name: 'me-race', subnets: [{ subnet: '10.213.170.0/24' }] });
  const [rm, at] = await Promise.allSettled([
    mgr.removeNetwork('me-race'),
    new Promise((r) => setImmediate(r)).then(() => mgr.attach({ network: 'me-race', sandbox: 'a', placement: netns('a') })),
  ]);
  assert.is(rm.status, 'fulfilled', rm.status === 'rejected' ? String(rm.reason) : '');
  assert.is(at.status, 'rejected', 'the attach to a network being removed succeeded');
  assert.instance((at as PromiseRejectedResult).reason, ConflictError);
  assert.is(mgr.store.networks.get('me-race'), undefined, 'no network row left');
  assert.equal(await addrsOf(sb('a')), [], 'nothing in the sandbox');
});

t('two IPv4 subnets: one address per endpoint, a static one from either subnet, the next subnet when the first is full', async () => {
  await mgr.createNetwork({ name: 'me-two', subnets: [{ subnet: '10.213.171.0/30' }, { subnet: '10.213.172.0/24' }] });
  const first = await mgr.attach({ network: 'me-two', sandbox: 'a', placement: netns('a') });
  assert.equal(first.addresses.map((x) => x.cidr), ['10.213.171.2/30'], 'one IPv4 address, from the first subnet');
  assert.equal(await addrsOf(sb('a'), 'eth0'), ['10.213.171.2/30']);
  const fixed = await mgr.attach({ network: 'me-two', sandbox: 'b', ipv4: '10.213.172.50', placement: netns('b') });
  assert.equal(fixed.addresses.map((x) => x.cidr), ['10.213.172.50/24'], 'a static address of the second subnet');
  assert.equal(await addrsOf(sb('b'), 'eth0'), ['10.213.172.50/24']);
  mgr.checkStaticAddress('me-two', '10.213.172.51', 4, 'ipv4');
  // The /30's one usable address is taken: the next endpoint gets one from the second subnet.
  const next = await mgr.attach({ network: 'me-two', sandbox: 'c', placement: netns('c') });
  assert.equal(next.addresses.map((x) => x.cidr), ['10.213.172.2/24']);
});

t('a burst of 64 parallel attaches to a network not attached to yet: all succeed, unique addresses, nothing left after', async () => {
  // Each looks the new bridge up (a GETLINK answer of a few kB): 64 answers overflowed the socket.
  await mgr.createNetwork({ name: 'me-burst', subnets: [{ subnet: '10.213.173.0/24' }] });
  const eps = await Promise.all(Array.from({ length: 64 }, (_, i) => mgr.attach({ network: 'me-burst', sandbox: `burst${i}`, placement: netns('a', `e${i}`) })));
  assert.is(new Set(eps.map((e) => e.addresses[0]?.ip)).size, 64);
  assert.is((await linkNames(sb('a'))).length, 65, '64 interfaces and lo');
  await Promise.all(eps.map((e) => mgr.detach(e.id)));
  assert.equal(await linkNames(sb('a')), ['lo']);
});

t('a network with an MTU below 1280 (no IPv6 on its links): attach works', async () => {
  await mgr.createNetwork({ name: 'me-mtu', subnets: [{ subnet: '10.213.174.0/24' }], options: { mtu: '1200' } });
  const ep = await mgr.attach({ network: 'me-mtu', sandbox: 'a', placement: netns('a') });
  const [link] = await ipJson<{ mtu: number }[]>(sb('a'), ['link', 'show', 'eth0']);
  assert.is(link?.mtu, 1200);
  await mgr.detach(ep.id);
});

t('deferred deletes (tsnetd): a bridge attach right after a macvlan detach with the same ifname', async () => {
  await run(['ip', 'link', 'add', 'meparent', 'type', 'veth', 'peer', 'name', 'meparentp']);
  await run(['ip', 'link', 'set', 'meparent', 'up']);
  deferLinkDeletes(true);
  try {
    await mgr.createNetwork({ name: 'me-mv', driver: 'macvlan', subnets: [{ subnet: '10.213.175.0/24' }], options: { parent: 'meparent' } });
    await mgr.createNetwork({ name: 'me-br', subnets: [{ subnet: '10.213.176.0/24' }] });
    const m = await mgr.attach({ network: 'me-mv', sandbox: 'a', placement: netns('a') });
    await mgr.detach(m.id);
    const b = await mgr.attach({ network: 'me-br', sandbox: 'a', placement: netns('a') });
    await mgr.detach(b.id);
  } finally {
    await settleRetired();
    deferLinkDeletes(false);
    await run(['ip', 'link', 'del', 'meparent'], { okCodes: [1] });
  }
});

t('detaching the endpoint that had the default route moves it to another of the sandbox; an internal network never takes it', async () => {
  await mgr.createNetwork({ name: 'me-int', internal: true, subnets: [{ subnet: '10.213.177.0/24' }] });
  await mgr.createNetwork({ name: 'me-g1', subnets: [{ subnet: '10.213.178.0/24' }] });
  await mgr.createNetwork({ name: 'me-g2', subnets: [{ subnet: '10.213.179.0/24' }] });
  const defaults = async () => (await inNs(sb('a'), ['ip', 'route', 'show', 'default'])).stdout.trim();
  const i = await mgr.attach({ network: 'me-int', sandbox: 'a', placement: netns('a', 'eth0') });
  assert.is(await defaults(), '', 'no default route through an internal network');
  const g1 = await mgr.attach({ network: 'me-g1', sandbox: 'a', placement: netns('a', 'eth1') });
  await mgr.attach({ network: 'me-g2', sandbox: 'a', placement: netns('a', 'eth2') });
  assert.match(await defaults(), /^default via 10\.213\.178\.1 dev eth1/);
  await mgr.detach(g1.id);
  assert.match(await defaults(), /^default via 10\.213\.179\.1 dev eth2/, 'moved to the remaining network');
  await mgr.detach(i.id);
  assert.match(await defaults(), /^default via 10\.213\.179\.1 dev eth2/, 'detaching the internal one changes nothing');
});

t('a network whose rules cannot be removed: its bridge goes anyway, the record stays for a retry, and the retry finishes', async () => {
  await mgr.createNetwork({ name: 'undo', subnets: [{ subnet: '10.213.77.0/24' }], options: { bridge: 'undobr0' } });
  const fw = (mgr as unknown as { firewall: { apply: (c: { remove?: unknown[] }) => Promise<void> } }).firewall;
  const apply = fw.apply;
  fw.apply = async (c) => (c.remove ? Promise.reject(new Error('injected: iptables-restore failed')) : apply.call(fw, c));
  try {
    await mgr.removeNetwork('undo');
    assert.unreachable('removal succeeded');
  } catch (err) {
    assert.match((err as Error).message, /injected/);
  } finally {
    fw.apply = apply;
  }
  assert.not.ok((await linkNames()).includes('undobr0'), 'the bridge was removed all the same');
  assert.is(mgr.store.networks.get(mgr.getNetwork('undo').id)?.state, 'removing', 'the record stays');
  assert.match((await run(['iptables-save'])).stdout, /undobr0/, 'with its rules');
  await mgr.removeNetwork('undo');
  assert.not.match((await run(['iptables-save'])).stdout, /undobr0/, 'the retry removed the rules');
  assert.is(mgr.listNetworks().some((n) => n.name === 'undo'), false);
});

t('a MAC given in upper case is recorded and returned as the kernel shows it', async () => {
  await mgr.createNetwork({ name: 'me-mac', subnets: [{ subnet: '10.213.180.0/24' }] });
  const ep = await mgr.attach({ network: 'me-mac', sandbox: 'a', mac: '02:AB:CD:00:11:22', placement: netns('a') });
  assert.is(ep.mac, '02:ab:cd:00:11:22');
  assert.is(mgr.getEndpoint(ep.id)?.mac, '02:ab:cd:00:11:22');
  await mgr.check(ep.id);
});

t('a stale endpoint whose netns path holds another netns now: its detach leaves the new one\'s interface alone', async () => {
  await run(['ip', 'link', 'add', 'mestale', 'type', 'veth', 'peer', 'name', 'mestalep']);
  await run(['ip', 'link', 'set', 'mestale', 'up']);
  try {
    await mgr.createNetwork({ name: 'me-mv2', driver: 'macvlan', subnets: [{ subnet: '10.213.181.0/24' }], options: { parent: 'mestale' } });
    await mgr.createNetwork({ name: 'me-br2', subnets: [{ subnet: '10.213.182.0/24' }] });
    for (const network of ['me-mv2', 'me-br2']) {
      const old = await mgr.attach({ network, sandbox: 'old', placement: netns('c') });
      // The engine's sandbox paths are reused: the old netns goes, a new one is mounted there.
      deleteNetns(sb('c'));
      createNetns(sb('c'));
      const cur = await mgr.attach({ network, sandbox: 'cur', placement: netns('c') });
      await mgr.detach(old.id);
      assert.equal((await linkNames(sb('c'))).sort(), ['eth0', 'lo'], `${network}: the new sandbox keeps its eth0`);
      await mgr.check(cur.id);
      await mgr.detach(cur.id);
    }
  } finally {
    await run(['ip', 'link', 'del', 'mestale'], { okCodes: [1] });
  }
});

t('the same, once the kernel has handed the old netns inode number to the new one: the macvlan MAC tells them apart', async () => {
  await run(['ip', 'link', 'add', 'mereuse', 'type', 'veth', 'peer', 'name', 'mereusep']);
  await run(['ip', 'link', 'set', 'mereuse', 'up']);
  try {
    await mgr.createNetwork({ name: 'me-mv3', driver: 'macvlan', subnets: [{ subnet: '10.213.193.0/24' }], options: { parent: 'mereuse' } });
    const old = await mgr.attach({ network: 'me-mv3', sandbox: 'old', placement: netns('c') });
    deleteNetns(sb('c'));
    createNetns(sb('c'));
    const cur = await mgr.attach({ network: 'me-mv3', sandbox: 'cur', placement: netns('c') });
    // Freed netns inode numbers are handed out again, lowest first: the new netns may well
    // have the old one's. Made certain here by recording the new number on the old endpoint.
    const row = mgr.store.endpoints.get(old.id);
    if (!row) throw new Error('no row');
    mgr.store.endpoints.update(old.id, { options: { ...row.options, netnsIno: statSync(sb('c')).ino } });
    await mgr.detach(old.id);
    assert.equal((await linkNames(sb('c'))).sort(), ['eth0', 'lo'], 'the new sandbox keeps its eth0');
    await mgr.detach(cur.id);
  } finally {
    await run(['ip', 'link', 'del', 'mereuse'], { okCodes: [1] });
  }
});

t.run();
