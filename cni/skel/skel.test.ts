import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, KernelError, TryAgainError } from '../../core/errors.js';
import {
  CNI_ERR, CniError, compareVersions, checkVersion, checkCommandAllowed, dispatch, formatResult, knownArgs, parseCniArgs,
  parseEnv, parseResult, toCniError, SUPPORTED_VERSIONS, type CniPlugin, type CniResult, type PluginRequest, type BaseConf,
} from './index.js';

const ENV = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_NETNS: '/run/netns/x', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' };
const RESULT: CniResult = {
  interfaces: [{ name: 'br0', mac: '02:00:00:00:00:01' }, { name: 'eth0', mac: '02:42:0a:00:00:02', mtu: 1400, sandbox: '/run/netns/x' }],
  ips: [{ address: '10.0.0.2/24', gateway: '10.0.0.1', interface: 1 }, { address: 'fd00::2/64', gateway: 'fd00::1', interface: 1 }],
  routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1', mtu: 1400 }],
  dns: { nameservers: ['10.0.0.1'] },
};

test('versions: order, support, command gates', () => {
  assert.is(compareVersions('0.3.1', '0.4.0'), -1);
  assert.is(compareVersions('1.1.0', '1.0.0'), 1);
  assert.is(compareVersions('1.0', '1.0.0'), 0);
  for (const v of SUPPORTED_VERSIONS) assert.is(checkVersion(v), v);
  for (const bad of [undefined, '', '0.2.0', '2.0.0', 7]) {
    assert.throws(() => checkVersion(bad), (e: unknown) => e instanceof CniError && e.code === CNI_ERR.INCOMPATIBLE_VERSION);
  }
  assert.throws(() => checkCommandAllowed('CHECK', '0.3.1'), (e: unknown) => (e as CniError).code === 1);
  assert.throws(() => checkCommandAllowed('GC', '1.0.0'), (e: unknown) => (e as CniError).code === 1);
  assert.throws(() => checkCommandAllowed('STATUS', '0.4.0'), (e: unknown) => (e as CniError).code === 1);
  checkCommandAllowed('CHECK', '0.4.0');
  checkCommandAllowed('GC', '1.1.0');
});

test('env: required variables per command name every missing one (code 4)', () => {
  assert.is(parseEnv(ENV).containerId, 'c1');
  const e = (env: Record<string, string>) => { try { parseEnv(env); } catch (err) { return err as CniError; } throw new Error('no error'); };
  const add = e({ CNI_COMMAND: 'ADD', CNI_PATH: '/x' });
  assert.is(add.code, CNI_ERR.INVALID_ENV);
  assert.match(add.message, 'CNI_CONTAINERID CNI_NETNS CNI_IFNAME');
  // DEL needs no netns; GC and STATUS need only CNI_PATH.
  assert.is(parseEnv({ CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'c', CNI_IFNAME: 'eth0', CNI_PATH: '/x' }).netns, '');
  assert.is(parseEnv({ CNI_COMMAND: 'GC', CNI_PATH: '/x' }).command, 'GC');
  assert.match(e({ CNI_COMMAND: 'STATUS' }).message, 'CNI_PATH');
  assert.is(e({}).code, 4);
  assert.match(e({ CNI_COMMAND: 'FOO' }).message, 'unknown CNI_COMMAND');
  assert.match(e({ ...ENV, CNI_CONTAINERID: 'a/b' }).message, 'CNI_CONTAINERID');
  assert.match(e({ ...ENV, CNI_IFNAME: 'a-very-long-interface' }).message, 'CNI_IFNAME');
  assert.match(e({ ...ENV, CNI_NETNS: 'relative' }).message, 'CNI_NETNS');
});

test('CNI_ARGS: pairs, IgnoreUnknown, unknown keys are code 4 naming them', () => {
  assert.equal(parseCniArgs('IP=10.0.0.5;IgnoreUnknown=1;K8S_POD_NAME=p'), [['IP', '10.0.0.5'], ['IgnoreUnknown', '1'], ['K8S_POD_NAME', 'p']]);
  assert.equal(parseCniArgs(''), []);
  assert.throws(() => parseCniArgs('novalue'), (e: unknown) => (e as CniError).code === 4);
  const k = knownArgs(parseCniArgs('IgnoreUnknown=true;IP=10.0.0.5;K8S_POD_NAME=p'), ['IP']);
  assert.equal(k.values, { IP: '10.0.0.5' });
  assert.throws(() => knownArgs(parseCniArgs('IP=1.2.3.4;FOO=bar'), ['IP']), (e: unknown) => (e as CniError).code === 4 && (e as Error).message.includes('FOO=bar'));
  assert.throws(() => knownArgs(parseCniArgs('IgnoreUnknown=maybe'), []), /not a boolean/);
});

test('results: 1.1.0 keeps everything, 1.0.0 drops 1.1 fields, 0.x adds ip versions', () => {
  const r11 = formatResult(RESULT, '1.1.0');
  assert.equal(Object.keys(r11), ['cniVersion', 'interfaces', 'ips', 'routes', 'dns']);
  assert.is((r11['interfaces'] as { mtu?: number }[])[1]?.mtu, 1400);
  const r10 = formatResult(RESULT, '1.0.0');
  assert.is((r10['interfaces'] as { mtu?: number }[])[1]?.mtu, undefined);
  assert.equal(r10['routes'], [{ dst: '0.0.0.0/0', gw: '10.0.0.1' }]);
  assert.is((r10['ips'] as { version?: string }[])[0]?.version, undefined);
  for (const v of ['0.3.0', '0.3.1', '0.4.0'] as const) {
    const r = formatResult(RESULT, v);
    assert.is(r['cniVersion'], v);
    assert.equal(r['ips'], [
      { version: '4', interface: 1, address: '10.0.0.2/24', gateway: '10.0.0.1' },
      { version: '6', interface: 1, address: 'fd00::2/64', gateway: 'fd00::1' },
    ]);
  }
  assert.equal(formatResult({}, '1.0.0'), { cniVersion: '1.0.0', dns: {} });
});

