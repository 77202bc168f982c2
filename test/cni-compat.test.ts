/**
 * CNI drop-in behaviours a conformance review found wrong (each test failed before its fix):
 * a macvlan ADD failing late leaves nothing, passthru reports the kernel's MAC, macvlan finds
 * its master from an IPv6 default route, CNI networks may share a subnet (as host-local and
 * the reference plugins allow), several ranges of one subnet in a tsnet-ipam range set, one
 * static address per range set, STATUS 50 when the store cannot be opened, a malformed CNI_ARGS
 * ignored by the plugins that do not read it, bridge's enabledad (DAD awaited, a duplicate
 * refused). In-process, as
 * the daemon runs the plugins; the STATUS case execs the standalone plugin.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot, paths } from '../core/index.js';
import { run } from '../core/exec/index.js';
import { runCni } from '../cni/index.js';
import { addrsOf, cleanup, dropSandbox, inNs, ipJson, linkNames, newManager, newSandbox } from './helpers.js';

const { mgr, dbFile } = newManager();
const host = { manager: () => mgr };
const T = suite('cni-compat');

type Json = Record<string, unknown>;
interface Call { exitCode: number; out: Json | undefined; raw: string }
interface Result { interfaces: { name: string; mac?: string }[]; ips: { address: string }[] }

async function cni(plugin: string, cmd: string, conf: Json, env: Record<string, string> = {}): Promise<Call> {
  const o = await runCni(plugin, { env: { CNI_COMMAND: cmd, CNI_PATH: '/opt/cni/bin', CNI_IFNAME: 'eth0', ...env }, stdin: JSON.stringify(conf) }, host);
  return { exitCode: o.exitCode, out: o.stdout ? (JSON.parse(o.stdout) as Json) : undefined, raw: o.stdout };
}

/** A veth pair in the host netns whose first end (up) is a macvlan parent. */
async function parent(name: string): Promise<void> {
  await run(['ip', 'link', 'add', name, 'type', 'veth', 'peer', 'name', `${name}p`]);
  await run(['ip', 'link', 'set', name, 'up']);
}
const dropLink = (name: string) => run(['ip', 'link', 'del', name], { okCodes: [1] });

/**
 * Runs `fn` with a container netns and a macvlan parent in the host netns (the first end,
 * up, of a veth pair named `parent`); both removed after.
 */
async function withParent(sandbox: string, master: string, fn: (ns: string) => Promise<void>): Promise<void> {
  const ns = await newSandbox(sandbox);
  await parent(master);
  try {
    await fn(ns);
  } finally {
    dropSandbox(ns);
    await dropLink(master);
  }
}

T.after(async () => {
  await cleanup(mgr, dbFile);
});

T('macvlan: an ADD that fails after the macvlan was made leaves no interface and frees its address', () => withParent('cc-mvfail', 'ccmv0', async (ns) => {
  const ipam = { type: 'host-local', ranges: [[{ subnet: '192.168.50.0/24' }]] };
  // The route's gateway is on no connected network: the kernel refuses it last.
  const bad = { cniVersion: '1.0.0', name: 'ccmvfail', type: 'tsnet-macvlan', master: 'ccmv0', ipam: { ...ipam, routes: [{ dst: '10.99.0.0/16', gw: '10.1.1.1' }] } };
  const env = { CNI_CONTAINERID: 'f1', CNI_NETNS: ns };
  const add = await cni('tsnet-macvlan', 'ADD', bad, env);
  assert.is.not(add.exitCode, 0, add.raw);
  assert.equal(await linkNames(ns), ['lo'], 'no interface left in the container');
  assert.is(mgr.ipam.listPools().flatMap((p) => mgr.ipam.allocationsOf(p.id)).filter((a) => a.kind === 'endpoint').length, 0, 'no address held');
  const good = await cni('tsnet-macvlan', 'ADD', { ...bad, ipam }, env);
  assert.is(good.exitCode, 0, good.raw);
  assert.is((await cni('tsnet-macvlan', 'DEL', { ...bad, ipam }, env)).exitCode, 0);
}));

