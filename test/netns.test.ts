/**
 * Kernel tests for core/netns, inside the sandbox's throwaway host netns. Each test removes
 * the namespaces and links it made.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { paths } from '../core/index.js';
import { run } from '../core/exec/index.js';
import { ConfigError, ConflictError, NotFoundError } from '../core/errors.js';
import * as nl from '../core/netlink/index.js';
import {
  closeNetns, createNetns, deleteNetns, isNetns, netlinkIn, netnsInode, openNetns, sysctlGet, sysctlSet, withNetns,
} from '../core/netns/index.js';

const NS_DIR = join(paths().run, 'netns-ns');

async function linksIn(ns: string | undefined): Promise<string[]> {
  const argv = ['ip', '-j', 'link', 'show'];
  const r = await run(ns ? ['nsenter', `--net=${ns}`, ...argv] : argv, { timeoutMs: 10_000 });
  return (JSON.parse(r.stdout) as { ifname: string }[]).map((l) => l.ifname);
}

test('create, inspect, delete (idempotent)', async () => {
  const path = join(NS_DIR, 'a');
  createNetns(path);
  try {
    assert.ok(isNetns(path));
    assert.not.ok(isNetns('/etc/hostname'));
    assert.not.ok(isNetns(join(NS_DIR, 'missing')));
    assert.throws(() => createNetns(path), (e: unknown) => e instanceof ConflictError);
    assert.equal(await linksIn(path), ['lo']);
    const fd = openNetns(path);
    try {
      assert.is.not(netnsInode(fd), netnsInode(), 'a different netns than ours');
      const fd2 = openNetns(path);
      assert.is(netnsInode(fd2), netnsInode(fd), 'the bind mount pins one netns');
      closeNetns(fd2);
      const r = await run(['nsenter', `--net=${path}`, 'readlink', '/proc/self/ns/net']);
      assert.is(r.stdout.trim(), `net:[${netnsInode(fd)}]`);
    } finally {
      closeNetns(fd);
    }
  } finally {
    assert.is(deleteNetns(path), true);
  }
  assert.is(deleteNetns(path), false);
  assert.not.ok(existsSync(path));
  assert.not.ok(isNetns(path));
  assert.throws(() => openNetns(path), (e: unknown) => e instanceof NotFoundError);
  assert.throws(() => openNetns('/etc/hostname'), (e: unknown) => e instanceof ConfigError);
});

test('withNetns switches the thread and always switches back', () => {
  const path = join(NS_DIR, 'b');
  createNetns(path);
  const fd = openNetns(path);
  const host = netnsInode();
  try {
    assert.is(withNetns(fd, () => netnsInode()), netnsInode(fd));
    assert.is(netnsInode(), host);
    assert.throws(() => withNetns(fd, () => { throw new RangeError('boom'); }), (e: unknown) => e instanceof RangeError);
    assert.is(netnsInode(), host, 'restored after a throw');
    assert.is(withNetns(fd, () => withNetns(fd, () => 7)), 7, 'nested');
    assert.is(netnsInode(), host);
    assert.throws(() => withNetns(fd, () => Promise.resolve(1)), (e: unknown) => e instanceof ConfigError);
    assert.throws(() => withNetns(9999, () => 1), (e: unknown) => (e as { errno?: number }).errno === 9);
    assert.is(netnsInode(), host);
  } finally {
    closeNetns(fd);
    deleteNetns(path);
  }
});

test('netlinkIn: links made through it exist in that netns, not in the host', async () => {
  const path = join(NS_DIR, 'c');
  createNetns(path);
  const fd = openNetns(path);
  const h = netlinkIn(fd, path);
  try {
    assert.is(h.netns, path);
    await nl.createLink(h, { name: 'inside0', kind: 'veth', veth: { peerName: 'inside1' } });
    await nl.createLink(h, { name: 'insbr', kind: 'bridge', up: true });
    assert.equal((await linksIn(path)).sort(), ['insbr', 'inside0', 'inside1', 'lo']);
    const host = await linksIn(undefined);
    assert.not.ok(host.includes('inside0') || host.includes('insbr'));
    assert.is(await nl.getLink(nl.hostNetlink(), 'inside0'), undefined);
    assert.ok((await nl.listLinks(h)).some((l) => l.name === 'insbr' && l.up));
  } finally {
    h.close();
    h.close();
    closeNetns(fd);
    deleteNetns(path);
  }
  // a closed handle refuses work
  try {
    await nl.listLinks(h);
    assert.unreachable('closed handle');
  } catch (err) {
    assert.is((err as { errno?: number }).errno, 9);
  }
});

test('sysctl in a netns writes that netns only', async () => {
  const path = join(NS_DIR, 'd');
  createNetns(path);
  const fd = openNetns(path);
  const hostBefore = sysctlGet('net.ipv4.ip_forward');
  try {
    sysctlSet('net.ipv4.ip_forward', hostBefore === '1' ? '0' : '1', fd);
    const want = hostBefore === '1' ? '0' : '1';
    assert.is(sysctlGet('net.ipv4.ip_forward', fd), want);
    assert.is(sysctlGet('net.ipv4.ip_forward'), hostBefore);
    assert.is(readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim(), hostBefore);
    const r = await run(['nsenter', `--net=${path}`, 'cat', '/proc/sys/net/ipv4/ip_forward']);
    assert.is(r.stdout.trim(), want);
    sysctlSet('net/ipv6/conf/lo/disable_ipv6', '1', fd);
    assert.is(sysctlGet('net.ipv6.conf.lo.disable_ipv6', fd), '1');
    assert.throws(() => sysctlGet('net.ipv4.no_such_key', fd), (e: unknown) => (e as { errno?: number }).errno === 2);
    assert.throws(() => sysctlSet('net/../../x', '1'), (e: unknown) => e instanceof ConfigError);
  } finally {
    closeNetns(fd);
    deleteNetns(path);
  }
});

test('nothing left behind', async () => {
  assert.equal(existsSync(NS_DIR) ? readdirSync(NS_DIR) : [], []);
  assert.equal(await linksIn(undefined), ['lo']);
});

test.run();
