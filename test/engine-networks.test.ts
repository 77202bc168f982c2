// tsnetd + tsnet end to end, networks: what create, inspect, connect and run must refuse or
// show (one daemon for the suite, in the test's throwaway host netns). Each test checks the
// CLI's message and exit code and that nothing was left behind (store rows, links, rules).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { run } from '../core/exec/index.js';
import { api, cli, cliJson, dropDaemon, inspectContainer, startDaemon, stopDaemon, type Daemon } from './daemon.js';
import { bindError, firewallDump, ipJson, settledLinks } from './helpers.js';

const t = suite('engine networks');
let d: Daemon;

t.before(async () => {
  d = await startDaemon();
});

t.after(async () => {
  if (d) await dropDaemon(d);
});

interface Summary { Name: string; Networks: string[] }
const inspect = (name: string) => inspectContainer(d, name);
/** The networks in a container's recorded configuration (what start will attach). */
const configured = async (name: string) => (await cliJson<Summary[]>(d, ['ps', '-a'])).find((c) => c.Name === name)?.Networks;

/** Runs a CLI command that must fail: exit 1 and the message on stderr. */
async function refused(args: string[], message: RegExp): Promise<string> {
  const r = await cli(d, args, [1]);
  assert.is(r.exitCode, 1, args.join(' '));
  assert.match(r.stderr, message, args.join(' '));
  return r.stderr;
}

t('network connect --ip on a stopped container is checked as on a running one', async () => {
  await cli(d, ['network', 'create', '--subnet', '10.213.230.0/24', 'static']);
  await cli(d, ['run', '-d', '--name', 'holder', '--network', 'static', '--ip', '10.213.230.5', 'busybox', 'sleep', '300']);
  await cli(d, ['run', '-d', '--name', 'idle', 'busybox', 'sleep', '300']);
  await cli(d, ['run', '-d', '--name', 'busy', 'busybox', 'sleep', '300']);
  await cli(d, ['stop', '-t', '0', 'idle']);
  assert.is((await inspect('idle')).State.Running, false);
  const cases: [string, RegExp][] = [
    ['bogus', /IPv4Address: invalid IP address "bogus"/],
    ['10.9.9.9', /IPv4Address: address 10\.9\.9\.9 is not in subnet 10\.213\.230\.0\/24/],
    ['fd00::5', /IPv4Address: fd00::5 is not an IPv4 address/],
    ['10.213.230.255', /IPv4Address: address 10\.213\.230\.255 is reserved/],
    ['10.213.230.5', /IPv4Address: address 10\.213\.230\.5 is already in use/],
    ['10.213.230.1', /IPv4Address: address 10\.213\.230\.1 is already in use \(gateway\)/],
  ];
  for (const [ip, message] of cases) {
    const stopped = await refused(['network', 'connect', '--ip', ip, 'static', 'idle'], message);
    // The same words for a running container.
    assert.is(await refused(['network', 'connect', '--ip', ip, 'static', 'busy'], message), stopped.replace('idle', 'busy'));
  }
  assert.equal(await configured('idle'), ['bridge'], 'nothing recorded');
  assert.equal(await configured('busy'), ['bridge']);
  // A good address is recorded and taken at start.
  await cli(d, ['network', 'connect', '--ip', '10.213.230.7', 'static', 'idle']);
  assert.equal(await configured('idle'), ['bridge', 'static']);
  await cli(d, ['start', 'idle']);
  const i = await inspect('idle');
  assert.is(i.NetworkSettings.Networks['static']?.IPAddress, '10.213.230.7');
  const [eth1] = await ipJson<{ addr_info: { local: string }[] }[]>(i.NetworkSettings.SandboxKey, ['addr', 'show', 'eth1']);
  assert.equal(eth1?.addr_info.map((a) => a.local), ['10.213.230.7']);
  await cli(d, ['rm', '-f', 'holder', 'idle', 'busy']);
  await cli(d, ['network', 'rm', 'static']);
});

