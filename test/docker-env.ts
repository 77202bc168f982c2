/**
 * Test (and bench) helpers for the Docker front-end: a stock dockerd (Debian's docker.io)
 * started inside the test's throwaway host netns, in its own mount namespace (see
 * docker-ns.sh) with its own data-root, exec-root, pidfile, socket and plugin directory;
 * a tsnetd serving the plugin socket in that directory; a busybox image from
 * `docker import`. Everything is stopped by PID and its directories removed by the caller
 * through stopDockerd / stopTsnetd.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { packageRoot } from '../core/index.js';
import { run, start, type RunResult, type Started } from '../core/exec/index.js';

export const DOCKER = '/usr/bin/docker';
export const DOCKERD = '/usr/sbin/dockerd';
export const IMAGE = 'tsnet-busybox';
const ROOT = packageRoot();

/** Whether Debian's docker.io (client and engine) is installed. */
export function dockerAvailable(): boolean {
  return existsSync(DOCKER) && existsSync(DOCKERD);
}

export interface Dockerd {
  dir: string;
  socket: string;
  pluginDir: string;
  proc: Started;
}

/**
 * Starts dockerd (no iptables, no default bridge) with `pluginDir` as its
 * /run/docker/plugins and waits until it answers.
 */
export async function startDockerd(pluginDir: string, opts: { iptables?: boolean } = {}): Promise<Dockerd> {
  const dir = mkdtempSync(join(tmpdir(), 'tsnet-dockerd-'));
  const socket = join(dir, 'docker.sock');
  // The trust key dockerd 20.10 writes (default /etc/docker/key.json) goes to its own dir.
  writeFileSync(join(dir, 'daemon.json'), `${JSON.stringify({ 'deprecated-key-path': join(dir, 'key.json') })}\n`);
  const argv = [
    'unshare', '--mount', '--propagation', 'private', 'sh', join(ROOT, 'test', 'docker-ns.sh'), pluginDir,
    DOCKERD, '--data-root', join(dir, 'data'), '--exec-root', join(dir, 'exec'), '--pidfile', join(dir, 'docker.pid'),
    '-H', `unix://${socket}`, '--config-file', join(dir, 'daemon.json'),
    `--iptables=${String(opts.iptables ?? false)}`, '--ip-masq=false', '--bridge=none', '--userland-proxy=false',
  ];
  const proc = start(argv);
  const d = { dir, socket, pluginDir, proc };
  for (let i = 0; i < 300; i++) {
    if (existsSync(socket) && (await docker(d, ['version', '--format', '{{.Server.Version}}'], [1])).exitCode === 0) return d;
    if (await Promise.race([proc.exited.then(() => true), sleep(100).then(() => false)])) break;
  }
  const out = proc.output();
  await stopDockerd(d);
  throw new Error(`dockerd did not start: ${out.stderr.slice(-2000)}`);
}

/**
 * Removes every container, then stops dockerd (SIGTERM by its PID) and the containerd it
 * started (by the PID it recorded), and deletes dockerd's directories.
 */
export async function stopDockerd(d: Dockerd): Promise<void> {
  const containerdPid = join(d.dir, 'exec', 'containerd', 'containerd.pid');
  if (existsSync(d.socket)) {
    const ids = (await docker(d, ['ps', '-aq'], [1])).stdout.split('\n').filter(Boolean);
    if (ids.length > 0) await docker(d, ['rm', '-f', ...ids], [1]);
  }
  const pid = existsSync(containerdPid) ? Number(readFileSync(containerdPid, 'utf8').trim()) : undefined;
  await d.proc.stop(20_000);
  if (pid && alive(pid)) {
    process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 100 && alive(pid); i++) await sleep(50);
    if (alive(pid)) process.kill(pid, 'SIGKILL');
  }
  // overlay mounts live in dockerd's mount namespace, gone with it: the directory is plain files.
  rmSync(d.dir, { recursive: true, force: true });
}

/** Runs `docker -H <socket> ARGS`; exit codes other than 0 and `ok` reject. */
export function docker(d: Pick<Dockerd, 'socket'>, args: string[], ok: number[] = []): Promise<RunResult> {
  return run([DOCKER, '-H', `unix://${d.socket}`, ...args], { okCodes: ok, timeoutMs: 60_000 });
}

