// Docker's remote plugin protocol spoken directly to the plugin socket (no dockerd), in the
// throwaway host netns: every NetworkDriver and IpamDriver call, the kernel state they
// leave, persistence across a restart of the server, and protocol-shaped errors.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { NetworkManager } from '../drivers/index.js';
import { startDockerPlugin, type DockerPluginServer } from '../engine/daemon/docker-plugin.js';
import { DockerState } from '../libnetwork/index.js';
import { addrsOf, bindError, cleanup, dropSandbox, ipJson, firewallDump, inNs, linkNames, newManager, newSandbox } from './helpers.js';
import { pluginCall } from './docker-env.js';

const t = suite('docker plugin protocol');
let mgr: NetworkManager;
let dbFile: string;
let dir: string;
let server: DockerPluginServer;

t.before(async () => {
  ({ mgr, dbFile } = newManager());
  dir = mkdtempSync(join(tmpdir(), 'tsnet-plugin-'));
  server = await startDockerPlugin(mgr, dir);
});

t.after(async () => {
  await server.close();
  await cleanup(mgr, dbFile);
  rmSync(dir, { recursive: true, force: true });
});

const call = (method: string, body: unknown) => pluginCall(server.socket, method, body);
const hex = (c: string) => c.repeat(64);
const ok = async (method: string, body: unknown) => {
  const r = await call(method, body);
  assert.is(r.status, 200, `${method}: ${JSON.stringify(r.body)}`);
  assert.not.ok('Err' in r.body || 'Error' in r.body, `${method}: ${JSON.stringify(r.body)}`);
  return r.body;
};

t('Activate, capabilities, address spaces, discovery, content type', async () => {
  const a = await call('Plugin.Activate', {});
  assert.equal(a.body, { Implements: ['NetworkDriver', 'IpamDriver'] });
  assert.is(a.contentType, 'application/vnd.docker.plugins.v1.2+json');
  assert.equal(await ok('NetworkDriver.GetCapabilities', {}), { Scope: 'local', ConnectivityScope: 'local' });
  assert.equal(await ok('IpamDriver.GetCapabilities', {}), { RequiresMACAddress: false, RequiresRequestReplay: false });
  assert.equal(await ok('IpamDriver.GetDefaultAddressSpaces', {}), { LocalDefaultAddressSpace: 'tsnet-local', GlobalDefaultAddressSpace: 'tsnet-global' });
  assert.equal(await ok('NetworkDriver.DiscoverNew', { DiscoveryType: 1, DiscoveryData: {} }), {});
  assert.equal(await ok('NetworkDriver.DiscoverDelete', { DiscoveryType: 1, DiscoveryData: {} }), {});
});

