/**
 * Test helpers for real container runtimes on tsnet's CNI plugins (test/cni-runtimes.test.ts):
 * Debian's podman (CNI backend) and a private containerd driven by `ctr run --cni`. Each
 * runtime runs in the test's throwaway host netns, in its own mount namespace (see
 * cni-runtimes-ns.sh): a private /run, and private /etc/cni/net.d, /opt/cni/bin and
 * /var/lib/cni bound to test-owned directories, with its own roots, sockets and config
 * files under one temp dir. The caller stops what it started with stopPodman /
 * stopContainerd (by PID) and removes the temp dir; nothing is written to the machine's
 * CNI, containers or containerd directories.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../core/index.js';
import { run, start, type RunResult, type Started } from '../core/exec/index.js';
import { cli, type Daemon } from './daemon.js';

export const PODMAN = '/usr/bin/podman';
export const CONTAINERD = '/usr/bin/containerd';
export const CTR = '/usr/bin/ctr';
export const IMAGE = 'tsnet-busybox';
/** The name containerd gives the image from the archive's annotation. */
export const CTR_IMAGE = `docker.io/library/${IMAGE}:latest`;
const ROOT = packageRoot();
const NS_SCRIPT = join(ROOT, 'test', 'cni-runtimes-ns.sh');
const SHIM = join(ROOT, 'build', 'Release', 'tsnet_cni_shim');

/** Why a runtime cannot be tested here, or undefined when its programs are all present. */
export function missing(programs: string[]): string | undefined {
  const absent = programs.filter((p) => !existsSync(p));
  if (absent.length > 0) return `${absent.join(', ')} not installed`;
  if (!existsSync(SHIM)) return `${SHIM} not built (npm install)`;
  return undefined;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// ---------------------------------------------------------------------------------------
// Images

/** A busybox rootfs (/bin/busybox with its applets as symlinks, /www/index.html) in `dir`. */
export async function buildRootfs(dir: string): Promise<string> {
  const rootfs = join(dir, 'rootfs');
  mkdirSync(join(rootfs, 'bin'), { recursive: true });
  for (const sub of ['etc', 'tmp', 'proc', 'sys', 'dev', 'www', 'run']) mkdirSync(join(rootfs, sub), { recursive: true });
  copyFileSync('/bin/busybox', join(rootfs, 'bin', 'busybox'));
  const applets = (await run(['/bin/busybox', '--list'])).stdout.split('\n').filter((a) => /^[a-z0-9_.-]+$/.test(a) && a !== 'busybox');
  for (const a of applets) symlinkSync('busybox', join(rootfs, 'bin', a));
  writeFileSync(join(rootfs, 'www', 'index.html'), 'hello from tsnet\n');
  return rootfs;
}

/** A plain tarball of `rootfs` (what `podman import` takes). */
export async function rootfsTarball(rootfs: string, out: string): Promise<string> {
  await run(['tar', '--numeric-owner', '-C', rootfs, '-cf', out, '.']);
  return out;
}

function blob(dir: string, data: Buffer): { digest: string; size: number } {
  const hex = createHash('sha256').update(data).digest('hex');
  writeFileSync(join(dir, 'blobs', 'sha256', hex), data);
  return { digest: `sha256:${hex}`, size: data.length };
}

/**
 * An OCI image archive (oci-layout, index.json, blobs: one uncompressed layer, a config,
 * a manifest) of `rootfs`, named CTR_IMAGE by the `io.containerd.image.name` annotation
 * (what `ctr image import` reads). Written as `dir`/busybox-oci.tar.
 */
export async function ociArchive(rootfs: string, dir: string): Promise<string> {
  const layout = join(dir, 'oci');
  mkdirSync(join(layout, 'blobs', 'sha256'), { recursive: true });
  const layerTar = await rootfsTarball(rootfs, join(dir, 'layer.tar'));
  const layer = blob(layout, readFileSync(layerTar));
  rmSync(layerTar);
  const arch = process.arch === 'x64' ? 'amd64' : process.arch === 'arm64' ? 'arm64' : process.arch;
  const config = blob(layout, Buffer.from(JSON.stringify({
    architecture: arch, os: 'linux',
    config: { Env: ['PATH=/bin'], Cmd: ['sh'] },
    rootfs: { type: 'layers', diff_ids: [layer.digest] },
  })));
  const manifest = blob(layout, Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
  })));
  writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(join(layout, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{
      mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest,
      platform: { architecture: arch, os: 'linux' },
      annotations: { 'io.containerd.image.name': CTR_IMAGE, 'org.opencontainers.image.ref.name': 'latest' },
    }],
  }));
  const out = join(dir, 'busybox-oci.tar');
  await run(['tar', '-C', layout, '-cf', out, 'oci-layout', 'index.json', 'blobs']);
  rmSync(layout, { recursive: true, force: true });
  return out;
}

