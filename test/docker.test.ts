// A stock dockerd (Debian's docker.io) using tsnet's remote network and IPAM drivers, in the
// throwaway host netns: containers on tsnet bridge and macvlan networks reach each other,
// published ports answer from the host, connect / disconnect / rm work and leave nothing,
// tsnetd can be killed and restarted under dockerd, and bad requests fail cleanly.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { cli } from './daemon.js';
import { canPing, inNs, firewallDump, linkNames } from './helpers.js';
import {
  IMAGE, docker, dockerAvailable, importBusybox, killTsnetd, purgeTsnetd, sleep, startDockerd, startTsnetd, stopDockerd, stopTsnetd,
  type Dockerd, type Tsnetd,
} from './docker-env.js';

const t = suite('docker: a stock dockerd on tsnet networks');
let pluginDir: string;
let tsnetd: Tsnetd | undefined;
let dockerd: Dockerd | undefined;

t.before(async () => {
  if (!dockerAvailable()) return;
  pluginDir = mkdtempSync(join(tmpdir(), 'tsnet-docker-plugins-'));
  tsnetd = await startTsnetd(pluginDir);
  dockerd = await startDockerd(pluginDir);
  await importBusybox(dockerd);
  await inNs(undefined, ['ip', 'link', 'add', 'dkpar0', 'type', 'veth', 'peer', 'name', 'dkpar1']);
  for (const l of ['dkpar0', 'dkpar1']) await inNs(undefined, ['ip', 'link', 'set', l, 'up']);
});

t.after(async () => {
  if (dockerd) await stopDockerd(dockerd);
  if (tsnetd) {
    await stopTsnetd(tsnetd);
    await purgeTsnetd(tsnetd);
  }
  await inNs(undefined, ['ip', 'link', 'del', 'dkpar0'], [1]);
  if (pluginDir) rmSync(pluginDir, { recursive: true, force: true });
});

const d = () => dockerd!;
const dk = (args: string[], ok: number[] = []) => docker(d(), args, ok);
const runArgs = ['run', '--pull=never'];
const ipOf = async (ctr: string, net: string) =>
  (await dk(['inspect', '-f', `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`, ctr])).stdout.trim();
const netId = async (name: string) => (await dk(['network', 'inspect', '-f', '{{.Id}}', name])).stdout.trim();
const tsnetNetworks = async () => {
  const out = (await cli(tsnetd!, ['network', 'ls', '-q', '--no-trunc', '-f', 'label=tsnet.owner=docker'])).stdout;
  return out.split('\n').filter(Boolean);
};

/** GET http://127.0.0.1:port/ from the host netns, retried while the server starts (bounded). */
async function fetchText(port: number): Promise<string | undefined> {
  for (let i = 0; i < 30; i++) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(2000) });
      return await r.text();
    } catch {
      await sleep(100);
    }
  }
  return undefined;
}

function skipped(): boolean {
  if (dockerd) return false;
  console.error('docker tests skipped: Debian\'s docker.io (/usr/bin/docker, /usr/sbin/dockerd) is not installed');
  return true;
}

t('two containers ping each other by IP; a published port answers from the host; tsnet shows the network as Docker\'s', async () => {
  if (skipped()) return;
  await dk(['network', 'create', '-d', 'tsnet', '--ipam-driver', 'tsnet', '--subnet', '10.213.90.0/24', 'n1']);
  const id = await netId('n1');
  assert.equal(await tsnetNetworks(), [id], 'tsnet lists it, labelled tsnet.owner=docker');
  const [inspect] = JSON.parse((await cli(tsnetd!, ['network', 'inspect', id])).stdout) as { Name: string; Labels: Record<string, string> }[];
  assert.equal([inspect?.Name, inspect?.Labels['tsnet.owner']], [`docker-${id.slice(0, 12)}`, 'docker']);

  await dk([...runArgs, '-d', '--name', 'web', '--network', 'n1', '-p', '127.0.0.1:18080:80', IMAGE, 'httpd', '-f', '-p', '80', '-h', '/www']);
  await dk([...runArgs, '-d', '--name', 'peer', '--network', 'n1', IMAGE, 'sleep', '600']);
  const web = await ipOf('web', 'n1');
  const peer = await ipOf('peer', 'n1');
  assert.match(web, /^10\.213\.90\.\d+$/);
  assert.is((await dk(['exec', 'peer', 'ping', '-c', '1', '-W', '2', web], [1])).exitCode, 0, 'peer -> web');
  assert.is((await dk(['exec', 'web', 'ping', '-c', '1', '-W', '2', peer], [1])).exitCode, 0, 'web -> peer');
  assert.ok(await canPing(undefined, web), 'host -> web through the bridge');
  assert.is(await fetchText(18080), 'hello from tsnet\n');
  assert.match(await firewallDump(), new RegExp(`tcp \\. 127\\.0\\.0\\.1 \\. 18080 : ${web.replace(/\./g, '\\.')} \\. 80`));
  // The container's interface is Docker's eth0 with tsnet's MAC, its host end on tsnet's bridge.
  const ipAddr = (await dk(['exec', 'web', 'ip', 'addr', 'show', 'eth0'])).stdout;
  assert.match(ipAddr, /link\/ether 02:42:0a:d5:5a:/);
  assert.ok((await linkNames()).includes(`tsbr-${id.slice(0, 10)}`));
});

