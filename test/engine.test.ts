// tsnetd + tsnet end to end (daemon started by the test, in the throwaway host netns):
// the demo flow, network modes, live connect/disconnect, restarts, bad input.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { run } from '../core/exec/index.js';
import { api, cli, cliJson, dropDaemon, inspectContainer, killDaemon, startDaemon, stopDaemon, type Daemon } from './daemon.js';
import { inNs, ipJson, firewallDump, linkNames, settledLinks } from './helpers.js';

const t = suite('engine');
let d: Daemon;

t.before(async () => {
  d = await startDaemon();
});

t.after(async () => {
  if (d) await dropDaemon(d);
});

const inspect = (name: string) => inspectContainer(d, name);
const wget = (url: string) => run(['timeout', '5', 'busybox', 'wget', '-q', '-O', '-', url], { okCodes: [1, 124] });

t('the demo: a network, two containers that ping each other by name, a published port, topology, removal', async () => {
  const before = await linkNames();
  await cli(d, ['network', 'create', '--subnet', '10.213.210.0/24', 'demo']);
  const web = (await cli(d, ['run', '-d', '--name', 'web', '--network', 'demo', '-p', '127.0.0.1:8080:80', 'busybox', 'httpd', '-f', '-p', '80', '-h', '/etc'])).stdout.trim();
  assert.match(web, /^[0-9a-f]{64}$/);
  const ping = await cli(d, ['run', '--rm', '--name', 'pinger', '--network', 'demo', 'busybox', 'ping', '-c', '1', '-W', '2', 'web']);
  assert.match(ping.stdout, /1 packets received/);
  const i = await inspect('web');
  const ip = i.NetworkSettings.Networks['demo']!.IPAddress;
  assert.match(ip, /^10\.213\.210\.\d+$/);
  assert.is(i.NetworkSettings.Networks['demo']!.Gateway, '10.213.210.1');
  // The kernel agrees with inspect: the address is on eth0 inside the sandbox.
  const addrs = await ipJson<{ ifname: string; address: string; addr_info: { local: string }[] }[]>(i.NetworkSettings.SandboxKey, ['addr', 'show', 'eth0']);
  assert.is(addrs[0]?.addr_info.find((a) => a.local === ip)?.local, ip);
  // As Docker: an IPv4-only endpoint's interface has IPv6 off (no link-local chatter on the bridge).
  assert.equal(addrs[0]?.addr_info.map((a) => a.local), [ip]);
  assert.is((await inNs(i.NetworkSettings.SandboxKey, ['cat', '/proc/sys/net/ipv6/conf/eth0/disable_ipv6'])).stdout.trim(), '1');
  assert.is(addrs[0]?.address, i.NetworkSettings.Networks['demo']!.MacAddress);
  assert.equal(i.NetworkSettings.Ports['80/tcp'], [{ HostIp: '127.0.0.1', HostPort: '8080' }]);
  assert.match((await wget('http://127.0.0.1:8080/hostname')).stdout, new RegExp(web.slice(0, 12)));
  assert.match((await cli(d, ['port', 'web'])).stdout, /80\/tcp -> 127\.0\.0\.1:8080/);
  const topo = (await cli(d, ['topology'])).stdout;
  assert.match(topo, /demo/);
  assert.match(topo, /web/);
  assert.match(topo, /127\.0\.0\.1:8080->80\/tcp/);
  assert.match((await cli(d, ['topology', '--format', 'dot'])).stdout, /^(strict )?(di)?graph/);
  // --rm removed the pinger; network inspect lists only web.
  assert.not.match((await cli(d, ['ps', '-a'])).stdout, /pinger/);
  const net = (await cliJson<{ Containers: Record<string, { Name: string }> }[]>(d, ['network', 'inspect', 'demo']))[0]!;
  assert.equal(Object.values(net.Containers).map((c) => c.Name), ['web']);
  await cli(d, ['rm', '-f', 'web']);
  await cli(d, ['network', 'rm', 'demo']);
  assert.equal(await linkNames(), before, 'links back to where they were');
  assert.not.match(await firewallDump(), /10\.213\.210\./);
  assert.not.match(await firewallDump(), /\. 8080 :/);
});

