/**
 * Async tasks run one at a time per key, in call order; a task's failure goes to its caller
 * and does not stop the next. For read-modify-write sequences with awaits in between (the
 * firewall's cached state, a container's network config), which would otherwise interleave.
 */
export class SerialQueues<K = string> {
  /** Per key: the tail of its queue (settled, never rejecting); gone once it drains. */
  private readonly tails = new Map<K, Promise<unknown>>();

  run<T>(key: K, fn: () => Promise<T>): Promise<T> {
    const result = (this.tails.get(key) ?? Promise.resolve()).then(fn, fn);
    const tail = result.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /** Keys with queued or running tasks. */
  get size(): number {
    return this.tails.size;
  }
}