t('tsnet IPAM + tsnet driver: the whole life of a network and an endpoint, as dockerd calls it', async () => {
  const nid = hex('1');
  const eid = hex('2');
  const pool = await ok('IpamDriver.RequestPool', { AddressSpace: 'tsnet-local', Pool: '10.213.80.0/24', SubPool: '', Options: {}, V6: false });
  const poolId = pool['PoolID'] as string;
  assert.is(pool['Pool'], '10.213.80.0/24');
  assert.equal(await ok('IpamDriver.RequestAddress', { PoolID: poolId, Address: '', Options: { RequestAddressType: 'com.docker.network.gateway' } }), { Address: '10.213.80.1/24', Data: {} });
  // A user-chosen gateway replaces the default while nothing uses the pool.
  assert.equal((await ok('IpamDriver.RequestAddress', { PoolID: poolId, Address: '10.213.80.254', Options: { RequestAddressType: 'com.docker.network.gateway' } }))['Address'], '10.213.80.254/24');
  await ok('NetworkDriver.CreateNetwork', {
    NetworkID: nid, Options: { 'com.docker.network.enable_ipv6': false, 'com.docker.network.generic': { 'com.docker.network.driver.mtu': '1400' } },
    IPv4Data: [{ AddressSpace: 'tsnet-local', Gateway: '10.213.80.254/24', Pool: '10.213.80.0/24' }], IPv6Data: [],
  });
  const net = mgr.getNetwork(nid);
  assert.is(net.name, `docker-${nid.slice(0, 12)}`);
  assert.equal(net.labels, { 'tsnet.owner': 'docker' });
  assert.equal(net.subnets.map((s) => [s.poolId, s.gateway]), [[poolId, '10.213.80.254']], 'the IPAM pool is adopted');
  const bridge = `tsbr-${nid.slice(0, 10)}`;
  assert.equal(await addrsOf(undefined, bridge), ['10.213.80.254/24']);

  const addr = await ok('IpamDriver.RequestAddress', { PoolID: poolId, Address: '', Options: null });
  assert.is(addr['Address'], '10.213.80.1/24');
  const portmap = [{ Proto: 6, IP: '', Port: 80, HostIP: '127.0.0.1', HostPort: 18081, HostPortEnd: 18081 }];
  const exposed = [{ Proto: 6, Port: 80 }];
  const created = await ok('NetworkDriver.CreateEndpoint', {
    NetworkID: nid, EndpointID: eid, Interface: { Address: '10.213.80.1/24', AddressIPv6: '', MacAddress: '' },
    Options: { 'com.docker.network.endpoint.exposedports': exposed, 'com.docker.network.portmap': portmap },
  });
  assert.equal(created, { Interface: { MacAddress: '02:42:0a:d5:50:01' } }, 'only the MAC Docker left empty');
  const join = await ok('NetworkDriver.Join', { NetworkID: nid, EndpointID: eid, SandboxKey: '/var/run/docker/netns/x', Options: {} });
  const src = (join['InterfaceName'] as { SrcName: string }).SrcName;
  assert.equal(join, { InterfaceName: { SrcName: src, DstPrefix: 'eth' }, Gateway: '10.213.80.254', StaticRoutes: [], DisableGatewayService: false });
  const [tmp] = await ipJson<{ address: string; mtu: number }[]>(undefined, ['link', 'show', src]);
  assert.equal([tmp?.address, tmp?.mtu], ['02:42:0a:d5:50:01', 1400]);

  assert.is(await bindError('tcp', '127.0.0.1', 18081), undefined, 'the port is free before');
  await ok('NetworkDriver.ProgramExternalConnectivity', { NetworkID: nid, EndpointID: eid, Options: { 'com.docker.network.endpoint.exposedports': exposed, 'com.docker.network.portmap': portmap } });
  assert.match(await firewallDump(), /tcp \. 127\.0\.0\.1 \. 18081 : 10\.213\.80\.1 \. 80/);
  assert.is(await bindError('tcp', '127.0.0.1', 18081), 'EADDRINUSE', 'held while published, as Docker holds it');
  const info = (await ok('NetworkDriver.EndpointOperInfo', { NetworkID: nid, EndpointID: eid }))['Value'] as Record<string, unknown>;
  assert.equal(info['com.docker.network.portmap'], [{ Proto: 6, IP: '10.213.80.1', Port: 80, HostIP: '127.0.0.1', HostPort: 18081, HostPortEnd: 18081 }]);
  assert.equal(info['com.docker.network.endpoint.exposedports'], exposed);
  assert.is(info['tsnet.joined'], true);

  await ok('NetworkDriver.RevokeExternalConnectivity', { NetworkID: nid, EndpointID: eid });
  assert.not.match(await firewallDump(), /18081/);
  assert.is(await bindError('tcp', '127.0.0.1', 18081), undefined, 'free once revoked');
  await ok('NetworkDriver.Leave', { NetworkID: nid, EndpointID: eid });
  await ok('NetworkDriver.DeleteEndpoint', { NetworkID: nid, EndpointID: eid });
  const links = await linkNames();
  assert.not.ok(links.includes(src), 'temporary interface gone');
  assert.not.ok(links.some((l) => l.startsWith('veth')), 'veth gone');
  await ok('IpamDriver.ReleaseAddress', { PoolID: poolId, Address: '10.213.80.1' });
  await ok('IpamDriver.ReleaseAddress', { PoolID: poolId, Address: '10.213.80.254' });
  // dockerd releases the pool before it deletes the network.
  await ok('IpamDriver.ReleasePool', { PoolID: poolId });
  await ok('NetworkDriver.DeleteNetwork', { NetworkID: nid });
  assert.not.ok((await linkNames()).includes(bridge));
  assert.is(mgr.ipam.getPool(poolId), undefined, 'pool deleted');
  assert.not.match(await firewallDump(), new RegExp(nid));
});