t('network modes: host sees the host links, none has only lo, container: shares interfaces', async () => {
  const host = (await cli(d, ['run', '--rm', '--network', 'host', 'busybox', 'ip', '-o', 'link'])).stdout;
  assert.match(host, /tsnet0/, 'the host netns (default bridge tsnet0) is visible');
  const none = (await cli(d, ['run', '--rm', '--network', 'none', 'busybox', 'ip', '-o', 'link'])).stdout.trim().split('\n');
  assert.is(none.length, 1);
  assert.match(none[0]!, /: lo: .*UP/);
  await cli(d, ['network', 'create', '--subnet', '10.213.211.0/24', 'share']);
  await cli(d, ['run', '-d', '--name', 'base', '--network', 'share', 'busybox', 'sleep', '300']);
  const ip = (await inspect('base')).NetworkSettings.Networks['share']!.IPAddress;
  const shared = (await cli(d, ['run', '--rm', '--network', 'container:base', 'busybox', 'ip', '-o', '-4', 'addr'])).stdout;
  assert.match(shared, new RegExp(`eth0 +inet ${ip.replace(/\./g, '\\.')}/24`));
  await cli(d, ['rm', '-f', 'base']);
  await cli(d, ['network', 'rm', 'share']);
});

t('network connect adds an interface live; disconnect removes it', async () => {
  await cli(d, ['network', 'create', '--subnet', '10.213.212.0/24', 'n1']);
  await cli(d, ['network', 'create', '--subnet', '10.213.213.0/24', 'n2']);
  await cli(d, ['run', '-d', '--name', 'c1', '--network', 'n1', 'busybox', 'sleep', '300']);
  await cli(d, ['run', '-d', '--name', 'c2', '--network', 'n2', 'busybox', 'sleep', '300']);
  const c2ip = (await inspect('c2')).NetworkSettings.Networks['n2']!.IPAddress;
  assert.is((await cli(d, ['exec', 'c1', 'ping', '-c', '1', '-W', '1', c2ip], [0, 1])).exitCode, 1, 'isolated before connect');
  await cli(d, ['network', 'connect', '--alias', 'db', 'n2', 'c1']);
  const addrs = (await cli(d, ['exec', 'c1', 'ip', '-o', '-4', 'addr'])).stdout;
  assert.match(addrs, /eth1 +inet 10\.213\.213\.\d+\/24/);
  assert.is((await cli(d, ['exec', 'c1', 'ping', '-c', '1', '-W', '1', c2ip])).exitCode, 0, 'reachable after connect');
  assert.match((await cli(d, ['exec', 'c2', 'ping', '-c', '1', '-W', '1', 'db'])).stdout, /1 packets received/, 'alias resolves on n2');
  assert.ok((await inspect('c1')).NetworkSettings.Networks['n2']);
  await cli(d, ['network', 'disconnect', 'n2', 'c1']);
  assert.not.match((await cli(d, ['exec', 'c1', 'ip', '-o', 'link'])).stdout, /eth1/);
  assert.not.ok((await inspect('c1')).NetworkSettings.Networks['n2']);
  // Several connects at once: each one lands in the container's config (they queue per container).
  const extra = ['n3', 'n4', 'n5', 'n6', 'n7', 'n8'];
  for (const [i, n] of extra.entries()) await cli(d, ['network', 'create', '--subnet', `10.213.${220 + i}.0/24`, n]);
  await Promise.all(extra.map((n) => cli(d, ['network', 'connect', n, 'c1'])));
  assert.equal(Object.keys((await inspect('c1')).NetworkSettings.Networks).sort(), ['n1', ...extra]);
  // A disconnect leaves a gap (eth2 of n4 stays): the next connect takes the first free ethN.
  const ifOf = async () => (await cli(d, ['exec', 'c1', 'ip', '-o', '-4', 'addr'])).stdout;
  const n3if = /(eth\d+) +inet 10\.213\.220\./.exec(await ifOf())?.[1];
  await cli(d, ['network', 'disconnect', 'n3', 'c1']);
  await cli(d, ['network', 'connect', 'n2', 'c1']);
  assert.match(await ifOf(), new RegExp(`${n3if ?? 'none'} +inet 10\\.213\\.213\\.`));
  await cli(d, ['rm', '-f', 'c1', 'c2']);
  await cli(d, ['network', 'rm', 'n1', 'n2', ...extra]);
});

