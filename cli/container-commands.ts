/**
 * Container verbs: run, ps, start, stop, rm, exec, logs, inspect, port. Docker's flags,
 * translated to the daemon API (docs/api.md); the daemon validates (e.g. -p syntax).
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { apiPath } from './client.js';
import { formatOption, quietOption } from './common.js';
import type { Ctx } from './context.js';
import { formatCommand, formatPortMapping, formatPorts, formatStatus, shortId, timeAgo, containerPortOf } from './format.js';
import { collect } from './options.js';
import { renderTable } from './table.js';
import type { ContainerCreateRequest, ContainerSummary, ExecResult, PortBinding } from './types.js';

interface RunOpts {
  detach?: boolean;
  rm?: boolean;
  name?: string;
  network?: string;
  ip?: string;
  networkAlias?: string[];
  publish?: string[];
  publishAll?: boolean;
  expose?: string[];
  hostname?: string;
  env?: string[];
  format: string;
}

/** Docker's -e: "K=V" as is; a bare "K" takes K's value from this environment, or is dropped. */
export function resolveEnv(entries: readonly string[], env: NodeJS.ProcessEnv): string[] {
  const out: string[] = [];
  for (const e of entries) {
    if (e.includes('=')) out.push(e);
    else if (env[e] !== undefined) out.push(`${e}=${env[e]}`);
  }
  return out;
}

/** The POST /v1/containers body for `tsnet run` (undefined fields left out). */
export function runRequest(image: string, cmd: readonly string[], o: RunOpts, env: NodeJS.ProcessEnv): ContainerCreateRequest {
  const body: ContainerCreateRequest = { Image: image };
  if (o.name) body.Name = o.name;
  if (cmd.length > 0) body.Cmd = [...cmd];
  if (o.hostname) body.Hostname = o.hostname;
  const e = resolveEnv(o.env ?? [], env);
  if (e.length > 0) body.Env = e;
  if (o.network) body.NetworkMode = o.network;
  if (o.ip) body.IPv4Address = o.ip;
  if (o.networkAlias?.length) body.Aliases = o.networkAlias;
  if (o.publish?.length) body.Ports = o.publish;
  if (o.publishAll) body.PublishAll = true;
  if (o.expose?.length) body.ExposedPorts = o.expose;
  if (o.rm) body.AutoRemove = true;
  return body;
}

async function run(ctx: Ctx, image: string, cmd: string[], o: RunOpts): Promise<void> {
  const api = ctx.client();
  const created = await api.request<{ Id: string; Name?: string }>('POST', apiPath(['containers']), runRequest(image, cmd, o, process.env));
  try {
    await api.request('POST', apiPath(['containers', created.Id, 'start']));
  } catch (err) {
    // `run` is all or nothing: a container that cannot start (port taken, ...) is removed.
    await api.request('DELETE', apiPath(['containers', created.Id], { force: '1' })).catch(() => undefined);
    throw err;
  }
  if (o.detach) {
    if (o.format === 'json') ctx.json(created);
    else ctx.out(`${created.Id}\n`);
    return;
  }
  // Foreground: ask for the exit status at once (an AutoRemove container may vanish right
  // after it exits), stream its output until it exits, then exit with its status.
  const waited = api.request<{ StatusCode?: number }>('POST', apiPath(['containers', created.Id, 'wait']), undefined, { noTimeout: true });
  waited.catch(() => undefined); // awaited below; avoid an unhandled rejection meanwhile
  const stopOnInterrupt = interruptHandler(ctx, created.Id);
  try {
    await api.stream('GET', apiPath(['containers', created.Id, 'logs'], { follow: '1' }), (chunk) => ctx.out(chunk.toString('utf8')));
    const res = await waited;
    ctx.exitCode = res?.StatusCode ?? 0;
  } finally {
    process.off('SIGINT', stopOnInterrupt);
  }
}

