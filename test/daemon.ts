/**
 * Test helpers for tsnetd: start a daemon with its own root, run dir and socket (inside the
 * test's throwaway host netns), run the `tsnet` CLI against it, and stop it by its PID.
 */
import http from 'node:http';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { packageRoot } from '../core/index.js';
import { run, start, type RunResult, type Started } from '../core/exec/index.js';

export interface Daemon {
  dir: string;
  root: string;
  runDir: string;
  socket: string;
  proc: Started;
}

const ROOT = packageRoot();

/** Starts tsnetd and waits for its socket. `dir` reuses a previous daemon's state. */
export async function startDaemon(dir = mkdtempSync(join(tmpdir(), 'tsnetd-test-'))): Promise<Daemon> {
  const root = join(dir, 'lib');
  const runDir = join(dir, 'run');
  const socket = join(runDir, 'tsnetd.sock');
  const proc = start([process.execPath, join(ROOT, 'bin', 'tsnetd'), '--root', root, '--run', runDir, '--host', socket], {
    env: { ...process.env, TSNET_LOG_LEVEL: process.env['TSNET_LOG_LEVEL'] === 'silent' ? 'warn' : process.env['TSNET_LOG_LEVEL'] ?? 'warn' },
  });
  for (let i = 0; i < 300; i++) {
    if (existsSync(socket) && (await cli({ socket } as Daemon, ['version'], [0, 1])).exitCode === 0) return { dir, root, runDir, socket, proc };
    if (await Promise.race([proc.exited.then(() => true), new Promise((r) => setTimeout(() => r(false), 50))])) break;
  }
  await proc.stop();
  throw new Error(`tsnetd did not start: ${proc.output().stderr}`);
}

/** SIGTERM (graceful) by PID; containers keep running. */
export async function stopDaemon(d: Daemon): Promise<void> {
  await d.proc.stop(10_000);
}

/** kill -9 by PID. */
export async function killDaemon(d: Daemon): Promise<void> {
  process.kill(d.proc.pid, 'SIGKILL');
  await d.proc.exited;
}

/** The end of a daemon a suite started: stopped (if still up), purged, its dirs deleted. */
export async function dropDaemon(d: Daemon): Promise<void> {
  await stopDaemon(d).catch(() => undefined);
  await purgeDaemon(d);
  await removeDaemonDir(d);
}

/** Deletes the daemon's dirs; its netns dir is a mount point (as /run/netns), unmounted first. */
export async function removeDaemonDir(d: Daemon): Promise<void> {
  const netnsDir = join(d.runDir, 'netns');
  if (existsSync(netnsDir)) await run(['umount', '-l', netnsDir], { okCodes: [1, 32] });
  rmSync(d.dir, { recursive: true, force: true });
}

/** One raw API request (a body as given, malformed ones included): status and body text. */
export function api(dm: Pick<Daemon, 'socket'>, method: string, path: string, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: dm.socket, method, path, headers: { 'Content-Type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Runs `tsnet -H socket ARGS...`; exit codes other than `ok` reject. */
export function cli(d: Pick<Daemon, 'socket'>, args: string[], ok: number[] = [0]): Promise<RunResult> {
  return run([join(ROOT, 'bin', 'tsnet'), '-H', d.socket, ...args], { okCodes: ok.filter((c) => c !== 0), timeoutMs: 60_000 });
}

/** The part of `tsnet inspect CTR` the tests read. */
export interface ContainerInspect {
  Id: string;
  State: { Running: boolean; Status: string; ExitCode: number; FinishedAt: string; Pid: number };
  NetworkSettings: { SandboxKey: string; Networks: Record<string, { IPAddress: string; MacAddress: string; Gateway: string; EndpointID: string }>; Ports: Record<string, { HostIp: string; HostPort: string }[]> };
}

/** `tsnet inspect NAME`'s one entry. */
export async function inspectContainer(d: Pick<Daemon, 'socket'>, name: string): Promise<ContainerInspect> {
  return (await cliJson<ContainerInspect[]>(d, ['inspect', name]))[0]!;
}

export async function cliJson<T = unknown>(d: Pick<Daemon, 'socket'>, args: string[]): Promise<T> {
  return JSON.parse((await cli(d, [...args, '--format', 'json'])).stdout) as T;
}

/**
 * After the daemon is stopped: removes every container (runc), endpoint, network and rule
 * it made, through its own store, so the test namespace is left clean.
 */
export async function purgeDaemon(d: Daemon): Promise<void> {
  const { NetworkManager } = await import('../drivers/index.js');
  const { deleteNetns, isNetns } = await import('../core/netns/index.js');
  const runcRoot = join(d.runDir, 'runc');
  const list = await run(['runc', '--root', runcRoot, 'list', '-q'], { okCodes: [1] });
  for (const id of list.stdout.split('\n').filter(Boolean)) await run(['runc', '--root', runcRoot, 'delete', '--force', id], { okCodes: [1] });
  const { sweepRetired } = await import('../core/link-reaper/index.js');
  await sweepRetired(); // links a killed daemon retired but had not deleted yet
  const mgr = NetworkManager.open(join(d.root, 'tsnet.db'));
  try {
    for (const ep of mgr.listEndpoints()) {
      const p = ep.placement;
      await mgr.detach(ep.id);
      if (p.kind === 'netns' && isNetns(p.netnsPath)) deleteNetns(p.netnsPath);
    }
    for (const n of mgr.listNetworks()) await mgr.removeNetwork(n.id);
    await mgr.teardownFirewall();
  } finally {
    mgr.close();
  }
  const netnsDir = join(d.runDir, 'netns');
  if (existsSync(netnsDir)) {
    const { readdirSync } = await import('node:fs');
    for (const f of readdirSync(netnsDir)) if (isNetns(join(netnsDir, f))) deleteNetns(join(netnsDir, f));
  }
}
