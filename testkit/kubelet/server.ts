/**
 * The slice of the kubelet API that makes `kubectl logs [-f]` work: the API
 * server proxies /containerLogs/<ns>/<pod>/<container> to the node's
 * daemonEndpoints port over HTTPS (without verifying the kubelet's
 * certificate unless --kubelet-certificate-authority is set, which ours is
 * not). We serve the pod's log file. exec, attach and port-forward are not
 * supported.
 *
 * The serving certificate is self-signed with the openssl CLI; without it the
 * server is not started and `kubectl logs` fails (the log files remain).
 */
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { join } from 'node:path';
import type { Logger } from '../cluster/index.ts';

export interface LogSource {
  /** The log file of a pod this kubelet runs, or undefined if unknown. */
  logFile(namespace: string, pod: string): string | undefined;
  /** True while the pod's process may still write (for follow). */
  running(namespace: string, pod: string): boolean;
}

export interface KubeletServer {
  port: number;
  close(): Promise<void>;
}

function selfSignedCert(dir: string): { key: Buffer; cert: Buffer } | undefined {
  const key = join(dir, 'kubelet.key');
  const cert = join(dir, 'kubelet.crt');
  try {
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '365', '-subj', '/CN=spotswarm-kubelet',
        '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', key, '-out', cert],
      { stdio: 'ignore' },
    );
    return { key: readFileSync(key), cert: readFileSync(cert) };
  } catch {
    return undefined;
  }
}

/** The last `n` lines of `text`. */
export function tailLines(text: string, n: number): string {
  if (n < 0) return text;
  const lines = text.split('\n');
  const endsWithNewline = text.endsWith('\n');
  if (endsWithNewline) lines.pop();
  const kept = lines.slice(Math.max(0, lines.length - n));
  return kept.length === 0 ? '' : kept.join('\n') + (endsWithNewline ? '\n' : '');
}

export async function startKubeletServer(dir: string, src: LogSource, log: Logger): Promise<KubeletServer | undefined> {
  const tls = selfSignedCert(dir);
  if (!tls) {
    log.warn('openssl not found: `kubectl logs` will not work (pod logs are still written to files)');
    return undefined;
  }
  const server: Server = createServer(tls, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://kubelet');
    const m = /^\/containerLogs\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(url.pathname);
    if (req.method !== 'GET' || !m) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('the spotswarm test kubelet serves only /containerLogs\n');
      return;
    }
    const ns = decodeURIComponent(m[1] ?? '');
    const pod = decodeURIComponent(m[2] ?? '');
    const file = src.logFile(ns, pod);
    if (!file) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end(`pod ${ns}/${pod} is not running on this kubelet\n`);
      return;
    }
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      // not written yet
    }
    const tail = url.searchParams.get('tailLines');
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.write(tail !== null ? tailLines(text, Number(tail)) : text);
    if (url.searchParams.get('follow') !== 'true') {
      res.end();
      return;
    }
    // follow: poll the file for appended bytes until the pod stops or the client leaves
    let offset = Buffer.byteLength(text);
    const timer = setInterval(() => {
      try {
        const size = statSync(file).size;
        if (size > offset) {
          const buf = Buffer.alloc(size - offset);
          const fd = openSync(file, 'r');
          readSync(fd, buf, 0, buf.length, offset);
          closeSync(fd);
          offset = size;
          res.write(buf);
        }
      } catch {
        // file not there yet
      }
      if (!src.running(ns, pod)) {
        clearInterval(timer);
        res.end();
      }
    }, 300);
    req.on('close', () => clearInterval(timer));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
