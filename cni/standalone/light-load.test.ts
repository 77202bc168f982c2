import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../core/exec/index.js';

/**
 * The light modules exist to keep `node:crypto` and `node:net` out of a standalone plugin's
 * process: a fresh Node imports them, uses what the plugins use, and reports which of those
 * built-ins it loaded meanwhile (a library update that imports them would show here).
 */
async function builtinsLoadedBy(body: string): Promise<string[]> {
  const script = `
const before = new Set(process.moduleLoadList);
${body}
const added = process.moduleLoadList.filter((m) => !before.has(m) && /^NativeModule (crypto|net)$|^Internal Binding crypto$/.test(m));
process.stdout.write(JSON.stringify(added));
`;
  // A script file: with -e Node loads crypto itself, with a script on stdin net (for the pipe).
  const dir = mkdtempSync(join(tmpdir(), 'tsnet-light-load-'));
  try {
    const file = join(dir, 'probe.mjs');
    writeFileSync(file, script);
    const r = await run([process.execPath, file], { timeoutMs: 20_000 });
    return JSON.parse(r.stdout) as string[];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const crypto = JSON.stringify(new URL('./crypto.js', import.meta.url).href);
const net = JSON.stringify(new URL('./net.js', import.meta.url).href);

test('the light modules, used as the plugins use them, load neither node:crypto nor node:net', async () => {
  const loaded = await builtinsLoadedBy(`
const { createHash, randomBytes } = await import(${crypto});
const { isIP } = await import(${net});
if (createHash('sha256').update('x').digest('hex').length !== 64 || randomBytes(6).length !== 6) process.exit(2);
if (isIP('fe80::1%eth0') !== 6 || isIP('10.0.0.1') !== 4) process.exit(3);
`);
  assert.equal(loaded, []);
});

test('the check sees a built-in when one is loaded (and the fallback to the real module loads it)', async () => {
  const loaded = await builtinsLoadedBy(`
const { createHash } = await import(${crypto});
if (createHash('md5').update('x').digest('hex').length !== 32) process.exit(2);
await import('node:net');
`);
  assert.ok(loaded.includes('NativeModule crypto'), JSON.stringify(loaded));
  assert.ok(loaded.includes('NativeModule net'), JSON.stringify(loaded));
});

test.run();