t('docker network connect / disconnect on a running container', async () => {
  if (skipped()) return;
  await dk(['network', 'create', '-d', 'tsnet', '--ipam-driver', 'tsnet', '--subnet', '10.213.91.0/24', 'n2']);
  const id = await netId('n2');
  await dk(['network', 'connect', 'n2', 'peer']);
  const ip = await ipOf('peer', 'n2');
  assert.match(ip, /^10\.213\.91\.\d+$/);
  assert.match((await dk(['exec', 'peer', 'ip', 'addr', 'show', 'eth1'])).stdout, new RegExp(`inet ${ip.replace(/\./g, '\\.')}/24`));
  assert.is((await dk(['exec', 'peer', 'ping', '-c', '1', '-W', '2', '10.213.91.1'], [1])).exitCode, 0, 'reaches n2\'s gateway');
  const bridge = `tsbr-${id.slice(0, 10)}`;
  const ports = async () => (await inNs(undefined, ['ip', '-o', 'link', 'show', 'master', bridge])).stdout.split('\n').filter(Boolean).length;
  assert.is(await ports(), 1);
  await dk(['network', 'disconnect', 'n2', 'peer']);
  assert.is((await dk(['exec', 'peer', 'ip', 'addr', 'show', 'eth1'], [1])).exitCode, 1, 'eth1 is gone');
  assert.is(await ports(), 0, 'no port left on the bridge');
  assert.not.ok((await linkNames()).some((l) => /^tsn[0-9a-f]{12}$/.test(l)), 'no temporary interface left');
  assert.is((await dk(['exec', 'peer', 'ping', '-c', '1', '-W', '2', await ipOf('web', 'n1')], [1])).exitCode, 0, 'n1 still works');
});

t('docker network rm leaves nothing: links, rules, pools', async () => {
  if (skipped()) return;
  const ids = [await netId('n1'), await netId('n2')];
  await dk(['rm', '-f', 'web', 'peer']);
  await dk(['network', 'rm', 'n1', 'n2']);
  const links = await linkNames();
  for (const id of ids) assert.not.ok(links.includes(`tsbr-${id.slice(0, 10)}`), 'bridge removed');
  assert.not.ok(links.some((l) => /^(veth|tsn[0-9a-f]{12}$)/.test(l)), `no veth or temporary link: ${links.join(' ')}`);
  const rules = await firewallDump();
  for (const id of ids) assert.not.match(rules, new RegExp(id));
  assert.not.match(rules, /18080/);
  assert.equal(await tsnetNetworks(), []);
  // The pools went back: the same subnets can be had again.
  await dk(['network', 'create', '-d', 'tsnet', '--ipam-driver', 'tsnet', '--subnet', '10.213.90.0/24', '--subnet', '10.213.91.0/24', 'again']);
  await dk(['network', 'rm', 'again']);
  assert.equal(await tsnetNetworks(), []);
});

t('a macvlan network through the same plugin (parent: a veth end)', async () => {
  if (skipped()) return;
  await dk(['network', 'create', '-d', 'tsnet', '--ipam-driver', 'tsnet', '--subnet', '10.213.92.0/24', '-o', 'parent=dkpar0', '-o', 'macvlan_mode=bridge', 'mv']);
  await dk([...runArgs, '-d', '--name', 'm1', '--network', 'mv', IMAGE, 'sleep', '600']);
  const m1 = await ipOf('m1', 'mv');
  const out = await dk([...runArgs, '--rm', '--network', 'mv', IMAGE, 'sh', '-c', `ip -o link show eth0; ping -c 1 -W 2 ${m1}`], [1]);
  assert.is(out.exitCode, 0, out.stdout + out.stderr);
  assert.match(out.stdout, /eth0@if\d+: .*link\/ether 02:42:0a:d5:5c:/, 'a macvlan (eth0@parent) with tsnet\'s MAC');
  await dk(['rm', '-f', 'm1']);
  await dk(['network', 'rm', 'mv']);
  const links = await linkNames();
  assert.not.ok(links.some((l) => /^tsn[0-9a-f]{12}$/.test(l)), `no macvlan left: ${links.join(' ')}`);
  assert.equal(await tsnetNetworks(), []);
});

