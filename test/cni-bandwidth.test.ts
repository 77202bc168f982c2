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
import { NetworkManager, setFaultInjector } from '../drivers/index.js';
import { runCni, skel } from '../cni/index.js';
import { ifbName } from '../cni/plugins/bandwidth.js';
import { parseIp as nlParseIp } from '../core/netlink/index.js';
import { newManager, cleanup, newSandbox, dropSandbox, linkNames, serve, inNs } from './helpers.js';

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

interface HtbClass { handle: string; leaf: string; rate: string; ceil: string; burst: string; sentBytes: number }
/** `tc -s class show` parsed (this iproute2 prints htb classes as text only, even with -j). */
async function htbClasses(dev: string): Promise<HtbClass[]> {
  const r = await run(['tc', '-s', 'class', 'show', 'dev', dev], { okCodes: [1, 2] });
  return r.stdout.split(/^(?=class )/m).flatMap((block) => {
    const m = /^class htb (\S+) root (?:leaf (\S+) )?prio \d+ rate (\S+) ceil (\S+) burst (\S+)/.exec(block);
    return m ? [{ handle: m[1] ?? '', leaf: m[2] ?? '', rate: m[3] ?? '', ceil: m[4] ?? '', burst: m[5] ?? '', sentBytes: Number(/Sent (\d+) bytes/.exec(block)?.[1] ?? -1) }] : [];
  });
}
const sentOf = async (dev: string, handle: string) => (await htbClasses(dev)).find((c) => c.handle === handle)?.sentBytes ?? -1;
/**
 * The u32 rules on qdisc 1: of dev as "protocol pref flowid value/mask@off ..." (`tc filter show`
 * text: its -j output repeats the "match" key once per key).
 */
async function classifyRules(dev: string): Promise<string[]> {
  const r = await run(['tc', 'filter', 'show', 'dev', dev, 'parent', '1:'], { okCodes: [1, 2] });
  return r.stdout.split(/^(?=filter )/m).flatMap((block) => {
    const m = /protocol (\S+) pref (\d+) u32 .*\*?flowid (\S+)/.exec(block);
    if (!m) return [];
    const keys = [...block.matchAll(/match (\w+)\/(\w+) at (\d+)/g)].map((k) => `${k[1]}/${k[2]}@${k[3]}`);
    return [`${m[1]} ${m[2]} ${m[3]} ${keys.join(' ')}`];
  }).sort();
}
const ipsOf = (out: Json | undefined) => (out as { ips: { address: string }[] }).ips.map((i) => i.address.split('/')[0] ?? '');
const NET_TOOL = join(packageRoot(), 'scripts', 'net-tool.mjs');
const PAYLOAD = 100_000;
/** ms for a client in `ns` (undefined: the test's host netns) to read PAYLOAD bytes from ip:port. */
async function fetchMs(ns: string | undefined, ip: string, port: number): Promise<number> {
  const t0 = Date.now();
  const r = await inNs(ns, [process.execPath, NET_TOOL, 'tcp', ip, String(port)]);
  assert.is(r.stdout.length, PAYLOAD, `read from ${ip}:${port}`);
  return Date.now() - t0;
}

/** The u32 words (8 hex digits, as tc prints them) of an address. */
const words = (ip: string) => nlParseIp(ip).bytes.toString('hex').match(/.{8}/g) ?? [];

const pairConf = bridgeConf({ name: 'bwpair', bridge: 'cnibwp0', ipam: { type: 'tsnet-ipam', ranges: [[{ subnet: '10.238.2.0/24' }], [{ subnet: 'fd74:6277::/64' }]] } });
type Ctr = { ns: string; env: Record<string, string>; add: Call };

