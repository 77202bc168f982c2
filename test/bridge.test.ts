// Bridge networks end to end, in the throwaway host netns: reachability, isolation,
// port publishing (127.0.0.1, host address, another host, hairpin, udp), internal networks.
import { createServer } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ConflictError } from '../core/index.js';
import { run, type Started } from '../core/exec/index.js';
import type { EndpointInfo, NetworkManager } from '../drivers/index.js';
import {
  addrsOf, ask, canPing, cleanup, dropSandbox, inNs, ipJson, firewallDump, linkNames, linkOutside, newManager, newSandbox, publishedPorts, serve,
  UPLINK_HOST_IP, UPLINK_OUTSIDE_IP,
} from './helpers.js';

const t = suite('bridge driver');
let mgr: NetworkManager;
let dbFile: string;
const sandboxes: Record<string, string> = {};
const servers: Started[] = [];
const HOST_IP = UPLINK_HOST_IP;
const OUTSIDE_IP = UPLINK_OUTSIDE_IP;
const HOST_IP6 = 'fd74:99::1';
const OUTSIDE_IP6 = 'fd74:99::2';

t.before(async () => {
  ({ mgr, dbFile } = newManager());
  for (const n of ['a', 'b', 'c', 'd', 'outside']) sandboxes[n] = await newSandbox(`br-${n}`);
  // "outside": another host, linked to our host netns by a veth (uplink0 <-> eth0).
  await linkOutside(sandboxes['outside']!, 'uplink0');
});

t.after(async () => {
  for (const s of servers) await s.stop();
  await cleanup(mgr, dbFile);
  await inNs(undefined, ['ip', 'link', 'del', 'uplink0'], [1]);
  for (const p of Object.values(sandboxes)) dropSandbox(p);
});

const sb = (n: string) => sandboxes[n]!;
const attach = (network: string, s: string, ifname = 'eth0', extra = {}) =>
  mgr.attach({ network, sandbox: s, placement: { kind: 'netns', netnsPath: sb(s), ifname }, ...extra });
const ip4 = (ep: EndpointInfo) => ep.addresses.find((a) => a.family === 4)!.ip;

t('two sandboxes on one network reach each other and the gateway; other networks are isolated', async () => {
  const n1 = await mgr.createNetwork({ name: 'n1', subnets: [{ subnet: '10.213.50.0/24' }] });
  await mgr.createNetwork({ name: 'n2', subnets: [{ subnet: '10.213.51.0/24', gateway: '10.213.51.254' }] });
  const gw1 = n1.subnets[0]!.gateway!;
  assert.is(gw1, '10.213.50.1');
  const bridge = `tsbr-${n1.id.slice(0, 10)}`;
  assert.ok((await linkNames()).includes(bridge), 'bridge exists');
  assert.equal(await addrsOf(undefined, bridge), ['10.213.50.1/24']);

  const a = await attach('n1', 'a');
  const b = await attach('n1', 'b');
  const c = await attach('n2', 'c');
  // Kernel state inside the sandbox: the address, the MAC derived from it, the default route.
  assert.equal(await addrsOf(sb('a'), 'eth0'), [a.addresses[0]!.cidr]);
  const [link] = await ipJson<{ address: string; master?: string }[]>(sb('a'), ['link', 'show', 'eth0']);
  assert.is(link?.address, a.mac);
  assert.ok(a.mac.startsWith('02:42:'), a.mac);
  const routes = await ipJson<{ dst: string; gateway?: string }[]>(sb('a'), ['route', 'show', 'default']);
  assert.equal(routes.map((r) => r.gateway), [gw1]);
  const [hostEnd] = await ipJson<{ master?: string }[]>(undefined, ['link', 'show', a.hostIfname!]);
  assert.is(hostEnd?.master, bridge);

  assert.ok(await canPing(sb('a'), ip4(b)), 'a -> b');
  assert.ok(await canPing(sb('b'), ip4(a)), 'b -> a');
  assert.ok(await canPing(sb('a'), gw1), 'a -> gateway');
  assert.ok(await canPing(sb('b'), gw1), 'b -> gateway');
  assert.ok(await canPing(sb('c'), '10.213.51.254'), 'c -> its gateway');
  assert.not.ok(await canPing(sb('c'), ip4(a)), 'c -> a is isolated');
  assert.not.ok(await canPing(sb('a'), ip4(c)), 'a -> c is isolated');

  const c2 = await attach('n1', 'c', 'eth1');
  assert.ok(await canPing(sb('c'), ip4(a)), 'c on both networks reaches a');
  for (const ep of [a, b, c, c2]) await mgr.detach(ep.id);
  assert.not.ok((await linkNames(sb('a'))).includes('eth0'), 'detach removed eth0');
  assert.not.ok((await linkNames()).includes(a.hostIfname!), 'detach removed the host end');
  await mgr.detach(a.id); // idempotent
  await mgr.removeNetwork('n1');
  await mgr.removeNetwork('n2');
  assert.not.ok((await linkNames()).includes(bridge), 'network rm deleted the bridge');
  assert.not.match(await firewallDump(), /10\.213\.5[01]\./);
});

