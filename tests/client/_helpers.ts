// Test helpers for the client: certificates made with openssl at test time
// (no private key is ever committed), a fake TLS chat server that records
// what the client sends and lets the test answer frame by frame, the client
// run in-process without a terminal, and a tmux-driven terminal.

import { missing } from "../_tools.ts";
import tls from "node:tls";
import { LineSplitter } from "../../lib/lines.ts";
import { eventually } from "../../bench/fault/schedule.ts";
import { ChatProcess } from "../../bench/chat_process.ts";
import type { CliContext } from "../../lib/cli.ts";
import { type ClientCliOptions, runClient } from "../../lib/client/cli.ts";
import { withDenoDir } from "../_deno_dir.ts";

/** The repository root (main.ts lives there). */
export const ROOT = new URL("../../", import.meta.url).pathname;

/** A certificate and key on disk, with their PEM text and SHA-256 fingerprint. */
export interface TestCert {
  certFile: string;
  keyFile: string;
  certPem: string;
  keyPem: string;
  /** Colon-separated upper-case hex, as openssl and node:tls print it. */
  fingerprint: string;
}

/** Test certificates in a temp dir, and the dir's cleanup. */
export interface TestCerts {
  dir: string;
  /** `openssl req -x509 -newkey rsa:2048 …`: self-signed, CA:TRUE (openssl's default). */
  caTrue: TestCert;
  /** A self-signed leaf with basicConstraints CA:FALSE. */
  caFalse: TestCert;
  /** Another CA:TRUE certificate for the same names (a "changed" server certificate). */
  other: TestCert;
  remove(): Promise<void>;
}

