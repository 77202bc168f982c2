/**
 * Range sets as host-local reads them (each test failed before its fix): a static address is
 * recorded in the pool of the range that holds it (not the first of its subnet, which let the
 * other range hand it out again); ranges that share an address, in one set or across sets,
 * are code 7 naming the range (each range is its own pool, both would hand it out);
 * tsnet-bridge refuses two range sets of one subnet (code 2) it allocated wrongly; STATUS
 * of tsnet-ipam counts an IPv6 /127 or /128 (and an IPv4 /31 or /32) as ADD allocates it.
 * In-process, as the daemon runs the plugins.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runCni } from '../cni/index.js';
import { effectiveRanges } from '../cni/plugins/ipam-conf.js';
import type { CniError } from '../cni/skel/errors.js';
import { cleanup, dropSandbox, newManager, newSandbox } from './helpers.js';

const { mgr, dbFile } = newManager();
const host = { manager: () => mgr };
const T = suite('cni-ranges');

type Json = Record<string, unknown>;
interface Call { exitCode: number; out: Json | undefined; raw: string }
interface Failure { code?: number; msg?: string; details?: string }

async function cni(plugin: string, cmd: string, conf: Json, env: Record<string, string> = {}): Promise<Call> {
  const o = await runCni(plugin, { env: { CNI_COMMAND: cmd, CNI_PATH: '/opt/cni/bin', CNI_IFNAME: 'eth0', CNI_NETNS: '/proc/self/ns/net', ...env }, stdin: JSON.stringify(conf) }, host);
  return { exitCode: o.exitCode, out: o.stdout ? (JSON.parse(o.stdout) as Json) : undefined, raw: o.stdout };
}

const ipamConf = (name: string, ranges: Json[][], cniVersion = '1.0.0') => ({ cniVersion, name, type: 'tsnet-ipam', ipam: { type: 'tsnet-ipam', ranges } });

/** ADD for container `id`; the address of range set 0, or the error object. */
async function addOne(conf: Json, id: string, cniArgs?: string): Promise<{ address?: string; err?: Failure }> {
  const r = await cni('tsnet-ipam', 'ADD', conf, { CNI_CONTAINERID: id, ...(cniArgs ? { CNI_ARGS: cniArgs } : {}) });
  if (r.exitCode !== 0) return { err: r.out as Failure };
  return { address: (r.out as { ips: { address: string }[] }).ips[0]?.address ?? '' };
}

const del = (conf: Json, id: string) => cni('tsnet-ipam', 'DEL', conf, { CNI_CONTAINERID: id });
const caught = (fn: () => unknown): CniError => { try { fn(); } catch (e) { return e as CniError; } throw new Error('no error'); };

T.after(async () => {
  await cleanup(mgr, dbFile);
});

T('tsnet-ipam split ranges: a static address is held by the range that holds it, never handed out again', async () => {
  const conf = ipamConf('crsplit', [[
    { subnet: '10.246.0.0/24', rangeStart: '10.246.0.10', rangeEnd: '10.246.0.10' },
    { subnet: '10.246.0.0/24', rangeStart: '10.246.0.100', rangeEnd: '10.246.0.101' },
  ]]);
  const ids = ['r1', 'r2', 'r3', 'r4'];
  try {
    const got = [await addOne(conf, 'r1'), await addOne(conf, 'r2', 'IP=10.246.0.101'), await addOne(conf, 'r3'), await addOne(conf, 'r4')];
    const given = got.flatMap((g) => (g.address ? [g.address] : []));
    assert.equal(new Set(given).size, given.length, `an address given twice: ${given.join(' ')}`);
    // Three addresses in the set, three containers: the fourth gets none (it got .101 again).
    assert.equal(given, ['10.246.0.10/24', '10.246.0.101/24', '10.246.0.100/24']);
    assert.is(got[3]?.err?.code, 102);
    assert.match(got[3]?.err?.msg ?? '', /no free address in range set 0/);
    const held = mgr.ipam.listPools().filter((p) => p.id.startsWith('cni-ipam:crsplit:')).flatMap((p) => mgr.ipam.allocationsOf(p.id).filter((a) => a.kind === 'endpoint').map((a) => `${p.id} ${a.ip}`));
    assert.equal(held.sort(), ['cni-ipam:crsplit:0:0 10.246.0.10', 'cni-ipam:crsplit:0:1 10.246.0.100', 'cni-ipam:crsplit:0:1 10.246.0.101']);
    // In the subnet, in no range of the set: refused, as host-local refuses it.
    const outside = await addOne(conf, 'r5', 'IP=10.246.0.50');
    assert.equal([outside.err?.code, outside.err?.details], [7, 'ips']);
    assert.match(outside.err?.msg ?? '', /10\.246\.0\.50 is not in any configured range/);
  } finally {
    for (const id of [...ids, 'r5']) await del(conf, id);
  }
});

