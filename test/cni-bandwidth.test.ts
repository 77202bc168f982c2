/**
 * tsnet-bandwidth chained after tsnet-bridge: in-process (runCni with a NetworkManager, as
 * tsnetd runs it) and through the standalone executable. Kernel state is read back with
 * tc/ip (-j); every test removes what it made.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, rmSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { packageRoot, paths } from '../core/index.js';
import { run } from '../core/exec/index.js';
import { NetworkManager } from '../drivers/index.js';
import { runCni, skel } from '../cni/index.js';
import { ifbName } from '../cni/plugins/bandwidth.js';
import { newManager, cleanup, newSandbox, dropSandbox, linkNames, serve } from './helpers.js';

const { mgr, dbFile } = newManager();
const host = { manager: () => mgr };
const T = suite('cni-bandwidth');

type Json = Record<string, unknown>;
interface Call { exitCode: number; out: Json | undefined; raw: string }
interface Qdisc { kind: string; handle: string; root?: boolean; options?: { rate?: number; burst?: number } }
interface Filter { options?: { actions?: { kind: string; mirred_action?: string; direction?: string; to_dev?: string }[] } }
interface IpLink { ifname: string; mtu: number; ifalias?: string; flags: string[] }

async function cni(plugin: string, cmd: string, conf: Json, env: Record<string, string> = {}): Promise<Call> {
  const o = await runCni(plugin, { env: { CNI_COMMAND: cmd, CNI_PATH: '/opt/cni/bin', CNI_IFNAME: 'eth0', ...env }, stdin: JSON.stringify(conf) }, host);
  return { exitCode: o.exitCode, out: o.stdout ? (JSON.parse(o.stdout) as Json) : undefined, raw: o.stdout };
}

const bridgeConf = (o: Json = {}): Json => ({
  cniVersion: '1.0.0', name: 'bwtest', type: 'tsnet-bridge', bridge: 'cnibw0', isGateway: true, isDefaultGateway: true,
  ipam: { type: 'tsnet-ipam', ranges: [[{ subnet: '10.238.0.0/24' }]] }, ...o,
});
const bwConf = (prevResult: unknown, o: Json = {}): Json => ({ cniVersion: '1.0.0', name: 'bwtest', type: 'tsnet-bandwidth', prevResult, ...o });

async function tcJson<T>(args: string[]): Promise<T[]> {
  const r = await run(['tc', '-j', ...args], { okCodes: [1, 2] });
  return r.exitCode === 0 && r.stdout.trim() ? (JSON.parse(r.stdout) as T[]) : [];
}
const qdiscs = (dev: string) => tcJson<Qdisc>(['qdisc', 'show', 'dev', dev]);
const ingressFilters = (dev: string) => tcJson<Filter>(['filter', 'show', 'dev', dev, 'ingress']);
async function ifbs(): Promise<IpLink[]> {
  const r = await run(['ip', '-j', 'link', 'show', 'type', 'ifb']);
  return JSON.parse(r.stdout || '[]') as IpLink[];
}
/** After a failed assertion: the IFBs a test made (this host netns is the test's own sandbox). */
async function dropIfbs(): Promise<void> {
  for (const l of await ifbs()) await run(['ip', 'link', 'del', l.ifname], { okCodes: [1] });
}
const rootTbf = (qs: Qdisc[]) => qs.find((q) => q.root && q.kind === 'tbf');
const hostVethOf = (out: Json | undefined) => (out as { interfaces: { name: string }[] }).interfaces[1]?.name ?? '';
const codeOf = (c: Call) => (c.out as { code?: number } | undefined)?.code;
const detailsOf = (c: Call) => (c.out as { details?: string } | undefined)?.details;

/**
 * A fresh sandbox with a tsnet-bridge attachment of container `id`: fn gets the sandbox, the
 * CNI env and the bridge's ADD result; the sandbox and any IFB are removed after it.
 */
async function withBridge(name: string, id: string, fn: (ns: string, env: Record<string, string>, add: Call) => Promise<void>): Promise<void> {
  const ns = await newSandbox(name);
  const env = { CNI_CONTAINERID: id, CNI_NETNS: ns };
  try {
    const add = await cni('tsnet-bridge', 'ADD', bridgeConf(), env);
    assert.is(add.exitCode, 0, add.raw);
    await fn(ns, env, add);
  } finally {
    dropSandbox(ns);
    await dropIfbs();
  }
}

T.after(async () => {
  await cleanup(mgr, dbFile);
});

