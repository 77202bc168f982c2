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
