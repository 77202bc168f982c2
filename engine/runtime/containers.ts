/**
 * ContainerRuntime: containers run by runc, one state dir each in `<TSNET_ROOT>/containers/<id>/`
 * (config.json = the OCI bundle's spec, `log` = stdout+stderr, `pid` = runc's pid file,
 * `status.json` = start/exit record). runc's own state lives in `<TSNET_RUN>/runc`, which any
 * later process (a restarted daemon) reads again with `runc state`.
 *
 * A container is started by `runc run --keep` as a detached child (own session), whose
 * stdout/stderr are the log file: the container's process writes straight into it, and
 * neither a SIGTERM nor a kill -9 of the daemon reaches it. The daemon that started it learns
 * its exit code when runc exits. runc runs under the exit monitor (a small C program, built
 * with the addon), which writes runc's exit status to `exit-code` in the bundle: a later
 * daemon reads the code of a container that ended meanwhile from there (unknown, null, only
 * when the monitor is not built or was killed).
 */
import { closeSync, existsSync, fstatSync, openSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, ConflictError, ExecError, NotFoundError, TryAgainError } from '../../core/errors.js';
import { log } from '../../core/log.js';
import { packageRoot, paths } from '../../core/paths.js';
import { startDetached, type RunResult } from '../../core/exec/index.js';
import { ImageStore } from './images.js';
import { checkContainerId } from './names.js';
import { Runc, runcMessage } from './runc.js';
import { createSpec, type OciSpec, type SpecOptions } from './spec.js';

export interface RuntimeOptions {
  /** TSNET_ROOT: container dirs go in `<root>/containers`, images in `<root>/images`. */
  root?: string;
  /** TSNET_RUN: runc's state dir is `<run>/runc`. */
  run?: string;
  /** The runc binary (default `runc` on PATH). */
  runc?: string;
  images?: ImageStore;
  /** cgroup parent for containers (`<parent>/<id>`); default: runc's, `<id>` under runc's own cgroup. */
  cgroupParent?: string;
  /** Called once when a container started by this process has exited (runc's exit status). */
  onExit?: (id: string, exitCode: number) => void;
}

/** What `create` needs: the spec options, with an image name instead of a rootfs path. */
export type CreateOptions = Omit<SpecOptions, 'rootfs' | 'cgroupsPath'> & { image: string };

/**
 * `created`: bundle written, never started · `running` (runc's creating/created/running) ·
 * `paused` · `stopped` · `missing`: neither a dir nor a runc record.
 */
export type ContainerStatus = 'created' | 'running' | 'paused' | 'stopped' | 'missing';

export interface ContainerState {
  id: string;
  status: ContainerStatus;
  /** Host PID of the container's init while running, else 0. */
  pid: number;
  /** runc's exit status (128+signal when killed); null while running or when unknown. */
  exitCode: number | null;
  startedAt: string | null;
  finishedAt: string | null;
  /** The image's rootfs path, from config.json (null when the dir is gone). */
  rootfs: string | null;
}

interface StatusFile {
  startedAt: string;
  finishedAt?: string;
  exitCode?: number;
  /** Started under the exit monitor: its record (EXIT_FILE) will say the exit status. */
  monitored?: boolean;
}

export interface ExecOptions {
  /** Bound on the whole exec (default 30 s); runc exec is killed after it. */
  timeoutMs?: number;
  /** Extra `KEY=value` entries. */
  env?: readonly string[];
}

