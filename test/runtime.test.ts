/**
 * Kernel tests for engine/runtime: images and runc containers, inside the sandbox's
 * throwaway host netns (scripts/in-sandbox.mjs keeps the cgroup mounts runc needs). Each test
 * stops and removes its containers, links and netns; images stay in the temp TSNET_ROOT.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, lstatSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { packageRoot, paths } from '../core/index.js';
import { ConfigError, ConflictError, NotFoundError } from '../core/errors.js';
import { run, start } from '../core/exec/index.js';
import { createNetns, deleteNetns } from '../core/netns/index.js';
import { ContainerRuntime, ImageStore } from '../engine/runtime/index.js';

const NS_DIR = join(paths().run, 'netns-runtime');
const images = new ImageStore();
const rt = new ContainerRuntime({ images });

const made: string[] = [];
const newId = (): string => {
  const id = `rt-${randomBytes(4).toString('hex')}`;
  made.push(id);
  return id;
};

async function newNetns(): Promise<string> {
  const path = join(NS_DIR, randomBytes(4).toString('hex'));
  createNetns(path);
  await run(['nsenter', `--net=${path}`, 'ip', 'link', 'set', 'lo', 'up']);
  return path;
}

/** What runc itself says about the container (not through the runtime). */
async function runcSays(id: string): Promise<string> {
  const r = await run(rt.runc.argv('state', id), { okCodes: [1] });
  return r.exitCode === 0 ? (JSON.parse(r.stdout) as { status: string }).status : r.stderr.includes('does not exist') ? 'missing' : r.stderr;
}

async function cleanup(id: string, netns?: string): Promise<void> {
  await rt.remove(id, { force: true });
  if (netns) deleteNetns(netns);
}

/** Asserts that the promise rejects with an error matching pred. */
async function rejects(p: Promise<unknown>, pred: (e: unknown) => boolean): Promise<void> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  assert.ok(err !== undefined, 'expected a rejection');
  assert.ok(pred(err), `unexpected error: ${String(err)}`);
}

function code(err: unknown): string {
  return (err as { code?: string }).code ?? String(err);
}

test('busybox image: binary, applet links, passwd, mount point dirs; idempotent', async () => {
  const img = await images.ensureBusyboxImage();
  assert.is(img.name, 'busybox');
  assert.ok(img.id.startsWith('sha256:'));
  assert.ok(img.size > 500_000, `size ${img.size}`);
  assert.ok(statSync(join(img.rootfs, 'bin', 'busybox')).isFile());
  assert.is(readlinkSync(join(img.rootfs, 'bin', 'sh')), 'busybox');
  assert.is(readlinkSync(join(img.rootfs, 'bin', 'ip')), 'busybox');
  for (const d of ['proc', 'sys', 'dev', 'tmp', 'etc']) assert.ok(lstatSync(join(img.rootfs, d)).isDirectory(), d);
  assert.is(statSync(join(img.rootfs, 'tmp')).mode & 0o7777, 0o1777);
  for (const f of ['etc/passwd', 'etc/group', 'etc/hosts', 'etc/resolv.conf', 'etc/hostname']) assert.ok(existsSync(join(img.rootfs, f)), f);
  assert.equal(await images.ensureBusyboxImage(), img);
  assert.ok((await images.listImages()).some((i) => i.name === 'busybox'));
  await rejects(images.getImage('nope'), (e: unknown) => e instanceof NotFoundError);
});

