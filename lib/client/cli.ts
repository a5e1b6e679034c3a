// `chat client`: the command line, the environment defaults, and the wiring
// of session, screen and input for the three ways the client runs:
//
// - terminal: stdin and stdout are terminals; readline input, prompts for
//   what is missing, colours, status in the prompt.
// - pipe: each stdin line is one message (or a command, as typed on a
//   terminal: commands.ts); plain display lines on stdout, notices on
//   stderr; end of input sends what is pending, waits for the server to
//   confirm it, and leaves: exit 0 when everything got there, 1 with the
//   lines that did not on stderr.
// - json (`--json`): like pipe, but every received frame is printed as one
//   JSON line, for bots and scripts.
//
// What is shown is view.ts's; what typed lines do is commands.ts's.

import { join } from "node:path";
import { type Address, parseAddress } from "../address.ts";
import { caFlag } from "../ca_file.ts";
import { type CliContext, parseFlags } from "../cli.ts";
import { errorMessage, FatalError, UsageError } from "../errors.ts";
import { checkNickname } from "../nickname.ts";
import { preview, sanitize } from "../terminal_text.ts";
import { TrustPolicy } from "../trust_policy.ts";
import { type CommandHost, commandsFor, runTyped } from "./commands.ts";
import { complete } from "./completion.ts";
import { chatConfigDir } from "./config_dir.ts";
import { dialLink } from "./connect.ts";
import { FINISH_DRAIN_MS, FINISH_WAIT_MS } from "./delivery.ts";
import { readInputLines } from "./input.ts";
import { identityFromFlags } from "./identity.ts";
import { KnownHosts } from "./known_hosts.ts";
import { SEND_BURST, SEND_RATE_PER_SECOND } from "./pacer.ts";
import { Transcript } from "./render.ts";
import { Session, type SessionStatus } from "./session.ts";
import { TerminalUi } from "./terminal.ts";
import { commandProblem, View } from "./view.ts";

/** The address offered when none is given on a terminal. */
export const DEFAULT_ADDRESS = "localhost:1337";

const USAGE =
  `Usage: chat client [--addr HOST[:PORT]] [--nick NAME] [--ca FILE] [--insecure] [--json]
                   [--identity FILE | --no-identity]

Connects to a chat server over TLS and chats. On a terminal, what is
missing is asked for; without one, each line of standard input is one
message (or a command such as /msg NICK TEXT or /ban NICK, as on a terminal;
//text sends /text), and at end of input the client sends what is left, waits until a
server that acks messages has confirmed every line (giving up after ${FINISH_WAIT_MS / 1000} s
without progress; a server that never acks gets ${FINISH_DRAIN_MS / 1000} s), and leaves: exit
status 0 when all got there (and every command was done), 1, listing on
stderr those not delivered or not confirmed (and the commands refused),
otherwise. Kicked or banned by an operator, or refused as banned or not
invited, the client says so and exits 1 without reconnecting. Messages go
out at most ${SEND_RATE_PER_SECOND} a second (bursts of ${SEND_BURST}), under the server's rate limit.

Options:
  --addr HOST[:PORT]  server address (default port 1337; IPv6 as [::1]:1337)
                      default: $CHAT_ADDR; on a terminal asked, offering ${DEFAULT_ADDRESS}
  --nick NAME         nickname (default: $CHAT_NICK; on a terminal asked)
  --ca FILE           also trust this PEM certificate (a self-signed server
                      certificate or its CA), besides the system's roots; a
                      server presenting one of its certificates byte for byte
                      is trusted whatever name or address you dial (pinned)
  --insecure          do not verify the server's certificate at all
  --json              print every received frame as one JSON line
  --identity FILE     present this identity (key and certificate, PEM; made
                      if it does not exist) instead of the usual one
  --no-identity       present no identity
  -h, --help          show this help

Trusted certificates the user accepted are pinned in
$XDG_CONFIG_HOME/chat/known_hosts (or ~/.config/chat/known_hosts).
Your identity, presented to every server that asks (\`chat identity\`
prints its fingerprint), is made on first use in identity.pem there.
Colours are off with NO_COLOR or when standard output is not a terminal.
`;

