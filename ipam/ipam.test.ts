import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, ConflictError, NotFoundError } from '../core/errors.js';
import { openStore, type Store } from '../store/index.js';
import { Ipam } from './ipam.js';

interface Ctx { dir: string; store: Store; ipam: Ipam }
const t = suite<Ctx>('ipam', {} as Ctx);

t.before.each((ctx) => {
  ctx.dir = mkdtempSync(join(tmpdir(), 'tsnet-ipam-'));
  ctx.store = openStore(join(ctx.dir, 'state.db'));
  ctx.ipam = new Ipam(ctx.store);
});
t.after.each((ctx) => {
  ctx.store.close();
  rmSync(ctx.dir, { recursive: true, force: true });
});

function rejects(fn: () => unknown, cls: Function, match?: RegExp, field?: string): void {
  try {
    fn();
  } catch (err) {
    assert.instance(err, cls);
    if (match) assert.match((err as Error).message, match);
    if (field) assert.is((err as ConfigError).field, field);
    return;
  }
  assert.unreachable('expected an error');
}

function take(ipam: Ipam, pool: string, n: number, prefix = 'o'): string[] {
  return Array.from({ length: n }, (_, i) => ipam.allocate(pool, { owner: `${prefix}${i}` }).ip);
}

t('createPool reserves gateway and aux; getPool/poolsOf', ({ store, ipam }) => {
  store.networks.insert({ id: 'n1', name: 'net1', driver: 'bridge' });
  const p = ipam.createPool({ networkId: 'n1', subnet: '10.1.0.0/24', aux: { r: '10.1.0.9' } });
  assert.is(p.gateway, '10.1.0.1');
  assert.is(p.prefixLen, 24);
  assert.equal(ipam.getPool(p.id), p);
  assert.equal(ipam.poolsOf('n1').map((x) => x.id), [p.id]);
  const rows = ipam.allocationsOf(p.id).map((a) => `${a.ip}:${a.kind}`).sort();
  assert.equal(rows, ['10.1.0.1:gateway', '10.1.0.9:aux']);
  assert.is(ipam.getPool('nope'), undefined);
});

t('createPool: unknown network is NotFound; validation errors surface', ({ ipam }) => {
  rejects(() => ipam.createPool({ networkId: 'missing', subnet: '10.1.0.0/24' }), NotFoundError);
  rejects(() => ipam.createPool({ subnet: '10.1.0.3/24' }), ConfigError, /should be/, 'subnet');
  assert.equal(ipam.listPools(), []);
});

t('overlap with any pool is a conflict on subnet', ({ ipam }) => {
  ipam.createPool({ subnet: '10.1.0.0/16' });
  rejects(() => ipam.createPool({ subnet: '10.1.5.0/24' }), ConflictError, /overlaps pool 10\.1\.0\.0\/16/, 'subnet');
  rejects(() => ipam.createPool({ subnet: '10.0.0.0/8' }), ConflictError, /overlaps/, 'subnet');
  ipam.createPool({ subnet: '10.2.0.0/24' });
  ipam.createPool({ subnet: 'fd00::/64' });
  rejects(() => ipam.createPool({ subnet: 'fd00::/48' }), ConflictError, /overlaps/, 'subnet');
});

t('dynamic order: skips network, gateway, aux, broadcast; exhaustion; wrap', ({ ipam }) => {
  const p = ipam.createPool({ subnet: '10.0.0.0/28', aux: { a: '10.0.0.4' } });
  const got = take(ipam, p.id, 12);
  assert.equal(got, ['2', '3', '5', '6', '7', '8', '9', '10', '11', '12', '13', '14'].map((x) => `10.0.0.${x}`));
  rejects(() => ipam.allocate(p.id, { owner: 'x' }), ConflictError, /^no free address in pool 10\.0\.0\.0\/28$/);
  assert.ok(ipam.release(p.id, '10.0.0.7'));
  assert.ok(ipam.release(p.id, '10.0.0.3'));
  // the cursor sits at .14: the next search wraps to the start and finds .3 first, then .7
  assert.is(ipam.allocate(p.id, { owner: 'y' }).ip, '10.0.0.3');
  assert.is(ipam.allocate(p.id, { owner: 'z' }).ip, '10.0.0.7');
});

