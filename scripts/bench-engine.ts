/**
 * `npm run bench:engine` (inside a throwaway host netns): wall time of
 * `tsnet run --rm --network NET busybox true`, next to `podman run --rm --network NET`
 * (netavark backend, its own root, runroot and config) and `docker run --rm` (a private
 * dockerd, its own bridge driver) when installed, in the
 * same run, on the same busybox rootfs. Median and p90 of N runs; ratios printed.
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { packageRoot } from '../core/index.js';
import { run, start } from '../core/exec/index.js';
import { DOCKER, IMAGE, docker, dockerAvailable, importBusybox, startDockerd, stopDockerd } from '../test/docker-env.js';
import { fmt, stats, type Stats } from './bench-stats.js';

const N = Number(process.env['BENCH_RUNS'] ?? 20);
const root = packageRoot();


async function timeRuns(argv: string[], env: NodeJS.ProcessEnv): Promise<Stats> {
  for (let i = 0; i < 3; i++) await run(argv, { env, timeoutMs: 60_000 }); // warm-up
  const xs: number[] = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    await run(argv, { env, timeoutMs: 60_000 });
    xs.push(performance.now() - t0);
  }
  return stats(xs);
}

async function benchTsnet(dir: string): Promise<{ stats: Stats; rootfs: string }> {
  const env = { ...process.env, TSNET_ROOT: join(dir, 'lib'), TSNET_RUN: join(dir, 'run'), TSNET_HOST: join(dir, 'run', 'tsnetd.sock'), TSNET_LOG_LEVEL: 'warn' };
  const daemon = start([process.execPath, join(root, 'bin', 'tsnetd')], { env });
  const tsnet = (...a: string[]) => [join(root, 'bin', 'tsnet'), ...a];
  try {
    for (let i = 0; i < 100 && !existsSync(env.TSNET_HOST); i++) await new Promise((r) => setTimeout(r, 100));
    await run(tsnet('network', 'create', '--subnet', '10.213.230.0/24', 'benchnet'), { env });
    const s = await timeRuns(tsnet('run', '--rm', '--network', 'benchnet', 'busybox', 'true'), env);
    await run(tsnet('network', 'rm', 'benchnet'), { env });
    return { stats: s, rootfs: join(env.TSNET_ROOT, 'images', 'busybox', 'rootfs') };
  } finally {
    await daemon.stop();
    await run(['umount', '-l', join(dir, 'run', 'netns')], { okCodes: [1, 32] });
  }
}

async function benchPodman(dir: string, rootfs: string): Promise<Stats | undefined> {
  if ((await run(['sh', '-c', 'command -v podman'], { okCodes: [1, 127] })).exitCode !== 0) return undefined;
  mkdirSync(join(dir, 'netconf'), { recursive: true });
  writeFileSync(join(dir, 'containers.conf'), [
    '[containers]', 'default_ulimits = []', 'log_driver = "k8s-file"',
    '[engine]', 'cgroup_manager = "cgroupfs"', 'events_logger = "file"', `events_logfile_path = "${join(dir, 'events.log')}"`, 'runtime = "runc"',
    '[network]', 'network_backend = "netavark"', `network_config_dir = "${join(dir, 'netconf')}"`, '',
  ].join('\n'));
  writeFileSync(join(dir, 'storage.conf'), ['[storage]', 'driver = "vfs"', `graphroot = "${join(dir, 'graph')}"`, `runroot = "${join(dir, 'runroot')}"`, ''].join('\n'));
  const env = { ...process.env, CONTAINERS_CONF: join(dir, 'containers.conf'), CONTAINERS_STORAGE_CONF: join(dir, 'storage.conf') };
  const podman = (...a: string[]) => ['podman', ...a];
  await run(['tar', '-C', rootfs, '-cf', join(dir, 'busybox.tar'), '.']);
  await run(podman('import', join(dir, 'busybox.tar'), 'localhost/busybox'), { env, timeoutMs: 120_000 });
  await run(podman('network', 'create', '--subnet', '10.213.231.0/24', 'benchpod'), { env });
  try {
    return await timeRuns(podman('run', '--rm', '--network', 'benchpod', 'localhost/busybox', 'true'), env);
  } finally {
    await run(podman('network', 'rm', '-f', 'benchpod'), { env, okCodes: [1, 125] });
    await run(podman('system', 'reset', '-f'), { env, okCodes: [1, 125] });
  }
}

/** Docker's own bridge network on a private dockerd (test/docker-env.ts), when docker.io is installed. */
async function benchDocker(dir: string): Promise<Stats | undefined> {
  if (!dockerAvailable()) return undefined;
  mkdirSync(dir, { recursive: true });
  const d = await startDockerd(dir);
  try {
    await importBusybox(d);
    await docker(d, ['network', 'create', '-d', 'bridge', '--subnet', '10.213.232.0/24', 'benchdock']);
    const s = await timeRuns([DOCKER, '-H', `unix://${d.socket}`, 'run', '--rm', '--pull=never', '--network', 'benchdock', IMAGE, 'true'], process.env);
    await docker(d, ['network', 'rm', 'benchdock']);
    return s;
  } finally {
    await stopDockerd(d);
  }
}

const dir = mkdtempSync(join(tmpdir(), 'tsnet-bench-engine-'));
try {
  const t = await benchTsnet(join(dir, 'tsnet'));
  console.log(`run --rm --network NET busybox true, ${N} runs each, same machine, same run`);
  console.log(`  tsnet  ${fmt(t.stats)}`);
  const p = await benchPodman(join(dir, 'podman'), t.rootfs);
  if (p) {
    console.log(`  podman ${fmt(p)}  (netavark)`);
    console.log(`  ratio tsnet/podman (median): ${(t.stats.median / p.median).toFixed(2)}`);
  } else {
    console.log('  podman not installed: no comparison');
  }
  const dk = await benchDocker(join(dir, 'docker'));
  if (dk) {
    console.log(`  docker ${fmt(dk)}  (dockerd 20.10, its bridge driver)`);
    console.log(`  ratio tsnet/docker (median): ${(t.stats.median / dk.median).toFixed(2)}`);
  } else {
    console.log('  docker.io not installed: no comparison');
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
