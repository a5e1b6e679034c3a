// The benchmark's TLS connections: one small interface over two TLS clients.
//
// Deno.connectTls is the default: measured on this project's 2-core machine
// it spends about 25 % less CPU per received line than node:tls and about
// 35 % less per handshake, and the generator shares the cores with the
// server it measures. It cannot skip verification, though, nor accept a
// self-signed CA:TRUE certificate (what `openssl req -x509` makes). So
// `--insecure` first asks node:tls for the certificate the server shows and
// uses Deno's client trusting exactly that one when it accepts it (a CA:FALSE
// certificate naming the address, as `chat server` generates), node:tls
// otherwise; and `--ca` uses node:tls when Deno's client refuses the
// certificate that node:tls accepts (the probes in chooseDialer).
//
// Every connection sets TCP_NODELAY. Without it a paced sender's second
// message waits in its own kernel for the server's (delayed, up to 40 ms)
// acknowledgement of the first: the server never writes back to a sender,
// so nothing carries the ACK early. That delay showed up as the first
// messages' latency against any server, ncat included (docs/benchmarks.md).
//
// A run may spread its clients over several servers (`--addr a,b,c`):
// client i always uses address i mod n, whichever thread or Worker hosts it,
// so a DialSpec (plain data) is all a Worker needs to dial like the main
// thread.

import { Buffer } from "node:buffer";
import tls from "node:tls";
import { isIpLiteral } from "../address.ts";
import { closePolitely } from "../tls_socket.ts";
import { errorLine } from "../errors.ts";

/** Size of each Deno connection's read buffer: small, since a run may hold 10,000 clients. */
export const READ_BUFFER_BYTES = 16 * 1024;
/** How long a polite close (TLS close_notify) may take before the connection is cut. */
export const CLOSE_TIMEOUT_MS = 1_000;

/** Where received bytes go. */
export interface ConnSink {
  /** A chunk of the stream; valid only during the call. */
  data(chunk: Uint8Array): void;
  /** The stream ended (called once); `reason` is set unless we closed it. */
  closed(reason?: string): void;
}

/** One open connection. */
export interface BenchConn {
  /** Writes all of `bytes`; resolves once the TLS client has taken them. */
  write(bytes: Uint8Array): Promise<void>;
  /** Closes politely, then for good; resolves when the connection is gone. */
  close(): Promise<void>;
}

/** Opens one connection whose data goes to `sink`. */
export type Dialer = (sink: ConnSink) => Promise<BenchConn>;

/** Opens client `client`'s connection (to its share of the addresses). */
export type ClientDialer = (sink: ConnSink, client: number) => Promise<BenchConn>;

/** One server address. */
export interface HostPort {
  host: string;
  port: number;
}

/** The TLS clients `chat bench` can use. */
export type TlsClient = "Deno.connectTls" | "node:tls";

/** Everything needed to dial like a {@linkcode ChosenDialers}: plain data, for a Worker. */
export interface DialSpec {
  addresses: HostPort[];
  trust: Trust;
  client: TlsClient;
}

/** Which certificates to accept. */
export type Trust =
  | { kind: "system" }
  | { kind: "ca"; pem: string }
  | { kind: "insecure" };

/** A dialer and the name of the TLS client behind it. */
export interface ChosenDialer {
  dial: Dialer;
  client: TlsClient;
  /** Why node:tls was chosen over Deno.connectTls, or what Deno's client trusts for --insecure. */
  note?: string;
  /** The trust the dialer applies (for --insecure with Deno's client: the certificate shown). */
  trust: Trust;
}

/**
 * Picks the TLS client for `host:port` and `trust`: Deno.connectTls unless
 * a probe connection shows that Deno refuses a certificate node:tls
 * accepts; for `--insecure`, Deno.connectTls trusting the certificate the
 * server shows when it accepts that one, node:tls otherwise.
 */
