/**
 * Swarm layer: NATS connection, membership (JetStream KV with TTL), global
 * progress, the membership-gated libp2p host, and matchmaking (one leader
 * per round by compare-and-set). The averaging layer builds on this; this
 * folder imports nothing above it.
 */
export { connectNats, isCredsFile, NatsUnreachableError, type NatsOptions } from './nats.ts';
export { Swarm, type ClaimCapOptions, type LocalProgress, type ProgressTarget, type SwarmJoinOptions } from './swarm.ts';
export { Membership, type MembershipOptions } from './membership.ts';
export { Matchmaker, buildAssignment, type FormedRound, type MatchmakerOptions } from './matchmaking.ts';
export { compareDigest, decodeResultDigest, encodeResultDigest, type Agreement, type ResultDigest } from './agreement.ts';
export { computeProgress, type GlobalProgress, type ProgressInput } from './progress.ts';
export { formGroups, gridShape, seededPermutation, fnv1a, type Candidate, type FormGroupsInput, type FormGroupsOutput } from './groups.ts';
export { decodeRecord, encodeRecord, validateRecord, type MembershipRecord, type RecordDecode } from './record.ts';
export { decodeAssignment, encodeAssignment, findGroup, type AssignmentMember, type RoundAssignment, type AssignmentDecode } from './assignment.ts';
export { membershipGater, type MembershipGaterDeps } from './gater.ts';
export { createHost, hostMultiaddrs, rememberPeer, tcpMultiaddr, type HostOptions } from './host.ts';
export { circuitMultiaddrs, InvalidRelayAddressError, parseRelay, relayIdsIn, RelayReservations, type RelayRef } from './relay-client.ts';
export { createSwarmMetrics, type SwarmMetrics } from './metrics.ts';
export { errorMessage, silentLogger, type SwarmLogger } from './log.ts';
export { InvalidAssignmentError, InvalidRecordError, NotConnectedError, SwarmErrorCodes, type SwarmErrorCode } from './errors.ts';
export * as SwarmConstants from './constants.ts';
export { makePeerIds, makeRecord } from './testing.ts';
