import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NameTable } from './names.js';

function table(): NameTable {
  const t = new NameTable();
  t.add('front', { id: 'c1', name: 'web', aliases: ['www', 'Site'], ips: ['10.1.0.2', 'fd00:1::0:2'] });
  t.add('front', { id: 'c2', name: 'web2', aliases: ['www'], ips: ['10.1.0.3'] });
  t.add('back', { id: 'c1', name: 'web', ips: ['10.2.0.2'] });
  t.add('back', { id: 'c3', name: 'db', ips: ['10.2.0.9'] });
  return t;
}

test('name, alias and name.network forms, case-insensitive, trailing dot', () => {
  const r = table().resolver(['front']);
  assert.equal(r('web', 'A'), ['10.1.0.2']);
  assert.equal(r('WEB.', 'A'), ['10.1.0.2']);
  assert.equal(r('site', 'A'), ['10.1.0.2']);
  assert.equal(r('web.front', 'A'), ['10.1.0.2']);
  assert.equal(r('Site.Front.', 'A'), ['10.1.0.2']);
  assert.equal(r('web', 'AAAA'), ['fd00:1::2']);
});

test('a shared alias gives every address; no record of a type is [], unknown is undefined', () => {
  const r = table().resolver(['front']);
  assert.equal(r('www', 'A')?.sort(), ['10.1.0.2', '10.1.0.3']);
  assert.equal(r('web2', 'AAAA'), []);
  assert.is(r('db', 'A'), undefined);
  assert.is(r('web.back', 'A'), undefined);
  assert.is(r('nothing.example', 'A'), undefined);
});

test('several networks in scope', () => {
  const r = table().resolver(['front', 'back']);
  assert.equal(r('web', 'A')?.sort(), ['10.1.0.2', '10.2.0.2']);
  assert.equal(r('web.back', 'A'), ['10.2.0.2']);
  assert.equal(r('db', 'A'), ['10.2.0.9']);
});

test('PTR gives name.network, IPv6 in any spelling', () => {
  const t = table();
  const p = t.ptrResolver(['front']);
  assert.is(p('10.1.0.3'), 'web2.front');
  assert.is(p('fd00:0001:0000:0000:0000:0000:0000:0002'), 'web.front');
  assert.is(p('10.2.0.9'), undefined);
  assert.is(p('not-an-ip'), undefined);
});

test('gateway resolver: own network plus the querying container\'s other networks', () => {
  const t = table();
  const r = t.gatewayResolver('back');
  assert.is(r('www', 'A', { address: '10.2.0.9', local: '10.2.0.1' }), undefined); // db is only on back
  assert.equal(r('www', 'A', { address: '10.2.0.2', local: '10.2.0.1' })?.sort(), ['10.1.0.2', '10.1.0.3']); // web is on both
  assert.equal(r('db', 'A'), ['10.2.0.9']);
  assert.is(t.gatewayPtrResolver('back')('10.1.0.3', { address: '10.2.0.2', local: '10.2.0.1' }), 'web2.front');
});

test('replace by id, remove, removeNetwork', () => {
  const t = table();
  t.add('front', { id: 'c2', name: 'web2', ips: ['10.1.0.30'] });
  const r = t.resolver(['front']);
  assert.equal(r('web2', 'A'), ['10.1.0.30']);
  assert.equal(r('www', 'A'), ['10.1.0.2']);
  assert.ok(t.remove('front', 'c2'));
  assert.not.ok(t.remove('front', 'c2'));
  assert.is(r('web2', 'A'), undefined);
  t.removeNetwork('back');
  assert.equal(t.networksOfIp('10.1.0.2'), ['front']);
  assert.throws(() => t.add('front', { id: 'x', name: 'x', ips: ['10.1.0.300'] }), /not an IP/);
});

test('networks are case-sensitive: "web" and "Web" keep their own names', () => {
  const t = new NameTable();
  t.add('web', { id: 'a', name: 'lower1', ips: ['10.1.0.2'] });
  t.add('Web', { id: 'b', name: 'upper1', ips: ['10.2.0.2'] });
  assert.is(t.lookup('lower1', 'A', ['Web']), undefined);
  assert.equal(t.lookup('upper1.web', 'A', ['Web']), ['10.2.0.2'], 'the name.network form is still case-insensitive DNS');
  t.removeNetwork('Web');
  assert.equal(t.lookup('lower1', 'A', ['web']), ['10.1.0.2']);
});

test.run();