/** First Ctrl-C: stop the container (its output still drains); second: leave at once (130). */
function interruptHandler(ctx: Ctx, id: string): () => void {
  let count = 0;
  const handler = (): void => {
    count++;
    if (count > 1) process.exit(130);
    ctx.io.stderr(`stopping ${shortId(id)} (Ctrl-C again to detach)\n`);
    ctx.client().request('POST', apiPath(['containers', id, 'stop'])).catch((err: unknown) => ctx.fail(err));
  };
  process.on('SIGINT', handler);
  return handler;
}

function networksOf(c: ContainerSummary): string {
  const n = c.Networks;
  if (!n) return '';
  if (Array.isArray(n)) return n.map((x) => (typeof x === 'string' ? x : (x.Name ?? ''))).filter(Boolean).join(',');
  return Object.keys(n).join(',');
}

/** The STATUS cell: the daemon's human text if it sent one, else docker's from the state. */
function statusOf(c: ContainerSummary, now: number): string {
  if (c.Status && c.Status !== c.State) return c.Status;
  return formatStatus(c, now);
}

/** The `ps` table: CONTAINER ID, IMAGE, COMMAND, CREATED, STATUS, PORTS, NETWORKS, NAMES. */
export function containerTable(list: readonly ContainerSummary[], now: number, noTrunc = false): string {
  const rows = list.map((c) => [
    noTrunc ? c.Id : shortId(c.Id),
    c.Image ?? '',
    noTrunc ? JSON.stringify(Array.isArray(c.Command) ? c.Command.join(' ') : (c.Command ?? '')) : formatCommand(c.Command),
    timeAgo(c.Created, now),
    statusOf(c, now),
    formatPorts(c.Ports),
    networksOf(c),
    c.Name ?? '',
  ]);
  return renderTable(['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NETWORKS', 'NAMES'], rows);
}

async function ps(ctx: Ctx, o: { all?: boolean; quiet?: boolean; format: string; trunc: boolean }): Promise<void> {
  const list = (await ctx.client().request<ContainerSummary[]>('GET', apiPath(['containers'], o.all ? { all: '1' } : {}))) ?? [];
  if (o.quiet) ctx.out(list.map((c) => `${o.trunc ? shortId(c.Id) : c.Id}\n`).join(''));
  else if (o.format === 'json') ctx.json(list);
  else ctx.out(containerTable(list, ctx.io.now(), !o.trunc));
}

/** start / stop / rm: one request per container, the name echoed as docker does. */
async function eachContainer(ctx: Ctx, names: readonly string[], format: string, send: (name: string) => Promise<unknown>): Promise<void> {
  const done = await ctx.eachTarget(names, async (n) => {
    await send(n);
    if (format !== 'json') ctx.out(`${n}\n`);
    return n;
  });
  if (format === 'json') ctx.json(done);
}

async function exec(ctx: Ctx, name: string, cmd: string[], format: string): Promise<void> {
  const res = await ctx.client().request<ExecResult>('POST', apiPath(['containers', name, 'exec']), { Cmd: cmd });
  if (format === 'json') ctx.json(res);
  else {
    if (res.Stdout) ctx.out(res.Stdout);
    if (res.Stderr) ctx.io.stderr(res.Stderr);
  }
  ctx.exitCode = res.ExitCode ?? 0;
}

async function inspect(ctx: Ctx, names: readonly string[]): Promise<void> {
  ctx.json(await ctx.eachTarget(names, (n) => ctx.client().request<unknown>('GET', apiPath(['containers', n]))));
}

async function port(ctx: Ctx, name: string, privatePort: string | undefined, format: string): Promise<void> {
  let ports = (await ctx.client().request<PortBinding[]>('GET', apiPath(['containers', name, 'port']))) ?? [];
  if (privatePort) {
    const want = privatePort.includes('/') ? privatePort : `${privatePort}/tcp`;
    ports = ports.filter((p) => containerPortOf(p) === want);
    if (ports.length === 0) throw new Error(`no public port '${want}' published for ${name}`);
  }
  if (format === 'json') ctx.json(ports);
  else ctx.out(ports.map((p) => `${formatPortMapping(p)}\n`).join(''));
}