t('Docker\'s own IPAM: tsnet reserves Docker\'s addresses; null IPAM: tsnet chooses them', async () => {
  const nid = hex('3');
  await ok('NetworkDriver.CreateNetwork', {
    NetworkID: nid, Options: { 'com.docker.network.generic': {} },
    IPv4Data: [{ AddressSpace: 'LocalDefault', Pool: '10.213.81.0/24', Gateway: '10.213.81.1/24', AuxAddresses: { router: '10.213.81.250/24' } }],
  });
  const poolId = mgr.getNetwork(nid).subnets[0]!.poolId;
  assert.equal(await ok('NetworkDriver.CreateEndpoint', { NetworkID: nid, EndpointID: hex('4'), Interface: { Address: '10.213.81.7/24', MacAddress: '02:00:00:00:00:07' } }), {}, 'nothing to add');
  assert.is(mgr.store.allocations.get(poolId, '10.213.81.7')?.owner, `libnetwork-ep:${hex('4')}`);
  const dup = await call('NetworkDriver.CreateEndpoint', { NetworkID: nid, EndpointID: hex('5'), Interface: { Address: '10.213.81.7/24' } });
  assert.equal([dup.status, typeof dup.body['Err']], [409, 'string']);
  const aux = await call('NetworkDriver.CreateEndpoint', { NetworkID: nid, EndpointID: hex('5'), Interface: { Address: '10.213.81.250/24' } });
  assert.is(aux.status, 409, 'aux addresses are reserved');
  const outside = await call('NetworkDriver.CreateEndpoint', { NetworkID: nid, EndpointID: hex('5'), Interface: { Address: '10.9.9.9/24' } });
  assert.is(outside.status, 400);
  await ok('NetworkDriver.DeleteEndpoint', { NetworkID: nid, EndpointID: hex('4') });
  assert.is(mgr.store.allocations.get(poolId, '10.213.81.7'), undefined, 'released with the endpoint');
  await ok('NetworkDriver.DeleteNetwork', { NetworkID: nid });

  const nullNet = hex('6');
  await ok('NetworkDriver.CreateNetwork', { NetworkID: nullNet, Options: {}, IPv4Data: [], IPv6Data: [] });
  const subnet = mgr.getNetwork(nullNet).subnets[0]!.subnet;
  const r = await ok('NetworkDriver.CreateEndpoint', { NetworkID: nullNet, EndpointID: hex('7'), Interface: {} });
  const iface = r['Interface'] as { Address: string; MacAddress: string };
  assert.ok(iface.Address.startsWith(subnet.split('.').slice(0, 3).join('.')), `${iface.Address} in ${subnet}`);
  assert.match(iface.MacAddress, /^02:42:/);
  await ok('NetworkDriver.DeleteEndpoint', { NetworkID: nullNet, EndpointID: hex('7') });
  await ok('NetworkDriver.DeleteNetwork', { NetworkID: nullNet });
});

