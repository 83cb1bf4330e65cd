/**
 * The test kubelet: registers fake GPU nodes with a control plane and runs
 * the pods the scheduler binds to them as local processes (see README.md).
 * This file is the public face; `main.ts` is its CLI.
 */
export { startKubelet, type Kubelet, type KubeletOptions, type PodProcessInfo } from './kubelet.ts';
export { FakeNode, LEASE_NAMESPACE, NOT_READY_TAINT, type NodeSpec } from './node.ts';
