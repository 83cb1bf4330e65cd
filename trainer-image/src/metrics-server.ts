/** /metrics and /healthz for the trainer and the relay (one small HTTP server). */
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import { errorMessage } from './swarm/log.ts';

export function serveMetrics(port: number, registry: Registry, ready: () => boolean): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url === '/metrics') {
      registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
        (e: unknown) => res.writeHead(500).end(errorMessage(e)),
      );
    } else if (req.url === '/healthz') {
      res.writeHead(ready() ? 200 : 503).end(ready() ? 'ok' : 'starting');
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, () => resolve(server));
  });
}
