// One TLS connection to the server, as the session sees it: dialed and
// trusted (lib/tls_dial.ts: the trust policy looks at the certificate
// before anything is sent), then bytes in as lines and lines out as bytes.

import type { TLSSocket } from "node:tls";
import { type LineError, LineSplitter } from "../lines.ts";
import type { PeerCertificate } from "../peer_certificate.ts";
import { dialTls } from "../tls_dial.ts";
import { closePolitely, describeSocketError } from "../tls_socket.ts";

/**
 * The longest line accepted from the server, in bytes. Longer lines are
 * dropped as they arrive (never held whole) and reported once each, so a
 * hostile server cannot exhaust the client's memory.
 */
export const MAX_SERVER_LINE_BYTES = 1024 * 1024;
/** How long TCP connect plus TLS handshake may take before the attempt fails. */
export const CONNECT_TIMEOUT_MS = 10_000;
/** How long a polite close waits for the server's side before it cuts the connection. */
export const CLOSE_TIMEOUT_MS = 2_000;

/** Where a {@linkcode Link} delivers what it receives. */
export interface LinkSink {
  /** One complete line from the server. */
  line(text: string): void;
  /** A line that was dropped: too long or not UTF-8. */
  bad(reason: LineError): void;
  /** The connection is gone (called once); `reason` is set when it broke. */
  closed(reason?: string): void;
}

/** An open, trusted connection. */
export interface Link {
  /** Sends text (one or more complete frames). */
  write(text: string): void;
  /** Closes politely (TLS close_notify) and resolves once closed. */
  end(): Promise<void>;
}

/** Where to connect and what to trust. */
export interface DialOptions {
  host: string;
  port: number;
  /** Extra trusted certificates (PEM), added to the system's roots (`--ca`). */
  ca?: string[];
  /** Looks at the certificate after the handshake; throws to refuse (nothing is sent). */
  verify(peer: PeerCertificate): Promise<void>;
  /** Our identity's certificate (PEM), presented when the server asks; none without it. */
  cert?: string;
  /** The private key of `cert` (PEM). */
  key?: string;
}

/**
 * Connects, verifies, and returns a {@linkcode Link} whose lines go to `sink`.
 * Rejects with Unavailable (lib/errors.ts: worth retrying later) when the
 * server cannot be reached, or
 * with whatever `verify` threw when the certificate is refused.
 */
export function dialLink(options: DialOptions, sink: LinkSink): Promise<Link> {
  return dialTls({
    ...options,
    timeout: {
      ms: CONNECT_TIMEOUT_MS,
      reason: `no TLS connection within ${CONNECT_TIMEOUT_MS / 1000} s`,
    },
  }, (socket) => openLink(socket, sink));
}

/** The trusted socket as a Link: lines to `sink` until it closes (once). */
function openLink(socket: TLSSocket, sink: LinkSink): Link {
  let open = true;
  let lastError: string | undefined;
  const splitter = new LineSplitter(MAX_SERVER_LINE_BYTES, {
    line: (text) => sink.line(text),
    error: (reason) => sink.bad(reason),
  });
  socket.on("data", (chunk: Uint8Array) => splitter.push(chunk));
  socket.on("error", (error: Error & { code?: string }) => {
    lastError = describeSocketError(error);
  });
  socket.on("close", () => {
    open = false;
    splitter.end();
    sink.closed(lastError);
  });
  return {
    write: (text) => {
      if (open) socket.write(text);
    },
    end: () => closePolitely(socket, CLOSE_TIMEOUT_MS),
  };
}
