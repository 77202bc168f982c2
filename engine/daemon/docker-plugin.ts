/**
 * tsnetd's second HTTP server: Docker's remote plugin protocol on `<dir>/tsnet.sock`
 * (default dir /run/docker/plugins, where dockerd discovers plugins by socket name, so
 * the driver and IPAM driver are both called "tsnet"). Every call is a POST whose path is
 * the method ("/NetworkDriver.Join"); answers are `application/vnd.docker.plugins.v1.2+json`.
 * Protocol logic lives in libnetwork/; this file moves bytes. Creates only the socket
 * file (and the directory if missing); close() removes the socket.
 */
import http from 'node:http';
import net from 'node:net';
import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ConflictError, log, makeDirs } from '../../core/index.js';
import type { NetworkManager } from '../../drivers/index.js';
import { CONTENT_TYPE, DockerPlugin } from '../../libnetwork/index.js';

export const DOCKER_PLUGIN_DIR = '/run/docker/plugins';
export const DOCKER_PLUGIN_SOCKET = 'tsnet.sock';
const MAX_BODY = 1 << 20;

export interface DockerPluginServer {
  socket: string;
  plugin: DockerPlugin;
  /** Stops serving and removes the socket file. */
  close(): Promise<void>;
}

/**
 * Serves the plugin for `mgr` on `<dir>/tsnet.sock` (mode 0600: dockerd runs as root).
 * ConflictError when a live process already serves that socket; a stale file is replaced.
 */
export async function startDockerPlugin(mgr: NetworkManager, dir: string): Promise<DockerPluginServer> {
  const socket = join(dir, DOCKER_PLUGIN_SOCKET);
  makeDirs(dir, 0o755);
  await claim(socket);
  const plugin = new DockerPlugin(mgr);
  // Endpoints whose container went while tsnetd was down: reconcile (before this) released
  // their interfaces and ports, their addresses go now, before dockerd calls again.
  const lost = plugin.network.forgetLostEndpoints();
  if (lost.length > 0) log.info({ endpoints: lost }, 'docker endpoints whose sandbox is gone forgotten');
  const pools = plugin.network.forgetReleasedPools();
  if (pools.length > 0) log.info({ pools }, 'docker pools released with a network now gone deleted');
  const server = http.createServer((req, res) => void serve(plugin, req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socket, () => resolve());
  });
  chmodSync(socket, 0o600);
  log.info({ socket }, 'docker plugin listening');
  return {
    socket,
    plugin,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
      if (existsSync(socket)) unlinkSync(socket);
    }),
  };
}

async function serve(plugin: DockerPlugin, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const method = new URL(req.url ?? '/', 'http://tsnet').pathname.replace(/^\/+/, '');
  let answer;
  if (req.method !== 'POST') {
    req.resume();
    answer = { status: 405, body: method.startsWith('IpamDriver.') ? { Error: 'plugin calls are POSTs' } : { Err: 'plugin calls are POSTs' } };
  } else {
    const text = await readBody(req);
    answer = text === undefined
      ? { status: 413, body: method.startsWith('IpamDriver.') ? { Error: 'request body is larger than 1 MiB' } : { Err: 'request body is larger than 1 MiB' } }
      : await plugin.handle(method, text);
  }
  const out = JSON.stringify(answer.body);
  if (res.headersSent) return void res.end();
  res.writeHead(answer.status, { 'Content-Type': CONTENT_TYPE, 'Content-Length': Buffer.byteLength(out) }).end(out);
}

/** The body as text; undefined when larger than MAX_BODY (the rest is drained). */
function readBody(req: http.IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (b: Buffer) => {
      size += b.length;
      if (size <= MAX_BODY) chunks.push(b);
    });
    req.on('end', () => resolve(size > MAX_BODY ? undefined : Buffer.concat(chunks).toString()));
    req.on('error', () => resolve(undefined));
  });
}

/** Refuses a socket a live process serves; removes a stale socket file. */
async function claim(path: string): Promise<void> {
  if (!existsSync(path)) return;
  const alive = await new Promise<boolean>((resolve) => {
    const s = net.connect(path, () => (s.destroy(), resolve(true)));
    s.on('error', () => resolve(false));
  });
  if (alive) throw new ConflictError(`another process serves ${path}`);
  unlinkSync(path);
}