test('import from a directory, a .tar and a .tar.gz; bad names; conflicts; remove', async () => {
  const bb = await images.ensureBusyboxImage();
  const tar = join(paths().root, 'bb.tar');
  const tgz = join(paths().root, 'bb.tar.gz');
  await run(['tar', '-cf', tar, '-C', bb.rootfs, '.']);
  await run(['tar', '-czf', tgz, '-C', bb.rootfs, '.']);
  const fromDir = await images.importImage(bb.rootfs, 'bb-dir');
  const fromTar = await images.importImage(tar, 'bb-tar');
  const fromTgz = await images.importImage(tgz, 'bb-tgz:1');
  for (const img of [fromDir, fromTar, fromTgz]) {
    assert.is(readlinkSync(join(img.rootfs, 'bin', 'sh')), 'busybox', img.name);
    assert.ok(statSync(join(img.rootfs, 'bin', 'busybox')).mode & 0o100, img.name);
  }
  assert.is.not(fromTar.id, fromTgz.id);
  const names = (await images.listImages()).map((i) => i.name);
  for (const n of ['bb-dir', 'bb-tar', 'bb-tgz:1', 'busybox']) assert.ok(names.includes(n), n);
  await rejects(images.importImage(tar, 'Bad/Name'), (e: unknown) => e instanceof ConfigError && e.field === 'name');
  await rejects(images.importImage('relative.tar', 'x'), (e: unknown) => e instanceof ConfigError && e.field === 'src');
  await rejects(images.importImage('/nonexistent.tar', 'x'), (e: unknown) => e instanceof ConfigError && e.field === 'src');
  await rejects(images.importImage('/etc/hostname', 'x'), (e: unknown) => e instanceof ConfigError && e.field === 'src');
  await rejects(images.importImage(tar, 'bb-dir'), (e: unknown) => e instanceof ConflictError);
  for (const n of ['bb-dir', 'bb-tar', 'bb-tgz:1']) await images.removeImage(n);
  assert.not.ok(existsSync(fromDir.rootfs));
  await rejects(images.removeImage('bb-dir'), (e: unknown) => e instanceof NotFoundError);
});

test('a container in a fresh netns runs `echo hi`: log, exit code 0, remove', async () => {
  await images.ensureBusyboxImage();
  const id = newId();
  const netns = await newNetns();
  try {
    const { dir } = await rt.create({ id, image: 'busybox', args: ['echo', 'hi'], netns });
    assert.ok(existsSync(join(dir, 'config.json')));
    assert.is((await rt.state(id)).status, 'created');
    await rejects(rt.create({ id, image: 'busybox', args: ['true'], netns }), (e: unknown) => e instanceof ConflictError);
    await rt.start(id);
    assert.is(await rt.wait(id), 0);
    assert.is(await rt.logs(id), 'hi\n');
    const s = await rt.state(id);
    assert.is(s.status, 'stopped');
    assert.is(s.exitCode, 0);
    assert.ok(s.finishedAt);
    assert.is(await runcSays(id), 'stopped');
    assert.is(await rt.remove(id), true);
    assert.is(await runcSays(id), 'missing');
    assert.not.ok(existsSync(dir));
    assert.is((await rt.state(id)).status, 'missing');
    assert.is(await rt.remove(id), false);
  } finally {
    await cleanup(id, netns);
  }
});

