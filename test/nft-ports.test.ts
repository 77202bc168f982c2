// core/firewall PortMap (nftables maps over NETLINK_NETFILTER) against the real kernel,
// inside the throwaway host netns made by scripts/in-sandbox.mjs. Every test removes what
// it made; the last one tears the table down (the leak check flags any tsnet table).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { KernelError } from '../core/errors.js';
import { run, type Started } from '../core/exec/index.js';
import {
  Firewall, PortMap, networkRules, portRules, type NftPortMapping,
} from '../core/firewall/index.js';
import { createLink, deleteLink, hostNetlink } from '../core/netlink/index.js';
import { closeNetns, openNetns } from '../core/netns/index.js';
import { ask, dropSandbox, inNs, newSandbox, serve } from './helpers.js';

const t = suite('nft-ports');
const pm = new PortMap();

const A: NftPortMapping = { proto: 'tcp', hostPort: 18080, containerIp: '10.124.0.2', containerPort: 8080 };
const B: NftPortMapping = { proto: 'udp', hostIp: '127.0.0.1', hostPort: 15353, containerIp: '10.124.0.2', containerPort: 53 };

async function nftText(): Promise<string> {
  return (await run(['nft', 'list', 'table', 'inet', 'tsnet'])).stdout;
}

/** Elements of one map as `nft -j list map` shows them. */
async function mapElems(map: string): Promise<unknown[]> {
  const doc = JSON.parse((await run(['nft', '-j', 'list', 'map', 'inet', 'tsnet', map])).stdout) as { nftables: { map?: { elem?: unknown[] } }[] };
  return doc.nftables.flatMap((e) => e.map?.elem ?? []);
}

async function expectKernelError(p: Promise<unknown>, errno: number, op: RegExp): Promise<void> {
  try {
    await p;
  } catch (err) {
    assert.instance(err, KernelError);
    assert.is((err as KernelError).errno, errno);
    assert.match((err as KernelError).op, op);
    return;
  }
  assert.unreachable(`should fail with errno ${errno}`);
}

t.after(async () => {
  await pm.teardown();
});

t('ensure is idempotent and keeps map elements', async () => {
  await pm.ensure();
  const first = await nftText();
  await pm.ensure();
  assert.is(await nftText(), first);
  assert.match(first, /fib daddr type local jump ports/);
  await pm.add([A]);
  await pm.ensure();
  assert.equal(await pm.list(), [A]);
  await pm.remove([A]);
  assert.is(await nftText(), first);
});

t('add twice: present once; remove twice: gone, no error', async () => {
  await pm.ensure();
  await pm.add([A, B]);
  assert.equal(await mapElems('dnat4'), [[{ concat: ['tcp', 18080] }, { concat: ['10.124.0.2', 8080] }]]);
  assert.equal(await mapElems('dnat4ip'), [[{ concat: ['udp', '127.0.0.1', 15353] }, { concat: ['10.124.0.2', 53] }]]);
  await pm.add([A, B]);
  await pm.add([A, A]);
  assert.is((await mapElems('dnat4')).length, 1);
  assert.is((await mapElems('dnat4ip')).length, 1);
  assert.equal(await pm.list(), [A, B]);
  await pm.remove([A, B]);
  assert.equal(await mapElems('dnat4'), []);
  assert.equal(await mapElems('dnat4ip'), []);
  await pm.remove([A, B]);
  await pm.remove([A, A]);
  assert.equal(await pm.list(), []);
});

t('IPv6 mappings go to dnat6 / dnat6ip', async () => {
  await pm.ensure();
  const c: NftPortMapping = { proto: 'tcp', hostPort: 18080, containerIp: 'fd7e:0::2', containerPort: 8080 };
  const d: NftPortMapping = { proto: 'tcp', hostIp: 'fd7e::1', hostPort: 18081, containerIp: 'fd7e::2', containerPort: 8080 };
  await pm.add([c, d]);
  assert.equal(await mapElems('dnat6'), [[{ concat: ['tcp', 18080] }, { concat: ['fd7e::2', 8080] }]]);
  assert.equal(await mapElems('dnat6ip'), [[{ concat: ['tcp', 'fd7e::1', 18081] }, { concat: ['fd7e::2', 8080] }]]);
  await pm.remove([c, d]);
  assert.equal(await pm.list(), []);
});

