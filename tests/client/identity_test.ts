// The client's identity (lib/client/identity.ts, `chat identity`): made on
// first use with the key private, reused after, the same for two clients
// starting at once, never replaced when damaged, and presented to the
// server, which logs it at login. `chat` runs as a real process with HOME
// in a temp dir; the server is ours, in this process, over real TLS.

import assert from "node:assert/strict";
import { join } from "node:path";
import { MAIN, PERMISSIONS } from "../../bench/chat_process.ts";
import { ensureIdentity, IDENTITY_FILE } from "../../lib/client/identity.ts";
import { startServer, tempDir, type TestServer } from "../server/_helpers.ts";
import { testNeeding } from "../_tools.ts";
import { withDenoDir } from "../_deno_dir.ts";
import { makeCerts } from "./_helpers.ts";

/** Deno.test for the tests that compare with openssl: skipped without it. */
const withOpenssl = testNeeding("openssl");

const decoder = new TextDecoder();

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Starts `chat ARGS` with `env` (XDG_CONFIG_HOME empty unless given) and `input` on stdin. */
function spawnChat(args: string[], env: Record<string, string>, input?: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...PERMISSIONS, MAIN, ...args],
    env: withDenoDir({ NO_COLOR: "1", XDG_CONFIG_HOME: "", ...env }),
    stdin: input === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).spawn();
  return (async (): Promise<Run> => {
    if (input !== undefined) {
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(input));
      await writer.close();
    }
    const out = await child.output();
    return {
      code: out.code,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
    };
  })();
}

/** A temp folder for one test, removed after it. */

