// IPv6 conntrack entries of a UDP port published on one host address are deleted too: the
// kernel's CTA_FILTER inverts IPv6 address matches, so the dump filtered by address returned
// none (failed before the fix). "outside" is a neighbour on a veth from the test's host netns.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Started } from '../core/exec/index.js';
import { closeConntrackSocket } from '../core/netlink/index.js';
import type { NetworkManager } from '../drivers/index.js';
import { ask, cleanup, dropSandbox, inNs, linkOutside, newManager, newSandbox, serve, UPLINK_HOST_IP6 } from './helpers.js';

const t = suite('IPv6 conntrack of a port published on one address');
let mgr: NetworkManager;
let dbFile: string;
const sbx: Record<string, string> = {};
const servers: Started[] = [];
const HOST6 = UPLINK_HOST_IP6;

t.before(async () => {
  ({ mgr, dbFile } = newManager());
  for (const n of ['a', 'outside']) sbx[n] = await newSandbox(`ct6-${n}`);
  await linkOutside(sbx.outside!, 'ct6up', { ipv6: true });
  await mgr.createNetwork({ name: 'ct6', ipv6: true, subnets: [{ subnet: '10.213.190.0/24' }, { subnet: 'fd74:736e:6574:be::/64' }], options: { bridge: 'ct6br0' } });
  servers.push(await serve(sbx.a!, 'udp', 53, 'dns-a'));
});

t.after(async () => {
  for (const s of servers) await s.stop();
  for (const ep of mgr.listEndpoints()) await mgr.detach(ep.id);
  await cleanup(mgr, dbFile);
  await inNs(undefined, ['ip', 'link', 'del', 'ct6up'], [1]);
  for (const p of Object.values(sbx)) dropSandbox(p);
  closeConntrackSocket();
});

for (const hostIp of ['::', HOST6]) {
  t(`IPv6, host IP ${hostIp}: a UDP flow that began before the publish is answered once it is`, async () => {
    const sport = hostIp === '::' ? 40101 : 40102;
    const port = hostIp === '::' ? 18064 : 18065;
    assert.is(await ask(sbx.outside, 'udp', HOST6, port, sport), undefined, 'nothing published yet');
    const ep = await mgr.attach({ network: 'ct6', sandbox: 'a', placement: { kind: 'netns', netnsPath: sbx.a!, ifname: 'eth0' } });
    const ip6 = ep.addresses.find((a) => a.family === 6)!.ip;
    await mgr.publishRules([{ proto: 'udp', hostIp, hostPort: port, containerIp: ip6, containerPort: 53 }]);
    try {
      // At once: the bridge's link-local address is not tentative (no DAD on it), so the host
      // solicits the container's address for the forwarded packet (it was ~2 s after each
      // first port, when the bridge's carrier came up and DAD ran again).
      const brAddrs = await inNs(undefined, ['ip', '-6', '-o', 'addr', 'show', 'dev', 'ct6br0']);
      assert.match(brAddrs.stdout, /inet6 fe80::/, 'the bridge has its link-local address');
      assert.not.match(brAddrs.stdout, /tentative/, 'and it is usable');
      assert.is(await ask(sbx.outside, 'udp', HOST6, port, sport + 50), 'dns-a', 'control: a new flow after the publish');
      assert.is(await ask(sbx.outside, 'udp', HOST6, port, sport), 'dns-a', 'the same flow, after the publish');
    } finally {
      await mgr.unpublishRules([{ proto: 'udp', hostIp, hostPort: port, containerIp: ip6, containerPort: 53 }]);
      await mgr.detach(ep.id);
    }
  });
}

t.run();