/** Imports a busybox image (/bin/busybox with its applets as symlinks) as `IMAGE`. */
export async function importBusybox(d: Dockerd): Promise<void> {
  const rootfs = join(d.dir, 'rootfs');
  mkdirSync(join(rootfs, 'bin'), { recursive: true });
  for (const sub of ['etc', 'tmp', 'proc', 'sys', 'dev', 'www']) mkdirSync(join(rootfs, sub), { recursive: true });
  copyFileSync('/bin/busybox', join(rootfs, 'bin', 'busybox'));
  const applets = (await run(['/bin/busybox', '--list'])).stdout.split('\n').filter((a) => /^[a-z0-9_.-]+$/.test(a) && a !== 'busybox');
  for (const a of applets) symlinkSync('busybox', join(rootfs, 'bin', a));
  writeFileSync(join(rootfs, 'www', 'index.html'), 'hello from tsnet\n');
  const tar = join(d.dir, 'busybox.tar');
  await run(['tar', '-C', rootfs, '-cf', tar, '.']);
  await docker(d, ['import', '--change', 'CMD ["sh"]', tar, IMAGE]);
  rmSync(rootfs, { recursive: true, force: true });
}

export interface Tsnetd {
  dir: string;
  root: string;
  runDir: string;
  socket: string;
  pluginSocket: string;
  proc: Started;
}

/** Starts tsnetd serving the plugin in `pluginDir`; `dir` reuses an earlier daemon's state. */
export async function startTsnetd(pluginDir: string, dir = mkdtempSync(join(tmpdir(), 'tsnetd-docker-'))): Promise<Tsnetd> {
  const root = join(dir, 'lib');
  const runDir = join(dir, 'run');
  const socket = join(runDir, 'tsnetd.sock');
  const pluginSocket = join(pluginDir, 'tsnet.sock');
  const level = process.env['TSNET_LOG_LEVEL'] === 'silent' ? 'warn' : process.env['TSNET_LOG_LEVEL'] ?? 'warn';
  const proc = start([process.execPath, join(ROOT, 'bin', 'tsnetd'), '--root', root, '--run', runDir, '--host', socket, '--docker-plugin-dir', pluginDir], {
    env: { ...process.env, TSNET_LOG_LEVEL: level },
  });
  for (let i = 0; i < 300; i++) {
    if (existsSync(pluginSocket) && (await activate(pluginSocket))) return { dir, root, runDir, socket, pluginSocket, proc };
    if (await Promise.race([proc.exited.then(() => true), sleep(50).then(() => false)])) break;
  }
  await proc.stop();
  throw new Error(`tsnetd did not start: ${proc.output().stderr.slice(-2000)}`);
}

async function activate(socket: string): Promise<boolean> {
  try {
    return (await pluginCall(socket, 'Plugin.Activate', {})).status === 200;
  } catch {
    return false;
  }
}

/** POSTs one plugin call to the socket as dockerd does; the body is sent as given when a string. */
export async function pluginCall(socket: string, method: string, body: unknown): Promise<{ status: number; body: Record<string, unknown>; contentType: string }> {
  const http = await import('node:http');
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: socket, path: `/${method}`, method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/vnd.docker.plugins.v1.2+json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (b: Buffer) => chunks.push(b));
      res.on('end', () => {
        const raw = Buffer.concat(chunks).toString();
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(raw) as Record<string, unknown>, contentType: String(res.headers['content-type']) });
        } catch (err) {
          reject(new Error(`not JSON (${res.statusCode ?? 0}): ${raw}`, { cause: err }));
        }
      });
    });
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error(`${method} timed out`)));
    req.end(text);
  });
}

/** SIGTERM by PID (graceful; the plugin socket is removed). */
export async function stopTsnetd(t: Tsnetd): Promise<void> {
  await t.proc.stop(10_000);
}

/** SIGKILL by PID: the socket file stays behind, as after a crash. */
export async function killTsnetd(t: Tsnetd): Promise<void> {
  process.kill(t.proc.pid, 'SIGKILL');
  await t.proc.exited;
}

/**
 * After tsnetd is stopped: removes every endpoint, network and rule its store still has
 * (a failed test's leftovers), and its directories.
 */
export async function purgeTsnetd(t: Tsnetd): Promise<void> {
  const { NetworkManager } = await import('../drivers/index.js');
  const mgr = NetworkManager.open(join(t.root, 'tsnet.db'));
  try {
    for (const ep of mgr.listEndpoints()) await mgr.detach(ep.id);
    for (const n of mgr.listNetworks()) await mgr.removeNetwork(n.id);
    await mgr.teardownFirewall();
  } finally {
    mgr.close();
  }
  const netnsDir = join(t.runDir, 'netns');
  if (existsSync(netnsDir)) await run(['umount', '-l', netnsDir], { okCodes: [1, 32] });
  rmSync(t.dir, { recursive: true, force: true });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
