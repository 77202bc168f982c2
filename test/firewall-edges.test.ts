/**
 * Firewall and port-publishing edges a review found wrong (each test failed before its fix):
 * a LAN neighbour routing 127.0.0.0/8 here reached ports published on 127.0.0.1 only (and the
 * old PREROUTING jump is replaced on upgrade), a failed publish dropped the record of a port
 * already published, ICC off let IPv6 through when the host has bridge-nf-call-ip6tables=0,
 * an internal network took ports it could never deliver, and a one-shot process kept an
 * older port table layout (and jump) after an upgrade. The "outside" netns is a LAN
 * neighbour (helpers linkOutside).
 */
import { createServer } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError } from '../core/index.js';
import { run, start, type Started } from '../core/exec/index.js';
import { Firewall } from '../core/firewall/index.js';
import { NetworkManager, type EndpointInfo } from '../drivers/index.js';
import { ask, cleanup, dropSandbox, inNs, linkOutside, newManager, newSandbox, publishedPorts, serve, UPLINK_HOST_IP as HOST_IP } from './helpers.js';

const t = suite('firewall edges');
let mgr: NetworkManager;
let dbFile: string;
const sbx: Record<string, string> = {};
const servers: Started[] = [];
const sb = (n: string) => sbx[n] ?? '';
const ipOf = (ep: EndpointInfo, f: 4 | 6) => ep.addresses.find((a) => a.family === f)?.ip ?? '';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.before(async () => {
  ({ mgr, dbFile } = newManager());
  for (const n of ['a', 'b', 'outside']) sbx[n] = await newSandbox(`fe-${n}`);
  await linkOutside(sb('outside'), 'feuplink0');
});

t.after.each(async () => {
  for (const s of servers.splice(0)) await s.stop();
  for (const ep of mgr.listEndpoints()) await mgr.detach(ep.id);
  for (const n of mgr.listNetworks()) await mgr.removeNetwork(n.id);
});

t.after(async () => {
  await cleanup(mgr, dbFile);
  await run(['ip', 'link', 'del', 'feuplink0'], { okCodes: [1] });
  for (const p of Object.values(sbx)) dropSandbox(p);
});

const attach = (network: string, s: string, extra: Record<string, unknown> = {}) =>
  mgr.attach({ network, sandbox: s, placement: { kind: 'netns', netnsPath: sb(s), ifname: 'eth0' }, holdHostPorts: true, ...extra });

/** A UDP server in `netns` that prints what it gets (bounded: exits after 10 s). */
function udpLogger(netns: string, port: number): Started {
  const code = `const s=require('dgram').createSocket('udp4');s.on('message',(m)=>console.log('got '+m));s.bind(${port},()=>console.log('ready'));setTimeout(()=>process.exit(0),10000)`;
  return start(['nsenter', `--net=${netns}`, process.execPath, '-e', code]);
}

t('a LAN neighbour routing 127.0.0.0/8 here does not reach a port published on 127.0.0.1 only', async () => {
  await mgr.createNetwork({ name: 'fe-lo', subnets: [{ subnet: '10.213.160.0/24' }] });
  const logger = udpLogger(sb('a'), 53);
  servers.push(logger);
  for (let i = 0; i < 50 && !logger.output().stdout.includes('ready'); i++) await sleep(20);
  await attach('fe-lo', 'a', { ports: [{ proto: 'udp', hostIp: '127.0.0.1', hostPort: 18053, containerPort: 53 }] });
  const o = sb('outside');
  // The neighbour sends 127.0.0.1 out of its eth0 to us (its own loopback routes removed).
  for (const r of ['127.0.0.0/8', '127.0.0.1']) await inNs(o, ['ip', 'route', 'del', 'table', 'local', 'local', r, 'dev', 'lo']);
  await inNs(o, ['sysctl', '-qw', 'net.ipv4.conf.eth0.route_localnet=1']);
  await inNs(o, ['ip', 'route', 'add', '127.0.0.0/8', 'via', HOST_IP, 'dev', 'eth0']);
  const send = (text: string) => inNs(o, [process.execPath, '-e', `const d=require('dgram').createSocket('udp4');d.send('${text}',18053,'127.0.0.1',()=>d.close())`]);
  await send('from-lan');
  // The host itself still reaches it (OUTPUT), and through the same container server.
  await run([process.execPath, '-e', "const d=require('dgram').createSocket('udp4');d.send('from-host',18053,'127.0.0.1',()=>d.close())"]);
  await sleep(300);
  assert.match(logger.output().stdout, /got from-host/, 'the host reaches its 127.0.0.1 port');
  assert.not.match(logger.output().stdout, /from-lan/, 'a datagram from the LAN reached the loopback-only port');
});

