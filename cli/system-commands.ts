/** `tsnet topology` and `tsnet version`. */
import type { Command } from 'commander';
import { apiPath } from './client.js';
import { formatOption } from './common.js';
import type { Ctx } from './context.js';
import { renderTopologyDot, renderTopologyTree } from './topology.js';
import type { Topology } from './types.js';

/** Adds `topology` and `version` to `program`; `clientVersion` is the package's version. */
export function registerSystemCommands(program: Command, ctx: Ctx, clientVersion: string): void {
  program
    .command('topology')
    .description('show networks, bridges, endpoints, containers and published ports (tree, Graphviz dot or JSON)')
    .addOption(formatOption(['tree', 'dot', 'json']))
    .action(async (o: { format: string }) => {
      const topo = (await ctx.client().request<Topology>('GET', apiPath(['topology']))) ?? {};
      if (o.format === 'json') ctx.json(topo);
      else if (o.format === 'dot') ctx.out(renderTopologyDot(topo));
      else ctx.out(renderTopologyTree(topo));
    });

  program
    .command('version')
    .description('show the client and daemon versions')
    .addOption(formatOption())
    .action(async (o: { format: string }) => {
      const server = await ctx.client().request<{ version?: string; pid?: number }>('GET', apiPath(['ping']));
      if (o.format === 'json') ctx.json({ Client: { Version: clientVersion }, Server: { Version: server?.version, Pid: server?.pid, Socket: ctx.socketPath() } });
      else ctx.out(`Client: ${clientVersion}\nServer: ${server?.version ?? '?'} (pid ${server?.pid ?? '?'}, ${ctx.socketPath()})\n`);
    });
}