T('tsnet-ipam: overlapping range sets are code 7 naming the range, and nothing is allocated', async () => {
  const conf = ipamConf('crovl', [
    [{ subnet: '10.247.0.0/24', rangeStart: '10.247.0.10', rangeEnd: '10.247.0.20' }],
    [{ subnet: '10.247.0.0/24', rangeStart: '10.247.0.15', rangeEnd: '10.247.0.30' }],
  ]);
  const seen: string[] = [];
  try {
    for (const id of ['o1', 'o2', 'o3', 'o4', 'o5', 'o6']) {
      const r = await cni('tsnet-ipam', 'ADD', conf, { CNI_CONTAINERID: id });
      if (r.exitCode === 0) seen.push(...(r.out as { ips: { address: string }[] }).ips.map((i) => i.address));
      else {
        const e = r.out as Failure;
        assert.equal([e.code, e.details], [7, 'ipam.ranges[1][0]'], r.raw);
        assert.match(e.msg ?? '', 'overlaps ipam.ranges[0][0] (10.247.0.10-10.247.0.20)');
      }
    }
    assert.equal(new Set(seen).size, seen.length, `an address given twice: ${seen.join(' ')}`);
    assert.equal(seen, [], 'no ADD succeeds');
    assert.equal(mgr.ipam.listPools().filter((p) => p.id.startsWith('cni-ipam:crovl:')), [], 'no pool made');
  } finally {
    for (const id of ['o1', 'o2', 'o3', 'o4', 'o5', 'o6']) await del(conf, id);
  }
});

T('shared range validation: overlaps within a set, across sets, of nested subnets and in ipRanges are refused; split ranges stay allowed', () => {
  const base = { cniVersion: '1.0.0', name: 'crv', type: 'tsnet-bridge' };
  const ranges = (sets: Json[][]) => ({ type: 'host-local', ranges: sets as never });
  const inSet = caught(() => effectiveRanges(base, ranges([[
    { subnet: '10.248.0.0/24', rangeStart: '10.248.0.10', rangeEnd: '10.248.0.20' },
    { subnet: '10.248.0.0/24', rangeStart: '10.248.0.20', rangeEnd: '10.248.0.30' },
  ]])));
  assert.equal([inSet.code, inSet.details], [7, 'ipam.ranges[0][1]']);
  // A whole subnet and a smaller one inside it: they share every address of the smaller.
  const nested = caught(() => effectiveRanges(base, ranges([[{ subnet: '10.248.0.0/16' }], [{ subnet: 'fd48::/64' }], [{ subnet: '10.248.5.0/24' }]])));
  assert.equal([nested.code, nested.details], [7, 'ipam.ranges[2][0]']);
  assert.match(nested.message, 'ipam.ranges[0][0]');
  const rc = caught(() => effectiveRanges({ ...base, runtimeConfig: { ipRanges: [[{ subnet: '10.248.0.0/24' }], [{ subnet: '10.248.0.0/24' }]] } }, ranges([[{ subnet: '10.249.0.0/24' }]])));
  assert.equal([rc.code, rc.details], [7, 'runtimeConfig.ipRanges[1][0]']);
  // Split and adjacent ranges of one subnet, and the two families, share no address.
  const ok = effectiveRanges(base, ranges([
    [{ subnet: '10.248.0.0/24', rangeStart: '10.248.0.10', rangeEnd: '10.248.0.20' }, { subnet: '10.248.0.0/24', rangeStart: '10.248.0.21', rangeEnd: '10.248.0.30' }],
    [{ subnet: '10.248.0.0/24', rangeStart: '10.248.0.100' }],
    [{ subnet: 'fd48::/64' }],
  ]));
  assert.equal(ok.map((s) => s.length), [2, 1, 1]);
  // The ipRanges capability replaces ranges: overlapping ipam.ranges are then not used.
  const over = ranges([[{ subnet: '10.248.0.0/24' }], [{ subnet: '10.248.0.0/24' }]]);
  assert.is(effectiveRanges({ ...base, runtimeConfig: { ipRanges: [[{ subnet: '10.249.0.0/24' }]] } }, over).length, 1);
});

