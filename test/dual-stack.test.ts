// IPv6 on a bridge network (dual stack), and the host and none drivers through the manager.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { NetworkManager } from '../drivers/index.js';
import { addrsOf, canPing, cleanup, dropSandbox, inNs, ipJson, linkNames, newManager, newSandbox } from './helpers.js';

const t = suite('dual stack, host and none');
let mgr: NetworkManager;
let dbFile: string;
const sbs: Record<string, string> = {};

t.before(async () => {
  ({ mgr, dbFile } = newManager());
  for (const n of ['v6a', 'v6b', 'nonebox']) sbs[n] = await newSandbox(n);
});

t.after(async () => {
  await cleanup(mgr, dbFile);
  for (const p of Object.values(sbs)) dropSandbox(p);
});

t('a dual-stack bridge network: v4 and v6 addresses, default routes, ping6 between sandboxes', async () => {
  const net = await mgr.createNetwork({ name: 'ds', ipv6: true, subnets: [{ subnet: '10.213.90.0/24' }, { subnet: 'fd74:736e:6574:90::/64' }] });
  assert.equal(net.subnets.map((s) => [s.family, s.gateway]), [[4, '10.213.90.1'], [6, 'fd74:736e:6574:90::1']]);
  const attach = (s: string) => mgr.attach({ network: 'ds', sandbox: s, placement: { kind: 'netns', netnsPath: sbs[s]!, ifname: 'eth0' } });
  const a = await attach('v6a');
  const b = await attach('v6b');
  const v6 = (e: typeof a) => e.addresses.find((x) => x.family === 6)!;
  assert.equal((await addrsOf(sbs['v6a'], 'eth0')).sort(), a.addresses.map((x) => x.cidr).sort());
  const routes6 = await ipJson<{ dst: string; gateway?: string }[]>(sbs['v6a'], ['-6', 'route', 'show', 'default']);
  assert.equal(routes6.map((r) => r.gateway), ['fd74:736e:6574:90::1']);
  assert.ok(await canPing(sbs['v6a'], v6(b).ip), 'ping6 a -> b');
  assert.ok(await canPing(sbs['v6b'], 'fd74:736e:6574:90::1'), 'ping6 b -> gateway');
  assert.ok(await canPing(sbs['v6a'], b.addresses.find((x) => x.family === 4)!.ip), 'ping4 a -> b');
  await mgr.detach(a.id);
  await mgr.detach(b.id);
  await mgr.removeNetwork('ds');
});

t('an IPv6-only network (ipv4: false): a default IPv6 subnet and no IPv4 one, sandboxes get only IPv6 and reach each other', async () => {
  const net = await mgr.createNetwork({ name: 'v6only', ipv4: false, ipv6: true });
  assert.equal(net.subnets.map((s) => s.family), [6]);
  const attach = (s: string) => mgr.attach({ network: 'v6only', sandbox: s, placement: { kind: 'netns', netnsPath: sbs[s]!, ifname: 'eth0' } });
  const a = await attach('v6a');
  const b = await attach('v6b');
  assert.equal(a.addresses.map((x) => x.family), [6]);
  assert.equal(await addrsOf(sbs['v6a'], 'eth0'), a.addresses.map((x) => x.cidr), 'no IPv4 address in the sandbox');
  assert.ok(await canPing(sbs['v6a'], b.addresses[0]!.ip), 'ping6 a -> b');
  await mgr.detach(a.id);
  await mgr.detach(b.id);
  await mgr.removeNetwork('v6only');
});

t('ipv6OffWithoutAddress (the engine, as Docker): IPv6 off on an IPv4-only endpoint\'s interface, kept with an IPv6 address or without the flag', async () => {
  await mgr.createNetwork({ name: 'v4only', subnets: [{ subnet: '10.213.91.0/24' }] });
  await mgr.createNetwork({ name: 'ds2', ipv6: true, subnets: [{ subnet: '10.213.92.0/24' }, { subnet: 'fd74:736e:6574:92::/64' }] });
  const attach = (network: string, s: string, ifname: string, off: boolean) =>
    mgr.attach({ network, sandbox: s, placement: { kind: 'netns', netnsPath: sbs[s]!, ifname }, ...(off ? { ipv6OffWithoutAddress: true } : {}) });
  const disabled = async (s: string, dev: string) => (await inNs(sbs[s], ['cat', `/proc/sys/net/ipv6/conf/${dev}/disable_ipv6`])).stdout.trim();
  const v6addrs = async (s: string, dev: string) => (await ipJson<{ addr_info: { family: string; local: string }[] }[]>(sbs[s], ['addr', 'show', 'dev', dev]))
    .flatMap((l) => l.addr_info.filter((a) => a.family === 'inet6').map((a) => a.local));
  const off = await attach('v4only', 'v6a', 'eth1', true);
  const dual = await attach('ds2', 'v6a', 'eth2', true);
  const kept = await attach('v4only', 'v6b', 'eth1', false);
  try {
    assert.is(await disabled('v6a', 'eth1'), '1');
    assert.equal(await v6addrs('v6a', 'eth1'), [], 'no link-local address either');
    assert.equal(await addrsOf(sbs['v6a'], 'eth1'), [off.addresses[0]!.cidr]);
    assert.ok(await canPing(sbs['v6a'], '10.213.91.1'), 'IPv4 works');
    assert.is(await disabled('v6a', 'eth2'), '0', 'an endpoint with an IPv6 address keeps IPv6');
    assert.ok((await v6addrs('v6a', 'eth2')).includes(dual.addresses.find((a) => a.family === 6)!.ip));
    assert.is(await disabled('v6b', 'eth1'), '0', 'without the flag (CNI) the kernel default stays');
  } finally {
    for (const ep of [off, dual, kept]) await mgr.detach(ep.id);
    await mgr.removeNetwork('v4only');
    await mgr.removeNetwork('ds2');
  }
});

t('none: only loopback, up; host: nothing is touched', async () => {
  await mgr.createNetwork({ name: 'none', driver: 'none' });
  await mgr.createNetwork({ name: 'host', driver: 'host' });
  await inNs(sbs['nonebox'], ['ip', 'link', 'set', 'lo', 'down']);
  const n = await mgr.attach({ network: 'none', sandbox: 'nb', placement: { kind: 'netns', netnsPath: sbs['nonebox']!, ifname: 'eth0' } });
  const links = await ipJson<{ ifname: string; flags: string[] }[]>(sbs['nonebox'], ['link', 'show']);
  assert.equal(links.map((l) => l.ifname), ['lo']);
  assert.ok(links[0]!.flags.includes('UP'), 'lo is up');
  assert.equal(n.addresses, []);
  const before = await linkNames();
  const h = await mgr.attach({ network: 'host', sandbox: 'hb', placement: { kind: 'netns', netnsPath: '/proc/self/ns/net', ifname: 'eth0' } });
  assert.equal(await linkNames(), before);
  assert.equal(h.addresses, []);
  await mgr.detach(n.id);
  await mgr.detach(h.id);
  await mgr.removeNetwork('none');
  await mgr.removeNetwork('host');
});

t.run();
