/**
 * Images: root filesystems in `<TSNET_ROOT>/images/<name>/rootfs`, with `image.json` beside
 * each. Acts on files only (no netns). An image is built in a temporary `.tmp-*` folder and
 * renamed into place, so a crash never leaves a half-imported image under its name.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, copyFile, lstat, mkdir, readdir, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, ConflictError, NotFoundError } from '../../core/errors.js';
import { paths } from '../../core/paths.js';
import { run } from '../../core/exec/index.js';
import { checkAbsolutePath, checkImageName } from './names.js';

export interface ImageInfo {
  name: string;
  /** `sha256:` + hex: of the tarball, of the busybox binary, or random for a directory import. */
  id: string;
  /** ISO 8601. */
  created: string;
  /** Bytes used by the rootfs (du). */
  size: number;
  /** Absolute path of the root filesystem. */
  rootfs: string;
  /** Where it came from: a path, or `builtin:/bin/busybox`. */
  source: string;
}

export const BUSYBOX_IMAGE = 'busybox';

/** Directories and files every rootfs gets, so runc never has to create mount points in it. */
const PLACEHOLDER_DIRS = ['proc', 'sys', 'dev', 'tmp', 'etc', 'root'];
const PLACEHOLDER_FILES = ['etc/hosts', 'etc/resolv.conf', 'etc/hostname'];

const PASSWD = 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n';
const GROUP = 'root:x:0:\ntty:x:5:\nnogroup:x:65534:\n';

function errno(err: unknown): string | undefined {
  return (err as { code?: string }).code;
}

/**
 * Creates `rel` (a dir or an empty file) inside rootfs unless it exists, never following a
 * symlink of the image (an image's `/etc -> /somewhere` must not lead outside its rootfs):
 * when a component is a symlink or not a directory, the path is left alone.
 */
async function ensureInRootfs(rootfs: string, rel: string, kind: 'dir' | 'file'): Promise<void> {
  const parts = rel.split('/');
  let at = rootfs;
  for (const [i, part] of parts.entries()) {
    at = join(at, part);
    const last = i === parts.length - 1;
    let st;
    try {
      st = await lstat(at);
    } catch (err) {
      if (errno(err) !== 'ENOENT') throw err;
      if (last && kind === 'file') await writeFile(at, '', { flag: 'wx', mode: 0o644 });
      else {
        await mkdir(at, { mode: 0o755 });
        if (rel === 'tmp') await chmod(at, 0o1777); // mkdir's mode is masked by the umask
      }
      continue;
    }
    if (last) return;
    if (!st.isDirectory()) return;
  }
}

async function prepareRootfs(rootfs: string): Promise<void> {
  for (const d of PLACEHOLDER_DIRS) await ensureInRootfs(rootfs, d, 'dir');
  for (const f of PLACEHOLDER_FILES) await ensureInRootfs(rootfs, f, 'file');
}

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return `sha256:${h.digest('hex')}`;
}

async function diskUsage(dir: string): Promise<number> {
  const r = await run(['du', '-s', '-B1', dir], { timeoutMs: 60_000 });
  return Number(r.stdout.split(/\s/)[0] ?? 0);
}

export class ImageStore {
  /** `<root>/images`. */
  readonly dir: string;
  private readonly containersDir: string;

  /** `root` is TSNET_ROOT (default from the environment). */
  constructor(root: string = paths().root) {
    this.dir = join(root, 'images');
    this.containersDir = join(root, 'containers');
  }

  private imageDir(name: string): string {
    return join(this.dir, name);
  }

  /**
   * Imports a root filesystem under `name`: a directory (copied with `cp -a`) or a tarball
   * (.tar, .tar.gz, .tgz; `tar -xf`, compression detected by tar). ConfigError (field `name`
   * or `src`) on bad input, ConflictError when the name is taken. Removed with removeImage.
   */
  async importImage(src: string, name: string): Promise<ImageInfo> {
    checkImageName(name, 'name');
    checkAbsolutePath(src, 'src');
    let st;
    try {
      st = await stat(src);
    } catch {
      throw new ConfigError(`import source ${src} does not exist`, 'src');
    }
    const isTar = st.isFile() && /\.(tar|tar\.gz|tgz)$/.test(src);
    if (!st.isDirectory() && !isTar) throw new ConfigError(`import source ${src} is neither a directory nor a .tar/.tar.gz file`, 'src');
    await this.checkFree(name);
    return this.build(name, async (rootfs) => {
      if (isTar) await run(['tar', '-xf', src, '-C', rootfs, '--numeric-owner'], { timeoutMs: 300_000 });
      else await run(['cp', '-a', '--', `${src}/.`, rootfs], { timeoutMs: 300_000 });
      return { id: isTar ? await sha256File(src) : `sha256:${randomBytes(32).toString('hex')}`, source: src };
    });
  }

