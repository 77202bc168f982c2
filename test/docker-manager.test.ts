// The NetworkManager additions the Docker front-end uses, in the throwaway host netns:
// adopting an IPAM caller's pool, attaching with caller-allocated addresses in a host-end
// placement, and publish / unpublish on an existing endpoint.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, ConflictError, NotFoundError } from '../core/index.js';
import type { NetworkManager } from '../drivers/index.js';
import { addrsOf, cleanup, inNs, ipJson, firewallDump, linkNames, newManager } from './helpers.js';

const t = suite('manager: pools, addresses and ports given by the caller');
let mgr: NetworkManager;
let dbFile: string;

t.before(() => {
  ({ mgr, dbFile } = newManager());
});

t.after(async () => {
  await cleanup(mgr, dbFile);
  await inNs(undefined, ['ip', 'link', 'del', 'dmpar0'], [1]);
});

const hostEnd = (ifname: string) => ({ kind: 'host-end' as const, ifname });

async function rejects(p: Promise<unknown>, cls: abstract new (...args: never[]) => Error): Promise<void> {
  try {
    await p;
  } catch (e) {
    assert.instance(e, cls);
    return;
  }
  assert.unreachable(`should reject with ${cls.name}`);
}

t('a network adopts an unassigned pool and hands it back, allocations kept, when removed', async () => {
  const pool = mgr.ipam.createPool({ subnet: '10.213.70.0/24', gateway: '10.213.70.254' });
  mgr.ipam.allocate(pool.id, { owner: 'caller', ip: '10.213.70.9' });
  const net = await mgr.createNetwork({ name: 'dm-adopt', subnets: [{ subnet: '10.213.70.0/24', poolId: pool.id }] });
  assert.equal(net.subnets.map((s) => [s.poolId, s.gateway]), [[pool.id, '10.213.70.254']]);
  assert.equal(await addrsOf(undefined, `tsbr-${net.id.slice(0, 10)}`), ['10.213.70.254/24']);
  assert.is(mgr.ipam.getPool(pool.id)?.networkId, net.id);
  await mgr.removeNetwork(net.id);
  const back = mgr.ipam.getPool(pool.id);
  assert.ok(back, 'pool still exists');
  assert.is(back?.networkId, undefined);
  assert.equal(mgr.ipam.allocationsOf(pool.id).map((a) => a.ip).sort(), ['10.213.70.254', '10.213.70.9']);
  assert.not.ok((await linkNames()).includes(`tsbr-${net.id.slice(0, 10)}`));
  mgr.ipam.deletePool(pool.id, { force: true });
});

t('adopting an unknown, taken or mismatched pool fails and leaves everything as it was', async () => {
  const pool = mgr.ipam.createPool({ subnet: '10.213.71.0/24' });
  await rejects(mgr.createNetwork({ name: 'dm-x', subnets: [{ subnet: '10.213.72.0/24', poolId: 'nope' }] }), NotFoundError);
  await rejects(mgr.createNetwork({ name: 'dm-x', subnets: [{ subnet: '10.213.72.0/24', poolId: pool.id }] }), ConfigError);
  const owner = await mgr.createNetwork({ name: 'dm-owner', subnets: [{ subnet: '10.213.71.0/24', poolId: pool.id }] });
  await rejects(mgr.createNetwork({ name: 'dm-x', subnets: [{ subnet: '10.213.71.0/24', poolId: pool.id }] }), ConflictError);
  assert.not.ok(mgr.listNetworks().some((n) => n.name === 'dm-x'));
  await mgr.removeNetwork(owner.id);
  assert.is(mgr.ipam.getPool(pool.id)?.networkId, undefined);
  mgr.ipam.deletePool(pool.id, { force: true });
});

