// `chat server` as a real process: flags, startup errors, the generated
// certificate, the banner, and a clean exit on SIGTERM.

import assert from "node:assert/strict";
import config from "../../deno.json" with { type: "json" };
import { ChatProcess, runChat as run } from "../../bench/chat_process.ts";
import { makeCertificate } from "../../bench/processes.ts";
import { TestClient } from "./_helpers.ts";
import { testNeeding } from "../_tools.ts";
import { parseServerArgs } from "../../lib/server/cli.ts";

/** Deno.test for the tests that make a certificate with openssl: skipped without it. */
const test = testNeeding("openssl");

Deno.test("--version prints the version kept in deno.json", async () => {
  const { code, stdout } = await run(["--version"]);
  assert.equal(code, 0);
  assert.equal(stdout.trim(), `chat ${config.version}`);
});

Deno.test("--help lists the subcommands on stdout", async () => {
  const { code, stdout } = await run(["--help"]);
  assert.equal(code, 0);
  assert.match(stdout, /chat server/);
  assert.match(stdout, /chat client/);
});

Deno.test("an unknown subcommand or flag prints usage on stderr and exits 2", async () => {
  for (const args of [["dance"], ["server", "--bogus"], ["server", "--port"], []]) {
    const { code, stdout, stderr } = await run(args);
    assert.equal(code, 2, args.join(" "));
    assert.equal(stdout, "");
    assert.match(stderr, /Usage:/);
  }
});

/** The widest a --help line may be: it reads on a terminal of that width without wrapping. */
const HELP_COLUMNS = 100;

Deno.test("every --help fits in 100 columns", async () => {
  for (const command of [[], ["server"], ["client"], ["bench"], ["check"], ["identity"]]) {
    const { code, stdout } = await run([...command, "--help"]);
    assert.equal(code, 0);
    const wide = stdout.split("\n").filter((line) => [...line].length > HELP_COLUMNS);
    assert.deepEqual(wide, [], `chat ${command.join(" ")} --help`);
  }
});

Deno.test("server --help lists every flag with its default", async () => {
  const { code, stdout } = await run(["server", "--help"]);
  assert.equal(code, 0);
  for (
    const flag of [
      "--host",
      "--port",
      "--cert",
      "--key",
      "--login-timeout",
      "--max-line-bytes",
      "--max-message-bytes",
      "--send-queue-bytes",
      "--max-clients",
      "--features",
      "--log-format",
    ]
  ) {
    assert.match(stdout, new RegExp(`${flag}\\b`), flag);
  }
});

Deno.test("bad flag values are usage errors", async () => {
  for (
    const args of [
      ["--port", "70000"],
      ["--port", "abc"],
      ["--log-format", "xml"],
      ["--cert", "only-cert.pem"],
      ["--max-clients", "0"],
      ["--max-message-bytes", "70000"],
      ["--rate-limit=-1"],
      ["--rate-limit-bytes", "lots"],
      ["--data-dir", ""],
      ["--redis", "localhost:6379"],
      ["--redis", "http://localhost:6379"],
      ["--nick-lease", "5"],
      ["--features", "presence,teleport"],
      ["--features", ""],
      ["--features", ","],
    ]
  ) {
    const { code, stderr } = await run(["server", ...args]);
    assert.equal(code, 2, args.join(" "));
    assert.match(stderr, /^chat: --/, stderr);
  }
});

Deno.test("the byte budget defaults to 64 KiB a second, and --rate-limit 0 turns it off with the frame limit", () => {
  const limits = (...args: string[]) => {
    const config = parseServerArgs(args);
    assert.notEqual(config, "help");
    return config === "help" ? undefined : config.limits;
  };
  assert.equal(limits()?.rateLimitBytes, 65536);
  assert.equal(limits("--rate-limit", "0")?.rateLimitBytes, 0);
  assert.equal(limits("--rate-limit", "0", "--rate-limit-bytes", "1000")?.rateLimitBytes, 1000);
  assert.equal(limits("--rate-limit-bytes", "0")?.rateLimit, 50);
});

