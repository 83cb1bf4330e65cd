/**
 * Loggers for the testkit's tools (control plane, test kubelet, harness).
 * They run on a developer's terminal, so the format is readable text;
 * components are told apart by a label.
 */
import winston from 'winston';

export type Logger = winston.Logger;

/**
 * A text logger: `15:16:31 [kubelet] info: pod default/x Running (pid 123)`.
 * With `file`, every line at `fileLevel` (default info) also goes there, so a
 * quiet terminal still leaves a full record.
 */
export function makeLogger(label: string, level: string = 'info', file?: { path: string; level?: string }): Logger {
  const transports: winston.transport[] = [
    // stderr keeps stdout free for what the CLIs print on purpose (e.g. `export KUBECONFIG=...`).
    new winston.transports.Console({ level, stderrLevels: ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'] }),
  ];
  if (file) transports.push(new winston.transports.File({ filename: file.path, level: file.level ?? 'info' }));
  return winston.createLogger({
    level: 'silly', // each transport filters
    format: winston.format.combine(
      winston.format.timestamp({ format: 'HH:mm:ss' }),
      winston.format.printf(({ timestamp, level: lvl, message, ...meta }) => {
        const extra = Object.keys(meta).length > 0 ? ` ${JSON.stringify(meta)}` : '';
        return `${String(timestamp)} [${label}] ${lvl}: ${String(message)}${extra}`;
      }),
    ),
    transports,
  });
}