async function run(command: string, args: string[], cwd?: string): Promise<string> {
  const out = await new Deno.Command(command, { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(`${command} ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

/** A certificate's files, PEM text and fingerprint, once openssl has written them. */
async function loadCert(certFile: string, keyFile: string): Promise<TestCert> {
  const fp = await run("openssl", ["x509", "-in", certFile, "-noout", "-fingerprint", "-sha256"]);
  return {
    certFile,
    keyFile,
    certPem: await Deno.readTextFile(certFile),
    keyPem: await Deno.readTextFile(keyFile),
    fingerprint: fp.trim().split("=")[1],
  };
}

/**
 * `openssl req -x509 … -nodes` in `dir`, with `extra` arguments, the
 * subject `subject` and (unless null) the subjectAltName `san`.
 */
async function makeCert(
  dir: string,
  name: string,
  extra: string[],
  subject = "/CN=localhost",
  san: string | null = "DNS:localhost,IP:127.0.0.1,IP:::1",
): Promise<TestCert> {
  const certFile = `${dir}/${name}.pem`;
  const keyFile = `${dir}/${name}.key`;
  await run("openssl", [
    "req",
    "-x509",
    ...extra,
    "-keyout",
    keyFile,
    "-out",
    certFile,
    "-days",
    "2",
    "-nodes",
    "-subj",
    subject,
    ...(san === null ? [] : ["-addext", `subjectAltName=${san}`]),
  ]);
  return await loadCert(certFile, keyFile);
}

/**
 * A certificate made as the protocol's original test instructions make it:
 * `openssl req -x509 -newkey rsa:2048 … -nodes` and whatever the person
 * types at the prompts, so RSA 2048, CA:TRUE (openssl's default), no
 * subjectAltName, and a common name (`subject`) that is not the name or
 * address the other team dials.
 */
export function makeSeedCert(dir: string, subject = "/CN=chat server"): Promise<TestCert> {
  return makeCert(
    dir,
    `seed-${crypto.randomUUID().slice(0, 8)}`,
    ["-newkey", "rsa:2048"],
    subject,
    null,
  );
}

/** A leaf for `name` only (CN and SAN), signed by `ca` (a CA:TRUE certificate). */
export async function makeSignedCert(dir: string, ca: TestCert, name: string): Promise<TestCert> {
  const base = `${dir}/signed-${crypto.randomUUID().slice(0, 8)}`;
  await run("openssl", [
    "req",
    "-new",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    `${base}.key`,
    "-out",
    `${base}.csr`,
    "-subj",
    `/CN=${name}`,
  ]);
  await Deno.writeTextFile(`${base}.ext`, `subjectAltName=DNS:${name}\n`);
  await run("openssl", [
    "x509",
    "-req",
    "-in",
    `${base}.csr`,
    "-CA",
    ca.certFile,
    "-CAkey",
    ca.keyFile,
    "-CAcreateserial",
    "-days",
    "2",
    "-extfile",
    `${base}.ext`,
    "-out",
    `${base}.pem`,
  ]);
  return await loadCert(`${base}.pem`, `${base}.key`);
}

/**
 * The test certificates of one test file: made once, removed when its tests
 * end; without openssl, whose tests skip (tests/_tools.ts), none.
 */
export async function fileCerts(): Promise<TestCerts> {
  if (missing("openssl")) return undefined!;
  const certs = await makeCerts();
  globalThis.addEventListener("unload", () => Deno.removeSync(certs.dir, { recursive: true }));
  return certs;
}

/** Makes the test certificates (about a second; do it once per test file). */
export async function makeCerts(): Promise<TestCerts> {
  const dir = await Deno.makeTempDir({ prefix: "chat-client-certs-" });
  const [caTrue, caFalse, other] = await Promise.all([
    makeCert(dir, "ca-true", ["-newkey", "rsa:2048"]),
    makeCert(dir, "ca-false", [
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-addext",
      "basicConstraints=critical,CA:FALSE",
    ]),
    makeCert(dir, "other", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]),
  ]);
  return { dir, caTrue, caFalse, other, remove: () => Deno.remove(dir, { recursive: true }) };
}

/** The non-empty lines of a program's output. */
export function lines(text: string): string[] {
  return text.split("\n").filter((line) => line !== "");
}

/** Polls until a condition holds (the one poll of the tests and fault scenarios). */
export { eventually };

/** A frame as the fake server received it. */
export type Frame = Record<string, unknown>;

/** The features the client asks for at every login (PROTOCOL.md §9), written out here to pin them. */
export const LOGIN_FEATURES = ["presence", "direct", "heartbeat", "identity", "ops"];

/** The login line the client sends, as a peer reads it on the wire (no `since`). */
export function loginLine(nickname: string): string {
  return JSON.stringify(loginFrame(nickname));
}

/** The login frame the client sends, as the fake server parses it. */
export function loginFrame(nickname: string, since?: number): Frame {
  const frame: Frame = { command: "login", nickname };
  if (since !== undefined) frame.since = since;
  frame.features = LOGIN_FEATURES;
  return frame;
}

const encoder = new TextEncoder();

/** One accepted connection of the {@linkcode FakeServer}. */
export class FakeConn {
  readonly conn: Deno.TlsConn;
  /** Every line received, in order (also those already taken by next()). */
  readonly received: string[] = [];
  /** Blank lines received (skipped as frames, PROTOCOL.md §1): the client's heartbeats. */
  blankLines = 0;
  #cursor = 0;
  /** "close_notify" when the client closed politely, else what went wrong. */
  readonly ended: Promise<string>;
  #done = false;

  constructor(conn: Deno.TlsConn) {
    this.conn = conn;
    this.ended = this.#read();
  }

  /** True once the connection is over. */
  get done(): boolean {
    return this.#done;
  }

  /** The next line the client sent, parsed; throws after `timeoutMs`. */
  async next(timeoutMs = 5000): Promise<Frame> {
    const ok = await eventually(() => this.received.length > this.#cursor || this.#done, timeoutMs);
    if (this.received.length > this.#cursor) return JSON.parse(this.received[this.#cursor++]);
    throw new Error(
      ok ? "connection ended while waiting for a frame" : `no frame in ${timeoutMs} ms`,
    );
  }

  /** Sends frames: objects as JSON lines, strings as they are (add your own "\n"). */
  async send(...frames: (Frame | string)[]): Promise<void> {
    const text = frames.map((f) => typeof f === "string" ? f : JSON.stringify(f) + "\n").join("");
    const bytes = encoder.encode(text);
    let offset = 0;
    while (offset < bytes.length) offset += await this.conn.write(bytes.subarray(offset));
  }

  /** Drops the connection from the server side. */
  async drop(): Promise<void> {
    try {
      this.conn.close();
    } catch {
      // Already closed.
    }
    await this.ended;
  }

  async #read(): Promise<string> {
    const splitter = new LineSplitter(1 << 24, {
      line: (text) => this.received.push(text),
      error: (reason) => this.received.push(JSON.stringify({ fakeServerError: reason })),
    });
    const buffer = new Uint8Array(64 * 1024);
    let how = "close_notify";
    let previous = 10; // A "\n" right at the start, or after another, ends a blank line.
    try {
      while (true) {
        const n = await this.conn.read(buffer);
        if (n === null) break;
        for (let i = 0; i < n; i++) {
          if (buffer[i] === 10 && previous === 10) this.blankLines++;
          previous = buffer[i];
        }
        splitter.push(buffer.subarray(0, n));
      }
    } catch (error) {
      how = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    }
    this.#done = true;
    try {
      this.conn.close();
    } catch {
      // Already closed.
    }
    return how;
  }
}

/** A TLS server that speaks whatever the test says, on 127.0.0.1:0 (or ::1). */
export class FakeServer {
  readonly listener: Deno.TlsListener;
  readonly conns: FakeConn[] = [];
  #taken = 0;
  readonly #accepting: Promise<void>;

  constructor(cert: TestCert, hostname = "127.0.0.1") {
    const listener = Deno.listenTls({ hostname, port: 0, cert: cert.certPem, key: cert.keyPem });
    this.listener = listener;
    this.#accepting = (async () => {
      try {
        for await (const conn of listener) this.conns.push(new FakeConn(conn));
      } catch {
        // Listener closed.
      }
    })();
  }

  get port(): number {
    return this.listener.addr.port;
  }

  /** The next connection the client made; throws after `timeoutMs`. */
  async accept(timeoutMs = 5000): Promise<FakeConn> {
    if (!await eventually(() => this.conns.length > this.#taken, timeoutMs)) {
      throw new Error(`no connection in ${timeoutMs} ms`);
    }
    return this.conns[this.#taken++];
  }

  /** Closes the listener and every connection (again: nothing more happens). */
  async close(): Promise<void> {
    try {
      this.listener.close();
    } catch {
      // Already closed: the test stopped the server itself.
    }
    await this.#accepting;
    await Promise.all(this.conns.map((conn) => conn.drop()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** A client run in-process without a terminal: its stdin, stdout, stderr and exit code. */
export class PipeClient {
  stdout = "";
  stderr = "";
  readonly code: Promise<number>;
  readonly #input: ReadableStreamDefaultController<Uint8Array>;
  readonly #stop = new AbortController();
  #exited: number | undefined;

  constructor(args: string[], env: Record<string, string> = {}, options: ClientCliOptions = {}) {
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    const stdin = new ReadableStream<Uint8Array>({ start: (c) => void (controller = c) });
    this.#input = controller;
    const context: CliContext = {
      env: (name) => env[name],
      stdout: (text) => void (this.stdout += text),
      stderr: (text) => void (this.stderr += text),
      signal: this.#stop.signal,
      isTerminal: { stdin: false, stdout: false },
      stdin: () => stdin,
    };
    this.code = runClient(args, context, options).then((code) => this.#exited = code);
  }

  /** Types lines into stdin. */
  type(...lines: string[]): void {
    this.#input.enqueue(encoder.encode(lines.map((line) => line + "\n").join("")));
  }

  /** Ends stdin (EOF). */
  end(): void {
    try {
      this.#input.close();
    } catch {
      // Already closed or cancelled.
    }
  }

  /** Sends the client SIGINT, as main.ts would. */
  interrupt(): void {
    this.#stop.abort("SIGINT");
  }

  /** The exit code, once the client has exited. */
  get exited(): number | undefined {
    return this.#exited;
  }
}

/**
 * A fake server with `cert` and in-process clients of it: `start(extra)`
 * runs `chat client --addr 127.0.0.1:PORT --ca CERT EXTRA…` with its config
 * in a temp dir. Disposing closes the server and removes the dir.
 */
export async function pipeSetup(cert: TestCert) {
  const server = new FakeServer(cert);
  const config = await Deno.makeTempDir({ prefix: "chat-client-config-" });
  const start = (extra: string[] = [], env: Record<string, string> = {}) =>
    new PipeClient(
      ["--addr", `127.0.0.1:${server.port}`, "--ca", cert.certFile, ...extra],
      clientEnv(config, env),
    );
  return {
    server,
    config,
    start,
    async [Symbol.asyncDispose]() {
      await server.close();
      await Deno.remove(config, { recursive: true });
    },
  };
}

/**
 * Default environment for clients, in-process or a process: no colour,
 * config (and HOME) in a temp dir, and this run's module cache (a process
 * with that HOME would otherwise fetch its npm packages again).
 */
export function clientEnv(configDir: string, extra: Record<string, string> = {}) {
  return withDenoDir({ NO_COLOR: "1", XDG_CONFIG_HOME: configDir, HOME: configDir, ...extra });
}

/** The flags of `deno task client` (its permission set), so tests prove the task's permissions suffice. */
export function clientTaskFlags(): string[] {
  const config = JSON.parse(Deno.readTextFileSync(`${ROOT}/deno.json`));
  const command: string = config.tasks.client.command;
  const match = /^deno run (.*) main\.ts client$/.exec(command);
  if (!match) throw new Error(`unexpected client task: ${command}`);
  return match[1].split(" ");
}

/**
 * The shell command that runs the client in tmux as `deno task client`
 * does, then prints `EXIT=<code> AT=<ms since the epoch>` and stays, so
 * the test can read the exit code and when it came.
 */
export function clientShellCommand(args: string[], env: Record<string, string>): string {
  const vars = Object.entries(env).map(([k, v]) => `${k}=${shellQuote(v)}`).join(" ");
  const deno = shellQuote(Deno.execPath());
  const quoted = args.map(shellQuote).join(" ");
  return `cd ${shellQuote(ROOT)} && env -u NO_COLOR ${vars} ${deno} run ${
    clientTaskFlags().join(" ")
  } main.ts client ${quoted}; echo EXIT=$? AT=$(date +%s%3N); sleep 60`;
}

/** Reads a child's stdout and stderr as text into `into` as they come; resolves when both end. */
function collectOutput(
  child: Deno.ChildProcess,
  into: { stdout: string; stderr: string },
): Promise<void> {
  const collect = async (stream: ReadableStream<Uint8Array>, key: "stdout" | "stderr") => {
    for await (const text of stream.pipeThrough(new TextDecoderStream())) into[key] += text;
  };
  return Promise.all([collect(child.stdout, "stdout"), collect(child.stderr, "stderr")])
    .then(() => {});
}

/** `chat client ARGS` as a real process without a terminal: stdin piped, output collected. */
export class ClientProcess {
  stdout = "";
  stderr = "";
  readonly #child: Deno.ChildProcess;
  readonly #input: WritableStreamDefaultWriter<Uint8Array>;
  readonly #reading: Promise<void>;

  constructor(args: string[], env: Record<string, string>) {
    this.#child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...clientTaskFlags(), "main.ts", "client", ...args],
      cwd: ROOT,
      env: { TZ: "UTC", ...env },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#input = this.#child.stdin.getWriter();
    this.#reading = collectOutput(this.#child, this);
  }

  /** Types lines into stdin. */
  async type(...lines: string[]): Promise<void> {
    await this.#input.write(encoder.encode(lines.map((line) => line + "\n").join("")));
  }

  /** Ends stdin; resolves with the exit code and how many ms after end of input it came. */
  async end(): Promise<{ code: number; ms: number }> {
    const eof = performance.now();
    await this.#input.close().catch(() => {});
    const { code } = await this.#child.status;
    const ms = performance.now() - eof;
    await this.#reading;
    return { code, ms };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#input.close().catch(() => {});
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // Exited already.
    }
    await this.#child.status;
    await this.#reading;
  }
}

/**
 * `openssl s_server` on 127.0.0.1 with a certificate, for one connection:
 * the outside world's server, with a person typing its side of the chat.
 * Its stdout shows what the client sent, and `DONE` after a clean TLS
 * shutdown (the client's close_notify).
 */
export class OpensslServer {
  stdout = "";
  stderr = "";
  readonly port: number;
  readonly #child: Deno.ChildProcess;
  readonly #typist: WritableStreamDefaultWriter<Uint8Array>;
  readonly #reading: Promise<void>;

  private constructor(cert: TestCert, port: number) {
    this.port = port;
    this.#child = new Deno.Command("openssl", {
      args: [
        "s_server",
        "-accept",
        `127.0.0.1:${port}`,
        "-cert",
        cert.certFile,
        "-key",
        cert.keyFile,
        "-naccept",
        "1",
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#typist = this.#child.stdin.getWriter();
    this.#reading = collectOutput(this.#child, this);
  }

  /** Starts it on a free port and waits until it accepts. */
  static async start(cert: TestCert): Promise<OpensslServer> {
    const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = probe.addr.port;
    probe.close();
    const server = new OpensslServer(cert, port);
    if (!await eventually(() => server.stdout.includes("ACCEPT"), 10_000)) {
      await server.close();
      throw new Error(`openssl s_server did not start: ${server.stderr}`);
    }
    return server;
  }

  /** Types a line, as the person at the server would. */
  async type(line: string): Promise<void> {
    await this.#typist.write(encoder.encode(line + "\n"));
  }

  /** Stops it (end of its input, then a kill if it is still there). */
  async close(): Promise<void> {
    await this.#typist.close().catch(() => {});
    try {
      this.#child.kill();
    } catch {
      // Exited already.
    }
    await this.#child.status;
    await this.#reading;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Someone else on the server: a client typing frames over node:tls, with a
 * core login or (`features`) one that asks for §9–§11.
 */
export class Typist {
  readonly received: string[] = [];
  readonly #socket: tls.TLSSocket;

  private constructor(socket: tls.TLSSocket) {
    this.#socket = socket;
    const splitter = new LineSplitter(1 << 20, {
      line: (text) => this.received.push(text),
      error: () => {},
    });
    socket.on("data", (chunk: Uint8Array) => splitter.push(chunk));
  }

  /** Connects (trusting anything: this is the test's own peer) and logs in. */
  static async login(port: number, nickname: string, features?: string[]): Promise<Typist> {
    const socket = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({ host: "127.0.0.1", port, rejectUnauthorized: false });
      s.once("secureConnect", () => resolve(s));
      s.once("error", reject);
    });
    const typist = new Typist(socket);
    typist.send(
      features ? { command: "login", nickname, features } : { command: "login", nickname },
    );
    if (
      !await eventually(() => typist.received.some((line) => line.startsWith('{"status":"ok"')))
    ) {
      throw new Error(`${nickname} could not log in: ${typist.received.join(" ")}`);
    }
    return typist;
  }

  send(frame: Record<string, unknown>): void {
    this.#socket.write(JSON.stringify(frame) + "\n");
  }

  /** The messages received, as `from: message` (a direct one as `from -> to: message`). */
  get messages(): string[] {
    return this.frames.filter((f) => "from" in f)
      .map((f) => "to" in f ? `${f.from} -> ${f.to}: ${f.message}` : `${f.from}: ${f.message}`);
  }

  /** Every frame received, parsed. */
  get frames(): Frame[] {
    return this.received.map((line) => JSON.parse(line));
  }

  /** Leaves politely (close_notify); resolves once the connection is gone (at once if it is). */
  close(): Promise<void> {
    if (this.#socket.closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.#socket.once("close", () => resolve());
      this.#socket.end();
    });
  }
}

/** A terminal in tmux, on its own server socket, at a fixed size. */
export class Tmux {
  readonly socket = `chat-test-${crypto.randomUUID().slice(0, 8)}`;

  /** Starts `command` (a shell command line) in a new 100x30 window. */
  async start(command: string, size = { width: 100, height: 30 }): Promise<void> {
    await this.#tmux(
      "new-session",
      "-d",
      "-x",
      String(size.width),
      "-y",
      String(size.height),
      command,
    );
  }

  /** Presses keys (tmux key names such as Enter, C-c, or plain text). */
  async keys(...keys: string[]): Promise<void> {
    await this.#tmux("send-keys", ...keys);
  }

  /** Types text literally (no key-name lookup). */
  async type(text: string): Promise<void> {
    await this.#tmux("send-keys", "-l", text);
  }

  /** What the window shows, one string with "\n" between rows. */
  async screen(): Promise<string> {
    return await this.#tmux("capture-pane", "-p");
  }

  /** Polls the screen until `pattern` matches; throws with the screen after `timeoutMs`. */
  async waitFor(pattern: RegExp, timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let screen = "";
    while (Date.now() < deadline) {
      screen = await this.screen();
      if (pattern.test(screen)) return screen;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`screen never matched ${pattern}:\n${screen}`);
  }

  /** Where the cursor is: column and row, counted from 0. */
  async cursor(): Promise<{ x: number; y: number }> {
    const [x, y] = (await this.#tmux("display-message", "-p", "#{cursor_x} #{cursor_y}"))
      .trim().split(" ").map(Number);
    return { x, y };
  }

  /**
   * Polls until the last `expected.length` non-empty rows of the screen are
   * `expected`; throws with the screen after `timeoutMs`. A redraw is several
   * writes (erase, lines, prompt), so a screen caught in between is not yet
   * the answer.
   */
  async waitForRows(expected: string[], timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let screen = "";
    while (Date.now() < deadline) {
      screen = await this.screen();
      const rows = screen.split("\n").filter((row) => row.trim() !== "").slice(-expected.length);
      if (rows.join("\n") === expected.join("\n")) return screen;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`the last rows never were:\n${expected.join("\n")}\nscreen:\n${screen}`);
  }

  /**
   * Presses Ctrl-D in a window started with {@linkcode clientShellCommand}
   * and waits for the client to exit: its exit code, how many ms after the
   * key it exited, and the screen then.
   */
  async leave(): Promise<{ code: number; ms: number; screen: string }> {
    const pressed = Date.now();
    await this.keys("C-d");
    const screen = await this.waitFor(/EXIT=\d+ AT=\d+/);
    const [, code, at] = /EXIT=(\d+) AT=(\d+)/.exec(screen)!;
    return { code: Number(code), ms: Number(at) - pressed, screen };
  }

  /** Kills the tmux server (and the programs in it). */
  async kill(): Promise<void> {
    await new Deno.Command("tmux", { args: ["-L", this.socket, "kill-server"], stderr: "null" })
      .output();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.kill();
  }

  async #tmux(...args: string[]): Promise<string> {
    return await run("tmux", ["-L", this.socket, ...args]);
  }
}

/** Quotes a string for a POSIX shell command line. */
export function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

/**
 * Our server (`chat server`) as a process in a temp dir, with the
 * certificate it makes there, and clients of it: `client` runs `chat
 * client` piped, `typist` logs someone in over node:tls. `extra` are more
 * server flags, or makes them in the dir (an operator's identity file).
 * Disposing stops everything and removes the dir.
 */
export async function ourServer(
  extra: string[] | ((dir: string) => Promise<string[]>) = [],
) {
  const dir = await Deno.makeTempDir({ prefix: "chat-client-our-server-" });
  const flags = Array.isArray(extra) ? extra : await extra(dir);
  const server = new ChatProcess(["server", "--host", "127.0.0.1", "--port", "0", ...flags], dir);
  const clients: ClientProcess[] = [];
  const people: Typist[] = [];
  try {
    await server.listening();
  } catch (error) {
    await server.kill("SIGKILL");
    await Deno.remove(dir, { recursive: true });
    throw error;
  }
  const ca = `${dir}/certs/cert.pem`;
  const args = (nick: string) => ["--addr", `127.0.0.1:${server.port}`, "--nick", nick, "--ca", ca];
  return {
    server,
    dir,
    /** The client's flags for this server as `nick`. */
    args,
    /** `chat client` as a process without a terminal, logged in as `nick`, with `extra` flags. */
    client(nick: string, extra: string[] = []): ClientProcess {
      const client = new ClientProcess([...args(nick), ...extra], clientEnv(dir));
      clients.push(client);
      return client;
    },
    /** Someone typing frames (a core login unless `features`). */
    async typist(nick: string, features?: string[]): Promise<Typist> {
      const typist = await Typist.login(server.port, nick, features);
      people.push(typist);
      return typist;
    },
    async [Symbol.asyncDispose]() {
      for (const client of clients) await client[Symbol.asyncDispose]();
      await Promise.all(people.map((typist) => typist.close().catch(() => {})));
      await server.stop();
      await Deno.remove(dir, { recursive: true });
    },
  };
}
