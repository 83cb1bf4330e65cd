/** Minimal logger shape of the swarm layer (winston's Logger fits). */
export interface SwarmLogger {
  debug(message: string, meta?: Record<string, unknown>): unknown;
  info(message: string, meta?: Record<string, unknown>): unknown;
  warn(message: string, meta?: Record<string, unknown>): unknown;
  error(message: string, meta?: Record<string, unknown>): unknown;
}

/** A logger that drops everything. */
export const silentLogger: SwarmLogger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/** Message of an unknown thrown value. */
export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  return typeof e === 'string' ? e : JSON.stringify(e) ?? String(e);
}