export interface FollowOptions {
  /** Start at the beginning of the log (default) or at its current end. */
  fromStart?: boolean;
  /** How often the file is checked for growth (default 100 ms). */
  pollMs?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** build/Release/tsnet_exit_monitor (engine/runtime/monitor): `MONITOR EXIT-FILE ARGV...`. */
const EXIT_MONITOR = join(packageRoot(), 'build', 'Release', 'tsnet_exit_monitor');
/** In the bundle: the exit monitor's record of runc's exit status. */
const EXIT_FILE = 'exit-code';
/** Statuses with processes (ours). */
const LIVE = new Set<string>(['running', 'paused']);
/** runc's statuses with processes. */
const RUNC_LIVE = new Set(['creating', 'created', 'running', 'paused']);

/**
 * Awaits p while holding the event loop open: runc's process is unref'd (the daemon may exit
 * without waiting for containers), so a bare await on its exit would let Node quit.
 */
async function held<T>(p: Promise<T>): Promise<T> {
  const timer = setInterval(() => undefined, 60_000);
  try {
    return await p;
  } finally {
    clearInterval(timer);
  }
}

function errno(err: unknown): string | undefined {
  return (err as { code?: string }).code;
}

export class ContainerRuntime {
  readonly containersDir: string;
  readonly runc: Runc;
  readonly images: ImageStore;
  private readonly cgroupParent: string | undefined;
  private readonly onExit: ((id: string, exitCode: number) => void) | undefined;
  /** Containers whose runc process is this process's child: id → settles after the exit is recorded. */
  private readonly owned = new Map<string, Promise<number>>();

  constructor(o: RuntimeOptions = {}) {
    const p = paths();
    const root = o.root ?? p.root;
    this.containersDir = join(root, 'containers');
    this.runc = new Runc(join(o.run ?? p.run, 'runc'), o.runc);
    this.images = o.images ?? new ImageStore(root);
    this.cgroupParent = o.cgroupParent;
    this.onExit = o.onExit;
  }

  /** The container's state dir (the OCI bundle). */
  dir(id: string): string {
    return join(this.containersDir, checkContainerId(id));
  }

  logPath(id: string): string {
    return join(this.dir(id), 'log');
  }

  /**
   * Writes the container's bundle (dir + config.json + empty log); starts nothing.
   * The netns and the files in `files` belong to the caller (the daemon), which keeps them
   * until the container is removed. ConflictError when the id exists; NotFoundError for an
   * unknown image. Undone by remove().
   */
  async create(o: CreateOptions): Promise<{ id: string; dir: string; spec: OciSpec }> {
    const dir = this.dir(o.id);
    const image = await this.images.getImage(o.image);
    const { image: _image, ...rest } = o;
    const spec = createSpec({
      ...rest,
      rootfs: image.rootfs,
      ...(this.cgroupParent ? { cgroupsPath: `${this.cgroupParent}/${o.id}` } : {}),
    });
    if (await this.runc.state(o.id)) throw new ConflictError(`container ${o.id} already exists (runc)`, 'id');
    await mkdir(this.containersDir, { recursive: true, mode: 0o700 });
    try {
      await mkdir(dir, { mode: 0o700 });
    } catch (err) {
      if (errno(err) === 'EEXIST') throw new ConflictError(`container ${o.id} already exists`, 'id');
      throw err;
    }
    await writeFile(join(dir, 'config.json'), `${JSON.stringify(spec, null, 2)}\n`);
    await writeFile(join(dir, 'log'), '', { flag: 'a' });
    return { id: o.id, dir, spec };
  }

  /**
   * Starts a created (or stopped: runc's old record is deleted first) container with
   * `runc run --keep` as a detached child writing to the log. Resolves with the init's host
   * PID once runc has started the process (it may already have exited). Rejects when runc
   * fails before that: ConfigError (field `args`) when the program is not found, ExecError
   * otherwise. The container's processes are ended by stop() or remove().
   */
  async start(id: string): Promise<{ pid: number }> {
    const dir = await this.existingDir(id);
    const before = await this.runc.state(id);
    if (before && RUNC_LIVE.has(before.status)) throw new ConflictError(`container ${id} is already ${before.status}`);
    if (before) await this.runc.delete(id);
    const pidFile = join(dir, 'pid');
    await rm(pidFile, { force: true });
    const { argv, exited, logStart } = await this.spawnRunc(id, dir, pidFile);
    const pid = await this.waitForPidFile(pidFile, exited);
    if (pid !== undefined) return { pid };
    const code = await held(exited);
    const msg = runcMessage((await readFile(join(dir, 'log'))).subarray(logStart).toString());
    if (/exec: .*(executable file not found|no such file or directory)/.test(msg)) throw new ConfigError(`start container ${id}: ${msg}`, 'args');
    throw new ExecError(argv, code, '', msg || 'runc exited before the container started');
  }

