/**
 * CNI conformance, in-process (the plugin code the daemon and the standalone executable
 * share): every verb over every version, result shapes, kernel state, error codes,
 * chaining (bridge -> portmap), GC and STATUS. Each test removes what it made.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { run } from '../core/exec/index.js';
import { runCni, skel, endpointId } from '../cni/index.js';
import { newManager, cleanup, newSandbox, dropSandbox, ipJson, addrsOf, linkNames, serve, ask, firewallDump, inNs, publishedPorts } from './helpers.js';

const { mgr, dbFile } = newManager();
const host = { manager: () => mgr };
const T = suite('cni');

type Json = Record<string, unknown>;
interface Call { exitCode: number; out: Json | undefined; raw: string }

async function cni(plugin: string, cmd: string, conf: Json, env: Record<string, string> = {}): Promise<Call> {
  const o = await runCni(plugin, { env: { CNI_COMMAND: cmd, CNI_PATH: '/opt/cni/bin', CNI_IFNAME: 'eth0', ...env }, stdin: JSON.stringify(conf) }, host);
  return { exitCode: o.exitCode, out: o.stdout ? (JSON.parse(o.stdout) as Json) : undefined, raw: o.stdout };
}

const bridgeConf = (v: string, o: Json = {}): Json => ({
  cniVersion: v, name: 'ctest', type: 'tsnet-bridge', bridge: 'cnitest0', isGateway: true, isDefaultGateway: true, ipMasq: true,
  ipam: { type: 'tsnet-ipam', ranges: [[{ subnet: '10.231.0.0/24', rangeStart: '10.231.0.10', rangeEnd: '10.231.0.200' }]] }, ...o,
});

T.after(async () => {
  await cleanup(mgr, dbFile);
});

T('bridge: ADD, CHECK, DEL in every version; results shaped per version; kernel matches', async () => {
  const ns = await newSandbox('cni-v');
  try {
    for (const [i, v] of skel.SUPPORTED_VERSIONS.entries()) {
      const env = { CNI_CONTAINERID: `ver${i}`, CNI_NETNS: ns, CNI_IFNAME: `eth${i}` };
      const add = await cni('tsnet-bridge', 'ADD', bridgeConf(v), env);
      assert.is(add.exitCode, 0, add.raw);
      const r = add.out as { cniVersion: string; interfaces: { name: string; sandbox?: string; mac?: string }[]; ips: { address: string; version?: string; interface: number; gateway: string }[]; dns: Json };
      assert.is(r.cniVersion, v);
      assert.equal(r.interfaces.map((x) => x.name).slice(0, 1), ['cnitest0']);
      assert.equal(r.interfaces[2], { name: `eth${i}`, mac: r.interfaces[2]?.mac, sandbox: ns });
      assert.is(r.ips.length, 1);
      assert.is(r.ips[0]?.version, skel.compareVersions(v, '1.0.0') < 0 ? '4' : undefined);
      assert.is(r.ips[0]?.interface, 2);
      assert.is(r.ips[0]?.gateway, '10.231.0.1');
      assert.ok(r.dns);
      assert.equal(await addrsOf(ns, `eth${i}`), [r.ips[0]?.address]);
      // The MACs the result reports (not read back from the kernel) are the kernel's.
      for (const [j, where] of [[0, undefined], [1, undefined], [2, ns]] as const) {
        const [l] = await ipJson<{ address: string }[]>(where, ['link', 'show', r.interfaces[j]?.name ?? '']);
        assert.is(r.interfaces[j]?.mac, l?.address, `interfaces[${j}].mac`);
      }
      if (skel.compareVersions(v, '0.4.0') >= 0) {
        const chk = await cni('tsnet-bridge', 'CHECK', { ...bridgeConf(v), prevResult: r }, env);
        assert.is(chk.exitCode, 0, chk.raw);
        assert.is(chk.raw, '');
      }
      const del = await cni('tsnet-bridge', 'DEL', { ...bridgeConf(v), prevResult: r }, env);
      assert.equal([del.exitCode, del.raw], [0, '']);
      assert.not.ok((await linkNames(ns)).includes(`eth${i}`));
      assert.is((await cni('tsnet-bridge', 'DEL', bridgeConf(v), env)).exitCode, 0, 'DEL is idempotent');
    }
    assert.is(mgr.listEndpoints().length, 0);
  } finally {
    dropSandbox(ns);
  }
});

T('bridge: DEL without netns or prevResult after the netns vanished; ADD on an existing interface fails cleanly', async () => {
  const ns = await newSandbox('cni-del');
  const env = { CNI_CONTAINERID: 'gone', CNI_NETNS: ns };
  const add = await cni('tsnet-bridge', 'ADD', bridgeConf('1.1.0'), env);
  assert.is(add.exitCode, 0, add.raw);
  const hostVeth = (add.out as { interfaces: { name: string }[] }).interfaces[1]?.name ?? '';
  assert.ok((await linkNames()).includes(hostVeth));
  dropSandbox(ns);
  const del = await cni('tsnet-bridge', 'DEL', bridgeConf('1.1.0'), { CNI_CONTAINERID: 'gone', CNI_NETNS: '' });
  assert.is(del.exitCode, 0, del.raw);
  assert.not.ok((await linkNames()).includes(hostVeth));
  assert.is(mgr.listEndpoints().length, 0);

  const ns2 = await newSandbox('cni-exists');
  try {
    await inNs(ns2, ['ip', 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'other0']);
    const allocs = () => mgr.listNetworks().flatMap((n) => n.subnets).reduce((s, x) => s + mgr.ipam.allocationsOf(x.poolId).length, 0);
    const before = allocs();
    const clash = await cni('tsnet-bridge', 'ADD', bridgeConf('1.0.0'), { CNI_CONTAINERID: 'clash', CNI_NETNS: ns2 });
    assert.is(clash.exitCode, 1);
    assert.is((clash.out as { code: number }).code, skel.CNI_ERR.CONFLICT);
    assert.match(String((clash.out as { msg: string }).msg), 'eth0');
    assert.is(allocs(), before, 'no address leaked');
    assert.is(mgr.listEndpoints().length, 0);
    await inNs(ns2, ['ip', 'link', 'del', 'eth0']);
    const ok = await cni('tsnet-bridge', 'ADD', bridgeConf('1.0.0'), { CNI_CONTAINERID: 'clash', CNI_NETNS: ns2 });
    assert.is(ok.exitCode, 0, ok.raw);
    const twice = await cni('tsnet-bridge', 'ADD', bridgeConf('1.0.0'), { CNI_CONTAINERID: 'clash', CNI_NETNS: ns2 });
    assert.is((twice.out as { code: number }).code, skel.CNI_ERR.CONFLICT);
    assert.is((await cni('tsnet-bridge', 'DEL', bridgeConf('1.0.0'), { CNI_CONTAINERID: 'clash', CNI_NETNS: ns2 })).exitCode, 0);
  } finally {
    dropSandbox(ns2);
  }
});

T('bridge: routes and static addresses as the reference does (isDefaultGateway, ipam routes, IP=, ips capability, mac), vethQueues', async () => {
  const ns = await newSandbox('cni-routes');
  try {
    const conf = bridgeConf('1.0.0', { isDefaultGateway: false, vethQueues: 2, ipam: { type: 'host-local', ranges: [[{ subnet: '10.231.0.0/24', rangeStart: '10.231.0.10', rangeEnd: '10.231.0.200' }]], routes: [{ dst: '10.99.0.0/16' }] } });
    const env = { CNI_CONTAINERID: 'r1', CNI_NETNS: ns, CNI_ARGS: 'IgnoreUnknown=1;IP=10.231.0.77;K8S_POD_NAME=x' };
    const add = await cni('tsnet-bridge', 'ADD', { ...conf, runtimeConfig: { mac: '02:11:22:33:44:55' } }, env);
    assert.is(add.exitCode, 0, add.raw);
    const r = add.out as { ips: { address: string }[]; routes: { dst: string }[]; interfaces: { mac?: string }[] };
    assert.is(r.ips[0]?.address, '10.231.0.77/24');
    assert.is(r.interfaces[2]?.mac, '02:11:22:33:44:55');
    assert.equal(r.routes, [{ dst: '10.99.0.0/16' }]);
    const routes = await ipJson<{ dst: string; gateway?: string }[]>(ns, ['route', 'show']);
    assert.ok(routes.some((x) => x.dst === '10.99.0.0/16' && x.gateway === '10.231.0.1'));
    assert.not.ok(routes.some((x) => x.dst === 'default'), 'no default route unless asked');
    const [eth0] = await ipJson<{ num_tx_queues: number; num_rx_queues: number }[]>(ns, ['-d', 'link', 'show', 'eth0']);
    assert.equal([eth0?.num_tx_queues, eth0?.num_rx_queues], [2, 2], 'vethQueues');
    // IPv6 as the netns has it unless ipv6OffWithoutAddress (tsnet's own) asks (eth2 below).
    const ipv6Disabled = async (dev: string) => (await inNs(ns, ['cat', `/proc/sys/net/ipv6/conf/${dev}/disable_ipv6`])).stdout.trim();
    assert.is(await ipv6Disabled('eth0'), '0');
    // CHECK holds the container's routes against prevResult's, as the reference does.
    const checkConf = { ...conf, prevResult: add.out };
    assert.is((await cni('tsnet-bridge', 'CHECK', checkConf, env)).exitCode, 0);
    await inNs(ns, ['ip', 'route', 'del', '10.99.0.0/16']);
    const check = await cni('tsnet-bridge', 'CHECK', checkConf, env);
    assert.equal([check.exitCode, (check.out as { code: number; details?: string }).code], [1, 102], check.raw);
    assert.match(check.raw, 'prevResult route 10.99.0.0/16 is not in the container');
    const outside = await cni('tsnet-bridge', 'ADD', { ...conf, runtimeConfig: { ips: ['10.9.9.9/24'] } }, { CNI_CONTAINERID: 'r2', CNI_NETNS: ns, CNI_IFNAME: 'eth1' });
    assert.is((outside.out as { code: number }).code, 7);
    const off = await cni('tsnet-bridge', 'ADD', { ...conf, ipv6OffWithoutAddress: true }, { CNI_CONTAINERID: 'r3', CNI_NETNS: ns, CNI_IFNAME: 'eth2' });
    assert.is(off.exitCode, 0, off.raw);
    assert.is(await ipv6Disabled('eth2'), '1');
    assert.is((await cni('tsnet-bridge', 'DEL', { ...conf, ipv6OffWithoutAddress: true }, { CNI_CONTAINERID: 'r3', CNI_NETNS: ns, CNI_IFNAME: 'eth2' })).exitCode, 0);
    assert.is((await cni('tsnet-bridge', 'DEL', conf, env)).exitCode, 0);
  } finally {
    dropSandbox(ns);
  }
});

T('bridge: a sandbox on two networks gets both networks\' routes to one destination, appended as the reference does', async () => {
  const ns = await newSandbox('cni-2routes');
  const net = (n: number): Json => bridgeConf('1.0.0', {
    name: `ctwo${n}`, bridge: `cnitwo${n}`,
    ipam: { type: 'tsnet-ipam', ranges: [[{ subnet: `10.232.${n}.0/24` }]], routes: [{ dst: '10.96.0.0/12' }] },
  });
  const env = (n: number) => ({ CNI_CONTAINERID: 'two', CNI_NETNS: ns, CNI_IFNAME: n === 1 ? 'eth0' : 'net1' });
  const via = async (dst: string) => (await ipJson<{ gateway?: string; dev?: string }[]>(ns, ['route', 'show', dst])).map((r) => `${r.gateway} ${r.dev}`);
  try {
    for (const n of [1, 2]) {
      const add = await cni('tsnet-bridge', 'ADD', net(n), env(n));
      assert.is(add.exitCode, 0, add.raw);
    }
    // The first one added is the one in use (listed first); the other takes over if it goes.
    assert.equal(await via('10.96.0.0/12'), ['10.232.1.1 eth0', '10.232.2.1 net1']);
    assert.equal(await via('default'), ['10.232.1.1 eth0', '10.232.2.1 net1']);
    assert.is((await cni('tsnet-bridge', 'DEL', net(1), env(1))).exitCode, 0);
    assert.equal(await via('10.96.0.0/12'), ['10.232.2.1 net1']);
    assert.equal(await via('default'), ['10.232.2.1 net1']);
    assert.is((await cni('tsnet-bridge', 'DEL', net(2), env(2))).exitCode, 0);
  } finally {
    dropSandbox(ns);
  }
});

T('bridge: isDefaultGateway adds a default per family, except one ipam.routes has (result and kernel)', async () => {
  const ns = await newSandbox('cni-defgw');
  const conf = (routes: Json[]) => bridgeConf('1.0.0', { name: 'cdefgw', bridge: 'cnidefgw0', isDefaultGateway: true, ipam: { type: 'tsnet-ipam', ranges: [[{ subnet: '10.232.11.0/24' }], [{ subnet: 'fd32:11::/64' }]], routes } });
  const env = { CNI_CONTAINERID: 'defgw', CNI_NETNS: ns };
  const defaults = async () => [
    ...(await ipJson<{ gateway?: string }[]>(ns, ['-4', 'route', 'show', 'default'])).map((r) => r.gateway),
    ...(await ipJson<{ gateway?: string }[]>(ns, ['-6', 'route', 'show', 'default'])).map((r) => r.gateway),
  ];
  try {
    for (const [routes, listed] of [
      [[{ dst: '10.9.0.0/16' }], [{ dst: '10.9.0.0/16' }, { dst: '0.0.0.0/0', gw: '10.232.11.1' }, { dst: '::/0', gw: 'fd32:11::1' }]],
      [[{ dst: '0.0.0.0/0' }], [{ dst: '0.0.0.0/0' }, { dst: '::/0', gw: 'fd32:11::1' }]],
    ] as [Json[], Json[]][]) {
      const add = await cni('tsnet-bridge', 'ADD', conf(routes), env);
      assert.is(add.exitCode, 0, add.raw);
      assert.equal((add.out as { routes: Json[] }).routes, listed);
      assert.equal(await defaults(), ['10.232.11.1', 'fd32:11::1'], 'one default route per family in the container');
      assert.is((await cni('tsnet-bridge', 'DEL', conf(routes), env)).exitCode, 0);
    }
  } finally {
    dropSandbox(ns);
  }
});

T('bridge: result ips follow the order of ipam.ranges (runtimes take the first as the pod\'s address)', async () => {
  const ns = await newSandbox('cni-order');
  const conf = bridgeConf('1.0.0', { name: 'corder', bridge: 'cniorder0', ipam: { type: 'tsnet-ipam', ranges: [[{ subnet: 'fd32::/64' }], [{ subnet: '10.232.9.0/24' }]] } });
  const env = { CNI_CONTAINERID: 'order', CNI_NETNS: ns };
  try {
    const add = await cni('tsnet-bridge', 'ADD', conf, env);
    assert.is(add.exitCode, 0, add.raw);
    const ips = (add.out as { ips: { address: string }[] }).ips.map((i) => i.address);
    assert.equal(ips, ['fd32::2/64', '10.232.9.2/24']);
    assert.equal((await addrsOf(ns, 'eth0')).sort(), [...ips].sort());
    assert.is((await cni('tsnet-bridge', 'DEL', conf, env)).exitCode, 0);
  } finally {
    dropSandbox(ns);
  }
});

T('bridge: promiscMode sets the bridge promiscuous on an ADD that asks, also when the network was made without it', async () => {
  const ns = await newSandbox('cni-promisc');
  const conf = (promiscMode: boolean) => bridgeConf('1.0.0', { name: 'cpromisc', bridge: 'cnipromisc0', promiscMode, ipam: { type: 'tsnet-ipam', ranges: [[{ subnet: '10.232.10.0/24' }]] } });
  const env = { CNI_CONTAINERID: 'promisc', CNI_NETNS: ns };
  const promiscuity = async () => (await ipJson<{ promiscuity: number }[]>(undefined, ['-d', 'link', 'show', 'cnipromisc0']))[0]?.promiscuity;
  try {
    assert.is((await cni('tsnet-bridge', 'ADD', conf(false), env)).exitCode, 0);
    assert.is(await promiscuity(), 0);
    assert.is((await cni('tsnet-bridge', 'DEL', conf(false), env)).exitCode, 0);
    const add = await cni('tsnet-bridge', 'ADD', conf(true), env);
    assert.is(add.exitCode, 0, add.raw);
    assert.is(await promiscuity(), 1);
    assert.is((await cni('tsnet-bridge', 'DEL', conf(true), env)).exitCode, 0);
  } finally {
    dropSandbox(ns);
  }
});

T('portmap chained after bridge: DNAT published and answered on 127.0.0.1, CHECK, DEL removes it', async () => {
  const ns = await newSandbox('cni-pm');
  const env = { CNI_CONTAINERID: 'pm1', CNI_NETNS: ns };
  const srv = await serve(ns, 'tcp', 80, 'hello-cni');
  try {
    const add = await cni('tsnet-bridge', 'ADD', bridgeConf('1.0.0'), env);
    assert.is(add.exitCode, 0, add.raw);
    const pmConf = { cniVersion: '1.0.0', name: 'ctest', type: 'tsnet-portmap', snat: true, prevResult: add.out, runtimeConfig: { portMappings: [{ hostPort: 18080, containerPort: 80, protocol: 'tcp' }] } };
    // CNI_ARGS meant for the IPAM (host-local's IP=) or the runtime's own keys: portmap does
    // not read them, as the reference does not, on ADD, CHECK and DEL alike.
    const pmEnv = { ...env, CNI_ARGS: 'IP=10.231.0.99;K8S_POD_NAME=web' };
    const pm = await cni('tsnet-portmap', 'ADD', pmConf, pmEnv);
    assert.is(pm.exitCode, 0, pm.raw);
    assert.equal((pm.out as { ips: unknown }).ips, (add.out as { ips: unknown }).ips, 'portmap passes prevResult through');
    const ip = ((add.out as { ips: { address: string }[] }).ips[0]?.address ?? '').split('/')[0];
    assert.ok((await publishedPorts()).includes(`tcp . 18080 : ${ip} . 80`), 'the mapping is an element of the nft port map');
    assert.is(await ask(undefined, 'tcp', '127.0.0.1', 18080), 'hello-cni');
    assert.is((await cni('tsnet-portmap', 'CHECK', pmConf, pmEnv)).exitCode, 0);
    const clash = await cni('tsnet-portmap', 'ADD', pmConf, { CNI_CONTAINERID: 'pm2', CNI_NETNS: ns });
    assert.is((clash.out as { code: number }).code, skel.CNI_ERR.CONFLICT, clash.raw);
    assert.is((await cni('tsnet-portmap', 'DEL', pmConf, pmEnv)).exitCode, 0);
    assert.not.match(await firewallDump(), /18080/);
    assert.is((await cni('tsnet-portmap', 'DEL', pmConf, env)).exitCode, 0);
    assert.is((await cni('tsnet-bridge', 'DEL', bridgeConf('1.0.0'), env)).exitCode, 0);
  } finally {
    await srv.stop();
    dropSandbox(ns);
  }
});

T('bridge: a LAN neighbour routing the pod subnet via this host reaches an unpublished pod port (no drop, as the reference)', async () => {
  const pod = await newSandbox('cni-lanpod');
  const lan = await newSandbox('cni-lan');
  const env = { CNI_CONTAINERID: 'lan1', CNI_NETNS: pod };
  const srv = await serve(pod, 'tcp', 7081, 'pod-7081');
  try {
    // The neighbour: a veth to this host netns, the pod subnet routed via the host.
    await inNs(undefined, ['ip', 'link', 'add', 'cnilan0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', lan]);
    await inNs(undefined, ['ip', 'addr', 'add', '192.0.2.1/24', 'dev', 'cnilan0']);
    await inNs(undefined, ['ip', 'link', 'set', 'cnilan0', 'up']);
    for (const argv of [['ip', 'addr', 'add', '192.0.2.2/24', 'dev', 'eth0'], ['ip', 'link', 'set', 'eth0', 'up'], ['ip', 'route', 'add', '10.231.0.0/24', 'via', '192.0.2.1']]) await inNs(lan, argv);
    const add = await cni('tsnet-bridge', 'ADD', bridgeConf('1.0.0'), env);
    assert.is(add.exitCode, 0, add.raw);
    const ip = ((add.out as { ips: { address: string }[] }).ips[0]?.address ?? '').split('/')[0] ?? '';
    assert.is(await ask(lan, 'tcp', ip, 7081), 'pod-7081');
    assert.not.match(await firewallDump(), /! -i cnitest0 -o cnitest0 .*-j DROP/);
    assert.is((await cni('tsnet-bridge', 'DEL', bridgeConf('1.0.0'), env)).exitCode, 0);
  } finally {
    await srv.stop();
    await inNs(undefined, ['ip', 'link', 'del', 'cnilan0'], [1]);
    dropSandbox(lan);
    dropSandbox(pod);
  }
});

T('GC releases every attachment not listed; an empty list releases all (bridge, portmap, ipam)', async () => {
  const ns = await newSandbox('cni-gc');
  try {
    for (const c of ['g1', 'g2', 'g3']) {
      const env = { CNI_CONTAINERID: c, CNI_NETNS: ns, CNI_IFNAME: `e${c}` };
      const add = await cni('tsnet-bridge', 'ADD', bridgeConf('1.1.0'), env);
      assert.is(add.exitCode, 0, add.raw);
      const pm = await cni('tsnet-portmap', 'ADD', { cniVersion: '1.1.0', name: 'ctest', type: 'tsnet-portmap', prevResult: add.out, runtimeConfig: { portMappings: [{ hostPort: 19000 + Number(c[1]), containerPort: 80 }] } }, env);
      assert.is(pm.exitCode, 0, pm.raw);
    }
    const gcEnv = { CNI_CONTAINERID: '', CNI_IFNAME: '' };
    const keep = [{ containerID: 'g1', ifname: 'eg1' }];
    for (const t of ['tsnet-bridge', 'tsnet-portmap']) {
      const gc = await cni(t, 'GC', { ...bridgeConf('1.1.0'), type: t, 'cni.dev/valid-attachments': keep }, gcEnv);
      assert.equal([gc.exitCode, gc.raw], [0, '']);
    }
    assert.equal(mgr.listEndpoints().map((e) => e.id).sort(), [endpointId('bridge', 'ctest', 'g1', 'eg1'), endpointId('portmap', 'ctest', 'g1', 'eg1')].sort());
    assert.not.match(await firewallDump(), /\. 19002 :/);
    assert.match(await firewallDump(), /\. 19001 :/);
    for (const t of ['tsnet-bridge', 'tsnet-portmap']) {
      assert.is((await cni(t, 'GC', { ...bridgeConf('1.1.0'), type: t, 'cni.dev/valid-attachments': [] }, gcEnv)).exitCode, 0);
    }
    assert.is(mgr.listEndpoints().length, 0);
    assert.is(mgr.store.ports.list().length, 0);
    assert.equal((await linkNames(ns)), ['lo']);
    const gc10 = await cni('tsnet-bridge', 'GC', bridgeConf('1.0.0'), gcEnv);
    assert.is((gc10.out as { code: number }).code, 1, 'GC needs 1.1.0');
    const st = await cni('tsnet-bridge', 'STATUS', bridgeConf('1.1.0'), gcEnv);
    assert.equal([st.exitCode, st.raw], [0, '']);
  } finally {
    dropSandbox(ns);
  }
});

T('tsnet-ipam alone: allocate, duplicate refused, static IP, CHECK, DEL, GC, STATUS 50 when full, ranges change refused while used', async () => {
  const conf = (o: Json = {}) => ({ cniVersion: '1.1.0', name: 'ipamonly', type: 'bridge', ipam: { type: 'tsnet-ipam', ranges: [[{ subnet: '10.232.0.0/29' }], [{ subnet: 'fd74:1::/120' }]], routes: [{ dst: '0.0.0.0/0' }], ...o } });
  const env = (c: string) => ({ CNI_CONTAINERID: c, CNI_NETNS: '/proc/self/ns/net' });
  const a = await cni('tsnet-ipam', 'ADD', conf(), env('i1'));
  assert.is(a.exitCode, 0, a.raw);
  const ips = (a.out as { ips: { address: string; gateway: string; interface?: number }[] }).ips;
  assert.equal(ips.map((x) => x.address), ['10.232.0.2/29', 'fd74:1::2/120']);
  assert.equal(ips.map((x) => x.gateway), ['10.232.0.1', 'fd74:1::1']);
  assert.is(ips[0]?.interface, undefined);
  assert.equal((a.out as { routes: unknown }).routes, [{ dst: '0.0.0.0/0' }]);
  assert.is(((await cni('tsnet-ipam', 'ADD', conf(), env('i1'))).out as { code: number }).code, skel.CNI_ERR.CONFLICT);
  const s = await cni('tsnet-ipam', 'ADD', conf(), { ...env('i2'), CNI_ARGS: 'IP=10.232.0.6' });
  assert.is(((s.out as { ips: { address: string }[] }).ips[0]?.address), '10.232.0.6/29');
  assert.is((await cni('tsnet-ipam', 'CHECK', { ...conf(), prevResult: a.out }, env('i1'))).exitCode, 0);
  assert.is(((await cni('tsnet-ipam', 'CHECK', conf(), env('nobody'))).out as { code: number }).code, skel.CNI_ERR.NOT_FOUND);
  for (const c of ['i3', 'i4', 'i5']) assert.is((await cni('tsnet-ipam', 'ADD', conf(), env(c))).exitCode, 0);
  const full = await cni('tsnet-ipam', 'STATUS', conf(), {});
  assert.is((full.out as { code: number }).code, 50);
  const change = await cni('tsnet-ipam', 'ADD', conf({ ranges: [[{ subnet: '10.233.0.0/24' }]] }), env('i9'));
  assert.is((change.out as { code: number }).code, 7);
  assert.is((await cni('tsnet-ipam', 'DEL', conf(), env('i1'))).exitCode, 0);
  assert.is((await cni('tsnet-ipam', 'STATUS', conf(), {})).exitCode, 0);
  assert.is((await cni('tsnet-ipam', 'GC', { ...conf(), 'cni.dev/valid-attachments': [{ containerID: 'i2', ifname: 'eth0' }] }, {})).exitCode, 0);
  const left = mgr.ipam.listPools().filter((p) => p.id.startsWith('cni-ipam:ipamonly:')).flatMap((p) => mgr.ipam.allocationsOf(p.id)).filter((x) => x.kind === 'endpoint');
  assert.equal(left.map((x) => x.owner), ['cni:ipamonly:i2:eth0', 'cni:ipamonly:i2:eth0']);
  assert.is((await cni('tsnet-ipam', 'GC', { ...conf(), 'cni.dev/valid-attachments': [] }, {})).exitCode, 0);
  for (const p of mgr.ipam.listPools().filter((x) => x.id.startsWith('cni-ipam:'))) mgr.ipam.deletePool(p.id);
});

T('macvlan on a veth parent: ADD in the netns, DEL', async () => {
  const ns = await newSandbox('cni-mv');
  await run(['ip', 'link', 'add', 'mvparent', 'type', 'veth', 'peer', 'name', 'mvpeer']);
  await run(['ip', 'link', 'set', 'mvparent', 'up']);
  try {
    const conf = { cniVersion: '0.4.0', name: 'mvtest', type: 'tsnet-macvlan', master: 'mvparent', mode: 'bridge', ipam: { type: 'host-local', subnet: '10.234.0.0/24', routes: [{ dst: '0.0.0.0/0' }] } };
    const env = { CNI_CONTAINERID: 'mv1', CNI_NETNS: ns };
    const add = await cni('tsnet-macvlan', 'ADD', conf, env);
    assert.is(add.exitCode, 0, add.raw);
    const r = add.out as { interfaces: { name: string; sandbox: string }[]; ips: { address: string; version: string; interface: number }[] };
    assert.equal(r.interfaces.map((i) => [i.name, i.sandbox]), [['eth0', ns]]);
    assert.equal([r.ips[0]?.version, r.ips[0]?.interface], ['4', 0]);
    const link = await ipJson<{ linkinfo?: { info_kind?: string } }[]>(ns, ['-d', 'link', 'show', 'eth0']);
    assert.is(link[0]?.linkinfo?.info_kind, 'macvlan');
    assert.equal(await addrsOf(ns, 'eth0'), [r.ips[0]?.address]);
    assert.ok((await ipJson<{ dst: string }[]>(ns, ['route', 'show'])).some((x) => x.dst === 'default'));
    assert.is((await cni('tsnet-macvlan', 'CHECK', { ...conf, prevResult: r }, env)).exitCode, 0);
    assert.is((await cni('tsnet-macvlan', 'DEL', conf, env)).exitCode, 0);
    assert.equal(await linkNames(ns), ['lo']);
  } finally {
    dropSandbox(ns);
    await run(['ip', 'link', 'del', 'mvparent'], { okCodes: [1] });
  }
});

T('errors: bad subnet 7, missing netns 3, changed ranges while attached 7, unknown plugin 7', async () => {
  const bad = await cni('tsnet-bridge', 'ADD', bridgeConf('1.0.0', { name: 'badnet', ipam: { type: 'tsnet-ipam', ranges: [[{ subnet: '10.231.300.0/24' }]] } }), { CNI_CONTAINERID: 'b', CNI_NETNS: '/proc/self/ns/net' });
  assert.equal([(bad.out as { code: number }).code, (bad.out as { details: string }).details], [7, 'ipam.ranges[0][0].subnet']);
  const gone = await cni('tsnet-bridge', 'ADD', bridgeConf('1.0.0'), { CNI_CONTAINERID: 'b', CNI_NETNS: '/run/nonexistent-netns' });
  assert.is((gone.out as { code: number }).code, 3);
  const ns = await newSandbox('cni-err');
  try {
    assert.is((await cni('tsnet-bridge', 'ADD', bridgeConf('1.0.0'), { CNI_CONTAINERID: 'e1', CNI_NETNS: ns })).exitCode, 0);
    const changed = await cni('tsnet-bridge', 'ADD', bridgeConf('1.0.0', { ipam: { type: 'tsnet-ipam', ranges: [[{ subnet: '10.235.0.0/24' }]] } }), { CNI_CONTAINERID: 'e2', CNI_NETNS: ns, CNI_IFNAME: 'eth1' });
    assert.is((changed.out as { code: number }).code, 7);
    assert.is((await cni('tsnet-bridge', 'DEL', bridgeConf('1.0.0'), { CNI_CONTAINERID: 'e1', CNI_NETNS: ns })).exitCode, 0);
  } finally {
    dropSandbox(ns);
  }
  const unknown = await cni('tsnet-nope', 'ADD', bridgeConf('1.0.0'), {});
  assert.is((unknown.out as { code: number }).code, 7);
});

T.run();