t('kill -9 and restart tsnetd between two docker runs: the second still works, published ports too', async () => {
  if (skipped()) return;
  await dk(['network', 'create', '-d', 'tsnet', '--ipam-driver', 'tsnet', '--subnet', '10.213.93.0/24', 'n3']);
  await dk([...runArgs, '-d', '--name', 'before', '--network', 'n3', '-p', '127.0.0.1:18082:80', IMAGE, 'httpd', '-f', '-p', '80', '-h', '/www']);
  assert.is((await dk([...runArgs, '--rm', '--network', 'n3', IMAGE, 'true'], [1])).exitCode, 0);
  await killTsnetd(tsnetd!);
  tsnetd = await startTsnetd(pluginDir, tsnetd!.dir);
  const out = await dk([...runArgs, '--rm', '--network', 'n3', IMAGE, 'ping', '-c', '1', '-W', '2', await ipOf('before', 'n3')], [1]);
  assert.is(out.exitCode, 0, out.stderr);
  assert.is(await fetchText(18082), 'hello from tsnet\n', 'the port published before the restart');
  await dk([...runArgs, '-d', '--name', 'after', '--network', 'n3', '-p', '127.0.0.1:18083:80', IMAGE, 'httpd', '-f', '-p', '80', '-h', '/www']);
  assert.is(await fetchText(18083), 'hello from tsnet\n', 'a port published after the restart');
  await dk(['rm', '-f', 'before', 'after']);
  await dk(['network', 'rm', 'n3']);
  const left = (await firewallDump()).split('\n').filter((l) => /1808[23]/.test(l));
  assert.equal(left, [], 'no rule of the published ports left');
  assert.equal(await tsnetNetworks(), []);
});

t('pool overlap, unknown options and a missing parent fail through docker; nothing is left; both daemons go on', async () => {
  if (skipped()) return;
  await dk(['network', 'create', '-d', 'tsnet', '--ipam-driver', 'tsnet', '--subnet', '10.213.94.0/24', 'n4']);
  const fails = async (args: string[], re: RegExp) => {
    const r = await dk(['network', 'create', '-d', 'tsnet', ...args], [1]);
    assert.is(r.exitCode, 1, `should fail: ${args.join(' ')}`);
    assert.match(r.stderr, re);
  };
  await fails(['--ipam-driver', 'tsnet', '--subnet', '10.213.94.128/25', 'bad1'], /overlaps pool 10\.213\.94\.0\/24/);
  await fails(['--subnet', '10.213.94.0/24', 'bad2'], /overlaps/);
  await fails(['--ipam-driver', 'tsnet', '-o', 'bogus=1', 'bad3'], /unknown bridge option "bogus"/);
  await fails(['--ipam-driver', 'tsnet', '-o', 'parent=nosuch0', 'bad4'], /parent interface "nosuch0" not found/);
  await fails(['--ipam-driver', 'tsnet', '-o', 'tsnet.driver=vxlan', 'bad5'], /tsnet\.driver/);
  // Two networks on one bridge would not be isolated from each other: refused, as Docker's
  // bridge driver refuses it; tsnetd's own default network has tsnet0.
  const br = 'com.docker.network.bridge.name';
  await dk(['network', 'create', '-d', 'tsnet', '--ipam-driver', 'tsnet', '--subnet', '10.213.95.0/24', '-o', `${br}=sharedbr`, 'n5']);
  const n5 = `docker-${(await netId('n5')).slice(0, 12)}`;
  await fails(['--ipam-driver', 'tsnet', '--subnet', '10.213.96.0/24', '-o', `${br}=sharedbr`, 'bad6'], new RegExp(`${br}: bridge "sharedbr" is already used by network "${n5}"`));
  await fails(['--ipam-driver', 'tsnet', '-o', `${br}=tsnet0`, 'bad7'], new RegExp(`${br}: bridge "tsnet0" is already used by network "bridge"`));
  await dk(['network', 'rm', 'n5']);
  assert.not.ok((await linkNames()).includes('sharedbr'), 'the bridge went with n5');
  const r = await dk([...runArgs, '--rm', '--network', 'n4', '-p', '127.0.0.1:18084:80/sctp', IMAGE, 'true'], [125, 126, 127]);
  assert.ok(r.exitCode !== 0 && /protocol 132/.test(r.stderr), `sctp publishing is refused: ${r.stderr}`);
  assert.equal((await tsnetNetworks()).length, 1, 'failed creates left no network');
  assert.is((await dk([...runArgs, '--rm', '--network', 'n4', IMAGE, 'ping', '-c', '1', '-W', '2', '10.213.94.1'], [1])).exitCode, 0);
  await dk(['network', 'rm', 'n4']);
  // Every failed create released its pool: one wide network over all of them works.
  await dk(['network', 'create', '-d', 'tsnet', '--ipam-driver', 'tsnet', '--subnet', '10.213.94.0/23', 'wide']);
  await dk(['network', 'create', '-d', 'tsnet', '--ipam-driver', 'tsnet', '--subnet', '10.213.96.0/24', 'wide2']);
  await dk(['network', 'rm', 'wide2']);
  await dk(['network', 'rm', 'wide']);
  assert.equal(await tsnetNetworks(), []);
});

t.run();
