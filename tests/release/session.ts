// One real session of the `chat` executable, the same steps whatever runs it:
// tests/release_test.ts runs it as `deno run` with exactly the permission
// flags of the compile tasks, and the release workflow runs it against each
// compiled binary on that binary's own OS. Either way it proves the
// permission set is enough for what users do on the first day: `--version`,
// a server that generates its certificate, clients that trust it with `--ca`
// or through CHAT_ADDR/CHAT_NICK, and (on a terminal, under tmux) a client
// that asks about the certificate and pins it in the known-hosts file,
// which a later client then honours. Any permission error fails the session.
//
// As a program:
//   deno run --allow-run --allow-read --allow-write tests/release/session.ts [--no-tty] CHAT
// where CHAT is the executable (dist/chat-x86_64-unknown-linux-gnu, say).

import { join, resolve } from "node:path";
import config from "../../deno.json" with { type: "json" };
import { sleep } from "../../lib/deadline.ts";
import { errorMessage } from "../../lib/errors.ts";

/** How long one step (a server start, one client run, one prompt) may take before the session fails. */
export const STEP_TIMEOUT_MS = 30_000;

/** What the runtime prints when a permission is missing (NotCapable, PermissionDenied, "run again with the --allow-env flag"). */
export const PERMISSION_ERROR =
  /NotCapable|PermissionDenied|Requires \w+ access|run again with the --allow-\w+ flag/;

/**
 * Where the server listens and the clients connect: an IP address, so that
 * the session tests permissions, not how an OS resolves "localhost" (the
 * generated certificate names 127.0.0.1 too).
 */
const HOST = "127.0.0.1";

/** Options of {@linkcode runSession}. */
export interface SessionOptions {
  /** The `chat` command: the executable and whatever comes before the subcommand. */
  command: string[];
  /** Also drive a client on a terminal (needs tmux): certificate prompt, pin, reuse of the pin. */
  tty: boolean;
  /** More environment for every `chat` run (`DENO_DIR` when `command` is `deno run`). */
  env?: Record<string, string>;
  /** Progress lines, one per step. */
  log?: (line: string) => void;
}

/** Output of one finished `chat` run. */
interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the whole session in a fresh temporary directory (the server's
 * working directory, and HOME and XDG_CONFIG_HOME of every run) and removes
 * it afterwards. Rejects with an Error naming the step and its output when
 * anything goes wrong, a missing permission included.
 *
 * @example
 * ```ts
 * await runSession({ command: ["./dist/chat"], tty: false });
 * ```
 */
