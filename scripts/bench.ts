/**
 * `npm run bench` (inside a throwaway host netns, see scripts/in-sandbox.mjs):
 * in-process attach and detach latency on a bridge network, for the 1st endpoint and
 * with 999 others attached (the 1000th), without and with two published ports; the 1st is
 * measured again after the others are gone and both samples are pooled against drift. The
 * 999 others are attached back to back, and that burst is reported too. The two ports are
 * one TCP and one UDP: a change with UDP ports includes deleting their conntrack entries,
 * a walk of the kernel's whole table, measured on its own too.
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
import { fmt as fmtStats, stats, type Stats } from './bench-stats.js';
import { buildExecTimer, execTimed } from './exec-timed.js';

const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 200);
const FILL = Number(process.env['BENCH_FILL'] ?? 999);
const PER_NETNS = 100;
const REF_PLUGIN = '/usr/lib/cni/bridge';
const BENCH_BRIDGE = 'tsbench0';
const REF_ROUNDS = Number(process.env['BENCH_REF_ROUNDS'] ?? 50);
const SETTLE_MS = Number(process.env['BENCH_SETTLE_MS'] ?? 15_000);
// BENCH_DEFER=1: detach as tsnetd does (links retired, deleted by the reaper's worker);
// default: deleted before detach resolves, as a standalone CNI plugin does.
const DEFER = process.env['BENCH_DEFER'] === '1';
deferLinkDeletes(DEFER);
// BENCH_V6OFF=1: endpoints as the engine attaches them (IPv6 off without an IPv6 address).
const V6OFF = process.env['BENCH_V6OFF'] === '1';

const fmt = (s: Stats) => fmtStats(s, 3);

interface Samples { attach: Stats; detach: Stats; raw: { attach: number[]; detach: number[] } }

async function measure(mgr: NetworkManager, netnsPath: string, ports: PortRequest[]): Promise<Samples> {
  const a: number[] = [];
  const d: number[] = [];
  const req: AttachRequest = { network: 'bench', sandbox: 'bench', placement: { kind: 'netns', netnsPath, ifname: 'eth0' }, ports, ...(V6OFF ? { ipv6OffWithoutAddress: true } : {}) };
  for (let i = 0; i < 20; i++) await mgr.detach((await mgr.attach(req)).id); // warm-up
  for (let i = 0; i < ROUNDS; i++) {
    const t0 = performance.now();
    const ep = await mgr.attach(req);
    const t1 = performance.now();
    await mgr.detach(ep.id);
    const t2 = performance.now();
    a.push(t1 - t0);
    d.push(t2 - t1);
  }
  return { attach: stats(a), detach: stats(d), raw: { attach: a, detach: d } };
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

async function main(): Promise<void> {
  const state = mkdtempSync(join(tmpdir(), 'tsnet-bench-'));
  const mgr = NetworkManager.open(join(state, 'bench.db'));
  const nsDir = join(paths().run, 'netns-bench');
  const target = join(nsDir, 'target');
  const fillers: string[] = [];
  const filled: string[] = [];
  const twoPorts: PortRequest[] = [{ proto: 'tcp', containerPort: 80 }, { proto: 'udp', containerPort: 53 }];
  const haveRef = existsSync(REF_PLUGIN);
  try {
    const timer = haveRef ? await buildExecTimer(state) : '';
    createNetns(target);
    await mgr.createNetwork({ name: 'bench', subnets: [{ subnet: '10.220.0.0/16' }], options: { bridge: BENCH_BRIDGE } });
    // The reference plugin also on tsnet's bridge (no gateway of its own), at the 1st and the
    // 1000th port: the same kernel work per port, so its growth in ms is the kernel's share.
    const onOurBridge: RefSpec = { bridge: BENCH_BRIDGE, isGateway: false, subnet: '10.222.0.0/16', rounds: REF_ROUNDS };
    const first = await measure(mgr, target, []);
    const firstPorts = await measure(mgr, target, twoPorts);
    const refFirst = haveRef ? await referenceBridge(timer, target, onOurBridge) : undefined;
    const fillStart = performance.now();
    const fillTimes: number[] = [];
    for (let i = 0; i < FILL; i++) {
      const t0 = performance.now();
      if (i % PER_NETNS === 0) {
        fillers.push(join(nsDir, `fill${fillers.length}`));
        createNetns(fillers[fillers.length - 1]!);
      }
      const ep = await mgr.attach({ network: 'bench', sandbox: `fill${i}`, placement: { kind: 'netns', netnsPath: fillers[fillers.length - 1]!, ifname: `eth${i % PER_NETNS}` }, ports: i % 2 ? twoPorts : [], ...(V6OFF ? { ipv6OffWithoutAddress: true } : {}) });
      filled.push(ep.id);
      fillTimes.push(performance.now() - t0);
    }
    const fillMs = performance.now() - fillStart;
    // Let the kernel finish what 999 new interfaces started (IPv6 DAD, router and MLD
    // solicitations on the sandbox ends, which take the rtnl lock for seconds): the 1000th
    // endpoint is measured in a steady state, as on a host that has run for a while.
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const nth = await measure(mgr, target, []);
    const nthPorts = await measure(mgr, target, twoPorts);
    const refNth = haveRef ? await referenceBridge(timer, target, onOurBridge) : undefined;
    // The 1st again, once the others are gone: a machine's speed drifts over a run of minutes
    // (other load, frequency), so the 1st is sampled before and after the 1000th and pooled.
    for (const id of filled.splice(0)) await mgr.detach(id);
    await new Promise((r) => setTimeout(r, SETTLE_MS / 3));
    const again = await measure(mgr, target, []);
    const againPorts = await measure(mgr, target, twoPorts);
    const ref = haveRef ? await referenceBridge(timer, target, { bridge: 'refbr0', isGateway: true, subnet: '10.221.0.0/16', rounds: Math.min(ROUNDS, 100) }) : undefined;
    const pooled = (a: Samples, b: Samples) => ({ attach: stats([...a.raw.attach, ...b.raw.attach]), detach: stats([...a.raw.detach, ...b.raw.detach]) });
    const one = pooled(first, again);
    const onePorts = pooled(firstPorts, againPorts);
    console.log(`tsnet in-process, bridge network, ${ROUNDS} rounds each, links ${DEFER ? 'retired (tsnetd mode, BENCH_DEFER=1)' : 'deleted at detach (BENCH_DEFER=1: tsnetd mode)'}, IPv6 ${V6OFF ? 'off on IPv4-only endpoints (engine mode, BENCH_V6OFF=1)' : 'as the netns has it (BENCH_V6OFF=1: engine mode)'}`);
    if (FILL > 0) console.log(`  the ${FILL} others, attached back to back (a burst): ${(fillMs / 1000).toFixed(2)} s, attach ${fmt(stats(fillTimes))}`);
    console.log(`  1st endpoint          attach ${fmt(first.attach)}   detach ${fmt(first.detach)}`);
    console.log(`  1st (after the fill)  attach ${fmt(again.attach)}   detach ${fmt(again.detach)}`);
    console.log(`  ${FILL + 1}th endpoint       attach ${fmt(nth.attach)}   detach ${fmt(nth.detach)}`);
    console.log(`  1st, 2 ports          attach ${fmt(firstPorts.attach)}   detach ${fmt(firstPorts.detach)}`);
    console.log(`  1st, 2 ports (after)  attach ${fmt(againPorts.attach)}   detach ${fmt(againPorts.detach)}`);
    console.log(`  ${FILL + 1}th, 2 ports       attach ${fmt(nthPorts.attach)}   detach ${fmt(nthPorts.detach)}`);
    console.log(`  growth 1st (before+after pooled, median ${one.attach.median.toFixed(3)} ms) -> ${FILL + 1}th: attach ${(nth.attach.median / one.attach.median).toFixed(2)}x, with ports ${(nthPorts.attach.median / onePorts.attach.median).toFixed(2)}x (before only: ${(nth.attach.median / first.attach.median).toFixed(2)}x, ${(nthPorts.attach.median / firstPorts.attach.median).toFixed(2)}x)`);
    const walk = await conntrackWalk();
    console.log(`  of which, per change with UDP ports: deleting their conntrack entries (one walk of the kernel's ${walk.buckets}-bucket table, as Docker and the reference portmap do) ${fmt(walk.ms)}`);
    if (ref && refFirst && refNth) {
      const grew = (a: Stats, b: Stats) => `+${(b.median - a.median).toFixed(2)} ms (${(b.median / a.median).toFixed(2)}x)`;
      console.log('reference CNI bridge + host-local (exec per call timed by exec-timer, same netns, same run)');
      console.log(`  ADD ${fmt(ref.add)}   DEL ${fmt(ref.del)}`);
      console.log(`  ratio tsnet attach / reference ADD: ${(first.attach.median / ref.add.median).toFixed(3)}`);
      console.log(`  on tsnet's bridge, no gateway: 1st ADD ${fmt(refFirst.add)}, ${FILL + 1}th ADD ${fmt(refNth.add)}`);
      console.log(`  growth 1st -> ${FILL + 1}th in ms: reference ADD ${grew(refFirst.add, refNth.add)}, tsnet attach ${grew(one.attach, nth.attach)}`);
    }
  } finally {
    for (const id of filled) await mgr.detach(id);
    for (const n of mgr.listNetworks()) await mgr.removeNetwork(n.id);
    await mgr.teardownFirewall();
    await settleRetired(); // BENCH_DEFER: the reaper's deletions finish before the netns go
    if (haveRef) await run(['ip', 'link', 'del', 'refbr0'], { okCodes: [1] });
    mgr.close();
    for (const f of [...fillers, target]) deleteNetns(f);
    rmSync(state, { recursive: true, force: true });
  }
}

await main();
