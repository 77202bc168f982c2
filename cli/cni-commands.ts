/**
 * `tsnet cni install`: installs tsnet's CNI executables (the compiled shim, hard-linked or
 * copied under each plugin name, plus the `tsnet-cni` launcher it falls back to without a
 * daemon) into a CNI bin dir, and with --network/--subnet writes an example conflist
 * (tsnet-bridge + tsnet-ipam + tsnet-portmap). Local files only: no daemon, no netns.
 */
import { chmodSync, copyFileSync, existsSync, linkSync, mkdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { packageRoot } from '../core/paths.js';
import { parseCidr } from '../ipam/cidr.js';
import type { Ctx } from './context.js';

export const CNI_PLUGIN_NAMES = ['tsnet-bridge', 'tsnet-macvlan', 'tsnet-ipam', 'tsnet-portmap', 'tsnet-bandwidth'] as const;

export interface CniInstallOptions {
  binDir: string;
  confDir: string;
  network?: string;
  subnet?: string;
  bridge: string;
  cniVersion: string;
}

/** The example conflist: a bridge with masquerade, tsnet-ipam on `subnet`, portmap for -p. */
export function exampleConflist(name: string, subnet: string, bridge: string, cniVersion: string): Record<string, unknown> {
  const v4 = !subnet.includes(':');
  return {
    cniVersion, name,
    plugins: [
      {
        type: 'tsnet-bridge', bridge, isGateway: true, isDefaultGateway: true, ipMasq: true, hairpinMode: true,
        ipam: { type: 'tsnet-ipam', ranges: [[{ subnet }]], routes: [{ dst: v4 ? '0.0.0.0/0' : '::/0' }] },
      },
      { type: 'tsnet-portmap', capabilities: { portMappings: true }, snat: true },
    ],
  };
}

/** Places `src` at `dst` (hard link, else a copy), replacing what was there; mode 0755. */
function place(src: string, dst: string): 'linked' | 'copied' {
  if (existsSync(dst)) unlinkSync(dst);
  try {
    linkSync(src, dst);
    return 'linked';
  } catch {
    copyFileSync(src, dst);
    chmodSync(dst, 0o755);
    return 'copied';
  }
}

/** Installs the executables (and the conflist when asked); returns what it did, one line each. */
export function installCni(o: CniInstallOptions, root = packageRoot()): string[] {
  const shim = join(root, 'build', 'Release', 'tsnet_cni_shim');
  if (!existsSync(shim)) throw new Error(`${shim} is missing: build it with "npm install" (node-gyp)`);
  if ((o.network === undefined) !== (o.subnet === undefined)) throw new Error('--network and --subnet go together');
  const done: string[] = [];
  mkdirSync(o.binDir, { recursive: true });
  for (const name of CNI_PLUGIN_NAMES) done.push(`${place(shim, join(o.binDir, name))} ${join(o.binDir, name)}`);
  const launcher = join(o.binDir, 'tsnet-cni');
  // CommonJS (no package.json around it): bin/tsnet-cni.cjs runs the bundled plugins with
  // V8's code cache; an ES module launcher would pay Node's module loader on every call.
  writeFileSync(launcher, [
    '#!/usr/bin/env node',
    '// Written by `tsnet cni install`: the standalone plugins the shim runs when tsnetd is not reachable.',
    `require(${JSON.stringify(join(root, 'bin', 'tsnet-cni.cjs'))});`,
    '',
  ].join('\n'), { mode: 0o755 });
  done.push(`wrote ${launcher}`);
  if (o.network !== undefined && o.subnet !== undefined) {
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(o.network)) throw new Error(`invalid network name "${o.network}"`);
    const parsed = parseCidr(o.subnet, 'subnet');
    if (parsed.hostBits) throw new Error(`--subnet ${o.subnet} has host bits set; it should be ${parsed.cidr}`);
    const subnet = parsed.cidr;
    mkdirSync(o.confDir, { recursive: true });
    const file = join(o.confDir, `10-${o.network}.conflist`);
    writeFileSync(file, `${JSON.stringify(exampleConflist(o.network, subnet, o.bridge, o.cniVersion), null, 2)}\n`);
    done.push(`wrote ${file}`);
  }
  return done;
}

export function registerCniCommands(program: Command, ctx: Ctx): void {
  const cni = program.command('cni').description('CNI plugins: install the executables and an example network configuration');
  cni
    .command('install')
    .description('install tsnet-bridge, tsnet-macvlan, tsnet-ipam, tsnet-portmap and tsnet-bandwidth into a CNI bin dir (and optionally a conflist)')
    .option('--bin-dir <dir>', 'CNI plugin directory', '/opt/cni/bin')
    .option('--conf-dir <dir>', 'CNI configuration directory', '/etc/cni/net.d')
    .option('--network <name>', 'write <conf-dir>/10-<name>.conflist for this network (needs --subnet)')
    .option('--subnet <cidr>', 'subnet of the example network')
    .option('--bridge <name>', 'bridge of the example network', 'cni0')
    .option('--cni-version <v>', 'cniVersion of the example conflist', '1.0.0')
    .action((o: CniInstallOptions) => {
      for (const line of installCni(o)) ctx.out(`${line}\n`);
    });
}
