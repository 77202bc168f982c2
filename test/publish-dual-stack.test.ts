// Published ports on a dual-stack network, as Docker 27+ publishes them: with no host IP asked,
// on both families (one host port number), so an IPv6 client reaches the container through the
// host's IPv6 address too; a host IP of one family publishes that family only; an IPv6-only
// network publishes IPv6. "outside" is another host on a veth from the test's host netns.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { connect } from 'node:net';
import type { Started } from '../core/exec/index.js';
import type { NetworkManager, PortRequest } from '../drivers/index.js';
import { ask, cleanup, dropSandbox, inNs, linkOutside, newManager, newSandbox, serve, UPLINK_HOST_IP, UPLINK_HOST_IP6 } from './helpers.js';

const t = suite('published ports on both families');
let mgr: NetworkManager;
let dbFile: string;
const sbx: Record<string, string> = {};
const servers: Started[] = [];
const sb = (n: string) => sbx[n]!;
const attach = (network: string, ports: PortRequest[]) =>
  mgr.attach({ network, sandbox: 'a', placement: { kind: 'netns', netnsPath: sb('a'), ifname: 'eth0' }, ports });

t.before(async () => {
  ({ mgr, dbFile } = newManager());
  for (const n of ['a', 'outside']) sbx[n] = await newSandbox(`pds-${n}`);
  await linkOutside(sb('outside'), 'pdsup0', { ipv6: true });
  await mgr.createNetwork({ name: 'pds', ipv6: true, subnets: [{ subnet: '10.213.93.0/24' }, { subnet: 'fd74:736e:6574:93::/64' }] });
  await mgr.createNetwork({ name: 'pds6', ipv4: false, ipv6: true, subnets: [{ subnet: 'fd74:736e:6574:94::/64' }] });
  servers.push(await serve(sb('a'), 'tcp', 80, 'web-a'));
});

t.after.each(async () => {
  for (const ep of mgr.listEndpoints()) await mgr.detach(ep.id);
});

t.after(async () => {
  for (const s of servers) await s.stop();
  await cleanup(mgr, dbFile);
  await inNs(undefined, ['ip', 'link', 'del', 'pdsup0'], [1]);
  for (const p of Object.values(sbx)) dropSandbox(p);
});

const fromOutside = (host: string, port: number) => ask(sb('outside'), 'tcp', host, port);

t('no host IP: both families, one port number; the container answers on the host\'s IPv4 and IPv6 addresses', async () => {
  const ep = await attach('pds', [{ proto: 'tcp', containerPort: 80 }]);
  const ips = ep.ports.map((p) => p.hostIp).sort();
  assert.equal(ips, ['0.0.0.0', '::']);
  const [p4, p6] = [ep.ports.find((p) => p.hostIp === '0.0.0.0')!, ep.ports.find((p) => p.hostIp === '::')!];
  assert.is(p4.hostPort, p6.hostPort, 'one host port number');
  assert.ok(p6.containerIp.startsWith('fd74:736e:6574:93::'), 'IPv6 to the container\'s IPv6 address');
  const map = (await inNs(undefined, ['nft', 'list', 'map', 'inet', 'tsnet', 'dnat6'])).stdout;
  assert.match(map, new RegExp(`tcp \\. ${p6.hostPort} : ${p6.containerIp} \\. 80`), 'the IPv6 DNAT element');
  assert.is(await fromOutside(UPLINK_HOST_IP, p4.hostPort), 'web-a', 'over IPv4');
  assert.is(await fromOutside(UPLINK_HOST_IP6, p6.hostPort), 'web-a', 'over IPv6');
  await mgr.detach(ep.id);
  assert.not.match((await inNs(undefined, ['nft', 'list', 'map', 'inet', 'tsnet', 'dnat6'])).stdout, new RegExp(`${p6.hostPort} :`), 'removed at detach');
});

t('a host IP publishes its family only: 0.0.0.0 IPv4, [::] IPv6', async () => {
  const ep = await attach('pds', [{ proto: 'tcp', containerPort: 80, hostPort: 18094, hostIp: '0.0.0.0' }, { proto: 'tcp', containerPort: 80, hostPort: 18095, hostIp: '::' }]);
  assert.equal(ep.ports.map((p) => `${p.hostIp}/${p.hostPort}`), ['0.0.0.0/18094', '::/18095']);
  assert.is(await fromOutside(UPLINK_HOST_IP6, 18094), undefined, '18094 is IPv4 only');
  assert.is(await fromOutside(UPLINK_HOST_IP, 18095), undefined, '18095 is IPv6 only');
  assert.is(await fromOutside(UPLINK_HOST_IP6, 18095), 'web-a');
});