t('published ports answer from 127.0.0.1, the host address, another host, and hairpin; udp too', async () => {
  await mgr.createNetwork({ name: 'web', subnets: [{ subnet: '10.213.52.0/24' }] });
  servers.push(await serve(sb('a'), 'tcp', 80, 'web-a'));
  servers.push(await serve(sb('a'), 'udp', 53, 'dns-a'));
  servers.push(await serve(sb('outside'), 'tcp', 9999, 'outside'));
  const a = await attach('web', 'a', 'eth0', {
    ports: [{ proto: 'tcp', containerPort: 80, hostPort: 18080 }, { proto: 'udp', containerPort: 53, hostPort: 18053 }],
  });
  const b = await attach('web', 'b');
  assert.is(a.ports.length, 2);
  assert.ok((await publishedPorts()).includes(`tcp . 18080 : ${ip4(a)} . 80`), (await publishedPorts()).join(', '));
  assert.ok((await publishedPorts()).includes(`udp . 18053 : ${ip4(a)} . 53`));

  assert.is(await ask(undefined, 'tcp', '127.0.0.1', 18080), 'web-a', 'from 127.0.0.1');
  assert.is(await ask(undefined, 'tcp', HOST_IP, 18080), 'web-a', 'from the host address');
  assert.is(await ask(sb('outside'), 'tcp', HOST_IP, 18080), 'web-a', 'from another host');
  assert.is(await ask(sb('b'), 'tcp', HOST_IP, 18080), 'web-a', 'hairpin from a sandbox on the same network');
  assert.is(await ask(undefined, 'udp', '127.0.0.1', 18053), 'dns-a', 'udp from 127.0.0.1');
  assert.is(await ask(sb('outside'), 'udp', HOST_IP, 18053), 'dns-a', 'udp from another host');
  assert.is(await ask(sb('a'), 'tcp', OUTSIDE_IP, 9999), 'outside', 'egress through masquerade');

  // The same host port again: a clear conflict, and nothing left of the failed attach.
  const before = (await linkNames()).length;
  try {
    await attach('web', 'c', 'eth0', { ports: [{ proto: 'tcp', containerPort: 80, hostPort: 18080 }] });
    assert.unreachable('port conflict accepted');
  } catch (err) {
    assert.instance(err, ConflictError);
    assert.match((err as Error).message, /18080/);
  }
  assert.is((await linkNames()).length, before);
  assert.not.ok((await linkNames(sb('c'))).includes('eth0'));
  assert.is(mgr.listEndpoints('web').length, 2);

  // No host port: an ephemeral one, which answers too.
  const c = await attach('web', 'c', 'eth0', { ports: [{ proto: 'tcp', containerPort: 80 }] });
  servers.push(await serve(sb('c'), 'tcp', 80, 'web-c'));
  const hp = c.ports[0]!.hostPort;
  assert.ok(hp >= 49153 && hp <= 60999, String(hp));
  assert.is(await ask(undefined, 'tcp', '127.0.0.1', hp), 'web-c');

  for (const ep of [a, b, c]) await mgr.detach(ep.id);
  assert.is(await ask(undefined, 'tcp', '127.0.0.1', 18080), undefined, 'unpublished after detach');
  assert.not.match(await firewallDump(), /18080|18053/);
  await mgr.removeNetwork('web');
});

