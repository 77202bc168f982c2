// Bad input: each a typed error naming the field, and nothing made (no rows, links, rules).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { TsnetError, type ErrorCode } from '../core/index.js';
import type { NetworkManager } from '../drivers/index.js';
import { cleanup, dropSandbox, firewallDump, linkNames, newManager, newSandbox } from './helpers.js';

const t = suite('bad input');
let mgr: NetworkManager;
let dbFile: string;
let sandbox: string;

t.before(async () => {
  ({ mgr, dbFile } = newManager());
  sandbox = await newSandbox('bad');
  await mgr.createNetwork({ name: 'good', subnets: [{ subnet: '10.213.80.0/24' }] });
});

t.after(async () => {
  await cleanup(mgr, dbFile);
  dropSandbox(sandbox);
});

async function expectError(fn: () => Promise<unknown>, code: ErrorCode, field: string | undefined, message: RegExp): Promise<void> {
  const links = await linkNames();
  const rules = await firewallDump();
  const nets = mgr.listNetworks().length;
  try {
    await fn();
    assert.unreachable('accepted');
  } catch (err) {
    assert.instance(err, TsnetError, String(err));
    const e = err as TsnetError;
    assert.is(e.code, code, e.message);
    if (field !== undefined) assert.is(e.field, field, e.message);
    assert.match(e.message, message);
  }
  assert.equal(await linkNames(), links, 'no link made');
  assert.equal(await linkNames(sandbox), ['lo'], 'nothing in the sandbox');
  assert.is(await firewallDump(), rules, 'no rule made');
  assert.is(mgr.listNetworks().length, nets, 'no network row');
  assert.is(mgr.listEndpoints().length, 0, 'no endpoint row');
}

/** Like expectError, with one endpoint alive elsewhere. */
async function expectErrorKeeping(fn: () => Promise<unknown>, code: ErrorCode, message: RegExp, links: string[]): Promise<void> {
  try {
    await fn();
    assert.unreachable('accepted');
  } catch (err) {
    assert.instance(err, TsnetError);
    assert.is((err as TsnetError).code, code);
    assert.match((err as Error).message, message);
  }
  assert.equal(await linkNames(), links);
  assert.equal(await linkNames(sandbox), ['lo']);
  assert.is(mgr.listEndpoints().length, 1);
}

const net = (extra: object) => () => mgr.createNetwork({ name: 'bad', ...extra });
const attach = (extra: object) => () => mgr.attach({ network: 'good', sandbox: 'x', placement: { kind: 'netns', netnsPath: sandbox, ifname: 'eth0' }, ...extra });

t('network create', async () => {
  await expectError(net({ subnets: [{ subnet: '10.213.300.0/24' }] }), 'config', undefined, /10\.213\.300\.0\/24/);
  await expectError(net({ subnets: [{ subnet: 'banana' }] }), 'config', undefined, /banana/);
  await expectError(net({ subnets: [{ subnet: '10.213.81.0/24', gateway: '10.213.82.1' }] }), 'config', undefined, /gateway/i);
  await expectError(net({ subnets: [{ subnet: '10.213.80.128/25' }] }), 'conflict', undefined, /overlap/i);
  await expectError(net({ subnets: [{ subnet: '10.213.81.0/24', ipRange: '10.213.90.0/28' }] }), 'config', undefined, /range/i);
  await expectError(net({ options: { 'com.docker.network.bridge.name': 'this-name-is-too-long' } }), 'config', 'com.docker.network.bridge.name', /15 bytes/);
  await expectError(net({ options: { 'com.docker.network.driver.mtu': '20' } }), 'config', 'com.docker.network.driver.mtu', /MTU/);
  await expectError(net({ options: { flavour: 'vanilla' } }), 'config', 'flavour', /unknown bridge option "flavour"/);
  // Firewall rules name the bridge: a name they cannot hold is refused before anything is made.
  await expectError(net({ options: { 'com.docker.network.bridge.name': 'brü' } }), 'config', 'com.docker.network.bridge.name', /letters, digits/);
  await expectError(net({ driver: 'macvlan', options: { parent: 'nope0' } }), 'config', 'parent', /parent interface "nope0" not found/);
  await expectError(net({ driver: 'macvlan', options: {} }), 'config', 'parent', /parent/);
  await expectError(net({ driver: 'warp' }), 'config', 'driver', /unknown driver "warp"/);
  await expectError(net({ ipv4: false, subnets: [{ subnet: '10.213.81.0/24' }] }), 'config', 'ipv4', /IPv4 but IPv4 is off/);
  await expectError(net({ ipv4: false }), 'config', 'ipv4', /neither IPv4 nor IPv6/);
  await expectError(() => mgr.createNetwork({ name: 'good' }), 'conflict', 'name', /already exists/);
  await expectError(() => mgr.createNetwork({ name: 'no spaces' }), 'config', 'name', /invalid network name/);
});

t('attach', async () => {
  await expectError(attach({ placement: { kind: 'netns', netnsPath: sandbox, ifname: 'an-interface-name' } }), 'config', 'ifname', /15 bytes/);
  await expectError(attach({ mac: 'zz:zz' }), 'config', 'mac', /MAC/);
  // The kernel would number a '%' name (ab%d -> ab0), and refuses 'all'/'default' with a bare EINVAL.
  for (const ifname of ['ab%d', 'all', 'default']) {
    await expectError(attach({ placement: { kind: 'netns', netnsPath: sandbox, ifname } }), 'config', 'ifname', /invalid interface name/);
  }
  for (const mtu of [67, 70000, -1, 1.5]) await expectError(attach({ mtu }), 'config', 'mtu', /MTU/);
  await expectError(attach({ ipv4: '10.213.99.5' }), 'config', undefined, /10\.213\.99\.5/);
  await expectError(attach({ ports: [{ proto: 'sctp', containerPort: 80 }] }), 'config', 'ports[0]', /protocol/);
  await expectError(attach({ ports: [{ proto: 'tcp', containerPort: 0 }] }), 'config', 'ports[0]', /range/);
  await expectError(() => mgr.attach({ network: 'nope', sandbox: 'x', placement: { kind: 'netns', netnsPath: sandbox, ifname: 'eth0' } }), 'not-found', undefined, /network "nope" not found/);
  await expectError(() => mgr.attach({ network: 'good', sandbox: 'x', placement: { kind: 'netns', netnsPath: `${sandbox}-missing`, ifname: 'eth0' } }), 'not-found', undefined, /missing/);
  // A static address in use is a conflict.
  const other = await newSandbox('bad-other');
  const ep = await mgr.attach({ network: 'good', sandbox: 'y', placement: { kind: 'netns', netnsPath: other, ifname: 'eth0' }, ipv4: '10.213.80.10' });
  try {
    const links = await linkNames();
    await expectErrorKeeping(attach({ ipv4: '10.213.80.10' }), 'conflict', /10\.213\.80\.10/, links);
  } finally {
    await mgr.detach(ep.id);
    dropSandbox(other);
  }
});

t.run();