t('kill -9 tsnetd, restart: containers keep connectivity, state is intact, nothing duplicated', async () => {
  await cli(d, ['network', 'create', '--subnet', '10.213.214.0/24', 'live']);
  await cli(d, ['run', '-d', '--name', 'srv', '--network', 'live', '-p', '127.0.0.1:8090:80', 'busybox', 'httpd', '-f', '-p', '80', '-h', '/etc']);
  await cli(d, ['run', '-d', '--name', 'cli1', '--network', 'live', 'busybox', 'sleep', '300']);
  const rulesBefore = await firewallDump();
  const linksBefore = await linkNames();
  await killDaemon(d);
  assert.match((await wget('http://127.0.0.1:8090/hostname')).stdout, /\w+/, 'published port answers with the daemon dead');
  d = await startDaemon(d.dir);
  assert.match((await wget('http://127.0.0.1:8090/hostname')).stdout, /\w+/, 'and after the restart');
  assert.is((await inspect('srv')).State.Running, true);
  assert.match((await cli(d, ['exec', 'cli1', 'ping', '-c', '1', '-W', '2', 'srv'])).stdout, /1 packets received/, 'names still resolve');
  assert.is(await firewallDump(), rulesBefore, 'no rule duplicated or lost');
  assert.equal(await linkNames(), linksBefore, 'no link duplicated or lost');
  // A graceful stop and restart too, then the adopted container's exit is noticed.
  await stopDaemon(d);
  d = await startDaemon(d.dir);
  await cli(d, ['stop', '-t', '1', 'srv']);
  assert.is((await inspect('srv')).State.Running, false);
  assert.not.match(await firewallDump(), /\. 8090 :/, 'stopping released the port');
  await cli(d, ['rm', '-f', 'srv', 'cli1']);
  await cli(d, ['network', 'rm', 'live']);
});

t('a container that exits while tsnetd is down: the restart records its real exit code and end, and releases its network', async () => {
  await cli(d, ['network', 'create', '--subnet', '10.213.219.0/24', 'brief']);
  await cli(d, ['run', '-d', '--name', 'quitter', '--network', 'brief', 'busybox', 'sh', '-c', 'sleep 1; exit 7']);
  const { Id: id } = await inspect('quitter');
  await killDaemon(d);
  // runc (no daemon around) sees it end.
  let status = '';
  for (let i = 0; i < 100 && status !== 'stopped'; i++) {
    await new Promise((r) => setTimeout(r, 100));
    status = (JSON.parse((await run(['runc', '--root', `${d.runDir}/runc`, 'state', id])).stdout) as { status: string }).status;
  }
  assert.is(status, 'stopped');
  const restarted = Date.now();
  d = await startDaemon(d.dir);
  const after = await inspect('quitter');
  assert.is(after.State.Status, 'exited');
  assert.is(after.State.ExitCode, 7, 'its own status, not 255 (is build/Release/tsnet_exit_monitor built? npm install runs node-gyp)');
  assert.ok(Date.parse(after.State.FinishedAt) < restarted, `ended before the restart: ${after.State.FinishedAt}`);
  const net = (await cliJson<{ Containers: Record<string, unknown> }[]>(d, ['network', 'inspect', 'brief']))[0]!;
  assert.equal(net.Containers, {}, 'endpoint released');
  await cli(d, ['rm', 'quitter']);
  await cli(d, ['network', 'rm', 'brief']);
});