t('an internal network has no egress and no masquerade', async () => {
  await mgr.createNetwork({ name: 'open', subnets: [{ subnet: '10.213.53.0/24' }] });
  await mgr.createNetwork({ name: 'closed', internal: true, subnets: [{ subnet: '10.213.54.0/24' }] });
  const a = await attach('open', 'a');
  const d = await attach('closed', 'd');
  const d2 = await attach('closed', 'b');
  assert.is(await ask(sb('a'), 'tcp', OUTSIDE_IP, 9999), 'outside', 'normal network has egress');
  assert.is(await ask(sb('d'), 'tcp', OUTSIDE_IP, 9999), undefined, 'internal network has no egress');
  assert.not.ok(await canPing(sb('d'), OUTSIDE_IP));
  assert.ok(await canPing(sb('d'), ip4(d2)), 'members of an internal network reach each other');
  const rules = await firewallDump();
  assert.match(rules, /-s 10\.213\.53\.0\/24 .*MASQUERADE/);
  assert.not.match(rules, /-s 10\.213\.54\.0\/24 .*MASQUERADE/);
  for (const ep of [a, d, d2]) await mgr.detach(ep.id);
  await mgr.removeNetwork('open');
  await mgr.removeNetwork('closed');
});

t('ICC off: sandboxes on the same network cannot talk, but reach the gateway', async () => {
  await mgr.createNetwork({ name: 'noicc', subnets: [{ subnet: '10.213.55.0/24' }], options: { 'com.docker.network.bridge.enable_icc': 'false' } });
  const a = await attach('noicc', 'a');
  const b = await attach('noicc', 'b');
  assert.ok(await canPing(sb('a'), '10.213.55.1'));
  assert.not.ok(await canPing(sb('a'), ip4(b)), 'icc off: a cannot reach b');
  assert.not.ok(await canPing(sb('b'), ip4(a)), 'icc off: b cannot reach a');
  for (const ep of [a, b]) await mgr.detach(ep.id);
  await mgr.removeNetwork('noicc');
});

