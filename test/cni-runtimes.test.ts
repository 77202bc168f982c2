// Real container runtimes on tsnet's CNI plugins, in the test's throwaway host netns, each
// in its own mount namespace with its own roots, sockets and config dirs (see
// cni-runtimes-env.ts): Debian's podman 4.3 with network_backend = "cni" (0.4.0 conflists)
// and a private containerd driven by `ctr run --cni`. Both through the fast path (the
// installed shim forwarding to a tsnetd the test starts) and standalone (no daemon: the
// shim runs the plugins in Node). Containers get tsnet addresses, reach each other, publish
// ports; removing them leaves no veth, no published port, no endpoint in tsnet's store.
// A runtime that cannot run here is skipped with a printed reason.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../core/exec/index.js';
import { NetworkManager } from '../drivers/index.js';
import { cleanup, firewallDump, settledLinks } from './helpers.js';
import { startDaemon, stopDaemon, purgeDaemon, removeDaemonDir, type Daemon } from './daemon.js';
import {
  CONTAINERD, CTR, CTR_IMAGE, IMAGE, PODMAN, buildRootfs, ctr, installCni, missing, ociArchive, podman, reconfigurePodman,
  rootfsTarball, sleep, startContainerd, startDaemonIn, startPodman, stopContainerd, stopPodman, tempDir,
  type CniDirs, type Containerd, type Podman,
} from './cni-runtimes-env.js';

type Env = Record<string, string | undefined>;

/** Endpoints in the tsnet store at `root` (none when it was never created). */
function endpointsIn(root: string): string[] {
  const db = join(root, 'tsnet.db');
  if (!existsSync(db)) return [];
  const mgr = NetworkManager.open(db);
  try {
    return mgr.listEndpoints().map((e) => `${e.networkName}:${e.sandbox}:${e.ifname}`);
  } finally {
    mgr.close();
  }
}

/** Removes every endpoint, network and rule of the standalone store at `root`, then the store. */
async function purgeStore(root: string): Promise<void> {
  const db = join(root, 'tsnet.db');
  if (existsSync(db)) await cleanup(NetworkManager.open(db), db);
}

/** veth links in the test's host netns (host ends of container interfaces). */
function veths(): Promise<string[]> {
  return settledLinks(undefined, ['type', 'veth']);
}

function bridgePorts(bridge: string): Promise<string[]> {
  return settledLinks(undefined, ['master', bridge]);
}

/** Files libcni cached for attachments (results/*): one per live attachment. */
function cachedResults(cni: CniDirs): string[] {
  const dir = join(cni.cacheDir, 'results');
  return existsSync(dir) ? readdirSync(dir) : [];
}

/** `timeout 5 busybox wget` of http://127.0.0.1:port/ from the host netns, retried (bounded). */
async function fetchText(port: number): Promise<string | undefined> {
  for (let i = 0; i < 20; i++) {
    const r = await run(['timeout', '5', 'busybox', 'wget', '-q', '-O', '-', `http://127.0.0.1:${port}/`], { okCodes: [1, 124, 143] });
    if (r.exitCode === 0) return r.stdout;
    await sleep(250);
  }
  return undefined;
}

async function waitFor(cond: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  for (let waited = 0; waited < ms; waited += 100) {
    if (await cond()) return true;
    await sleep(100);
  }
  return cond();
}

// -----------------------------------------------------------------------------------------
// podman

const P = suite('cni-runtimes: podman 4 (CNI backend) on tsnet conflists');
const PNET = 'tsnet';
const PBRIDGE = 'tspod0';
const PSUBNET = '10.214.0';
let pdir = '';
let pcni: CniDirs | undefined;
let pman: Podman | undefined;
let pdaemon: Daemon | undefined;
let pskip: string | undefined;