export async function runSession(options: SessionOptions): Promise<void> {
  const log = options.log ?? (() => {});
  const dir = await Deno.makeTempDir({ prefix: "chat-session-" });
  // HOME too, so that nothing reaches the real home directory even if XDG_CONFIG_HOME were ignored.
  const env = {
    ...options.env,
    NO_COLOR: "1",
    HOME: join(dir, "home"),
    XDG_CONFIG_HOME: join(dir, "config"),
  };
  const chat = (args: string[], input = "", extraEnv: Record<string, string> = {}) =>
    runChat([...options.command, ...args], { cwd: dir, env: { ...env, ...extraEnv }, input });
  let server: ServerProcess | undefined;
  try {
    const version = await chat(["--version"]);
    expectClean("chat --version", version);
    if (version.stdout.trim() !== `chat ${config.version}`) {
      throw new Error(`chat --version printed ${JSON.stringify(version.stdout)}`);
    }
    log(`--version: ${version.stdout.trim()}`);

    server = new ServerProcess(
      [...options.command, "server", "--host", HOST, "--port", "0"],
      { cwd: dir, env },
    );
    const port = Number((await server.waitFor(/listening on 127\.0\.0\.1:(\d+)/))[1]);
    const fingerprint = (await server.waitFor(/SHA-256 fingerprint ([0-9A-F:]+)/))[1];
    log(`server: generated certs/cert.pem, listening on port ${port}`);

    const bob = await chat(
      ["client", "--addr", `${HOST}:${port}`, "--ca", "certs/cert.pem", "--nick", "bob"],
      "hello from bob\n",
    );
    expectClean("client bob (--ca)", bob);
    log("client bob: trusted the server with --ca, sent a message");

    const alice = await chat(["client", "--ca", "certs/cert.pem"], "hello from alice\n", {
      CHAT_ADDR: `${HOST}:${port}`,
      CHAT_NICK: "alice",
    });
    expectClean("client alice (CHAT_ADDR, CHAT_NICK)", alice);
    if (!alice.stdout.includes("<bob> hello from bob")) {
      throw new Error(`client alice did not receive bob's message:\n${describe(alice)}`);
    }
    log("client alice: address and nickname from the environment, got bob's message");

    if (options.tty) {
      await terminalClient(options.command, { dir, env, port, fingerprint });
      log("client carol (terminal): asked about the certificate, pinned it");
      const dave = await chat(["client", "--addr", `${HOST}:${port}`, "--nick", "dave"], "hi\n");
      expectClean("client dave (pinned, no --ca)", dave);
      log("client dave: trusted the server through the pin");
    }

    const stopped = await server.stop();
    server = undefined;
    expectClean("chat server", stopped, Deno.build.os !== "windows");
    log("server: stopped cleanly");
  } finally {
    if (server) await server.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** Fails unless the run exited 0 (when `checkCode`) without a permission error. */
function expectClean(step: string, run: Run, checkCode = true): void {
  if (PERMISSION_ERROR.test(run.stdout + run.stderr)) {
    throw new Error(`${step}: permission error\n${describe(run)}`);
  }
  if (checkCode && run.code !== 0) {
    throw new Error(`${step}: exit code ${run.code}\n${describe(run)}`);
  }
}

function describe(run: Run): string {
  return `exit ${run.code}\n--- stdout\n${run.stdout}--- stderr\n${run.stderr}`;
}

interface SpawnOptions {
  cwd: string;
  env: Record<string, string>;
}

/** Runs a command to its end with `input` on stdin; kills it after STEP_TIMEOUT_MS. */
async function runChat(
  [program, ...args]: string[],
  options: SpawnOptions & { input: string },
): Promise<Run> {
  const child = new Deno.Command(program, {
    args,
    cwd: options.cwd,
    env: options.env,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), STEP_TIMEOUT_MS);
  try {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.input)).catch(() => {});
    await writer.close().catch(() => {});
    const { code, stdout, stderr } = await child.output();
    const decoder = new TextDecoder();
    return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
  } finally {
    clearTimeout(timer);
  }
}

/** `chat server` running in the background, its output collected as it comes. */
class ServerProcess {
  readonly #child: Deno.ChildProcess;
  readonly #done: Promise<void>;
  #stdout = "";
  #stderr = "";
  #exited = false;

