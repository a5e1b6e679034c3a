// The one entrypoint: `chat server …`, `chat client …`, `chat bench …`,
// `chat check …`, `chat identity`, `chat --help`, `chat --version`. It
// parses the subcommand, lazy-loads its module and hands it the process's
// world (environment, output, a stop signal). This is the only file that touches Deno.args,
// Deno.env and Deno.exit, and the one place where an error becomes an exit
// code.

//
// Nothing but this file, deno.json and lib/errors.ts loads before the
// subcommand is known: `chat --version` never loads the X.509 library, TLS
// or node:util.

import config from "./deno.json" with { type: "json" };
import type { CliContext } from "./lib/cli.ts";
import { errorMessage, EXIT_FAILURE, EXIT_USAGE, FatalError, UsageError } from "./lib/errors.ts";

const USAGE = `chat ${config.version}: a TLS chat server and terminal client

Usage:
  chat server [--host 0.0.0.0] [--port 1337] [--cert FILE --key FILE] [options]
  chat client [--addr HOST[:PORT]] [--nick NAME] [--ca FILE] [--insecure] [--json]
  chat bench [--addr HOST[:PORT][,HOST[:PORT]...]] [--clients N] [--senders S] [--messages M]
             [--size B] [--rate R] [--raw] [--ca FILE | --insecure] [--workers K] [--json]
  chat check HOST[:PORT] [--ca FILE | --insecure] [--timeout SECONDS] [--json]
  chat identity [--identity FILE]
  chat --help | --version

Run "chat SUBCOMMAND --help" (server, client, bench, check, identity) for every option.
`;

const encoder = new TextEncoder();

function write(stream: { writeSync(p: Uint8Array): number }, text: string): void {
  const bytes = encoder.encode(text);
  let offset = 0;
  while (offset < bytes.length) offset += stream.writeSync(bytes.subarray(offset));
}

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // Not permitted: treat as unset.
  }
}

/** Aborts `stop` on SIGINT and SIGTERM (Windows has no SIGTERM: SIGINT and SIGBREAK there). */
function stopOnSignals(stop: AbortController): void {
  const signals: Deno.Signal[] = Deno.build.os === "windows"
    ? ["SIGINT", "SIGBREAK"]
    : ["SIGINT", "SIGTERM"];
  for (const signal of signals) Deno.addSignalListener(signal, () => stop.abort(signal));
}

async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  const stop = new AbortController();
  const context: CliContext = {
    env,
    stdout: (text) => write(Deno.stdout, text),
    stderr: (text) => write(Deno.stderr, text),
    signal: stop.signal,
  };
  switch (command) {
    case "server": {
      const { runServer } = await import("./lib/server/cli.ts");
      stopOnSignals(stop);
      // SIGHUP re-reads the --ops and --invited files (Windows has no SIGHUP).
      if (Deno.build.os !== "windows") {
        context.onReload = (listener) => Deno.addSignalListener("SIGHUP", listener);
      }
      return await runServer(rest, context);
    }
    case "client": {
      const [{ runClient }, { default: process }] = await Promise.all([
        import("./lib/client/cli.ts"),
        import("node:process"),
      ]);
      // In raw terminal mode Ctrl-C is a key, not a signal; these cover pipes and kill.
      stopOnSignals(stop);
      context.isTerminal = { stdin: Deno.stdin.isTerminal(), stdout: Deno.stdout.isTerminal() };
      context.stdin = () => Deno.stdin.readable;
      context.terminal = () => ({ input: process.stdin, output: process.stdout });
      return await runClient(rest, context);
    }
    case "bench": {
      const { runBench } = await import("./lib/bench/cli.ts");
      // Ctrl-C stops the run; what was measured so far is reported.
      stopOnSignals(stop);
      context.isTerminal = { stdin: Deno.stdin.isTerminal(), stdout: Deno.stdout.isTerminal() };
      return await runBench(rest, context);
    }
    case "check": {
      const { runCheck } = await import("./lib/check/cli.ts");
      // Ctrl-C ends the current wait; the probe closes its connections and stops.
      stopOnSignals(stop);
      context.isTerminal = { stdin: Deno.stdin.isTerminal(), stdout: Deno.stdout.isTerminal() };
      return await runCheck(rest, context);
    }
    case "identity": {
      const { runIdentity } = await import("./lib/client/identity_cli.ts");
      return await runIdentity(rest, context);
    }
    case "-h":
    case "--help":
    case "help":
      context.stdout(USAGE);
      return 0;
    case "-V":
    case "--version":
    case "version":
      context.stdout(`chat ${config.version}\n`);
      return 0;
    case undefined:
      context.stderr(USAGE);
      return EXIT_USAGE;
    default:
      context.stderr(`chat: unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
      return EXIT_USAGE;
  }
}

if (import.meta.main) {
  let code: number;
  try {
    code = await main(Deno.args);
  } catch (error) {
    if (error instanceof UsageError) {
      write(Deno.stderr, `chat: ${error.message}\n\n${USAGE}`);
      code = EXIT_USAGE;
    } else if (error instanceof FatalError) {
      write(Deno.stderr, `chat: ${error.message}\n`);
      code = EXIT_FAILURE;
    } else {
      // A bug: the stack is what a report needs.
      const detail = (error instanceof Error && error.stack) || errorMessage(error);
      write(Deno.stderr, `chat: unexpected error: ${detail}\n`);
      code = EXIT_FAILURE;
    }
  }
  Deno.exit(code);
}
