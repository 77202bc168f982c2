/**
 * The CNI wire: the length-prefixed frames the compiled shim and tsnetd exchange on the API
 * socket (docs/api.md), next to HTTP on the same socket. tsnetd's side is spoken to directly;
 * the shim's side is run against a fake server in this process answering canned frames.
 * Everything lives in the test's throwaway host netns and a temp dir removed at the end.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import http from 'node:http';
import { existsSync, linkSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { packageRoot } from '../core/index.js';
import { run } from '../core/exec/index.js';
import { startDaemon, stopDaemon, purgeDaemon, removeDaemonDir, cli, type Daemon } from './daemon.js';

const SHIM = join(packageRoot(), 'build', 'Release', 'tsnet_cni_shim');
const T = suite('cni-wire');
const dir = mkdtempSync(join(tmpdir(), 'tsnet-wire-'));
let daemon: Daemon | undefined;

const VERSION_BODY = { argv0: 'tsnet-bridge', env: { CNI_COMMAND: 'VERSION' }, stdin: '{"cniVersion":"1.0.0"}' };
const SUPPORTED = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'];

/** One request frame as the shim writes it. */
function frame(body: unknown): Buffer {
  const b = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  return Buffer.concat([Buffer.from(`\0CNI1 ${b.length}\n`), b]);
}

/** Sends `bytes` (then optionally ends our side) and collects everything until the daemon closes. */
function exchange(socket: string, bytes: Buffer, end = false): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const c = net.connect(socket, () => (end ? c.end(bytes) : c.write(bytes)));
    c.on('data', (b) => chunks.push(b)).on('end', () => resolve(Buffer.concat(chunks))).on('error', reject);
    c.setTimeout(20_000, () => reject(new Error('no answer')));
  });
}

/** Parses an answer frame: kind, number and body, checking the declared length. */
function parse(answer: Buffer): { kind: string; n: number; body: string } {
  const nl = answer.indexOf(10);
  const m = /^\0CNI1 (\w+) (-?\d+) (\d+)$/.exec(answer.subarray(0, nl).toString('latin1'));
  assert.ok(m, `answer header: ${JSON.stringify(answer.subarray(0, 64).toString('latin1'))}`);
  const body = answer.subarray(nl + 1).toString();
  assert.is(Buffer.byteLength(body), Number(m[3]), 'declared length');
  return { kind: m[1] ?? '', n: Number(m[2]), body };
}

T.after(async () => {
  if (daemon) {
    await stopDaemon(daemon);
    await purgeDaemon(daemon);
    await removeDaemonDir(daemon);
  }
  rmSync(dir, { recursive: true, force: true });
});