  constructor([program, ...args]: string[], options: SpawnOptions) {
    this.#child = new Deno.Command(program, {
      args,
      cwd: options.cwd,
      env: options.env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const collect = async (stream: ReadableStream<Uint8Array>, into: "out" | "err") => {
      for await (const text of stream.pipeThrough(new TextDecoderStream())) {
        if (into === "out") this.#stdout += text;
        else this.#stderr += text;
      }
    };
    this.#done = Promise.all([
      collect(this.#child.stdout, "out"),
      collect(this.#child.stderr, "err"),
      this.#child.status.then(() => {
        this.#exited = true;
      }),
    ]).then(() => {});
  }

  /** Resolves with the first match of `pattern` on stdout; fails when the server exits first. */
  async waitFor(pattern: RegExp): Promise<RegExpMatchArray> {
    const deadline = Date.now() + STEP_TIMEOUT_MS;
    while (true) {
      const match = this.#stdout.match(pattern);
      if (match) return match;
      if (this.#exited || Date.now() > deadline) {
        throw new Error(
          `chat server: no ${pattern} on stdout\n--- stdout\n${this.#stdout}--- stderr\n${this.#stderr}`,
        );
      }
      await sleep(25);
    }
  }

  /** Stops the server (SIGTERM; on Windows, which has no SIGTERM to catch, it is killed). */
  async stop(): Promise<Run> {
    try {
      this.#child.kill("SIGTERM");
    } catch {
      // Exited already.
    }
    const timer = setTimeout(() => {
      try {
        this.#child.kill("SIGKILL");
      } catch {
        // Exited meanwhile.
      }
    }, STEP_TIMEOUT_MS);
    try {
      const { code } = await this.#child.status;
      await this.#done;
      return { code, stdout: this.#stdout, stderr: this.#stderr };
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * A client on a terminal, under tmux, without --ca: it asks whether to trust
 * the self-signed certificate, pins it on "y" (a write under XDG_CONFIG_HOME),
 * logs in, sends a line, and leaves with /quit.
 */
async function terminalClient(
  command: string[],
  { dir, env, port, fingerprint }: {
    dir: string;
    env: Record<string, string>;
    port: number;
    fingerprint: string;
  },
): Promise<void> {
  const socket = join(dir, "tmux.sock");
  const tmux = (...args: string[]) =>
    runChat(["tmux", "-S", socket, ...args], { cwd: dir, env, input: "" });
  const exports = Object.entries(env).map(([key, value]) => `${key}=${shellQuote(value)}`);
  const client = [...command, "client", "--addr", `${HOST}:${port}`, "--nick", "carol"];
  const script = `export ${exports.join(" ")}; ${client.map(shellQuote).join(" ")}; ` +
    `echo "[chat exited $?]"; sleep 600`;
  const screen = async () =>
    (await tmux("capture-pane", "-p", "-J", "-S", "-200", "-t", "chat")).stdout;
  const waitScreen = async (pattern: RegExp, step: string) => {
    const deadline = Date.now() + STEP_TIMEOUT_MS;
    while (true) {
      const text = await screen();
      if (PERMISSION_ERROR.test(text)) throw new Error(`client carol: permission error\n${text}`);
      if (pattern.test(text)) return;
      if (Date.now() > deadline || /\[chat exited \d+\]/.test(text)) {
        throw new Error(`client carol: ${step}: no ${pattern} on the terminal\n${text}`);
      }
      await sleep(50);
    }
  };
  const started = await tmux("new-session", "-d", "-s", "chat", "-x", "120", "-y", "40", script);
  if (started.code !== 0) throw new Error(`tmux new-session failed\n${describe(started)}`);
  try {
    await waitScreen(/\[y\/N\]/, "certificate prompt");
    await tmux("send-keys", "-t", "chat", "y", "Enter");
    await waitScreen(/logged in to 127\.0\.0\.1:\d+ as carol/, "login");
    await tmux("send-keys", "-t", "chat", "-l", "hello from carol");
    await tmux("send-keys", "-t", "chat", "Enter");
    await waitScreen(/<carol> hello from carol/, "message");
    await tmux("send-keys", "-t", "chat", "-l", "/quit");
    await tmux("send-keys", "-t", "chat", "Enter");
    await waitScreen(/\[chat exited 0\]/, "/quit");
  } finally {
    await tmux("kill-server");
  }
  const pins = await Deno.readTextFile(join(env.XDG_CONFIG_HOME, "chat", "known_hosts"));
  if (!pins.includes(`${HOST}:${port} ${fingerprint}`)) {
    throw new Error(`client carol: the pin is not in known_hosts:\n${pins}`);
  }
}

function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

if (import.meta.main) {
  const print = (stream: { writeSync(p: Uint8Array): number }, text: string) =>
    stream.writeSync(new TextEncoder().encode(text + "\n"));
  const tty = !Deno.args.includes("--no-tty");
  const rest = Deno.args.filter((arg) => arg !== "--no-tty");
  if (rest.length !== 1) {
    print(Deno.stderr, "usage: session.ts [--no-tty] CHAT_EXECUTABLE");
    Deno.exit(2);
  }
  try {
    await runSession({
      command: [resolve(rest[0])],
      tty,
      log: (line) => print(Deno.stdout, line),
    });
    print(Deno.stdout, `session ok: ${rest[0]}`);
  } catch (error) {
    print(Deno.stderr, errorMessage(error));
    Deno.exit(1);
  }
}