P.before(async () => {
  pskip = missing([PODMAN, '/usr/bin/conmon', '/usr/sbin/runc']);
  if (pskip) return;
  pdir = tempDir('tsnet-cni-podman-');
  pcni = await installCni(pdir, { network: PNET, subnet: `${PSUBNET}.0/24`, bridge: PBRIDGE, cniVersion: '0.4.0' });
  // The daemon's socket path is known before it starts; the daemon joins podman's mount
  // namespace (it opens the /run/netns/... paths podman passes as CNI_NETNS).
  pman = await startPodman(join(pdir, 'podman'), pcni, {});
  pdaemon = await startDaemonIn(pman.ns);
  reconfigurePodman(pman, fastEnv(pdaemon));
  const info = await podman(pman, ['info', '--format', '{{.Host.NetworkBackend}}'], [125]);
  if (info.exitCode !== 0 || info.stdout.trim() !== 'cni') {
    pskip = `podman cannot run here (podman info: ${info.stdout.trim()} ${info.stderr.trim().slice(-400)})`;
    return;
  }
  const tar = await rootfsTarball(await buildRootfs(pdir), join(pdir, 'busybox.tar'));
  await podman(pman, ['import', '--quiet', '--change', 'CMD ["sh"]', tar, IMAGE]);
});

P.after(async () => {
  if (pman) await stopPodman(pman);
  if (pdaemon) await dropDaemon(pdaemon);
  if (pdir) {
    await purgeStore(join(pdir, 'standalone'));
    rmSync(pdir, { recursive: true, force: true });
  }
});

/** The plugins' environment on the fast path; TSNET_ROOT is a store that must stay unused. */
function fastEnv(d: Daemon): Env {
  return { TSNET_HOST: d.socket, TSNET_ROOT: join(d.dir, 'would-be-standalone'), TSNET_RUN: join(d.dir, 'would-be-standalone-run') };
}

async function dropDaemon(d: Daemon): Promise<void> {
  await stopDaemon(d);
  await purgeDaemon(d);
  await removeDaemonDir(d);
}

const pskipped = () => (pskip ? (console.log(`  podman skipped: ${pskip}`), true) : false);
const pm = (args: string[], ok: number[] = []) => podman(pman!, args, ok);
const pip = async (name: string) => (await pm(['inspect', '-f', `{{(index .NetworkSettings.Networks "${PNET}").IPAddress}}`, name])).stdout.trim();
const prun = ['run', '--network', PNET];

/** Two containers ping each other; one publishes 127.0.0.1:port; removing them leaves nothing. */
async function podmanScenario(port: number, storeRoot: string): Promise<void> {
  try {
    await scenarioSteps(port, storeRoot);
  } finally {
    await pm(['rm', '-f', '-t', '0', 'web', 'peer'], [1, 125]);
  }
}

async function scenarioSteps(port: number, storeRoot: string): Promise<void> {
  await pm([...prun, '-d', '--name', 'web', '-p', `127.0.0.1:${port}:80`, IMAGE, 'httpd', '-f', '-p', '80', '-h', '/www']);
  await pm([...prun, '-d', '--name', 'peer', IMAGE, 'sleep', '600']);
  const web = await pip('web');
  const peer = await pip('peer');
  assert.match(web, new RegExp(`^${PSUBNET.replace(/\./g, '\\.')}\\.\\d+$`));
  assert.match(peer, new RegExp(`^${PSUBNET.replace(/\./g, '\\.')}\\.\\d+$`));
  assert.is.not(web, peer);
  const eps = endpointsIn(storeRoot);
  assert.is(eps.filter((e) => e.startsWith(`cni-bridge-${PNET}:`)).length, 2, `tsnet's store holds both attachments: ${eps.join(' ')}`);
  assert.is(eps.filter((e) => e.startsWith(`cni-portmap-${PNET}:`)).length, 1, `and web's port mappings: ${eps.join(' ')}`);
  assert.equal((await bridgePorts(PBRIDGE)).length, 2, 'two ports on the tsnet bridge');
  const p1 = await pm(['exec', 'peer', 'ping', '-c', '1', '-W', '2', web], [1]);
  assert.is(p1.exitCode, 0, `peer -> web: ${p1.stdout}${p1.stderr}`);
  const p2 = await pm(['exec', 'web', 'ping', '-c', '1', '-W', '2', peer], [1]);
  assert.is(p2.exitCode, 0, `web -> peer: ${p2.stdout}${p2.stderr}`);
  assert.match((await pm(['exec', 'peer', 'ip', '-o', 'addr', 'show', 'eth0'])).stdout, new RegExp(`inet ${peer.replace(/\./g, '\\.')}/24`));

  assert.is(await fetchText(port), 'hello from tsnet\n', `127.0.0.1:${port} answers from the host`);
  // tsnet-portmap's DNAT: an element of tsnet's nft port map; podman's conmon also holds the port open.
  assert.match(await firewallDump(), new RegExp(`tcp \\. 127\\.0\\.0\\.1 \\. ${port} : ${web.replace(/\./g, '\\.')} \\. 80`));

  await pm(['rm', '-f', '-t', '0', 'web', 'peer']);
  await assertNothingLeft(storeRoot, web, port);
}

