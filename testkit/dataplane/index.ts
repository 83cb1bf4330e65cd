/**
 * Jest suites for the integration tests of trainer processes: one
 * nats-server per test file, trainers spawned with the averaging or the
 * training workload, and the arithmetic and log readers that check what
 * they computed. This file is the public face.
 */
export { dataplaneSuite, initialVector, maxAbsDiff, peerIdOf, readDump, roundAt, spawnTrainer, weightedMean, type DataplaneSuite, type SpawnOpts } from './dataplane.ts';
export { epochsOf, evalsOf, reachEpoch, roundsOf, spawnPeer, tinyTraining, trainingSuite, watchTelemetry, type EpochLine, type PeerOpts, type TrainingSuite } from './training.ts';