t('tsnetd killed in the middle of a start (endpoint attached, container not yet running): the restart undoes the start; start and rm work', async () => {
  await cli(d, ['network', 'create', '--subnet', '10.213.217.0/24', 'halfway']);
  const db = new Database(join(d.root, 'tsnet.db'), { readonly: true });
  const starting = cli(d, ['run', '-d', '--name', 'half', '--network', 'halfway', '-p', '8094:80', 'busybox', 'sleep', '300'], [0, 1]);
  let caught = false;
  let id = '';
  try {
    // The start has attached the endpoint (its netns, veth, address and port made) but not
    // recorded the container running yet: the window a killed daemon leaves half done.
    for (let i = 0; i < 5000 && !caught; i++) {
      const c = db.prepare("SELECT id, state FROM containers WHERE name = 'half'").get() as { id: string; state: string } | undefined;
      const ep = c && db.prepare('SELECT state FROM endpoints WHERE sandbox = ?').get(c.id) as { state: string } | undefined;
      if (c && ep?.state === 'attached' && c.state !== 'running') {
        id = c.id;
        await killDaemon(d);
        caught = true;
      } else await new Promise((r) => setTimeout(r, 2));
    }
  } finally {
    db.close();
  }
  assert.ok(caught, 'the start was caught between attach and running');
  await starting;
  d = await startDaemon(d.dir);
  const netnsFile = join(d.runDir, 'netns', id.slice(0, 12));
  const state = await inspect('half');
  // runc may or may not have got the container going before the kill: adopted or undone.
  if (state.State.Status === 'running') {
    assert.ok(state.State.Pid > 0, 'adopted with runc\'s pid');
  } else {
    const net = (await cliJson<{ Containers: Record<string, unknown> }[]>(d, ['network', 'inspect', 'halfway']))[0]!;
    assert.equal(net.Containers, {}, 'endpoint released at restart');
    assert.not.ok((await run(['findmnt', '-n', netnsFile], { okCodes: [0, 1] })).stdout.trim(), 'its netns unmounted');
    assert.not.match(await firewallDump(), /8094/, 'its published port released');
    await cli(d, ['start', 'half']);
  }
  assert.is((await inspect('half')).State.Status, 'running');
  const eps = (await cliJson<{ Containers: Record<string, unknown> }[]>(d, ['network', 'inspect', 'halfway']))[0]!.Containers;
  assert.is(Object.keys(eps).length, 1, 'one endpoint, not a second one next to a leftover');
  await cli(d, ['rm', '-f', 'half']);
  assert.not.ok((await run(['findmnt', '-n', netnsFile], { okCodes: [0, 1] })).stdout.trim(), 'rm leaves no netns mount');
  assert.not.match(await firewallDump(), /8094/);
  await cli(d, ['network', 'rm', 'halfway']);
});

t('tsnetd killed right after a macvlan disconnect (its link retired in the container, not yet reaped): the restart deletes it; connect works again', async () => {
  await run(['ip', 'link', 'add', 'mvkill0', 'type', 'veth', 'peer', 'name', 'mvkill1']);
  await run(['ip', 'link', 'set', 'mvkill0', 'up']);
  try {
    await cli(d, ['network', 'create', '-d', 'macvlan', '-o', 'parent=mvkill0', '--subnet', '10.213.216.0/24', 'mvk']);
    await cli(d, ['run', '-d', '--name', 'mk', 'busybox', 'sleep', '300']);
    await cli(d, ['network', 'connect', 'mvk', 'mk']);
    const netns = join(d.runDir, 'netns', (await inspect('mk')).Id.slice(0, 12));
    const links = async () => (await ipJson<{ ifname: string }[]>(netns, ['link', 'show'])).map((l) => l.ifname).sort();
    assert.equal(await links(), ['eth0', 'eth1', 'lo']);
    await cli(d, ['network', 'disconnect', 'mvk', 'mk']);
    await killDaemon(d); // within the reaper's batch delay: the macvlan is retired, not deleted
    d = await startDaemon(d.dir);
    assert.equal(await links(), ['eth0', 'lo'], 'the retired macvlan is deleted at restart');
    await cli(d, ['network', 'connect', '--ip', '10.213.216.2', 'mvk', 'mk']);
    assert.equal(await links(), ['eth0', 'eth1', 'lo'], 'connect (same address, same MAC) works again');
    await cli(d, ['rm', '-f', 'mk']);
    await cli(d, ['network', 'rm', 'mvk']);
  } finally {
    await run(['ip', 'link', 'del', 'mvkill0'], { okCodes: [1] });
  }
});