t('network inspect shows IPAM.Config IPRange and AuxiliaryAddresses when set, as Docker', async () => {
  await cli(d, ['network', 'create', '--subnet', '10.213.231.0/24', '--ip-range', '10.213.231.128/25', '--gateway', '10.213.231.254',
    '--aux-address', 'router=10.213.231.2', '--aux-address', 'printer=10.213.231.3', 'ranged']);
  await cli(d, ['network', 'create', '--subnet', '10.213.232.0/24', 'plain']);
  type Net = { IPAM: { Config: Record<string, unknown>[] } };
  const [ranged, plain] = await cliJson<Net[]>(d, ['network', 'inspect', 'ranged', 'plain']);
  assert.equal(ranged?.IPAM.Config, [{
    Subnet: '10.213.231.0/24', IPRange: '10.213.231.128/25', Gateway: '10.213.231.254',
    AuxiliaryAddresses: { router: '10.213.231.2', printer: '10.213.231.3' },
  }]);
  assert.equal(plain?.IPAM.Config, [{ Subnet: '10.213.232.0/24', Gateway: '10.213.232.1' }], 'unset fields are left out');
  // What inspect shows is what IPAM does: a container's address comes from the range.
  await cli(d, ['run', '-d', '--name', 'ranger', '--network', 'ranged', 'busybox', 'sleep', '300']);
  assert.match((await inspect('ranger')).NetworkSettings.Networks['ranged']!.IPAddress, /^10\.213\.231\.(12[89]|1[3-9]\d|2\d\d)$/);
  await cli(d, ['rm', '-f', 'ranger']);
  await cli(d, ['network', 'rm', 'ranged', 'plain']);
});

t('short ids as network ls prints them work for inspect, connect, disconnect and rm; a shared prefix is refused', async () => {
  await cli(d, ['network', 'create', '--subnet', '10.213.233.0/24', 'shorty']);
  await cli(d, ['run', '-d', '--name', 'sc', 'busybox', 'sleep', '300']);
  const table = (await cli(d, ['network', 'ls'])).stdout;
  const short = new RegExp('^([0-9a-f]{12}) +shorty ', 'm').exec(table)?.[1] ?? '';
  assert.match(short, /^[0-9a-f]{12}$/, table);
  type Net = { Name: string; Id: string };
  assert.is((await cliJson<Net[]>(d, ['network', 'inspect', short]))[0]?.Name, 'shorty');
  await cli(d, ['network', 'connect', short, 'sc']);
  assert.match((await inspect('sc')).NetworkSettings.Networks['shorty']?.IPAddress ?? '', /^10\.213\.233\./);
  await cli(d, ['network', 'disconnect', short, 'sc']);
  assert.not.ok((await inspect('sc')).NetworkSettings.Networks['shorty']);
  // A prefix that several ids share names how many: made by creating networks until two ids
  // start alike (certain by the 17th id: 16 hex digits).
  const extra: string[] = [];
  let shared: [string, number] | undefined;
  for (let i = 0; !shared; i++) {
    const ids = (await cliJson<Net[]>(d, ['network', 'ls'])).map((n) => n.Id);
    const first = [...new Set(ids.map((id) => id[0]!))].map((c): [string, number] => [c, ids.filter((id) => id[0] === c).length]);
    shared = first.find(([, n]) => n > 1);
    if (!shared) await cli(d, ['network', 'create', '--internal', '--subnet', `10.213.${240 + i}.0/24`, `pig${i}`]).then(() => extra.push(`pig${i}`));
  }
  const [prefix, count] = shared;
  await refused(['network', 'inspect', prefix], new RegExp(`network id prefix "${prefix}" is ambiguous: it matches ${count} networks`));
  await refused(['network', 'rm', prefix], /is ambiguous/);
  await cli(d, ['rm', '-f', 'sc']);
  assert.is((await cli(d, ['network', 'rm', short])).stdout, `${short}\n`);
  assert.not.match((await cli(d, ['network', 'ls'])).stdout, /shorty/);
  if (extra.length > 0) await cli(d, ['network', 'rm', ...extra]);
});

