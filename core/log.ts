/**
 * The one logger. pino, writing to stderr (fd 2) or to TSNET_LOG_FILE; never stdout,
 * because a CNI plugin's stdout carries only its result. Messages are constant strings;
 * data goes in fields: log.info({ network, endpoint }, 'endpoint attached').
 */
import { pino, type Logger } from 'pino';

function destination(): pino.DestinationStream {
  const file = process.env['TSNET_LOG_FILE'];
  if (file) return pino.destination({ dest: file, append: true, mkdir: true, sync: true });
  return pino.destination({ fd: 2, sync: true });
}

export const log: Logger = pino(
  { name: 'tsnet', level: process.env['TSNET_LOG_LEVEL'] ?? 'warn', base: { pid: process.pid } },
  destination(),
);

export type { Logger };