// ---------------------------------------------------------------------------------------
// CNI directories and mount namespaces

export interface CniDirs {
  binDir: string;
  confDir: string;
  cacheDir: string;
}

/**
 * `tsnet cni install --bin-dir DIR/bin --conf-dir DIR/net.d --network NAME --subnet CIDR`
 * (local files only), plus an empty libcni cache dir (the runtime's /var/lib/cni).
 */
export async function installCni(dir: string, o: { network: string; subnet: string; bridge: string; cniVersion: string }): Promise<CniDirs> {
  const dirs = { binDir: join(dir, 'cni-bin'), confDir: join(dir, 'cni-net.d'), cacheDir: join(dir, 'cni-cache') };
  mkdirSync(dirs.cacheDir, { recursive: true });
  await run([join(ROOT, 'bin', 'tsnet'), 'cni', 'install', '--bin-dir', dirs.binDir, '--conf-dir', dirs.confDir,
    '--network', o.network, '--subnet', o.subnet, '--bridge', o.bridge, '--cni-version', o.cniVersion]);
  return dirs;
}

/** A process (a runtime's daemon, or a holder) in its own mount namespace; see cni-runtimes-ns.sh. */
export interface MountNs {
  work: string;
  proc: Started;
}

/**
 * Starts `argv` in a new mount namespace (in the caller's netns) with a private /run and
 * each [target, src] bound; resolves once the mounts are in place. Stop it with
 * `proc.stop()`; the namespace ends with the last process in it.
 */
export async function startInMountNs(work: string, binds: [string, string][], argv: string[], env: NodeJS.ProcessEnv): Promise<MountNs> {
  mkdirSync(work, { recursive: true });
  const proc = start(['unshare', '--mount', '--propagation', 'private', 'sh', NS_SCRIPT, work, ...binds.map(([t, s]) => `${t}=${s}`), '--', ...argv], { env });
  for (let i = 0; i < 200 && !existsSync(join(work, 'ready')); i++) {
    if (await Promise.race([proc.exited.then(() => true), sleep(25).then(() => false)])) break;
  }
  if (!existsSync(join(work, 'ready'))) {
    await proc.stop();
    throw new Error(`mount namespace set-up failed: ${proc.output().stderr.slice(-2000)}`);
  }
  return { work, proc };
}

/** Runs argv inside the mount namespace of `ns` (nsenter --mount), with `env`. */
export function inMountNs(ns: MountNs, argv: string[], env: NodeJS.ProcessEnv, ok: number[] = [], timeoutMs = 120_000): Promise<RunResult> {
  return run(['nsenter', `--mount=/proc/${ns.proc.pid}/ns/mnt`, ...argv], { env, okCodes: ok, timeoutMs });
}

/** The binds every runtime gets: tsnet's CNI dirs at the standard places, a private CNI cache. */
function cniBinds(cni: CniDirs): [string, string][] {
  return [['/etc/cni/net.d', cni.confDir], ['/opt/cni/bin', cni.binDir], ['/var/lib/cni', cni.cacheDir]];
}

