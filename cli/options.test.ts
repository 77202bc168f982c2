import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { InvalidArgumentError } from 'commander';
import { ConfigError } from '../core/errors.js';
import { collect, collectLabel, filterParser, pairSubnets, splitKeyValue, toRecord } from './options.js';

test('key=value splitting', () => {
  assert.equal(splitKeyValue('a=b=c'), ['a', 'b=c']);
  assert.equal(splitKeyValue('a='), ['a', '']);
  assert.throws(() => splitKeyValue('a'), (e: unknown) => e instanceof InvalidArgumentError);
  assert.throws(() => splitKeyValue('=b'), (e: unknown) => e instanceof InvalidArgumentError);
  assert.equal(collectLabel('tier', undefined), [['tier', '']]);
  assert.equal(collect('b', collect('a', undefined)), ['a', 'b']);
  assert.equal(toRecord([['a', '1'], ['b', '2']]), { a: '1', b: '2' });
  assert.is(toRecord([]), undefined);
});

test('filters: repeated keys collect, unknown keys are refused', () => {
  const parse = filterParser(['driver', 'name']);
  const f = parse('name=web', parse('driver=macvlan', parse('driver=bridge', undefined)));
  assert.equal([...f], [['driver', ['bridge', 'macvlan']], ['name', ['web']]]);
  assert.throws(() => parse('colour=red', undefined), /invalid filter "colour"/);
});

test('one subnet takes the range, gateway and aux addresses', async () => {
  assert.equal(await pairSubnets(['10.1.0.0/16'], ['10.1.2.0/24'], ['10.1.0.1'], [['router', '10.1.0.2'], ['dns', '10.1.0.3']]), [
    { Subnet: '10.1.0.0/16', IPRange: '10.1.2.0/24', Gateway: '10.1.0.1', AuxAddresses: { router: '10.1.0.2', dns: '10.1.0.3' } },
  ]);
  assert.is(await pairSubnets([], [], [], []), undefined);
});

test('several subnets: each value goes to the subnet containing it, in any order', async () => {
  const got = await pairSubnets(
    ['10.1.0.0/24', 'fd00:1::/64', '10.2.0.0/24'],
    ['10.2.0.128/25'],
    ['fd00:1::1', '10.2.0.1', '10.1.0.254'],
    [['a', '10.2.0.5']],
  );
  assert.equal(got, [
    { Subnet: '10.1.0.0/24', Gateway: '10.1.0.254' },
    { Subnet: 'fd00:1::/64', Gateway: 'fd00:1::1' },
    { Subnet: '10.2.0.0/24', IPRange: '10.2.0.128/25', Gateway: '10.2.0.1', AuxAddresses: { a: '10.2.0.5' } },
  ]);
});

test("docker's pairing errors", async () => {
  const fails = async (p: Promise<unknown>, re: RegExp): Promise<void> => {
    try {
      await p;
      assert.unreachable('should have failed');
    } catch (e) {
      assert.instance(e, ConfigError);
      assert.match((e as Error).message, re);
    }
  };
  await fails(pairSubnets([], [], ['10.0.0.1'], []), /must have a corresponding --subnet/);
  await fails(pairSubnets(['10.1.0.0/24', '10.2.0.0/24'], ['10.3.0.0/25'], [], []), /no matching subnet for range 10.3.0.0\/25/);
  await fails(pairSubnets(['10.1.0.0/24', '10.2.0.0/24'], [], ['10.9.0.1'], []), /no matching subnet for gateway 10.9.0.1/);
  await fails(pairSubnets(['10.1.0.0/24'], [], ['10.1.0.1', '10.1.0.2'], []), /multiple gateways \(10.1.0.1, 10.1.0.2\) for the same subnet \(10.1.0.0\/24\)/);
  await fails(pairSubnets(['10.1.0.0/24'], ['10.1.0.0/25', '10.1.0.128/25'], [], []), /multiple ranges/);
  await fails(pairSubnets(['10.1.0.0/24', '10.2.0.0/24'], [], ['not-an-ip'], []), /invalid address "not-an-ip"/);
});


test('docker-style --ipv4=false / --ipv6=true become commander flags; other values are left to be refused', async () => {
  const { dockerBoolFlags } = await import('./index.js');
  assert.equal(dockerBoolFlags(['network', 'create', '--ipv4=false', '--ipv6=true', 'n']), ['network', 'create', '--no-ipv4', '--ipv6', 'n']);
  assert.equal(dockerBoolFlags(['--ipv6=0', '--ipv4=1', '--ipv4', 'mynet']), ['--no-ipv6', '--ipv4', '--ipv4', 'mynet']);
  assert.equal(dockerBoolFlags(['--ipv4=maybe', '--label=a=b']), ['--ipv4=maybe', '--label=a=b']);
});

test.run();
