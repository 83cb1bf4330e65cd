/** Named errors of the swarm layer. */

export const SwarmErrorCodes = {
  InvalidRecord: 'ERR_INVALID_MEMBERSHIP_RECORD',
  InvalidAssignment: 'ERR_INVALID_ROUND_ASSIGNMENT',
  NotConnected: 'ERR_SWARM_NOT_CONNECTED',
} as const;
export type SwarmErrorCode = (typeof SwarmErrorCodes)[keyof typeof SwarmErrorCodes];

/** Thrown when encoding a membership record that does not validate (a bug in the caller). */
export class InvalidRecordError extends Error {
  readonly code = SwarmErrorCodes.InvalidRecord;
  constructor(message: string) {
    super(message);
    this.name = 'InvalidRecordError';
  }
}

/** Thrown when encoding a round assignment that does not validate (a bug in the caller). */
export class InvalidAssignmentError extends Error {
  readonly code = SwarmErrorCodes.InvalidAssignment;
  constructor(message: string) {
    super(message);
    this.name = 'InvalidAssignmentError';
  }
}

/** Thrown when a swarm operation needs the NATS connection and there is none (no operation throws it yet). */
export class NotConnectedError extends Error {
  readonly code = SwarmErrorCodes.NotConnected;
  constructor(message: string) {
    super(message);
    this.name = 'NotConnectedError';
  }
}
