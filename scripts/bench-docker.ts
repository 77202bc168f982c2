/**
 * `npm run bench:docker` (inside a throwaway host netns): wall time of
 * `docker run --rm --network NET busybox true` on a tsnet network (tsnet's remote network
 * and IPAM drivers, served by tsnetd) versus on Docker's own bridge network, same dockerd,
 * same run, runs interleaved. Median and p90 of N (env BENCH_RUNS, default 20); ratio.
 * Starts and stops its own tsnetd and dockerd (see test/docker-env.ts); removes everything.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  IMAGE, docker, dockerAvailable, importBusybox, purgeTsnetd, startDockerd, startTsnetd, stopDockerd, stopTsnetd,
  type Dockerd,
} from '../test/docker-env.js';
import { fmt, stats, type Stats } from './bench-stats.js';

const N = Number(process.env['BENCH_RUNS'] ?? 20);


async function once(d: Dockerd, network: string): Promise<number> {
  const t0 = performance.now();
  await docker(d, ['run', '--rm', '--pull=never', '--network', network, IMAGE, 'true']);
  return performance.now() - t0;
}

async function main(): Promise<void> {
  if (!dockerAvailable()) {
    console.log('bench:docker skipped: Debian\'s docker.io (/usr/bin/docker, /usr/sbin/dockerd) is not installed');
    return;
  }
  const pluginDir = mkdtempSync(join(tmpdir(), 'tsnet-bench-plugins-'));
  const tsnetd = await startTsnetd(pluginDir);
  let dockerd: Dockerd | undefined;
  try {
    dockerd = await startDockerd(pluginDir);
    await importBusybox(dockerd);
    await docker(dockerd, ['network', 'create', '-d', 'tsnet', '--ipam-driver', 'tsnet', '--subnet', '10.213.95.0/24', 'bench-tsnet']);
    await docker(dockerd, ['network', 'create', '-d', 'bridge', '--subnet', '10.213.96.0/24', 'bench-bridge']);
    const nets = ['bench-tsnet', 'bench-bridge'] as const;
    for (let i = 0; i < 3; i++) for (const n of nets) await once(dockerd, n); // warm-up
    const times: Record<(typeof nets)[number], number[]> = { 'bench-tsnet': [], 'bench-bridge': [] };
    for (let i = 0; i < N; i++) {
      // Interleaved, alternating which goes first, so drift hits both alike.
      for (const n of i % 2 === 0 ? nets : [...nets].reverse()) times[n].push(await once(dockerd, n));
    }
    const t = stats(times['bench-tsnet']);
    const b = stats(times['bench-bridge']);
    console.log('docker run --rm --network NET busybox true (same dockerd, interleaved)');
    console.log(`  tsnet (remote driver + IPAM)  ${fmt(t)}`);
    console.log(`  docker bridge                 ${fmt(b)}`);
    console.log(`  ratio tsnet/bridge            median ${(t.median / b.median).toFixed(2)}x  p90 ${(t.p90 / b.p90).toFixed(2)}x`);
    await docker(dockerd, ['network', 'rm', ...nets]);
  } finally {
    if (dockerd) await stopDockerd(dockerd);
    await stopTsnetd(tsnetd);
    await purgeTsnetd(tsnetd);
    rmSync(pluginDir, { recursive: true, force: true });
  }
}

await main();