t('dual stack from tsnet\'s IPAM (default pools), and an internal network without gateways', async () => {
  const p4 = await ok('IpamDriver.RequestPool', { AddressSpace: 'tsnet-local', V6: false });
  const p6 = await ok('IpamDriver.RequestPool', { AddressSpace: 'tsnet-local', V6: true });
  assert.match(p6['Pool'] as string, /^fd74:736e:6574:[0-9a-f:]*\/64$/);
  const gw4 = (await ok('IpamDriver.RequestAddress', { PoolID: p4['PoolID'], Options: { RequestAddressType: 'com.docker.network.gateway' } }))['Address'] as string;
  const gw6 = (await ok('IpamDriver.RequestAddress', { PoolID: p6['PoolID'], Options: { RequestAddressType: 'com.docker.network.gateway' } }))['Address'] as string;
  const nid = hex('8');
  await ok('NetworkDriver.CreateNetwork', {
    NetworkID: nid, Options: { 'com.docker.network.enable_ipv6': true },
    IPv4Data: [{ Pool: p4['Pool'], Gateway: gw4 }], IPv6Data: [{ Pool: p6['Pool'], Gateway: gw6 }],
  });
  const a4 = (await ok('IpamDriver.RequestAddress', { PoolID: p4['PoolID'] }))['Address'] as string;
  const a6 = (await ok('IpamDriver.RequestAddress', { PoolID: p6['PoolID'] }))['Address'] as string;
  await ok('NetworkDriver.CreateEndpoint', { NetworkID: nid, EndpointID: hex('9'), Interface: { Address: a4, AddressIPv6: a6 } });
  const join = await ok('NetworkDriver.Join', { NetworkID: nid, EndpointID: hex('9'), SandboxKey: '/x' });
  assert.equal([join['Gateway'], join['GatewayIPv6']], [gw4.split('/')[0], gw6.split('/')[0]]);
  assert.equal(mgr.getEndpoint(hex('9'))?.addresses.map((a) => a.cidr), [a4, a6]);
  await ok('NetworkDriver.DeleteEndpoint', { NetworkID: nid, EndpointID: hex('9') });
  for (const [p, a] of [[p4, a4], [p6, a6]] as const) await ok('IpamDriver.ReleaseAddress', { PoolID: p['PoolID'], Address: a.split('/')[0] });
  await ok('NetworkDriver.DeleteNetwork', { NetworkID: nid });
  // Released after the network is gone this time.
  for (const p of [p4, p6]) await ok('IpamDriver.ReleasePool', { PoolID: p['PoolID'] });
  assert.is(mgr.ipam.listPools().length, 0);

  const internal = hex('a');
  await ok('NetworkDriver.CreateNetwork', { NetworkID: internal, Options: { 'com.docker.network.internal': true } });
  await ok('NetworkDriver.CreateEndpoint', { NetworkID: internal, EndpointID: hex('b'), Interface: {} });
  const j = await ok('NetworkDriver.Join', { NetworkID: internal, EndpointID: hex('b'), SandboxKey: '/x' });
  assert.not.ok('Gateway' in j);
  assert.is(j['DisableGatewayService'], true);
  await ok('NetworkDriver.DeleteEndpoint', { NetworkID: internal, EndpointID: hex('b') });
  await ok('NetworkDriver.DeleteNetwork', { NetworkID: internal });
});

t('state survives a restart: a new server over the same store carries on where the old one stopped', async () => {
  const nid = hex('c');
  const pool = await ok('IpamDriver.RequestPool', { Pool: '10.213.82.0/24' });
  await ok('IpamDriver.RequestAddress', { PoolID: pool['PoolID'], Options: { RequestAddressType: 'com.docker.network.gateway' } });
  await ok('NetworkDriver.CreateNetwork', { NetworkID: nid, IPv4Data: [{ Pool: '10.213.82.0/24', Gateway: '10.213.82.1/24' }] });
  const a = (await ok('IpamDriver.RequestAddress', { PoolID: pool['PoolID'] }))['Address'];
  await ok('NetworkDriver.CreateEndpoint', { NetworkID: nid, EndpointID: hex('d'), Interface: { Address: a } });
  await server.close();
  mgr.close();
  mgr = NetworkManager.open(dbFile);
  await mgr.reconcile();
  server = await startDockerPlugin(mgr, dir);
  await ok('NetworkDriver.Join', { NetworkID: nid, EndpointID: hex('d'), SandboxKey: '/x' });
  await ok('NetworkDriver.DeleteEndpoint', { NetworkID: nid, EndpointID: hex('d') });
  await ok('IpamDriver.ReleaseAddress', { PoolID: pool['PoolID'], Address: (a as string).split('/')[0] });
  await ok('IpamDriver.ReleasePool', { PoolID: pool['PoolID'] });
  await ok('NetworkDriver.DeleteNetwork', { NetworkID: nid });
  assert.is(mgr.listNetworks().length, 0);
});