/** What `openssl x509 -fingerprint -sha256` says of the certificate in `path`. */
async function opensslFingerprint(path: string): Promise<string> {
  const out = await new Deno.Command("openssl", {
    args: ["x509", "-in", path, "-noout", "-fingerprint", "-sha256"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, decoder.decode(out.stderr));
  return decoder.decode(out.stdout).trim().replace(/^sha256 Fingerprint=/i, "");
}

withOpenssl(
  "chat identity makes the identity on first use (key 0600, folder 0700) and reuses it",
  async () => {
    await using tmp = await tempDir("chat-identity-");
    const home = tmp.path;
    const first = await spawnChat(["identity"], { HOME: home });
    assert.equal(first.code, 0, first.stderr);
    const path = join(home, ".config", "chat", IDENTITY_FILE);
    assert.equal(first.stderr, `chat: made a new identity in ${path}\n`);
    const fingerprint = first.stdout.trim();
    assert.equal(first.stdout, `${fingerprint}\n`, "only the fingerprint on stdout");
    assert.equal(fingerprint, await opensslFingerprint(path));
    if (Deno.build.os !== "windows") {
      assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
      assert.equal((await Deno.stat(join(home, ".config", "chat"))).mode! & 0o777, 0o700);
    }
    const before = await Deno.readTextFile(path);
    assert.match(before, /BEGIN PRIVATE KEY[\s\S]*BEGIN CERTIFICATE/);

    const second = await spawnChat(["identity"], { HOME: home });
    assert.equal(second.code, 0, second.stderr);
    assert.equal(second.stderr, "", "nothing made the second time");
    assert.equal(second.stdout.trim(), fingerprint);
    assert.equal(await Deno.readTextFile(path), before);
    assert.deepEqual(
      [...Deno.readDirSync(join(home, ".config", "chat"))].map((e) => e.name),
      [IDENTITY_FILE],
      "no temp file left behind",
    );
  },
);

withOpenssl("XDG_CONFIG_HOME wins over HOME; --identity FILE is another identity", async () => {
  await using tmp = await tempDir("chat-identity-");
  const dir = tmp.path;
  const env = { HOME: join(dir, "home"), XDG_CONFIG_HOME: join(dir, "config") };
  const usual = await spawnChat(["identity"], env);
  assert.equal(usual.code, 0, usual.stderr);
  const path = join(dir, "config", "chat", IDENTITY_FILE);
  assert.equal(usual.stdout.trim(), await opensslFingerprint(path));
  assert.equal(await Deno.stat(join(dir, "home")).catch(() => undefined), undefined);

  const other = join(dir, "bot.pem");
  const bot = await spawnChat(["identity", "--identity", other], env);
  assert.equal(bot.code, 0, bot.stderr);
  assert.equal(bot.stderr, `chat: made a new identity in ${other}\n`);
  assert.equal(bot.stdout.trim(), await opensslFingerprint(other));
  assert.notEqual(bot.stdout, usual.stdout);
});

Deno.test("a damaged identity is a one-line error, and the file is left as it was", async () => {
  await using tmp = await tempDir("chat-identity-");
  const home = tmp.path;
  const path = join(home, ".config", "chat", IDENTITY_FILE);
  await Deno.mkdir(join(home, ".config", "chat"), { recursive: true });
  const made = await ensureIdentity(join(home, "whole.pem"), new Date());
  const whole = await Deno.readTextFile(made.identity.path);
  const other = await ensureIdentity(join(home, "other.pem"), new Date());
  const damaged = {
    "not PEM": "hello\n",
    "truncated": whole.slice(0, whole.length - 200),
    "no key": whole.replace(/-----BEGIN PRIVATE KEY-----[\s\S]*?-----END PRIVATE KEY-----\n/, ""),
    "another's key": other.identity.keyPem + made.identity.certPem,
  };
  for (const [what, text] of Object.entries(damaged)) {
    await Deno.writeTextFile(path, text);
    for (const args of [["identity"], ["client", "--addr", "127.0.0.1:1", "--nick", "x"]]) {
      const run = await spawnChat(args, { HOME: home });
      assert.equal(run.code, 1, `${what}, chat ${args[0]}: ${run.stderr}`);
      assert.match(run.stderr, new RegExp(`^chat: cannot use ${path}: .+\n$`), what);
      assert.doesNotMatch(run.stderr, /unexpected|at /, what);
      assert.equal(await Deno.readTextFile(path), text, `${what}: never replaced`);
    }
  }
});

Deno.test("two clients starting at once for the first time end up with one identity", async () => {
  await using tmp = await tempDir("chat-identity-");
  const home = tmp.path;
  const runs = await Promise.all([0, 1, 2].map(() => spawnChat(["identity"], { HOME: home })));
  for (const run of runs) assert.equal(run.code, 0, run.stderr);
  assert.equal(new Set(runs.map((run) => run.stdout)).size, 1, runs.map((r) => r.stdout).join());
  assert.equal(runs.filter((run) => run.stderr.includes("made a new identity")).length, 1);
  // In one process too, many at once: one file, one fingerprint, no temp file left.
  const path = join(home, "many", IDENTITY_FILE);
  const found = await Promise.all(
    Array.from({ length: 8 }, () => ensureIdentity(path, new Date())),
  );
  assert.equal(new Set(found.map((f) => f.identity.fingerprint)).size, 1);
  assert.equal(found.filter((f) => f.created).length, 1);
  assert.deepEqual([...Deno.readDirSync(join(home, "many"))].map((e) => e.name), [
    IDENTITY_FILE,
  ]);
});

/** Runs `chat client` once against `server` (one message through a pipe); returns the run. */
async function chatOnce(
  server: TestServer,
  dir: string,
  nick: string,
  env: Record<string, string>,
  extra: string[] = [],
): Promise<Run> {
  const ca = join(dir, "server.pem");
  await Deno.writeTextFile(ca, server.certPem);
  const args = ["client", "--addr", `127.0.0.1:${server.port}`, "--nick", nick, "--ca", ca];
  return await spawnChat([...args, ...extra], env, "hello\n");
}

/** The identity the server logged at `nick`'s login ("" for none). */
function loggedIdentity(server: TestServer, nick: string): string {
  const line = server.logs.find((l) => l.startsWith("login ") && l.includes(`nick=${nick} `)) ??
    server.logs.find((l) => l.startsWith("login ") && l.endsWith(`nick=${nick}`));
  assert.ok(line, server.logs.join("\n"));
  return / identity=(\S+)/.exec(line)?.[1] ?? "";
}

Deno.test("the client presents its identity; --identity another; --no-identity none", async () => {
  await using server = await startServer();
  await using tmp = await tempDir("chat-identity-");
  const home = tmp.path;
  const env = { HOME: home };
  const printed = await spawnChat(["identity"], env);
  assert.equal(printed.code, 0, printed.stderr);
  const mine = printed.stdout.trim();

  const usual = await chatOnce(server, home, "usual", env);
  assert.equal(usual.code, 0, usual.stderr);
  assert.equal(loggedIdentity(server, "usual"), mine);

  const none = await chatOnce(server, home, "nobody", env, ["--no-identity"]);
  assert.equal(none.code, 0, none.stderr);
  assert.equal(loggedIdentity(server, "nobody"), "");

  const botFile = join(home, "bot.pem");
  const bot = await chatOnce(server, home, "bot", env, ["--identity", botFile]);
  assert.equal(bot.code, 0, bot.stderr);
  assert.ok(await Deno.stat(botFile), "made at first use");
  const botPrinted = await spawnChat(["identity", "--identity", botFile], env);
  assert.equal(loggedIdentity(server, "bot"), botPrinted.stdout.trim());
  assert.notEqual(botPrinted.stdout.trim(), mine);

  const both = await chatOnce(server, home, "both", env, [
    "--identity",
    botFile,
    "--no-identity",
  ]);
  assert.equal(both.code, 2, both.stderr);
  assert.match(both.stderr, /--identity and --no-identity cannot go together/);
});

withOpenssl(
  "a certificate and key made with openssl, in one file, serve as an identity",
  async () => {
    await using server = await startServer();
    const certs = await makeCerts();
    try {
      const { certFile, keyFile, fingerprint } = certs.caTrue;
      const file = join(certs.dir, "me.pem");
      await Deno.writeTextFile(
        file,
        await Deno.readTextFile(certFile) + await Deno.readTextFile(keyFile),
      );
      const run = await chatOnce(server, certs.dir, "rsa", { HOME: certs.dir }, [
        "--identity",
        file,
      ]);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(loggedIdentity(server, "rsa"), fingerprint);
      assert.equal(fingerprint, await opensslFingerprint(certFile));
    } finally {
      await certs.remove();
    }
  },
);