/** Adds the container verbs to `program`. */
export function registerContainerCommands(program: Command, ctx: Ctx): void {
  program
    .command('run')
    .description('create and start a container')
    .argument('<image>')
    .argument('[command...]')
    .passThroughOptions()
    .option('-d, --detach', 'run in the background and print the container id')
    .option('--rm', 'remove the container when it exits')
    .option('--name <name>', 'container name')
    .option('--network <network>', 'network: a network name, bridge, host, none or container:NAME')
    .option('--ip <ip>', 'IPv4 address on the network')
    .option('--network-alias <alias>', 'network-scoped DNS alias (repeatable)', collect)
    .option('-p, --publish <spec>', 'publish a port: [ip:][hostPort:]containerPort[/proto] (repeatable)', collect)
    .option('-P, --publish-all', 'publish every exposed port to a random host port')
    .option('--expose <port>', 'expose a port or range: PORT[-END][/proto] (repeatable; published by -P)', collect)
    .option('--hostname <name>', 'container host name')
    .option('-e, --env <K=V>', 'environment variable (repeatable)', collect)
    .addOption(formatOption())
    .action((image: string, cmd: string[], o: RunOpts) => run(ctx, image, cmd, o));

  program
    .command('ps')
    .description('list containers')
    .option('-a, --all', 'show all containers (default: running only)')
    .addOption(quietOption())
    .option('--no-trunc', 'do not truncate output')
    .addOption(formatOption())
    .action((o: { all?: boolean; quiet?: boolean; format: string; trunc: boolean }) => ps(ctx, o));

  program
    .command('start')
    .description('start containers')
    .argument('<container...>')
    .addOption(formatOption())
    .action((names: string[], o: { format: string }) =>
      eachContainer(ctx, names, o.format, (n) => ctx.client().request('POST', apiPath(['containers', n, 'start']))),
    );

  program
    .command('stop')
    .description('stop containers')
    .argument('<container...>')
    .addOption(new Option('-t, --time <seconds>', 'seconds to wait before killing').argParser(nonNegativeInt))
    .addOption(formatOption())
    .action((names: string[], o: { format: string; time?: number }) =>
      eachContainer(ctx, names, o.format, (n) =>
        ctx.client().request('POST', apiPath(['containers', n, 'stop'], { t: o.time === undefined ? undefined : String(o.time) }), undefined,
          { extraMs: (o.time ?? 10) * 1000 }), // the daemon waits that long before it kills
      ),
    );

  program
    .command('rm')
    .description('remove containers')
    .argument('<container...>')
    .option('-f, --force', 'stop and remove a running container')
    .addOption(formatOption())
    .action((names: string[], o: { force?: boolean; format: string }) =>
      eachContainer(ctx, names, o.format, (n) =>
        ctx.client().request('DELETE', apiPath(['containers', n], { force: o.force ? '1' : undefined })),
      ),
    );

  program
    .command('exec')
    .description('run a command in a running container')
    .argument('<container>')
    .argument('<command...>')
    .passThroughOptions()
    .addOption(formatOption())
    .action((name: string, cmd: string[], o: { format: string }) => exec(ctx, name, cmd, o.format));

  program
    .command('logs')
    .description("print a container's output")
    .argument('<container>')
    .option('-f, --follow', 'follow the output until the container exits')
    .action((name: string, o: { follow?: boolean }) =>
      ctx.client().stream('GET', apiPath(['containers', name, 'logs'], { follow: o.follow ? '1' : undefined }), (c) => ctx.out(c.toString('utf8'))),
    );

  program
    .command('inspect')
    .description('show containers in detail (a JSON array, as docker)')
    .argument('<container...>')
    .addOption(formatOption(['json']))
    .action((names: string[]) => inspect(ctx, names));

  program
    .command('port')
    .description("list a container's published ports")
    .argument('<container>')
    .argument('[private-port]', 'only this port, e.g. 80 or 53/udp')
    .addOption(formatOption())
    .action((name: string, p: string | undefined, o: { format: string }) => port(ctx, name, p, o.format));
}

function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`"${value}" is not a whole number of seconds`);
  return n;
}