t('tsnetd killed in DeleteEndpoint after the detach: the restart forgets the endpoint but keeps its address for dockerd\'s ReleaseAddress', async () => {
  const nid = hex('f');
  const eid = hex('9');
  const pool = await ok('IpamDriver.RequestPool', { Pool: '10.213.88.0/24' });
  const poolId = pool['PoolID'] as string;
  await ok('IpamDriver.RequestAddress', { PoolID: poolId, Options: { RequestAddressType: 'com.docker.network.gateway' } });
  await ok('NetworkDriver.CreateNetwork', { NetworkID: nid, IPv4Data: [{ Pool: '10.213.88.0/24', Gateway: '10.213.88.1/24' }] });
  const a = (await ok('IpamDriver.RequestAddress', { PoolID: poolId }))['Address'] as string;
  await ok('NetworkDriver.CreateEndpoint', { NetworkID: nid, EndpointID: eid, Interface: { Address: a } });
  await ok('NetworkDriver.Join', { NetworkID: nid, EndpointID: eid, SandboxKey: '/x' });
  // What DeleteEndpoint had done when tsnetd was killed: record marked, interface detached.
  const state = new DockerState(mgr.store);
  state.setEndpoint(eid, { ...state.endpoint(eid)!, deleting: true });
  await mgr.detach(eid);
  await server.close();
  mgr.close();
  mgr = NetworkManager.open(dbFile);
  await mgr.reconcile();
  server = await startDockerPlugin(mgr, dir);
  assert.is(mgr.store.kv.get(`libnetwork/endpoint/${eid}`), undefined, 'the endpoint record is forgotten');
  const ip = a.split('/')[0]!;
  const taken = await call('IpamDriver.RequestAddress', { PoolID: poolId, Address: ip });
  assert.ok('Error' in taken.body, `the address stays dockerd's until its ReleaseAddress: ${JSON.stringify(taken.body)}`);
  await ok('IpamDriver.ReleaseAddress', { PoolID: poolId, Address: ip }); // dockerd's, after its DeleteEndpoint
  await ok('IpamDriver.RequestAddress', { PoolID: poolId, Address: ip });
  await ok('IpamDriver.ReleaseAddress', { PoolID: poolId, Address: ip });
  await ok('NetworkDriver.DeleteNetwork', { NetworkID: nid });
  await ok('IpamDriver.ReleaseAddress', { PoolID: poolId, Address: '10.213.88.1' });
  await ok('IpamDriver.ReleasePool', { PoolID: poolId });
});

t('a pool Docker released whose network a killed DeleteNetwork left to reconcile is deleted at restart; its subnet can be had again', async () => {
  const nid = hex('e');
  const pool = await ok('IpamDriver.RequestPool', { Pool: '10.213.87.0/24' });
  const poolId = pool['PoolID'] as string;
  await ok('IpamDriver.RequestAddress', { PoolID: poolId, Options: { RequestAddressType: 'com.docker.network.gateway' } });
  await ok('NetworkDriver.CreateNetwork', { NetworkID: nid, IPv4Data: [{ Pool: '10.213.87.0/24', Gateway: '10.213.87.1/24' }] });
  await ok('IpamDriver.ReleaseAddress', { PoolID: poolId, Address: '10.213.87.1' });
  await ok('IpamDriver.ReleasePool', { PoolID: poolId }); // dockerd releases it before DeleteNetwork
  // tsnetd killed in DeleteNetwork after marking the network 'removing': the restart's
  // reconcile finishes the removal; dockerd has forgotten pool and network.
  mgr.store.networks.update(nid, { state: 'removing' });
  await server.close();
  mgr.close();
  mgr = NetworkManager.open(dbFile);
  await mgr.reconcile();
  assert.is(mgr.listNetworks().length, 0, 'reconcile removed the network');
  server = await startDockerPlugin(mgr, dir);
  assert.is(mgr.ipam.getPool(poolId), undefined, 'the released pool is gone');
  assert.is(mgr.store.kv.get(`libnetwork/pool/${poolId}`), undefined, 'and its record');
  const again = await ok('IpamDriver.RequestPool', { Pool: '10.213.87.0/24' });
  await ok('IpamDriver.ReleasePool', { PoolID: again['PoolID'] });
});

