#!/usr/bin/env node
// Runs a command inside a throwaway "host": a new network namespace and a private mount
// namespace (unshare --net --mount), with loopback up and a fresh /sys for that netns.
// Nothing the command does to links, addresses, routes or firewall rules can reach the
// machine's real namespace, and the namespace dies with the command.
// Usage: node scripts/in-sandbox.mjs CMD [ARGS...]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const argv = process.argv.slice(2);
if (argv.length === 0) {
  console.error('usage: in-sandbox.mjs CMD [ARGS...]');
  process.exit(2);
}

if (process.env.TSNET_SANDBOX === '1') {
  // Already inside: prepare the namespace, then run the command. A fresh sysfs (for this
  // netns) would hide the cgroup hierarchies mounted under /sys/fs/cgroup, which runc needs:
  // they are parked on a temporary directory first and moved back on top of the new sysfs.
  // All of it happens in this private mount namespace only.
  const cgroups = existsSync('/sys/fs/cgroup') ? mkdtempSync(join(tmpdir(), 'tsnet-cgroup-')) : undefined;
  const setup = [
    ['ip', 'link', 'set', 'lo', 'up'],
    ...(cgroups ? [['mount', '--rbind', '/sys/fs/cgroup', cgroups]] : []),
    ['mount', '-t', 'sysfs', 'sysfs', '/sys'],
    ...(cgroups ? [['mount', '--move', cgroups, '/sys/fs/cgroup']] : []),
  ];
  for (const cmd of setup) {
    const r = spawnSync(cmd[0], cmd.slice(1), { stdio: 'inherit' });
    if (r.status !== 0) {
      console.error(`sandbox setup failed: ${cmd.join(' ')}`);
      process.exit(1);
    }
  }
  if (cgroups) rmdirSync(cgroups);
  const r = spawnSync(argv[0], argv.slice(1), { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

if (process.getuid?.() !== 0) {
  console.error('tsnet tests and benchmarks need root (they create namespaces, links and rules)');
  process.exit(2);
}
const state = mkdtempSync(join(tmpdir(), 'tsnet-sandbox-'));
const env = {
  ...process.env,
  TSNET_SANDBOX: '1',
  TSNET_ROOT: process.env.TSNET_ROOT ?? join(state, 'lib'),
  TSNET_RUN: process.env.TSNET_RUN ?? join(state, 'run'),
  // tsnetd serves the Docker plugin in /run/docker/plugins by default: /run is the
  // machine's (the sandbox has only a private mount namespace), so keep it in the sandbox.
  TSNET_DOCKER_PLUGIN_DIR: process.env.TSNET_DOCKER_PLUGIN_DIR ?? join(state, 'docker-plugins'),
};
const r = spawnSync(
  'unshare',
  ['--net', '--mount', '--propagation', 'private', '--fork', '--kill-child', process.execPath, process.argv[1], ...argv],
  { stdio: 'inherit', env },
);
rmSync(state, { recursive: true, force: true });
process.exit(r.status ?? 1);