t('round robin: a released address is not reused before the range wraps', ({ ipam }) => {
  const p = ipam.createPool({ subnet: '10.0.0.0/24' });
  const [a] = take(ipam, p.id, 3);
  assert.ok(ipam.release(p.id, a ?? ''));
  assert.is(ipam.allocate(p.id, { owner: 'n' }).ip, '10.0.0.5');
  assert.not.ok(ipam.release(p.id, '10.0.0.200'));
  assert.not.ok(ipam.release(p.id, '10.0.0.1'), 'gateway is not released by release()');
});

t('ipRange limits dynamic allocation; static allowed anywhere in the subnet', ({ ipam }) => {
  const p = ipam.createPool({ subnet: '10.0.0.0/24', ipRange: '10.0.0.252/30' });
  assert.is(p.ipRange, '10.0.0.252/30');
  assert.equal(take(ipam, p.id, 3), ['10.0.0.252', '10.0.0.253', '10.0.0.254']);
  rejects(() => ipam.allocate(p.id, { owner: 'x' }), ConflictError, /no free address/);
  assert.is(ipam.allocate(p.id, { owner: 's', ip: '10.0.0.50' }).cidr, '10.0.0.50/24');
});

t('static requests: in subnet, free, not reserved', ({ ipam }) => {
  const p = ipam.createPool({ subnet: '10.0.0.0/24', aux: { a: '10.0.0.9' } });
  const a = ipam.allocate(p.id, { owner: 's1', ip: '10.0.0.5' });
  assert.equal(a, { poolId: p.id, family: 4, ip: '10.0.0.5', prefixLen: 24, cidr: '10.0.0.5/24', gateway: '10.0.0.1' });
  rejects(() => ipam.allocate(p.id, { owner: 's2', ip: '10.0.0.5' }), ConflictError, /^address 10\.0\.0\.5 is already in use$/);
  rejects(() => ipam.allocate(p.id, { owner: 's2', ip: '10.0.0.1' }), ConflictError, /already in use \(gateway\)/);
  rejects(() => ipam.allocate(p.id, { owner: 's2', ip: '10.0.0.9' }), ConflictError, /already in use \(aux\)/);
  rejects(() => ipam.allocate(p.id, { owner: 's2', ip: '10.0.1.5' }), ConfigError, /not in subnet/, 'ip');
  rejects(() => ipam.allocate(p.id, { owner: 's2', ip: '10.0.0.255' }), ConfigError, /reserved/, 'ip');
  rejects(() => ipam.allocate(p.id, { owner: 's2', ip: 'fd00::5' }), ConfigError, /not in subnet/, 'ip');
  rejects(() => ipam.allocate('nope', { owner: 's2' }), NotFoundError);
  // a static allocation does not move the cursor
  assert.is(ipam.allocate(p.id, { owner: 'd' }).ip, '10.0.0.2');
});

t('checkAddress: the static checks under the caller\'s field name, nothing allocated', ({ ipam, store }) => {
  const p = ipam.createPool({ subnet: '10.0.0.0/24' });
  ipam.allocate(p.id, { owner: 's1', ip: '10.0.0.5' });
  assert.is(ipam.checkAddress(p.id, '10.0.0.6', 'IPv4Address'), '10.0.0.6');
  rejects(() => ipam.checkAddress(p.id, '10.0.0.5', 'IPv4Address'), ConflictError, /already in use/, 'IPv4Address');
  rejects(() => ipam.checkAddress(p.id, '10.0.1.5', 'IPv4Address'), ConfigError, /not in subnet/, 'IPv4Address');
  rejects(() => ipam.checkAddress(p.id, 'x', 'IPv4Address'), ConfigError, /invalid IP address/, 'IPv4Address');
  rejects(() => ipam.checkAddress('nope', '10.0.0.6'), NotFoundError);
  assert.is(store.allocations.get(p.id, '10.0.0.6'), undefined, 'checking allocates nothing');
});

t('reuse returns the owner\'s existing address; releaseOwner frees all pools', ({ ipam }) => {
  const p4 = ipam.createPool({ subnet: '10.0.0.0/24' });
  const p6 = ipam.createPool({ subnet: 'fd00:1::/64' });
  const a = ipam.allocate(p4.id, { owner: 'ep1' });
  assert.is(ipam.allocate(p4.id, { owner: 'ep1', reuse: true }).ip, a.ip);
  assert.is.not(ipam.allocate(p4.id, { owner: 'ep1' }).ip, a.ip);
  ipam.allocate(p6.id, { owner: 'ep1' });
  assert.is(ipam.releaseOwner('ep1'), 3);
  assert.is(ipam.releaseOwner('ep1'), 0);
  assert.equal(ipam.allocationsOf(p4.id).map((r) => r.kind), ['gateway']);
});

