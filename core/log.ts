/**
 * The one logger. pino, writing to stderr (fd 2) or to TSNET_LOG_FILE; never stdout,
 * because a CNI plugin's stdout carries only its result. Messages are constant strings;
 * data goes in fields: log.info({ network, endpoint }, 'endpoint attached').
 *
 * pino is loaded on the first message at an enabled level (or any other use of the logger):
 * loading it cost ~17 ms of every standalone CNI plugin exec, which at the default level
 * (warn) usually logs nothing.
 */
import { createRequire } from 'node:module';
import type { DestinationStream, Logger } from 'pino';

const LEVELS: Readonly<Record<string, number>> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };
const LEVEL = process.env['TSNET_LOG_LEVEL'] ?? 'warn';

let real: Logger | undefined;

function create(): Logger {
  const { pino } = createRequire(import.meta.url)('pino') as typeof import('pino');
  const file = process.env['TSNET_LOG_FILE'];
  const dest: DestinationStream = file
    ? pino.destination({ dest: file, append: true, mkdir: true, sync: true })
    : pino.destination({ fd: 2, sync: true });
  return pino({ name: 'tsnet', level: LEVEL, base: { pid: process.pid } }, dest);
}

function logger(): Logger {
  return (real ??= create());
}

const noop = (): void => undefined;

/**
 * Until pino is loaded, a level method below the configured level is a no-op and
 * isLevelEnabled / level are answered from the configuration; anything else loads pino and
 * is forwarded to it (functions bound to it).
 */
export const log: Logger = new Proxy({} as Logger, {
  get(_target, key) {
    if (!real && typeof key === 'string') {
      const lv = LEVELS[key];
      if (lv !== undefined && key !== 'silent' && lv < (LEVELS[LEVEL] ?? 0)) return noop;
      if (key === 'isLevelEnabled') return (l: string) => LEVELS[l] !== undefined && LEVELS[l] >= (LEVELS[LEVEL] ?? 0);
      if (key === 'level') return LEVEL;
    }
    const l = logger();
    const v: unknown = Reflect.get(l, key, l);
    return typeof v === 'function' ? v.bind(l) : v;
  },
  set(_target, key, value) {
    return Reflect.set(logger(), key, value);
  },
  has(_target, key) {
    return Reflect.has(logger(), key);
  },
});

// An unknown level name is an error at start-up, as when pino was created eagerly.
if (LEVELS[LEVEL] === undefined) logger();

export type { Logger };