  /** Spawns the detached `runc run --keep` with the log as stdout/stderr; records its exit. */
  private async spawnRunc(id: string, dir: string, pidFile: string): Promise<{ argv: string[]; exited: Promise<number>; logStart: number }> {
    const startedAt = new Date().toISOString();
    // Under the monitor when it is built, so the exit status outlives this process.
    const monitored = existsSync(EXIT_MONITOR);
    await rm(join(dir, EXIT_FILE), { force: true });
    await this.writeStatus(id, { startedAt, ...(monitored ? { monitored } : {}) });
    const argv = this.runc.argv('run', '--keep', '--bundle', dir, '--pid-file', pidFile, id);
    const logFd = openSync(join(dir, 'log'), 'a');
    try {
      const logStart = fstatSync(logFd).size;
      const env = { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin' };
      const child = await startDetached(monitored ? [EXIT_MONITOR, join(dir, EXIT_FILE), ...argv] : argv, { stdoutFd: logFd, stderrFd: logFd, cwd: dir, env });
      const exited = child.exited.then((code) => this.recordExit(id, startedAt, code));
      this.owned.set(id, exited);
      return { argv, exited, logStart };
    } catch (err) {
      await rm(join(dir, 'status.json'), { force: true });
      throw err;
    } finally {
      closeSync(logFd);
    }
  }

  /** Polls for runc's pid file (written, by rename, once the process runs); undefined when runc exited first. */
  private async waitForPidFile(pidFile: string, exited: Promise<number>): Promise<number | undefined> {
    let done = false;
    void exited.then(() => (done = true));
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const pid = await this.readPid(pidFile);
      if (pid !== undefined) return pid;
      if (done) return this.readPid(pidFile);
      await sleep(5);
    }
    throw new TryAgainError(`runc did not start the container within 60 s (${pidFile})`);
  }

  private async readPid(pidFile: string): Promise<number | undefined> {
    try {
      const n = Number.parseInt(await readFile(pidFile, 'utf8'), 10);
      return Number.isInteger(n) && n > 0 ? n : undefined;
    } catch {
      return undefined;
    }
  }

  private async recordExit(id: string, startedAt: string, exitCode: number): Promise<number> {
    try {
      await this.writeStatus(id, { startedAt, finishedAt: new Date().toISOString(), exitCode });
    } catch (err) {
      if (errno(err) !== 'ENOENT') log.warn({ id, err }, 'cannot record container exit');
    }
    this.owned.delete(id);
    log.debug({ id, exitCode }, 'container exited');
    try {
      this.onExit?.(id, exitCode);
    } catch (err) {
      log.warn({ id, err }, 'container exit callback failed');
    }
    return exitCode;
  }

  private async writeStatus(id: string, s: StatusFile): Promise<void> {
    await writeFile(join(this.dir(id), 'status.json'), `${JSON.stringify(s)}\n`);
  }

  private async readStatus(id: string): Promise<StatusFile | undefined> {
    try {
      return JSON.parse(await readFile(join(this.dir(id), 'status.json'), 'utf8')) as StatusFile;
    } catch {
      return undefined;
    }
  }