test('results: parse any version back (round trip), decode errors name the field', () => {
  for (const v of SUPPORTED_VERSIONS) {
    const { version, result } = parseResult(formatResult(RESULT, v), '1.1.0');
    assert.is(version, v);
    assert.equal(formatResult(result, v), formatResult(RESULT, v));
  }
  const bad = (raw: unknown) => { try { parseResult(raw, '1.0.0'); } catch (e) { return e as CniError; } throw new Error('no error'); };
  assert.is(bad({ ips: [{ address: '10.0.0.2' }] }).details, 'prevResult.ips[0].address');
  assert.is(bad({ ips: [{ version: '6', address: '10.0.0.2/24' }] }).code, CNI_ERR.DECODE);
  assert.is(bad({ interfaces: [{ name: 'a' }], ips: [{ address: '10.0.0.2/24', interface: 3 }] }).details, 'prevResult.ips[0].interface');
  assert.is(bad({ cniVersion: '0.2.0' }).code, CNI_ERR.INCOMPATIBLE_VERSION);
});

test('errors: tsnet error codes map to CNI codes', () => {
  assert.is(toCniError(new ConfigError('bad', 'subnet')).code, 7);
  assert.is(toCniError(new ConfigError('bad', 'subnet')).details, 'field: subnet');
  assert.is(toCniError(new TryAgainError('locked')).code, 11);
  assert.is(toCniError(new KernelError('create link', 17, 'EEXIST', 'File exists')).code, CNI_ERR.KERNEL);
  assert.is(toCniError(new Error('boom')).code, CNI_ERR.INTERNAL);
});

interface FakeConf extends BaseConf { size?: number }
function fake(calls: string[]): CniPlugin<FakeConf, null> {
  const rec = (req: PluginRequest<FakeConf>) => { calls.push(`${req.command}:${req.version}:${req.validAttachments?.length ?? '-'}:${req.prevResult ? 'prev' : ''}`); };
  return {
    name: 'fake', knownArgs: ['IP'],
    parse: (raw) => {
      if (raw['size'] !== undefined && typeof raw['size'] !== 'number') throw new CniError(7, 'size: must be a number', 'size');
      return raw as unknown as FakeConf;
    },
    add: async (req) => (rec(req), RESULT), del: async (req) => rec(req), check: async (req) => rec(req), gc: async (req) => rec(req), status: async (req) => rec(req),
  };
}

test('dispatch: VERSION, verbs, only the result on stdout, error objects with codes', async () => {
  const calls: string[] = [];
  const p = fake(calls);
  const conf = (o: Record<string, unknown> = {}) => JSON.stringify({ cniVersion: '1.1.0', name: 'n', type: 'fake', ...o });
  const version = await dispatch(p, { env: { CNI_COMMAND: 'VERSION' }, stdin: '' }, null);
  assert.equal(JSON.parse(version.stdout), { cniVersion: '1.1.0', supportedVersions: [...SUPPORTED_VERSIONS] });
  const add = await dispatch(p, { env: ENV, stdin: conf({ cniVersion: '0.4.0' }) }, null);
  assert.is(add.exitCode, 0);
  assert.is(JSON.parse(add.stdout).cniVersion, '0.4.0');
  assert.ok(add.stdout.endsWith('}\n'));
  const codeOf = async (env: Record<string, string>, stdin: string) => {
    const o = await dispatch(p, { env, stdin }, null);
    assert.is(o.exitCode, 1);
    return JSON.parse(o.stdout) as { code: number; msg: string; cniVersion: string; details?: string };
  };
  assert.is((await codeOf(ENV, '{not json')).code, 6);
  assert.is((await codeOf(ENV, '[]')).code, 6);
  assert.is((await codeOf(ENV, conf({ cniVersion: '0.9.0' }))).code, 1);
  assert.is((await codeOf(ENV, JSON.stringify({ name: 'n', type: 'fake' }))).code, 1);
  const env4 = await codeOf({ CNI_COMMAND: 'ADD', CNI_PATH: '/x' }, conf());
  assert.is(env4.code, 4);
  assert.is(env4.cniVersion, '1.1.0');
  assert.is((await codeOf(ENV, conf({ size: 'big' }))).details, 'size');
  assert.is((await codeOf({ ...ENV, CNI_ARGS: 'FOO=1' }, conf())).code, 4);
  assert.is((await codeOf({ ...ENV, CNI_COMMAND: 'CHECK' }, conf({ cniVersion: '0.3.1' }))).code, 1);
  assert.is((await codeOf({ CNI_COMMAND: 'GC', CNI_PATH: '/x' }, conf({ 'cni.dev/valid-attachments': 'x' }))).code, 7);
  const gc = await dispatch(p, { env: { CNI_COMMAND: 'GC', CNI_PATH: '/x' }, stdin: conf({ 'cni.dev/valid-attachments': [{ containerID: 'a', ifname: 'eth0' }] }) }, null);
  assert.equal(gc, { stdout: '', exitCode: 0 });
  await dispatch(p, { env: { ...ENV, CNI_COMMAND: 'DEL', CNI_NETNS: '' }, stdin: conf({ prevResult: formatResult(RESULT, '1.1.0') }) }, null);
  assert.equal(calls, ['ADD:0.4.0:-:', 'GC:1.1.0:1:', 'DEL:1.1.0:-:prev']);
});

test.run();