t('a LAN neighbour routing the subnets via this host reaches published ports only; nat-unprotected per family lets it in', async () => {
  const out = sb('outside');
  // "outside" is the neighbour: its routes to both networks go via this host (v4 and v6).
  const routes = [['10.213.56.0/24', HOST_IP], ['fd74:56::/64', HOST_IP6], ['10.213.57.0/24', HOST_IP], ['fd74:57::/64', HOST_IP6]];
  await inNs(undefined, ['ip', 'addr', 'add', `${HOST_IP6}/64`, 'dev', 'uplink0', 'nodad']);
  await inNs(out, ['ip', 'addr', 'add', `${OUTSIDE_IP6}/64`, 'dev', 'eth0', 'nodad']);
  for (const [dst, via] of routes) await inNs(out, ['ip', 'route', 'add', dst!, 'via', via!]);
  const eps: EndpointInfo[] = [];
  try {
    await mgr.createNetwork({ name: 'shut', subnets: [{ subnet: '10.213.56.0/24' }, { subnet: 'fd74:56::/64' }] });
    // IPv4 unprotected, IPv6 left at the default (nat): each family has its own mode.
    await mgr.createNetwork({ name: 'open4', subnets: [{ subnet: '10.213.57.0/24' }, { subnet: 'fd74:57::/64' }], options: { 'com.docker.network.bridge.gateway_mode_ipv4': 'nat-unprotected' } });
    servers.push(await serve(sb('a'), 'tcp', 7080, 'a-7080'), await serve(sb('a'), 'tcp', 7081, 'a-7081'), await serve(sb('c'), 'tcp', 7081, 'c-7081'));
    servers.push(await serve(out, 'tcp', 9998, 'outside'));
    const a = await attach('shut', 'a', 'eth0', { ports: [{ proto: 'tcp', containerPort: 7080, hostPort: 18081 }] });
    const b = await attach('shut', 'b');
    const c = await attach('open4', 'c');
    eps.push(a, b, c);
    const ip6 = (ep: EndpointInfo) => ep.addresses.find((x) => x.family === 6)!.ip;

    assert.is(await ask(out, 'tcp', ip4(a), 7081), undefined, 'neighbour -> unpublished port (IPv4) is dropped');
    assert.is(await ask(out, 'tcp', ip6(a), 7081), undefined, 'neighbour -> unpublished port (IPv6) is dropped');
    assert.is(await ask(out, 'tcp', HOST_IP, 18081), 'a-7080', 'neighbour -> published port via the host address');
    assert.is(await ask(sb('a'), 'tcp', OUTSIDE_IP, 9998), 'outside', 'egress and its replies');
    assert.is(await ask(sb('b'), 'tcp', ip4(a), 7081), 'a-7081', 'ICC within the network');
    assert.is(await ask(sb('b'), 'tcp', HOST_IP, 18081), 'a-7080', 'hairpin to the published port');
    assert.is(await ask(undefined, 'tcp', '127.0.0.1', 18081), 'a-7080', 'host 127.0.0.1 -> published port');
    assert.is(await ask(undefined, 'tcp', ip4(a), 7081), 'a-7081', 'the host itself reaches the container');
    assert.is(await ask(sb('c'), 'tcp', ip4(a), 7081), undefined, 'other networks stay isolated');

    assert.is(await ask(out, 'tcp', ip4(c), 7081), 'c-7081', 'nat-unprotected (IPv4): neighbour reaches an unpublished port');
    assert.is(await ask(out, 'tcp', ip6(c), 7081), undefined, 'nat (IPv6 default) on the same network: dropped');
  } finally {
    for (const ep of eps) await mgr.detach(ep.id);
    for (const n of ['shut', 'open4']) if (mgr.listNetworks().some((x) => x.name === n)) await mgr.removeNetwork(n);
    for (const [dst, via] of routes) await inNs(out, ['ip', 'route', 'del', dst!, 'via', via!], [2]);
    await inNs(out, ['ip', 'addr', 'del', `${OUTSIDE_IP6}/64`, 'dev', 'eth0'], [2]);
    await inNs(undefined, ['ip', 'addr', 'del', `${HOST_IP6}/64`, 'dev', 'uplink0'], [2]);
  }
  assert.not.match(await firewallDump(), /10\.213\.5[67]\.|fd74:5[67]:/);
});