/** No veth, no bridge port, no published port or rule naming `ip`, no endpoint, no CNI cache entry. */
async function assertNothingLeft(storeRoot: string, ip: string, port: number): Promise<void> {
  assert.equal(await veths(), [], 'no veth left');
  assert.equal(await bridgePorts(PBRIDGE), [], 'no port left on the bridge');
  assert.not.match(await firewallDump(), new RegExp(`\\. ${port} :`), 'the published port is gone');
  assert.not.match(await firewallDump(), new RegExp(`${ip.replace(/\./g, '\\.')}[^/0-9]`), 'no rule names the container');
  assert.equal(endpointsIn(storeRoot), [], 'no endpoint in tsnet\'s store');
  assert.equal(cachedResults(pcni!), [], 'libcni cached nothing');
}

P('fast path: two containers on a tsnet conflist ping each other; -p 127.0.0.1:PORT:80 answers from the host; rm -f leaves nothing', async () => {
  if (pskipped()) return;
  await podmanScenario(18201, pdaemon!.root);
  assert.not.ok(existsSync(join(fastEnv(pdaemon!).TSNET_ROOT!, 'tsnet.db')), 'nothing ran standalone');
});

P('fast path: podman\'s own cleanup process ([engine] env) detaches a --rm container that exits by itself', async () => {
  if (pskipped()) return;
  const id = (await pm([...prun, '-d', '--rm', IMAGE, 'sleep', '2'])).stdout.trim();
  assert.ok(await waitFor(() => endpointsIn(pdaemon!.root).length === 1, 5000), `attached while it runs: ${endpointsIn(pdaemon!.root).join(' ')}`);
  const gone = await waitFor(async () => (await pm(['container', 'exists', id], [1])).exitCode === 1 && endpointsIn(pdaemon!.root).length === 0, 20_000);
  assert.ok(gone, `container removed and its endpoint released by \`podman container cleanup\`: ${endpointsIn(pdaemon!.root).join(' ')} ${(await pm(['ps', '-a'])).stdout}`);
  assert.equal(await veths(), []);
  assert.equal(cachedResults(pcni!), []);
  assert.not.ok(existsSync(join(fastEnv(pdaemon!).TSNET_ROOT!, 'tsnet.db')), 'the cleanup process reached tsnetd too');
});

P('standalone (no tsnetd): the same scenario, state in the plugins\' own store', async () => {
  if (pskipped()) return;
  // The daemon's world goes first: the standalone store creates the network (same bridge) anew.
  await dropDaemon(pdaemon!);
  pdaemon = undefined;
  const root = join(pdir, 'standalone');
  reconfigurePodman(pman!, { TSNET_ROOT: root, TSNET_RUN: join(pdir, 'standalone-run'), TSNET_HOST: undefined });
  await podmanScenario(18202, root);
  const out = await pm([...prun, '--rm', IMAGE, 'sh', '-c', `ip -o addr show eth0 && ping -c 1 -W 2 ${PSUBNET}.1`], [1]);
  assert.is(out.exitCode, 0, out.stderr);
  assert.match(out.stdout, new RegExp(`inet ${PSUBNET.replace(/\./g, '\\.')}\\.\\d+/24`));
  assert.equal(endpointsIn(root), []);
  assert.equal(await veths(), []);
});

P.run();

// -----------------------------------------------------------------------------------------
// containerd

const C = suite('cni-runtimes: containerd (ctr run --cni) on a tsnet conflist');
const CBRIDGE = 'tsctr0';
const CSUBNET = '10.214.1';
let cdir = '';
let ccni: CniDirs | undefined;
let cd: Containerd | undefined;
let cdaemon: Daemon | undefined;
let cskip: string | undefined;

