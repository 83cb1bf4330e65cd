/**
 * A real Kubernetes control plane on 127.0.0.1 (etcd, kube-apiserver,
 * kube-scheduler, kube-controller-manager), the tools it is built from, and
 * the small process, port, HTTP and log helpers the rest of the testkit
 * shares. This file is the public face; `main.ts` is the `cluster:up` CLI.
 */
export { ControlPlaneStartError, startControlPlane, type ControlPlane, type ControlPlaneOptions } from './controlplane.ts';
export { httpGet, pollUntil, type GetOptions } from './http.ts';
export { kubeconfigYaml } from './kubeconfig.ts';
export { makeLogger, type Logger } from './log.ts';
export { freePort } from './ports.ts';
export { pidAlive, startProcess, tailFile, type ManagedProcess } from './proc.ts';
export { toolPath, toolsDir, type Tool } from './tools.ts';