/** A tsnet-bridge ADD of `ranges` in a fresh sandbox: its error, and whether the network was made. */
async function bridgeAdd(name: string, ranges: Json[][]): Promise<{ exitCode: number; err: Failure; made: boolean }> {
  const ns = await newSandbox(`cr-${name}`);
  const conf = { cniVersion: '1.0.0', name, type: 'tsnet-bridge', bridge: `${name}0`, isGateway: true, ipam: { type: 'host-local', ranges } };
  const env = { CNI_CONTAINERID: 'b1', CNI_NETNS: ns };
  try {
    const r = await cni('tsnet-bridge', 'ADD', conf, env);
    return { exitCode: r.exitCode, err: r.out as Failure, made: mgr.store.networks.get(`cni-bridge-${name}`) !== undefined };
  } finally {
    await cni('tsnet-bridge', 'DEL', conf, env);
    dropSandbox(ns);
  }
}

T('tsnet-bridge: overlapping range sets are code 7 before anything is made', async () => {
  const r = await bridgeAdd('crbovl', [[{ subnet: '10.250.0.0/24' }], [{ subnet: '10.250.0.0/24', rangeStart: '10.250.0.200' }]]);
  assert.equal([r.exitCode, r.err.code, r.err.details, r.made], [1, 7, 'ipam.ranges[1][0]', false], JSON.stringify(r.err));
});

T('tsnet-bridge: two range sets of one subnet (ranges disjoint) are code 2, not an address outside its range', async () => {
  const r = await bridgeAdd('crbsub', [
    [{ subnet: '10.252.0.0/24', rangeStart: '10.252.0.10', rangeEnd: '10.252.0.20' }],
    [{ subnet: '10.252.0.0/24', rangeStart: '10.252.0.200', rangeEnd: '10.252.0.210' }],
  ]);
  assert.equal([r.exitCode, r.err.code, r.err.details, r.made], [1, 2, 'ipam.ranges[1][0].subnet', false], JSON.stringify(r.err));
  assert.match(r.err.msg ?? '', '10.252.0.0/24 of ipam.ranges[0][0]');
});

T('tsnet-ipam STATUS: a /128, /127, /32 or /31 with its address free is available (ADD succeeds), with it held is 50', async () => {
  for (const subnet of ['fd7a:1::/128', 'fd7a:2::/127', '10.251.0.1/32', '10.251.1.0/31']) {
    const conf = ipamConf(`crst${subnet.replace(/[^0-9a-f]/g, '')}`, [[{ subnet }]], '1.1.0');
    const status = async () => (await cni('tsnet-ipam', 'STATUS', conf)).out as Failure | undefined;
    try {
      const first = await addOne(conf, 's1');
      assert.ok(first.address, `${subnet}: ${JSON.stringify(first.err)}`);
      assert.is((await status())?.code, 50, `${subnet}: its one free address is held`);
      assert.is((await del(conf, 's1')).exitCode, 0);
      assert.is(await status(), undefined, `${subnet}: STATUS after DEL`);
      const again = await addOne(conf, 's2');
      assert.is(again.address, first.address, `${subnet}: ADD after STATUS`);
    } finally {
      await del(conf, 's1');
      await del(conf, 's2');
    }
  }
});

T.run();
