// One TLS connection to the server: connect, let the trust policy look at
// the certificate before anything is sent, then bytes in as lines and lines
// out as bytes.
//
// It uses node:tls rather than Deno.connectTls because the client must show
// and pin a certificate it does not trust yet, and must accept a self-signed
// CA:TRUE certificate given with --ca; Deno's own TLS client can do neither.
// The handshake never rejects on its own (rejectUnauthorized: false); the
// verification result is handed to the caller's `verify`, which decides.

import tls from "node:tls";
import { type LineError, LineSplitter } from "../lines.ts";
import { closePolitely, describeSocketError, systemRoots } from "../tls_socket.ts";
import { isIpLiteral } from "../address.ts";
import { type PeerCertificate, peerCertificateOf } from "../peer_certificate.ts";

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
}

/** The connection could not be made; worth retrying later. */
export class DialError extends Error {
  override name = "DialError";
}

/**
 * Connects, verifies, and returns a {@linkcode Link} whose lines go to `sink`.
 * Rejects with {@linkcode DialError} when the server cannot be reached, or
 * with whatever `verify` threw when the certificate is refused.
 */
export function dialTls(options: DialOptions, sink: LinkSink): Promise<Link> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: options.host,
      port: options.port,
      // SNI carries host names only; for an IP literal the check uses the IP SAN.
      servername: isIpLiteral(options.host) ? undefined : options.host,
      // node:tls replaces the default roots with `ca`, so the roots go in first.
      ca: options.ca ? [...systemRoots(), ...options.ca] : undefined,
      rejectUnauthorized: false,
    });
    let phase: "handshake" | "verify" | "open" | "closed" = "handshake";
    let lastError: string | undefined;
    const timer = setTimeout(() => {
      fail(new DialError(`no TLS connection within ${CONNECT_TIMEOUT_MS / 1000} s`));
    }, CONNECT_TIMEOUT_MS);

    function fail(error: Error): void {
      clearTimeout(timer);
      if (phase === "closed") return;
      phase = "closed";
      socket.destroy();
      reject(error);
    }

    socket.on("error", (error: Error & { code?: string }) => {
      lastError = describeSocketError(error);
      if (phase === "handshake") fail(new DialError(lastError));
    });
    socket.on("close", () => {
      clearTimeout(timer);
      if (phase === "handshake" || phase === "verify") {
        const was = phase;
        phase = "closed";
        reject(
          new DialError(
            lastError ??
              (was === "verify"
                ? "the server closed the connection while we checked its certificate"
                : "the server closed the connection during the TLS handshake"),
          ),
        );
        return;
      }
      if (phase === "open") {
        phase = "closed";
        splitter.end();
        sink.closed(lastError);
      }
    });

    const splitter = new LineSplitter(MAX_SERVER_LINE_BYTES, {
      line: (text) => sink.line(text),
      error: (reason) => sink.bad(reason),
    });

    socket.once("secureConnect", () => {
      clearTimeout(timer);
      if (phase !== "handshake") return;
      phase = "verify";
      const peer = peerCertificateOf(socket);
      options.verify(peer).then(() => {
        if (phase !== "verify") return; // Closed while the user was asked.
        phase = "open";
        socket.on("data", (chunk: Uint8Array) => splitter.push(chunk));
        resolve({
          write: (text) => {
            if (phase === "open") socket.write(text);
          },
          end: () => closePolitely(socket, CLOSE_TIMEOUT_MS),
        });
      }, (refusal) => fail(refusal instanceof Error ? refusal : new Error(String(refusal))));
    });
  });
}