t('an IPv6-only network publishes IPv6; an IPv4 host IP there is a ConfigError naming the field, nothing made', async () => {
  const ep = await attach('pds6', [{ proto: 'tcp', containerPort: 80, hostPort: 18096 }]);
  assert.equal(ep.ports.map((p) => p.hostIp), ['::']);
  assert.is(await fromOutside(UPLINK_HOST_IP6, 18096), 'web-a');
  await mgr.detach(ep.id);
  try {
    await attach('pds6', [{ proto: 'tcp', containerPort: 80, hostPort: 18097, hostIp: '127.0.0.1' }]);
    assert.unreachable('an IPv4 host IP accepted');
  } catch (err) {
    assert.match((err as Error).message, /ports\[0\]: host IP 127\.0\.0\.1 is IPv4 and the endpoint has no IPv4 address/);
  }
  assert.equal(mgr.listEndpoints(), [], 'nothing left');
});

/** How a TCP connect from the test's host netns ends: 'connected', an error code, or 'timeout' (3 s). */
function connectOutcome(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const sock = connect({ host, port });
    const timer = setTimeout(() => done('timeout'), 3000);
    function done(outcome: string): void {
      clearTimeout(timer);
      sock.destroy();
      resolve(outcome);
    }
    sock.once('connect', () => done('connected'));
    sock.once('error', (err: NodeJS.ErrnoException) => done(err.code ?? String(err)));
  });
}

t('the host\'s own [::1] to a port published on [::]: refused at once, as an unpublished port (no DNAT can take ::1), hold or not; 127.0.0.1 works', async () => {
  const ep = await mgr.attach({ network: 'pds', sandbox: 'a', placement: { kind: 'netns', netnsPath: sb('a'), ifname: 'eth0' }, ports: [{ proto: 'tcp', containerPort: 80, hostPort: 18099 }], holdHostPorts: true });
  assert.equal(ep.ports.map((p) => p.hostIp), ['0.0.0.0', '::']);
  assert.is(await connectOutcome('::1', 18099), 'ECONNREFUSED', 'it hung for the TCP timeout');
  assert.is(await ask(undefined, 'tcp', '127.0.0.1', 18099), 'web-a');
});

t('host IPs that cannot work are ConfigErrors naming the field: [::1]; an IPv6 one on an IPv4-only endpoint; none on an IPv6-only network that binds ports to an IPv4 address', async () => {
  const refused = async (network: string, ports: PortRequest[], message: RegExp) => {
    try {
      await attach(network, ports);
      assert.unreachable(JSON.stringify(ports));
    } catch (err) {
      assert.match((err as Error).message, message);
    }
    assert.equal(mgr.listEndpoints(), [], 'nothing left');
  };
  await refused('pds', [{ proto: 'tcp', containerPort: 80, hostPort: 18100, hostIp: '0::1' }], /ports\[0\]: host IP ::1 cannot reach a container/);
  await mgr.createNetwork({ name: 'pds4', subnets: [{ subnet: '10.213.95.0/24' }] });
  await refused('pds4', [{ proto: 'tcp', containerPort: 80, hostPort: 18101, hostIp: UPLINK_HOST_IP6 }], /ports\[0\]: host IP fd99::1 is IPv6 and the endpoint has no IPv6 address/);
  await mgr.createNetwork({ name: 'pds6lo', ipv4: false, ipv6: true, subnets: [{ subnet: 'fd74:736e:6574:96::/64' }], options: { host_binding_ipv4: '127.0.0.1' } });
  await refused('pds6lo', [{ proto: 'tcp', containerPort: 80, hostPort: 18102 }], /ports\[0\]: the network publishes on 127\.0\.0\.1 \(host_binding_ipv4\)/);
  const ok = await attach('pds6lo', [{ proto: 'tcp', containerPort: 80, hostPort: 18102, hostIp: '::' }]);
  assert.equal(ok.ports.map((p) => p.hostIp), ['::'], 'a host IP given: published');
});

t.run();