T('bridge -> bandwidth: TBF on the veth, IFB with TBF and a redirect; CHECK; DEL twice and without netns; nothing left', async () => {
  await withBridge('bw-main', 'bw1', async (ns, env, add) => {
    const veth = hostVethOf(add.out);
    // Static fields are overridden as a whole by the capability.
    const conf = bwConf(add.out, {
      ingressRate: 1000, ingressBurst: 1000,
      runtimeConfig: { bandwidth: { ingressRate: 8_000_000, ingressBurst: 800_000, egressRate: 1_600_000, egressBurst: 128_000 } },
  });
  const bw = await cni('tsnet-bandwidth', 'ADD', conf, env);
  assert.is(bw.exitCode, 0, bw.raw);
  assert.equal(bw.out, add.out, 'prints prevResult and nothing else');

  const ifb = ifbName('bw1', 'eth0');
  assert.ok(ifb.length <= 15 && ifb.startsWith('bwp'));
  const vq = await qdiscs(veth);
  assert.equal(rootTbf(vq)?.options, { ...rootTbf(vq)?.options, rate: 1_000_000, burst: 100_000 }, JSON.stringify(vq));
  assert.ok(vq.some((q) => q.kind === 'ingress' && q.handle === 'ffff:'), 'ingress qdisc on the veth');
  const redirect = (await ingressFilters(veth)).flatMap((f) => f.options?.actions ?? []).find((a) => a.kind === 'mirred');
  assert.equal(redirect && [redirect.mirred_action, redirect.direction, redirect.to_dev], ['redirect', 'egress', ifb]);
  const link = (await ifbs()).find((l) => l.ifname === ifb);
  assert.ok(link, 'IFB exists');
  assert.ok(link?.flags.includes('UP'));
  assert.is(link?.ifalias, 'tsnet-bandwidth:bwtest');
  const vethMtu = (JSON.parse((await run(['ip', '-j', 'link', 'show', 'dev', veth])).stdout) as IpLink[])[0]?.mtu;
  assert.is(link?.mtu, vethMtu);
  assert.equal(rootTbf(await qdiscs(ifb))?.options, { ...rootTbf(await qdiscs(ifb))?.options, rate: 200_000, burst: 16_000 });

  assert.equal([(await cni('tsnet-bandwidth', 'CHECK', conf, env)).exitCode], [0]);
  const other = await cni('tsnet-bandwidth', 'CHECK', bwConf(add.out, { egressRate: 3_200_000, egressBurst: 128_000 }), env);
  assert.is(codeOf(other), skel.CNI_ERR.CONFLICT, other.raw);
  const again = await cni('tsnet-bandwidth', 'ADD', conf, env);
  assert.is(codeOf(again), skel.CNI_ERR.CONFLICT, again.raw);
  assert.ok((await ifbs()).some((l) => l.ifname === ifb), 'a refused ADD leaves the existing shaping alone');
  assert.ok(rootTbf(await qdiscs(veth)));

  // Traffic from the container goes through the IFB's TBF (200 kB/s, 16 kB burst):
  // 100 kB cannot arrive in much less than 0.4 s (unshaped: a few ms). Only a lower bound.
  const server = await serve(ns, 'tcp', 7000, 'x'.repeat(100_000));
  try {
    const ip = ((add.out as { ips: { address: string }[] }).ips[0]?.address ?? '').split('/')[0] ?? '';
    const t0 = Date.now();
    const r = await run([process.execPath, join(packageRoot(), 'scripts', 'net-tool.mjs'), 'tcp', ip, '7000'], { timeoutMs: 10_000 });
    const ms = Date.now() - t0;
    assert.is(r.stdout.length, 100_000);
    assert.ok(ms >= 300, `shaped transfer took ${ms} ms`);
    const ifbStats = await tcJson<{ bytes: number }>(['-s', 'qdisc', 'show', 'dev', ifb]);
    assert.ok((ifbStats[0]?.bytes ?? 0) >= 100_000, 'the bytes went through the IFB');
  } finally {
    await server.stop();
  }

  const del = await cni('tsnet-bandwidth', 'DEL', conf, env);
  assert.equal([del.exitCode, del.raw], [0, '']);
  assert.not.ok((await ifbs()).some((l) => l.ifname === ifb), 'IFB deleted');
  assert.is((await cni('tsnet-bandwidth', 'DEL', conf, env)).exitCode, 0, 'DEL is idempotent');
  assert.is((await cni('tsnet-bandwidth', 'DEL', bwConf(undefined), { CNI_CONTAINERID: 'bw1', CNI_NETNS: '' })).exitCode, 0, 'DEL without netns nor prevResult');
  const gone = await cni('tsnet-bandwidth', 'CHECK', conf, env);
  assert.is(codeOf(gone), skel.CNI_ERR.NOT_FOUND, gone.raw);
  assert.is((await cni('tsnet-bridge', 'DEL', bridgeConf(), env)).exitCode, 0);
  assert.not.ok((await linkNames()).includes(veth));
  assert.equal(await qdiscs(veth), []);
  assert.equal(await ifbs(), []);
  });
});