t('a host port mapped elsewhere: add fails whole (EEXIST), remove leaves it alone', async () => {
  await pm.ensure();
  await pm.add([A]);
  const other = { ...A, containerIp: '10.124.0.3' };
  const fresh = { ...A, hostPort: 18090 };
  await expectKernelError(pm.add([fresh, other]), 17, /^add port mapping tcp \*:18080 -> 10\.124\.0\.3:8080$/);
  assert.equal(await pm.list(), [A], 'the batch was aborted: fresh not added');
  await pm.add([fresh]);
  // One pair is not ours (EEXIST, aborting the batch), the other is: removed on the re-send.
  await pm.remove([other, fresh]);
  assert.equal(await pm.list(), [A]);
  await pm.remove([A]);
  assert.equal(await pm.list(), []);
});

t('concurrent calls on the shared socket each get their own answers', async () => {
  await pm.ensure();
  await pm.add([A]);
  const many = Array.from({ length: 50 }, (_, i): NftPortMapping => ({ ...A, hostPort: 20000 + i }));
  await Promise.all(many.map((m) => pm.add([m])));
  assert.is((await pm.list()).length, 51);
  await Promise.all([
    ...many.map((m) => pm.remove([m])),
    expectKernelError(pm.add([{ ...A, containerIp: '10.124.0.9' }]), 17, /10\.124\.0\.9/),
    ...many.map((m) => pm.remove([m])),
  ]);
  assert.equal(await pm.list(), [A]);
  await pm.remove([A]);
});

t('without the table: add fails with ENOENT, remove and teardown succeed', async () => {
  await pm.teardown();
  await expectKernelError(pm.add([A]), 2, /^add port mapping/);
  await pm.remove([A, B]);
  await pm.teardown();
  assert.equal(await pm.list(), []);
  assert.not.match((await run(['nft', 'list', 'tables'])).stdout, /tsnet/);
});

// ---- end to end: DNAT to a listener inside a netns, next to the iptables chains ----

function sysctl(key: string, value?: string): string {
  const file = `/proc/sys/${key.replace(/\./g, '/')}`;
  const old = readFileSync(file, 'utf8').trim();
  if (value !== undefined) writeFileSync(file, value);
  return old;
}

/** Asks until an answer comes (the server may still be starting), bounded. */
async function answer(host: string, port: number): Promise<string | undefined> {
  for (let i = 0; i < 5; i++) {
    const got = await ask(undefined, 'tcp', host, port);
    if (got !== undefined) return got;
  }
  return undefined;
}

