/**
 * `npm run bench` (inside a throwaway host netns, see scripts/in-sandbox.mjs):
 * in-process attach and detach latency on a bridge network, for the 1st endpoint and with 999
 * others attached (the 1000th), for four kinds of endpoint: without and with two published
 * ports, each with the container end's IPv6 as the netns has it (link-local, router and MLD
 * solicitations: CNI endpoints) and with IPv6 off (the engine's and Docker's endpoints on an
 * IPv4-only network). The 1st is measured again after the others are gone and both samples
 * are pooled against drift; the 1000th is also measured paired with the 1st port of an empty
 * second bridge, rounds interleaved, which keeps drift out of that ratio. The 999 others are attached back to back, and that burst is
 * reported too. The two ports are one TCP and one UDP: a change with UDP ports deletes their
 * conntrack entries, a walk of the kernel's whole table, measured on its own too.
 * Default: as tsnetd runs (links retired and deleted by the reaper's worker; conntrack walks
 * in the sweeper's worker); BENCH_ONESHOT=1: both done in the call, as a standalone CNI plugin.
 * Where Debian's reference CNI plugins are installed, the same bridge+host-local setup
 * through the reference `bridge` plugin (exec per call) runs in the same run for scale.
 * Loops are bounded; everything made is removed at the end.
 */
import { join } from 'node:path';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { performance } from 'node:perf_hooks';
import { paths } from '../core/index.js';
import { run } from '../core/exec/index.js';
import * as nl from '../core/netlink/index.js';
import { createNetns, deleteNetns } from '../core/netns/index.js';
import { NetworkManager, type AttachRequest, type PortRequest } from '../drivers/index.js';
import { deferLinkDeletes, settleRetired } from '../core/link-reaper/index.js';
import { deferFlowDeletes, settleFlows } from '../core/flow-sweeper/index.js';
import { fmt as fmtStats, stats, type Stats } from './bench-stats.js';
import { buildExecTimer, execTimed } from './exec-timed.js';

const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 200);
const WARMUP = 100;
const FILL = Number(process.env['BENCH_FILL'] ?? 999);
const PER_NETNS = 100;
const REF_PLUGIN = '/usr/lib/cni/bridge';
const BENCH_BRIDGE = 'tsbench0';
const REF_ROUNDS = Number(process.env['BENCH_REF_ROUNDS'] ?? 50);
const SETTLE_MS = Number(process.env['BENCH_SETTLE_MS'] ?? 15_000);
const ONESHOT = process.env['BENCH_ONESHOT'] === '1';
deferLinkDeletes(!ONESHOT);
deferFlowDeletes(!ONESHOT);
// BENCH_V6OFF=1: the 999 others with IPv6 off too (default: as the netns has it, the louder case).
const FILL_V6OFF = process.env['BENCH_V6OFF'] === '1';

const fmt = (s: Stats) => fmtStats(s, 3);

interface Samples { attach: Stats; detach: Stats; raw: { attach: number[]; detach: number[] } }

interface Kind { label: string; ports: PortRequest[]; v6off: boolean }

/**
 * `ROUNDS` attach+detach of one endpoint of `kind` in `netnsPath` on each of `networks`, the
 * networks' rounds interleaved (their order alternating), so that what they are compared on
 * is measured in the same minutes; after WARMUP unmeasured rounds each.
 */
