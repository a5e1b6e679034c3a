// `chat check` against servers written to be wrong: each flaw of the fake
// server must make its check FAIL with a reason that says what is wrong,
// and the run exit 1. The same fake with no flaw (a core-only server of our
// own) passes every core check, its missing extensions skipped, exit 0.

import assert from "node:assert/strict";
import type { CliContext } from "../../lib/cli.ts";
import { runCheck } from "../../lib/check/cli.ts";
import { FakeChatServer, type Flaws } from "./_fake_server.ts";
import { localIdentity } from "../../bench/in_process_server.ts";

const identity = await localIdentity();
const dir = await Deno.makeTempDir({ prefix: "chat-check-" });
const CA = `${dir}/cert.pem`;
await Deno.writeTextFile(CA, identity.certPem);
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));

/** What a run printed, parsed: one record per check, the summary, the exit code. */
interface Run {
  code: number;
  checks: Map<string, { result: string; detail: string }>;
  summary: Record<string, unknown>;
  stderr: string;
  ms: number;
}

/** Runs `chat check --json` in-process with a 1 s timeout and a 200 ms quiet window. */
async function check(port: number, extra: string[] = ["--ca", CA]): Promise<Run> {
  let stdout = "";
  let stderr = "";
  const context: CliContext = {
    env: () => undefined,
    stdout: (text) => void (stdout += text),
    stderr: (text) => void (stderr += text),
    signal: new AbortController().signal,
  };
  const started = performance.now();
  const code = await runCheck(
    [`127.0.0.1:${port}`, "--json", "--timeout", "1", ...extra],
    context,
    {
      quietMs: 200,
    },
  );
  const ms = performance.now() - started;
  const lines = stdout.trim().split("\n").map((line) => JSON.parse(line));
  const summary = lines.pop();
  const checks = new Map(lines.map((l) => [l.check, { result: l.result, detail: l.detail }]));
  return { code, checks, summary, stderr, ms };
}

function failures(run: Run): string[] {
  return [...run.checks].filter(([, c]) => c.result === "fail").map(([name]) => name);
}

async function withFake(flaws: Flaws, body: (server: FakeChatServer) => Promise<void>) {
  await using server = new FakeChatServer(identity, flaws);
  await body(server);
}

Deno.test("a core-only server passes every core check; its extensions are skipped, exit 0", async () => {
  await withFake({}, async (server) => {
    const run = await check(server.port);
    assert.deepEqual(failures(run), []);
    assert.equal(run.code, 0);
    assert.equal(run.summary.ok, true);
    assert.equal(run.summary.failed, 0);
    for (const name of [...run.checks.keys()].filter((name) => name.startsWith("ext "))) {
      assert.equal(run.checks.get(name)?.result, "skip", name);
    }
    assert.equal([...run.checks.keys()].filter((name) => name.startsWith("ext ")).length, 13);
    assert.match(run.checks.get("ext register")!.detail, /identity \(§12\) not offered/);
    assert.match(run.checks.get("ext ops refused")!.detail, /ops \(§13\) not offered/);
    assert.match(run.checks.get("ext seq")!.detail, /no seq/);
    assert.match(run.checks.get("ext features")!.detail, /plain ok: features \(§9\) not offered/);
    assert.match(run.checks.get("ext direct")!.detail, /lists no features/);
  });
});

Deno.test("a busy server (old history, others chatting throughout) passes too", async () => {
  await withFake({ busy: true }, async (server) => {
    const run = await check(server.port);
    assert.deepEqual(failures(run), []);
    assert.equal(run.code, 0);
  });
});

Deno.test("a server with a rate limit a fifth of the announced default (10/s, burst 20) passes", async () => {
  await withFake({ rateLimit: { perSecond: 10, burst: 20 } }, async (server) => {
    const run = await check(server.port);
    assert.deepEqual(failures(run), []);
    assert.equal(run.code, 0);
  });
});

/** The room checks (§9–§11), which a server that speaks them passes. */
const ROOM_CHECKS = [
  "ext features",
  "ext core login",
  "ext who",
  "ext join leave",
  "ext who command",
  "ext direct",
  "ext direct refused",
  "ext direct not replayed",
];

/** The extension checks that did not pass (warn or skip), by name. */
function extensionsNotPassed(run: Run): string[] {
  return [...run.checks].filter(([name, c]) => name.startsWith("ext ") && c.result !== "pass")
    .map(([name, c]) => `${name}: ${c.result} ${c.detail}`);
}

Deno.test("a server speaking features, presence and direct messages passes every room check", async () => {
  await withFake({ rooms: true, seq: true, acks: true }, async (server) => {
    const run = await check(server.port);
    assert.deepEqual(failures(run), []);
    assert.deepEqual(
      extensionsNotPassed(run).filter((row) => !/^ext (since|register|ops refused):/.test(row)),
      [],
    );
    for (const name of ["ext register", "ext ops refused"]) {
      assert.equal(run.checks.get(name)?.result, "skip", "a server without identity and ops");
    }
    for (const name of ROOM_CHECKS) assert.equal(run.checks.get(name)?.result, "pass", name);
    assert.match(run.checks.get("ext features")!.detail, /listing presence, direct$/);
    assert.match(run.checks.get("ext direct")!.detail, /only check-\w+-\d+ got it.*acked/);
    assert.match(
      run.checks.get("ext direct refused")!.detail,
      /to nobody \("nobody by that name"\); to a login without direct \(".*does not take direct messages"\)/,
    );
    assert.equal(run.code, 0);
  });
});