t('bridge option host_binding_ipv4: a bad address is refused at create naming the option; a good one is used', async () => {
  const links = await settledLinks(undefined, []);
  const rules = await firewallDump();
  for (const key of ['com.docker.network.bridge.host_binding_ipv4', 'host_binding_ipv4']) {
    for (const bad of ['garbage', '10.0.0.300', 'fd00::1']) {
      await refused(['network', 'create', '-o', `${key}=${bad}`, 'hb'], new RegExp(`${key.replace(/\./g, '\\.')}: "${bad.replace(/\./g, '\\.')}" is not an IPv4 address`));
    }
  }
  assert.not.match((await cli(d, ['network', 'ls'])).stdout, / hb /, 'no network recorded');
  assert.equal(await settledLinks(undefined, []), links, 'no bridge made');
  assert.is(await firewallDump(), rules, 'no rule made');
  await cli(d, ['network', 'create', '--subnet', '10.213.234.0/24', '-o', 'host_binding_ipv4=127.0.0.1', 'hb']);
  await cli(d, ['run', '-d', '--name', 'hbc', '--network', 'hb', '-p', '8096:80', 'busybox', 'sleep', '300']);
  assert.equal((await inspect('hbc')).NetworkSettings.Ports['80/tcp'], [{ HostIp: '127.0.0.1', HostPort: '8096' }]);
  assert.match(await firewallDump(), /tcp \. 127\.0\.0\.1 \. 8096 : 10\.213\.234\.\d+ \. 80/, 'DNAT from the binding address only');
  await cli(d, ['rm', '-f', 'hbc']);
  await cli(d, ['network', 'rm', 'hb']);
});

t('gateway mode: nat (default, also tsnet0) drops forwarding into the bridge from outside, nat-unprotected not; routed and bad values are refused naming the option', async () => {
  const rules = await firewallDump();
  for (const [key, bad, why] of [['com.docker.network.bridge.gateway_mode_ipv4', 'routed', 'is not supported by tsnet'], ['gateway_mode_ipv6', 'natt', 'is not a gateway mode']] as const) {
    await refused(['network', 'create', '-o', `${key}=${bad}`, 'gw'], new RegExp(`${key.replace(/\./g, '\\.')}: "${bad}" ${why} \\(nat or nat-unprotected\\)`));
  }
  assert.is(await firewallDump(), rules, 'no rule made');
  assert.match(rules, /-A TSNET-FORWARD ! -i tsnet0 -o tsnet0 -m comment --comment "tsnet:[0-9a-f]+" -j DROP/, 'the default bridge network is protected');
  await cli(d, ['network', 'create', '--subnet', '10.213.235.0/24', 'gwnat']);
  await cli(d, ['network', 'create', '--subnet', '10.213.236.0/24', '-o', 'gateway_mode_ipv4=nat-unprotected', 'gwopen']);
  const bridgeOf = async (n: string) => `tsbr-${(await cliJson<{ Id: string }[]>(d, ['network', 'inspect', n]))[0]!.Id.slice(0, 10)}`;
  const drop = (br: string) => new RegExp(`! -i ${br} -o ${br} .*-j DROP`);
  const [nat, open] = [await bridgeOf('gwnat'), await bridgeOf('gwopen')];
  assert.match(await firewallDump(), drop(nat));
  assert.not.match(await firewallDump(), drop(open));
  await cli(d, ['network', 'rm', 'gwnat', 'gwopen']);
  assert.is(await firewallDump(), rules, 'removed with the networks');
});

t('subnets no network can use (loopback, multicast, class E, unspecified, IPv6 link-local) are refused at create', async () => {
  const links = await settledLinks(undefined, []);
  const rules = await firewallDump();
  const cases: [string[], RegExp][] = [
    [['--subnet', '127.0.0.0/24'], /subnet 127\.0\.0\.0\/24 overlaps 127\.0\.0\.0\/8 \(loopback\)/],
    [['--subnet', '224.1.0.0/24'], /subnet 224\.1\.0\.0\/24 overlaps 224\.0\.0\.0\/4 \(multicast\)/],
    [['--subnet', '240.0.0.0/24'], /subnet 240\.0\.0\.0\/24 overlaps 240\.0\.0\.0\/4/],
    [['--subnet', '0.0.0.0/1'], /subnet 0\.0\.0\.0\/1 overlaps 0\.0\.0\.0\/8/],
    [['--ipv6', '--subnet', 'ff05::/64'], /subnet ff05::\/64 overlaps ff00::\/8 \(multicast\)/],
    [['--ipv6', '--subnet', '::/64'], /subnet ::\/64 overlaps ::\/128 \(unspecified\)/],
    [['--ipv6', '--subnet', 'fe80:1::/64'], /subnet fe80:1::\/64 overlaps fe80::\/10 \(link-local\)/],
  ];
  for (const [flags, message] of cases) await refused(['network', 'create', ...flags, 'unusable'], message);
  assert.not.match((await cli(d, ['network', 'ls'])).stdout, / unusable /, 'no network recorded');
  assert.equal(await settledLinks(undefined, []), links, 'no bridge made');
  assert.is(await firewallDump(), rules, 'no rule made');
});