t('a container cannot reach the host\'s 127.0.0.1-only services through its gateway (route_localnet); the host still reaches 127.0.0.1:published port', async () => {
  // A host service bound to 127.0.0.1 only, in this test's host netns.
  const local = createServer((sock) => sock.end('host-loopback-only'));
  await new Promise<void>((r) => local.listen(18099, '127.0.0.1', r));
  const eps: EndpointInfo[] = [];
  try {
    await mgr.createNetwork({ name: 'localnet', subnets: [{ subnet: '10.213.58.0/24' }] });
    servers.push(await serve(sb('d'), 'tcp', 7082, 'd-7082'));
    const d = await attach('localnet', 'd', 'eth0', { ports: [{ proto: 'tcp', containerPort: 7082, hostPort: 18082 }] });
    eps.push(d);
    // What a container with CAP_NET_ADMIN (or raw sockets) can do: send to 127.0.0.0/8 via its
    // gateway, both of its own loopback routes gone (127.0.0.1 has one of its own).
    for (const r of ['127.0.0.0/8', '127.0.0.1']) await inNs(sb('d'), ['ip', 'route', 'del', 'table', 'local', 'local', r, 'dev', 'lo']);
    await inNs(sb('d'), ['sysctl', '-qw', 'net.ipv4.conf.eth0.route_localnet=1']);
    await inNs(sb('d'), ['ip', 'route', 'add', '127.0.0.0/8', 'via', '10.213.58.1', 'dev', 'eth0']);
    assert.match((await inNs(sb('d'), ['ip', 'route', 'get', '127.0.0.1'])).stdout, /via 10\.213\.58\.1/, 'the container sends 127.0.0.1 to the host');
    assert.is(await ask(sb('d'), 'tcp', '127.0.0.1', 18099), undefined, 'container -> host 127.0.0.1 service is dropped');
    // UDP (no handshake to fail otherwise): the datagram reaches the host and tsnet's rule drops it.
    const dropped = async () => Number(/^\s*(\d+)\s+\d+\s+DROP.*127\.0\.0\.0\/8/m.exec((await run(['iptables', '-L', 'TSNET-INPUT', '-v', '-x', '-n'])).stdout)?.[1] ?? -1);
    const before = await dropped();
    await inNs(sb('d'), [process.execPath, '-e', "const d=require('dgram').createSocket('udp4');d.send('x',18099,'127.0.0.1',()=>d.close())"]);
    assert.ok(await dropped() > before, 'the datagram to 127.0.0.1 was dropped by TSNET-INPUT');
    assert.match(await firewallDump(), /-A TSNET-INPUT -d 127\.0\.0\.0\/8 -i tsbr-\w+ -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT/);
    assert.is(await ask(undefined, 'tcp', '127.0.0.1', 18082), 'd-7082', 'host 127.0.0.1 -> published port still works');
  } finally {
    await new Promise((r) => local.close(r));
    for (const ep of eps) await mgr.detach(ep.id);
    if (mgr.listNetworks().some((x) => x.name === 'localnet')) await mgr.removeNetwork('localnet');
  }
  assert.not.match(await firewallDump(), /10\.213\.58\.|TSNET-INPUT -d/);
});

t('the bridge: multicast snooping off unless asked for, MTU pinned against smaller ports', async () => {
  type Br = { mtu: number; linkinfo?: { info_data?: { mcast_snooping?: number } } };
  const plain = await mgr.createNetwork({ name: 'snoop-off', subnets: [{ subnet: '10.213.60.0/24' }] });
  const on = await mgr.createNetwork({ name: 'snoop-on', subnets: [{ subnet: '10.213.61.0/24' }], options: { mcast_snooping: 'true', mtu: '1450' } });
  const show = async (net: { id: string }) => (await ipJson<Br[]>(undefined, ['-d', 'link', 'show', `tsbr-${net.id.slice(0, 10)}`]))[0];
  assert.is((await show(plain))?.linkinfo?.info_data?.mcast_snooping, 0);
  assert.is((await show(on))?.linkinfo?.info_data?.mcast_snooping, 1);
  assert.is((await show(on))?.mtu, 1450);
  // A port with a smaller MTU would pull an unpinned bridge's MTU down to its own.
  await inNs(undefined, ['ip', 'link', 'add', 'mtuprobe0', 'mtu', '1400', 'type', 'veth', 'peer', 'name', 'mtuprobe1']);
  try {
    await inNs(undefined, ['ip', 'link', 'set', 'mtuprobe0', 'master', `tsbr-${plain.id.slice(0, 10)}`]);
    assert.is((await show(plain))?.mtu, 1500);
  } finally {
    await inNs(undefined, ['ip', 'link', 'del', 'mtuprobe0']);
  }
  const a = await attach('snoop-off', 'a');
  const b = await attach('snoop-off', 'b');
  assert.ok(await canPing(sb('a'), ip4(b)), 'a -> b with snooping off');
  for (const ep of [a, b]) await mgr.detach(ep.id);
  await mgr.removeNetwork('snoop-off');
  await mgr.removeNetwork('snoop-on');
});

