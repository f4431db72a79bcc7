/**
 * An error whose message is meant for the person at the keyboard: short, clear, no stack trace,
 * never key material. Anything else reaching the CLI or Slack is reported as an internal error.
 */
export class UserError extends Error {
  override name = "UserError";
  constructor(
    message: string,
    /** CLI exit code: 2 bad input, 3 busy (another run holds the lock), 4 refused by state. */
    readonly exitCode = 2,
  ) {
    super(message);
  }
}

export class NotFoundError extends UserError {
  override name = "NotFoundError";
}

/** The request is well-formed but the current state refuses it (e.g. retiring a key still in use). */
export class RefusedError extends UserError {
  override name = "RefusedError";
  constructor(message: string) {
    super(message, 4);
  }
}

export class BusyError extends UserError {
  override name = "BusyError";
  constructor(message: string) {
    super(message, 3);
  }
}
