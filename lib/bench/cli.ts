// `chat bench`: reads the flags, picks the TLS client, runs the load
// (lib/bench/load.ts) against any server of the protocol, or a line-broadcast
// server with --raw, and reports: a live progress line on a terminal, then
// one result line (or one JSON object with --json). The exit code says
// whether every message arrived exactly once.

import { type CliContext, intFlag, parseFlags } from "../cli.ts";
import { errorLine, UsageError } from "../errors.ts";
import { type Address, parseAddress } from "../address.ts";
import { readCaFile } from "../ca_file.ts";
import { chooseDialers, type Trust } from "./dial.ts";
import { MAX_WORKERS, type Phase, runLoad } from "./load.ts";
import { type LoadOptions, microseconds } from "./run_shape.ts";
import { minimumSize } from "./payload.ts";
import { ProgressLine } from "./progress.ts";
import { formatResult, type RunSetting, succeeded, toReport } from "./result.ts";

/** The address used without --addr. */
export const DEFAULT_BENCH_ADDRESS = "localhost:1337";
/** The largest message `--size` accepts (servers' own caps are usually lower: ours is 16 KiB). */
export const MAX_SIZE = 64 * 1024;

export const BENCH_USAGE = `Usage: chat bench [--addr HOST[:PORT][,HOST[:PORT]...]] [--clients N]
                  [--senders S] [--messages M] [--size B] [--rate R] [--raw]
                  [--ca FILE | --insecure] [--workers K] [--json] [options]

A load generator for any server of the chat protocol. Logs in N clients with
nicknames unique to the run, waits until each has drained any replay, then S
of them send M messages of B bytes each, as fast as possible or at R messages/s
per sender. Every client counts what it receives; the result gives
deliveries/s, latency percentiles, and messages lost, duplicated and out of
order. Exit status 1 when anything was lost or duplicated, a client was
disconnected or refused, or the run stopped making progress.

Options:
  --addr HOST[:PORT]   server address (default ${DEFAULT_BENCH_ADDRESS}); several, comma-separated,
                       spread the clients round-robin over servers that share one chat
  --clients N          clients logged in (default 10, at least 2)
  --senders S          how many of them send (default 1; 0 only logs in)
  --messages M         messages per sender (default 1000)
  --size B             bytes of each message's text (default 100)
  --rate R             messages per second per sender (default: as fast as possible)
  --raw                for line-broadcast servers without login (ncat --chat):
                       no login, one message per write, the marker anywhere in a line
  --ca FILE            trust this PEM certificate (instead of the system's roots)
  --insecure           do not verify the server's certificate
  --workers K          spread the clients over K threads (Workers; client i in
                       Worker i mod K), so the generator's reading keeps up with
                       the server (default 1: every client in one thread)
  --json               print the result as one JSON object
  --timeout SECONDS    fail when nothing happens for this long (default 10)
  --hold SECONDS       keep the clients connected this long after the run (default 0)
  -h, --help           show this help
`;

