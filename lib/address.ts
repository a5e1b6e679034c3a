// A server address as people write it (`--addr`, CHAT_ADDR, `chat check
// HOST`, the terminal prompt): `HOST`, `HOST:PORT`, `[IPv6]:PORT`, or a bare
// IPv6 literal such as `::1`.
//
// The client, the probe and the load generator all take one, and must give
// the same answer and the same error sentences, so it lives here once.

/** The protocol's default port (PROTOCOL.md §1). */
export const DEFAULT_PORT = 1337;

/** A server address, ready for a TCP connect. */
export interface Address {
  /** Host name or IP literal, without brackets. */
  host: string;
  port: number;
  /** How we write it back: `host:port`, or `[v6]:port` for IPv6. */
  label: string;
}

/** Either an address or the sentence saying what is wrong with it. */
export type AddressResult = { ok: true; address: Address } | { ok: false; reason: string };

const HOST_CHARS = /^[\p{L}\p{N}._:%-]+$/u;

/**
 * Parses `HOST[:PORT]`; the port defaults to {@linkcode DEFAULT_PORT}.
 *
 * @example
 * ```ts
 * parseAddress("[::1]:1337"); // { ok: true, address: { host: "::1", port: 1337, label: "[::1]:1337" } }
 * parseAddress("example.org"); // { ok: true, address: { host: "example.org", port: 1337, … } }
 * parseAddress("host:x"); // { ok: false, reason: 'port must be a number from 1 to 65535, got "x"' }
 * ```
 */
export function parseAddress(text: string): AddressResult {
  const input = text.trim();
  if (input.length === 0) return { ok: false, reason: "address must not be empty" };
  let host: string;
  let portText: string | undefined;
  if (input.startsWith("[")) {
    const close = input.indexOf("]");
    if (close === -1) return { ok: false, reason: `missing "]" in ${JSON.stringify(input)}` };
    host = input.slice(1, close);
    const rest = input.slice(close + 1);
    if (rest.length > 0) {
      if (!rest.startsWith(":")) {
        return { ok: false, reason: `expected ":PORT" after "]" in ${JSON.stringify(input)}` };
      }
      portText = rest.slice(1);
    }
    if (!host.includes(":")) {
      return { ok: false, reason: `brackets are for IPv6 addresses, got ${JSON.stringify(input)}` };
    }
  } else {
    const colons = input.split(":").length - 1;
    if (colons === 1) {
      [host, portText] = input.split(":");
    } else {
      host = input; // No colon, or a bare IPv6 literal such as "::1".
    }
  }
  if (host.length === 0) return { ok: false, reason: `missing host in ${JSON.stringify(input)}` };
  if (!HOST_CHARS.test(host)) return { ok: false, reason: `invalid host ${JSON.stringify(host)}` };
  let port = DEFAULT_PORT;
  if (portText !== undefined) {
    port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
    if (!(port >= 1 && port <= 65535)) {
      return {
        ok: false,
        reason: `port must be a number from 1 to 65535, got ${JSON.stringify(portText)}`,
      };
    }
  }
  const label = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  return { ok: true, address: { host, port, label } };
}

/** True when `host` is an IP literal (IPv4 dotted quad or anything with a colon). */
export function isIpLiteral(host: string): boolean {
  return host.includes(":") || /^\d{1,3}(\.\d{1,3}){3}$/.test(host);
}
