/**
 * CNI at the exec level, as runtimes call it: the standalone Node executable, the compiled
 * shim falling back to it with no daemon, the shim forwarding to tsnetd, chaining with
 * Debian's reference plugins both ways, and 64 parallel ADDs then DELs. Everything runs in
 * the test's throwaway host netns with its own state dirs; each test removes what it made.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, linkSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { packageRoot, paths } from '../core/index.js';
import Database from 'better-sqlite3';
import { run, start } from '../core/exec/index.js';
import { NetworkManager } from '../drivers/index.js';
import { tokenize } from '../core/firewall/index.js';
import { cleanup, newSandbox, dropSandbox, addrsOf, linkNames, settledLinks, ipJson, ask, serve } from './helpers.js';
import { startDaemon, stopDaemon, purgeDaemon, removeDaemonDir } from './daemon.js';

const ROOT = packageRoot();
const BIN = join(ROOT, 'bin', 'tsnet-cni');
const SHIM = join(ROOT, 'build', 'Release', 'tsnet_cni_shim');
const REF = '/usr/lib/cni';
const state = join(paths().root, `cni-exec-${randomBytes(3).toString('hex')}`);
const shimDir = join(state, 'bin');
const T = suite('cni-exec');

type Json = Record<string, unknown>;
const ALL_CODES = Array.from({ length: 255 }, (_, i) => i + 1);

/** The environment an exec'd plugin gets: the test's, without Node's CA bundle, with our state dirs. */
function baseEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env['NODE_EXTRA_CA_CERTS'];
  delete env['TSNET_HOST'];
  return { ...env, TSNET_ROOT: join(state, 'lib'), TSNET_RUN: join(state, 'run'), CNI_PATH: shimDir, CNI_IFNAME: 'eth0', ...extra };
}

async function exec(argv: string[], cmd: string, conf: Json, env: Record<string, string | undefined>): Promise<{ exitCode: number; out: Json | undefined; raw: string }> {
  const r = await run(argv, { input: JSON.stringify(conf), env: baseEnv({ CNI_COMMAND: cmd, ...env }), okCodes: ALL_CODES, timeoutMs: 60_000 });
  // stdout carries one JSON document (or nothing): anything else fails to parse here.
  return { exitCode: r.exitCode, out: r.stdout.trim() ? (JSON.parse(r.stdout) as Json) : undefined, raw: `${r.stdout}${r.stderr}` };
}

const standalone = (plugin: string) => [process.execPath, BIN, '--plugin', plugin];
const shim = (plugin: string) => [join(shimDir, plugin)];

const conf = (o: Json = {}): Json => ({
  cniVersion: '1.0.0', name: 'xtest', type: 'tsnet-bridge', bridge: 'cnix0', isGateway: true, isDefaultGateway: true,
  ipam: { type: 'tsnet-ipam', ranges: [[{ subnet: '10.237.0.0/24' }]] }, ...o,
});

T.before(() => {
  mkdirSync(shimDir, { recursive: true });
  if (existsSync(SHIM)) for (const p of ['tsnet-bridge', 'tsnet-ipam', 'tsnet-portmap', 'tsnet-macvlan', 'tsnet-bandwidth']) linkSync(SHIM, join(shimDir, p));
});

T.after(async () => {
  const dbFile = join(state, 'lib', 'tsnet.db');
  if (existsSync(dbFile)) await cleanup(NetworkManager.open(dbFile), dbFile);
  rmSync(state, { recursive: true, force: true });
});