C.before(async () => {
  cskip = missing([CONTAINERD, CTR, '/usr/bin/containerd-shim-runc-v2', '/usr/sbin/runc']);
  if (cskip) return;
  cdir = tempDir('tsnet-cni-containerd-');
  cdaemon = await startDaemon();
  ccni = await installCni(cdir, { network: 'tsnet', subnet: `${CSUBNET}.0/24`, bridge: CBRIDGE, cniVersion: '1.0.0' });
  try {
    cd = await startContainerd(join(cdir, 'containerd'), ccni, fastEnv(cdaemon));
  } catch (err) {
    cskip = `containerd cannot run here: ${String(err).slice(0, 400)}`;
    return;
  }
  const archive = await ociArchive(await buildRootfs(cdir), cdir);
  await ctr(cd, ['image', 'import', '--snapshotter', 'native', archive]);
});

C.after(async () => {
  if (cd) await stopContainerd(cd);
  if (cdaemon) await dropDaemon(cdaemon);
  if (cdir) {
    await purgeStore(join(cdir, 'standalone'));
    rmSync(cdir, { recursive: true, force: true });
  }
});

const cskipped = () => (cskip ? (console.log(`  containerd skipped: ${cskip}`), true) : false);

/** `ctr run --cni --rm` a container that prints its eth0 and routes and pings the gateway. */
async function ctrRun(id: string, env: Env): Promise<string> {
  const r = await ctr({ ...cd!, env: { ...cd!.env, ...env } },
    ['run', '--snapshotter', 'native', '--cni', '--rm', CTR_IMAGE, id, 'sh', '-c', `ip -o addr show eth0; ip route; ping -c 1 -W 2 ${CSUBNET}.1`], [1, 2, 125]);
  assert.is(r.exitCode, 0, `ctr run: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

async function ctrNothingLeft(storeRoot: string): Promise<void> {
  assert.equal(await veths(), [], 'no veth left');
  assert.equal(await bridgePorts(CBRIDGE), [], 'no port left on the bridge');
  assert.equal(endpointsIn(storeRoot), [], 'no endpoint in tsnet\'s store');
  assert.equal(cachedResults(ccni!), [], 'libcni cached nothing');
  assert.equal((await ctr(cd!, ['container', 'ls', '-q'])).stdout.trim(), '', 'no container left');
}

C('fast path: ctr run --cni --rm gets a tsnet address (seen from inside), reaches the gateway; teardown leaves nothing', async () => {
  if (cskipped()) return;
  const out = await ctrRun('c1', fastEnv(cdaemon!));
  assert.match(out, new RegExp(`eth0 +inet ${CSUBNET.replace(/\./g, '\\.')}\\.\\d+/24`), out);
  assert.match(out, new RegExp(`default via ${CSUBNET.replace(/\./g, '\\.')}\\.1 dev eth0`), out);
  assert.match(out, /1 packets received/);
  await ctrNothingLeft(cdaemon!.root);
  assert.not.ok(existsSync(join(fastEnv(cdaemon!).TSNET_ROOT!, 'tsnet.db')), 'nothing ran standalone');
  // The network stays (as the reference bridge keeps cni0) in the daemon's store.
  const mgr = NetworkManager.open(join(cdaemon!.root, 'tsnet.db'));
  try {
    assert.equal(mgr.listNetworks().map((n) => n.name).filter((n) => n.startsWith('cni-')), ['cni-bridge-tsnet']);
  } finally {
    mgr.close();
  }
});

C('standalone (no tsnetd): ctr run --cni --rm, state in the plugins\' own store, nothing left', async () => {
  if (cskipped()) return;
  await dropDaemon(cdaemon!);
  cdaemon = undefined;
  const root = join(cdir, 'standalone');
  const out = await ctrRun('c2', { TSNET_ROOT: root, TSNET_RUN: join(cdir, 'standalone-run'), TSNET_HOST: undefined });
  assert.match(out, new RegExp(`eth0 +inet ${CSUBNET.replace(/\./g, '\\.')}\\.\\d+/24`), out);
  assert.match(out, /1 packets received/);
  assert.ok(existsSync(join(root, 'tsnet.db')), 'the plugins ran in Node with their own store');
  await ctrNothingLeft(root);
});

C.run();