/** Two containers A and B on one dual-stack tsnet-bridge; both sandboxes and any IFB removed after fn (which may DEL A itself). */
async function withPair(name: string, fn: (a: Ctr, b: Ctr) => Promise<void>): Promise<void> {
  const made: Ctr[] = [];
  try {
    for (const who of ['a', 'b']) {
      const ns = await newSandbox(`${name}-${who}`);
      const env = { CNI_CONTAINERID: `${name}-${who}`, CNI_NETNS: ns };
      made.push({ ns, env, add: { exitCode: -1, out: undefined, raw: '' } });
      const add = await cni('tsnet-bridge', 'ADD', pairConf, env);
      assert.is(add.exitCode, 0, add.raw);
      made[made.length - 1]!.add = add;
    }
    await fn(made[0]!, made[1]!);
    for (const m of made) assert.is((await cni('tsnet-bridge', 'DEL', pairConf, m.env)).exitCode, 0);
  } finally {
    for (const m of made) dropSandbox(m.ns);
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

  // CNI_ARGS for the IPAM or the runtime: not read by bandwidth (nor by the reference).
  const del = await cni('tsnet-bandwidth', 'DEL', conf, { ...env, CNI_ARGS: 'IP=10.0.0.9;K8S_POD_NAME=web' });
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

T('bad input: rate without burst, burst without rate, no prevResult, both subnet lists, bad CIDRs, negative; no limits passes through', async () => {
  await withBridge('bw-bad', 'bw2', async (ns, env, add) => {
    const cases: [Json, number, string][] = [
      [bwConf(add.out, { ingressRate: 1_000_000 }), 7, 'ingressBurst'],
      [bwConf(add.out, { runtimeConfig: { bandwidth: { egressBurst: 80_000 } } }), 7, 'runtimeConfig.bandwidth.egressRate'],
      [bwConf(undefined, { egressRate: 1_000_000, egressBurst: 80_000 }), 7, 'prevResult'],
      [bwConf(add.out, { ingressRate: 1_000_000, ingressBurst: 80_000, shapedSubnets: ['10.0.0.0/8'], unshapedSubnets: ['10.1.0.0/16'] }), 7, 'shapedSubnets'],
      [bwConf(add.out, { egressRate: 1_000_000, egressBurst: 80_000, unshapedSubnets: ['10.1.0.0/16', '10.2.0.0/33'] }), 7, 'unshapedSubnets'],
      [bwConf(add.out, { egressRate: 1_000_000, egressBurst: 80_000, shapedSubnets: ['fd00::'] }), 7, 'shapedSubnets'],
      [bwConf(add.out, { runtimeConfig: { bandwidth: { egressRate: 1_000_000, egressBurst: 80_000, unshapedSubnets: ['10.1.0.0/16'], shapedSubnets: ['10.0.0.0/8'] } } }), 7, 'runtimeConfig.bandwidth.shapedSubnets'],
      [bwConf(add.out, { runtimeConfig: { bandwidth: { egressRate: 1_000_000, egressBurst: 80_000, shapedSubnets: ['10.0.0.300/8'] } } }), 7, 'runtimeConfig.bandwidth.shapedSubnets'],
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

T('unshapedSubnets: HTB on veth and IFB, classes, fifo leaves, filters on the peer address (v4, v6); CHECK; the listed peer is not limited, others are; DEL', async () => {
  await withPair('bwu', async (a, b) => {
    const veth = hostVethOf(a.add.out);
    const [a4, a6] = ipsOf(a.add.out);
    const [b4, b6] = ipsOf(b.add.out);
    const unshaped = [`${b4}/32`, `${b6}/128`, '198.51.100.0/24', 'fd00:1:2::/48'];
    const conf = bwConf(a.add.out, { ingressRate: 1_600_000, ingressBurst: 128_000, egressRate: 1_600_000, egressBurst: 128_000, unshapedSubnets: unshaped });
    const bw = await cni('tsnet-bandwidth', 'ADD', conf, a.env);
    assert.is(bw.exitCode, 0, bw.raw);
    const ifb = ifbName(a.env.CNI_CONTAINERID ?? '', 'eth0');

    for (const dev of [veth, ifb]) {
      const qs = await qdiscs(dev);
      const root = qs.find((q) => q.root);
      assert.equal([root?.kind, root?.handle, (root?.options as { default?: string } | undefined)?.default], ['htb', '1:', '0x30'], `${dev}: ${JSON.stringify(qs)}`);
      const leaves = qs.filter((q) => q.kind.endsWith('fifo')).map((q) => [q.kind, q.handle, (q as { parent?: string }).parent, (q.options as { limit?: number } | undefined)?.limit]);
      assert.equal(leaves.sort(), [['bfifo', '30:', '1:30', 21_000], ['pfifo', '10:', '1:1', 1000]], `${dev} leaves`);
      const classes = (await htbClasses(dev)).map((c) => [c.handle, c.leaf, c.rate, c.ceil, c.burst]);
      assert.equal(classes, [['1:1', '10:', '800Gbit', '800Gbit', '100000000b'], ['1:30', '30:', '1600Kbit', '1600Kbit', '16000b']], dev);
    }
    // To the container (veth) the peer is the source; from it (IFB) the destination.
    const b6keys = words(b6 ?? '').map((w, i) => `${w}/ffffffff@${8 + 4 * i}`).join(' ');
    assert.equal(await classifyRules(veth), [
      'ip 16 1:1 c6336400/ffffff00@12',
      `ip 16 1:1 ${words(b4 ?? '')[0]}/ffffffff@12`,
      'ipv6 15 1:1 fd000001/ffffffff@8 00020000/ffff0000@12',
      `ipv6 15 1:1 ${b6keys}`,
    ].sort());
    assert.equal(await classifyRules(ifb), (await classifyRules(veth)).map((r) => r.replace(/@(\d+)/g, (_, o: string) => `@${Number(o) + (r.startsWith('ipv6') ? 16 : 4)}`)).sort());
    assert.equal((await ingressFilters(veth)).flatMap((f) => f.options?.actions ?? []).map((x) => x.to_dev), [ifb], 'the redirect to the IFB is unchanged');

    assert.is((await cni('tsnet-bandwidth', 'CHECK', conf, a.env)).exitCode, 0);
    const fewer = await cni('tsnet-bandwidth', 'CHECK', bwConf(a.add.out, { ...conf, prevResult: a.add.out, unshapedSubnets: [...unshaped, '203.0.113.0/24'] }), a.env);
    assert.equal([codeOf(fewer), detailsOf(fewer)], [skel.CNI_ERR.NOT_FOUND, 'unshapedSubnets'], fewer.raw);
    const more = await cni('tsnet-bandwidth', 'CHECK', bwConf(a.add.out, { ...conf, prevResult: a.add.out, unshapedSubnets: unshaped.slice(1) }), a.env);
    assert.equal([codeOf(more), detailsOf(more)], [skel.CNI_ERR.CONFLICT, 'unshapedSubnets'], more.raw);
    const flipped = await cni('tsnet-bandwidth', 'CHECK', bwConf(a.add.out, { ...conf, prevResult: a.add.out, unshapedSubnets: undefined, shapedSubnets: unshaped }), a.env);
    assert.equal([codeOf(flipped), detailsOf(flipped)], [skel.CNI_ERR.CONFLICT, 'shapedSubnets'], flipped.raw);
    const plain = await cni('tsnet-bandwidth', 'CHECK', bwConf(a.add.out, { ...conf, prevResult: a.add.out, unshapedSubnets: undefined }), a.env);
    assert.is(codeOf(plain), skel.CNI_ERR.NOT_FOUND, 'no TBF where an HTB is');

    // Traffic (100 kB; shaped: 200 kB/s after a 16 kB burst, so >= 0.42 s). B's second address is not listed.
    await inNs(b.ns, ['ip', 'addr', 'add', '10.238.2.200/24', 'dev', 'eth0']);
    const servers = [await serve(a.ns, 'tcp', 7000, 'x'.repeat(PAYLOAD)), await serve(b.ns, 'tcp', 7001, 'y'.repeat(PAYLOAD))];
    try {
      const cases: [string, string | undefined, string, number, string, string, boolean][] = [
        ['from A to B', b.ns, a4 ?? '', 7000, ifb, '1:1', false],
        ['from A to the host', undefined, a4 ?? '', 7000, ifb, '1:30', true],
        ['from B to A', a.ns, b4 ?? '', 7001, veth, '1:1', false],
        ['from B\'s unlisted address to A', a.ns, '10.238.2.200', 7001, veth, '1:30', true],
        ['from A to B over IPv6', b.ns, a6 ?? '', 7000, ifb, '1:1', false],
        ['from B to A over IPv6', a.ns, b6 ?? '', 7001, veth, '1:1', false],
      ];
      const took: Record<string, number> = {};
      for (const [what, client, ip, port, dev, cls, limited] of cases) {
        const before = await sentOf(dev, cls);
        const ms = await fetchMs(client, ip, port);
        took[what] = ms;
        assert.ok((await sentOf(dev, cls)) - before >= PAYLOAD, `${what}: the bytes went through ${dev} class ${cls}`);
        if (limited) assert.ok(ms >= 300, `${what} is shaped: took ${ms} ms`);
      }
      const slowest = Math.max(...cases.filter((c) => !c[6]).map((c) => took[c[0]] ?? 0));
      const fastest = Math.min(...cases.filter((c) => c[6]).map((c) => took[c[0]] ?? 0));
      assert.ok(slowest < fastest, `unshaped transfers are faster than shaped ones: ${JSON.stringify(took)}`);
    } finally {
      for (const s of servers) await s.stop();
    }

    assert.is((await cni('tsnet-bandwidth', 'DEL', conf, a.env)).exitCode, 0);
    assert.equal(await ifbs(), [], 'the IFB (its HTB, classes and filters) is gone');
    assert.is((await cni('tsnet-bridge', 'DEL', pairConf, a.env)).exitCode, 0);
    assert.equal(await qdiscs(veth), [], 'the veth and its HTB are gone');
  });
});

T('shapedSubnets: default class 1:1, the listed prefix to 1:30; only traffic with it is limited; GC removes the IFB', async () => {
  await withPair('bws', async (a, b) => {
    const veth = hostVethOf(a.add.out);
    const [a4] = ipsOf(a.add.out);
    const [b4] = ipsOf(b.add.out);
    const conf = bwConf(a.add.out, { cniVersion: '1.1.0', runtimeConfig: { bandwidth: { egressRate: 1_600_000, egressBurst: 128_000, shapedSubnets: [`${b4}/32`, '::/0'] } } });
    const bw = await cni('tsnet-bandwidth', 'ADD', conf, a.env);
    assert.is(bw.exitCode, 0, bw.raw);
    const ifb = ifbName(a.env.CNI_CONTAINERID ?? '', 'eth0');
    assert.is(((await qdiscs(ifb)).find((q) => q.root)?.options as { default?: string } | undefined)?.default, '0x1');
    assert.equal(await classifyRules(ifb), [`ip 16 1:30 ${words(b4 ?? '')[0]}/ffffffff@16`, 'ipv6 15 1:30 00000000/00000000@0']);
    assert.not.ok((await qdiscs(veth)).some((q) => q.kind === 'htb'), 'no ingress limit: no HTB on the veth');
    assert.is((await cni('tsnet-bandwidth', 'CHECK', conf, a.env)).exitCode, 0);

    const server = await serve(a.ns, 'tcp', 7000, 'x'.repeat(PAYLOAD));
    try {
      let before = await sentOf(ifb, '1:30');
      const shapedMs = await fetchMs(b.ns, a4 ?? '', 7000);
      assert.ok((await sentOf(ifb, '1:30')) - before >= PAYLOAD && shapedMs >= 300, `to B (listed) is shaped: ${shapedMs} ms`);
      before = await sentOf(ifb, '1:1');
      const freeMs = await fetchMs(undefined, a4 ?? '', 7000);
      assert.ok((await sentOf(ifb, '1:1')) - before >= PAYLOAD && freeMs < shapedMs, `to the host (not listed) is not: ${freeMs} ms`);
    } finally {
      await server.stop();
    }
    const gc = await cni('tsnet-bandwidth', 'GC', { cniVersion: '1.1.0', name: 'bwtest', type: 'tsnet-bandwidth', 'cni.dev/valid-attachments': [] }, { CNI_CONTAINERID: '', CNI_IFNAME: '' });
    assert.equal([gc.exitCode, await ifbs()], [0, []]);
  });
});

T('subnets, all or nothing: a failing filter step or someone else\'s root qdisc leaves nothing of this ADD', async () => {
  await withBridge('bw-sundo', 'bw5', async (ns, env, add) => {
    const veth = hostVethOf(add.out);
    const conf = bwConf(add.out, { ingressRate: 1_000_000, ingressBurst: 80_000, egressRate: 1_000_000, egressBurst: 80_000, unshapedSubnets: ['10.0.0.0/8'] });
    setFaultInjector((step) => {
      if (step === 'IFB subnet filters') throw new Error('injected');
    });
    try {
      const r = await cni('tsnet-bandwidth', 'ADD', conf, env);
      assert.is(r.exitCode, 1, r.raw);
    } finally {
      setFaultInjector(undefined);
    }
    assert.equal((await qdiscs(veth)).map((q) => q.kind), ['noqueue'], 'no HTB (nor its classes, filters), no ingress qdisc on the veth');
    assert.equal(await ifbs(), [], 'no IFB');

    // Someone else's HTB 1: on the veth: refused, and none of our classes land in it.
    await run(['tc', 'qdisc', 'add', 'dev', veth, 'root', 'handle', '1:', 'htb', 'default', '5']);
    const clash = await cni('tsnet-bandwidth', 'ADD', conf, env);
    assert.is(codeOf(clash), skel.CNI_ERR.CONFLICT, clash.raw);
    assert.equal(await htbClasses(veth), [], 'no class added to the other HTB');
    assert.equal(await classifyRules(veth), []);
    assert.equal((await qdiscs(veth)).map((q) => q.kind), ['htb'], 'theirs stays; our ingress qdisc is gone');
    assert.equal(await ifbs(), []);
    assert.is((await cni('tsnet-bridge', 'DEL', bridgeConf(), env)).exitCode, 0);
  });
});

/**
 * The reference plugin with these fields (v1.5.x: containernetworking/plugins added them in
 * v1.5.0 and removed them in v1.6.0; Debian's is older) is not installed here: this comparison
 * runs when TSNET_REF_BANDWIDTH names such a binary, and says it did not otherwise.
 */
T('same tc objects as the reference plugin (TSNET_REF_BANDWIDTH), bar the documented differences', async () => {
  const ref = process.env['TSNET_REF_BANDWIDTH'];
  if (!ref) {
    process.stderr.write('cni-bandwidth: reference comparison not run (TSNET_REF_BANDWIDTH unset)\n');
    return;
  }
  await withBridge('bw-ref', 'bw6', async (ns, env, add) => {
    const veth = hostVethOf(add.out);
    const subnets = ['10.1.0.0/16', '192.168.7.0/24', 'fd00:1:2::/48', '0.0.0.0/0'];
    const snapshot = async (ifb: string) => {
      const out: Record<string, unknown> = {};
      for (const [dev, key] of [[veth, 'veth'], [ifb, 'ifb']] as const) {
        const root = (await qdiscs(dev)).find((q) => q.root);
        const classes = await htbClasses(dev);
        out[key] = {
          root: [root?.kind, root?.handle, (root?.options as { default?: string } | undefined)?.default],
          classes: classes.map((c) => [c.handle, c.rate]), // ceil, bursts and leaves differ (docs)
          rules: await classifyRules(dev),
        };
      }
      return out;
    };
    for (const field of ['unshapedSubnets', 'shapedSubnets']) {
      const conf = bwConf(add.out, { ingressRate: 8_000_000, ingressBurst: 800_000, egressRate: 1_600_000, egressBurst: 128_000, [field]: subnets });
      const refEnv = { ...process.env, CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'bw6', CNI_NETNS: ns, CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni' };
      const r = await run([ref], { input: JSON.stringify({ ...conf, type: 'bandwidth' }), env: refEnv, okCodes: [1] });
      assert.is(r.exitCode, 0, r.stdout);
      const refIfb = (await ifbs())[0]?.ifname ?? '';
      const theirs = await snapshot(refIfb) as Record<string, { rules: string[] }>;
      await run([ref], { input: JSON.stringify({ ...conf, type: 'bandwidth' }), env: { ...refEnv, CNI_COMMAND: 'DEL' } });
      for (const which of ['root', 'ingress']) await run(['tc', 'qdisc', 'del', 'dev', veth, which]);

      const ours = await cni('tsnet-bandwidth', 'ADD', conf, env);
      assert.is(ours.exitCode, 0, ours.raw);
      const mine = await snapshot(ifbName('bw6', 'eth0'));
      // The reference matches the destination on the veth too (the container's own address);
      // tsnet the peer's, the source: 4 (IPv4) or 16 (IPv6) bytes earlier in the header.
      const theirVeth = theirs['veth']!.rules.map((x) => x.replace(/([0-9a-f]{8}\/[0-9a-f]{8})@(\d+)/g, (m, k: string, o: string) => (o === '0' ? m : `${k}@${Number(o) - (x.startsWith('ipv6') ? 16 : 4)}`))).sort();
      assert.equal(mine, { ...theirs, veth: { ...theirs['veth']!, rules: theirVeth } }, field);
      assert.is((await cni('tsnet-bandwidth', 'DEL', conf, env)).exitCode, 0);
      for (const which of ['root', 'ingress']) await run(['tc', 'qdisc', 'del', 'dev', veth, which]);
    }
    assert.is((await cni('tsnet-bridge', 'DEL', bridgeConf(), env)).exitCode, 0);
  });
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
    if (existsSync(db)) await cleanup(NetworkManager.open(db), db, { firewall: false });
    rmSync(state, { recursive: true, force: true });
  }
});

T.run();