T('macvlan passthru: the result has the MAC the kernel gave (the parent\'s); CHECK right after ADD passes', () => withParent('cc-mvpt', 'ccpt0', async (ns) => {
  const conf = { cniVersion: '1.0.0', name: 'ccpt', type: 'tsnet-macvlan', master: 'ccpt0', mode: 'passthru', ipam: { type: 'host-local', ranges: [[{ subnet: '192.168.51.0/24' }]] } };
  const env = { CNI_CONTAINERID: 'p1', CNI_NETNS: ns };
  const add = await cni('tsnet-macvlan', 'ADD', conf, env);
  assert.is(add.exitCode, 0, add.raw);
  const r = add.out as unknown as Result;
  const [inNs] = await ipJson<{ address: string }[]>(ns, ['link', 'show', 'eth0']);
  const [par] = await ipJson<{ address: string }[]>(undefined, ['link', 'show', 'ccpt0']);
  assert.is(r.interfaces[0]?.mac, inNs?.address, 'the result\'s MAC is the interface\'s');
  assert.is(inNs?.address, par?.address, 'passthru: the parent\'s MAC');
  const chk = await cni('tsnet-macvlan', 'CHECK', { ...conf, prevResult: r }, env);
  assert.is(chk.exitCode, 0, chk.raw);
  assert.is((await cni('tsnet-macvlan', 'DEL', conf, env)).exitCode, 0);
}));

T('macvlan without master: the interface of an IPv6 default route on a host with no IPv4 one', () => withParent('cc-mv6', 'cc6up0', async (ns) => {
  await run(['ip', '-6', 'addr', 'add', 'fd99::2/64', 'dev', 'cc6up0', 'nodad']);
  await run(['ip', '-6', 'route', 'add', 'default', 'via', 'fd99::1', 'dev', 'cc6up0']);
  assert.equal(await ipJson(undefined, ['-4', 'route', 'show', 'default']), [], 'no IPv4 default route');
  const conf = { cniVersion: '1.0.0', name: 'cc6', type: 'tsnet-macvlan', ipam: { type: 'host-local', ranges: [[{ subnet: '192.168.52.0/24' }]] } };
  const env = { CNI_CONTAINERID: 's1', CNI_NETNS: ns };
  const add = await cni('tsnet-macvlan', 'ADD', conf, env);
  assert.is(add.exitCode, 0, add.raw);
  assert.is(mgr.getNetwork('cni-macvlan-cc6').rawOptions['parent'], 'cc6up0', 'the IPv6 default route\'s interface');
  assert.equal((await linkNames(ns)).sort(), ['eth0', 'lo']);
  assert.is((await cni('tsnet-macvlan', 'DEL', conf, env)).exitCode, 0);
}));

