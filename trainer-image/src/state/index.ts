/**
 * State layer: how a joining or lagging peer gets the swarm's parameters,
 * optimizer state and epoch, and how the swarm survives losing every peer.
 *
 *  - blob.ts: one versioned binary layout for a state (snapshot or checkpoint).
 *  - codec.ts / io.ts: the strict framed request/response protocol
 *    `Protocols.state` (api/protocols.ts).
 *  - server.ts: donors answer from immutable snapshots, never waiting for
 *    their own training loop; bounded concurrency.
 *  - client.ts: META from every donor, the newest state several agree on,
 *    chunks from all of them in parallel, digests, bounded retries, progress.
 *  - checkpoints.ts: NATS object store checkpoints, one elected writer per epoch.
 */
export { decodeState, encodeState, sha256Hex, stateFingerprint, type DecodedState } from './blob.ts';
export { CheckpointStore, type CheckpointInfo, type CheckpointStoreOptions, type LoadedCheckpoint } from './checkpoints.ts';
export { chooseDonors, downloadState, queryDonors, type ClientOptions, type DonorMeta, type DownloadOptions, type DownloadResult } from './client.ts';
export { decodeFrame, encodeFrame, StateErrorReplies, StateFrameTypes, StateModes, type MetaFrame, type StateFrame, type StateMode } from './codec.ts';
export * as StateConstants from './constants.ts';
export { BadStateBlobError, BadStateFrameError, DownloadFailedError, NoDonorError, StateErrorCodes } from './errors.ts';
export { createStateMetrics, type StateMetrics } from './metrics.ts';
export { makeSnapshot, StateServer, type Snapshot, type StateLogger, type StateServerOptions } from './server.ts';
