/** SerialQueues: order per key, failures isolated, keys independent, drained keys forgotten. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SerialQueues } from './serial.js';

const tick = () => new Promise((r) => setTimeout(r, 1));

test('tasks of one key run one at a time in call order; a failure reaches its caller only', async () => {
  const q = new SerialQueues();
  const log: string[] = [];
  const task = (name: string, fail = false) => async () => {
    log.push(`${name}:start`);
    await tick();
    log.push(`${name}:end`);
    if (fail) throw new Error(name);
    return name;
  };
  const results = await Promise.allSettled([q.run('c', task('a')), q.run('c', task('b', true)), q.run('c', task('c'))]);
  assert.equal(log, ['a:start', 'a:end', 'b:start', 'b:end', 'c:start', 'c:end']);
  assert.equal(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
  assert.is(q.size, 0, 'a drained key is forgotten');
});

test('different keys do not wait for each other', async () => {
  const q = new SerialQueues();
  const log: string[] = [];
  let release = (): void => undefined;
  const blocked = q.run('x', () => new Promise<void>((r) => { release = r; }));
  await q.run('y', async () => void log.push('y ran while x waits'));
  assert.equal(log, ['y ran while x waits']);
  release();
  await blocked;
});

test.run();
