/** winston logger: JSON in pods, readable text on a terminal. */
import winston from 'winston';

export type Logger = winston.Logger;

export function createLogger(opts: { format: 'json' | 'text'; level: string }): Logger {
  const format = opts.format === 'json'
    ? winston.format.combine(winston.format.timestamp(), winston.format.json())
    : winston.format.combine(winston.format.timestamp({ format: 'HH:mm:ss.SSS' }), winston.format.colorize(), winston.format.printf(({ timestamp, level, message, component, ...rest }) => {
      const extra = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : '';
      return `${String(timestamp)} ${level} [${String(component ?? 'operator')}] ${String(message)}${extra}`;
    }));
  return winston.createLogger({ level: opts.level, format, defaultMeta: { component: 'operator' }, transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'debug'] })] });
}
