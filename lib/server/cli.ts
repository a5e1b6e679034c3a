// `chat server`: reads the flags, finds or makes the TLS identity, binds,
// prints where it listens and how to connect, and serves until stopped.
//
// Every way startup can fail (a bad flag, an unreadable or mismatched
// certificate, a port in use, no permission) ends as one sentence and a
// non-zero exit, never a stack trace.

import { type CliContext, intFlag, parseFlags, UsageError } from "../cli.ts";
import {
  ensureGeneratedIdentity,
  loadIdentity,
  reason,
  StartupError,
  type TlsIdentity,
} from "./cert.ts";
import { createLogger, LOG_FORMATS, type LogFormat } from "./log.ts";
import { DEFAULT_LIMITS, formatAddr, serve, type ServerLimits } from "./server.ts";
import { MemoryStore } from "./store.ts";

/** Where the generated development certificate lives, relative to the working directory. */
export const DEFAULT_CERT_DIR = "certs";

export const SERVER_USAGE = `Usage: chat server [options]

Serves the chat protocol over TLS. Without --cert/--key it generates a
self-signed certificate once, in ${DEFAULT_CERT_DIR}/, and reuses it.

Options:
  --host HOST               address to bind (default 0.0.0.0)
  --port N                  TCP port, 0 for any free one (default 1337)
  --cert FILE               PEM certificate (chain) to serve; needs --key
  --key FILE                PEM private key of --cert
  --login-timeout SECONDS   time from accept to login, handshake included (default 30)
  --max-line-bytes N        longest frame accepted (default ${DEFAULT_LIMITS.maxLineBytes})
  --max-message-bytes N     longest message text in UTF-8 bytes (default ${DEFAULT_LIMITS.maxMessageBytes})
  --send-queue-bytes N      bytes a slow reader may fall behind before it is cut off (default ${DEFAULT_LIMITS.sendQueueBytes})
  --max-clients N           open connections beyond this are closed at once (default ${DEFAULT_LIMITS.maxClients})
  --log-format text|json    log lines on stderr for people or machines (default text)
  -h, --help                show this help
`;

const FLAGS = {
  host: { type: "string" },
  port: { type: "string" },
  cert: { type: "string" },
  key: { type: "string" },
  "login-timeout": { type: "string" },
  "max-line-bytes": { type: "string" },
  "max-message-bytes": { type: "string" },
  "send-queue-bytes": { type: "string" },
  "max-clients": { type: "string" },
  "log-format": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** The server's configuration, as read from its flags. */
export interface ServerConfig {
  host: string;
  port: number;
  cert?: string;
  key?: string;
  logFormat: LogFormat;
  limits: ServerLimits;
}

/** Reads `chat server` flags; a wrong one is a {@linkcode UsageError}. */
export function parseServerArgs(args: string[]): ServerConfig | "help" {
  const { values } = parseFlags(args, FLAGS);
  if (values.help) return "help";
  const cert = values.cert as string | undefined;
  const key = values.key as string | undefined;
  if ((cert === undefined) !== (key === undefined)) {
    throw new UsageError(
      "--cert and --key go together: give both, or neither for a generated certificate",
    );
  }
  const logFormat = (values["log-format"] ?? "text") as string;
  if (!(LOG_FORMATS as readonly string[]).includes(logFormat)) {
    throw new UsageError(`--log-format must be text or json, got ${JSON.stringify(logFormat)}`);
  }
  const host = (values.host as string | undefined) ?? "0.0.0.0";
  if (host.trim() === "") throw new UsageError("--host must not be empty");
  const maxLineBytes = intFlag(values, "max-line-bytes", DEFAULT_LIMITS.maxLineBytes, 256);
  const limits: ServerLimits = {
    loginTimeoutMs:
      intFlag(values, "login-timeout", DEFAULT_LIMITS.loginTimeoutMs / 1000, 1, 86_400) * 1000,
    maxLoginAttempts: DEFAULT_LIMITS.maxLoginAttempts,
    maxLineBytes,
    maxMessageBytes: intFlag(values, "max-message-bytes", DEFAULT_LIMITS.maxMessageBytes, 1),
    sendQueueBytes: intFlag(values, "send-queue-bytes", DEFAULT_LIMITS.sendQueueBytes, 1024),
    maxClients: intFlag(values, "max-clients", DEFAULT_LIMITS.maxClients, 1),
  };
  return {
    host: host.replace(/^\[(.*)\]$/, "$1"),
    port: intFlag(values, "port", 1337, 0, 65535),
    cert,
    key,
    logFormat: logFormat as LogFormat,
    limits,
  };
}

/** Runs `chat server` until the context's signal aborts. Returns the exit code. */
export async function runServer(args: string[], context: CliContext): Promise<number> {
  const config = parseServerArgs(args);
  if (config === "help") {
    context.stdout(SERVER_USAGE);
    return 0;
  }
  const clock = () => new Date();
  const identity = config.cert !== undefined && config.key !== undefined
    ? await loadIdentity(config.cert, config.key)
    : await ensureGeneratedIdentity(DEFAULT_CERT_DIR, hostName(), clock());
  const listener = listen(config, identity);
  const where = formatAddr(listener.addr);
  context.stdout(banner(identity, listener.addr.port));
  context.stdout(`listening on ${where}\n`);
  const logger = createLogger({ format: config.logFormat, write: context.stderr, clock });
  await serve(listener, {
    limits: config.limits,
    store: new MemoryStore(),
    logger,
    clock,
    signal: context.signal,
  });
  logger.log("stopped", { reason: String(context.signal.reason ?? "stopped") });
  return 0;
}

function listen(config: ServerConfig, identity: TlsIdentity): Deno.TlsListener {
  try {
    return Deno.listenTls({
      hostname: config.host,
      port: config.port,
      cert: identity.certPem,
      key: identity.keyPem,
      alpnProtocols: [],
    });
  } catch (error) {
    const at = `${config.host}:${config.port}`;
    if (error instanceof Deno.errors.AddrInUse) {
      throw new StartupError(
        `Cannot listen on ${at}: the port is already in use (is another server running?).`,
      );
    }
    if (error instanceof Deno.errors.PermissionDenied) {
      throw new StartupError(
        `Cannot listen on ${at}: permission denied (ports below 1024 need privileges).`,
      );
    }
    if (error instanceof Deno.errors.AddrNotAvailable) {
      throw new StartupError(
        `Cannot listen on ${at}: the address is not available on this machine.`,
      );
    }
    throw new StartupError(`Cannot listen on ${at}: ${reason(error)}.`);
  }
}

/** Where the certificate is, its fingerprint, and the exact client command that trusts it. */
function banner(identity: TlsIdentity, port: number): string {
  const addr = port === 1337 ? "localhost" : `localhost:${port}`;
  const lines = [
    identity.source === "generated"
      ? `${identity.created ? "generated" : "using"} self-signed certificate ${identity.certPath}`
      : `certificate ${identity.certPath}`,
    `  SHA-256 fingerprint ${identity.fingerprint}`,
  ];
  if (identity.source === "generated") {
    lines.push(`  connect with: chat client --addr ${addr} --ca ${identity.certPath} --nick NAME`);
  }
  return lines.join("\n") + "\n";
}

function hostName(): string {
  try {
    return Deno.hostname();
  } catch {
    return "localhost"; // Without --allow-sys=hostname the SAN list simply lacks it.
  }
}