t('an IPv6 --subnet without --ipv6 turns IPv6 on (inspect says so, forwarding is on); IPv6 false with one is refused', async () => {
  await run(['sysctl', '-qw', 'net.ipv6.conf.all.forwarding=0']); // this test's throwaway host netns
  await cli(d, ['network', 'create', '--subnet', 'fd74:1::/64', 'six']);
  type Net = { EnableIPv6: boolean; IPAM: { Config: { Subnet: string }[] } };
  const [six] = await cliJson<Net[]>(d, ['network', 'inspect', 'six']);
  assert.is(six?.EnableIPv6, true);
  const subnets = six?.IPAM.Config.map((c) => c.Subnet) ?? [];
  assert.ok(subnets.includes('fd74:1::/64') && subnets.some((x) => /^10\.213\.\d+\.0\/24$/.test(x)), subnets.join(' '));
  assert.is((await run(['sysctl', '-n', 'net.ipv6.conf.all.forwarding'])).stdout.trim(), '1', 'IPv6 forwarded as for --ipv6');
  await cli(d, ['run', '-d', '--name', 'sixer', '--network', 'six', 'busybox', 'sleep', '300']);
  const box = (await inspect('sixer')).NetworkSettings.SandboxKey;
  const [eth0] = await ipJson<{ addr_info: { family: string; local: string; scope: string }[] }[]>(box, ['addr', 'show', 'eth0']);
  assert.ok(eth0?.addr_info.some((a) => a.family === 'inet6' && a.scope === 'global' && a.local.startsWith('fd74:1::')), JSON.stringify(eth0));
  await cli(d, ['rm', '-f', 'sixer']);
  await cli(d, ['network', 'rm', 'six']);
  // The API tells "off" from "not said": off with an IPv6 subnet is a contradiction.
  const off = await api(d, 'POST', '/v1/networks', JSON.stringify({ Name: 'sixoff', IPv6: false, Subnets: [{ Subnet: 'fd74:2::/64' }] }));
  assert.is(off.status, 400, off.body);
  assert.equal(JSON.parse(off.body), { message: 'create network "sixoff": subnet fd74:2::/64 is IPv6 but IPv6 is off for network "sixoff"', code: 'config', field: 'ipv6' });
  assert.not.match((await cli(d, ['network', 'ls'])).stdout, / sixoff /);
  const v4 = await api(d, 'POST', '/v1/networks', JSON.stringify({ Name: 'fouronly', Subnets: [{ Subnet: '10.213.235.0/24' }] }));
  assert.is((JSON.parse(v4.body) as Net).EnableIPv6, false, 'an IPv4 subnet implies nothing');
  await cli(d, ['network', 'rm', 'fouronly']);
});

t('--ipv4=false: an IPv6-only network; a container gets only IPv6, resolves names through the DNS on the IPv6 gateway, and publishes on IPv6', async () => {
  await refused(['network', 'create', '--ipv4=false', 'nofamily'], /neither IPv4 nor IPv6/);
  const bad = await cli(d, ['network', 'create', '--ipv4=maybe', '--ipv6', 'maybe'], [2]); // a usage error, as every bad option
  assert.match(bad.stderr, /unknown option '--ipv4=maybe'/);
  await cli(d, ['network', 'create', '--ipv6', '--ipv4=false', 'sixonly']);
  type Net = { EnableIPv4: boolean; EnableIPv6: boolean; IPAM: { Config: { Subnet: string; Gateway: string }[] } };
  const [net] = await cliJson<Net[]>(d, ['network', 'inspect', 'sixonly']);
  assert.is(net?.EnableIPv4, false);
  assert.is(net?.EnableIPv6, true);
  const gw = net?.IPAM.Config[0]?.Gateway ?? '';
  assert.ok(net?.IPAM.Config.length === 1 && gw.includes(':'), JSON.stringify(net?.IPAM));
  await cli(d, ['run', '-d', '--name', 'six1', '--network', 'sixonly', '-p', '18098:80', 'busybox', 'sleep', '300']);
  const c = await inspect('six1');
  const [eth0] = await ipJson<{ addr_info: { family: string; scope: string }[] }[]>(c.NetworkSettings.SandboxKey, ['addr', 'show', 'eth0']);
  assert.not.ok(eth0?.addr_info.some((a) => a.family === 'inet'), 'no IPv4 address');
  assert.ok(eth0?.addr_info.some((a) => a.family === 'inet6' && a.scope === 'global'), 'an IPv6 one');
  assert.match((await cli(d, ['exec', 'six1', 'cat', '/etc/resolv.conf'])).stdout, new RegExp(`^nameserver ${gw}$`, 'm'));
  assert.equal((c.NetworkSettings as unknown as { Ports: Record<string, unknown> }).Ports['80/tcp'], [{ HostIp: '::', HostPort: '18098' }]);
  const ping = await cli(d, ['run', '--rm', '--network', 'sixonly', 'busybox', 'ping', '-c', '1', '-W', '2', 'six1']);
  assert.match(ping.stdout, /1 packets received/, 'the name resolved (AAAA from the DNS on the IPv6 gateway) and answered');
  await cli(d, ['rm', '-f', 'six1']);
  await cli(d, ['network', 'rm', 'sixonly']);
});

