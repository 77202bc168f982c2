/**
 * `npm run demo` (inside a throwaway host netns): a bridge network, two sandboxes that
 * ping each other, a published port answered on 127.0.0.1, the kernel state printed,
 * then everything removed.
 */
import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { packageRoot, paths } from '../core/index.js';
import { run, start } from '../core/exec/index.js';
import { createNetns, deleteNetns } from '../core/netns/index.js';
import { NetworkManager } from '../drivers/index.js';

const tool = join(packageRoot(), 'scripts', 'net-tool.mjs');
const say = (s: string) => console.log(`\n== ${s}`);
const show = async (argv: string[]) => console.log((await run(argv, { okCodes: [1] })).stdout.trimEnd());

const state = mkdtempSync(join(tmpdir(), 'tsnet-demo-'));
const mgr = NetworkManager.open(join(state, 'demo.db'));
const ns = (n: string) => join(paths().run, 'netns-demo', n);
try {
  say('create network "demo" (bridge)');
  const net = await mgr.createNetwork({ name: 'demo', subnets: [{ subnet: '10.213.100.0/24' }] });
  console.log(JSON.stringify({ id: net.id.slice(0, 12), subnets: net.subnets }, null, 1));
  for (const n of ['alpha', 'beta']) createNetns(ns(n));
  const a = await mgr.attach({ network: 'demo', sandbox: 'alpha', placement: { kind: 'netns', netnsPath: ns('alpha'), ifname: 'eth0' }, ports: [{ proto: 'tcp', containerPort: 80, hostPort: 8080 }] });
  const b = await mgr.attach({ network: 'demo', sandbox: 'beta', placement: { kind: 'netns', netnsPath: ns('beta'), ifname: 'eth0' } });
  for (const e of [a, b]) console.log(`${e.sandbox}: ${e.addresses.map((x) => x.cidr).join(', ')} mac ${e.mac} host end ${e.hostIfname}`);

  say('alpha pings beta');
  await show(['nsenter', `--net=${ns('alpha')}`, 'ping', '-c', '2', '-W', '1', b.addresses[0]!.ip]);

  say('a server in alpha, published as 8080 -> 80, asked on 127.0.0.1:8080');
  const srv = start(['nsenter', `--net=${ns('alpha')}`, process.execPath, tool, 'serve-tcp', '80', 'hello from alpha\n']);
  await new Promise((r) => setTimeout(r, 300));
  await show([process.execPath, tool, 'tcp', '127.0.0.1', '8080']);
  await srv.stop();

  say('kernel state');
  await show(['ip', '-br', 'link']);
  await show(['ip', '-br', 'addr']);
  await show(['iptables-save', '-t', 'nat']);

  say('remove everything');
  await mgr.detach(a.id);
  await mgr.detach(b.id);
  await mgr.removeNetwork('demo');
  await show(['ip', '-br', 'link']);
} finally {
  for (const e of mgr.listEndpoints()) await mgr.detach(e.id);
  for (const n of mgr.listNetworks()) await mgr.removeNetwork(n.id);
  await mgr.firewall.teardown();
  mgr.close();
  for (const n of ['alpha', 'beta']) deleteNetns(ns(n));
  rmSync(state, { recursive: true, force: true });
}
