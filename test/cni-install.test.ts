/** `tsnet cni install`: executables placed under every plugin name, launcher, example conflist. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../core/index.js';
import { run } from '../core/exec/index.js';
import { CNI_PLUGIN_NAMES, installCni, exampleConflist } from '../cli/cni-commands.js';

const SHIM = join(packageRoot(), 'build', 'Release', 'tsnet_cni_shim');

test('install: shim under each name, launcher answering VERSION, conflist', async () => {
  if (!existsSync(SHIM)) return void console.log('  (skipped: shim not built)');
  const dir = mkdtempSync(join(tmpdir(), 'tsnet-cni-install-'));
  try {
    const lines = installCni({ binDir: join(dir, 'bin'), confDir: join(dir, 'net.d'), network: 'demo', subnet: '10.242.0.0/24', bridge: 'cni9', cniVersion: '0.4.0' });
    assert.is(lines.length, CNI_PLUGIN_NAMES.length + 2);
    for (const n of CNI_PLUGIN_NAMES) assert.ok(statSync(join(dir, 'bin', n)).mode & 0o111);
    const conf = JSON.parse(readFileSync(join(dir, 'net.d', '10-demo.conflist'), 'utf8')) as Record<string, unknown>;
    assert.equal(conf, exampleConflist('demo', '10.242.0.0/24', 'cni9', '0.4.0'));
    const env = { ...process.env, CNI_COMMAND: 'VERSION', TSNET_CNI_NO_DAEMON: '1' };
    const v = await run([join(dir, 'bin', 'tsnet-portmap')], { input: '{}', env });
    assert.equal(JSON.parse(v.stdout).supportedVersions, ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']);
    installCni({ binDir: join(dir, 'bin'), confDir: join(dir, 'net.d'), bridge: 'cni0', cniVersion: '1.0.0' });
    assert.throws(() => installCni({ binDir: join(dir, 'bin'), confDir: dir, network: 'x', bridge: 'cni0', cniVersion: '1.0.0' }), /go together/);
    assert.throws(() => installCni({ binDir: join(dir, 'bin'), confDir: dir, network: 'x', subnet: '10.0.0.1/8', bridge: 'cni0', cniVersion: '1.0.0' }), /host bits|subnet/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