t('a bridge and rules deleted behind the daemon: a restart brings them back, connectivity too', async () => {
  await cli(d, ['network', 'create', '--subnet', '10.213.218.0/24', 'heal']);
  await cli(d, ['run', '-d', '--name', 'h1', '--network', 'heal', '-p', '127.0.0.1:8093:80', 'busybox', 'httpd', '-f', '-p', '80', '-h', '/etc']);
  await cli(d, ['run', '-d', '--name', 'h2', '--network', 'heal', 'busybox', 'sleep', '300']);
  const bridge = (await cliJson<{ Bridge: string }[]>(d, ['network', 'inspect', 'heal']))[0]!.Bridge;
  const rules = await firewallDump();
  await stopDaemon(d);
  await run(['ip', 'link', 'del', bridge]);
  await run(['iptables', '-t', 'nat', '-F', 'TSNET-POSTROUTING']);
  await run(['nft', 'delete', 'table', 'inet', 'tsnet']);
  assert.is((await cli(d, ['version'], [0, 1])).exitCode, 1, 'daemon is down');
  assert.is((await wget('http://127.0.0.1:8093/hostname')).stdout, '', 'broken while down');
  d = await startDaemon(d.dir);
  assert.ok((await linkNames()).includes(bridge), 'bridge re-created');
  assert.is(await firewallDump(), rules, 'rules and published ports restored as they were');
  assert.match((await wget('http://127.0.0.1:8093/hostname')).stdout, /\w+/, 'published port answers again');
  assert.match((await cli(d, ['exec', 'h2', 'ping', '-c', '1', '-W', '2', 'h1'])).stdout, /1 packets received/, 'containers reach each other again');
  await cli(d, ['rm', '-f', 'h1', 'h2']);
  await cli(d, ['network', 'rm', 'heal']);
});

t('a sandbox netns deleted behind the daemon: a restart releases its addresses and rules', async () => {
  await cli(d, ['network', 'create', '--subnet', '10.213.215.0/24', 'gone']);
  await cli(d, ['run', '-d', '--name', 'victim', '--network', 'gone', '-p', '127.0.0.1:8091:80', 'busybox', 'sleep', '300']);
  const i = await inspect('victim');
  const ip = i.NetworkSettings.Networks['gone']!.IPAddress;
  await stopDaemon(d);
  await run(['umount', i.NetworkSettings.SandboxKey]);
  await run(['rm', '-f', i.NetworkSettings.SandboxKey]);
  d = await startDaemon(d.dir);
  assert.not.match(await firewallDump(), /\. 8091 :/, 'DNAT rule released');
  const net = (await cliJson<{ Containers: Record<string, unknown> }[]>(d, ['network', 'inspect', 'gone']))[0]!;
  assert.equal(net.Containers, {}, 'endpoint released');
  // The address is free again: a new container may take it.
  await cli(d, ['run', '-d', '--name', 'heir', '--network', 'gone', '--ip', ip, 'busybox', 'sleep', '300']);
  assert.is((await inspect('heir')).NetworkSettings.Networks['gone']!.IPAddress, ip);
  await cli(d, ['rm', '-f', 'victim', 'heir']);
  await cli(d, ['network', 'rm', 'gone']);
});

t('image import: a rootfs tarball becomes an image that runs', async () => {
  const tar = `${d.dir}/mybox.tar`;
  await run(['tar', '-C', `${d.root}/images/busybox/rootfs`, '-cf', tar, '.']);
  await cli(d, ['image', 'import', tar, 'mybox']);
  assert.match((await cli(d, ['image', 'ls'])).stdout, /mybox/);
  assert.match((await cli(d, ['run', '--rm', '--network', 'none', 'mybox', 'echo', 'imported'])).stdout, /imported/);
  const bad = await cli(d, ['image', 'import', `${d.dir}/missing.tar`, 'nobox'], [1]);
  assert.match(bad.stderr, /missing\.tar/);
});