T('CNI networks may share a subnet (bridge re-made under another name, two macvlan VLANs, tsnet-ipam); engine networks may not', async () => {
  const ns = await newSandbox('cc-ovl');
  await parent('ccov1');
  await parent('ccov2');
  try {
    const ids: [string, Json][] = [];
    const add = async (plugin: string, conf: Json, id: string, ifname: string) => {
      const r = await cni(plugin, 'ADD', conf, { CNI_CONTAINERID: id, CNI_NETNS: ns, CNI_IFNAME: ifname });
      assert.is(r.exitCode, 0, `${String(conf['name'])}: ${r.raw}`);
      ids.push([id, { ...conf, __ifname: ifname }]);
      return r.out as unknown as Result;
    };
    const ranges = [[{ subnet: '10.238.0.0/24' }]];
    const b1 = { cniVersion: '1.0.0', name: 'ccb1', type: 'tsnet-bridge', bridge: 'ccbr1', isGateway: true, ipam: { type: 'tsnet-ipam', ranges } };
    await add('tsnet-bridge', b1, 'o1', 'eth0');
    assert.is((await cni('tsnet-bridge', 'DEL', b1, { CNI_CONTAINERID: 'o1', CNI_NETNS: ns })).exitCode, 0);
    ids.pop();
    // `podman network rm` then a create with the same subnet: the old record stays.
    await add('tsnet-bridge', { ...b1, name: 'ccb2', bridge: 'ccbr2' }, 'o2', 'eth0');
    const vlan = (name: string, master: string) => ({ cniVersion: '1.0.0', name, type: 'tsnet-macvlan', master, ipam: { type: 'host-local', ranges: [[{ subnet: '192.168.60.0/24' }]] } });
    await add('tsnet-macvlan', vlan('ccv1', 'ccov1'), 'o3', 'eth1');
    await add('tsnet-macvlan', vlan('ccv2', 'ccov2'), 'o4', 'eth2');
    const ipamOnly = (name: string) => ({ cniVersion: '1.0.0', name, type: 'tsnet-ipam', ipam: { type: 'tsnet-ipam', ranges: [[{ subnet: '10.239.0.0/24' }]] } });
    const i1 = await add('tsnet-ipam', ipamOnly('cci1'), 'o5', 'eth3');
    const i2 = await add('tsnet-ipam', ipamOnly('cci2'), 'o6', 'eth3');
    assert.equal([i1.ips[0]?.address, i2.ips[0]?.address], ['10.239.0.2/24', '10.239.0.2/24'], 'each network its own addresses');
    // An engine network on a CNI network's subnet is still a conflict.
    let err: unknown;
    await mgr.createNetwork({ name: 'ccengine', subnets: [{ subnet: '10.238.0.0/24' }] }).catch((e: unknown) => { err = e; });
    assert.match(String(err), /overlaps pool/);
    for (const [id, conf] of ids) {
      const { __ifname, ...c } = conf;
      const plugin = String(c['type']);
      assert.is((await cni(plugin, 'DEL', c, { CNI_CONTAINERID: id, CNI_NETNS: ns, CNI_IFNAME: String(__ifname) })).exitCode, 0);
    }
  } finally {
    dropSandbox(ns);
    for (const l of ['ccov1', 'ccov2', 'ccbr1', 'ccbr2']) await dropLink(l);
  }
});

T('tsnet-ipam: several ranges of one subnet in a range set, tried in order; a static address in the second', async () => {
  const conf = { cniVersion: '1.0.0', name: 'ccsplit', type: 'tsnet-ipam', ipam: { type: 'tsnet-ipam', ranges: [[
    { subnet: '10.240.0.0/24', rangeStart: '10.240.0.10', rangeEnd: '10.240.0.10' },
    { subnet: '10.240.0.0/24', rangeStart: '10.240.0.100', rangeEnd: '10.240.0.101' },
  ]] } };
  const got: string[] = [];
  for (const [id, args] of [['r1', undefined], ['r2', 'IP=10.240.0.101'], ['r3', undefined]] as const) {
    const r = await cni('tsnet-ipam', 'ADD', conf, { CNI_CONTAINERID: id, CNI_NETNS: '/proc/self/ns/net', ...(args ? { CNI_ARGS: args } : {}) });
    assert.is(r.exitCode, 0, r.raw);
    got.push((r.out as unknown as Result).ips[0]?.address ?? '');
  }
  assert.equal(got, ['10.240.0.10/24', '10.240.0.101/24', '10.240.0.100/24']);
  for (const id of ['r1', 'r2', 'r3']) assert.is((await cni('tsnet-ipam', 'DEL', conf, { CNI_CONTAINERID: id, CNI_NETNS: '' })).exitCode, 0);
});

T('tsnet-bridge: one static address per range set, two sets of one family', async () => {
  const ns = await newSandbox('cc-2set');
  try {
    const conf = {
      cniVersion: '1.0.0', name: 'cc2set', type: 'tsnet-bridge', bridge: 'cc2set0', isGateway: true,
      ipam: { type: 'tsnet-ipam', ranges: [[{ subnet: '10.241.0.0/24' }], [{ subnet: '10.242.0.0/24' }]] },
      runtimeConfig: { ips: ['10.241.0.9', '10.242.0.9'] },
    };
    const env = { CNI_CONTAINERID: 't1', CNI_NETNS: ns };
    const add = await cni('tsnet-bridge', 'ADD', conf, env);
    assert.is(add.exitCode, 0, add.raw);
    assert.equal((add.out as unknown as Result).ips.map((i) => i.address), ['10.241.0.9/24', '10.242.0.9/24']);
    assert.equal((await addrsOf(ns, 'eth0')).sort(), ['10.241.0.9/24', '10.242.0.9/24']);
    assert.is((await cni('tsnet-bridge', 'DEL', conf, env)).exitCode, 0);
  } finally {
    dropSandbox(ns);
    await dropLink('cc2set0');
  }
});