t('an endpoint whose container went while tsnetd was down is released at restart: interface, DNAT, port, address', async () => {
  const nid = hex('0');
  const [gone, moved, live] = ['01', '02', '03'].map((c) => c.repeat(32)) as [string, string, string];
  const pool = await ok('IpamDriver.RequestPool', { Pool: '10.213.86.0/24' });
  const poolId = pool['PoolID'] as string;
  await ok('IpamDriver.RequestAddress', { PoolID: poolId, Options: { RequestAddressType: 'com.docker.network.gateway' } });
  await ok('NetworkDriver.CreateNetwork', { NetworkID: nid, IPv4Data: [{ Pool: '10.213.86.0/24', Gateway: '10.213.86.1/24' }] });
  const ips: Record<string, string> = {};
  const hostEnds: Record<string, string> = {};
  const joinWithPort = async (eid: string, port: number) => {
    const a = (await ok('IpamDriver.RequestAddress', { PoolID: poolId }))['Address'] as string;
    ips[eid] = a.split('/')[0]!;
    await ok('NetworkDriver.CreateEndpoint', { NetworkID: nid, EndpointID: eid, Interface: { Address: a } });
    const j = await ok('NetworkDriver.Join', { NetworkID: nid, EndpointID: eid, SandboxKey: `/var/run/docker/netns/${eid.slice(0, 12)}` });
    const portmap = [{ Proto: 6, IP: '', Port: 80, HostIP: '', HostPort: port, HostPortEnd: port }];
    await ok('NetworkDriver.ProgramExternalConnectivity', { NetworkID: nid, EndpointID: eid, Options: { 'com.docker.network.portmap': portmap } });
    hostEnds[eid] = mgr.getEndpoint(eid)?.hostIfname ?? '';
    return (j['InterfaceName'] as { SrcName: string }).SrcName;
  };
  // `gone`: dockerd moved its interface back to the host at the container's end and then
  // could not reach tsnetd for Leave / DeleteEndpoint / ReleaseAddress (never moved here: the same state).
  const goneIf = await joinWithPort(gone, 18401);
  // `moved`: its sandbox netns was destroyed, taking the veth pair with it.
  const movedIf = await joinWithPort(moved, 18402);
  const sbMoved = await newSandbox('dk-moved');
  await inNs(undefined, ['ip', 'link', 'set', movedIf, 'netns', sbMoved]);
  // `live`: still in its sandbox; it must survive the restart untouched.
  const liveIf = await joinWithPort(live, 18403);
  const sbLive = await newSandbox('dk-live');
  await inNs(undefined, ['ip', 'link', 'set', liveIf, 'netns', sbLive]);
  await server.close();
  dropSandbox(sbMoved);
  mgr.close();
  mgr = NetworkManager.open(dbFile);
  const report = await mgr.reconcile();
  server = await startDockerPlugin(mgr, dir);
  try {
    assert.equal(report.endpointsReleased.sort(), [gone, moved]);
    const links = await linkNames();
    assert.not.ok(links.includes(goneIf), 'the interface dockerd moved back is deleted');
    for (const eid of [gone, moved]) {
      assert.not.ok(links.includes(hostEnds[eid]!), `host end ${hostEnds[eid]!} deleted`);
      assert.is(mgr.store.ports.list({ endpointId: eid }).length, 0, 'port reservation released');
      assert.is(mgr.store.allocations.get(poolId, ips[eid]!), undefined, `address ${ips[eid]!} released`);
      assert.is((await call('NetworkDriver.EndpointOperInfo', { NetworkID: nid, EndpointID: eid })).status, 404, 'record forgotten');
    }
    const dump = await firewallDump();
    assert.not.match(dump, /18401|18402/);
    assert.match(dump, new RegExp(`tcp \\. 18403 : ${ips[live]!.replace(/\./g, '\\.')} \\. 80`), 'the live one keeps its port');
    assert.ok((await linkNames(sbLive)).includes(liveIf), 'the live one keeps its interface');
    const info = (await ok('NetworkDriver.EndpointOperInfo', { NetworkID: nid, EndpointID: live }))['Value'] as Record<string, unknown>;
    assert.is(info['tsnet.joined'], true);
    // The port and the address can be had again.
    await joinWithPort(gone, 18401);
    await ok('NetworkDriver.DeleteEndpoint', { NetworkID: nid, EndpointID: gone });
  } finally {
    for (const eid of [gone, live]) await call('NetworkDriver.DeleteEndpoint', { NetworkID: nid, EndpointID: eid });
    dropSandbox(sbLive);
    for (const ip of Object.values(ips)) await call('IpamDriver.ReleaseAddress', { PoolID: poolId, Address: ip });
    await ok('IpamDriver.ReleasePool', { PoolID: poolId });
    await ok('NetworkDriver.DeleteNetwork', { NetworkID: nid });
  }
});

