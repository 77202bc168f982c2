#!/usr/bin/env node
// `npm test`: runs every test (uvu, over the compiled dist/) inside a throwaway host
// namespace, then a leak check that fails the run if a netns, link, mount or firewall
// rule of ours is left behind, and fails it too if the machine's real namespace changed
// meanwhile. Prints one closing line "N passed, N failed".
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');

if (process.env.TSNET_SANDBOX !== '1') {
  // The machine's real namespace is compared before and after: nothing a test does may reach it.
  const before = realSnapshot();
  const r = spawnSync(process.execPath, [join(here, 'in-sandbox.mjs'), process.execPath, fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  const changed = snapshotDiff(before, realSnapshot());
  for (const c of changed) console.error(`REAL NAMESPACE CHANGED: ${c}`);
  if (changed.length > 0) console.log('tests: the run changed the machine\'s real namespace (see above): failed');
  process.exit(changed.length > 0 ? 1 : r.status ?? 1);
}

// Optional filter: npm test -- PATTERN (a regex over test file paths).
const pattern = process.argv[2] ?? '\\.test\\.js$';
const uvu = join(root, 'node_modules', 'uvu', 'bin.js');
const r = spawnSync(process.execPath, [uvu, 'dist', pattern, '-i', 'node_modules'], {
  cwd: root,
  encoding: 'utf8',
  stdio: ['inherit', 'pipe', 'inherit'],
  env: { ...process.env, TSNET_LOG_LEVEL: process.env.TSNET_LOG_LEVEL ?? 'silent' },
});
process.stdout.write(r.stdout ?? '');
const num = (label) => Number((r.stdout ?? '').match(new RegExp(`${label}:\\s+(\\d+)`))?.[1] ?? 0);
const total = num('Total');
const passed = num('Passed');
const skipped = num('Skipped');

const leaks = leakCheck();
for (const l of leaks) console.error(`LEAK: ${l}`);
const failed = total - passed - skipped + (leaks.length > 0 ? 1 : 0) + (r.status !== 0 && total === passed + skipped ? 1 : 0);
console.log(`tests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(r.status === 0 && leaks.length === 0 && total > 0 ? 0 : 1);

function out(argv) {
  const p = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8' });
  return p.status === 0 ? p.stdout : '';
}

function leakCheck() {
  const found = [];
  const links = out(['ip', '-o', 'link', 'show']).split('\n').filter(Boolean)
    .map((l) => l.split(': ')[1]?.split('@')[0]).filter((n) => n && n !== 'lo');
  for (const l of links) found.push(`link ${l}`);
  const run = process.env.TSNET_RUN ?? '';
  // Any netns bind mount left (fstype nsfs) is a leak; so is any other mount under the run
  // dir, except the netns* directories that, like /run/netns, are made mount points once.
  for (const m of out(['cat', '/proc/self/mountinfo']).split('\n')) {
    const mountPoint = m.split(' ')[4];
    const fstype = m.split(' - ')[1]?.split(' ')[0];
    if (!mountPoint) continue;
    if (fstype === 'nsfs') found.push(`netns mount ${mountPoint}`);
    else if (run && mountPoint.startsWith(run) && !/\/netns[^/]*$/.test(mountPoint)) found.push(`mount ${mountPoint}`);
  }
  for (const rule of out(['iptables-save']).split('\n')) {
    if (/TSNET/i.test(rule)) found.push(`iptables ${rule}`);
  }
  for (const rule of out(['ip6tables-save']).split('\n')) {
    if (/TSNET/i.test(rule)) found.push(`ip6tables ${rule}`);
  }
  for (const t of out(['nft', 'list', 'tables']).split('\n')) {
    if (/tsnet/i.test(t)) found.push(`nft ${t}`);
  }
  return found;
}

/**
 * What of the real (outer) netns and mount namespace a test could touch by mistake: link
 * names, firewall rules (counters and comments dropped), nft tables, named netns and nsfs
 * mounts. Read-only commands: iptables-save creates no table.
 */
function realSnapshot() {
  const lines = (text) => text.split('\n').map((l) => l.replace(/\[\d+:\d+\]/g, '').trim()).filter((l) => l && !l.startsWith('#'));
  return {
    link: out(['ip', '-o', 'link', 'show']).split('\n').map((l) => l.split(': ')[1]?.split('@')[0]).filter(Boolean),
    iptables: lines(out(['iptables-save'])),
    ip6tables: lines(out(['ip6tables-save'])),
    nft: lines(out(['nft', 'list', 'tables'])),
    netns: out(['ls', '-A', '/run/netns']).split('\n').filter(Boolean).concat(existsSync('/run/netns') ? ['(/run/netns exists)'] : []),
    mount: out(['cat', '/proc/self/mountinfo']).split('\n').filter((m) => m.split(' - ')[1]?.startsWith('nsfs ')).map((m) => m.split(' ')[4]),
  };
}

function snapshotDiff(a, b) {
  const changes = [];
  for (const kind of Object.keys(a)) {
    const was = new Set(a[kind]);
    const now = new Set(b[kind]);
    for (const x of now) if (!was.has(x)) changes.push(`${kind} added: ${x}`);
    for (const x of was) if (!now.has(x)) changes.push(`${kind} gone: ${x}`);
  }
  return changes;
}
