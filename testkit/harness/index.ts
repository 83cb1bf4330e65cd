/**
 * The harnesses tests, benches and the demo share: test clusters (a control
 * plane with the test kubelet), the operator as a process, nats-server,
 * trainer and relay processes, the operator e2e setups (one datacenter or
 * two), and polling. This file is the public face.
 */
export { REPO_ROOT, runKubectl, startTestCluster, type KubectlResult, type TestCluster, type TestClusterOptions } from './cluster.ts';
export { runCommand, type CommandResult } from './command.ts';
export { startTwoDatacenters, twoDatacenterPlacements, type TwoDatacenters } from './datacenters.ts';
export { startNats, type NatsServer } from './nats.ts';
export { startOperator, type OperatorOptions, type OperatorProcess } from './operator.ts';
export { relayIdentity, relayModeEnv, spawnRelay, type RelayIdentity } from './relay.ts';
export { livePods, running, startRemoteCluster, startSwarmEnv, waiting, type SwarmEnv } from './swarms.ts';
export { allLogged, Fleet, NODE_BIN, Trainer, type LogLine, type TrainerSpec } from './trainers.ts';
export { sleep, waitFor } from './wait.ts';