/** Each flaw of the room extensions, the check that must warn about it, and the reason. */
const ROOM_FLAWS: [string, Flaws, string, RegExp][] = [
  [
    "sends presence events to a login without features",
    { presenceToCore: true },
    "ext core login",
    /logged in without features, got \d+ presence or direct frame/,
  ],
  [
    "sends the who event before the replay",
    { whoBeforeReplay: true },
    "ext who",
    /before the end of the replay/,
  ],
  [
    "gives no reason for a leave",
    { leaveWithoutReason: true },
    "ext join leave",
    /missing, not "quit"/,
  ],
  [
    "relays a direct message to everybody too",
    { directToAll: true },
    "ext direct",
    /not its recipient, got/,
  ],
  ["acks a direct message to nobody", { directToNobody: true }, "ext direct refused", /was acked/],
  [
    "replays direct messages",
    { directReplayed: true },
    "ext direct not replayed",
    /replay held the direct message/,
  ],
];

for (const [what, flaws, name, reason] of ROOM_FLAWS) {
  Deno.test(`a server that ${what} gets WARN on "${name}", and still exit 0`, async () => {
    await withFake({ rooms: true, ...flaws }, async (server) => {
      const run = await check(server.port);
      const result = run.checks.get(name);
      assert.equal(result?.result, "warn", `${name}: ${JSON.stringify(result)}`);
      assert.match(result!.detail, reason);
      assert.deepEqual(failures(run), [], "extensions never fail the run");
      assert.equal(run.code, 0);
    });
  });
}

/** Each flaw, the check it must fail, and the reason that must be given. */
const FLAWED: [string, Flaws, string, RegExp][] = [
  ["echoes to the sender", { echo: true }, "relay", /got its own message back/],
  ["trusts the client's from", { trustFrom: true }, "spoofed from", /relayed from "check-.*-\d+"/],
  [
    "compares nicknames with case",
    { caseSensitive: true },
    "duplicate nickname",
    /uniqueness ignores case/,
  ],
  ["accepts any nickname", { anyNickname: true }, "nickname rules", /bidi override.*was accepted/],
  [
    "replays without the own messages",
    { noOwnReplay: true },
    "replay own",
    /did not receive.*its own/,
  ],
  ["stores messages sent before login", { storeBeforeLogin: true }, "before login", /relayed/],
  [
    "closes on malformed JSON",
    { closeOnBadFrame: true },
    "bad frames",
    /connection ended after malformed JSON/,
  ],
  [
    "closes on an oversize line",
    { closeOnLongLine: true },
    "oversize line",
    /connection ended after a 100 KiB line/,
  ],
  [
    "does not join frames split over reads",
    { chunkIsFrame: true },
    "split frames",
    /did not receive.*4 pieces/,
  ],
  [
    "answers blank lines with an error",
    { blankLineError: true },
    "line endings",
    /refused|status frame/,
  ],
];

for (const [what, flaws, name, reason] of FLAWED) {
  Deno.test(`a server that ${what} fails "${name}" with the reason, exit 1`, async () => {
    await withFake(flaws, async (server) => {
      const run = await check(server.port);
      const result = run.checks.get(name);
      assert.equal(result?.result, "fail", `${name}: ${JSON.stringify(result)}`);
      assert.match(result!.detail, reason);
      assert.equal(run.code, 1);
      assert.equal(run.summary.ok, false);
      // The checks are independent: one broken rule does not drag the others down.
      assert.deepEqual(failures(run), [name]);
    });
  });
}

Deno.test("a server that never answers fails the login within the timeout; the rest are not run", async () => {
  await withFake({ silent: true }, async (server) => {
    const run = await check(server.port);
    assert.equal(run.checks.get("login")?.result, "fail");
    assert.match(
      run.checks.get("login")!.detail,
      /no answer within 1 s to the login as "check-[0-9a-f]{8}-1"/,
    );
    assert.equal(run.checks.get("relay")?.result, "skip");
    assert.match(run.checks.get("relay")!.detail, /not run: the login check failed/);
    assert.equal(run.code, 1);
    assert.equal(run.summary.notRun, 13);
    assert.ok(run.ms < 5000, `took ${run.ms} ms`);
  });
});

Deno.test("a server that never finishes the TLS handshake fails the login within the timeout", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    try {
      for await (const conn of listener) held.push(conn); // Accept, never speak.
    } catch {
      // Closed.
    }
  })();
  try {
    const run = await check(listener.addr.port);
    assert.match(run.checks.get("login")!.detail, /no TLS handshake within 1 s/);
    assert.equal(run.code, 1);
  } finally {
    listener.close();
    await accepting;
    for (const conn of held) conn.close();
  }
});

Deno.test("nothing listening: the login fails with connection refused", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const run = await check(port);
  assert.match(run.checks.get("login")!.detail, /connection refused/);
  assert.equal(run.code, 1);
});

Deno.test("a certificate that is not trusted fails the login and says what to pass", async () => {
  await withFake({}, async (server) => {
    const run = await check(server.port, []);
    assert.match(run.checks.get("login")!.detail, /self-signed certificate.*--ca FILE.*--insecure/);
    assert.equal(run.code, 1);
  });
});

Deno.test("--insecure skips verification and says so once on stderr", async () => {
  await withFake({}, async (server) => {
    const run = await check(server.port, ["--insecure"]);
    assert.equal(run.code, 0);
    assert.equal(run.stderr.match(/--insecure/g)?.length, 1, run.stderr);
    assert.match(run.stderr, /SHA-256 [0-9A-F:]+/);
  });
});