t('network rm deletes only a bridge tsnet made and no other network uses; someone else\'s stays as it was', async () => {
  type L = { ifname: string; ifalias?: string; master?: string };
  const link = async (dev: string) => (await ipJson<L[]>(undefined, ['link', 'show'])).find((l) => l.ifname === dev);
  // An admin's bridge with its own address and port, used by a network.
  await inNs(undefined, ['ip', 'link', 'add', 'adminbr0', 'type', 'bridge']);
  await inNs(undefined, ['ip', 'addr', 'add', '192.0.2.1/24', 'dev', 'adminbr0']);
  await inNs(undefined, ['ip', 'link', 'add', 'adminport0', 'master', 'adminbr0', 'type', 'veth', 'peer', 'name', 'adminport1']);
  try {
    await mgr.createNetwork({ name: 'on-admin', subnets: [{ subnet: '10.213.64.0/24' }], options: { bridge: 'adminbr0' } });
    assert.equal(await addrsOf(undefined, 'adminbr0'), ['192.0.2.1/24', '10.213.64.1/24']);
    await mgr.removeNetwork('on-admin');
    assert.ok(await link('adminbr0'), 'the admin bridge stays');
    assert.is((await link('adminport0'))?.master, 'adminbr0', 'with its port');
    assert.equal(await addrsOf(undefined, 'adminbr0'), ['192.0.2.1/24', '10.213.64.1/24'], 'and its addresses, as the reference plugin leaves them');
  } finally {
    await inNs(undefined, ['ip', 'link', 'del', 'adminport0'], [1]);
    await inNs(undefined, ['ip', 'link', 'del', 'adminbr0'], [1]);
  }
  // One bridge tsnet made, used by two CNI networks (the only ones that may share one, as
  // conflists share the reference plugin's cni0): it goes with the last of them.
  const cni = (name: string) => ({ 'tsnet.cni.kind': 'bridge', 'tsnet.cni.name': name });
  await mgr.createNetwork({ name: 'share-a', subnets: [{ subnet: '10.213.65.0/24' }], options: { bridge: 'sharedbr0' }, labels: cni('a') });
  await mgr.createNetwork({ name: 'share-b', subnets: [{ subnet: '10.213.66.0/24' }], options: { bridge: 'sharedbr0' }, labels: cni('b') });
  assert.is((await link('sharedbr0'))?.ifalias, 'tsnet');
  const a = await attach('share-a', 'a');
  await mgr.removeNetwork('share-b');
  assert.equal(await addrsOf(undefined, 'sharedbr0'), ['10.213.65.1/24'], 'share-b\'s gateway gone, share-a\'s kept');
  assert.ok(await canPing(sb('a'), '10.213.65.1'), 'share-a still works');
  await mgr.detach(a.id);
  await mgr.removeNetwork('share-a');
  assert.not.ok(await link('sharedbr0'), 'deleted with the last network');
});

t('a bridge whose creator was cut short before its alias (known by its network-derived MAC) is tsnet\'s: completed by ensure, deleted by rm', async () => {
  type L = { ifname: string; ifalias?: string };
  const link = async (dev: string) => (await ipJson<L[]>(undefined, ['link', 'show'])).find((l) => l.ifname === dev);
  await mgr.createNetwork({ name: 'cut-short', subnets: [{ subnet: '10.213.71.0/24' }], options: { bridge: 'cutbr0' } });
  // What a process killed between the bridge's creation and its alias leaves.
  await inNs(undefined, ['ip', 'link', 'set', 'cutbr0', 'alias', '']);
  assert.not.ok((await link('cutbr0'))?.ifalias, 'alias cleared');
  await mgr.reconcile();
  assert.is((await link('cutbr0'))?.ifalias, 'tsnet', 'reconcile (ensureNetwork) sets the alias again');
  await inNs(undefined, ['ip', 'link', 'set', 'cutbr0', 'alias', '']);
  await mgr.removeNetwork('cut-short');
  assert.not.ok(await link('cutbr0'), 'deleted with its network');
});

