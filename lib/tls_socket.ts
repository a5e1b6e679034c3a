// What every node:tls socket of ours shares, client and server alike: the
// default trust roots, a short reason for a socket error, and a polite close.
// The client, the conformance probe, the load generator and the server all
// use node:tls (Deno's own TLS cannot skip checks per connection, show the
// peer certificate, or be closed mid-handshake), so these live in one place.

import tls from "node:tls";

/**
 * The system's trusted roots, when Deno lets us read them (`--allow-sys`).
 * Without that permission only the certificates given with `--ca` are
 * trusted: asking would prompt (or, with the terminal in raw mode, fail),
 * and the server named with `--ca` is the one that matters.
 */
export function systemRoots(): readonly string[] {
  try {
    const kind = "ca" as Deno.SysPermissionDescriptor["kind"];
    if (Deno.permissions.querySync({ name: "sys", kind }).state !== "granted") return [];
    return tls.rootCertificates;
  } catch {
    return [];
  }
}

/**
 * A short reason for a socket error, for a person.
 *
 * @example
 * ```ts
 * describeSocketError(Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" })); // "connection reset by peer"
 * ```
 */
export function describeSocketError(error: unknown): string {
  const code = (error as { code?: unknown })?.code;
  switch (code) {
    case "ECONNREFUSED":
      return "connection refused";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "host not found";
    case "ECONNRESET":
      return "connection reset by peer";
    case "EPIPE":
      return "connection lost (broken pipe)";
    case "ETIMEDOUT":
      return "connection timed out";
  }
  if (error instanceof Error && error.message) return error.message.split("\n")[0];
  return String(code ?? error ?? "connection failed");
}

/**
 * Closes politely: close_notify after anything still buffered, then FIN;
 * destroys the socket if the close has not finished within `timeoutMs`.
 * Resolves once the socket has closed.
 */
export function closePolitely(socket: tls.TLSSocket, timeoutMs: number): Promise<void> {
  if (socket.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve();
    });
    socket.end();
  });
}