  /**
   * The built-in `busybox` image, built once from Debian's busybox-static: bin/busybox, a
   * symlink per applet (`busybox --list`), minimal /etc/passwd and /etc/group, and the mount
   * point dirs. Idempotent and safe against a concurrent build (the loser's copy is dropped).
   */
  async ensureBusyboxImage(busybox = '/bin/busybox'): Promise<ImageInfo> {
    const existing = await this.findImage(BUSYBOX_IMAGE);
    if (existing) return existing;
    try {
      await stat(busybox);
    } catch {
      throw new NotFoundError(`${busybox} not found: install Debian's busybox-static`);
    }
    try {
      return await this.build(BUSYBOX_IMAGE, async (rootfs) => {
        await mkdir(join(rootfs, 'bin'), { recursive: true });
        await copyFile(busybox, join(rootfs, 'bin', 'busybox'));
        await chmod(join(rootfs, 'bin', 'busybox'), 0o755);
        const applets = (await run([busybox, '--list'])).stdout.split('\n').map((a) => a.trim());
        for (const a of applets) {
          if (a && a !== 'busybox' && !a.includes('/')) await symlink('busybox', join(rootfs, 'bin', a));
        }
        await mkdir(join(rootfs, 'etc'), { recursive: true });
        await writeFile(join(rootfs, 'etc', 'passwd'), PASSWD);
        await writeFile(join(rootfs, 'etc', 'group'), GROUP);
        return { id: await sha256File(busybox), source: `builtin:${busybox}` };
      });
    } catch (err) {
      if (err instanceof ConflictError) return this.getImage(BUSYBOX_IMAGE);
      throw err;
    }
  }

  /** All images, by name. */
  async listImages(): Promise<ImageInfo[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if (errno(err) === 'ENOENT') return [];
      throw err;
    }
    const images: ImageInfo[] = [];
    for (const n of names.filter((x) => !x.startsWith('.')).sort()) {
      const img = await this.findImage(n);
      if (img) images.push(img);
    }
    return images;
  }

  /** One image; NotFoundError when absent. */
  async getImage(name: string): Promise<ImageInfo> {
    checkImageName(name, 'name');
    const img = await this.findImage(name);
    if (!img) throw new NotFoundError(`image "${name}" not found`);
    return img;
  }

  /**
   * Removes an image's files. NotFoundError when absent; ConflictError when a container
   * (a dir in `<root>/containers` whose config.json uses this rootfs) still refers to it.
   */
  async removeImage(name: string): Promise<void> {
    const img = await this.getImage(name);
    const users = await this.containersUsing(img.rootfs);
    if (users.length > 0) throw new ConflictError(`image "${name}" is used by container(s) ${users.join(', ')}`, 'name');
    const doomed = join(this.dir, `.rm-${randomBytes(6).toString('hex')}`);
    await rename(this.imageDir(name), doomed);
    await rm(doomed, { recursive: true, force: true });
  }

  private async findImage(name: string): Promise<ImageInfo | undefined> {
    try {
      return JSON.parse(await readFile(join(this.imageDir(name), 'image.json'), 'utf8')) as ImageInfo;
    } catch (err) {
      if (errno(err) === 'ENOENT' || errno(err) === 'ENOTDIR') return undefined;
      throw err;
    }
  }

  private async checkFree(name: string): Promise<void> {
    try {
      await lstat(this.imageDir(name));
    } catch (err) {
      if (errno(err) === 'ENOENT') return;
      throw err;
    }
    throw new ConflictError(`image "${name}" already exists`, 'name');
  }

  /** Fills a fresh rootfs in a temp dir with `fill`, then renames it into place. */
  private async build(name: string, fill: (rootfs: string) => Promise<{ id: string; source: string }>): Promise<ImageInfo> {
    const tmp = join(this.dir, `.tmp-${randomBytes(6).toString('hex')}`);
    const rootfs = join(tmp, 'rootfs');
    await mkdir(rootfs, { recursive: true, mode: 0o755 });
    try {
      const { id, source } = await fill(rootfs);
      await prepareRootfs(rootfs);
      const info: ImageInfo = {
        name, id, source,
        created: new Date().toISOString(),
        size: await diskUsage(rootfs),
        rootfs: join(this.imageDir(name), 'rootfs'),
      };
      await writeFile(join(tmp, 'image.json'), `${JSON.stringify(info, null, 2)}\n`, { mode: 0o644 });
      try {
        await rename(tmp, this.imageDir(name));
      } catch (err) {
        if (errno(err) === 'EEXIST' || errno(err) === 'ENOTEMPTY') throw new ConflictError(`image "${name}" already exists`, 'name');
        throw err;
      }
      return info;
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
  }

  private async containersUsing(rootfs: string): Promise<string[]> {
    let ids: string[];
    try {
      ids = await readdir(this.containersDir);
    } catch (err) {
      if (errno(err) === 'ENOENT') return [];
      throw err;
    }
    const users: string[] = [];
    for (const id of ids) {
      try {
        const spec = JSON.parse(await readFile(join(this.containersDir, id, 'config.json'), 'utf8')) as { root?: { path?: string } };
        if (spec.root?.path === rootfs) users.push(id);
      } catch {
        // a container dir without a readable config uses nothing
      }
    }
    return users;
  }
}
