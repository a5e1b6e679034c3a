// The kinds of error a person or a caller must tell apart, the exit code of
// each, and the one way to get words out of anything thrown. main.ts turns
// an error that reaches it into an exit code here; everything else throws
// one of these kinds (or lets an unexpected error through, which main.ts
// prints with its stack: that is a bug to report).
//
// - UsageError: the command line is wrong. Printed with the usage; exit 2.
// - FatalError: a problem the user can fix (a certificate that cannot be
//   used, a port in use, a refused login, an untrusted server). Its message
//   is the whole story: printed as `chat: MESSAGE`, no stack; exit 1.
// - Unavailable: something needed is out of reach for now (the server, the
//   disk, Redis). Never shown as such: the caller retries (the client
//   reconnects) or refuses with a reason (the server answers
//   "storage unavailable"), and only its message reaches a person.
//
// A caller's mistake (a bug, not the user's) is a built-in RangeError or
// TypeError, as in Deno's std; it reaches main.ts as an unexpected error and
// is printed with its stack.
//
// `chat check` keeps two more, CheckFailure and CheckSkip, private to
// lib/check/probe.ts: they are a check's verdict, reported as a row of the
// table, not errors of the run.
//
// How messages read: every message a person reads on one line (after
// `chat: `, in a notice, a log field, a report row) is a lower-case phrase
// with no final period, like the protocol's wire reasons ("storage
// unavailable") and Unix tools ("ls: cannot access …"), so it can be
// prefixed or embedded ("not sent: " + reason). It begins with a capital
// only when it begins with a name that has one. Explanations of several
// lines (the changed-certificate warning, the trust question) are prose.

/** The exit code of a run that failed: a {@linkcode FatalError}, a failed check, an unexpected error. */
export const EXIT_FAILURE = 1;
/** The exit code of a wrong command line ({@linkcode UsageError}). */
export const EXIT_USAGE = 2;

/**
 * A wrong command line: main.ts prints `chat: MESSAGE`, then the usage, and
 * exits {@linkcode EXIT_USAGE}.
 *
 * @example
 * ```ts
 * throw new UsageError('--port must be an integer from 0 to 65535, got "x"');
 * ```
 */
export class UsageError extends Error {
  override name = "UsageError";
}

/**
 * A problem the user can fix, told in full by its message: main.ts prints
 * `chat: MESSAGE` without a stack and exits {@linkcode EXIT_FAILURE}.
 *
 * @example
 * ```ts
 * throw new FatalError("cannot listen on 0.0.0.0:1337: the port is already in use");
 * ```
 */
export class FatalError extends Error {
  override name = "FatalError";
}

/**
 * Something needed is out of reach for now (the server, the disk, Redis):
 * the caller retries or refuses with a reason; never an exit code of its own.
 *
 * @example
 * ```ts
 * throw new Unavailable("Redis is unreachable");
 * ```
 */
export class Unavailable extends Error {
  override name = "Unavailable";
}

/**
 * The message of anything thrown: an Error's message, else its string form.
 *
 * @example
 * ```ts
 * errorMessage(new Error("connection refused")); // "connection refused"
 * errorMessage("gone"); // "gone"
 * ```
 */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The first line of {@linkcode errorMessage}, for a report of one line.
 *
 * @example
 * ```ts
 * errorLine(new Error("handshake failed\n    at connect")); // "handshake failed"
 * ```
 */
export function errorLine(error: unknown): string {
  return errorMessage(error).split("\n")[0];
}

/**
 * Why an operation failed, to embed in a phrase: the first line of the
 * message without the runtime's "(os error N)" noise or a final period, and
 * the common file errors in words.
 *
 * @example
 * ```ts
 * errorReason(new Deno.errors.NotFound("open '/x' (os error 2)")); // "no such file or directory"
 * errorReason(new Error("Address in use (os error 98).")); // "Address in use"
 * ```
 */
export function errorReason(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "no such file or directory";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Deno.errors.IsADirectory) return "it is a directory";
  return errorLine(error).replace(/:? ?\(os error \d+\)/, "").replace(/\.$/, "");
}