async function measure(mgr: NetworkManager, netnsPath: string, kind: Kind, networks = ['bench']): Promise<Samples[]> {
  const a = networks.map((): number[] => []);
  const d = networks.map((): number[] => []);
  const req = (network: string): AttachRequest => ({ network, sandbox: 'bench', placement: { kind: 'netns', netnsPath, ifname: 'eth0' }, ports: kind.ports, ...(kind.v6off ? { ipv6OffWithoutAddress: true } : {}) });
  // Warm-up: V8 is still optimising the attach path for the first ~100 rounds of a process.
  for (const n of networks) for (let i = 0; i < WARMUP; i++) await mgr.detach((await mgr.attach(req(n))).id);
  for (let i = 0; i < ROUNDS; i++) {
    for (let j = 0; j < networks.length; j++) {
      const k = i % 2 ? networks.length - 1 - j : j;
      const t0 = performance.now();
      const ep = await mgr.attach(req(networks[k]!));
      const t1 = performance.now();
      await mgr.detach(ep.id);
      const t2 = performance.now();
      a[k]!.push(t1 - t0);
      d[k]!.push(t2 - t1);
    }
  }
  // The workers' backlog (retired links, conntrack walks) does not spill into the next sample.
  await settleRetired();
  await settleFlows();
  return networks.map((_, k) => ({ attach: stats(a[k]!), detach: stats(d[k]!), raw: { attach: a[k]!, detach: d[k]! } }));
}

interface RefSpec { bridge: string; isGateway: boolean; subnet: string; rounds: number }

/**
 * The reference CNI bridge plugin with host-local, ADD and DEL exec'd `spec.rounds` times (after
 * 5 unmeasured) into `netnsPath`, each exec timed by exec-timer.
 */