T('standalone executable: ADD, CHECK, DEL; error objects with the right codes and nothing else on stdout', async () => {
  const ns = await newSandbox('cnix-sa');
  try {
    const env = { CNI_CONTAINERID: 'sa1', CNI_NETNS: ns };
    const add = await exec(standalone('tsnet-bridge'), 'ADD', conf(), env);
    assert.is(add.exitCode, 0, add.raw);
    const ip = (add.out as { ips: { address: string }[] }).ips[0]?.address;
    assert.equal(await addrsOf(ns, 'eth0'), [ip]);
    assert.is((await exec(standalone('tsnet-bridge'), 'CHECK', { ...conf(), prevResult: add.out }, env)).exitCode, 0);
    assert.is((await exec(standalone('tsnet-bridge'), 'DEL', conf(), env)).exitCode, 0);
    const code = async (c: Json | string, e: Record<string, string | undefined>, cmd = 'ADD') => {
      const r = typeof c === 'string'
        ? await run(standalone('tsnet-bridge'), { input: c, env: baseEnv({ CNI_COMMAND: cmd, ...e }), okCodes: ALL_CODES })
        : undefined;
      const o = r ? { exitCode: r.exitCode, out: JSON.parse(r.stdout) as Json } : await exec(standalone('tsnet-bridge'), cmd, c as Json, e);
      assert.is(o.exitCode, 1);
      return (o.out as { code: number }).code;
    };
    assert.is(await code('{"cniVersion": ', env), 6);
    assert.is(await code(conf({ cniVersion: '0.2.0' }), env), 1);
    assert.is(await code(conf(), { CNI_CONTAINERID: undefined, CNI_NETNS: ns }), 4);
    assert.is(await code(conf(), { ...env, CNI_COMMAND: undefined }, 'WHAT'), 4);
    assert.is(await code(conf({ name: 'xbad', ipam: { type: 'tsnet-ipam', ranges: [[{ subnet: '10.237.1.7/24' }]] } }), env), 7);
    const v = await exec(standalone('tsnet-macvlan'), 'VERSION', {}, {});
    assert.equal(v.out, { cniVersion: '1.1.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
  } finally {
    dropSandbox(ns);
  }
});

T('shim with no daemon falls back to the standalone plugins', async () => {
  if (!existsSync(SHIM)) return void console.log('  (skipped: build/Release/tsnet_cni_shim not built)');
  const ns = await newSandbox('cnix-fb');
  try {
    const env = { CNI_CONTAINERID: 'fb1', CNI_NETNS: ns };
    const add = await exec(shim('tsnet-bridge'), 'ADD', conf({ cniVersion: '0.3.1' }), env);
    assert.is(add.exitCode, 0, add.raw);
    assert.is((add.out as { ips: { version: string }[] }).ips[0]?.version, '4');
    assert.is((await exec(shim('tsnet-bridge'), 'DEL', conf(), { ...env, CNI_NETNS: '' })).exitCode, 0);
    assert.equal(await linkNames(ns), ['lo']);
    const bad = await exec(shim('tsnet-bridge'), 'ADD', { cniVersion: '7.0.0', name: 'x', type: 'tsnet-bridge' }, env);
    assert.equal([bad.exitCode, (bad.out as { code: number }).code], [1, 1]);
  } finally {
    dropSandbox(ns);
  }
});

T('standalone ADD killed while it creates the network: the next ADD undoes the half-made network and makes it again', async () => {
  const c = conf({ name: 'xcrash', bridge: 'cnik0', ipam: { type: 'tsnet-ipam', ranges: [[{ subnet: '10.237.9.0/24' }]] } });
  const ns = await newSandbox('cnix-kill');
  const dbFile = join(state, 'lib', 'tsnet.db');
  try {
    const first = start(standalone('tsnet-bridge'), { input: JSON.stringify(c), env: baseEnv({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'k1', CNI_NETNS: ns }) });
    let caught = false;
    for (let i = 0; i < 2000 && !caught; i++) {
      // Killed once its network row is recorded and not yet ready (bridge and rules under way).
      const db = existsSync(dbFile) ? new Database(dbFile, { readonly: true }) : undefined;
      try {
        const row = db?.prepare("SELECT state FROM networks WHERE name = 'cni-bridge-xcrash'").get() as { state: string } | undefined;
        if (row?.state === 'creating') {
          process.kill(first.pid, 'SIGKILL');
          caught = true;
        }
      } finally {
        db?.close();
      }
      if (!caught) await new Promise((r) => setTimeout(r, 2));
    }
    await first.exited;
    assert.ok(caught, `the first ADD was caught creating the network: ${first.output().stdout}`);
    const t0 = Date.now();
    const add = await exec(standalone('tsnet-bridge'), 'ADD', c, { CNI_CONTAINERID: 'k2', CNI_NETNS: ns, CNI_IFNAME: 'eth1' });
    assert.is(add.exitCode, 0, add.raw);
    assert.ok(Date.now() - t0 < 10_000, 'no wait for the dead creator');
    assert.equal((await addrsOf(ns, 'eth1')).length, 1);
    const db = new Database(dbFile, { readonly: true });
    try {
      assert.equal(db.prepare("SELECT state FROM networks WHERE name = 'cni-bridge-xcrash'").all(), [{ state: 'ready' }]);
      assert.equal(db.prepare("SELECT key FROM kv WHERE key LIKE 'cni.creator:%'").all(), [], 'no claim left');
    } finally {
      db.close();
    }
    assert.is((await exec(standalone('tsnet-bridge'), 'DEL', c, { CNI_CONTAINERID: 'k1', CNI_NETNS: ns })).exitCode, 0);
    assert.is((await exec(standalone('tsnet-bridge'), 'DEL', c, { CNI_CONTAINERID: 'k2', CNI_NETNS: ns, CNI_IFNAME: 'eth1' })).exitCode, 0);
    assert.equal(await linkNames(ns), ['lo']);
  } finally {
    dropSandbox(ns);
  }
});

T('shim forwards to tsnetd (fast path): same results, state in the daemon\'s store', async () => {
  if (!existsSync(SHIM)) return void console.log('  (skipped: shim not built)');
  const d = await startDaemon();
  const ns = await newSandbox('cnix-d');
  const fallbackRoot = join(state, 'would-be-standalone');
  try {
    const env = { CNI_CONTAINERID: 'd1', CNI_NETNS: ns, TSNET_HOST: d.socket, TSNET_ROOT: fallbackRoot };
    const c = conf({ cniVersion: '1.1.0', name: 'dtest', bridge: 'cnid0', ipam: { type: 'tsnet-ipam', ranges: [[{ subnet: '10.238.0.0/24' }]] } });
    const add = await exec(shim('tsnet-bridge'), 'ADD', c, env);
    assert.is(add.exitCode, 0, add.raw);
    assert.equal(await addrsOf(ns, 'eth0'), [(add.out as { ips: { address: string }[] }).ips[0]?.address]);
    assert.is((await exec(shim('tsnet-bridge'), 'CHECK', { ...c, prevResult: add.out }, env)).exitCode, 0);
    const err = await exec(shim('tsnet-bridge'), 'ADD', c, env);
    assert.equal([err.exitCode, (err.out as { code: number }).code], [1, 102]);
    // tsnet-bandwidth chained through the daemon: an IFB shapes egress; its DEL retires it.
    const bw = { cniVersion: '1.1.0', name: 'dtest', type: 'tsnet-bandwidth', egressRate: 8_000_000, egressBurst: 800_000 };
    const shaped = await exec(shim('tsnet-bandwidth'), 'ADD', { ...bw, prevResult: add.out }, env);
    assert.is(shaped.exitCode, 0, shaped.raw);
    const ifbs = async () => (await ipJson<{ ifname: string }[]>(undefined, ['link', 'show', 'type', 'ifb'])).map((l) => l.ifname);
    assert.is((await ifbs()).filter((n) => n.startsWith('bwp')).length, 1, 'one IFB');
    assert.is((await exec(shim('tsnet-bandwidth'), 'DEL', bw, env)).exitCode, 0);
    assert.equal((await ifbs()).filter((n) => n.startsWith('bwp')), [], 'the IFB name is free when DEL answers');
    assert.is((await exec(shim('tsnet-bridge'), 'DEL', c, env)).exitCode, 0);
    // tsnetd retires the veth (names free at once) and its reaper deletes it moments later.
    assert.not.ok((await linkNames(ns)).includes('eth0'), 'eth0 is gone from the sandbox when DEL answers');
    const again = await exec(shim('tsnet-bridge'), 'ADD', c, env);
    assert.is(again.exitCode, 0, again.raw);
    assert.is((await exec(shim('tsnet-bridge'), 'DEL', c, env)).exitCode, 0);
    let left = ['?'];
    for (let i = 0; i < 50 && left.length > 0; i++) {
      left = [...await linkNames(), ...await linkNames(ns)].filter((l) => l.startsWith('tsdead'));
      if (left.length > 0) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(left, [], 'the reaper deleted the retired links');
    assert.equal(await linkNames(ns), ['lo']);
    assert.not.ok(existsSync(join(fallbackRoot, 'tsnet.db')), 'nothing ran standalone');
    const pm = await exec(shim('tsnet-portmap'), 'STATUS', { ...c, type: 'tsnet-portmap' }, env);
    assert.equal([pm.exitCode, pm.raw], [0, '']);
  } finally {
    dropSandbox(ns);
    await stopDaemon(d);
    await purgeDaemon(d);
    await removeDaemonDir(d);
  }
});

T('chaining: the reference bridge with tsnet-ipam; tsnet-bridge with the reference portmap', async () => {
  if (!existsSync(join(REF, 'bridge')) || !existsSync(SHIM)) return void console.log('  (skipped: containernetworking-plugins or shim missing)');
  const ns = await newSandbox('cnix-ref');
  const srv = await serve(ns, 'tcp', 8080, 'hello-ref');
  try {
    // Their bridge execs our IPAM from CNI_PATH.
    const refConf = { cniVersion: '1.0.0', name: 'refnet', type: 'bridge', bridge: 'cnixref0', isGateway: true, ipam: { type: 'tsnet-ipam', ranges: [[{ subnet: '10.239.0.0/24' }]], routes: [{ dst: '0.0.0.0/0' }] } };
    const env = { CNI_CONTAINERID: 'ref1', CNI_NETNS: ns, CNI_IFNAME: 'net1' };
    const add = await exec([join(REF, 'bridge')], 'ADD', refConf, env);
    assert.is(add.exitCode, 0, add.raw);
    const ip = (add.out as { ips: { address: string }[] }).ips[0]?.address;
    assert.is(ip, '10.239.0.2/24');
    assert.equal(await addrsOf(ns, 'net1'), [ip]);
    const mgr = NetworkManager.open(join(state, 'lib', 'tsnet.db'));
    try {
      assert.equal(mgr.store.allocations.listByOwner('cni:refnet:ref1:net1').map((a) => a.ip), ['10.239.0.2']);
      assert.is((await exec([join(REF, 'bridge')], 'DEL', refConf, env)).exitCode, 0);
      assert.is(mgr.store.allocations.listByOwner('cni:refnet:ref1:net1').length, 0);
    } finally {
      mgr.close();
    }
    await run(['ip', 'link', 'del', 'cnixref0'], { okCodes: [1] });

    // Our bridge, then their portmap on our result.
    const ours = conf({ name: 'chain' , bridge: 'cnixc0', ipam: { type: 'tsnet-ipam', ranges: [[{ subnet: '10.240.0.0/24' }]] } });
    const env2 = { CNI_CONTAINERID: 'ref2', CNI_NETNS: ns };
    const a2 = await exec(shim('tsnet-bridge'), 'ADD', ours, env2);
    assert.is(a2.exitCode, 0, a2.raw);
    const pmConf = { cniVersion: '1.0.0', name: 'chain', type: 'portmap', snat: true, runtimeConfig: { portMappings: [{ hostPort: 28080, containerPort: 8080, protocol: 'tcp' }] }, prevResult: a2.out };
    const pm = await exec([join(REF, 'portmap')], 'ADD', pmConf, env2);
    assert.is(pm.exitCode, 0, pm.raw);
    const gw = (a2.out as { ips: { gateway: string }[] }).ips[0]?.gateway ?? '';
    assert.is(await ask(undefined, 'tcp', gw, 28080), 'hello-ref');
    assert.is((await exec([join(REF, 'portmap')], 'DEL', pmConf, env2)).exitCode, 0);
    assert.is((await exec(shim('tsnet-bridge'), 'DEL', ours, env2)).exitCode, 0);
  } finally {
    await srv.stop();
    dropSandbox(ns);
    await dropReferenceChains();
  }
});

T('64 parallel ADDs then DELs (standalone processes): all succeed, unique addresses, nothing left', async () => {
  const ns = await newSandbox('cnix-par');
  const N = 64;
  try {
    const c = conf({ name: 'par', bridge: 'cnipar0', ipam: { type: 'tsnet-ipam', ranges: [[{ subnet: '10.241.0.0/24' }]] } });
    const envs = Array.from({ length: N }, (_, i) => ({ CNI_CONTAINERID: `par${i}`, CNI_NETNS: ns, CNI_IFNAME: `p${i}` }));
    const adds = await Promise.all(envs.map((e) => exec(standalone('tsnet-bridge'), 'ADD', c, e)));
    for (const a of adds) assert.is(a.exitCode, 0, a.raw);
    const ips = adds.map((a) => (a.out as { ips: { address: string }[] }).ips[0]?.address);
    assert.is(new Set(ips).size, N, 'unique addresses');
    assert.is((await addrsOf(ns)).length, N);
    const dels = await Promise.all(envs.map((e) => exec(standalone('tsnet-bridge'), 'DEL', c, e)));
    for (const d of dels) assert.is(d.exitCode, 0, d.raw);
    assert.equal(await linkNames(ns), ['lo']);
    assert.not.ok((await linkNames()).some((l) => l.startsWith('veth')), 'no host veth left');
    const mgr = NetworkManager.open(join(state, 'lib', 'tsnet.db'));
    try {
      assert.is(mgr.listEndpoints().length, 0);
      const net = mgr.getNetwork('cni-bridge-par');
      assert.equal(net.subnets.flatMap((s) => mgr.ipam.allocationsOf(s.poolId)).map((a) => a.kind), ['gateway']);
    } finally {
      mgr.close();
    }
  } finally {
    dropSandbox(ns);
  }
});

T('64 parallel ADDs then DELs through tsnetd (fast path): unique addresses, names free at once, the reaper deletes the rest', async () => {
  if (!existsSync(SHIM)) return void console.log('  (skipped: shim not built)');
  const d = await startDaemon();
  const ns = await newSandbox('cnix-fpar');
  const N = 64;
  try {
    const c = conf({ name: 'fpar', bridge: 'cnifpar0', ipam: { type: 'tsnet-ipam', ranges: [[{ subnet: '10.241.1.0/24' }]] } });
    const envs = Array.from({ length: N }, (_, i) => ({ CNI_CONTAINERID: `fpar${i}`, CNI_NETNS: ns, CNI_IFNAME: `p${i}`, TSNET_HOST: d.socket }));
    const adds = await Promise.all(envs.map((e) => exec(shim('tsnet-bridge'), 'ADD', c, e)));
    for (const a of adds) assert.is(a.exitCode, 0, a.raw);
    assert.is(new Set(adds.map((a) => (a.out as { ips: { address: string }[] }).ips[0]?.address)).size, N, 'unique addresses');
    const dels = await Promise.all(envs.map((e) => exec(shim('tsnet-bridge'), 'DEL', c, e)));
    for (const x of dels) assert.is(x.exitCode, 0, x.raw);
    // Every name is free when the DELs answer (retired links are renamed tsdead*)...
    const now = (await ipJson<{ ifname: string }[]>(ns, ['link', 'show'])).map((l) => l.ifname);
    assert.ok(now.every((n) => n === 'lo' || n.startsWith('tsdead')), now.join(' '));
    // ...and the reaper deletes them (bounded wait in linkNames).
    assert.equal(await linkNames(ns), ['lo']);
    assert.not.ok((await linkNames()).some((l) => l.startsWith('veth') || l.startsWith('tsdead')), 'no host veth left');
    assert.equal(await settledLinks(undefined, ['master', 'cnifpar0']), [], 'no bridge port left');
  } finally {
    dropSandbox(ns);
    await stopDaemon(d);
    await purgeDaemon(d);
    await removeDaemonDir(d);
  }
});

/** Removes the CNI-* chains the reference portmap leaves (jumps first), in the test's netns. */
async function dropReferenceChains(): Promise<void> {
  for (const table of ['nat', 'filter']) {
    const lines = (await run(['iptables-save', '-t', table])).stdout.split('\n');
    const chains = lines.filter((x) => x.startsWith(':CNI-')).map((x) => x.slice(1).split(' ')[0] ?? '');
    for (const ch of chains) await run(['iptables', '-t', table, '-F', ch], { okCodes: [1] });
    for (const l of lines.filter((x) => x.startsWith('-A ') && / -j CNI-/.test(x) && !/^-A CNI-/.test(x))) {
      await run(['iptables', '-t', table, '-D', ...tokenize(l.slice(3))]);
    }
    for (const ch of chains) await run(['iptables', '-t', table, '-X', ch], { okCodes: [1] });
  }
}

T.run();