t('DeleteNetwork removes the endpoints dockerd did not delete (it forgets the network whatever the answer); tsnet\'s own rm still refuses', async () => {
  const nid = hex('4');
  const [joined, created] = ['41', '42'].map((c) => c.repeat(32)) as [string, string];
  await ok('NetworkDriver.CreateNetwork', { NetworkID: nid, IPv4Data: [{ Pool: '10.213.87.0/24', Gateway: '10.213.87.1/24' }] });
  const poolId = mgr.getNetwork(nid).subnets[0]!.poolId;
  await ok('NetworkDriver.CreateEndpoint', { NetworkID: nid, EndpointID: joined, Interface: { Address: '10.213.87.2/24' } });
  const j = await ok('NetworkDriver.Join', { NetworkID: nid, EndpointID: joined, SandboxKey: '/x' });
  const src = (j['InterfaceName'] as { SrcName: string }).SrcName;
  const hostEnd = mgr.getEndpoint(joined)?.hostIfname ?? '';
  const portmap = [{ Proto: 6, IP: '', Port: 80, HostIP: '', HostPort: 18404, HostPortEnd: 18404 }];
  await ok('NetworkDriver.ProgramExternalConnectivity', { NetworkID: nid, EndpointID: joined, Options: { 'com.docker.network.portmap': portmap } });
  await ok('NetworkDriver.CreateEndpoint', { NetworkID: nid, EndpointID: created, Interface: { Address: '10.213.87.3/24' } });
  assert.match(await firewallDump(), /18404/);

  await ok('NetworkDriver.DeleteNetwork', { NetworkID: nid });
  const bridge = `tsbr-${nid.slice(0, 10)}`;
  const links = await linkNames();
  for (const l of [bridge, src, hostEnd]) assert.not.ok(links.includes(l), `${l} deleted`);
  const dump = await firewallDump();
  assert.not.match(dump, /18404/);
  assert.not.match(dump, new RegExp(nid));
  assert.is(mgr.store.networks.get(nid), undefined);
  assert.equal([mgr.listEndpoints().length, mgr.store.ports.list({}).length], [0, 0]);
  assert.is(mgr.ipam.getPool(poolId), undefined, 'the pool is gone with the network (Docker\'s own IPAM)');
  for (const eid of [joined, created]) assert.is(mgr.store.kv.get(`libnetwork/endpoint/${eid}`), undefined);
  // The subnet and the port can be had again.
  const again = await mgr.createNetwork({ name: 'again', subnets: [{ subnet: '10.213.87.0/24' }] });
  const ep = await mgr.attach({ network: again.id, sandbox: 'x', placement: { kind: 'host-end', ifname: 'tsnagain0' }, ports: [{ hostPort: 18404, containerPort: 80, proto: 'tcp' }] });
  // tsnet's own networks keep refusing to go with endpoints in them.
  const refused = await mgr.removeNetwork(again.id).then(() => undefined, (err: Error) => err.message);
  assert.match(refused ?? 'removed', /has 1 active endpoint/);
  await mgr.detach(ep.id);
  await mgr.removeNetwork(again.id);
});