async function referenceBridge(timer: string, netnsPath: string, spec: RefSpec): Promise<{ add: Stats; del: Stats }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tsnet-bench-hostlocal-'));
  const conf = JSON.stringify({
    cniVersion: '1.0.0', name: 'refbench', type: 'bridge', bridge: spec.bridge, isGateway: spec.isGateway, ipMasq: false,
    ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: spec.subnet }]] },
  });
  const env = (cmd: string, i: number) => ({ ...process.env, CNI_COMMAND: cmd, CNI_CONTAINERID: `bench${i}`, CNI_NETNS: netnsPath, CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni' });
  const add: number[] = [];
  const del: number[] = [];
  try {
    for (let i = 0; i < spec.rounds + 5; i++) {
      const a = await execTimed(timer, REF_PLUGIN, conf, env('ADD', i));
      if (a.exitCode !== 0) throw new Error(`reference bridge ADD: ${a.stdout} ${a.stderr}`);
      const d = await execTimed(timer, REF_PLUGIN, conf, env('DEL', i));
      if (d.exitCode !== 0) throw new Error(`reference bridge DEL: ${d.stdout} ${d.stderr}`);
      if (i >= 5) { add.push(a.ms); del.push(d.ms); }
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
  return { add: stats(add), del: stats(del) };
}

/**
 * What a publish or unpublish of UDP ports adds (NetworkManager.forgetUdpFlows): one
 * conntrack dump, whose cost is the kernel walking its whole hash table (sized by the
 * machine's memory, shared by every netns), matched or not.
 */
async function conntrackWalk(): Promise<{ ms: Stats; buckets: string }> {
  const t: number[] = [];
  for (let i = 0; i < 20; i++) {
    const t0 = performance.now();
    await nl.deleteConntrack([{ family: 4, proto: 'udp', port: 9 }]);
    t.push(performance.now() - t0);
  }
  let buckets = '?';
  try {
    buckets = readFileSync('/proc/sys/net/netfilter/nf_conntrack_buckets', 'utf8').trim();
  } catch {
    // no nf_conntrack: nothing was walked
  }
  return { ms: stats(t), buckets };
}

const pct = (b: Stats, a: Stats) => `${(b.median / a.median).toFixed(2)}x`;

async function measureAll(mgr: NetworkManager, netnsPath: string, kinds: Kind[], networks = ['bench']): Promise<Samples[][]> {
  const out: Samples[][] = [];
  for (const k of kinds) out.push(await measure(mgr, netnsPath, k, networks));
  return out;
}

async function main(): Promise<void> {
  const state = mkdtempSync(join(tmpdir(), 'tsnet-bench-'));
  const mgr = NetworkManager.open(join(state, 'bench.db'));
  const nsDir = join(paths().run, 'netns-bench');
  const target = join(nsDir, 'target');
  const fillers: string[] = [];
  const filled: string[] = [];
  const twoPorts: PortRequest[] = [{ proto: 'tcp', containerPort: 80 }, { proto: 'udp', containerPort: 53 }];
  const kinds: Kind[] = [
    { label: 'IPv6 off (engine)', ports: [], v6off: true },
    { label: 'IPv6 off, 2 ports', ports: twoPorts, v6off: true },
    { label: 'IPv6 link-local (CNI)', ports: [], v6off: false },
    { label: 'link-local, 2 ports', ports: twoPorts, v6off: false },
  ];
  const haveRef = existsSync(REF_PLUGIN);
  try {
    const timer = haveRef ? await buildExecTimer(state) : '';
    createNetns(target);
    await mgr.createNetwork({ name: 'bench', subnets: [{ subnet: '10.220.0.0/16' }], options: { bridge: BENCH_BRIDGE } });
    // The reference plugin also on tsnet's bridge (no gateway of its own), at the 1st and the
    // 1000th port: the same kernel work per port, so its growth in ms is the kernel's share.
    const onOurBridge: RefSpec = { bridge: BENCH_BRIDGE, isGateway: false, subnet: '10.222.0.0/16', rounds: REF_ROUNDS };
    // An empty bridge for the paired sample (below), there from the start so that both
    // halves of every phase run with the same rules and store.
    await mgr.createNetwork({ name: 'bench-empty', subnets: [{ subnet: '10.223.0.0/16' }], options: { bridge: 'tsbench1' } });
    const first = (await measureAll(mgr, target, kinds)).map((x) => x[0]!);
    const refFirst = haveRef ? await referenceBridge(timer, target, onOurBridge) : undefined;
    const fillStart = performance.now();
    const fillTimes: number[] = [];
    for (let i = 0; i < FILL; i++) {
      const t0 = performance.now();
      if (i % PER_NETNS === 0) {
        fillers.push(join(nsDir, `fill${fillers.length}`));
        createNetns(fillers[fillers.length - 1]!);
      }
      const ep = await mgr.attach({ network: 'bench', sandbox: `fill${i}`, placement: { kind: 'netns', netnsPath: fillers[fillers.length - 1]!, ifname: `eth${i % PER_NETNS}` }, ports: i % 2 ? twoPorts : [], ...(FILL_V6OFF ? { ipv6OffWithoutAddress: true } : {}) });
      filled.push(ep.id);
      fillTimes.push(performance.now() - t0);
    }
    const fillMs = performance.now() - fillStart;
    // Let the kernel finish what 999 new interfaces started (IPv6 DAD, router and MLD
    // solicitations on the sandbox ends, which take the rtnl lock for seconds): the 1000th
    // endpoint is measured in a steady state, as on a host that has run for a while.
    await settleFlows();
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const nth = (await measureAll(mgr, target, kinds)).map((x) => x[0]!);
    // Paired: the 1000th port against the 1st port of the empty bridge, rounds interleaved,
    // so that the machine's drift between phases a minute apart is not in the ratio.
    const paired = await measureAll(mgr, target, kinds, ['bench-empty', 'bench']);
    const refNth = haveRef ? await referenceBridge(timer, target, onOurBridge) : undefined;
    // The 1st again, once the others are gone: a machine's speed drifts over a run of minutes
    // (other load, frequency), so the 1st is sampled before and after the 1000th and pooled.
    for (const id of filled.splice(0)) await mgr.detach(id);
    await settleRetired();
    await settleFlows();
    await new Promise((r) => setTimeout(r, SETTLE_MS / 3));
    const again = (await measureAll(mgr, target, kinds)).map((x) => x[0]!);
    const ref = haveRef ? await referenceBridge(timer, target, { bridge: 'refbr0', isGateway: true, subnet: '10.221.0.0/16', rounds: Math.min(ROUNDS, 100) }) : undefined;
    const pooled = (a: Samples, b: Samples) => ({ attach: stats([...a.raw.attach, ...b.raw.attach]), detach: stats([...a.raw.detach, ...b.raw.detach]) });
    const mode = ONESHOT ? 'links deleted and conntrack walked in the call (one-shot, BENCH_ONESHOT=1)' : 'as tsnetd: links retired, conntrack walks in a worker (BENCH_ONESHOT=1: in the call)';
    console.log(`tsnet in-process, bridge network, ${ROUNDS} rounds each, ${mode}; the others' IPv6 ${FILL_V6OFF ? 'off' : 'as the netns has it'}`);
    if (FILL > 0) console.log(`  the ${FILL} others, attached back to back (a burst): ${(fillMs / 1000).toFixed(2)} s, attach ${fmt(stats(fillTimes))}`);
    kinds.forEach((k, i) => {
      const [f, n, a] = [first[i]!, nth[i]!, again[i]!];
      const one = pooled(f, a);
      console.log(`  ${k.label}`);
      console.log(`    1st                attach ${fmt(f.attach)}   detach ${fmt(f.detach)}`);
      console.log(`    1st (after)        attach ${fmt(a.attach)}   detach ${fmt(a.detach)}`);
      console.log(`    ${`${FILL + 1}th`.padEnd(18)} attach ${fmt(n.attach)}   detach ${fmt(n.detach)}`);
      console.log(`    growth 1st (pooled median ${one.attach.median.toFixed(3)} ms) -> ${FILL + 1}th: attach ${pct(n.attach, one.attach)} (before only ${pct(n.attach, f.attach)}), detach ${pct(n.detach, one.detach)}`);
      const [e, full] = paired[i]!;
      console.log(`    paired, rounds interleaved: 1st port of an empty bridge attach ${fmt(e!.attach)}, ${FILL + 1}th attach ${fmt(full!.attach)}`);
      console.log(`    growth paired: attach ${pct(full!.attach, e!.attach)}, detach ${pct(full!.detach, e!.detach)}`);
    });
    const walk = await conntrackWalk();
    console.log(`  per change with UDP ports, deleting their conntrack entries (one walk of the kernel's ${walk.buckets}-bucket table, as Docker and the reference portmap do; ${ONESHOT ? 'in the call' : 'in the worker, not in the times above'}) ${fmt(walk.ms)}`);
    if (ref && refFirst && refNth) {
      const grew = (a: Stats, b: Stats) => `+${(b.median - a.median).toFixed(2)} ms (${pct(b, a)})`;
      const cni = pooled(first[2]!, again[2]!).attach;
      console.log('reference CNI bridge + host-local (exec per call timed by exec-timer, same netns, same run; IPv6 as the netns has it)');
      console.log(`  ADD ${fmt(ref.add)}   DEL ${fmt(ref.del)}`);
      console.log(`  ratio tsnet attach (link-local) / reference ADD: ${(cni.median / ref.add.median).toFixed(3)}`);
      console.log(`  on tsnet's bridge, no gateway: 1st ADD ${fmt(refFirst.add)}, ${FILL + 1}th ADD ${fmt(refNth.add)}`);
      console.log(`  growth 1st -> ${FILL + 1}th in ms: reference ADD ${grew(refFirst.add, refNth.add)}, tsnet attach (link-local) ${grew(cni, nth[2]!.attach)}`);
    }
  } finally {
    for (const id of filled) await mgr.detach(id);
    for (const n of mgr.listNetworks()) await mgr.removeNetwork(n.id);
    await mgr.teardownFirewall();
    await settleRetired(); // the reaper's deletions finish before the netns go
    await settleFlows();
    if (haveRef) await run(['ip', 'link', 'del', 'refbr0'], { okCodes: [1] });
    mgr.close();
    for (const f of [...fillers, target]) deleteNetns(f);
    rmSync(state, { recursive: true, force: true });
  }
}

await main();