t('IPv6: order, formatting, static, release', ({ ipam }) => {
  const p = ipam.createPool({ subnet: 'fd00:1::/64', aux: { x: 'fd00:1::3' } });
  assert.is(p.gateway, 'fd00:1::1');
  assert.equal(take(ipam, p.id, 3), ['fd00:1::2', 'fd00:1::4', 'fd00:1::5']);
  assert.is(ipam.allocate(p.id, { owner: 's', ip: 'FD00:1:0::FFFF' }).ip, 'fd00:1::ffff');
  assert.ok(ipam.release(p.id, 'fd00:1:0:0::ffff'));
  const r = ipam.createPool({ subnet: 'fd00:2::/120', ipRange: 'fd00:2::fc/126', gateway: false });
  assert.equal(take(ipam, r.id, 3), ['fd00:2::fc', 'fd00:2::fd', 'fd00:2::fe']);
  const last = ipam.allocate(r.id, { owner: 'g' });
  assert.is(last.ip, 'fd00:2::ff');
  assert.is(last.gateway, undefined);
});

t('cursor wraps across a v6 range boundary', ({ ipam }) => {
  const p = ipam.createPool({ subnet: 'fd00:3::/64', rangeStart: 'fd00:3::ffff:fffe', rangeEnd: 'fd00:3::1:0:1' });
  assert.equal(take(ipam, p.id, 4), ['fd00:3::ffff:fffe', 'fd00:3::ffff:ffff', 'fd00:3::1:0:0', 'fd00:3::1:0:1']);
  ipam.release(p.id, 'fd00:3::ffff:ffff');
  assert.is(ipam.allocate(p.id, { owner: 'w' }).ip, 'fd00:3::ffff:ffff');
});

t('deletePool: conflict while allocated unless forced; cascades rows', ({ ipam, store }) => {
  const p = ipam.createPool({ subnet: '10.0.0.0/24' });
  ipam.allocate(p.id, { owner: 'e' });
  rejects(() => ipam.deletePool(p.id), ConflictError, /still has 1 allocated/);
  assert.ok(ipam.deletePool(p.id, { force: true }));
  assert.not.ok(ipam.deletePool(p.id));
  assert.is(store.allocations.count(p.id), 0);
  ipam.createPool({ subnet: '10.0.0.0/24' }); // the subnet is free again
});

t('network removal cascades to its pools', ({ ipam, store }) => {
  store.networks.insert({ id: 'n1', name: 'n1', driver: 'bridge' });
  const p = ipam.createPool({ subnet: '10.0.0.0/24' });
  ipam.assignPool(p.id, 'n1');
  assert.is(ipam.getPool(p.id)?.networkId, 'n1');
  rejects(() => ipam.assignPool(p.id, 'missing'), NotFoundError);
  assert.ok(store.networks.remove('n1'));
  assert.is(ipam.getPool(p.id), undefined);
});

t('allocation inside an outer transaction rolls back with it', ({ ipam, store }) => {
  const p = ipam.createPool({ subnet: '10.0.0.0/24' });
  assert.throws(() => store.tx(() => {
    ipam.allocate(p.id, { owner: 'a' });
    throw new Error('attach failed');
  }), /attach failed/);
  assert.is(ipam.allocate(p.id, { owner: 'b' }).ip, '10.0.0.2', 'address and cursor rolled back');
});

t('defaultSubnet skips pools and routed subnets', ({ ipam }) => {
  assert.is(ipam.defaultSubnet(4, []), '10.213.0.0/24');
  ipam.createPool({ subnet: ipam.defaultSubnet(4, []) });
  assert.is(ipam.defaultSubnet(4, []), '10.213.1.0/24');
  assert.is(ipam.defaultSubnet(4, ['10.213.1.0/24', '10.213.2.0/25', 'default']), '10.213.3.0/24');
  ipam.createPool({ subnet: ipam.defaultSubnet(6, []) });
  assert.is(ipam.defaultSubnet(6, ['fd74:736e:6574:1::/64']), 'fd74:736e:6574:2::/64');
});

t.run();
