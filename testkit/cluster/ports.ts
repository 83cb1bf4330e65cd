/**
 * Free 127.0.0.1 ports, found by binding port 0. Several control planes run
 * side by side, so nothing here uses a fixed port. A port is free only at the
 * moment we looked, so we also remember what this process already handed out
 * and never give the same port twice.
 */
import { createServer } from 'node:net';

const handedOut = new Set<number>();

function bindZero(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** One free port on 127.0.0.1 that this process has not handed out before. */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = await bindZero();
    if (port > 0 && !handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('could not find a free 127.0.0.1 port in 50 tries');
}

/** `n` distinct free ports. */
export async function freePorts(n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(await freePort());
  return out;
}