t('macvlan on the loopback parent is refused at create', async () => {
  await refused(['network', 'create', '-d', 'macvlan', '--subnet', '10.213.236.0/24', '-o', 'parent=lo', 'mvlo'],
    /parent interface "lo" has link type loopback, not ether: macvlan needs an Ethernet device/);
  assert.not.match((await cli(d, ['network', 'ls'])).stdout, / mvlo /, 'no network recorded');
});

t('one run publishing a host port twice is told so, naming the port, and leaves nothing; ephemeral picks avoid its own ports', async () => {
  await cli(d, ['network', 'create', '--subnet', '10.213.237.0/24', 'twice']);
  const links = await settledLinks(undefined, []);
  const rules = await firewallDump();
  const ps = (await cli(d, ['ps', '-a', '-q'])).stdout;
  for (const p of [['8097:80', '8097:81'], ['8097:80', '127.0.0.1:8097:81'], ['8097:80/udp', '8097:81/udp']]) {
    const stderr = await refused(['run', '-d', '--network', 'twice', '-p', p[0]!, '-p', p[1]!, 'busybox', 'sleep', '300'],
      /port 8097\/(tcp|udp) on [0-9.]+ is requested twice in this request/);
    assert.not.match(stderr, /endpoint|already published/, 'not blamed on its own endpoint');
  }
  assert.equal(await settledLinks(undefined, []), links, 'no link left');
  assert.is(await firewallDump(), rules, 'no rule left');
  assert.is((await cli(d, ['ps', '-a', '-q'])).stdout, ps, 'no container left');
  // Two requests over one host range: the second takes the range's other port.
  await cli(d, ['run', '-d', '--name', 'ranges', '--network', 'twice', '-p', '20000-20001:80', '-p', '20000-20001:81', 'busybox', 'sleep', '300']);
  const ports = (await inspect('ranges')).NetworkSettings.Ports;
  assert.equal([ports['80/tcp']?.[0]?.HostPort, ports['81/tcp']?.[0]?.HostPort], ['20000', '20001']);
  await cli(d, ['rm', '-f', 'ranges']);
  await cli(d, ['network', 'rm', 'twice']);
});

