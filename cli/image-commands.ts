/** `tsnet image import|ls`: the daemon's root filesystem images (docs/api.md, Images). */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { apiPath } from './client.js';
import { formatOption, quietOption } from './common.js';
import type { Ctx } from './context.js';
import { humanSize, shortId, timeAgo } from './format.js';
import { renderTable } from './table.js';
import type { ImageSummary } from './types.js';

/** The `image ls` table: NAME, IMAGE ID, CREATED, SIZE. */
export function imageTable(images: readonly ImageSummary[], now: number): string {
  const rows = images.map((i) => [i.Name, i.Id ? shortId(i.Id) : '', timeAgo(i.Created, now), humanSize(i.Size)]);
  return renderTable(['NAME', 'IMAGE ID', 'CREATED', 'SIZE'], rows);
}

/** Adds `image import` and `image ls` to `program`. */
export function registerImageCommands(program: Command, ctx: Ctx): void {
  const image = program.command('image').description('manage images');

  image
    .command('import')
    .description('import a root filesystem (a tar file or a directory) as an image')
    .argument('<file>', 'rootfs tarball or directory (read by the daemon)')
    .argument('<name>')
    .addOption(formatOption())
    .action(async (file: string, name: string, o: { format: string }) => {
      const res = await ctx.client().request<{ Name: string; Id: string }>('POST', apiPath(['images', 'import']), { Path: resolve(file), Name: name });
      if (o.format === 'json') ctx.json(res);
      else ctx.out(`${res.Id}\n`);
    });

  image
    .command('ls')
    .alias('list')
    .description('list images')
    .addOption(quietOption())
    .addOption(formatOption())
    .action(async (o: { quiet?: boolean; format: string }) => {
      const images = (await ctx.client().request<ImageSummary[]>('GET', apiPath(['images']))) ?? [];
      if (o.quiet) ctx.out(images.map((i) => `${i.Id ? shortId(i.Id) : i.Name}\n`).join(''));
      else if (o.format === 'json') ctx.json(images);
      else ctx.out(imageTable(images, ctx.io.now()));
    });
}