export async function chooseDialer(
  host: string,
  port: number,
  trust: Trust,
): Promise<ChosenDialer> {
  const ignore: ConnSink = { data() {}, closed() {} };
  if (trust.kind === "insecure") {
    const pinned: Trust = { kind: "ca", pem: await shownCertificate(host, port) };
    const deno = denoDialer(host, port, pinned);
    try {
      await (await deno(ignore)).close();
      const note = "--insecure: trusting the certificate the server showed";
      return { dial: deno, client: "Deno.connectTls", note, trust: pinned };
    } catch {
      return { dial: nodeDialer(host, port, trust), client: "node:tls", note: "--insecure", trust };
    }
  }
  const deno = denoDialer(host, port, trust);
  try {
    await (await deno(ignore)).close();
    return { dial: deno, client: "Deno.connectTls", trust };
  } catch (error) {
    if (!(error instanceof Deno.errors.InvalidData) && !/certificate/i.test(String(error))) {
      throw error;
    }
    const node = nodeDialer(host, port, trust);
    await (await node(ignore)).close(); // Throws node's reason when it refuses too.
    const why = errorLine(error);
    return {
      dial: node,
      client: "node:tls",
      note: `Deno.connectTls refused the certificate: ${why}`,
      trust,
    };
  }
}

/** The certificate `host:port` shows, as PEM (read with node:tls, which can skip verification). */
function shownCertificate(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host,
      port,
      servername: isIpLiteral(host) ? undefined : host,
      rejectUnauthorized: false,
    });
    socket.once("secureConnect", () => {
      // A plain Uint8Array in Deno: wrapped for its base64.
      const der = Buffer.from(socket.getPeerCertificate().raw ?? []);
      socket.destroy();
      const lines = der.toString("base64").match(/.{1,64}/g) ?? [];
      resolve(`-----BEGIN CERTIFICATE-----\n${lines.join("\n")}\n-----END CERTIFICATE-----\n`);
    });
    socket.once("error", (error: Error) => {
      socket.destroy();
      reject(error);
    });
  });
}

/**
 * Picks the TLS client as {@linkcode chooseDialer} does, for every address
 * of a run (each is probed, so a wrong one fails before any client logs in;
 * the first one decides the TLS client). Client i dials address i mod n.
 * With --insecure, a server that shows another certificate than the first
 * makes the whole run use node:tls.
 */
export async function chooseDialers(
  addresses: readonly HostPort[],
  trust: Trust,
): Promise<ChosenDialers> {
  if (addresses.length === 0) throw new RangeError("Cannot dial: no address");
  const first = await chooseDialer(addresses[0].host, addresses[0].port, trust);
  try {
    return await probeAll(addresses, first);
  } catch (error) {
    if (trust.kind !== "insecure" || first.client === "node:tls") throw error;
    const { host, port } = addresses[0];
    const dial = nodeDialer(host, port, trust);
    return await probeAll(addresses, { dial, client: "node:tls", note: "--insecure", trust });
  }
}

/** The dialers of `chosen`'s client and trust for every address, the others probed once. */
async function probeAll(
  addresses: readonly HostPort[],
  chosen: ChosenDialer,
): Promise<ChosenDialers> {
  const spec: DialSpec = { addresses: [...addresses], trust: chosen.trust, client: chosen.client };
  const dialers = dialersOf(spec);
  const ignore: ConnSink = { data() {}, closed() {} };
  for (const [i, address] of addresses.entries()) {
    if (i === 0) continue;
    try {
      await (await dialers[i](ignore)).close();
    } catch (error) {
      const why = errorLine(error);
      throw new Error(`${address.host}:${address.port}: ${why}`);
    }
  }
  return { dial: clientDialer(spec), client: chosen.client, note: chosen.note, spec };
}

/** Dialers for a whole run, and the plain data a Worker rebuilds them from. */
export interface ChosenDialers {
  dial: ClientDialer;
  client: TlsClient;
  /** Why node:tls was chosen over Deno.connectTls, or what Deno's client trusts for --insecure. */
  note?: string;
  spec: DialSpec;
}

/** The address client `client` uses: round-robin over the run's addresses. */
export function addressIndexOf(client: number, addresses: number): number {
  return client % addresses;
}

/** The {@linkcode ClientDialer} a spec describes. */
export function clientDialer(spec: DialSpec): ClientDialer {
  const dialers = dialersOf(spec);
  return (sink, client) => dialers[addressIndexOf(client, dialers.length)](sink);
}

