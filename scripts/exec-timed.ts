/**
 * Shared by the benchmarks: exec-level timing through scripts/exec-timer.c (fork, pipes,
 * exec, wait: what a Go runtime's os/exec does), so the harness's own spawn cost (Node's,
 * ~1.7 ms here) is counted for no side. The timer is compiled with cc into a folder the
 * caller owns and removes.
 */
import { join } from 'node:path';
import { packageRoot } from '../core/index.js';
import { run } from '../core/exec/index.js';

const ALL = Array.from({ length: 255 }, (_, i) => i + 1);

export interface Timed { ms: number; exitCode: number; stdout: string; stderr: string }

/** Compiles exec-timer into `dir`; returns its path. */
export async function buildExecTimer(dir: string): Promise<string> {
  const timer = join(dir, 'exec-timer');
  await run(['cc', '-O2', '-o', timer, join(packageRoot(), 'scripts', 'exec-timer.c')]);
  return timer;
}

/** One exec of `program` (no arguments: a CNI plugin takes none) with `input` on stdin. */
export async function execTimed(timer: string, program: string, input: string, env: NodeJS.ProcessEnv): Promise<Timed> {
  const r = await run([timer, program], { input, env, okCodes: ALL, timeoutMs: 60_000 });
  const nl = r.stdout.indexOf('\n');
  const [ns, code] = r.stdout.slice(0, nl).split(' ').map(Number);
  if (r.exitCode !== 0 || ns === undefined || code === undefined) throw new Error(`exec-timer ${program}: ${r.stderr}`);
  return { ms: ns / 1e6, exitCode: code, stdout: r.stdout.slice(nl + 1), stderr: r.stderr };
}