Deno.test("servers started in one folder at the same moment share one generated certificate", async () => {
  const dir = await Deno.makeTempDir();
  const servers = [0, 1, 2].map(() =>
    new ChatProcess(["server", "--host", "127.0.0.1", "--port", "0"], dir)
  );
  try {
    await Promise.all(servers.map((server) => server.listening()));
    const fingerprints = servers.map((server) =>
      /SHA-256 fingerprint ([0-9A-F:]{95})/.exec(server.stdout)?.[1]
    );
    assert.ok(fingerprints[0], servers[0].stdout);
    assert.deepEqual(fingerprints, [fingerprints[0], fingerprints[0], fingerprints[0]]);
    const generated = servers.filter((server) => /^generated /m.test(server.stdout));
    assert.equal(generated.length, 1, servers.map((server) => server.stdout).join("\n"));
  } finally {
    for (const server of servers) await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("generates a certificate once, keeps the key private, and reuses it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const first = new ChatProcess(["server", "--host", "127.0.0.1", "--port", "0"], dir);
    const port = await first.listening();
    assert.match(first.stdout, new RegExp(`^listening on 127\\.0\\.0\\.1:${port}$`, "m"));
    assert.match(first.stdout, /generated self-signed certificate certs\/cert\.pem/);
    const fingerprint = /SHA-256 fingerprint ([0-9A-F:]{95})/.exec(first.stdout)?.[1];
    assert.ok(fingerprint, first.stdout);
    assert.match(
      first.stdout,
      new RegExp(`chat client --addr localhost:${port} --ca certs/cert\\.pem --nick NAME`),
    );
    assert.equal((await Deno.stat(`${dir}/certs/key.pem`)).mode! & 0o777, 0o600);
    // The certificate is trusted by a client that is given it.
    const certPem = await Deno.readTextFile(`${dir}/certs/cert.pem`);
    const client = await TestClient.login({ port, certPem }, "bob");
    await client.close();
    assert.equal(await first.stop(), 0);

    const second = new ChatProcess(["server", "--host", "127.0.0.1", "--port", "0"], dir);
    await second.listening();
    assert.match(second.stdout, /using self-signed certificate certs\/cert\.pem/);
    assert.ok(second.stdout.includes(fingerprint), "the same certificate is served again");
    assert.equal(await second.stop(), 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--features picks the extensions offered at login; none makes a core-only server", () => {
  const features = (...args: string[]) => {
    const config = parseServerArgs(args);
    return config === "help" ? undefined : config.features;
  };
  assert.deepEqual(features(), ["presence", "direct", "heartbeat", "identity", "ops"]);
  assert.deepEqual(features("--features", "none"), []);
  assert.deepEqual(features("--features", "direct, presence"), ["presence", "direct"]);
  assert.deepEqual(features("--features=heartbeat"), ["heartbeat"]);
});

Deno.test("a server started with --features none answers a login asking for features as a core server", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const server = new ChatProcess(
      ["server", "--host", "127.0.0.1", "--port", "0", "--features", "none"],
      dir,
    );
    const port = await server.listening();
    const certPem = await Deno.readTextFile(`${dir}/certs/cert.pem`);
    await using other = await TestClient.login({ port, certPem }, "other");
    await using client = await TestClient.connect({ port, certPem });
    await client.send({ command: "login", nickname: "asker", features: ["presence", "direct"] });
    assert.equal(await client.nextLine(), '{"status":"ok"}');
    await client.send({ command: "who" });
    assert.equal(
      await client.nextLine(),
      '{"status":"error","reason":"unknown command \\"who\\""}',
    );
    await client.send({ message: "secret", to: "other" });
    assert.deepEqual(await client.next(), {
      status: "error",
      reason: "direct messages are not supported by this server",
    });
    await other.close();
    assert.deepEqual(await client.quiet(300), []);
    assert.equal(await server.stop("SIGTERM"), 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SIGTERM closes every connection politely and exits 0 within 2 s", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const server = new ChatProcess(["server", "--host", "127.0.0.1", "--port", "0"], dir);
    const port = await server.listening();
    const certPem = await Deno.readTextFile(`${dir}/certs/cert.pem`);
    const client = await TestClient.login({ port, certPem }, "bob");
    const started = performance.now();
    const code = await server.stop("SIGTERM");
    const ms = performance.now() - started;
    assert.equal(code, 0);
    assert.ok(ms < 2000, `exit took ${ms} ms`);
    assert.ok(await client.closedByServer(1000));
    await client.close();
    assert.match(
      server.stderr,
      /disconnect peer=127\.0\.0\.1:\d+ nick=bob reason="server shutting down"/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("logs one JSON object per line with --log-format json, and never message text", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const server = new ChatProcess(
      ["server", "--host", "127.0.0.1", "--port", "0", "--log-format", "json"],
      dir,
    );
    const port = await server.listening();
    const certPem = await Deno.readTextFile(`${dir}/certs/cert.pem`);
    const client = await TestClient.login({ port, certPem }, "bob");
    await client.send({ message: "top secret words" });
    await client.close();
    await server.stop();
    const events = server.stderr.trim().split("\n").map((line) => JSON.parse(line));
    assert.deepEqual(events.map((e) => e.event), ["connect", "login", "disconnect", "stopped"]);
    assert.equal(events[1].nick, "bob");
    assert.match(events[1].peer, /^127\.0\.0\.1:\d+$/);
    assert.ok(!server.stderr.includes("top secret"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

test("startup errors are one sentence and a non-zero exit, never a stack trace", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // Two real pairs, so one key can be given with the other's certificate.
    for (const name of ["a", "b"]) await makeCertificate(dir, false, name);
    await Deno.writeTextFile(`${dir}/garbage.pem`, "hello, I am not a certificate\n");
    const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const cases: [string[], RegExp][] = [
      [
        ["--cert", `${dir}/missing.pem`, "--key", `${dir}/a-key.pem`],
        /cannot read the certificate file .*missing\.pem: no such file or directory$/m,
      ],
      [
        ["--cert", `${dir}/garbage.pem`, "--key", `${dir}/a-key.pem`],
        /garbage\.pem: it is not a PEM certificate/,
      ],
      [
        ["--cert", `${dir}/a-cert.pem`, "--key", `${dir}/garbage.pem`],
        /garbage\.pem: it is not a PEM private key/,
      ],
      [
        ["--cert", `${dir}/a-cert.pem`, "--key", `${dir}/b-key.pem`],
        /b-key\.pem: the key does not match the certificate/,
      ],
      [["--cert", `${dir}/a-cert.pem`, "--key", dir], /cannot read the key file/],
      [[
        "--cert",
        `${dir}/a-cert.pem`,
        "--key",
        `${dir}/a-key.pem`,
        "--port",
        String(busy.addr.port),
      ], /the port is already in use/],
    ];
    try {
      for (const [args, expected] of cases) {
        const { code, stderr } = await run(["server", "--host", "127.0.0.1", ...args], dir);
        assert.equal(code, 1, args.join(" "));
        assert.match(stderr, expected);
        assert.equal(stderr.trim().split("\n").length, 1, stderr);
        assert.doesNotMatch(stderr, /\bat .*:\d+:\d+/, "no stack trace");
      }
    } finally {
      busy.close();
    }
    // A given pair that is valid works.
    const ok = new ChatProcess(
      [
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--cert",
        `${dir}/a-cert.pem`,
        "--key",
        `${dir}/a-key.pem`,
      ],
      dir,
    );
    await ok.listening();
    assert.match(ok.stdout, /^certificate .*a-cert\.pem$/m);
    assert.equal(await ok.stop(), 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--data-dir keeps history and certificate across restarts, and a second server is refused", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const args = ["server", "--host", "127.0.0.1", "--port", "0", "--data-dir", `${dir}/data`];
    const first = new ChatProcess(args, dir);
    const port = await first.listening();
    assert.match(first.stdout, /generated self-signed certificate .*data\/cert\.pem/);
    assert.match(first.stdout, /history .*data\/messages\.log: 0 messages/);
    const certPem = await Deno.readTextFile(`${dir}/data/cert.pem`);
    const bob = await TestClient.login({ port, certPem }, "bob");
    await bob.send({ message: "remember me", id: "r1" });
    assert.deepEqual(await bob.next(), { status: "ok", id: "r1" });

    // A second server on the same folder says so and stops.
    const { code, stderr } = await run(args, dir);
    assert.equal(code, 1);
    assert.match(stderr, /another chat server is using it/);

    await bob.close();
    assert.equal(await first.stop(), 0);

    const second = new ChatProcess(args, dir);
    const port2 = await second.listening();
    assert.match(second.stdout, /using self-signed certificate .*data\/cert\.pem/);
    assert.match(second.stdout, /history .*messages\.log: 1 message\n/);
    const alice = await TestClient.login({ port: port2, certPem }, "alice");
    const replayed = await alice.next();
    assert.deepEqual([replayed.from, replayed.message, replayed.seq], ["bob", "remember me", 1]);
    await alice.send({ message: "and me", id: "a1" });
    assert.deepEqual(await alice.next(), { status: "ok", id: "a1" });
    await alice.close();
    assert.equal(await second.stop(), 0);
    const lines = (await Deno.readTextFile(`${dir}/data/messages.log`)).trim().split("\n");
    assert.deepEqual(lines.map((l) => JSON.parse(l).seq), [1, 2], "seq goes on where it stopped");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a memory-only server that restarts never gives a seq a client has seen to another message", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const args = ["server", "--host", "127.0.0.1", "--port", "0"];
    const first = new ChatProcess(args, dir);
    const port = await first.listening();
    const certPem = await Deno.readTextFile(`${dir}/certs/cert.pem`);
    const alice = await TestClient.login({ port, certPem }, "alice");
    const bob = await TestClient.login({ port, certPem }, "bob");
    await bob.send({ message: "first life" });
    const seen = await alice.next();
    await Promise.all([alice.close(), bob.close()]);
    assert.equal(await first.stop(), 0);

    // The second life stores more than alice saw before she comes back.
    const second = new ChatProcess(args, dir);
    const port2 = await second.listening();
    const carol = await TestClient.login({ port: port2, certPem }, "carol");
    for (const text of ["second life 1", "second life 2"]) await carol.send({ message: text });
    await carol.close();
    const back = await TestClient.login({ port: port2, certPem }, "alice", seen.seq as number);
    const replay = await back.take(2);
    assert.deepEqual(replay.map((f) => f.message), ["second life 1", "second life 2"]);
    for (const frame of replay) assert.notEqual(frame.seq, seen.seq, JSON.stringify(frame));
    await back.close();
    assert.equal(await second.stop(), 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