T('a malformed CNI_ARGS is no error for plugins that do not read it (portmap, bandwidth), as for the reference ones', async () => {
  const env = { CNI_CONTAINERID: 'a1', CNI_NETNS: '', CNI_ARGS: 'K8S_POD_NAME' };
  for (const type of ['tsnet-portmap', 'tsnet-bandwidth']) {
    const r = await cni(type, 'DEL', { cniVersion: '1.0.0', name: 'ccargs', type }, env);
    assert.is(r.exitCode, 0, `${type}: ${r.raw}`);
  }
  const bridge = await cni('tsnet-bridge', 'DEL', { cniVersion: '1.0.0', name: 'ccargs', type: 'tsnet-bridge', ipam: { type: 'tsnet-ipam', ranges: [[{ subnet: '10.244.0.0/24' }]] } }, env);
  assert.is((bridge.out as { code?: number } | undefined)?.code, 4, 'tsnet-bridge reads CNI_ARGS: code 4');
});

interface AddrJson { addr_info: { local: string; scope: string; tentative?: boolean; nodad?: boolean; dadfailed?: boolean }[] }
const globalV6 = async (ns: string) => (await ipJson<AddrJson[]>(ns, ['-6', 'addr', 'show', 'dev', 'eth0']))[0]?.addr_info.filter((a) => a.scope === 'global') ?? [];