T('bad input: rate without burst, burst without rate, no prevResult, shapedSubnets, negative; no limits passes through', async () => {
  await withBridge('bw-bad', 'bw2', async (ns, env, add) => {
    const cases: [Json, number, string][] = [
      [bwConf(add.out, { ingressRate: 1_000_000 }), 7, 'ingressBurst'],
      [bwConf(add.out, { runtimeConfig: { bandwidth: { egressBurst: 80_000 } } }), 7, 'runtimeConfig.bandwidth.egressRate'],
      [bwConf(undefined, { egressRate: 1_000_000, egressBurst: 80_000 }), 7, 'prevResult'],
      [bwConf(add.out, { ingressRate: 1_000_000, ingressBurst: 80_000, shapedSubnets: ['10.0.0.0/8'] }), 2, 'shapedSubnets'],
      [bwConf(add.out, { egressRate: -1, egressBurst: 80_000 }), 7, 'egressRate'],
      [bwConf(add.out, { ingressRate: 1_000_000, ingressBurst: 8 * 2 ** 32 }), 7, 'ingressBurst'],
      [bwConf(add.out, { egressRate: 24, egressBurst: 8 * 7777 }), 7, 'egressBurst'],
    ];
    for (const [conf, code, field] of cases) {
      const r = await cni('tsnet-bandwidth', 'ADD', conf, env);
      assert.equal([r.exitCode, codeOf(r), detailsOf(r)], [1, code, field], r.raw);
    }
    assert.equal(await ifbs(), []);
    assert.not.ok(rootTbf(await qdiscs(hostVethOf(add.out))), 'nothing shaped');
    const none = await cni('tsnet-bandwidth', 'ADD', bwConf(add.out, { cniVersion: '0.4.0' }), env);
    assert.is(none.exitCode, 0, none.raw);
    assert.is((none.out as { cniVersion: string }).cniVersion, '0.4.0', 'prevResult converted to the conf version');
    assert.equal(await ifbs(), []);
    assert.is((await cni('tsnet-bridge', 'DEL', bridgeConf(), env)).exitCode, 0);
  });
});

T('all or nothing: a failing step removes what this ADD made and leaves what was there', async () => {
  await withBridge('bw-undo', 'bw3', async (ns, env, add) => {
    const veth = hostVethOf(add.out);
    // Someone else's ingress qdisc: the veth TBF and the IFB go in first, then ours clashes.
    await run(['tc', 'qdisc', 'add', 'dev', veth, 'handle', 'ffff:', 'ingress']);
    const r = await cni('tsnet-bandwidth', 'ADD', bwConf(add.out, { ingressRate: 1_000_000, ingressBurst: 80_000, egressRate: 1_000_000, egressBurst: 80_000 }), env);
    assert.is(codeOf(r), skel.CNI_ERR.CONFLICT, r.raw);
    assert.not.ok(rootTbf(await qdiscs(veth)), 'the veth TBF this ADD added is gone');
    assert.ok((await qdiscs(veth)).some((q) => q.kind === 'ingress'), 'the ingress qdisc that was there stays');
    assert.equal(await ifbs(), [], 'the IFB this ADD made is gone');
    assert.is((await cni('tsnet-bridge', 'DEL', bridgeConf(), env)).exitCode, 0);
  });
});