t('an engine (or Docker) network cannot take a bridge another network uses; CNI networks may share one among themselves', async () => {
  const refused = (p: Promise<unknown>) => p.then(() => undefined, (err: { message: string; code: string; field?: string }) => [err.code, err.field, err.message]);
  const cni = (name: string) => ({ 'tsnet.cni.kind': 'bridge', 'tsnet.cni.name': name });
  await mgr.createNetwork({ name: 'eng-a', subnets: [{ subnet: '10.213.67.0/24' }], options: { 'com.docker.network.bridge.name': 'engbr0' } });
  await mgr.createNetwork({ name: 'cni-a', subnets: [{ subnet: '10.213.68.0/24' }], options: { bridge: 'cnibr0' }, labels: cni('a') });
  try {
    assert.equal(await refused(mgr.createNetwork({ name: 'eng-b', subnets: [{ subnet: '10.213.69.0/24' }], options: { 'com.docker.network.bridge.name': 'engbr0' } })),
      ['conflict', 'com.docker.network.bridge.name', 'create network "eng-b": com.docker.network.bridge.name: bridge "engbr0" is already used by network "eng-a"']);
    assert.equal((await refused(mgr.createNetwork({ name: 'eng-c', subnets: [{ subnet: '10.213.69.0/24' }], options: { bridge: 'cnibr0' } })))?.slice(0, 2), ['conflict', 'bridge'], 'an engine network on a CNI network\'s bridge');
    assert.equal((await refused(mgr.createNetwork({ name: 'cni-c', subnets: [{ subnet: '10.213.69.0/24' }], options: { bridge: 'engbr0' }, labels: cni('c') })))?.[0], 'conflict', 'a CNI network on an engine network\'s bridge');
    assert.equal(mgr.listNetworks().map((n) => n.name).sort(), ['cni-a', 'eng-a'], 'nothing recorded by the refused creates');
    assert.equal(mgr.ipam.listPools().map((p) => p.subnet).sort(), ['10.213.67.0/24', '10.213.68.0/24'], 'no pool left by them');
    await mgr.createNetwork({ name: 'cni-b', subnets: [{ subnet: '10.213.69.0/24' }], options: { bridge: 'cnibr0' }, labels: cni('b') });
    await mgr.removeNetwork('cni-b');
  } finally {
    await mgr.removeNetwork('eng-a');
    await mgr.removeNetwork('cni-a');
  }
});

t('veth ends: one TX/RX queue each unless veth_queues asks for more', async () => {
  type Q = { num_tx_queues: number; num_rx_queues: number };
  const queues = async (ns: string | undefined, dev: string) => {
    const l = (await ipJson<Q[]>(ns, ['-d', 'link', 'show', dev]))[0];
    return [l?.num_tx_queues, l?.num_rx_queues];
  };
  await mgr.createNetwork({ name: 'q-default', subnets: [{ subnet: '10.213.62.0/24' }] });
  await mgr.createNetwork({ name: 'q-three', subnets: [{ subnet: '10.213.63.0/24' }], options: { veth_queues: '3' } });
  const a = await attach('q-default', 'a');
  const b = await attach('q-three', 'b');
  assert.equal([await queues(undefined, a.hostIfname ?? ''), await queues(sb('a'), 'eth0')], [[1, 1], [1, 1]]);
  assert.equal([await queues(undefined, b.hostIfname ?? ''), await queues(sb('b'), 'eth0')], [[3, 3], [3, 3]]);
  assert.ok(await canPing(sb('a'), '10.213.62.1'), 'one queue: traffic flows');
  for (const ep of [a, b]) await mgr.detach(ep.id);
  await mgr.removeNetwork('q-default');
  await mgr.removeNetwork('q-three');
});

t.run();