  /**
   * The exit monitor's record of a stopped container: runc's exit status and when it was
   * written. runc says "stopped" as the container's process ends, a moment before `runc run`
   * exits and the monitor writes: with `wait` (a monitored start runc calls stopped) the
   * record is waited for, 5 s at most. undefined when there is none (not monitored, or the
   * monitor was killed).
   */
  private async readExitFile(id: string, wait: boolean): Promise<{ exitCode: number; finishedAt: string } | undefined> {
    const file = join(this.dir(id), EXIT_FILE);
    const deadline = Date.now() + (wait ? 5000 : 0);
    for (;;) {
      try {
        const code = Number.parseInt(await readFile(file, 'utf8'), 10);
        if (Number.isInteger(code)) return { exitCode: code, finishedAt: (await stat(file)).mtime.toISOString() };
      } catch (err) {
        if (errno(err) !== 'ENOENT') return undefined;
      }
      if (Date.now() >= deadline) return undefined;
      await held(sleep(20));
    }
  }

  private async existingDir(id: string): Promise<string> {
    const dir = this.dir(id);
    if (!existsSync(join(dir, 'config.json'))) throw new NotFoundError(`container ${id} not found`);
    return dir;
  }

  /**
   * The container's state from runc (`runc state`) and its dir: works for containers started
   * by an earlier process too. `missing` when neither knows it.
   */
  async state(id: string): Promise<ContainerState> {
    checkContainerId(id);
    const rs = await this.runc.state(id);
    const mine = this.owned.get(id);
    if (rs?.status === 'stopped' && mine) await held(Promise.race([mine, sleep(5000)])); // runc is about to exit
    const st = await this.readStatus(id);
    let rootfs: string | null = null;
    try {
      rootfs = (JSON.parse(await readFile(join(this.dir(id), 'config.json'), 'utf8')) as OciSpec).root.path;
    } catch {
      // no bundle
    }
    const status: ContainerStatus = rs
      ? rs.status === 'paused' || rs.status === 'stopped' ? rs.status : 'running'
      : rootfs === null ? 'missing' : st ? 'stopped' : 'created';
    const live = LIVE.has(status);
    // A container that ended while no daemon watched it has only the monitor's record.
    const monitored = live || st?.exitCode !== undefined ? undefined : await this.readExitFile(id, rs?.status === 'stopped' && st?.monitored === true);
    return {
      id,
      status,
      pid: live && rs ? rs.pid : 0,
      exitCode: live ? null : st?.exitCode ?? monitored?.exitCode ?? null,
      startedAt: st?.startedAt ?? null,
      finishedAt: live ? null : st?.finishedAt ?? monitored?.finishedAt ?? null,
      rootfs,
    };
  }

  /** Every container with a dir or a runc record. */
  async list(): Promise<ContainerState[]> {
    let ids: string[] = [];
    try {
      ids = await readdir(this.containersDir);
    } catch (err) {
      if (errno(err) !== 'ENOENT') throw err;
    }
    const all = new Set([...ids, ...(await this.runc.list()).map((r) => r.id)]);
    const states: ContainerState[] = [];
    for (const id of [...all].sort()) states.push(await this.state(id));
    return states;
  }

  /**
   * Resolves with the exit code once the container is no longer running (null when this
   * process did not start it and the exit monitor left no record). Polls runc every 100 ms for
   * containers started by another process; `signal` abandons the wait.
   */
  async wait(id: string, signal?: AbortSignal): Promise<number | null> {
    const mine = this.owned.get(checkContainerId(id));
    if (mine) return held(mine);
    for (;;) {
      const s = await this.state(id);
      if (!LIVE.has(s.status)) return s.exitCode;
      if (signal?.aborted) throw new TryAgainError(`wait for container ${id} aborted`);
      await sleep(100);
    }
  }

  /** True once the container is not running, within ms. */
  private async waitStopped(id: string, ms: number): Promise<boolean> {
    const mine = this.owned.get(id);
    if (mine) {
      let timer: NodeJS.Timeout | undefined;
      const r = await Promise.race([mine.then(() => true), new Promise<false>((res) => (timer = setTimeout(() => res(false), ms)))]);
      clearTimeout(timer);
      return r;
    }
    const deadline = Date.now() + ms;
    for (;;) {
      if (!LIVE.has((await this.state(id)).status)) return true;
      if (Date.now() >= deadline) return false;
      await sleep(50);
    }
  }