t('malformed bodies, unknown ids, overlaps and misuse get protocol-shaped errors; the server lives on', async () => {
  const expectErr = async (method: string, body: unknown, status: number, field: 'Err' | 'Error', re?: RegExp) => {
    const r = await call(method, body);
    assert.is(r.status, status, `${method} ${JSON.stringify(body)} -> ${r.status} ${JSON.stringify(r.body)}`);
    assert.type(r.body[field], 'string', `${method}: ${JSON.stringify(r.body)}`);
    if (re) assert.match(r.body[field] as string, re);
    assert.is(r.contentType, 'application/vnd.docker.plugins.v1.2+json');
  };
  await expectErr('NetworkDriver.CreateNetwork', '{"NetworkID": ', 400, 'Err', /not valid JSON/);
  await expectErr('NetworkDriver.CreateNetwork', '[1,2]', 400, 'Err', /JSON object/);
  await expectErr('NetworkDriver.CreateNetwork', { Options: {} }, 400, 'Err', /NetworkID/);
  await expectErr('NetworkDriver.CreateNetwork', { NetworkID: 'x/../y' }, 400, 'Err');
  await expectErr('NetworkDriver.CreateNetwork', { NetworkID: hex('e'), IPv4Data: 'nope' }, 400, 'Err');
  await expectErr('NetworkDriver.CreateNetwork', { NetworkID: hex('e'), Options: { 'com.docker.network.generic': { bogus: '1' } } }, 400, 'Err', /unknown bridge option "bogus"/);
  await expectErr('NetworkDriver.CreateNetwork', { NetworkID: hex('e'), Options: { 'com.docker.network.generic': { parent: 'nosuchdev0' } } }, 400, 'Err', /parent/);
  await expectErr('IpamDriver.RequestPool', '{oops', 400, 'Error', /not valid JSON/);
  await expectErr('IpamDriver.RequestAddress', { Address: '' }, 400, 'Error', /PoolID/);
  await expectErr('NetworkDriver.Frobnicate', {}, 404, 'Err', /unknown plugin method/);
  await expectErr('IpamDriver.Frobnicate', {}, 404, 'Error');
  // Unknown networks and endpoints.
  await expectErr('NetworkDriver.DeleteNetwork', { NetworkID: hex('f') }, 404, 'Err', /not found/);
  await expectErr('NetworkDriver.CreateEndpoint', { NetworkID: hex('f'), EndpointID: hex('f'), Interface: {} }, 404, 'Err');
  for (const m of ['Join', 'Leave', 'DeleteEndpoint', 'EndpointOperInfo', 'RevokeExternalConnectivity']) {
    await expectErr(`NetworkDriver.${m}`, { NetworkID: hex('f'), EndpointID: hex('f'), SandboxKey: '/x' }, 404, 'Err', /not found/);
  }
  // dockerd reads a 404 here as "not implemented" and would carry on: a 500 instead.
  await expectErr('NetworkDriver.ProgramExternalConnectivity', { NetworkID: hex('f'), EndpointID: hex('f') }, 500, 'Err', /not found/);
  // tsnet's own networks are not Docker's to touch.
  const native = await mgr.createNetwork({ name: 'native', subnets: [{ subnet: '10.213.83.0/24' }] });
  await expectErr('NetworkDriver.DeleteNetwork', { NetworkID: native.id }, 404, 'Err');
  await expectErr('NetworkDriver.DeleteNetwork', { NetworkID: 'native' }, 404, 'Err');
  assert.ok(mgr.getNetwork(native.id));
  // IPAM: overlaps (with tsnet's network and with another Docker pool), unknown pools and addresses: 200 + Error.
  await expectErr('IpamDriver.RequestPool', { Pool: '10.213.83.128/25' }, 200, 'Error', /overlaps pool 10\.213\.83\.0\/24/);
  const p = await ok('IpamDriver.RequestPool', { Pool: '10.213.84.0/24' });
  await expectErr('IpamDriver.RequestPool', { Pool: '10.213.84.0/24' }, 200, 'Error', /overlaps/);
  await expectErr('IpamDriver.RequestPool', { Pool: '10.213.85.5/24' }, 200, 'Error', /host bits/);
  await expectErr('IpamDriver.RequestPool', { Pool: '10.213.85.0/24', V6: true }, 200, 'Error', /not an IPv6/);
  await expectErr('IpamDriver.RequestPool', { Pool: '10.213.85.0/24', Options: { 'some.option': 'x' } }, 200, 'Error', /unknown IPAM option/);
  await expectErr('IpamDriver.RequestAddress', { PoolID: 'nosuchpool' }, 200, 'Error', /not found/);
  await expectErr('IpamDriver.RequestAddress', { PoolID: native.subnets[0]!.poolId }, 200, 'Error', /not found/);
  await expectErr('IpamDriver.RequestAddress', { PoolID: p['PoolID'], Address: '10.9.9.9' }, 200, 'Error', /not in subnet/);
  await ok('IpamDriver.RequestAddress', { PoolID: p['PoolID'], Address: '10.213.84.9' });
  await expectErr('IpamDriver.RequestAddress', { PoolID: p['PoolID'], Address: '10.213.84.9' }, 200, 'Error', /in use/);
  await expectErr('IpamDriver.ReleaseAddress', { PoolID: p['PoolID'], Address: '10.213.84.10' }, 200, 'Error', /not allocated/);
  await expectErr('IpamDriver.ReleasePool', { PoolID: 'nosuchpool' }, 200, 'Error', /not found/);
  await ok('IpamDriver.ReleasePool', { PoolID: p['PoolID'] });
  // Wrong verb and oversized bodies.
  const http = await import('node:http');
  const get = await new Promise<number>((resolve, reject) => {
    http.get({ socketPath: server.socket, path: '/Plugin.Activate' }, (res) => (res.resume(), resolve(res.statusCode ?? 0))).on('error', reject);
  });
  assert.is(get, 405);
  await expectErr('NetworkDriver.CreateNetwork', `{"NetworkID":"${'x'.repeat(1 << 21)}"}`, 413, 'Err');
  assert.is((await call('Plugin.Activate', {})).status, 200, 'still serving');
  await mgr.removeNetwork(native.id);
});

t.run();