const FLAGS = {
  addr: { type: "string" },
  nick: { type: "string" },
  ca: { type: "string" },
  insecure: { type: "boolean" },
  json: { type: "boolean" },
  identity: { type: "string" },
  "no-identity": { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** Test seams; the command line never sets them. */
export interface ClientCliOptions {
  /** A blank line goes out after this long without sending. @default HEARTBEAT_MS (heartbeat.ts) */
  heartbeatMs?: number;
}

/**
 * Runs `chat client` with `args` (after the subcommand). Resolves with the
 * exit code: 0 after /quit, Ctrl-C/Ctrl-D, or (without a terminal) when
 * every message got to the server; 1 on a fatal problem or when, without a
 * terminal, messages were not delivered; throws {@linkcode UsageError} for a
 * wrong command line (exit 2).
 */
export async function runClient(
  args: string[],
  context: CliContext,
  options: ClientCliOptions = {},
): Promise<number> {
  const { values } = parseFlags(args, FLAGS);
  if (values.help) {
    context.stdout(USAGE);
    return 0;
  }
  const json = values.json === true;
  const stdoutTty = context.isTerminal?.stdout ?? false;
  const interactive = !json && stdoutTty && (context.isTerminal?.stdin ?? false) &&
    context.terminal !== undefined;
  const color = stdoutTty && !json && !context.env("NO_COLOR");

  const addrText = stringFlag(values.addr) ?? nonEmpty(context.env("CHAT_ADDR"));
  const nickText = stringFlag(values.nick) ?? nonEmpty(context.env("CHAT_NICK"));
  let address: Address | undefined;
  if (addrText !== undefined) {
    const parsed = parseAddress(addrText);
    if (!parsed.ok) throw new UsageError(`--addr: ${parsed.reason}`);
    address = parsed.address;
  }
  let nickname: string | undefined;
  let nickProblem: string | undefined;
  if (nickText !== undefined) {
    const checked = checkNickname(nickText);
    if (checked.ok) nickname = checked.nickname;
    else if (!interactive) throw new UsageError(`--nick: ${checked.reason}`);
    else nickProblem = checked.reason;
  }
  if (!interactive) {
    if (!address) {
      throw new UsageError("no server address: pass --addr HOST[:PORT] or set CHAT_ADDR");
    }
    if (!nickname) throw new UsageError("no nickname: pass --nick NAME or set CHAT_NICK");
  }

  const roots = await caFlag(stringFlag(values.ca));
  if (!roots.ok) {
    context.stderr(`chat: ${roots.reason}\n`);
    return 1;
  }
  const configDir = chatConfigDir(context.env);
  const knownHosts = configDir ? new KnownHosts(join(configDir, "known_hosts")) : undefined;
  const identity = await identityFromFlags(
    { file: stringFlag(values.identity), none: values["no-identity"] === true },
    configDir,
    new Date(),
  );

  const ui = interactive ? new TerminalUi(context.terminal!()) : undefined;
  const transcript = new Transcript({ color });
  let session: Session | undefined;
  const view = new View({
    ui,
    json,
    transcript,
    stdout: context.stdout,
    stderr: context.stderr,
    nickname: () => session!.nickname,
    status: (status) => ui?.setPrompt(promptFor(status, Date.now())),
  });
  const quit = new AbortController();
  const onSignal = () => quit.abort();
  context.signal.addEventListener("abort", onSignal);
  quit.signal.addEventListener("abort", () => {
    if (session) session.quit();
    else ui?.close(); // Still at a prompt: it answers undefined, and we leave.
  });
  try {
    if (ui) {
      ui.setHandlers({ line: () => {}, quit: () => quit.abort() });
      ui.start();
      address ??= await askAddress(ui, transcript);
      if (nickProblem) ui.print(transcript.notice(`nickname: ${nickProblem}`));
      nickname ??= address && await askNickname(ui, transcript, "Nickname: ");
      if (!address || !nickname) return 0;
    }
    const target = address!;
    const notify = (text: string) => view.notify(text);
    const trust = new TrustPolicy({
      host: target.label,
      insecure: values.insecure === true,
      knownHosts,
      pinned: roots.pinned,
      notify,
      ask: ui && (async (question) => /^\s*y(es)?\s*$/i.test((await ask(ui, question)) ?? "")),
    });
    /** Commands of §12–§13 refused or never answered: listed at the end of a pipe. */
    const failedCommands: string[] = [];
    session = new Session({
      nickname: nickname!,
      label: target.label,
      interactive,
      events: {
        ...view.events,
        answer(command, line, outcome, frame) {
          view.events.answer(command, line, outcome, frame);
          const problem = commandProblem(outcome);
          if (problem !== undefined) failedCommands.push(`${line.trim()}: ${problem}`);
        },
      },
      heartbeatMs: options.heartbeatMs,
      dial: (sink) =>
        dialLink(
          {
            host: target.host,
            port: target.port,
            ca: roots.ca,
            verify: (peer) => trust.check(peer),
            cert: identity?.identity.certPem,
            key: identity?.identity.keyPem,
          },
          sink,
        ),
      chooseNickname: ui &&
        ((reason) => askNickname(ui, transcript, `Another nickname (${reason}): `)),
    });
    const live = session;
    if (quit.signal.aborted) return 0;

    // The countdown in the prompt while waiting to reconnect.
    const ticker = ui && setInterval(() => {
      if (live.status.phase === "waiting") ui.setPrompt(promptFor(live.status, Date.now()));
    }, 1000);
    const stopInput = new AbortController();
    /** Piped lines the client did not send (refused commands): listed at the end. */
    const notSent: string[] = [];
    const host: CommandHost = {
      session: live,
      notify,
      notSent: (line) => notSent.push(line),
      // A pipe's /quit ends its input: what was read goes out, the rest is not read.
      quit: () => ui ? quit.abort() : stopInput.abort(),
      sayQueued: ui !== undefined,
    };
    try {
      if (ui) {
        ui.setHandlers({
          line: (text) => runTyped(text, host),
          quit: () => quit.abort(),
          complete: (line) =>
            complete(
              line,
              live.here.names,
              commandsFor(live.here.known ? live.here.features : undefined),
            ),
        });
      } else if (context.stdin) {
        const input = context.stdin();
        readInputLines(input, {
          // A full queue makes reading wait rather than drop lines.
          line: (text) => live.room().then(() => runTyped(text, host)),
          skipped: notify,
        }, stopInput.signal).then(() => live.finish(), (error) => {
          notify(`cannot read standard input: ${errorMessage(error)}`);
          live.finish();
        });
      } else {
        live.finish();
      }
      await live.run();
      view.close();
      if (interactive) return 0;
      const report = linesNotSent(notSent) + commandsNotDone(failedCommands) +
        listed("not delivered", live.delivery.undelivered) +
        listed(
          "not confirmed (written, but the server, which acks messages, never acked these: " +
            "they may not have been stored)",
          live.delivery.notConfirmed,
        ) + unnamed(live.delivery.unnamedRefusals);
      context.stderr(report);
      return report === "" ? 0 : 1;
    } finally {
      stopInput.abort();
      if (ticker !== undefined) clearInterval(ticker);
    }
  } catch (error) {
    if (error instanceof FatalError) {
      ui?.close();
      context.stderr(`chat: ${error.message.split("\n").map(sanitize).join("\n")}\n`);
      return 1;
    }
    throw error;
  } finally {
    view.close();
    context.signal.removeEventListener("abort", onSignal);
    ui?.close();
  }
}

/** The prompt carries the status: `[reconnecting in 4 s] bob> `. */
export function promptFor(status: SessionStatus, now: number): string {
  const parts: string[] = [];
  switch (status.phase) {
    case "connecting":
      parts.push("connecting…");
      break;
    case "logging-in":
      parts.push("logging in…");
      break;
    case "waiting": {
      const seconds = Math.max(0, Math.ceil(((status.retryAt ?? now) - now) / 1000));
      parts.push(`reconnecting in ${seconds} s`);
      break;
    }
    case "closed":
      parts.push("offline");
      break;
  }
  if (status.queued > 0) parts.push(`${status.queued} queued`);
  if (status.unconfirmed > 0) parts.push(`${status.unconfirmed} unconfirmed`);
  const state = parts.length > 0 ? `[${parts.join(", ")}] ` : "";
  return `${state}${sanitize(status.nickname)}> `;
}

async function askAddress(ui: TerminalUi, transcript: Transcript): Promise<Address | undefined> {
  while (true) {
    const answer = await ask(ui, `Server address [${DEFAULT_ADDRESS}]: `);
    if (answer === undefined) return undefined;
    const parsed = parseAddress(answer.trim() === "" ? DEFAULT_ADDRESS : answer);
    if (parsed.ok) return parsed.address;
    ui.print(transcript.notice(`address: ${parsed.reason}`));
  }
}

async function askNickname(
  ui: TerminalUi,
  transcript: Transcript,
  question: string,
): Promise<string | undefined> {
  while (true) {
    const answer = await ask(ui, question);
    if (answer === undefined) return undefined;
    const checked = checkNickname(answer.trim());
    if (checked.ok) return checked.nickname;
    ui.print(transcript.notice(`nickname: ${checked.reason}`));
  }
}

/** Asks on the terminal; the question may quote the server (a reason, a certificate subject). */
function ask(ui: TerminalUi, question: string): Promise<string | undefined> {
  return ui.ask(question.split("\n").map(sanitize).join("\n"));
}

/** `chat: N message(s) WHAT:` and the messages, one per line; nothing for none. */
function listed(what: string, texts: string[]): string {
  if (texts.length === 0) return "";
  return `chat: ${texts.length} message(s) ${what}:\n` +
    texts.map((text) => `chat:   ${sanitize(text)}\n`).join("");
}

/** `chat: N line(s) not sent:` and the lines (refused commands); nothing for none. */
function linesNotSent(lines: string[]): string {
  if (lines.length === 0) return "";
  return `chat: ${lines.length} line(s) not sent:\n` +
    lines.map((line) => `chat:   ${sanitize(line)}\n`).join("");
}

/** `chat: N command(s) not done:` and each with why (refused, unanswered); nothing for none. */
function commandsNotDone(lines: string[]): string {
  if (lines.length === 0) return "";
  return `chat: ${lines.length} command(s) not done:\n` +
    lines.map((line) => `chat:   ${sanitize(line)}\n`).join("");
}

/** The refusals that named no message (a core server's), as one line; nothing for none. */
function unnamed(refusals: { count: number; reason: string }): string {
  if (refusals.count === 0) return "";
  return `chat: the server refused ${refusals.count} time(s) without naming the message ` +
    `(${sanitize(preview(refusals.reason))}): some messages may not have been stored\n`;
}

function stringFlag(value: string | boolean | undefined): string | undefined {
  return typeof value === "string" ? value : undefined;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}