/** The caller's environment without Node's CA bundle, plus `extra` (undefined removes a key). */
function envWith(extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env['NODE_EXTRA_CA_CERTS'];
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/**
 * Starts tsnetd (own root, run dir, socket under a new temp dir) inside the mount namespace
 * of `ns`, so that it sees the runtime's /run (podman's /run/netns/... CNI_NETNS paths), as
 * a daemon on a real host shares the runtimes' filesystem. The result works with
 * test/daemon.ts's stopDaemon / purgeDaemon / removeDaemonDir.
 */
export async function startDaemonIn(ns: MountNs): Promise<Daemon> {
  const dir = mkdtempSync(join(tmpdir(), 'tsnetd-cni-rt-'));
  const root = join(dir, 'lib');
  const runDir = join(dir, 'run');
  const socket = join(runDir, 'tsnetd.sock');
  const level = process.env['TSNET_LOG_LEVEL'] === 'silent' ? 'warn' : process.env['TSNET_LOG_LEVEL'] ?? 'warn';
  const proc = start(['nsenter', `--mount=/proc/${ns.proc.pid}/ns/mnt`, process.execPath, join(ROOT, 'bin', 'tsnetd'), '--root', root, '--run', runDir, '--host', socket], {
    env: { ...process.env, TSNET_LOG_LEVEL: level },
  });
  const d = { dir, root, runDir, socket, proc };
  for (let i = 0; i < 300; i++) {
    if (existsSync(socket) && (await cli(d, ['version'], [0, 1])).exitCode === 0) return d;
    if (await Promise.race([proc.exited.then(() => true), sleep(50).then(() => false)])) break;
  }
  await proc.stop();
  rmSync(dir, { recursive: true, force: true });
  throw new Error(`tsnetd did not start: ${proc.output().stderr.slice(-2000)}`);
}

// ---------------------------------------------------------------------------------------
// podman

export interface Podman {
  dir: string;
  ns: MountNs;
  env: NodeJS.ProcessEnv;
  cni: CniDirs;
}

const toml = (s: string) => JSON.stringify(s);

/** containers.conf: CNI backend on `cni`, runc, cgroupfs, file events, no ulimits, `[engine] env`. */
function writeContainersConf(dir: string, cni: CniDirs, tsnetEnv: Record<string, string | undefined>): string {
  const file = join(dir, 'containers.conf');
  const engineEnv = Object.entries(tsnetEnv).filter(([, v]) => v !== undefined).map(([k, v]) => toml(`${k}=${v ?? ''}`));
  writeFileSync(file, [
    '[containers]', 'default_ulimits = []', '',
    '[network]', 'network_backend = "cni"', `cni_plugin_dirs = [${toml(cni.binDir)}]`, `network_config_dir = ${toml(cni.confDir)}`, '',
    '[engine]', 'runtime = "runc"', 'cgroup_manager = "cgroupfs"', 'events_logger = "file"',
    `events_logfile_path = ${toml(join(dir, 'events.log'))}`, `tmp_dir = ${toml(join(dir, 'tmp'))}`,
    `env = [${engineEnv.join(', ')}]`, '',
  ].join('\n'));
  return file;
}

/**
 * Writes containers.conf (see writeContainersConf; `[engine] env` = `tsnetEnv` reaches the
 * cleanup processes conmon starts, which do not inherit our environment) and storage.conf
 * (vfs, temp graphroot/runroot) under `dir`, and starts the mount namespace every podman
 * command of this instance runs in (podman's /run/netns, locks and CNI cache stay in it).
 * Stop with stopPodman.
 */
export async function startPodman(dir: string, cni: CniDirs, tsnetEnv: Record<string, string | undefined>): Promise<Podman> {
  mkdirSync(dir, { recursive: true });
  const containersConf = writeContainersConf(dir, cni, tsnetEnv);
  const storageConf = join(dir, 'storage.conf');
  writeFileSync(storageConf, ['[storage]', 'driver = "vfs"', `graphroot = ${toml(join(dir, 'graph'))}`, `runroot = ${toml(join(dir, 'runroot'))}`, ''].join('\n'));
  const env = envWith({ ...tsnetEnv, CONTAINERS_CONF: containersConf, CONTAINERS_STORAGE_CONF: storageConf });
  // The holder keeps the namespace while podman's commands come and go (bounded: 30 min).
  const ns = await startInMountNs(join(dir, 'ns'), cniBinds(cni), ['sleep', '1800'], env);
  return { dir, ns, env, cni };
}

/** Points later podman commands (and their cleanup processes) at other tsnet state dirs. */
export function reconfigurePodman(p: Podman, tsnetEnv: Record<string, string | undefined>): void {
  writeContainersConf(p.dir, p.cni, tsnetEnv);
  p.env = { ...p.env, ...tsnetEnv };
  for (const [k, v] of Object.entries(tsnetEnv)) if (v === undefined) delete p.env[k];
}

/** `podman ARGS` in the instance's namespace and environment; other exit codes than 0/`ok` reject. */
export function podman(p: Podman, args: string[], ok: number[] = []): Promise<RunResult> {
  return inMountNs(p.ns, [PODMAN, ...args], p.env, ok);
}

/** Removes every container (podman rm -f -a), ends the namespace's holder by PID, removes `dir`. */
export async function stopPodman(p: Podman): Promise<void> {
  await podman(p, ['rm', '-f', '-a', '-t', '0'], [1, 125]).catch(() => undefined);
  await p.ns.proc.stop(5000);
  rmSync(p.dir, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------
// containerd

export interface Containerd {
  dir: string;
  socket: string;
  ns: MountNs;
  env: NodeJS.ProcessEnv;
  /** The containerd namespace of this instance (also the parent cgroup of its containers). */
  namespace: string;
}

/**
 * Starts a private containerd (own root, state, socket, opt dir; the CRI plugin and the
 * snapshotters that need special filesystems disabled) in its own mount namespace with
 * tsnet's CNI dirs at /etc/cni/net.d and /opt/cni/bin; `ctr` commands run in the same
 * namespace with `tsnetEnv` (ctr execs the CNI plugins itself). Stop with stopContainerd.
 */
export async function startContainerd(dir: string, cni: CniDirs, tsnetEnv: Record<string, string | undefined>): Promise<Containerd> {
  mkdirSync(dir, { recursive: true });
  const socket = join(dir, 'containerd.sock');
  const config = join(dir, 'config.toml');
  writeFileSync(config, [
    'version = 2',
    `root = ${toml(join(dir, 'root'))}`, `state = ${toml(join(dir, 'state'))}`,
    'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]',
    '[grpc]', `address = ${toml(socket)}`,
    '[ttrpc]', `address = ${toml(`${socket}.ttrpc`)}`,
    '[plugins."io.containerd.internal.v1.opt"]', `path = ${toml(join(dir, 'opt'))}`, '',
  ].join('\n'));
  const env = envWith(tsnetEnv);
  const ns = await startInMountNs(join(dir, 'ns'), cniBinds(cni), [CONTAINERD, '--config', config, '--log-level', 'warn'], env);
  const c = { dir, socket, ns, env, namespace: `tsnet-cni-${randomBytes(3).toString('hex')}` };
  for (let i = 0; i < 200; i++) {
    if (existsSync(socket) && (await ctr(c, ['version'], [1])).exitCode === 0) return c;
    if (await Promise.race([ns.proc.exited.then(() => true), sleep(50).then(() => false)])) break;
  }
  const out = ns.proc.output().stderr;
  await stopContainerd(c);
  throw new Error(`containerd did not start: ${out.slice(-2000)}`);
}

/** `ctr --address SOCKET -n NAMESPACE ARGS` in containerd's mount namespace. */
export function ctr(c: Containerd, args: string[], ok: number[] = [], timeoutMs = 120_000): Promise<RunResult> {
  return inMountNs(c.ns, [CTR, '--address', c.socket, '-n', c.namespace, ...args], c.env, ok, timeoutMs);
}

/**
 * Kills and deletes every task and container left in the instance's namespace (their shims
 * exit with them), stops containerd by PID, removes the (empty) cgroup directories named
 * after the namespace that runc's containers were placed under, and removes `dir`.
 */
export async function stopContainerd(c: Containerd): Promise<void> {
  if (existsSync(c.socket) && c.ns.proc.pid > 0) {
    const tasks = (await ctr(c, ['task', 'ls', '-q'], [1]).catch(() => undefined))?.stdout.split('\n').filter(Boolean) ?? [];
    for (const t of tasks) await ctr(c, ['task', 'delete', '-f', t], [1]).catch(() => undefined);
    const ctrs = (await ctr(c, ['container', 'ls', '-q'], [1]).catch(() => undefined))?.stdout.split('\n').filter(Boolean) ?? [];
    for (const id of ctrs) await ctr(c, ['container', 'delete', id], [1]).catch(() => undefined);
  }
  await c.ns.proc.stop(10_000);
  if (existsSync('/sys/fs/cgroup')) {
    for (const h of readdirSync('/sys/fs/cgroup')) {
      const cg = join('/sys/fs/cgroup', h, c.namespace);
      try {
        if (existsSync(cg)) rmdirSync(cg);
      } catch (err) {
        process.stderr.write(`could not remove cgroup ${cg}: ${String(err)}\n`);
      }
    }
  }
  rmSync(c.dir, { recursive: true, force: true });
}

/** A fresh temp dir for one runtime test; the caller removes it. */
export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