T('bridge enabledad: ADD returns once DAD is over; a duplicate on the bridge fails with 102 naming it and leaves nothing; an IPv6-only conf gets no IPv4', async () => {
  const conf = (dad: boolean) => ({ cniVersion: '1.0.0', name: 'ccdad', type: 'tsnet-bridge', bridge: 'ccdad0', enabledad: dad, ipam: { type: 'host-local', ranges: [[{ subnet: 'fd98::/64' }]] } });
  const [a, b, holder] = [await newSandbox('cc-dad-a'), await newSandbox('cc-dad-b'), await newSandbox('cc-dad-h')];
  try {
    const plain = await cni('tsnet-bridge', 'ADD', conf(false), { CNI_CONTAINERID: 'd0', CNI_NETNS: a });
    assert.is(plain.exitCode, 0, plain.raw);
    assert.ok((await globalV6(a)).every((x) => x.nodad), 'without enabledad: added with nodad, usable at once');
    assert.is((await cni('tsnet-bridge', 'DEL', conf(false), { CNI_CONTAINERID: 'd0', CNI_NETNS: a })).exitCode, 0);
    const add = await cni('tsnet-bridge', 'ADD', conf(true), { CNI_CONTAINERID: 'd1', CNI_NETNS: a });
    assert.is(add.exitCode, 0, add.raw);
    const mine = await globalV6(a);
    assert.is(mine.length, 1);
    // Only the conf's family, as host-local (an IPv4 default subnet was added before).
    assert.equal((add.out as unknown as Result).ips.map((x) => x.address), [`${mine[0]?.local}/64`]);
    assert.ok((await addrsOf(a, 'eth0')).every((x) => x.includes(':')), 'no IPv4 address in the container');
    assert.ok(mine.every((x) => !x.nodad && !x.tentative && !x.dadfailed), `DAD done when ADD returned: ${JSON.stringify(mine)}`);
    // Someone else on the bridge has fd98::77 (not through tsnet): DAD finds it.
    await run(['ip', 'link', 'add', 'ccdadh', 'master', 'ccdad0', 'up', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', holder]);
    await inNs(holder, ['ip', 'addr', 'add', 'fd98::77/64', 'dev', 'eth0', 'nodad']);
    await inNs(holder, ['ip', 'link', 'set', 'eth0', 'up']);
    const dup = await cni('tsnet-bridge', 'ADD', { ...conf(true), args: { cni: { ips: ['fd98::77'] } } }, { CNI_CONTAINERID: 'd2', CNI_NETNS: b });
    assert.is((dup.out as { code?: number } | undefined)?.code, 102, dup.raw);
    assert.match(String((dup.out as { msg?: string }).msg), /fd98::77\/64 is already in use/);
    assert.equal(await linkNames(b), ['lo'], 'no interface left in the container');
    const held = mgr.ipam.listPools().flatMap((p) => mgr.ipam.allocationsOf(p.id)).filter((x) => x.kind === 'endpoint');
    assert.is(held.length, 1, `only d1's address held: ${JSON.stringify(held)}`);
    assert.is((await cni('tsnet-bridge', 'DEL', conf(true), { CNI_CONTAINERID: 'd1', CNI_NETNS: a })).exitCode, 0);
  } finally {
    await dropLink('ccdadh');
    for (const ns of [a, b, holder]) dropSandbox(ns);
  }
});

T('an IPv6-only conf whose network an older tsnet gave a default IPv4 subnet: re-made while unused, then IPv6 only', async () => {
  const conf = { cniVersion: '1.0.0', name: 'ccv6old', type: 'tsnet-bridge', bridge: 'ccv6old0', ipam: { type: 'host-local', ranges: [[{ subnet: 'fd97::/64' }]] } };
  const ns = await newSandbox('cc-v6old');
  try {
    const env = { CNI_CONTAINERID: 'o1', CNI_NETNS: ns };
    assert.is((await cni('tsnet-bridge', 'ADD', conf, env)).exitCode, 0);
    assert.is((await cni('tsnet-bridge', 'DEL', conf, env)).exitCode, 0);
    // What an older version made: the same network with a default IPv4 pool beside the range's.
    const net = mgr.listNetworks().find((n) => n.labels['tsnet.cni.name'] === 'ccv6old');
    if (!net) throw new Error('no network');
    mgr.ipam.createPool({ networkId: net.id, subnet: '10.213.195.0/24' });
    const add = await cni('tsnet-bridge', 'ADD', conf, { ...env, CNI_CONTAINERID: 'o2' });
    assert.is(add.exitCode, 0, add.raw);
    assert.ok((add.out as unknown as Result).ips.every((x) => x.address.includes(':')), add.raw);
    assert.ok((await addrsOf(ns, 'eth0')).every((x) => x.includes(':')), 'no IPv4 address in the container');
    assert.is((await cni('tsnet-bridge', 'DEL', conf, { ...env, CNI_CONTAINERID: 'o2' })).exitCode, 0);
  } finally {
    dropSandbox(ns);
  }
});

T('STATUS is 50 (not 100) when the standalone plugin cannot open its store, also under /proc (no hang)', async () => {
  const notADir = join(paths().root, `cc-status-${process.pid}`);
  writeFileSync(notADir, 'not a directory');
  const env: NodeJS.ProcessEnv = { ...process.env, TSNET_ROOT: notADir, TSNET_CNI_NO_DAEMON: '1', CNI_COMMAND: 'STATUS', CNI_PATH: '/opt/cni/bin' };
  delete env['NODE_EXTRA_CA_CERTS'];
  delete env['TSNET_HOST'];
  // A root under /proc: Node 20's recursive mkdirSync would loop there forever (core/paths makeDirs).
  for (const root of [notADir, '/proc/tsnet-nope/lib']) {
    for (const plugin of ['tsnet-bridge', 'tsnet-ipam', 'tsnet-portmap']) {
      const conf = { cniVersion: '1.1.0', name: 'ccst', type: plugin, ranges: [[{ subnet: '10.243.0.0/24' }]], ipam: { type: 'tsnet-ipam', ranges: [[{ subnet: '10.243.0.0/24' }]] } };
      const r = await run([process.execPath, join(packageRoot(), 'bin', 'tsnet-cni'), '--plugin', plugin], { input: JSON.stringify(conf), env: { ...env, TSNET_ROOT: root }, okCodes: [1], timeoutMs: 20_000 });
      const out = JSON.parse(r.stdout) as { code: number; msg: string };
      assert.is(out.code, 50, `${plugin} ${root}: ${r.stdout}`);
      assert.match(out.msg, /the store cannot be opened/);
    }
  }
  await run(['rm', '-f', notADir]);
});

T.run();