t('a host port a host process holds, or a host IP that is not the host\'s, is refused; nothing left; free again, it publishes', async () => {
  await cli(d, ['network', 'create', '--subnet', '10.213.231.0/24', 'hostports']);
  const links = await settledLinks(undefined, []);
  const rules = await firewallDump();
  const ps = (await cli(d, ['ps', '-a', '-q'])).stdout;
  // Host services in the test's host netns (where tsnetd runs): TCP on all addresses, UDP on 127.0.0.1.
  const tcp = createServer();
  await new Promise<void>((r) => tcp.listen({ host: '0.0.0.0', port: 18095 }, r));
  const udp = createSocket('udp4');
  await new Promise<void>((r) => udp.bind({ address: '127.0.0.1', port: 18096 }, r));
  try {
    await refused(['run', '-d', '--network', 'hostports', '-p', '18095:80', 'busybox', 'sleep', '300'], /port 18095\/tcp on 0\.0\.0\.0 is in use by a process of the host/);
    await refused(['run', '-d', '--network', 'hostports', '-p', '127.0.0.1:18095:80', 'busybox', 'sleep', '300'], /port 18095\/tcp on 127\.0\.0\.1 is in use/);
    await refused(['run', '-d', '--network', 'hostports', '-p', '18096:53/udp', 'busybox', 'sleep', '300'], /port 18096\/udp on 0\.0\.0\.0 is in use/);
    await refused(['run', '-d', '--network', 'hostports', '-p', '192.0.2.55:18097:80', 'busybox', 'sleep', '300'], /192\.0\.2\.55 is not an address of this host/);
    await refused(['run', '-d', '--network', 'hostports', '-p', '53:53/udp', 'busybox', 'sleep', '300'], /port 53\/udp on 0\.0\.0\.0 is in use by a process of the host \(likely tsnetd's embedded DNS/);
    assert.equal(await settledLinks(undefined, []), links, 'no link left');
    assert.is(await firewallDump(), rules, 'no rule left');
    assert.is((await cli(d, ['ps', '-a', '-q'])).stdout, ps, 'no container left');
    // A port picked from a range is one no host process has.
    await cli(d, ['run', '-d', '--name', 'ranged', '--network', 'hostports', '-p', '18095-18096:80', 'busybox', 'sleep', '300']);
    assert.is((await inspect('ranged')).NetworkSettings.Ports['80/tcp']?.[0]?.HostPort, '18096');
    await cli(d, ['rm', '-f', 'ranged']);
  } finally {
    await new Promise((r) => tcp.close(r));
    udp.close();
  }
  await cli(d, ['run', '-d', '--name', 'freed', '--network', 'hostports', '-p', '18095:80', '-p', '18096:53/udp', 'busybox', 'sleep', '300']);
  assert.match(await firewallDump(), /18095/, 'published once the host service is gone');
  // Held while published, as Docker holds it: a host server started now cannot take the port
  // (Node's listen sets SO_REUSEADDR), on all addresses or on one; UDP too; after a restart
  // of tsnetd as well. Free again once the container is gone.
  const taken = async () => [await bindError('tcp', '0.0.0.0', 18095), await bindError('tcp', '127.0.0.1', 18095), await bindError('udp', '0.0.0.0', 18096)];
  assert.equal(await taken(), ['EADDRINUSE', 'EADDRINUSE', 'EADDRINUSE'], 'held while published');
  await stopDaemon(d);
  d = await startDaemon(d.dir);
  assert.equal(await taken(), ['EADDRINUSE', 'EADDRINUSE', 'EADDRINUSE'], 'held again after a restart');
  await cli(d, ['rm', '-f', 'freed']);
  assert.equal(await taken(), [undefined, undefined, undefined], 'free once unpublished');
  // "::" for an IPv4 container forwards every IPv4 address: it is 0.0.0.0, held as such.
  await cli(d, ['run', '-d', '--name', 'anyv6', '--network', 'hostports', '-p', '[::]:18095:80', 'busybox', 'sleep', '300']);
  assert.is((await inspect('anyv6')).NetworkSettings.Ports['80/tcp']?.[0]?.HostIp, '0.0.0.0');
  assert.is(await bindError('tcp', '0.0.0.0', 18095), 'EADDRINUSE');
  await refused(['run', '-d', '--network', 'hostports', '-p', '18095:80', 'busybox', 'sleep', '300'], /18095/);
  await cli(d, ['rm', '-f', 'anyv6']);
  await cli(d, ['network', 'rm', 'hostports']);
});

t('run -p on an internal network starts the container (as Docker) and publishes nothing', async () => {
  await cli(d, ['network', 'create', '--internal', '--subnet', '10.213.191.0/24', 'intonly']);
  try {
    await cli(d, ['run', '-d', '--name', 'intp', '--network', 'intonly', '-p', '18098:80', 'busybox', 'sleep', '300']);
    assert.is((await inspectContainer(d, 'intp')).State.Running, true);
    assert.is(await bindError('tcp', '0.0.0.0', 18098), undefined, 'nothing held: the port is free');
    await cli(d, ['rm', '-f', 'intp']);
  } finally {
    await cli(d, ['rm', '-f', 'intp'], [1]);
    await cli(d, ['network', 'rm', 'intonly']);
  }
});

t.run();
