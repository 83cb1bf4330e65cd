/** The trainer's winston logger: JSON lines in pods, readable text on a terminal. */
import winston from 'winston';

export function createLogger(opts: { format: 'json' | 'text'; level: string; meta: Record<string, unknown> }): winston.Logger {
  return winston.createLogger({
    level: opts.level,
    format:
      opts.format === 'json'
        ? winston.format.combine(winston.format.timestamp(), winston.format.json())
        : winston.format.combine(winston.format.timestamp(), winston.format.colorize(), winston.format.simple()),
    defaultMeta: { component: 'trainer', ...opts.meta },
    transports: [new winston.transports.Console()],
  });
}
