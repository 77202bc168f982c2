/**
 * Unit tests (pure) for the OCI spec and the name checks.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError } from '../../core/errors.js';
import { createSpec, DEFAULT_CAPABILITIES, mergeEnv, type SpecOptions } from './spec.js';
import { checkContainerId, checkHostname, checkImageName } from './names.js';

const base: SpecOptions = { id: 'c1', rootfs: '/var/lib/tsnet/images/busybox/rootfs', args: ['sh', '-c', 'echo hi'], netns: '/run/tsnet/netns/s1' };

function field(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    assert.instance(err, ConfigError);
    return (err as ConfigError).field;
  }
  assert.unreachable('expected a ConfigError');
  return undefined;
}

test('namespaces: sandbox netns joined by path, pid/ipc/mount/uts new', () => {
  const s = createSpec(base);
  assert.equal(s.linux.namespaces, [
    { type: 'pid' }, { type: 'ipc' }, { type: 'mount' }, { type: 'uts' }, { type: 'network', path: '/run/tsnet/netns/s1' },
  ]);
  assert.is(s.hostname, 'c1');
  assert.is(s.ociVersion, '1.0.2');
});

test("netns 'host': no network and no uts namespace, no hostname", () => {
  const s = createSpec({ ...base, netns: 'host', hostname: 'web' });
  assert.equal(s.linux.namespaces.map((n) => n.type), ['pid', 'ipc', 'mount']);
  assert.is(s.hostname, undefined);
  assert.not.ok(s.process.env.some((e) => e.startsWith('HOSTNAME=')));
});

test('process: argv, env merge, Docker capabilities incl. NET_RAW, cap-add', () => {
  const s = createSpec({ ...base, hostname: 'web', env: ['FOO=1', 'PATH=/bin'], capAdd: ['net_admin', 'CAP_NET_RAW'] });
  assert.equal(s.process.args, ['sh', '-c', 'echo hi']);
  assert.equal(s.process.env, ['PATH=/bin', 'HOME=/root', 'HOSTNAME=web', 'FOO=1']);
  assert.ok(s.process.capabilities.bounding.includes('CAP_NET_RAW'));
  assert.ok(s.process.capabilities.effective.includes('CAP_NET_ADMIN'));
  assert.is(s.process.capabilities.permitted.length, DEFAULT_CAPABILITIES.length + 1);
  assert.equal(s.process.capabilities.ambient, []);
  assert.equal(s.process.user, { uid: 0, gid: 0 });
  assert.is(s.process.terminal, false);
});

test('root read-only, standard mounts, bind-mounted /etc files, no resources but devices', () => {
  const s = createSpec({ ...base, files: { hosts: '/x/hosts', resolvConf: '/x/resolv.conf', hostname: '/x/hostname' } });
  assert.equal(s.root, { path: base.rootfs, readonly: true });
  const byDest = new Map(s.mounts.map((m) => [m.destination, m]));
  for (const [d, t] of [['/proc', 'proc'], ['/dev', 'tmpfs'], ['/dev/pts', 'devpts'], ['/dev/shm', 'tmpfs'], ['/dev/mqueue', 'mqueue'], ['/sys', 'sysfs'], ['/tmp', 'tmpfs']]) {
    assert.is(byDest.get(d as string)?.type, t, d);
  }
  assert.equal(byDest.get('/etc/hosts'), { destination: '/etc/hosts', type: 'bind', source: '/x/hosts', options: ['rbind', 'rprivate'] });
  assert.is(byDest.get('/etc/resolv.conf')?.source, '/x/resolv.conf');
  assert.is(byDest.get('/etc/hostname')?.source, '/x/hostname');
  assert.ok(s.mounts.findIndex((m) => m.destination === '/dev') < s.mounts.findIndex((m) => m.destination === '/dev/pts'), '/dev before /dev/pts');
  assert.equal(Object.keys(s.linux.resources), ['devices']);
  assert.is(s.linux.cgroupsPath, undefined);
  assert.is(createSpec({ ...base, cgroupsPath: 'tsnet/c1' }).linux.cgroupsPath, 'tsnet/c1');
  assert.ok(s.linux.maskedPaths.includes('/proc/kcore'));
  assert.ok(s.linux.readonlyPaths.includes('/proc/sys'));
});

test('only the files given are bind-mounted', () => {
  const s = createSpec({ ...base, files: { resolvConf: '/x/resolv.conf' } });
  assert.equal(s.mounts.filter((m) => m.type === 'bind').map((m) => m.destination), ['/etc/resolv.conf']);
});

test('bad input is a ConfigError naming the field', () => {
  assert.is(field(() => createSpec({ ...base, id: '../x' })), 'id');
  assert.is(field(() => createSpec({ ...base, args: [] })), 'args');
  assert.is(field(() => createSpec({ ...base, args: [''] })), 'args');
  assert.is(field(() => createSpec({ ...base, env: ['NOEQUALS'] })), 'env');
  assert.is(field(() => createSpec({ ...base, env: ['=x'] })), 'env');
  assert.is(field(() => createSpec({ ...base, hostname: 'bad_name!' })), 'hostname');
  assert.is(field(() => createSpec({ ...base, netns: 'relative/path' })), 'netns');
  assert.is(field(() => createSpec({ ...base, rootfs: '/a/../b' })), 'rootfs');
  assert.is(field(() => createSpec({ ...base, files: { hosts: 'hosts' } })), 'files.hosts');
  assert.is(field(() => createSpec({ ...base, capAdd: ['NET ADMIN'] })), 'capAdd');
});

test('mergeEnv: later keys win, order of first appearance kept', () => {
  assert.equal(mergeEnv(['A=1', 'B=2'], ['B=3', 'C=4', 'A=5']), ['A=5', 'B=3', 'C=4']);
  assert.equal(mergeEnv([], ['X=a=b']), ['X=a=b']);
});

test('names: images, container ids, hostnames', () => {
  assert.is(checkImageName('busybox'), 'busybox');
  assert.is(checkImageName('my-img_1.0:latest'), 'my-img_1.0:latest');
  for (const bad of ['', 'Busybox', '.hidden', 'a/b', '..', 'x'.repeat(129)]) {
    assert.is(field(() => checkImageName(bad, 'Name')), 'Name', bad);
  }
  assert.is(checkContainerId('a'.repeat(64)), 'a'.repeat(64));
  for (const bad of ['', '-x', 'a/b', 'a b', '.']) assert.is(field(() => checkContainerId(bad)), 'id', bad);
  assert.is(checkHostname('web-1.example'), 'web-1.example');
  for (const bad of ['-web', 'web-', 'a..b', 'x'.repeat(65)]) assert.is(field(() => checkHostname(bad)), 'hostname', bad);
});

test.run();