t('end to end: 127.0.0.1, host IPv4 and IPv6 addresses reach the netns; removed -> no answer', async () => {
  const saved = { localnet: sysctl('net.ipv4.conf.all.route_localnet'), fwd: sysctl('net.ipv4.ip_forward') };
  const path = await newSandbox('nftp');
  const fw = new Firewall();
  const net = { id: 'nftp', bridge: 'nftp-h0', subnets: ['10.124.0.0/24', 'fd7e::/64'], internal: false, icc: true, masquerade: true, protect: [4, 6] as const };
  const legacy = portRules({ bridge: 'nftp-h0', proto: 'tcp', hostPort: 18070, containerIp: '10.124.0.2', containerPort: 8080, family: 4 });
  let server: Started | undefined;
  try {
    const fd = openNetns(path);
    try {
      await createLink(hostNetlink(), { name: 'nftp-h0', kind: 'veth', up: true, veth: { peerName: 'eth0', peerNetnsFd: fd } });
    } finally {
      closeNetns(fd);
    }
    await run(['ip', 'addr', 'add', '10.124.0.1/24', 'dev', 'nftp-h0']);
    await run(['ip', 'addr', 'add', 'fd7e::1/64', 'dev', 'nftp-h0', 'nodad']);
    for (const argv of [
      ['ip', 'addr', 'add', '10.124.0.2/24', 'dev', 'eth0'], ['ip', 'addr', 'add', 'fd7e::2/64', 'dev', 'eth0', 'nodad'],
      ['ip', 'link', 'set', 'eth0', 'up'], ['ip', 'route', 'add', 'default', 'via', '10.124.0.1'],
      ['ip', '-6', 'route', 'add', 'default', 'via', 'fd7e::1'],
    ]) await inNs(path, argv);
    sysctl('net.ipv4.conf.all.route_localnet', '1');
    sysctl('net.ipv4.conf.nftp-h0.route_localnet', '1');
    sysctl('net.ipv4.ip_forward', '1');
    // The iptables chains (base, the network's masquerade of 127.0.0.1, one legacy DNAT) and
    // the nftables maps side by side.
    await fw.ensureBase();
    await fw.apply({ add: [...networkRules(net), legacy] });
    await pm.ensure();
    const v6any: NftPortMapping = { proto: 'tcp', hostPort: 18080, containerIp: 'fd7e::2', containerPort: 8080 };
    const v6ip: NftPortMapping = { proto: 'tcp', hostIp: 'fd7e::1', hostPort: 18081, containerIp: 'fd7e::2', containerPort: 8080 };
    const v4ip: NftPortMapping = { proto: 'tcp', hostIp: '10.124.0.1', hostPort: 18081, containerIp: '10.124.0.2', containerPort: 8080 };
    await pm.add([A, v4ip, v6any, v6ip]);
    server = await serve(path, 'tcp', 8080, 'hi');

    assert.is(await answer('127.0.0.1', 18080), 'hi', '127.0.0.1 -> any-address map');
    assert.is(await answer('10.124.0.1', 18080), 'hi', 'host address -> any-address map');
    assert.is(await answer('10.124.0.1', 18081), 'hi', 'host address -> address map');
    assert.is(await answer('fd7e::1', 18080), 'hi', 'IPv6 any-address map');
    assert.is(await answer('fd7e::1', 18081), 'hi', 'IPv6 address map');
    assert.is(await answer('127.0.0.1', 18070), 'hi', 'the iptables DNAT still works');
    assert.is(await ask(undefined, 'tcp', '127.0.0.1', 18081), undefined, 'address map: other address does not match');

    await pm.remove([A, v4ip, v6any, v6ip]);
    assert.is(await ask(undefined, 'tcp', '127.0.0.1', 18080), undefined);
    assert.is(await ask(undefined, 'tcp', '10.124.0.1', 18081), undefined);
    assert.is(await ask(undefined, 'tcp', 'fd7e::1', 18080), undefined);
    assert.is(await answer('127.0.0.1', 18070), 'hi', 'iptables DNAT unaffected');
  } finally {
    await server?.stop();
    await pm.teardown();
    await fw.teardown();
    await deleteLink(hostNetlink(), 'nftp-h0');
    dropSandbox(path);
    sysctl('net.ipv4.conf.all.route_localnet', saved.localnet);
    sysctl('net.ipv4.ip_forward', saved.fwd);
  }
});

// ---- cost: one add + one remove, with 0 and with 2000 mappings present ----

async function addRemoveMs(loops: number): Promise<number> {
  const m: NftPortMapping = { proto: 'tcp', hostPort: 9999, containerIp: '10.124.9.9', containerPort: 80 };
  const start = process.hrtime.bigint();
  for (let i = 0; i < loops; i++) {
    await pm.add([m]);
    await pm.remove([m]);
  }
  return Number(process.hrtime.bigint() - start) / 1e6 / loops;
}

t('measure: add+remove of one mapping with 0 and 2000 mappings present (printed, not asserted)', async () => {
  await pm.ensure();
  const empty = await addRemoveMs(200);
  const bulk = Array.from({ length: 2000 }, (_, i): NftPortMapping => ({
    proto: i % 2 ? 'udp' : 'tcp', hostPort: 30000 + Math.floor(i / 2), containerIp: `10.124.${(i >> 8) & 255}.${i & 255}`, containerPort: 80,
  }));
  let s = process.hrtime.bigint();
  await pm.add(bulk);
  const bulkAdd = Number(process.hrtime.bigint() - s) / 1e6;
  assert.is((await pm.list()).length, 2000);
  const full = await addRemoveMs(200);
  s = process.hrtime.bigint();
  await pm.remove(bulk);
  const bulkRemove = Number(process.hrtime.bigint() - s) / 1e6;
  assert.equal(await pm.list(), []);
  process.stderr.write(`nft-ports: add+remove of one mapping: ${empty.toFixed(3)} ms with 0 present, ${full.toFixed(3)} ms with 2000 present `
    + `(200 loops); add 2000 in one call: ${bulkAdd.toFixed(1)} ms; remove 2000: ${bulkRemove.toFixed(1)} ms\n`);
  await pm.teardown();
  assert.not.match((await run(['nft', 'list', 'tables'])).stdout, /tsnet/);
});

t.run();
