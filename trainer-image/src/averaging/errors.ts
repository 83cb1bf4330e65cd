/** Named errors of the averaging layer. Each `code` is one value of `ErrorCodes`. */
import type { Outvoted } from './types.ts';

export const ErrorCodes = {
  InvalidRoundSpec: 'ERR_INVALID_ROUND_SPEC',
  NonFiniteContribution: 'ERR_NON_FINITE_CONTRIBUTION',
  BadFrame: 'ERR_BAD_FRAME',
  UnknownFrameType: 'ERR_UNKNOWN_FRAME_TYPE',
  UnsupportedVersion: 'ERR_UNSUPPORTED_VERSION',
  FrameTooLarge: 'ERR_FRAME_TOO_LARGE',
  RoundAborted: 'ERR_ROUND_ABORTED',
  AveragerLeft: 'ERR_AVERAGER_LEFT',
} as const;
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** Thrown when a RoundSpec (or averager option) is invalid; `field` names the culprit. */
export class InvalidRoundSpecError extends Error {
  readonly code = ErrorCodes.InvalidRoundSpec;
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'InvalidRoundSpecError';
    this.field = field;
  }
}

/** Thrown when a contribution contains NaN or ±Infinity; `index` is the first bad element. */
export class NonFiniteContributionError extends Error {
  readonly code = ErrorCodes.NonFiniteContribution;
  readonly index: number;
  constructor(index: number, value: number) {
    super(`non-finite value ${value} at element ${index}`);
    this.name = 'NonFiniteContributionError';
    this.index = index;
  }
}

/** Thrown when an all-reduce frame is malformed (bad lengths, reserved bits, inconsistent fields). */
export class BadFrameError extends Error {
  readonly code: ErrorCode = ErrorCodes.BadFrame;
  constructor(message: string) {
    super(message);
    this.name = 'BadFrameError';
  }
}

/** Thrown when a frame carries a type, kind or codec this version does not know. */
export class UnknownFrameTypeError extends BadFrameError {
  override readonly code: ErrorCode = ErrorCodes.UnknownFrameType;
  constructor(message: string) {
    super(message);
    this.name = 'UnknownFrameTypeError';
  }
}

/** Thrown when a frame's version byte is not one this peer speaks. */
export class UnsupportedVersionError extends BadFrameError {
  override readonly code: ErrorCode = ErrorCodes.UnsupportedVersion;
  constructor(version: number) {
    super(`unsupported all-reduce frame version ${version}`);
    this.name = 'UnsupportedVersionError';
  }
}

/** Thrown when a frame announces a body longer than the protocol limit. */
export class FrameTooLargeError extends BadFrameError {
  override readonly code: ErrorCode = ErrorCodes.FrameTooLarge;
  constructor(length: number, limit: number) {
    super(`frame body of ${length} bytes exceeds the limit of ${limit}`);
    this.name = 'FrameTooLargeError';
  }
}

/** Thrown by `run()` when its AbortSignal aborts. */
export class RoundAbortedError extends Error {
  readonly code = ErrorCodes.RoundAborted;
  constructor(message = 'round aborted') {
    super(message);
    this.name = 'RoundAbortedError';
  }
}

/** Thrown by `run()` when `leave()` or `stop()` was called before or during the round. */
export class AveragerLeftError extends Error {
  readonly code = ErrorCodes.AveragerLeft;
  constructor(message = 'averager left the swarm') {
    super(message);
    this.name = 'AveragerLeftError';
  }
}

/** Thrown when a stream closes or resets before the expected frames arrived or were written. */
export class StreamFailedError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StreamFailedError';
  }
}

/** Thrown when no two reducers of different peers agreed on some shard of a verified round: the round must not be applied. */
export class ReducersDisagreeError extends Error {
  readonly shards: number[];
  readonly outvoted: Outvoted[];
  constructor(roundId: string, shards: number[], outvoted: Outvoted[]) {
    super(`round ${roundId}: no two reducers agreed on shard(s) ${shards.join(', ')}`);
    this.name = 'ReducersDisagreeError';
    this.shards = shards;
    this.outvoted = outvoted;
  }
}