  /** Sends a signal (e.g. 'SIGHUP') to the container's init; false when it is not running. */
  async kill(id: string, signal = 'SIGKILL'): Promise<boolean> {
    checkContainerId(id);
    return this.runc.kill(id, signal);
  }

  /**
   * Stops a running container: SIGTERM to its init, then SIGKILL after timeoutS seconds
   * (an init without a SIGTERM handler, PID 1 in its namespace, ignores SIGTERM). Idempotent.
   * The container stays (stopped) until remove().
   */
  async stop(id: string, timeoutS = 10): Promise<void> {
    checkContainerId(id);
    if (!LIVE.has((await this.state(id)).status)) return;
    if (await this.runc.kill(id, 'SIGTERM')) {
      if (await this.waitStopped(id, Math.max(0, timeoutS) * 1000)) return;
    }
    await this.runc.kill(id, 'SIGKILL');
    if (!(await this.waitStopped(id, 10_000))) throw new TryAgainError(`container ${id} did not stop after SIGKILL`);
  }

  /**
   * Removes a container: `runc delete --force` (kills it when `force`) and its dir with the
   * log. ConflictError when it is running and not `force`. Idempotent: false when nothing was
   * there. The netns and the bind-mounted files are the caller's to remove.
   */
  async remove(id: string, opts: { force?: boolean } = {}): Promise<boolean> {
    const s = await this.state(id);
    if (s.status === 'missing') return false;
    if (LIVE.has(s.status) && !opts.force) throw new ConflictError(`container ${id} is ${s.status}: stop it first or force`);
    await this.runc.delete(id);
    const mine = this.owned.get(id);
    if (mine) await Promise.race([held(mine), sleep(10_000)]);
    await rm(this.dir(id), { recursive: true, force: true });
    return true;
  }

  /**
   * Runs argv inside the running container (its namespaces, env, capabilities), capturing
   * stdout, stderr and the exit code (127 when the program cannot be started). NotFoundError
   * / ConflictError when the container is missing / not running.
   */
  async exec(id: string, argv: readonly string[], opts: ExecOptions = {}): Promise<RunResult> {
    checkContainerId(id);
    if (!Array.isArray(argv) || argv.length === 0 || argv.some((a) => typeof a !== 'string')) {
      throw new ConfigError('exec needs a non-empty argv of strings', 'argv');
    }
    return this.runc.exec(id, argv, opts.timeoutMs ?? 30_000, opts.env ?? []);
  }

  /** The whole log (stdout and stderr interleaved as written). NotFoundError without a dir. */
  async logs(id: string): Promise<string> {
    try {
      return await readFile(this.logPath(id), 'utf8');
    } catch (err) {
      if (errno(err) === 'ENOENT') throw new NotFoundError(`container ${id} not found`);
      throw err;
    }
  }

  /**
   * Streams the log to onChunk as it grows, until `until` settles (e.g. wait(id)), then
   * delivers what is left and resolves. Reads the file; holds nothing open between polls
   * except one read-only fd, closed on return.
   */
  async followLogs(id: string, onChunk: (chunk: Buffer) => void, until: Promise<unknown>, opts: FollowOptions = {}): Promise<void> {
    const file = this.logPath(id);
    let fh;
    try {
      fh = await open(file, 'r');
    } catch (err) {
      if (errno(err) === 'ENOENT') throw new NotFoundError(`container ${id} not found`);
      throw err;
    }
    let done = false;
    const settled = until.then(() => (done = true), () => (done = true));
    try {
      let pos = opts.fromStart === false ? (await stat(file)).size : 0;
      const buf = Buffer.alloc(64 * 1024);
      for (;;) {
        const finished = done;
        for (;;) {
          const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
          if (bytesRead === 0) break;
          pos += bytesRead;
          onChunk(Buffer.from(buf.subarray(0, bytesRead)));
        }
        if (finished) return;
        await Promise.race([settled, sleep(opts.pollMs ?? 100)]);
      }
    } finally {
      await fh.close();
    }
  }
}