function dialersOf(spec: DialSpec): Dialer[] {
  return spec.addresses.map(({ host, port }) =>
    spec.client === "node:tls"
      ? nodeDialer(host, port, spec.trust)
      : denoDialer(host, port, spec.trust)
  );
}

/**
 * Connections with Deno's TLS client (what `Deno.connectTls` uses; opened with
 * Deno.connect and Deno.startTls so TCP_NODELAY can be set), verifying against `trust`.
 */
export function denoDialer(host: string, port: number, trust: Trust): Dialer {
  const caCerts = trust.kind === "ca" ? [trust.pem] : undefined;
  return async (sink) => {
    // Deno.connect + startTls rather than connectTls: only a TcpConn can set TCP_NODELAY.
    const tcp = await Deno.connect({ hostname: host, port });
    let conn: Deno.TlsConn;
    try {
      tcp.setNoDelay(true);
      conn = await Deno.startTls(tcp, { hostname: host, caCerts });
    } catch (error) {
      tcp.close();
      throw error;
    }
    try {
      await conn.handshake();
    } catch (error) {
      conn.close();
      throw error;
    }
    return new DenoConn(conn, sink);
  };
}

class DenoConn implements BenchConn {
  readonly #conn: Deno.TlsConn;
  readonly #reading: Promise<void>;
  #closing = false;

  constructor(conn: Deno.TlsConn, sink: ConnSink) {
    this.#conn = conn;
    this.#reading = this.#readLoop(sink);
  }

  async #readLoop(sink: ConnSink): Promise<void> {
    const buffer = new Uint8Array(READ_BUFFER_BYTES);
    let reason: string | undefined;
    try {
      while (true) {
        const n = await this.#conn.read(buffer);
        if (n === null) {
          reason = "closed by the server";
          break;
        }
        sink.data(buffer.subarray(0, n));
      }
    } catch (error) {
      reason = errorLine(error);
    }
    sink.closed(this.#closing ? undefined : reason);
  }

  async write(bytes: Uint8Array): Promise<void> {
    // TlsConn.write takes at most 64 KiB per call.
    for (let offset = 0; offset < bytes.length;) {
      offset += await this.#conn.write(bytes.subarray(offset));
    }
  }

  async close(): Promise<void> {
    if (this.#closing) return await this.#reading;
    this.#closing = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        this.#conn.closeWrite(),
        new Promise((resolve) => timer = setTimeout(resolve, CLOSE_TIMEOUT_MS)),
      ]);
    } catch {
      // The server is gone already.
    } finally {
      clearTimeout(timer);
    }
    try {
      this.#conn.close();
    } catch {
      // Closed already.
    }
    await this.#reading;
  }
}

/** Connections with node:tls: `--insecure`, or a `--ca` that Deno's client refuses. */
export function nodeDialer(host: string, port: number, trust: Trust): Dialer {
  return (sink) =>
    new Promise((resolve, reject) => {
      const socket = tls.connect({
        host,
        port,
        servername: isIpLiteral(host) ? undefined : host,
        // node:tls replaces the default roots with `ca`: what the user named is what counts.
        ca: trust.kind === "ca" ? [trust.pem] : undefined,
        rejectUnauthorized: trust.kind !== "insecure",
      });
      socket.setNoDelay(true);
      const conn = new NodeConn(socket);
      let open = false;
      let failure: string | undefined;
      socket.once("secureConnect", () => {
        open = true;
        socket.on("data", (chunk: Uint8Array) => sink.data(chunk));
        resolve(conn);
      });
      socket.on("error", (error: Error) => {
        failure = error.message;
        if (!open) reject(error);
      });
      socket.once("close", () => {
        if (open) sink.closed(conn.closing ? undefined : failure ?? "closed by the server");
      });
    });
}

class NodeConn implements BenchConn {
  readonly #socket: tls.TLSSocket;
  /** True once we started closing: the end that follows is ours, not the server's. */
  closing = false;

  constructor(socket: tls.TLSSocket) {
    this.#socket = socket;
  }

  write(bytes: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#socket.write(bytes, (error) => error ? reject(error) : resolve());
    });
  }

  close(): Promise<void> {
    this.closing = true;
    return closePolitely(this.#socket, CLOSE_TIMEOUT_MS);
  }
}