t('-P publishes every exposed port on an ephemeral host port', async () => {
  await cli(d, ['network', 'create', '--subnet', '10.213.217.0/24', 'pub']);
  await cli(d, ['run', '-d', '--name', 'pa', '--network', 'pub', '--expose', '80', '-P', 'busybox', 'httpd', '-f', '-p', '80', '-h', '/etc']);
  const ports = (await inspect('pa')).NetworkSettings.Ports['80/tcp'];
  assert.is(ports?.length, 1);
  const hostPort = Number(ports![0]!.HostPort);
  assert.ok(hostPort >= 49153 && hostPort <= 60999, String(hostPort));
  assert.match((await wget(`http://127.0.0.1:${hostPort}/hostname`)).stdout, /\w+/);
  await cli(d, ['rm', '-f', 'pa']);
  await cli(d, ['network', 'rm', 'pub']);
});

t('bad input: clear errors, non-zero exit, nothing half-made', async () => {
  await cli(d, ['network', 'create', '--subnet', '10.213.216.0/24', 'ok']);
  await cli(d, ['run', '-d', '--name', 'taken', '--network', 'ok', '-p', '127.0.0.1:8092:80', 'busybox', 'sleep', '300']);
  // Settled: links retired by earlier tests (tsdead*) are deleted by the daemon's reaper meanwhile.
  const links = await settledLinks(undefined, []);
  const rules = await firewallDump();
  const ps = (await cli(d, ['ps', '-a', '-q'])).stdout;
  const cases: [string[], RegExp][] = [
    [['run', '--network', 'nope', 'busybox', 'true'], /network "nope" not found/],
    [['network', 'create', '--subnet', '10.0.0.0/33', 'bad'], /10\.0\.0\.0\/33/],
    [['network', 'create', '--subnet', '10.213.216.0/25', 'overlap'], /overlap/i],
    [['run', '-d', '--network', 'ok', '-p', '127.0.0.1:8092:80', 'busybox', 'sleep', '300'], /port 8092\/tcp .*already published by taken/],
    [['run', '-d', '--name', 'taken', 'busybox', 'true'], /name "taken" is already in use/],
    [['run', '-d', '-p', '80:abc', 'busybox', 'true'], /Ports.*80:abc/],
    [['network', 'rm', 'nope'], /network "nope" not found/],
    [['network', 'connect', 'ok', 'nobody'], /container "nobody" not found/],
    [['run', 'no-such-image'], /no-such-image/],
  ];
  for (const [args, message] of cases) {
    const r = await cli(d, args, [1, 2, 125]);
    assert.is.not(r.exitCode, 0, args.join(' '));
    assert.match(r.stderr, message, args.join(' '));
  }
  assert.equal(await settledLinks(undefined, []), links, 'no link made');
  assert.is(await firewallDump(), rules, 'no rule made');
  assert.is((await cli(d, ['ps', '-a', '-q'])).stdout, ps, 'no container made');
  // Whole words: a network id's hex may hold "bad".
  assert.not.match((await cli(d, ['network', 'ls'])).stdout, /\b(bad|overlap)\b/);
  await cli(d, ['rm', '-f', 'taken']);
  await cli(d, ['network', 'rm', 'ok']);
  // The API answers malformed bodies with 400 and a message naming the field.
  const bad = await api(d, 'POST', '/v1/networks', '{"Name": 5}');
  assert.is(bad.status, 400);
  assert.match(bad.body, /Name/);
  const broken = await api(d, 'POST', '/v1/containers', '{"Image": "busybox",');
  assert.is(broken.status, 400);
  assert.match(broken.body, /not valid JSON/);
  const unknown = await api(d, 'POST', '/v1/containers', '{"Image": "busybox", "Colour": "red"}');
  assert.is(unknown.status, 400);
  assert.match(unknown.body, /Colour/);
  assert.is((await api(d, 'GET', '/v1/containers/nobody', '')).status, 404);
});

t.run();
