// All-or-nothing attach: each kernel step fails in turn and leaves nothing behind;
// parallel attaches get unique addresses; detach survives a vanished netns.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ConflictError, KernelError } from '../core/index.js';
import { BRIDGE_MAX_PORTS, setFaultInjector, type NetworkManager } from '../drivers/index.js';
import { addrsOf, cleanup, dropSandbox, firewallDump, inNs, linkNames, newManager, newSandbox } from './helpers.js';

const t = suite('attach faults and concurrency');
let mgr: NetworkManager;
let dbFile: string;
let bridge: string;
const sbs: string[] = [];

t.before(async () => {
  ({ mgr, dbFile } = newManager());
  const net = await mgr.createNetwork({ name: 'faults', subnets: [{ subnet: '10.213.70.0/24' }] });
  bridge = `tsbr-${net.id.slice(0, 10)}`;
});

t.after(async () => {
  setFaultInjector(undefined);
  await cleanup(mgr, dbFile);
  for (const p of sbs) dropSandbox(p);
});

const rowCount = (table: string) => (mgr.store.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;

t('every kernel step failing in turn leaves no link, address, rule or row', async () => {
  const s = await newSandbox('fault');
  sbs.push(s);
  const req = { network: 'faults', sandbox: 'f', placement: { kind: 'netns' as const, netnsPath: s, ifname: 'eth0' }, ports: [{ proto: 'tcp' as const, containerPort: 80, hostPort: 18181 }] };
  const steps: string[] = [];
  setFaultInjector((step) => void steps.push(step));
  const ok = await mgr.attach(req);
  setFaultInjector(undefined);
  await mgr.detach(ok.id);
  assert.ok(steps.length >= 5, steps.join(','));
  const hostLinks = await linkNames();
  const allocations = rowCount('allocations');

  for (const failing of steps) {
    setFaultInjector((step) => {
      if (step === failing) throw new KernelError(step, 12, 'ENOMEM', 'injected failure');
    });
    try {
      await mgr.attach(req);
      assert.unreachable(`attach succeeded although "${failing}" failed`);
    } catch (err) {
      assert.instance(err, KernelError, failing);
      assert.match((err as Error).message, /injected failure/);
    } finally {
      setFaultInjector(undefined);
    }
    assert.equal(await linkNames(), hostLinks, `host links after "${failing}"`);
    assert.equal(await linkNames(s), ['lo'], `sandbox links after "${failing}"`);
    assert.equal(await addrsOf(s), [], `sandbox addresses after "${failing}"`);
    assert.not.match(await firewallDump(), /18181/, `rules after "${failing}"`);
    assert.is(rowCount('endpoints'), 0, `endpoint rows after "${failing}"`);
    assert.is(rowCount('port_mappings'), 0, `port rows after "${failing}"`);
    assert.is(rowCount('allocations'), allocations, `IPAM rows after "${failing}"`);
  }
  // And the same request still works afterwards.
  const again = await mgr.attach(req);
  await mgr.detach(again.id);
});

t('parallel attaches get unique addresses and all links exist', async () => {
  const N = 24;
  const paths = await Promise.all(Array.from({ length: N }, (_, i) => newSandbox(`par${i}`)));
  sbs.push(...paths);
  const eps = await Promise.all(paths.map((p, i) => mgr.attach({ network: 'faults', sandbox: `par${i}`, placement: { kind: 'netns', netnsPath: p, ifname: 'eth0' } })));
  const ips = new Set(eps.map((e) => e.addresses[0]!.ip));
  assert.is(ips.size, N);
  const host = await linkNames();
  for (const [i, e] of eps.entries()) {
    assert.ok(host.includes(e.hostIfname!), e.hostIfname);
    assert.equal(await addrsOf(paths[i], 'eth0'), [e.addresses[0]!.cidr]);
  }
  await Promise.all(eps.map((e) => mgr.detach(e.id)));
  assert.is(rowCount('endpoints'), 0);
  const after = await linkNames();
  for (const e of eps) assert.not.ok(after.includes(e.hostIfname!));
});

t('detach after the netns vanished still releases addresses and rules', async () => {
  const s = await newSandbox('vanish');
  const ep = await mgr.attach({ network: 'faults', sandbox: 'v', placement: { kind: 'netns', netnsPath: s, ifname: 'eth0' }, ports: [{ proto: 'udp', containerPort: 53, hostPort: 18282 }] });
  assert.match(await firewallDump(), /18282/);
  dropSandbox(s);
  await mgr.detach(ep.id);
  await mgr.detach(ep.id);
  assert.not.match(await firewallDump(), /18282/);
  assert.is(rowCount('endpoints'), 0);
  assert.is((mgr.store.db.prepare('SELECT count(*) AS n FROM allocations WHERE owner = ?').get(ep.id) as { n: number }).n, 0);
  assert.not.ok((await linkNames()).includes(ep.hostIfname!));
});

t('a full bridge (the kernel numbers at most 1023 ports) is a clear conflict and leaves nothing', async () => {
  const s = await newSandbox('full');
  sbs.push(s);
  const req = { network: 'faults', sandbox: 'full', placement: { kind: 'netns' as const, netnsPath: s, ifname: 'eth0' } };
  // The other ports are plain veth pairs, down, in link group 77: one request deletes them all
  // (each end deleted alone would wait ~15 ms in the kernel).
  const before = (await linkNames()).length;
  const free = BRIDGE_MAX_PORTS - (await inNs(undefined, ['ip', '-o', 'link', 'show', 'master', bridge])).stdout.split('\n').filter(Boolean).length;
  const dir = mkdtempSync(join(tmpdir(), 'tsnet-test-full-'));
  const batch = join(dir, 'fill.batch');
  writeFileSync(batch, Array.from({ length: free }, (_, i) => `link add fill${i} group 77 numtxqueues 1 numrxqueues 1 master ${bridge} type veth peer name fillp${i} numtxqueues 1 numrxqueues 1\n`).join(''));
  try {
    await inNs(undefined, ['ip', '-batch', batch]);
    const hostLinks = await linkNames();
    assert.is(hostLinks.length, before + 2 * free);
    const allocations = rowCount('allocations');
    const err = await mgr.attach(req).then(() => undefined, (e: unknown) => e);
    assert.instance(err, ConflictError);
    assert.match((err as Error).message, `bridge ${bridge} is full: the kernel gives a bridge at most 1023 ports`);
    assert.equal(await linkNames(), hostLinks, 'host links');
    assert.equal(await linkNames(s), ['lo'], 'sandbox links');
    assert.is(rowCount('endpoints'), 0, 'endpoint rows');
    assert.is(rowCount('allocations'), allocations, 'IPAM rows');
  } finally {
    await inNs(undefined, ['ip', 'link', 'del', 'group', '77']);
    rmSync(dir, { recursive: true, force: true });
  }
  // A port number is free again: the same request succeeds.
  const ep = await mgr.attach(req);
  assert.equal(await addrsOf(s, 'eth0'), [ep.addresses[0]!.cidr]);
  await mgr.detach(ep.id);
});

t.run();
