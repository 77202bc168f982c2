/**
 * `tsnet network create|ls|inspect|rm|prune|connect|disconnect`: docker's verbs and flags,
 * translated to the daemon API (docs/api.md). The daemon does the work and the validation.
 */
import { Command, Option } from 'commander';
import { apiPath } from './client.js';
import { formatOption, quietOption } from './common.js';
import type { Ctx } from './context.js';
import { shortId } from './format.js';
import { collect, collectKeyValue, collectLabel, filterParser, pairSubnets, toRecord, type Filters } from './options.js';
import { renderTable } from './table.js';
import type { NetworkCreateRequest, NetworkInspect } from './types.js';

const BUILTIN = new Set(['bridge', 'host', 'none']);
const FILTER_KEYS = ['driver', 'name', 'id', 'label', 'scope', 'type'];

interface CreateOpts {
  driver?: string;
  subnet?: string[];
  ipRange?: string[];
  gateway?: string[];
  auxAddress?: [string, string][];
  internal?: boolean;
  ipv6?: boolean;
  ipv4?: boolean;
  opt?: [string, string][];
  label?: [string, string][];
  format: string;
}

async function create(ctx: Ctx, name: string, o: CreateOpts): Promise<void> {
  const body: NetworkCreateRequest = { Name: name };
  if (o.driver) body.Driver = o.driver;
  const subnets = await pairSubnets(o.subnet ?? [], o.ipRange ?? [], o.gateway ?? [], o.auxAddress ?? []);
  if (subnets) body.Subnets = subnets;
  if (o.internal) body.Internal = true;
  if (o.ipv6 !== undefined) body.IPv6 = o.ipv6;
  if (o.ipv4 === false) body.IPv4 = false;
  const options = toRecord(o.opt);
  if (options) body.Options = options;
  const labels = toRecord(o.label);
  if (labels) body.Labels = labels;
  const net = await ctx.client().request<NetworkInspect>('POST', apiPath(['networks']), body);
  if (o.format === 'json') ctx.json(net);
  else ctx.out(`${net.Id}\n`);
}

/** One docker-style filter test: values of one key are OR'd. */
function matchesFilter(net: NetworkInspect, key: string, values: readonly string[]): boolean {
  return values.some((v) => {
    switch (key) {
      case 'driver':
        return net.Driver === v;
      case 'name':
        return net.Name.includes(v);
      case 'id':
        return net.Id.startsWith(v);
      case 'scope':
        return (net.Scope ?? 'local') === v;
      case 'type':
        return v === 'builtin' ? BUILTIN.has(net.Name) : v === 'custom' ? !BUILTIN.has(net.Name) : false;
      case 'label': {
        const eq = v.indexOf('=');
        const labels = net.Labels ?? {};
        return eq < 0 ? v in labels : labels[v.slice(0, eq)] === v.slice(eq + 1);
      }
      default:
        return false;
    }
  });
}

/** Networks that pass every filter key (keys are AND'd), in the daemon's order. */
export function filterNetworks(nets: readonly NetworkInspect[], filters: Filters | undefined): NetworkInspect[] {
  if (!filters) return [...nets];
  return nets.filter((n) => [...filters].every(([k, v]) => matchesFilter(n, k, v)));
}

/** The `network ls` table: NETWORK ID, NAME, DRIVER, SCOPE. */
export function networkTable(nets: readonly NetworkInspect[], noTrunc = false): string {
  const rows = nets.map((n) => [noTrunc ? n.Id : shortId(n.Id), n.Name, n.Driver ?? '', n.Scope ?? 'local']);
  return renderTable(['NETWORK ID', 'NAME', 'DRIVER', 'SCOPE'], rows);
}

async function list(ctx: Ctx, o: { quiet?: boolean; filter?: Filters; format: string; noTrunc?: boolean }): Promise<void> {
  const drivers = o.filter?.get('driver');
  const query = drivers?.length === 1 ? { driver: drivers[0] } : {};
  const nets = filterNetworks((await ctx.client().request<NetworkInspect[]>('GET', apiPath(['networks'], query))) ?? [], o.filter);
  if (o.quiet) ctx.out(nets.map((n) => `${o.noTrunc ? n.Id : shortId(n.Id)}\n`).join(''));
  else if (o.format === 'json') ctx.json(nets);
  else ctx.out(networkTable(nets, o.noTrunc));
}

async function inspect(ctx: Ctx, names: readonly string[]): Promise<void> {
  const found = await ctx.eachTarget(names, (n) => ctx.client().request<NetworkInspect>('GET', apiPath(['networks', n])));
  ctx.json(found);
}

async function remove(ctx: Ctx, names: readonly string[], format: string): Promise<void> {
  const removed = await ctx.eachTarget(names, async (n) => {
    await ctx.client().request('DELETE', apiPath(['networks', n]));
    if (format !== 'json') ctx.out(`${n}\n`);
    return n;
  });
  if (format === 'json') ctx.json(removed);
}

