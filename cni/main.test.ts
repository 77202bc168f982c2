/**
 * The standalone executable as a runtime execs it (bin/tsnet-cni): the bundles built by
 * `npm run build`, VERSION, and V8's code cache in TSNET_ROOT: written once per command,
 * used as is afterwards, replaced when damaged or writable by others (or, after a tsc-only
 * rebuild, dist's modules run and keep none). tsnet-ipam DEL touches only the store, so no
 * netns is needed.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../core/paths.js';
import { run } from '../core/exec/index.js';

const ROOT = packageRoot();
const BIN = join(ROOT, 'bin', 'tsnet-cni');
const CONF = JSON.stringify({ cniVersion: '1.1.0', name: 'cache-test', type: 'tsnet-ipam', ipam: { type: 'tsnet-ipam', ranges: [[{ subnet: '10.250.0.0/24' }]] } });

function env(root: string, command: string): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, TSNET_ROOT: root, TSNET_CNI_NO_DAEMON: '1', CNI_COMMAND: command, CNI_CONTAINERID: 'c1', CNI_IFNAME: 'eth0', CNI_PATH: '/nonexistent' };
  delete e['NODE_EXTRA_CA_CERTS'];
  return e;
}

async function exec(root: string, command: string): Promise<string> {
  const r = await run([process.execPath, BIN, '--plugin', 'tsnet-ipam'], { input: CONF, env: env(root, command), timeoutMs: 60_000 });
  assert.is(r.stderr, '', 'nothing on stderr');
  return r.stdout;
}

function cacheOf(root: string): { header: string; mode: number; ino: number; mtimeMs: number; bytes: Buffer } {
  const file = join(root, 'cni-standalone.v8cache');
  const bytes = readFileSync(file);
  const st = statSync(file);
  return { header: bytes.subarray(0, bytes.indexOf(10)).toString(), mode: st.mode & 0o777, ino: st.ino, mtimeMs: st.mtimeMs, bytes };
}

const DIST = join(ROOT, 'dist', 'cni');
/** Whether bin/tsnet-cni runs the bundle now (else dist's modules: tsc alone ran since npm run build). */
const bundled = () => statSync(join(DIST, 'standalone.cjs')).mtimeMs >= statSync(join(DIST, 'main.js')).mtimeMs;

test('npm run build made both bundles', () => {
  assert.ok(statSync(join(DIST, 'standalone.cjs')).size > 100_000);
  assert.ok(statSync(join(DIST, 'standalone-version.cjs')).size > 1000);
});

test('VERSION answers from the small bundle and writes nothing', async () => {
  const root = join(mkdtempSync(join(tmpdir(), 'tsnet-cni-main-')), 'lib');
  try {
    const out = JSON.parse(await exec(root, 'VERSION')) as { cniVersion: string; supportedVersions: string[] };
    assert.is(out.cniVersion, '1.1.0');
    assert.ok(out.supportedVersions.includes('0.3.1'));
    assert.throws(() => statSync(root));
  } finally {
    rmSync(join(root, '..'), { recursive: true, force: true });
  }
});

test('code cache: written after a first DEL, used as is by the next, replaced when damaged or writable by others', async () => {
  const root = mkdtempSync(join(tmpdir(), 'tsnet-cni-main-'));
  try {
    if (!bundled()) {
      // dist's modules run, and they keep no code cache.
      console.log('  dist/cni/main.js is newer than the bundle (tsc alone since npm run build): checking the fallback');
      assert.is(await exec(root, 'DEL'), '');
      assert.throws(() => statSync(join(root, 'cni-standalone.v8cache')));
      return;
    }
    assert.is(await exec(root, 'DEL'), '');
    const first = cacheOf(root);
    assert.match(first.header, new RegExp(`^[0-9a-f]{64}/${process.version.replace(/\./g, '\\.')}/${process.arch} DEL$`));
    assert.is(first.mode, 0o600);
    assert.ok(first.bytes.length > 100_000, `${first.bytes.length} bytes of cache`);

    // Accepted by V8 and covering DEL: left alone.
    assert.is(await exec(root, 'DEL'), '');
    const again = cacheOf(root);
    assert.is(again.ino, first.ino);
    assert.is(again.mtimeMs, first.mtimeMs);

    // Another command: the cache is rewritten to cover both.
    assert.is(await exec(root, 'GC'), '');
    assert.match(cacheOf(root).header, / DEL,GC$/);

    // Damaged data under a valid header: V8 rejects it, the run succeeds, the cache is remade.
    writeFileSync(join(root, 'cni-standalone.v8cache'), Buffer.concat([Buffer.from(`${first.header}\n`), Buffer.alloc(4096, 7)]), { mode: 0o600 });
    assert.is(await exec(root, 'DEL'), '');
    const remade = cacheOf(root);
    assert.is(remade.header, first.header);
    assert.ok(remade.bytes.length > 100_000);

    // Writable by others: never read, replaced by a private one.
    chmodSync(join(root, 'cni-standalone.v8cache'), 0o666);
    assert.is(await exec(root, 'DEL'), '');
    assert.is(cacheOf(root).mode, 0o600);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test.run();
