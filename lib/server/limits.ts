// Every limit of the server, named and documented, with its default: what
// one connection may do (ConnectionLimits, read by connection.ts and the
// pieces it uses), what the listener caps (ServerLimits), and the fixed
// limits of a connection that no flag sets. `chat server` sets most of the
// others from its flags (cli.ts); tests pass small values.

import { DEFAULT_MAX_MESSAGE_BYTES } from "../protocol.ts";

/** Limits of one connection. */
export interface ConnectionLimits {
  /** Time from accept to a successful login (TLS handshake included). */
  loginTimeoutMs: number;
  /** Failed logins after which the connection is closed. */
  maxLoginAttempts: number;
  /** Longest frame read; longer ones are discarded with an error reply. */
  maxLineBytes: number;
  /** Bytes a slow reader may have waiting before it is cut off. */
  sendQueueBytes: number;
  /** Time from accept to a finished TLS handshake. */
  handshakeTimeoutMs: number;
  /**
   * Frames per second an address may send on average (bursts of twice
   * that), all its connections together; 0 for no limit (address_quota.ts).
   */
  rateLimit: number;
  /** Bytes of message text per second an address may send; 0 for no limit (address_quota.ts). */
  rateLimitBytes: number;
  /**
   * How long a line may stay unfinished, from its first byte, before the
   * connection is cut (peer_watch.ts); 0 for no limit.
   */
  partialLineMs: number;
  /**
   * How long a peer that has sent a heartbeat (a blank line after some
   * quiet) may then send nothing before it is cut as gone (peer_watch.ts);
   * 0 for no limit.
   */
  heartbeatGraceMs: number;
}

/**
 * Frames refused in a row for the rate limit after which the client counts
 * as flooding and is cut off: a client that slows down when told is kept.
 */
export const FLOOD_STRIKES = 100;

/** Rejected frames logged per connection; the rest are answered but not logged. */
export const LOGGED_REJECTIONS = 20;

/**
 * Bytes (UTF-8, as sent) of frames a client may send behind a login still
 * waiting for Redis; beyond that it is flooding and is cut off.
 */
export const HELD_BYTES = 1024 * 1024;

/**
 * How long an answer still to come (a message in doubt while Redis hangs,
 * a registry change not yet durable) holds back the answers after it
 * (answers.ts). Beyond it they go out, and it follows once known: a failing
 * store must not silence a connection.
 */
export const ANSWER_WAIT_MS = 1000;

/** How long a politely closed connection may take to finish its close before it is destroyed. */
export const CLOSE_LINGER_MS = 1000;

/** The server's limits, each with its documented default. */
export interface ServerLimits extends ConnectionLimits {
  /** Open connections beyond this are closed right after accept. */
  maxClients: number;
  /** Cap on a message's text, in UTF-8 bytes. */
  maxMessageBytes: number;
  /** Open connections from one IP address beyond this are closed right after accept. */
  maxPerIp: number;
}

/** Defaults of every limit (PROTOCOL.md and `chat server --help`). */
export const DEFAULT_LIMITS: ServerLimits = {
  loginTimeoutMs: 30_000,
  maxLoginAttempts: 10,
  maxLineBytes: 64 * 1024,
  maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
  sendQueueBytes: 8 * 1024 * 1024,
  maxClients: 10_000,
  maxPerIp: 100,
  handshakeTimeoutMs: 10_000,
  rateLimit: 50,
  rateLimitBytes: 64 * 1024,
  partialLineMs: 5 * 60_000,
  heartbeatGraceMs: 60_000,
};
