/**
 * Helpers for kernel tests. They run inside the throwaway host namespace made by
 * scripts/in-sandbox.mjs; sandboxes are netns bind-mounted under TSNET_RUN/netns-test.
 * Whatever a helper creates, the test removes (cleanup() below undoes a manager's world).
 */
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { packageRoot, paths } from '../core/index.js';
import { run, start, type Started } from '../core/exec/index.js';
import { createNetns, deleteNetns } from '../core/netns/index.js';
import { NetworkManager } from '../drivers/index.js';

const NETNS_DIR = join(paths().run, 'netns-test');
const NET_TOOL = join(packageRoot(), 'scripts', 'net-tool.mjs');

/** A new netns with lo up; remove it with dropSandbox. */
export async function newSandbox(name: string): Promise<string> {
  const path = join(NETNS_DIR, name);
  createNetns(path);
  await inNs(path, ['ip', 'link', 'set', 'lo', 'up']);
  return path;
}

export function dropSandbox(path: string): void {
  deleteNetns(path);
}

/** The addresses of linkOutside's veth: the test's host end, and the other host's. */
export const UPLINK_HOST_IP = '203.0.113.1';
export const UPLINK_OUTSIDE_IP = '203.0.113.2';

/** linkOutside's IPv6 addresses (with `ipv6`): the test's host end, and the other host's. */
export const UPLINK_HOST_IP6 = 'fd99::1';
export const UPLINK_OUTSIDE_IP6 = 'fd99::2';

/**
 * Makes the netns at `path` "another host": a veth from the test's host netns (`uplink`,
 * UPLINK_HOST_IP/24) to its eth0 (UPLINK_OUTSIDE_IP/24), both up; with `ipv6`, also
 * UPLINK_HOST_IP6/64 and UPLINK_OUTSIDE_IP6/64 (no DAD). The test deletes `uplink`.
 */