T('GC deletes this network\'s IFBs of attachments not listed; STATUS', async () => {
  const ns = await newSandbox('bw-gc');
  const ids = ['g1', 'g2'];
  try {
    for (const id of ids) {
      const env = { CNI_CONTAINERID: id, CNI_NETNS: ns, CNI_IFNAME: `e${id}` };
      const add = await cni('tsnet-bridge', 'ADD', bridgeConf({ cniVersion: '1.1.0' }), env);
      assert.is(add.exitCode, 0, add.raw);
      const bw = await cni('tsnet-bandwidth', 'ADD', bwConf(add.out, { cniVersion: '1.1.0', egressRate: 1_000_000, egressBurst: 80_000 }), env);
      assert.is(bw.exitCode, 0, bw.raw);
    }
    const gcEnv = { CNI_CONTAINERID: '', CNI_IFNAME: '' };
    const gcConf = (valid: Json[], name = 'bwtest') => ({ cniVersion: '1.1.0', name, type: 'tsnet-bandwidth', 'cni.dev/valid-attachments': valid });
    assert.is((await cni('tsnet-bandwidth', 'GC', gcConf([], 'othernet'), gcEnv)).exitCode, 0);
    assert.is((await ifbs()).length, 2, 'another network\'s GC leaves them');
    const gc = await cni('tsnet-bandwidth', 'GC', gcConf([{ containerID: 'g1', ifname: 'eg1' }]), gcEnv);
    assert.equal([gc.exitCode, gc.raw], [0, '']);
    assert.equal((await ifbs()).map((l) => l.ifname), [ifbName('g1', 'eg1')]);
    assert.is((await cni('tsnet-bandwidth', 'GC', gcConf([]), gcEnv)).exitCode, 0);
    assert.equal(await ifbs(), []);
    const st = await cni('tsnet-bandwidth', 'STATUS', gcConf([]), gcEnv);
    assert.equal([st.exitCode, st.raw], [0, '']);
    for (const id of ids) assert.is((await cni('tsnet-bridge', 'DEL', bridgeConf(), { CNI_CONTAINERID: id, CNI_NETNS: ns, CNI_IFNAME: `e${id}` })).exitCode, 0);
  } finally {
    dropSandbox(ns);
    await dropIfbs();
  }
});

T('standalone executable: tsnet-bridge -> tsnet-bandwidth ADD, CHECK, DEL; nothing left', async () => {
  const state = join(paths().root, `cni-bw-${randomBytes(3).toString('hex')}`);
  mkdirSync(state, { recursive: true });
  const ns = await newSandbox('bw-exec');
  const bin = join(packageRoot(), 'bin', 'tsnet-cni');
  const exec = async (plugin: string, cmd: string, conf: Json): Promise<Call> => {
    const env: NodeJS.ProcessEnv = { ...process.env, TSNET_ROOT: join(state, 'lib'), TSNET_RUN: join(state, 'run'), CNI_COMMAND: cmd, CNI_CONTAINERID: 'bwx', CNI_NETNS: ns, CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' };
    delete env['TSNET_HOST'];
    const r = await run([process.execPath, bin, '--plugin', plugin], { input: JSON.stringify(conf), env, okCodes: Array.from({ length: 255 }, (_, i) => i + 1), timeoutMs: 60_000 });
    return { exitCode: r.exitCode, out: r.stdout.trim() ? (JSON.parse(r.stdout) as Json) : undefined, raw: `${r.stdout}${r.stderr}` };
  };
  const bconf = bridgeConf({ name: 'bwexec', bridge: 'cnibwx0', ipam: { type: 'tsnet-ipam', ranges: [[{ subnet: '10.238.1.0/24' }]] } });
  try {
    const add = await exec('tsnet-bridge', 'ADD', bconf);
    assert.is(add.exitCode, 0, add.raw);
    const veth = hostVethOf(add.out);
    const conf = { cniVersion: '1.0.0', name: 'bwexec', type: 'tsnet-bandwidth', prevResult: add.out, runtimeConfig: { bandwidth: { ingressRate: 4_000_000, ingressBurst: 400_000, egressRate: 2_000_000, egressBurst: 200_000 } } };
    const bw = await exec('tsnet-bandwidth', 'ADD', conf);
    assert.is(bw.exitCode, 0, bw.raw);
    assert.equal(bw.out, add.out);
    assert.is(rootTbf(await qdiscs(veth))?.options?.rate, 500_000);
    assert.is(rootTbf(await qdiscs(ifbName('bwx', 'eth0')))?.options?.rate, 250_000);
    assert.is((await exec('tsnet-bandwidth', 'CHECK', conf)).exitCode, 0);
    const bad = await exec('tsnet-bandwidth', 'ADD', { ...conf, runtimeConfig: { bandwidth: { ingressRate: 1 } } });
    assert.equal([bad.exitCode, codeOf(bad), detailsOf(bad)], [1, 7, 'runtimeConfig.bandwidth.ingressBurst']);
    assert.is((await exec('tsnet-bandwidth', 'DEL', conf)).exitCode, 0);
    assert.is((await exec('tsnet-bandwidth', 'DEL', conf)).exitCode, 0);
    assert.is((await exec('tsnet-bridge', 'DEL', bconf)).exitCode, 0);
    assert.equal(await ifbs(), []);
    assert.equal(await qdiscs(veth), []);
    assert.equal(await linkNames(ns), ['lo']);
  } finally {
    dropSandbox(ns);
    await dropIfbs();
    const db = join(state, 'lib', 'tsnet.db');
    if (existsSync(db)) await cleanup(NetworkManager.open(db), db);
    rmSync(state, { recursive: true, force: true });
  }
});

T.run();
