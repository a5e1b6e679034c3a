// `chat check`: the command line of the conformance probe. It reads the
// flags and the `--ca` file, sets up trust the way the client does, runs the
// checks (lib/check/checks.ts) and prints each result as it comes, then the
// summary. Exit 0 only when every core check passed; 1 otherwise; 2 for a
// wrong command line.

import { type CliContext, parseFlags } from "../cli.ts";
import { UsageError } from "../errors.ts";
import { parseAddress } from "../address.ts";
import { caFlag } from "../ca_file.ts";
import { sanitize } from "../terminal_text.ts";
import { TrustPolicy } from "../trust_policy.ts";
import { CHECKS } from "./checks.ts";
import { seconds } from "./conn.ts";
import { DEFAULT_QUIET_MS, DEFAULT_TIMEOUT_MS, randomRunId, runChecks } from "./probe.ts";
import {
  exitCode,
  formatResult,
  formatResultJson,
  formatSummary,
  formatSummaryJson,
  tally,
} from "./report.ts";

/** The longest `--timeout` accepted, in seconds. */
export const MAX_TIMEOUT_SECONDS = 600;

const USAGE = `Usage: chat check HOST[:PORT] [--ca FILE | --insecure] [--timeout SECONDS] [--json]

Checks that the chat server at HOST[:PORT] (default port 1337) follows
PROTOCOL.md: login, duplicate and invalid nicknames, retry after a refusal,
relay to others only, the server's time, spoofed "from", nothing before
login, history replay (own messages included), bad frames, an oversize
line, split frames, \\r\\n and blank lines. One line per check, PASS or FAIL
with the reason, then a summary. Exit 0 only when every core check passes.

Extensions (message ids, seq, since; features, presence, direct messages,
register, and ops commands refused to a non-operator: §8–§13) are reported
as well, but only for information: PASS when offered, SKIP when not, WARN
when offered but wrong; they never change the exit code, so a core-only
server passes.

It logs in with its own nicknames (check-RUN-N, RUN random per run), leaves
the server as it found it apart from about 30 short messages it stores
(each says "chat check RUN"), and sends a handful of frames per connection.

Options:
  --ca FILE            also trust this PEM certificate (a self-signed server
                       certificate or its CA), besides the system's roots
  --insecure           do not verify the server's certificate at all
  --timeout SECONDS    longest wait for any one answer (default ${DEFAULT_TIMEOUT_MS / 1000})
  --json               one JSON line per check, then a summary line
  -h, --help           show this help

Colours are off with NO_COLOR or when standard output is not a terminal.
`;

const FLAGS = {
  ca: { type: "string" },
  insecure: { type: "boolean" },
  timeout: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** Test seams: the run id and the quiet window; the command line never sets them. */
export interface CheckCliOptions {
  runId?: string;
  quietMs?: number;
}

/**
 * Runs `chat check` with `args` (after the subcommand) and resolves with
 * the exit code; throws {@linkcode UsageError} for a wrong command line.
 */
export async function runCheck(
  args: string[],
  context: CliContext,
  options: CheckCliOptions = {},
): Promise<number> {
  const { values, positionals } = parseFlags(args, FLAGS, true);
  if (values.help) {
    context.stdout(USAGE);
    return 0;
  }
  if (positionals.length !== 1) {
    throw new UsageError(
      positionals.length === 0
        ? "check: which server? Give HOST[:PORT]"
        : "check: one server at a time",
    );
  }
  const parsed = parseAddress(positionals[0]);
  if (!parsed.ok) throw new UsageError(`check: ${parsed.reason}`);
  const target = parsed.address;
  const insecure = values.insecure === true;
  if (insecure && typeof values.ca === "string") {
    throw new UsageError("check: --ca and --insecure do not go together");
  }
  const timeoutMs = timeoutFlag(values.timeout);
  const json = values.json === true;
  const color = !json && (context.isTerminal?.stdout ?? false) && !context.env("NO_COLOR");

  const roots = await caFlag(typeof values.ca === "string" ? values.ca : undefined);
  if (!roots.ok) {
    context.stderr(`chat: ${roots.reason}\n`);
    return 1;
  }
  const trust = new TrustPolicy({
    host: target.label,
    insecure,
    pinned: roots.pinned,
    notify: (text) => context.stderr(`chat check: ${sanitize(text)}\n`),
  });

  const runId = options.runId ?? randomRunId();
  if (!json) {
    context.stdout(
      `chat check ${target.label}: run ${runId} (nicknames check-${runId}-N), ` +
        `timeout ${seconds(timeoutMs)}\n`,
    );
  }
  const results = await runChecks([...CHECKS], {
    host: target.host,
    port: target.port,
    ca: roots.ca,
    verify: (peer) => trust.check(peer),
    timeoutMs,
    quietMs: options.quietMs ?? DEFAULT_QUIET_MS,
    runId,
    signal: context.signal,
    onResult: (result) =>
      context.stdout(json ? formatResultJson(result) : formatResult(result, color)),
  });
  if (context.signal.aborted) context.stderr("chat check: interrupted\n");
  const counts = tally(results, CHECKS.filter((c) => c.kind === "core").length);
  context.stdout(json ? formatSummaryJson(counts) : formatSummary(counts, color));
  return exitCode(counts);
}

function timeoutFlag(raw: string | boolean | undefined): number {
  if (raw === undefined) return DEFAULT_TIMEOUT_MS;
  const text = String(raw).trim();
  const value = /^\d+(\.\d+)?$/.test(text) ? Number(text) : NaN;
  if (!(value > 0 && value <= MAX_TIMEOUT_SECONDS)) {
    throw new UsageError(
      `--timeout must be a number of seconds above 0 and at most ${MAX_TIMEOUT_SECONDS}, got ${
        JSON.stringify(text)
      }`,
    );
  }
  return Math.round(value * 1000);
}