export async function linkOutside(path: string, uplink: string, opts: { ipv6?: boolean } = {}): Promise<void> {
  await inNs(undefined, ['ip', 'link', 'add', uplink, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', path]);
  await inNs(undefined, ['ip', 'addr', 'add', `${UPLINK_HOST_IP}/24`, 'dev', uplink]);
  await inNs(path, ['ip', 'addr', 'add', `${UPLINK_OUTSIDE_IP}/24`, 'dev', 'eth0']);
  if (opts.ipv6) {
    await inNs(undefined, ['ip', 'addr', 'add', `${UPLINK_HOST_IP6}/64`, 'dev', uplink, 'nodad']);
    await inNs(path, ['ip', 'addr', 'add', `${UPLINK_OUTSIDE_IP6}/64`, 'dev', 'eth0', 'nodad']);
  }
  await inNs(undefined, ['ip', 'link', 'set', uplink, 'up']);
  await inNs(path, ['ip', 'link', 'set', 'eth0', 'up']);
}

/** Runs argv inside the netns at `path` (or in the test's host netns when undefined). */
export function inNs(path: string | undefined, argv: string[], okCodes: number[] = []) {
  return run(path ? ['nsenter', `--net=${path}`, ...argv] : argv, { timeoutMs: 10_000, okCodes });
}

export async function canPing(path: string | undefined, ip: string): Promise<boolean> {
  const r = await inNs(path, ['ping', '-n', '-q', '-c', '1', '-W', '1', ip], [1, 2]);
  return r.exitCode === 0;
}

/** `ip -j ...` parsed, inside `path` or in the host netns. */
export async function ipJson<T = Record<string, unknown>[]>(path: string | undefined, args: string[]): Promise<T> {
  const r = await inNs(path, ['ip', '-j', ...args]);
  return JSON.parse(r.stdout || '[]') as T;
}

/**
 * Link names in `path` (or the host netns), once links retired by a tsnetd (renamed tsdead*:
 * its DEL answers before the kernel's slow delete, its reaper deletes them) are gone; the
 * wait is bounded (5 s), after which they are listed like any other link.
 */
export function linkNames(path?: string): Promise<string[]> {
  return settledLinks(path, []);
}

/** Like linkNames, of `ip link show ARGS` (e.g. ['type', 'veth'], ['master', 'br0']). */
export async function settledLinks(path: string | undefined, args: string[]): Promise<string[]> {
  let names: string[] = [];
  for (let i = 0; i < 50; i++) {
    names = (await ipJson<{ ifname: string }[]>(path, ['link', 'show', ...args])).map((l) => l.ifname);
    if (!names.some((n) => n.startsWith('tsdead'))) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return names;
}

export async function addrsOf(path: string | undefined, dev?: string): Promise<string[]> {
  const links = await ipJson<{ ifname: string; addr_info: { local: string; prefixlen: number; scope: string }[] }[]>(path, ['addr', 'show', ...(dev ? ['dev', dev] : [])]);
  return links.flatMap((l) => l.addr_info.filter((a) => a.scope !== 'host' && a.scope !== 'link').map((a) => `${a.local}/${a.prefixlen}`));
}

/**
 * tsnet's whole firewall state as text: `iptables-save` (without its "# Generated ... on
 * <time>" comments, so two dumps compare equal) and tsnet's nftables table, where published
 * ports live as map elements (`tcp . 18080 : 10.0.0.2 . 80`).
 */
export async function firewallDump(): Promise<string> {
  const ipt = (await run(['iptables-save'])).stdout.split('\n').filter((l) => !l.startsWith('#')).join('\n');
  const nft = await run(['nft', 'list', 'table', 'inet', 'tsnet'], { okCodes: [1] });
  return nft.exitCode === 0 ? `${ipt}\n${nft.stdout}` : ipt;
}

/** The published-port elements of tsnet's nftables maps, one `proto . [hostIp .] port : ip . port` each. */
export async function publishedPorts(): Promise<string[]> {
  const nft = await run(['nft', 'list', 'table', 'inet', 'tsnet'], { okCodes: [1] });
  return [...nft.stdout.matchAll(/(?:tcp|udp) \. [^,}\n]+/g)].map((m) => m[0].trim());
}

/** Starts the net tool's server in a netns and waits until it listens. */
export async function serve(path: string, proto: 'tcp' | 'udp', port: number, text: string): Promise<Started> {
  const p = start(['nsenter', `--net=${path}`, process.execPath, NET_TOOL, `serve-${proto}`, String(port), text]);
  for (let i = 0; i < 100 && !p.output().stdout.includes('ready'); i++) await new Promise((r) => setTimeout(r, 20));
  if (!p.output().stdout.includes('ready')) {
    await p.stop();
    throw new Error(`server did not start: ${p.output().stderr}`);
  }
  return p;
}

/**
 * Asks a server (tcp or udp) from netns `path` (undefined: the host); undefined when no answer.
 * UDP with `sourcePort`: every ask is the same flow (one conntrack entry).
 */
export async function ask(path: string | undefined, proto: 'tcp' | 'udp', host: string, port: number, sourcePort?: number): Promise<string | undefined> {
  const r = await inNs(path, [process.execPath, NET_TOOL, proto, host, String(port), ...(sourcePort === undefined ? [] : [String(sourcePort)])], [1]);
  return r.exitCode === 0 ? r.stdout : undefined;
}

/** The error code of binding (TCP: listening on) host:port in the test's host netns, or undefined (bound, then closed). */
export async function bindError(proto: 'tcp' | 'udp', host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const done = (err?: NodeJS.ErrnoException) => resolve(err?.code ?? (err ? String(err) : undefined));
    if (proto === 'tcp') {
      const server = createServer();
      server.once('error', done);
      server.listen({ host, port }, () => server.close(() => done()));
    } else {
      const sock = createSocket('udp4');
      sock.once('error', (err) => { sock.close(); done(err); });
      sock.bind({ address: host, port }, () => sock.close(() => done()));
    }
  });
}

/** A manager over its own fresh database file. */
export function newManager(): { mgr: NetworkManager; dbFile: string } {
  const dbFile = join(paths().root, `test-${randomBytes(4).toString('hex')}.db`);
  return { mgr: NetworkManager.open(dbFile), dbFile };
}

/** Detaches every endpoint and removes every network the manager knows; deletes its database. */
export async function cleanup(mgr: NetworkManager, dbFile: string, opts: { firewall?: boolean } = {}): Promise<void> {
  for (const ep of mgr.listEndpoints()) await mgr.detach(ep.id);
  for (const n of mgr.listNetworks()) await mgr.removeNetwork(n.id);
  // tsnet's chains are shared by every store in this netns: a second store cleaned up while the
  // test file's manager lives passes firewall: false (the file's own cleanup removes them).
  if (opts.firewall !== false) await mgr.teardownFirewall();
  mgr.close();
  for (const suffix of ['', '-wal', '-shm']) rmSync(dbFile + suffix, { force: true });
}