test('a long-running container: exec sees the netns, hostname and files; stop, remove', async () => {
  await images.ensureBusyboxImage();
  const id = newId();
  const netns = await newNetns();
  const filesDir = join(paths().root, `files-${id}`);
  await mkdir(filesDir, { recursive: true });
  const files = { hosts: join(filesDir, 'hosts'), resolvConf: join(filesDir, 'resolv.conf'), hostname: join(filesDir, 'hostname') };
  await writeFile(files.hosts, '127.0.0.1\tlocalhost\n10.213.250.2\tweb1\n');
  await writeFile(files.resolvConf, 'nameserver 10.213.250.1\n');
  await writeFile(files.hostname, 'web1\n');
  const inNs = (argv: string[]) => run(['nsenter', `--net=${netns}`, ...argv]);
  await inNs(['ip', 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1']);
  await inNs(['ip', 'addr', 'add', '10.213.250.2/24', 'dev', 'eth0']);
  await inNs(['ip', 'link', 'set', 'eth0', 'up']);
  await inNs(['ip', 'link', 'set', 'eth1', 'up']);
  try {
    await rt.create({ id, image: 'busybox', args: ['sleep', '30'], netns, hostname: 'web1', files, env: ['GREETING=hello'] });
    const { pid } = await rt.start(id);
    const s = await rt.state(id);
    assert.is(s.status, 'running');
    assert.is(s.pid, pid);
    assert.is(await runcSays(id), 'running');
    await rejects(rt.start(id), (e: unknown) => e instanceof ConflictError);
    await rejects(rt.remove(id), (e: unknown) => e instanceof ConflictError);

    const addr = await rt.exec(id, ['ip', '-o', 'addr', 'show']);
    assert.is(addr.exitCode, 0);
    assert.match(addr.stdout, /eth0\s+inet 10\.213\.250\.2\/24/);
    const links = await rt.exec(id, ['ip', '-o', 'link', 'show']);
    assert.equal(links.stdout.trim().split('\n').map((l) => l.split(': ')[1]?.split('@')[0]).sort(), ['eth0', 'eth1', 'lo']);
    assert.is((await rt.exec(id, ['hostname'])).stdout, 'web1\n');
    assert.is((await rt.exec(id, ['cat', '/etc/hosts'])).stdout, '127.0.0.1\tlocalhost\n10.213.250.2\tweb1\n');
    assert.is((await rt.exec(id, ['cat', '/etc/resolv.conf'])).stdout, 'nameserver 10.213.250.1\n');
    assert.is((await rt.exec(id, ['cat', '/etc/hostname'])).stdout, 'web1\n');
    assert.is((await rt.exec(id, ['sh', '-c', 'echo $GREETING $HOSTNAME'])).stdout, 'hello web1\n');
    const ping = await rt.exec(id, ['ping', '-c', '1', '-W', '2', '10.213.250.2']);
    assert.is(ping.exitCode, 0, `ping (NET_RAW): ${ping.stdout}${ping.stderr}`);
    assert.is((await rt.exec(id, ['sh', '-c', 'echo x > /tmp/x && cat /tmp/x'])).stdout, 'x\n');
    assert.is.not((await rt.exec(id, ['sh', '-c', 'echo x > /bin/x'])).exitCode, 0, 'root is read-only');
    const err = await rt.exec(id, ['sh', '-c', 'echo out; echo err >&2; exit 3']);
    assert.equal(err, { stdout: 'out\n', stderr: 'err\n', exitCode: 3 });
    const missing = await rt.exec(id, ['no-such-program']);
    assert.is(missing.exitCode, 127);
    assert.match(missing.stderr, /no-such-program/);

    await rt.stop(id, 1); // sleep is PID 1 and ignores SIGTERM: SIGKILL after 1 s
    const stopped = await rt.state(id);
    assert.is(stopped.status, 'stopped');
    assert.is(stopped.exitCode, 137, 'is build/Release/tsnet_exit_monitor built? npm install runs node-gyp');
    await rt.stop(id, 1); // idempotent
    await rejects(rt.exec(id, ['true']), (e: unknown) => e instanceof ConflictError);
    await rt.remove(id);
    assert.is(await runcSays(id), 'missing');
    assert.not.ok(existsSync(rt.dir(id)));
    await rejects(rt.exec(id, ['true']), (e: unknown) => e instanceof NotFoundError);
  } finally {
    await cleanup(id, netns);
  }
});

test("netns 'host': the container sees the host's links", async () => {
  await images.ensureBusyboxImage();
  const id = newId();
  await run(['ip', 'link', 'add', 'rt-host0', 'type', 'veth', 'peer', 'name', 'rt-host1']);
  try {
    await rt.create({ id, image: 'busybox', args: ['ip', '-o', 'link', 'show'], netns: 'host' });
    await rt.start(id);
    assert.is(await rt.wait(id), 0);
    const out = await rt.logs(id);
    assert.match(out, /rt-host0/);
    assert.match(out, /rt-host1/);
  } finally {
    await cleanup(id);
    await run(['ip', 'link', 'del', 'rt-host0'], { okCodes: [1] });
  }
});

test('followLogs streams output until the container exits; restart appends', async () => {
  await images.ensureBusyboxImage();
  const id = newId();
  const netns = await newNetns();
  try {
    await rt.create({ id, image: 'busybox', args: ['sh', '-c', 'echo a; sleep 0.3; echo b >&2'], netns });
    await rt.start(id);
    const chunks: string[] = [];
    await rt.followLogs(id, (c) => chunks.push(c.toString()), rt.wait(id), { pollMs: 20 });
    assert.is(chunks.join(''), 'a\nb\n');
    assert.ok(chunks.length >= 2, 'delivered as it came');
    await rt.start(id); // a stopped container starts again; its log grows
    assert.is(await rt.wait(id), 0);
    assert.is(await rt.logs(id), 'a\nb\na\nb\n');
  } finally {
    await cleanup(id, netns);
  }
});

test('a program that does not exist: start fails with a ConfigError on args', async () => {
  await images.ensureBusyboxImage();
  const id = newId();
  const netns = await newNetns();
  try {
    await rt.create({ id, image: 'busybox', args: ['/no/such/program'], netns });
    await rejects(rt.start(id), (e: unknown) => e instanceof ConfigError && e.field === 'args' && /no\/such\/program/.test(e.message));
    assert.is((await rt.state(id)).status, 'stopped');
  } finally {
    await cleanup(id, netns);
  }
  assert.is(await runcSays(id), 'missing');
});

test('an image in use cannot be removed', async () => {
  const bb = await images.ensureBusyboxImage();
  await images.importImage(bb.rootfs, 'bb-used');
  const id = newId();
  try {
    await rt.create({ id, image: 'bb-used', args: ['true'], netns: 'host' });
    await rejects(images.removeImage('bb-used'), (e: unknown) => e instanceof ConflictError && /rt-/.test(String(e)));
    await rejects(rt.create({ id: newId(), image: 'nope', args: ['true'], netns: 'host' }), (e: unknown) => code(e) === 'not-found');
    // never started: stop is a no-op, remove needs no force
    await rt.stop(id, 0);
    assert.is((await rt.state(id)).status, 'created');
    assert.is(await rt.remove(id), true);
  } finally {
    await cleanup(id);
  }
  await images.removeImage('bb-used');
});

test('a container outlives the process that started it (kill -9), and is found again', async () => {
  await images.ensureBusyboxImage();
  const id = newId();
  const netns = await newNetns();
  const entry = join(packageRoot(), 'dist', 'engine', 'runtime', 'index.js');
  const code = `
    const { ContainerRuntime } = await import(${JSON.stringify(entry)});
    const rt = new ContainerRuntime();
    await rt.create({ id: ${JSON.stringify(id)}, image: 'busybox', args: ['sleep', '30'], netns: ${JSON.stringify(netns)} });
    const { pid } = await rt.start(${JSON.stringify(id)});
    process.stdout.write(pid + '\\n', () => process.kill(process.pid, 'SIGKILL'));`;
  try {
    const starter = start([process.execPath, '--input-type=module', '-e', code]);
    const status = await starter.exited;
    assert.is(status, null, `starter killed by a signal: ${starter.output().stderr}`);
    const pid = Number(starter.output().stdout.trim());
    assert.ok(pid > 0, starter.output().stderr);
    const later = new ContainerRuntime({ images }); // a "restarted daemon"
    const s = await later.state(id);
    assert.is(s.status, 'running');
    assert.is(s.pid, pid);
    process.kill(pid, 0); // alive (throws otherwise)
    assert.ok((await later.list()).some((c) => c.id === id && c.status === 'running'));
    const exec = await later.exec(id, ['cat', '/proc/1/cmdline']);
    assert.is(exec.stdout, 'sleep\u000030\u0000');
    await later.stop(id, 0);
    const stopped = await later.state(id);
    assert.is(stopped.status, 'stopped');
    // Known to a process that did not start it: the exit monitor recorded it (SIGKILL: sleep as PID 1 ignores SIGTERM).
    assert.is(stopped.exitCode, 137);
    assert.ok(stopped.finishedAt !== null && Date.parse(stopped.finishedAt) <= Date.now());
    assert.is(await later.wait(id), 137);
    await later.remove(id);
    assert.is(await runcSays(id), 'missing');
  } finally {
    await cleanup(id, netns);
  }
});

test('bad input: ConfigErrors naming the field', async () => {
  await rejects(rt.create({ id: 'a/b', image: 'busybox', args: ['true'], netns: 'host' }), (e: unknown) => e instanceof ConfigError && e.field === 'id');
  await rejects(rt.create({ id: newId(), image: 'busybox', args: [], netns: 'host' }), (e: unknown) => e instanceof ConfigError && e.field === 'args');
  await rejects(rt.create({ id: newId(), image: 'Bad!', args: ['true'], netns: 'host' }), (e: unknown) => e instanceof ConfigError && e.field === 'name');
  await rejects(rt.start(newId()), (e: unknown) => e instanceof NotFoundError);
  await rejects(rt.logs(newId()), (e: unknown) => e instanceof NotFoundError);
  assert.is(code(await rt.state('zz').then(() => 'ok')), 'ok');
});

test('no cgroup of any container left behind (runc delete removed them)', () => {
  // runc puts a container's cgroup at <runc's own cgroup>/<id> in each hierarchy.
  const own = readFileSync('/proc/self/cgroup', 'utf8').split('\n').find((l) => /^\d+:pids:/.test(l))?.split(':')[2] ?? '/';
  assert.ok(made.length > 5);
  for (const id of made) assert.not.ok(existsSync(join('/sys/fs/cgroup/pids', own, id)), `cgroup pids/${id}`);
});

test.run();
