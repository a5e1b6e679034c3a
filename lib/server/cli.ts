// `chat server`: reads the flags, finds or makes the TLS identity, binds,
// prints where it listens and how to connect, and serves until stopped.
//
// Every way startup can fail (a bad flag, an unreadable or mismatched
// certificate, a port in use, no permission) ends as one sentence and a
// non-zero exit, never a stack trace.
//
// The Redis link (and the redis client library under it) is imported only
// with --redis, and the X.509 library only when a certificate is generated
// (cert.ts): a server that needs neither never loads them (about 25 MiB of
// memory in every process, measured for issue 15).

import { type CliContext, intFlag, parseFlags } from "../cli.ts";
import { UsageError } from "../errors.ts";
import { type Feature, FEATURES } from "../protocol.ts";
import { parseFingerprint } from "../fingerprint.ts";
import { type AccessConfig, AccessLists, type AccessReload } from "./access.ts";
import { ensureGeneratedIdentity, loadIdentity, type TlsIdentity } from "./cert.ts";
import { FD_RESERVE, freeDescriptors } from "./fd_budget.ts";
import { createLogger, LOG_FORMATS, type LogFormat, type Logger } from "./log.ts";
import { DEFAULT_LIMITS, type ServerLimits } from "./limits.ts";
import { formatPeer, type RunningServer, startServer } from "./server.ts";
import { FileStore } from "./file_store.ts";
import { openFileRegistry } from "./file_registry.ts";
import { LocalRegistry, type Registry } from "./registry.ts";
import type { RedisLink } from "./redis/link.ts";
import { DEFAULT_LEASE_MS } from "./shared_chat.ts";
import { type HistoryStore, MemoryStore, restartProofFirstSeq } from "./store.ts";

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
  --send-queue-bytes N      bytes a slow reader may fall behind before it is cut off
                            (default ${DEFAULT_LIMITS.sendQueueBytes})
  --max-clients N           open connections beyond this are closed at once; lowered at start
                            to what ulimit -n allows (default ${DEFAULT_LIMITS.maxClients})
  --max-per-ip N            open connections from one address beyond this are closed at once
                            (default ${DEFAULT_LIMITS.maxPerIp})
  --rate-limit PER_SECOND   frames one address may send per second, shared by its up to
                            --max-per-ip connections (reconnecting refills nothing), bursts
                            of twice that; 0 for no rate limit at all (default ${DEFAULT_LIMITS.rateLimit})
  --rate-limit-bytes N      bytes of message text one address may send per second, shared the
                            same way, bursts of two seconds' worth (at least one message of
                            --max-message-bytes); 0 for no limit
                            (default ${DEFAULT_LIMITS.rateLimitBytes}, 0 with --rate-limit 0)
  --data-dir DIR            keep the history in DIR/messages.log across restarts, registered
                            nicknames and bans in DIR/registry.log (and the generated
                            certificate in DIR)
  --history-limit N         replay only the newest N messages; 0 for all (default 0: all)
  --redis URL               share one chat among several servers through Redis:
                            redis://HOST:PORT[/DB], or rediss:// for TLS (history and
                            nicknames live in Redis; not with --data-dir)
  --nick-lease SECONDS      with --redis: how long a dead server's nicknames stay taken (default ${
  DEFAULT_LEASE_MS / 1000
})
  --features LIST           the protocol extensions offered at login, comma-separated, or
                            none for a core-only server
                            (default ${FEATURES.join(",")})
  --op FINGERPRINT          an operator: the SHA-256 fingerprint of their identity, as
                            chat identity prints it; repeatable
  --ops FILE                more operators, one fingerprint a line (# comments)
  --invited FILE            admit only these identities (and the operators): one
                            fingerprint a line (# comments)
  --log-format text|json    log lines on stderr for people or machines (default text)
  -h, --help                show this help

SIGHUP reads the --ops and --invited files again (a damaged one keeps its old list).
Operators give kick, ban, unban and bans commands (PROTOCOL.md §13); see docs/server.md.
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
  "max-per-ip": { type: "string" },
  "rate-limit": { type: "string" },
  "rate-limit-bytes": { type: "string" },
  "data-dir": { type: "string" },
  "history-limit": { type: "string" },
  redis: { type: "string" },
  "nick-lease": { type: "string" },
  features: { type: "string" },
  op: { type: "string", multiple: true },
  ops: { type: "string" },
  invited: { type: "string" },
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
  /** Where durable history (and the generated certificate) lives; memory only when absent. */
  dataDir?: string;
  /** Replay only the newest this many messages; 0 for all. */
  historyLimit: number;
  /** Share the chat with other servers through this Redis. */
  redis?: string;
  /** With `redis`: the nickname lease in milliseconds. */
  nickLeaseMs: number;
  /** The features offered at login (PROTOCOL.md §9); empty for a core-only server. */
  features: Feature[];
  /** The operators and the invitation list (§13). */
  access: AccessConfig;
}

/** Reads `chat server` flags; a wrong one is a {@linkcode UsageError}. */
export function parseServerArgs(args: string[]): ServerConfig | "help" {
  const { values, lists } = parseFlags(args, FLAGS);
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
  const rateLimit = intFlag(values, "rate-limit", DEFAULT_LIMITS.rateLimit, 0, 1_000_000);
  const limits: ServerLimits = {
    loginTimeoutMs:
      intFlag(values, "login-timeout", DEFAULT_LIMITS.loginTimeoutMs / 1000, 1, 86_400) * 1000,
    maxLoginAttempts: DEFAULT_LIMITS.maxLoginAttempts,
    maxLineBytes,
    maxMessageBytes: intFlag(values, "max-message-bytes", DEFAULT_LIMITS.maxMessageBytes, 1),
    sendQueueBytes: intFlag(values, "send-queue-bytes", DEFAULT_LIMITS.sendQueueBytes, 1024),
    maxClients: intFlag(values, "max-clients", DEFAULT_LIMITS.maxClients, 1),
    maxPerIp: intFlag(values, "max-per-ip", DEFAULT_LIMITS.maxPerIp, 1),
    rateLimit,
    // "--rate-limit 0" has always meant no rate limit at all: the byte budget goes with it.
    rateLimitBytes: intFlag(
      values,
      "rate-limit-bytes",
      rateLimit === 0 ? 0 : DEFAULT_LIMITS.rateLimitBytes,
      0,
    ),
    handshakeTimeoutMs: DEFAULT_LIMITS.handshakeTimeoutMs,
    partialLineMs: DEFAULT_LIMITS.partialLineMs,
    heartbeatGraceMs: DEFAULT_LIMITS.heartbeatGraceMs,
  };
  if (limits.maxMessageBytes > limits.maxLineBytes) {
    throw new UsageError(
      `--max-message-bytes (${limits.maxMessageBytes}) must not exceed --max-line-bytes (${limits.maxLineBytes}): such messages could never arrive`,
    );
  }
  const dataDir = values["data-dir"] as string | undefined;
  if (dataDir !== undefined && dataDir.trim() === "") {
    throw new UsageError("--data-dir must not be empty");
  }
  const redis = values.redis as string | undefined;
  if (redis !== undefined) {
    let scheme = "";
    try {
      scheme = new URL(redis).protocol;
    } catch {
      // Reported below.
    }
    if (scheme !== "redis:" && scheme !== "rediss:") {
      throw new UsageError(
        `--redis must be a URL like redis://HOST:PORT[/DB] or rediss://HOST:PORT, got ${
          JSON.stringify(redis)
        }`,
      );
    }
    if (dataDir !== undefined) {
      throw new UsageError(
        "--redis and --data-dir cannot go together: with --redis the history lives in Redis",
      );
    }
  }
  if (values["nick-lease"] !== undefined && redis === undefined) {
    throw new UsageError("--nick-lease needs --redis");
  }
  const ops = lists.op.map((text) => {
    const identity = parseFingerprint(text);
    if (identity === undefined) {
      throw new UsageError(
        `--op must be a SHA-256 fingerprint (AB:CD:… as chat identity prints it), got ${
          JSON.stringify(text)
        }`,
      );
    }
    return identity;
  });
  for (const name of ["ops", "invited"] as const) {
    if (values[name] !== undefined && String(values[name]).trim() === "") {
      throw new UsageError(`--${name} must not be empty`);
    }
  }
  return {
    host: host.replace(/^\[(.*)\]$/, "$1"),
    port: intFlag(values, "port", 1337, 0, 65535),
    cert,
    key,
    logFormat: logFormat as LogFormat,
    limits,
    dataDir,
    historyLimit: intFlag(values, "history-limit", 0, 0),
    redis,
    nickLeaseMs: intFlag(values, "nick-lease", DEFAULT_LEASE_MS / 1000, 1, 86_400) * 1000,
    features: parseFeatures(values.features as string | undefined),
    access: {
      ops,
      opsFile: values.ops as string | undefined,
      invitedFile: values.invited as string | undefined,
    },
  };
}

/** `--features`: a comma-separated list of FEATURES, or `none`; all of them when absent. */
function parseFeatures(value: string | undefined): Feature[] {
  if (value === undefined) return [...FEATURES];
  if (value.trim() === "none") return [];
  const names = value.split(",").map((name) => name.trim()).filter((name) => name !== "");
  const unknown = names.filter((name) => !(FEATURES as readonly string[]).includes(name));
  if (names.length === 0 || unknown.length > 0) {
    throw new UsageError(
      `--features must be none or a comma-separated list of ${FEATURES.join(", ")}, got ${
        JSON.stringify(value)
      }`,
    );
  }
  return FEATURES.filter((name) => names.includes(name));
}

/** Runs `chat server` until the context's signal aborts. Returns the exit code. */
export async function runServer(args: string[], context: CliContext): Promise<number> {
  const config = parseServerArgs(args);
  if (config === "help") {
    context.stdout(SERVER_USAGE);
    return 0;
  }
  const clock = () => new Date();
  const logger = createLogger({ format: config.logFormat, write: context.stderr, clock });
  // Before anything is opened: a damaged list stops the server at once.
  const access = await AccessLists.load(config.access);
  const identity = config.cert !== undefined && config.key !== undefined
    ? await loadIdentity(config.cert, config.key)
    : await ensureGeneratedIdentity(config.dataDir ?? DEFAULT_CERT_DIR, hostName(), clock());
  const memoryOnly = config.dataDir === undefined && config.redis === undefined;
  const memory = new MemoryStore({
    historyLimit: config.historyLimit,
    firstSeq: memoryOnly ? restartProofFirstSeq(clock()) : 1,
  });
  const store: HistoryStore = config.dataDir === undefined ? memory : await FileStore.open(
    config.dataDir,
    {
      historyLimit: config.historyLimit,
      warn: (message) => logger.log("warning", { reason: message }),
    },
  );
  // With --redis (never with --data-dir), the memory store is the local copy of Redis's history.
  // The Redis client library is loaded only with --redis (it costs memory in every process).
  let link: RedisLink | undefined;
  if (config.redis !== undefined) {
    const { RedisLink } = await import("./redis/link.ts");
    link = await RedisLink.open({
      url: config.redis,
      store: memory,
      logger,
      leaseMs: config.nickLeaseMs,
      historyLimit: config.historyLimit,
    });
  }
  let registry: Registry;
  try {
    if (config.dataDir !== undefined) {
      registry = await openFileRegistry(config.dataDir, {
        clock,
        warn: (message) => logger.log("warning", { reason: message }),
      });
    } else if (config.redis !== undefined) {
      const { RedisRegistry } = await import("./redis/registry.ts");
      registry = await RedisRegistry.open({ url: config.redis, clock, logger });
    } else {
      registry = new LocalRegistry({ clock });
    }
  } catch (error) {
    await link?.close();
    await store.close?.();
    throw error;
  }
  // Counted now: the log, its lock and Redis hold theirs already.
  const limits = {
    ...config.limits,
    maxClients: fittingMaxClients(config.limits.maxClients, logger),
  };
  let server: RunningServer;
  try {
    server = await startServer(
      {
        hostname: config.host,
        port: config.port,
        certPem: identity.certPem,
        keyPem: identity.keyPem,
      },
      {
        limits,
        store,
        shared: link,
        features: config.features,
        registry,
        access,
        logger,
        clock,
        signal: context.signal,
      },
    );
  } catch (error) {
    await link?.close();
    await registry.close();
    await store.close?.();
    throw error;
  }
  if (config.access.opsFile !== undefined || config.access.invitedFile !== undefined) {
    context.onReload?.(() => void access.reload().then((result) => logReload(logger, result)));
  }
  context.stdout(banner(identity, server.port));
  if (store instanceof FileStore) {
    const count = store.lastSeq;
    context.stdout(`history ${store.path}: ${count} ${count === 1 ? "message" : "messages"}\n`);
  }
  if (link !== undefined) {
    const count = store.lastSeq - store.firstSeq + 1;
    context.stdout(`history ${link.url}: ${count} ${count === 1 ? "message" : "messages"}\n`);
  }
  context.stdout(`listening on ${formatPeer(server.hostname, server.port)}\n`);
  await server.done;
  await link?.close();
  await registry.close();
  await store.close?.();
  logger.log("stopped", { reason: String(context.signal.reason ?? "stopped") });
  return 0;
}

/** One log line for a reload of the access lists, and one for each file that was not taken. */
function logReload(logger: Logger, result: AccessReload): void {
  for (const reason of result.problems) logger.log("reload failed", { reason });
  logger.log("reloaded", { ops: result.ops, invited: result.invited });
}

/**
 * `maxClients`, or less with a warning when the file descriptors the
 * process may still open cannot hold that many connections besides
 * FD_RESERVE: beyond them accepting would fail in a burst.
 */
function fittingMaxClients(maxClients: number, logger: Logger): number {
  const free = freeDescriptors(maxClients + FD_RESERVE);
  if (free === undefined || free >= maxClients + FD_RESERVE) return maxClients;
  const fitting = Math.max(free - FD_RESERVE, 1);
  logger.log("warning", {
    reason:
      `--max-clients ${maxClients} lowered to ${fitting}: only ${free} more file descriptors can be opened (ulimit -n), ${FD_RESERVE} of them kept for the server itself`,
  });
  return fitting;
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