T('tsnetd answers CNI wire frames and HTTP on one socket; bad frames get errors, the daemon keeps serving', async () => {
  daemon = await startDaemon();
  const sock = daemon.socket;
  const ok = parse(await exchange(sock, frame(VERSION_BODY)));
  assert.equal([ok.kind, ok.n], ['exit', 0]);
  assert.equal((JSON.parse(ok.body) as { supportedVersions: string[] }).supportedVersions, SUPPORTED);
  // A plugin failure is the plugin's answer (exit 1 + its error object), not a refusal.
  const failed = parse(await exchange(sock, frame({ ...VERSION_BODY, env: { CNI_COMMAND: 'ADD' }, stdin: '{' })));
  assert.equal([failed.kind, failed.n, (JSON.parse(failed.body) as { code: number }).code], ['exit', 1, 6]);
  // A caller in another network namespace is told to run the plugin itself.
  assert.is(parse(await exchange(sock, frame({ ...VERSION_BODY, hostNetns: 1 }))).kind, 'fallback');
  const refused = async (bytes: Buffer, end = false): Promise<{ message: string; field?: string }> => {
    const a = parse(await exchange(sock, bytes, end));
    assert.equal([a.kind, a.n], ['error', 400], a.body);
    return JSON.parse(a.body) as { message: string; field?: string };
  };
  assert.match((await refused(frame('{not json'))).message, /not valid JSON/);
  // Refused as the HTTP API refuses a body: the field named.
  const extra = await refused(frame({ ...VERSION_BODY, extra: 1 }));
  assert.equal([extra.message, extra.field], ['unknown field "extra"', 'extra']);
  const missing = await refused(frame({ argv0: 'tsnet-bridge', env: {} }));
  assert.equal([missing.field, /stdin/.test(missing.message)], ['stdin', true]);
  assert.match((await refused(Buffer.from('\0CNI1 abc\n{}'))).message, /header is malformed/);
  assert.match((await refused(Buffer.from('\0CNI1 99999999\n{}'))).message, /larger than 1 MiB/);
  assert.match((await refused(Buffer.from('\0CNI1 100\n{}'), true)).message, /ended before its body/);
  // Clients that leave early: nothing sent, or half a frame.
  await new Promise<void>((resolve) => net.connect(sock, function (this: net.Socket) { this.end(); }).on('close', () => resolve()));
  await new Promise<void>((resolve) => {
    const c = net.connect(sock, () => c.write('\0CNI1 50\n{"a'));
    setTimeout(() => (c.destroy(), resolve()), 100);
  });
  // HTTP on the same socket: the CLI, and POST /v1/cni?raw=1.
  assert.is((await cli(daemon, ['version'])).exitCode, 0);
  const raw = await new Promise<{ status: number; code: string | undefined; body: string }>((resolve, reject) => {
    const req = http.request({ socketPath: sock, method: 'POST', path: '/v1/cni?raw=1', headers: { 'Content-Type': 'application/json' } }, (res) => {
      let body = '';
      res.on('data', (b: Buffer) => (body += b.toString())).on('end', () => resolve({ status: res.statusCode ?? 0, code: res.headers['x-cni-exit-code'] as string | undefined, body }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(VERSION_BODY));
  });
  assert.equal([raw.status, raw.code, (JSON.parse(raw.body) as { supportedVersions: string[] }).supportedVersions], [200, '0', SUPPORTED]);
  assert.is(parse(await exchange(sock, frame(VERSION_BODY))).kind, 'exit', 'still serving');
});

/** Runs the shim as `tsnet-bridge` against a fake daemon that answers every request with `answer`. */
async function shimAgainst(answer: Buffer | string): Promise<{ exitCode: number; stdout: string; stderr: string; request: Buffer }> {
  const sock = join(dir, `fake-${Math.random().toString(16).slice(2)}.sock`);
  let request = Buffer.alloc(0);
  const server = net.createServer((c) => {
    c.on('data', (b: Buffer) => {
      request = Buffer.concat([request, b]);
      const nl = request.indexOf(10);
      if (nl > 0 && request.length >= nl + 1 + Number(request.subarray(6, nl).toString())) c.end(answer);
    });
  });
  await new Promise<void>((resolve) => server.listen(sock, resolve));
  try {
    const bin = join(dir, 'tsnet-bridge');
    if (!existsSync(bin)) linkSync(SHIM, bin);
    const env = { PATH: process.env['PATH'] ?? '', TSNET_HOST: sock, TSNET_ROOT: join(dir, 'lib'), CNI_COMMAND: 'VERSION', CNI_ARGS: 'K="v"', OTHER: 'x' };
    const r = await run([bin], { input: '{"cniVersion":"1.0.0"}', env, okCodes: Array.from({ length: 255 }, (_, i) => i + 1), timeoutMs: 60_000 });
    return { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr, request };
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
}

const answer = (kind: string, n: number, body: string, len = Buffer.byteLength(body)) => `\0CNI1 ${kind} ${n} ${len}\n${body}`;

T('the shim sends one frame and relays exit code and stdout; refusals and broken answers are CNI errors', async () => {
  if (!existsSync(SHIM)) return void console.log('  (skipped: build/Release/tsnet_cni_shim not built)');
  const relayed = await shimAgainst(answer('exit', 3, '{"plugin":"said"}'));
  assert.equal([relayed.exitCode, relayed.stdout], [3, '{"plugin":"said"}']);
  const nl = relayed.request.indexOf(10);
  assert.is(relayed.request.subarray(0, 6).toString('latin1'), '\0CNI1 ');
  assert.is(Number(relayed.request.subarray(6, nl).toString()), relayed.request.length - nl - 1, 'declared length');
  const sent = JSON.parse(relayed.request.subarray(nl + 1).toString()) as { argv0: string; env: Record<string, string>; stdin: string; hostNetns: number };
  assert.equal([sent.argv0, sent.env, sent.stdin], ['tsnet-bridge', { CNI_COMMAND: 'VERSION', CNI_ARGS: 'K="v"' }, '{"cniVersion":"1.0.0"}']);
  assert.ok(Number.isInteger(sent.hostNetns) && sent.hostNetns > 0, 'hostNetns');

  const code = (r: { stdout: string }) => (JSON.parse(r.stdout) as { code: number }).code;
  const refusal = await shimAgainst(answer('error', 400, '{"message":"cni request body is not valid JSON","code":"config"}'));
  assert.equal([refusal.exitCode, code(refusal)], [1, 105]);
  assert.match(refusal.stderr, /not valid JSON/);
  for (const broken of [answer('exit', 0, '{}', 10), '\0CNI1 exit\n', 'garbage', '']) {
    const r = await shimAgainst(broken);
    assert.equal([r.exitCode, code(r)], [1, 105], JSON.stringify(broken));
  }
  // "fallback", or a daemon that only speaks HTTP: the plugin runs standalone (real VERSION).
  for (const fb of [answer('fallback', 0, 'other netns'), 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n']) {
    const r = await shimAgainst(fb);
    assert.is(r.exitCode, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { supportedVersions: string[] }).supportedVersions, SUPPORTED);
  }
});

T.run();
