/**
 * API clients that keep their connections.
 *
 * client-node 2.0.1 builds a new undici Agent for every request
 * (KubeConfig.applySecurityAuthentication → createDispatcher) whenever the
 * cluster has TLS settings, which in-cluster config and every kubeconfig
 * with a CA do. Each API call then pays a TCP and TLS handshake (bench:operator
 * measured ~9 ms of client CPU per sequential GET against ~3 ms on one
 * kept connection), and the apiserver sees one connection per call.
 *
 * withSharedConnections(kc) returns a copy of the KubeConfig whose requests
 * share one Agent per cluster and user: it pools keep-alive connections per
 * origin, so concurrent calls still run side by side. Watches should keep
 * using the plain KubeConfig: a watch is a request that never ends, and
 * these would otherwise sit in the pool beside the calls.
 *
 * Users with an exec plugin keep the library's behaviour, because a plugin
 * may hand out client certificates that rotate, and an Agent keeps the
 * certificate it was built with. Tokens (in-cluster files, auth providers,
 * exec tokens) are headers, set per request, and are unaffected.
 */
import { KubeConfig } from '@kubernetes/client-node';

type Context = Parameters<KubeConfig['applySecurityAuthentication']>[0];
type Dispatcher = NonNullable<ReturnType<Context['getDispatcher']>>;

class SharedConnectionKubeConfig extends KubeConfig {
  readonly #shared = new Map<string, Dispatcher>();

  override async applySecurityAuthentication(context: Context): Promise<void> {
    await super.applySecurityAuthentication(context);
    const fresh = context.getDispatcher();
    const key = this.#tlsIdentity();
    if (!fresh || key === undefined) return;
    const shared = this.#shared.get(key);
    if (!shared) {
      this.#shared.set(key, fresh);
      return;
    }
    context.setDispatcher(shared);
    // Never used, so it holds no connection; closing it is bookkeeping.
    void fresh.close().catch(() => undefined);
  }

  /** What the Agent's TLS setup depends on; undefined when it may change between calls. */
  #tlsIdentity(): string | undefined {
    const c = this.getCurrentCluster();
    const u = this.getCurrentUser();
    if (!c || u?.exec) return undefined;
    return JSON.stringify([c.server, c.caData, c.caFile, c.skipTLSVerify, c.tlsServerName, c.proxyUrl, u?.certData, u?.certFile, u?.keyData, u?.keyFile]);
  }
}

/** A copy of `kc` whose API clients reuse connections (see above). */
export function withSharedConnections(kc: KubeConfig): KubeConfig {
  const shared = new SharedConnectionKubeConfig();
  shared.loadFromOptions({ clusters: kc.clusters, users: kc.users, contexts: kc.contexts, currentContext: kc.currentContext });
  return shared;
}