t('ensureBase replaces the PREROUTING jump of older versions (which took 127.0.0.0/8 too)', async () => {
  const fw = new Firewall();
  await fw.ensureBase();
  const old = ['-t', 'nat', '-I', 'PREROUTING', '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'TSNET-DNAT'];
  await run(['iptables', ...old]);
  fw.invalidate();
  await fw.ensureBase();
  const jumps = (await run(['iptables', '-t', 'nat', '-S', 'PREROUTING'])).stdout.split('\n').filter((l) => l.includes('TSNET-DNAT'));
  assert.equal(jumps, ['-A PREROUTING ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j TSNET-DNAT']);
});

t('a failed publish keeps a port the endpoint already published (record, rule and hold)', async () => {
  await mgr.createNetwork({ name: 'fe-pub', subnets: [{ subnet: '10.213.161.0/24' }] });
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(18082, '0.0.0.0', r));
  try {
    const a = await attach('fe-pub', 'a');
    await mgr.publish(a.id, [{ proto: 'tcp', hostPort: 18081, containerPort: 80 }], { holdHostPorts: true });
    const again = mgr.publish(a.id, [{ proto: 'tcp', hostPort: 18081, containerPort: 80 }, { proto: 'tcp', hostPort: 18082, containerPort: 81 }], { holdHostPorts: true });
    await again.then(() => assert.unreachable('18082 is taken by a host process'), () => undefined);
    assert.equal(mgr.getEndpoint(a.id)?.ports.map((p) => p.hostPort), [18081], 'the first publish is still recorded');
    assert.ok((await publishedPorts()).some((p) => p.includes('18081')), 'its DNAT element stays');
    await mgr.detach(a.id);
    assert.equal((await publishedPorts()).filter((p) => p.includes('18081')), [], 'no DNAT element left after detach');
  } finally {
    busy.close();
  }
});

t('ICC off blocks IPv6 within the network also when the host has bridge-nf-call-ip6tables=0', async () => {
  await run(['sysctl', '-qw', 'net.bridge.bridge-nf-call-ip6tables=0']);
  try {
    await mgr.createNetwork({ name: 'fe-icc', subnets: [{ subnet: '10.213.162.0/24' }, { subnet: 'fd74:736e:6574:a2::/64' }], options: { 'com.docker.network.bridge.enable_icc': 'false' } });
    const a = await attach('fe-icc', 'a');
    await attach('fe-icc', 'b');
    servers.push(await serve(sb('a'), 'tcp', 7000, 'a-7000'));
    assert.is(await ask(sb('b'), 'tcp', ipOf(a, 4), 7000), undefined, 'IPv4 blocked');
    assert.is(await ask(sb('b'), 'tcp', ipOf(a, 6), 7000), undefined, 'IPv6 blocked too');
  } finally {
    await run(['sysctl', '-qw', 'net.bridge.bridge-nf-call-ip6tables=1']);
  }
});

t('ports on an internal network are refused, naming the field, and nothing is held', async () => {
  await mgr.createNetwork({ name: 'fe-int', internal: true, subnets: [{ subnet: '10.213.163.0/24' }] });
  const ports = [{ proto: 'tcp' as const, hostPort: 18083, containerPort: 80 }];
  try {
    await attach('fe-int', 'a', { ports });
    assert.unreachable('accepted');
  } catch (err) {
    assert.instance(err, ConfigError);
    assert.is((err as ConfigError).field, 'ports');
    assert.match((err as Error).message, /internal/);
  }
  assert.is(mgr.listEndpoints().length, 0);
  const a = await attach('fe-int', 'a');
  await mgr.publish(a.id, ports).then(() => assert.unreachable('publish accepted'), (err: unknown) => assert.instance(err, ConfigError));
  const probe = createServer();
  await new Promise<void>((r, j) => probe.once('error', j).listen(18083, '0.0.0.0', r));
  probe.close();
});

t('a one-shot process (standalone CNI) re-makes a port table of an older layout once, and drops the old jump', async () => {
  const table = async () => (await run(['nft', 'list', 'chain', 'inet', 'tsnet', 'prerouting'])).stdout;
  await mgr.createNetwork({ name: 'fe-up', subnets: [{ subnet: '10.213.164.0/24' }] });
  const a = await attach('fe-up', 'a', { ports: [{ proto: 'tcp', hostPort: 18084, containerPort: 80 }] });
  // What an older tsnet left: prerouting without the 127/8 return, the old PREROUTING jump.
  await run(['nft', 'flush', 'chain', 'inet', 'tsnet', 'prerouting']);
  await run(['nft', 'add', 'rule', 'inet', 'tsnet', 'prerouting', 'fib', 'daddr', 'type', 'local', 'jump', 'ports']);
  await run(['iptables', '-t', 'nat', '-I', 'PREROUTING', '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'TSNET-DNAT']);
  const oneShot = NetworkManager.open(`${dbFile}-oneshot`, { lazyPortTable: true });
  try {
    const binding = { proto: 'tcp' as const, hostIp: '0.0.0.0', hostPort: 18085, containerIp: a.addresses[0]?.ip ?? '', containerPort: 80 };
    await oneShot.publishRules([binding]);
    assert.match(await table(), /ip daddr 127\.0\.0\.0\/8 return/, 'the table was re-made');
    const jumps = (await run(['iptables', '-t', 'nat', '-S', 'PREROUTING'])).stdout.split('\n').filter((l) => l.includes('TSNET-DNAT'));
    assert.equal(jumps, ['-A PREROUTING ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j TSNET-DNAT']);
    assert.ok((await publishedPorts()).some((p) => p.includes('18085')), 'the mapping went in');
    await oneShot.unpublishRules([binding]);
  } finally {
    oneShot.close();
    await run(['rm', '-f', `${dbFile}-oneshot`, `${dbFile}-oneshot-wal`, `${dbFile}-oneshot-shm`]);
  }
});

t.run();