const FLAGS = {
  addr: { type: "string" },
  clients: { type: "string" },
  senders: { type: "string" },
  messages: { type: "string" },
  size: { type: "string" },
  rate: { type: "string" },
  raw: { type: "boolean" },
  ca: { type: "string" },
  insecure: { type: "boolean" },
  json: { type: "boolean" },
  workers: { type: "string" },
  timeout: { type: "string" },
  hold: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** `chat bench` as its flags describe it. */
export interface BenchConfig {
  /** Client i dials addresses[i mod n]. */
  addresses: Address[];
  /** The addresses as the result names them: `host:port`, comma-separated. */
  label: string;
  caFile?: string;
  insecure: boolean;
  json: boolean;
  load: LoadOptions;
}

/** Reads `chat bench` flags; a wrong one is a {@linkcode UsageError}. */
export function parseBenchArgs(args: string[]): BenchConfig | "help" {
  const { values } = parseFlags(args, FLAGS);
  if (values.help) return "help";
  const addresses = parseAddresses((values.addr as string | undefined) ?? DEFAULT_BENCH_ADDRESS);
  const caFile = values.ca as string | undefined;
  const insecure = values.insecure === true;
  if (caFile !== undefined && insecure) {
    throw new UsageError("--ca and --insecure exclude each other: trust one certificate, or none");
  }
  const clients = intFlag(values, "clients", 10, 2, 1_000_000);
  const senders = intFlag(values, "senders", 1, 0, clients);
  const messages = intFlag(values, "messages", 1000, 1);
  const smallest = minimumSize(senders, messages);
  const size = intFlag(values, "size", Math.max(100, smallest), 1, MAX_SIZE);
  if (size < smallest) {
    throw new UsageError(
      `--size must be at least ${smallest} bytes here: every message carries the run's marker, the sender, its sequence number and its send time`,
    );
  }
  const rate = values.rate === undefined ? undefined : intFlag(values, "rate", 0, 1, 1_000_000);
  return {
    addresses,
    label: addresses.map((address) => address.label).join(","),
    caFile,
    insecure,
    json: values.json === true,
    load: {
      clients,
      senders,
      messages,
      size,
      rate,
      raw: values.raw === true,
      idleTimeoutMs: intFlag(values, "timeout", 10, 1, 86_400) * 1000,
      holdMs: intFlag(values, "hold", 0, 0, 86_400) * 1000,
      workers: intFlag(values, "workers", 1, 1, Math.min(MAX_WORKERS, clients)),
    },
  };
}

/**
 * The addresses of `--addr`: one `HOST[:PORT]`, or several separated by
 * commas (servers sharing one chat, such as `chat server --redis`).
 *
 * @example
 * ```ts
 * parseAddresses("127.0.0.1:7001,127.0.0.1:7002").map((a) => a.port); // [7001, 7002]
 * ```
 */
export function parseAddresses(text: string): Address[] {
  const addresses: Address[] = [];
  for (const part of text.split(",")) {
    const parsed = parseAddress(part);
    if (!parsed.ok) {
      throw new UsageError(
        `--addr: ${parsed.reason}${text.includes(",") ? ` (in ${JSON.stringify(text)})` : ""}`,
      );
    }
    addresses.push(parsed.address);
  }
  return addresses;
}

/** Runs `chat bench`. Returns the exit code. */
export async function runBench(args: string[], context: CliContext): Promise<number> {
  const config = parseBenchArgs(args);
  if (config === "help") {
    context.stdout(BENCH_USAGE);
    return 0;
  }
  const trust = await readTrust(config);
  if (typeof trust === "string") {
    context.stderr(`chat bench: ${trust}\n`);
    return 1;
  }
  let chosen;
  try {
    chosen = await chooseDialers(config.addresses, trust);
  } catch (error) {
    const reason = errorLine(error);
    context.stderr(`chat bench: cannot connect to ${config.label}: ${reason}\n`);
    return 1;
  }
  if (chosen.note !== undefined) {
    context.stderr(`chat bench: using ${chosen.client} (${chosen.note})\n`);
  }

  const line = context.isTerminal?.stdout && !config.json
    ? new ProgressLine(context.stdout)
    : undefined;
  let phase: Phase | undefined;
  const result = await runLoad(config.load, {
    dial: chosen.dial,
    dialSpec: chosen.spec,
    clock: microseconds,
    signal: context.signal,
    onProgress: (progress) => {
      line?.show(progress);
      if (progress.phase === "holding" && phase !== "holding") {
        // On stderr even without a terminal: a harness waits for this line to measure the server.
        if (line === undefined) {
          context.stderr(
            `holding ${progress.loggedIn} clients for ${config.load.holdMs / 1000} s\n`,
          );
        }
      }
      phase = progress.phase;
    },
  });
  line?.clear();

  const setting: RunSetting = {
    addr: config.label,
    raw: config.load.raw,
    tls: chosen.client,
    clients: config.load.clients,
    senders: config.load.senders,
    messages: config.load.messages,
    size: config.load.size,
    rate: config.load.rate,
  };
  if (config.json) context.stdout(JSON.stringify(toReport(setting, result)) + "\n");
  else context.stdout(formatResult(setting, result) + "\n");
  if (result.failure !== undefined) context.stderr(`chat bench: ${result.failure}\n`);
  return succeeded(result) ? 0 : 1;
}

/** The trust `--ca`/`--insecure` ask for, or the sentence saying why the file is unusable. */
async function readTrust(config: BenchConfig): Promise<Trust | string> {
  if (config.insecure) return { kind: "insecure" };
  const path = config.caFile;
  if (path === undefined) return { kind: "system" };
  const read = await readCaFile(path);
  if (!read.ok) return read.reason;
  return { kind: "ca", pem: read.pem };
}