t('preallocated addresses: used as given in a host-end placement, left allocated at detach', async () => {
  const net = await mgr.createNetwork({ name: 'dm-pre', subnets: [{ subnet: '10.213.73.0/24' }] });
  const poolId = net.subnets[0]!.poolId;
  mgr.ipam.allocate(poolId, { owner: 'docker', ip: '10.213.73.40' });
  const ep = await mgr.attach({ network: net.id, sandbox: 'sbx', placement: hostEnd('dmtmp0'), ipv4: '10.213.73.40', preallocated: true, mac: '02:42:0a:d5:49:28' });
  assert.equal(ep.addresses.map((a) => [a.cidr, a.gateway]), [['10.213.73.40/24', '10.213.73.1']]);
  // The interface waits in the host netns under its temporary name, the veth's other end on the bridge.
  const [tmp] = await ipJson<{ address: string }[]>(undefined, ['link', 'show', 'dmtmp0']);
  assert.is(tmp?.address, '02:42:0a:d5:49:28');
  const [host] = await ipJson<{ master?: string }[]>(undefined, ['link', 'show', ep.hostIfname!]);
  assert.is(host?.master, `tsbr-${net.id.slice(0, 10)}`);
  assert.is(mgr.store.allocations.get(poolId, '10.213.73.40')?.owner, 'docker');
  await mgr.detach(ep.id);
  assert.not.ok((await linkNames()).includes('dmtmp0'));
  assert.is(mgr.store.allocations.get(poolId, '10.213.73.40')?.owner, 'docker', 'still the caller\'s');
  await rejects(mgr.attach({ network: net.id, sandbox: 'sbx', placement: hostEnd('dmtmp1'), ipv4: '10.213.73.41', preallocated: true }), ConflictError);
  await rejects(mgr.attach({ network: net.id, sandbox: 'sbx', placement: hostEnd('dmtmp1'), ipv4: '10.9.9.9', preallocated: true }), ConfigError);
  assert.not.ok((await linkNames()).includes('dmtmp1'));
  assert.is(mgr.listEndpoints(net.id).length, 0);
  mgr.ipam.release(poolId, '10.213.73.40');
  await mgr.removeNetwork(net.id);
});

t('publish and unpublish on an attached endpoint: DNAT rules and reservations, all or nothing', async () => {
  const net = await mgr.createNetwork({ name: 'dm-pub', subnets: [{ subnet: '10.213.74.0/24' }] });
  const a = await mgr.attach({ network: net.id, sandbox: 'a', placement: hostEnd('dmtmpa') });
  const b = await mgr.attach({ network: net.id, sandbox: 'b', placement: hostEnd('dmtmpb') });
  const bindings = await mgr.publish(a.id, [{ proto: 'tcp', containerPort: 80, hostIp: '127.0.0.1', hostPort: 18090 }, { proto: 'udp', containerPort: 53 }]);
  assert.is(bindings.length, 2);
  assert.equal(bindings[0], { proto: 'tcp', hostIp: '127.0.0.1', hostPort: 18090, containerIp: '10.213.74.2', containerPort: 80 });
  assert.match(await firewallDump(), /tcp \. 127\.0\.0\.1 \. 18090 : 10\.213\.74\.2 \. 80/);
  assert.is(mgr.getEndpoint(a.id)?.ports.length, 2);
  const before = await firewallDump();
  await rejects(mgr.publish(b.id, [{ proto: 'tcp', containerPort: 81 }, { proto: 'tcp', containerPort: 80, hostPort: 18090 }]), ConflictError);
  assert.is(mgr.getEndpoint(b.id)?.ports.length, 0);
  assert.is(await firewallDump(), before);
  await mgr.unpublish(a.id);
  assert.not.match(await firewallDump(), /18090/);
  assert.is(mgr.getEndpoint(a.id)?.ports.length, 0);
  await mgr.unpublish(a.id);
  await mgr.publish(b.id, [{ proto: 'tcp', containerPort: 80, hostPort: 18090 }]);
  await mgr.detach(b.id);
  assert.not.match(await firewallDump(), /18090/);
  await rejects(mgr.publish('nope', [{ proto: 'tcp', containerPort: 1 }]), NotFoundError);
  await mgr.detach(a.id);
  await mgr.removeNetwork(net.id);
});

t('publish on a macvlan endpoint is refused', async () => {
  await inNs(undefined, ['ip', 'link', 'add', 'dmpar0', 'type', 'veth', 'peer', 'name', 'dmpar1']);
  const net = await mgr.createNetwork({ name: 'dm-mv', driver: 'macvlan', options: { parent: 'dmpar0' }, subnets: [{ subnet: '10.213.75.0/24' }] });
  const ep = await mgr.attach({ network: net.id, sandbox: 'm', placement: hostEnd('dmtmpm') });
  await rejects(mgr.publish(ep.id, [{ proto: 'tcp', containerPort: 80 }]), ConfigError);
  await mgr.detach(ep.id);
  assert.not.ok((await linkNames()).includes('dmtmpm'));
  await mgr.removeNetwork(net.id);
});

t.run();