async function prune(ctx: Ctx, o: { force?: boolean; format: string }): Promise<void> {
  if (!o.force) {
    ctx.out('WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] ');
    const answer = (await ctx.io.readLine()).trim().toLowerCase();
    if (answer !== 'y' && answer !== 'yes') {
      if (o.format !== 'json') ctx.out('\n');
      return;
    }
  }
  const res = await ctx.client().request<{ Removed?: string[] }>('POST', apiPath(['networks', 'prune']));
  const removed = res?.Removed ?? [];
  if (o.format === 'json') ctx.json({ Removed: removed });
  else if (removed.length > 0) ctx.out(`Deleted Networks:\n${removed.map((n) => `${n}\n`).join('')}`);
}

async function connect(ctx: Ctx, net: string, ctr: string, o: { ip?: string; alias?: string[]; format: string }): Promise<void> {
  const body: { Container: string; IPv4Address?: string; Aliases?: string[] } = { Container: ctr };
  if (o.ip) body.IPv4Address = o.ip;
  if (o.alias?.length) body.Aliases = o.alias;
  await ctx.client().request('POST', apiPath(['networks', net, 'connect']), body);
  if (o.format === 'json') ctx.json({ Network: net, Container: ctr });
}

async function disconnect(ctx: Ctx, net: string, ctr: string, o: { force?: boolean; format: string }): Promise<void> {
  const body: { Container: string; Force?: boolean } = { Container: ctr };
  if (o.force) body.Force = true;
  await ctx.client().request('POST', apiPath(['networks', net, 'disconnect']), body);
  if (o.format === 'json') ctx.json({ Network: net, Container: ctr });
}

/** Adds `network` and its subcommands to `program`. */
export function registerNetworkCommands(program: Command, ctx: Ctx): void {
  const network = program.command('network').description('manage networks');

  network
    .command('create')
    .description('create a network')
    .argument('<name>')
    .addOption(new Option('-d, --driver <driver>', 'driver (bridge, macvlan, host, none; default bridge)'))
    .option('--subnet <cidr>', 'subnet in CIDR form (repeatable)', collect)
    .option('--ip-range <cidr>', 'allocate container addresses from this sub-range (repeatable)', collect)
    .option('--gateway <ip>', 'gateway of the matching subnet (repeatable)', collect)
    .option('--aux-address <name=ip>', 'address the IPAM must not hand out (repeatable)', collectKeyValue)
    .option('--internal', 'no external connectivity (no masquerade, no egress)')
    .option('--ipv6', 'enable IPv6 (implied by an IPv6 --subnet)')
    .option('--no-ipv6', 'IPv6 off (--ipv6=false), even with an IPv6 --subnet: refused')
    .option('--ipv4', 'IPv4 on (the default)')
    .option('--no-ipv4', 'no IPv4 (--ipv4=false): with --ipv6, an IPv6-only network')
    .option('-o, --opt <key=value>', 'driver option (repeatable)', collectKeyValue)
    .option('--label <key=value>', 'label (repeatable)', collectLabel)
    .addOption(formatOption())
    .action((name: string, o: CreateOpts) => create(ctx, name, o));

  network
    .command('ls')
    .alias('list')
    .description('list networks')
    .addOption(quietOption())
    .option('-f, --filter <key=value>', `filter (${FILTER_KEYS.join(', ')}; repeatable)`, filterParser(FILTER_KEYS))
    .option('--no-trunc', 'do not truncate ids')
    .addOption(formatOption())
    .action((o: { quiet?: boolean; filter?: Filters; format: string; trunc: boolean }) => list(ctx, { ...o, noTrunc: !o.trunc }));

  network
    .command('inspect')
    .description('show networks in detail (a JSON array, as docker)')
    .argument('<network...>')
    .addOption(formatOption(['json']))
    .action((names: string[]) => inspect(ctx, names));

  network
    .command('rm')
    .alias('remove')
    .description('remove networks')
    .argument('<network...>')
    .addOption(formatOption())
    .action((names: string[], o: { format: string }) => remove(ctx, names, o.format));

  network
    .command('prune')
    .description('remove all networks not used by a container')
    .option('-f, --force', 'do not ask for confirmation')
    .addOption(formatOption())
    .action((o: { force?: boolean; format: string }) => prune(ctx, o));

  network
    .command('connect')
    .description('connect a container to a network')
    .argument('<network>')
    .argument('<container>')
    .option('--ip <ip>', 'IPv4 address for the container')
    .option('--alias <alias>', 'network-scoped DNS alias (repeatable)', collect)
    .addOption(formatOption())
    .action((net: string, ctr: string, o: { ip?: string; alias?: string[]; format: string }) => connect(ctx, net, ctr, o));

  network
    .command('disconnect')
    .description('disconnect a container from a network')
    .argument('<network>')
    .argument('<container>')
    .option('-f, --force', 'force the disconnection')
    .addOption(formatOption())
    .action((net: string, ctr: string, o: { force?: boolean; format: string }) => disconnect(ctx, net, ctr, o));
}
