/** Named errors of state transfer and checkpoints. */

export const StateErrorCodes = {
  BadFrame: 'ERR_STATE_BAD_FRAME',
  BadBlob: 'ERR_STATE_BAD_BLOB',
  NoDonor: 'ERR_STATE_NO_DONOR',
  DownloadFailed: 'ERR_STATE_DOWNLOAD_FAILED',
} as const;
export type StateErrorCode = (typeof StateErrorCodes)[keyof typeof StateErrorCodes];

/**
 * Thrown when a state-protocol frame is malformed: wrong version, unknown
 * type, bad length, reserved bytes set, or out-of-range fields. `reason` is a
 * short label for the metric.
 */
export class BadStateFrameError extends Error {
  readonly code = StateErrorCodes.BadFrame;
  readonly reason: string;
  constructor(reason: string, message: string) {
    super(message);
    this.name = 'BadStateFrameError';
    this.reason = reason;
  }
}

/** Thrown when a state blob (snapshot or checkpoint) does not decode: bad magic, version, sizes or values. */
export class BadStateBlobError extends Error {
  readonly code = StateErrorCodes.BadBlob;
  constructor(message: string) {
    super(message);
    this.name = 'BadStateBlobError';
  }
}

/** Thrown when no live peer offers a usable state (none answered, or none matches the model). */
export class NoDonorError extends Error {
  readonly code = StateErrorCodes.NoDonor;
  constructor(message: string) {
    super(message);
    this.name = 'NoDonorError';
  }
}

/** Thrown when a download ran out of attempts. */
export class DownloadFailedError extends Error {
  readonly code = StateErrorCodes.DownloadFailed;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DownloadFailedError';
  }
}
