/** One short line for any error the Kubernetes client throws: status code and the server's message. */
import { ApiException } from '@kubernetes/client-node';

export function describeError(err: unknown): string {
  if (err instanceof ApiException) {
    let message: string | undefined;
    const body = err.body as unknown;
    try {
      const parsed = typeof body === 'string' ? JSON.parse(body) as { message?: string } : body as { message?: string };
      message = parsed?.message;
    } catch {
      message = typeof body === 'string' ? body.trim() : undefined;
    }
    return `HTTP ${err.code}${message ? `: ${message.slice(0, 300)}` : ''}`;
  }
  return err instanceof Error ? err.message : String(err);
}
